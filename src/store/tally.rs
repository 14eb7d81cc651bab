//! The overview's counts, read instead of scanning deliveries: how many
//! deliveries ended succeeded or failed in each minute. They are written in
//! the same transaction as the outcomes they count, so they never disagree
//! with the deliveries after a crash. (Each webhook's line of the overview,
//! its last success and failures in a row, is its health: `store::health`.)

use redb::{ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};

use super::{Store, StoreError};
use crate::model::DeliveryStatus;

/// (unix minute, 0 = succeeded / 1 = failed) → deliveries that ended so.
pub(crate) const ENDED: TableDefinition<(u64, u8), u64> = TableDefinition::new("ended_per_minute");

/// Minutes of [`ENDED`] kept; older rows are pruned.
const KEEP_MINUTES: u64 = 48 * 60;

const SUCCEEDED: u8 = 0;
const FAILED: u8 = 1;

/// What one writer job adds to the counts; applied once at its end.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    ended: [u64; 2],
}

impl Tally {
    /// A delivery reached `status` (only the final ones are counted).
    pub fn ended(&mut self, status: DeliveryStatus) {
        match status {
            DeliveryStatus::Succeeded => self.ended[usize::from(SUCCEEDED)] += 1,
            DeliveryStatus::Failed => self.ended[usize::from(FAILED)] += 1,
            _ => {}
        }
    }

    /// Adds this job's counts at minute `now_ms / 60 000`.
    pub fn apply(self, txn: &WriteTransaction, now_ms: u64) -> Result<(), StoreError> {
        if self.ended == [0, 0] {
            return Ok(());
        }
        let minute = now_ms / 60_000;
        let mut ended = txn.open_table(ENDED)?;
        for kind in [SUCCEEDED, FAILED] {
            let n = self.ended[usize::from(kind)];
            if n > 0 {
                let before = ended.get((minute, kind))?.map_or(0, |v| v.value());
                ended.insert((minute, kind), before + n)?;
            }
        }
        Ok(())
    }
}

/// What the overview counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub pending: u64,
    /// Deliveries that ended so since the minute of `since_ms`.
    pub failed: u64,
    pub succeeded: u64,
}

impl Store {
    /// Pending deliveries, and those that ended failed or succeeded since
    /// `since_ms`. Reads at most a row per minute.
    pub fn summary(&self, since_ms: u64) -> Result<Summary, StoreError> {
        let mut summary = Summary {
            pending: self.pending_count()?,
            ..Summary::default()
        };
        let txn = self.db.get()?.begin_read()?;
        let ended = txn.open_table(ENDED)?;
        for row in ended.range((since_ms / 60_000, 0u8)..)? {
            let (key, n) = row?;
            match key.value().1 {
                SUCCEEDED => summary.succeeded += n.value(),
                _ => summary.failed += n.value(),
            }
        }
        Ok(summary)
    }

    /// Removes minute counts older than two days.
    pub async fn prune_tallies(&self) -> Result<usize, StoreError> {
        self.writer
            .write(|txn| {
                let cutoff = crate::model::now_millis() / 60_000;
                let cutoff = cutoff.saturating_sub(KEEP_MINUTES);
                let mut ended = txn.open_table(ENDED)?;
                let old: Vec<(u64, u8)> = ended
                    .range(..(cutoff, 0u8))?
                    .map(|r| r.map(|(k, _)| k.value()))
                    .collect::<Result<_, _>>()?;
                for key in &old {
                    ended.remove(*key)?;
                }
                Ok(old.len())
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_final_states_are_counted() {
        let mut t = Tally::default();
        t.ended(DeliveryStatus::Succeeded);
        t.ended(DeliveryStatus::Pending);
        t.ended(DeliveryStatus::Cancelled);
        t.ended(DeliveryStatus::Failed);
        t.ended(DeliveryStatus::Failed);
        assert_eq!(t.ended, [1, 2]);
    }
}
