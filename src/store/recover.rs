//! Recover (POLICIES.md): every delivery of one webhook created in a window
//! and in one of some statuses is sent again with a fresh set of retries,
//! as a manual retry would, in bounded commits so ingestion keeps flowing.

use redb::{ReadableDatabase, ReadableTable};

use super::deliveries::{reschedule, save};
use super::{Store, StoreError, DELIVERIES};
use crate::model::{Delivery, DeliveryStatus};

/// Deliveries retried per commit.
const BATCH: usize = 500;
/// Deliveries read per batch while looking for matches.
const SCAN: usize = 20_000;

/// Which deliveries to recover.
#[derive(Debug, Clone)]
pub struct RecoverWindow {
    pub webhook_id: String,
    /// Creation time, unix ms: `[since, until)`.
    pub since_ms: u64,
    pub until_ms: u64,
    pub statuses: Vec<DeliveryStatus>,
}

/// The smallest delivery id created at `ms` (ids are `dl_` + a ULID, whose
/// text sorts by time).
pub(super) fn first_id_at(ms: u64) -> String {
    format!("dl_{}", ulid::Ulid::from_parts(ms, 0))
}

impl RecoverWindow {
    fn matches(&self, d: &Delivery) -> bool {
        d.webhook_id == self.webhook_id && self.statuses.contains(&d.status) && d.error.is_none()
    }
}

impl Store {
    /// Retries every delivery in `window`; returns how many. `Conflict`
    /// while the webhook is disabled, `NotFound` when it does not exist.
    pub async fn recover(&self, window: RecoverWindow) -> Result<u64, StoreError> {
        let webhook = self
            .get::<crate::model::Webhook>(&window.webhook_id)?
            .ok_or(StoreError::NotFound)?;
        if !webhook.enabled {
            return Err(StoreError::Conflict(
                "the webhook is disabled; enable it (or reset its health) first".into(),
            ));
        }
        let end = first_id_at(window.until_ms);
        let mut from = first_id_at(window.since_ms);
        let mut count = 0u64;
        loop {
            let (ids, next) = self.recover_candidates(&window, &from, &end)?;
            if !ids.is_empty() {
                let w = window.clone();
                count += self
                    .writer
                    .write(move |txn| {
                        let mut found = Vec::with_capacity(ids.len());
                        {
                            let table = txn.open_table(DELIVERIES)?;
                            for id in &ids {
                                if let Some(v) = table.get(id.as_str())? {
                                    found.push(super::codec::decode_delivery(id, v.value())?);
                                }
                            }
                        }
                        let now = crate::model::now_millis();
                        let mut n = 0u64;
                        for mut d in found.into_iter().filter(|d| w.matches(d)) {
                            d.retry_base = d.attempt_count;
                            reschedule(txn, &mut d, DeliveryStatus::Pending, Some(now))?;
                            save(txn, &d)?;
                            n += 1;
                        }
                        Ok(n)
                    })
                    .await?;
            }
            match next {
                Some(key) => from = key,
                None => return Ok(count),
            }
        }
    }

    /// Up to [`BATCH`] matching ids from `from` (inclusive) to `end`, and
    /// where to go on from, if anywhere.
    fn recover_candidates(
        &self,
        window: &RecoverWindow,
        from: &str,
        end: &str,
    ) -> Result<(Vec<String>, Option<String>), StoreError> {
        let txn = self.db.get()?.begin_read()?;
        let table = txn.open_table(DELIVERIES)?;
        let mut ids = Vec::new();
        for (scanned, row) in table.range::<&str>(from..end)?.enumerate() {
            let (key, value) = row?;
            if ids.len() >= BATCH || scanned >= SCAN {
                return Ok((ids, Some(key.value().to_string())));
            }
            let d = super::codec::decode_delivery(key.value(), value.value())?;
            if window.matches(&d) {
                ids.push(d.id);
            }
        }
        Ok((ids, None))
    }
}

#[cfg(test)]
mod tests {
    use super::first_id_at;

    #[test]
    fn the_boundary_sorts_between_older_and_newer_ids() {
        let older = format!("dl_{}", ulid::Ulid::from_parts(999, u128::MAX));
        let newer = format!("dl_{}", ulid::Ulid::from_parts(1000, 1));
        let boundary = first_id_at(1000);
        assert!(older < boundary && boundary < newer);
    }
}
