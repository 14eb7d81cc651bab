//! Configuration objects (webhooks, schemas, rule groups): create, replace and
//! delete inside the writer, with name uniqueness and referential integrity
//! checked in the same transaction that writes.

use redb::{ReadableTable, WriteTransaction};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{decode, encode, RecordTable, Store, StoreError, RULE_GROUPS, SCHEMAS, WEBHOOKS};
use crate::model::{FieldError, RuleGroup, Schema, Webhook};

/// A configuration object kept in its own table, keyed by id, named uniquely.
pub trait Record: Serialize + DeserializeOwned + Send + 'static {
    const TABLE: RecordTable;
    /// What an operator calls it, for messages ("webhook").
    const KIND: &'static str;
    fn id(&self) -> &str;
    fn name(&self) -> &str;

    /// Checks what the record points at, inside the write transaction.
    fn check_references(&self, _txn: &WriteTransaction) -> Result<(), StoreError> {
        Ok(())
    }

    /// Refuses a delete while something still points at the record.
    fn check_unreferenced(_id: &str, _txn: &WriteTransaction) -> Result<(), StoreError> {
        Ok(())
    }

    /// Writes that go with the delete (after every check passed).
    fn on_delete(_id: &str, _txn: &WriteTransaction) -> Result<(), StoreError> {
        Ok(())
    }
}

impl Record for Webhook {
    const TABLE: RecordTable = WEBHOOKS;
    const KIND: &'static str = "webhook";
    fn id(&self) -> &str {
        &self.id
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn check_unreferenced(id: &str, txn: &WriteTransaction) -> Result<(), StoreError> {
        refuse_if_referenced(txn, "webhook", |a| a.webhook_id == id)
    }

    /// A deleted webhook's pending deliveries become cancelled.
    fn on_delete(id: &str, txn: &WriteTransaction) -> Result<(), StoreError> {
        let n = super::deliveries::cancel_all_of_webhook(txn, id)?;
        super::health::forget_health(txn, id)?;
        if n > 0 {
            tracing::info!(
                webhook = id,
                cancelled = n,
                "pending deliveries of a deleted webhook cancelled"
            );
        }
        Ok(())
    }
}

impl Record for Schema {
    const TABLE: RecordTable = SCHEMAS;
    const KIND: &'static str = "schema";
    fn id(&self) -> &str {
        &self.id
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn check_unreferenced(id: &str, txn: &WriteTransaction) -> Result<(), StoreError> {
        refuse_if_referenced(txn, "schema", |a| a.schema_id == id)
    }
}

impl Record for RuleGroup {
    const TABLE: RecordTable = RULE_GROUPS;
    const KIND: &'static str = "rule group";
    fn id(&self) -> &str {
        &self.id
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn check_references(&self, txn: &WriteTransaction) -> Result<(), StoreError> {
        let webhooks = txn.open_table(WEBHOOKS)?;
        let schemas = txn.open_table(SCHEMAS)?;
        for (i, rule) in self.rules.iter().enumerate() {
            for (j, action) in rule.actions.webhooks.iter().enumerate() {
                let at = format!("rules[{i}].actions.webhooks[{j}]");
                if webhooks.get(action.webhook_id.as_str())?.is_none() {
                    return Err(
                        FieldError::new(format!("{at}.webhook_id"), "no such webhook").into(),
                    );
                }
                if schemas.get(action.schema_id.as_str())?.is_none() {
                    return Err(FieldError::new(format!("{at}.schema_id"), "no such schema").into());
                }
            }
        }
        Ok(())
    }
}

/// `409 conflict` naming the first rule that still fires the webhook/schema.
fn refuse_if_referenced(
    txn: &WriteTransaction,
    kind: &str,
    points_here: impl Fn(&crate::model::WebhookAction) -> bool,
) -> Result<(), StoreError> {
    let groups = txn.open_table(RULE_GROUPS)?;
    for row in groups.iter()? {
        let (_, bytes) = row?;
        let group: RuleGroup = decode(bytes.value())?;
        for rule in &group.rules {
            if rule.actions.webhooks.iter().any(&points_here) {
                return Err(StoreError::Conflict(format!(
                    "{kind} is used by rule {:?} in rule group {:?}; remove it there first",
                    rule.name, group.name
                )));
            }
        }
    }
    Ok(())
}

/// `409 conflict` when another record of the kind already has the name.
fn check_name_free<R: Record>(txn: &WriteTransaction, record: &R) -> Result<(), StoreError> {
    let table = txn.open_table(R::TABLE)?;
    for row in table.iter()? {
        let (key, bytes) = row?;
        if key.value() == record.id() {
            continue;
        }
        let other: R = decode(bytes.value())?;
        if other.name() == record.name() {
            return Err(StoreError::Conflict(format!(
                "a {} named {:?} already exists",
                R::KIND,
                record.name()
            )));
        }
    }
    Ok(())
}

fn save<R: Record>(txn: &WriteTransaction, record: &R) -> Result<(), StoreError> {
    check_name_free(txn, record)?;
    record.check_references(txn)?;
    let bytes = encode(record)?;
    txn.open_table(R::TABLE)?
        .insert(record.id(), bytes.as_slice())?;
    Ok(())
}

impl Store {
    /// Stores a new record; answers after its commit.
    pub async fn create<R: Record + Clone>(&self, record: R) -> Result<R, StoreError> {
        self.writer
            .write(move |txn| save(txn, &record).map(|()| record))
            .await
    }

    /// Replaces the record `id` with what `build` makes of the stored one
    /// (inside the transaction, so concurrent `PUT`s cannot lose each other's
    /// secrets). `build` may hand back something extra for the caller.
    pub async fn replace<R, X, F>(&self, id: String, build: F) -> Result<(R, X), StoreError>
    where
        R: Record,
        X: Send + 'static,
        F: FnOnce(&R) -> Result<(R, X), StoreError> + Send + 'static,
    {
        self.writer
            .write(move |txn| {
                let previous: R = {
                    let table = txn.open_table(R::TABLE)?;
                    let found = table.get(id.as_str())?;
                    match found {
                        Some(bytes) => decode(bytes.value())?,
                        None => return Err(StoreError::NotFound),
                    }
                };
                let (record, extra) = build(&previous)?;
                save(txn, &record)?;
                Ok((record, extra))
            })
            .await
    }

    /// Deletes the record `id`, refused while something references it.
    pub async fn delete<R: Record>(&self, id: String) -> Result<(), StoreError> {
        self.writer
            .write(move |txn| {
                if txn.open_table(R::TABLE)?.get(id.as_str())?.is_none() {
                    return Err(StoreError::NotFound);
                }
                R::check_unreferenced(&id, txn)?;
                R::on_delete(&id, txn)?;
                txn.open_table(R::TABLE)?.remove(id.as_str())?;
                Ok(())
            })
            .await
    }

    /// Cluster mode: writes a record as another instance stored it (its
    /// checks ran there, in the same order as everywhere).
    pub async fn mirror_put<R: Record>(&self, record: R) -> Result<(), StoreError> {
        self.writer
            .write(move |txn| {
                let bytes = encode(&record)?;
                txn.open_table(R::TABLE)?
                    .insert(record.id(), bytes.as_slice())?;
                Ok(())
            })
            .await
    }

    /// Cluster mode: deletes a record another instance deleted (nothing to
    /// do when it is not here).
    pub async fn mirror_delete<R: Record>(&self, id: String) -> Result<(), StoreError> {
        self.writer
            .write(move |txn| {
                if txn.open_table(R::TABLE)?.get(id.as_str())?.is_none() {
                    return Ok(());
                }
                R::on_delete(&id, txn)?;
                txn.open_table(R::TABLE)?.remove(id.as_str())?;
                Ok(())
            })
            .await
    }
}
