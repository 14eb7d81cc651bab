//! Each webhook's endpoint health (`model::Health`), written by its queue in
//! the same transaction as the outcomes that moved it, so it survives a
//! restart or `kill -9` and never disagrees with them.

use redb::{ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};

use super::{decode, encode, Store, StoreError, WEBHOOKS};
use crate::model::Health;

/// webhook id → its endpoint health (JSON).
pub(crate) const WEBHOOK_HEALTH: TableDefinition<&str, &[u8]> =
    TableDefinition::new("webhook_health");

/// Stores a webhook's health.
pub(crate) fn save_health(
    txn: &WriteTransaction,
    webhook: &str,
    health: &Health,
) -> Result<(), StoreError> {
    let bytes = encode(health)?;
    txn.open_table(WEBHOOK_HEALTH)?
        .insert(webhook, bytes.as_slice())?;
    Ok(())
}

/// Forgets a deleted webhook's health.
pub(crate) fn forget_health(txn: &WriteTransaction, webhook: &str) -> Result<(), StoreError> {
    txn.open_table(WEBHOOK_HEALTH)?.remove(webhook)?;
    Ok(())
}

impl Store {
    /// A webhook's stored health (healthy when none was stored).
    pub fn webhook_health(&self, webhook: &str) -> Result<Health, StoreError> {
        let txn = self.db.get()?.begin_read()?;
        let table = txn.open_table(WEBHOOK_HEALTH)?;
        let found = table.get(webhook)?;
        found.map_or(Ok(Health::default()), |v| decode(v.value()))
    }

    /// Every stored health, by webhook id, in one read.
    pub fn webhook_healths(&self) -> Result<std::collections::HashMap<String, Health>, StoreError> {
        let txn = self.db.get()?.begin_read()?;
        let table = txn.open_table(WEBHOOK_HEALTH)?;
        let mut all = std::collections::HashMap::new();
        for row in table.iter()? {
            let (id, bytes) = row?;
            all.insert(id.value().to_string(), decode(bytes.value())?);
        }
        Ok(all)
    }

    /// Makes a webhook healthy again (`reset-health`); `NotFound` when the
    /// webhook does not exist.
    pub async fn reset_webhook_health(&self, webhook: String) -> Result<(), StoreError> {
        self.writer
            .write(move |txn| {
                if txn.open_table(WEBHOOKS)?.get(webhook.as_str())?.is_none() {
                    return Err(StoreError::NotFound);
                }
                save_health(txn, &webhook, &Health::default())
            })
            .await
    }

    /// Turns a webhook's `enabled` on or off (its health disabled it, or a
    /// reset enables it again); `NotFound` when it does not exist.
    pub async fn set_webhook_enabled(
        &self,
        webhook: String,
        enabled: bool,
    ) -> Result<(), StoreError> {
        self.replace::<crate::model::Webhook, _, _>(webhook, move |w| {
            let mut changed = w.clone();
            changed.enabled = enabled;
            changed.updated_at = crate::model::now_rfc3339();
            Ok((changed, ()))
        })
        .await
        .map(|_| ())
    }
}
