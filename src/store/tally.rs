//! Running tallies the overview reads instead of scanning deliveries: how
//! many deliveries ended succeeded or failed in each minute, and per
//! webhook its last successful attempt and its failed attempts since.
//! They are written in the same transaction as the outcomes they count, so
//! they never disagree with the deliveries after a crash.

use std::collections::HashMap;

use redb::{ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};

use super::{Store, StoreError};
use crate::model::{DeliveryStatus, Health};

/// (unix minute, 0 = succeeded / 1 = failed) → deliveries that ended so.
pub(crate) const ENDED: TableDefinition<(u64, u8), u64> = TableDefinition::new("ended_per_minute");
/// webhook id → (unix ms of its last successful attempt or 0, failed
/// attempts since then).
pub(crate) const WEBHOOK_TALLY: TableDefinition<&str, (u64, u64)> =
    TableDefinition::new("webhook_tally");

/// webhook id → its endpoint health (JSON), written with its outcomes.
pub(crate) const WEBHOOK_HEALTH: TableDefinition<&str, &[u8]> =
    TableDefinition::new("webhook_health");

/// Minutes of [`ENDED`] kept; older rows are pruned.
const KEEP_MINUTES: u64 = 48 * 60;

const SUCCEEDED: u8 = 0;
const FAILED: u8 = 1;

/// What one writer job adds to the tallies; applied once at its end.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    ended: [u64; 2],
    webhooks: HashMap<String, WebhookStep>,
}

/// A webhook's attempts within one job, folded: whether one succeeded
/// (and when the last did), and the failures after the last success.
#[derive(Debug, Default, Clone, Copy)]
struct WebhookStep {
    last_success_ms: Option<u64>,
    failures: u64,
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

    /// An attempt to `webhook` that started at `started_ms` succeeded or not.
    pub fn attempt(&mut self, webhook: &str, started_ms: u64, succeeded: bool) {
        let step = self.webhooks.entry(webhook.to_string()).or_default();
        if succeeded {
            step.last_success_ms = Some(
                step.last_success_ms
                    .map_or(started_ms, |m| m.max(started_ms)),
            );
            step.failures = 0;
        } else {
            step.failures += 1;
        }
    }

    /// Adds this job's counts at minute `now_ms / 60 000`.
    pub fn apply(self, txn: &WriteTransaction, now_ms: u64) -> Result<(), StoreError> {
        let minute = now_ms / 60_000;
        if self.ended != [0, 0] {
            let mut ended = txn.open_table(ENDED)?;
            for kind in [SUCCEEDED, FAILED] {
                let n = self.ended[usize::from(kind)];
                if n > 0 {
                    let before = ended.get((minute, kind))?.map_or(0, |v| v.value());
                    ended.insert((minute, kind), before + n)?;
                }
            }
        }
        if !self.webhooks.is_empty() {
            let mut table = txn.open_table(WEBHOOK_TALLY)?;
            for (webhook, step) in self.webhooks {
                let (last, failures) = table.get(webhook.as_str())?.map_or((0, 0), |v| v.value());
                let next = match step.last_success_ms {
                    Some(at) => (at.max(last), step.failures),
                    None => (last, failures + step.failures),
                };
                table.insert(webhook.as_str(), next)?;
            }
        }
        Ok(())
    }
}

/// Forgets a deleted webhook's line and health.
pub(crate) fn forget_webhook(txn: &WriteTransaction, webhook: &str) -> Result<(), StoreError> {
    txn.open_table(WEBHOOK_TALLY)?.remove(webhook)?;
    txn.open_table(WEBHOOK_HEALTH)?.remove(webhook)?;
    Ok(())
}

/// Stores a webhook's health.
pub(crate) fn save_health(
    txn: &WriteTransaction,
    webhook: &str,
    health: &Health,
) -> Result<(), StoreError> {
    let bytes = super::encode(health)?;
    txn.open_table(WEBHOOK_HEALTH)?
        .insert(webhook, bytes.as_slice())?;
    Ok(())
}

/// A webhook's line of the overview.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WebhookTally {
    /// Unix ms of its last successful attempt.
    pub last_success_ms: Option<u64>,
    /// Its failed attempts since then.
    pub failures_in_a_row: u64,
}

/// What the overview shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub pending: u64,
    /// Deliveries that ended so since the minute of `since_ms`.
    pub failed: u64,
    pub succeeded: u64,
    pub webhooks: HashMap<String, WebhookTally>,
}

impl Store {
    /// The overview's figures: pending deliveries, those that ended
    /// failed or succeeded since `since_ms`, and each webhook's line. Reads
    /// at most a row per minute plus a row per webhook.
    pub fn summary(&self, since_ms: u64) -> Result<Summary, StoreError> {
        let mut summary = Summary {
            pending: self.pending_count()?,
            ..Summary::default()
        };
        let txn = self.db.get()?.begin_read()?;
        match txn.open_table(ENDED) {
            Ok(ended) => {
                for row in ended.range((since_ms / 60_000, 0u8)..)? {
                    let (key, n) = row?;
                    match key.value().1 {
                        SUCCEEDED => summary.succeeded += n.value(),
                        _ => summary.failed += n.value(),
                    }
                }
            }
            Err(redb::TableError::TableDoesNotExist(_)) => {}
            Err(e) => return Err(e.into()),
        }
        match txn.open_table(WEBHOOK_TALLY) {
            Ok(table) => {
                for row in table.iter()? {
                    let (key, v) = row?;
                    let (last, failures) = v.value();
                    summary.webhooks.insert(
                        key.value().to_string(),
                        WebhookTally {
                            last_success_ms: (last > 0).then_some(last),
                            failures_in_a_row: failures,
                        },
                    );
                }
            }
            Err(redb::TableError::TableDoesNotExist(_)) => {}
            Err(e) => return Err(e.into()),
        }
        Ok(summary)
    }

    /// A webhook's stored health (healthy when none was stored).
    pub fn webhook_health(&self, webhook: &str) -> Result<Health, StoreError> {
        let txn = self.db.get()?.begin_read()?;
        let table = match txn.open_table(WEBHOOK_HEALTH) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Health::default()),
            Err(e) => return Err(e.into()),
        };
        let found = table.get(webhook)?;
        found.map_or(Ok(Health::default()), |v| super::decode(v.value()))
    }

    /// Makes a webhook healthy again (`reset-health`); `NotFound` when the
    /// webhook does not exist.
    pub async fn reset_webhook_health(&self, webhook: String) -> Result<(), StoreError> {
        self.writer
            .write(move |txn| {
                if txn
                    .open_table(super::WEBHOOKS)?
                    .get(webhook.as_str())?
                    .is_none()
                {
                    return Err(StoreError::NotFound);
                }
                save_health(txn, &webhook, &Health::default())
            })
            .await
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
    fn a_jobs_attempts_fold_into_last_success_and_failures_since() {
        let mut t = Tally::default();
        t.attempt("w", 10, false);
        t.attempt("w", 20, true);
        t.attempt("w", 30, false);
        t.attempt("w", 40, false);
        t.attempt("v", 5, false);
        let w = t.webhooks["w"];
        assert_eq!((w.last_success_ms, w.failures), (Some(20), 2));
        let v = t.webhooks["v"];
        assert_eq!((v.last_success_ms, v.failures), (None, 1));
        t.ended(DeliveryStatus::Succeeded);
        t.ended(DeliveryStatus::Pending);
        t.ended(DeliveryStatus::Cancelled);
        t.ended(DeliveryStatus::Failed);
        t.ended(DeliveryStatus::Failed);
        assert_eq!(t.ended, [1, 2]);
    }
}
