//! The overview's figures, read from the deliveries newest first: counts of
//! the last 24 hours and, per webhook, its last success and how many of its
//! newest deliveries failed in a row.

use std::collections::HashMap;

use redb::ReadableDatabase;

use super::{decode, Store, StoreError, DELIVERIES};
use crate::model::{Delivery, DeliveryStatus};

/// Deliveries read at most for one overview: its cost stays bounded
/// however large the store grows (figures past it are left out).
const MAX_SCANNED: usize = 200_000;

/// What the overview shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub pending: u64,
    /// Of deliveries created since `since`.
    pub failed: u64,
    pub succeeded: u64,
    pub webhooks: HashMap<String, WebhookSummary>,
    /// True when [`MAX_SCANNED`] cut the scan short.
    pub truncated: bool,
}

/// One webhook's line of the overview.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookSummary {
    /// When the last attempt of its newest succeeded delivery started.
    pub last_success: Option<String>,
    /// Its newest deliveries whose last attempt failed, up to the newest success.
    pub failures_in_a_row: u64,
    /// A success was found: older deliveries no longer change this line.
    settled: bool,
}

/// The smallest delivery id created at `ms` (ids are `dl_` + a ULID, whose
/// text sorts by time).
fn first_id_at(ms: u64) -> String {
    format!("dl_{}", ulid::Ulid::from_parts(ms, 0))
}

impl Store {
    /// Counts of deliveries created since `since_ms` (unix ms), pending
    /// ones in all, and one line per webhook that has deliveries.
    pub fn summary(&self, since_ms: u64) -> Result<Summary, StoreError> {
        let mut summary = Summary {
            pending: self.pending_count()?,
            ..Summary::default()
        };
        let txn = self.db.get()?.begin_read()?;
        let table = txn.open_table(DELIVERIES)?;
        let boundary = first_id_at(since_ms);
        for (scanned, row) in table.range::<&str>(..)?.rev().enumerate() {
            if scanned >= MAX_SCANNED {
                summary.truncated = true;
                break;
            }
            let (key, value) = row?;
            let recent = key.value() >= boundary.as_str();
            if !recent && summary.webhooks.values().all(|w| w.settled) {
                break;
            }
            let d: Delivery = decode(value.value())?;
            if recent {
                match d.status {
                    DeliveryStatus::Failed => summary.failed += 1,
                    DeliveryStatus::Succeeded => summary.succeeded += 1,
                    _ => {}
                }
            }
            let line = summary.webhooks.entry(d.webhook_id.clone()).or_default();
            if line.settled {
                continue;
            }
            let last_failed = d
                .last_attempt
                .as_ref()
                .is_some_and(|a| !a.status_code.is_some_and(|s| (200..300).contains(&s)));
            match d.status {
                DeliveryStatus::Succeeded => {
                    line.last_success = d.last_attempt.map(|a| a.started_at);
                    line.settled = true;
                }
                DeliveryStatus::Failed => line.failures_in_a_row += 1,
                DeliveryStatus::Pending if last_failed => line.failures_in_a_row += 1,
                _ => {}
            }
        }
        Ok(summary)
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
