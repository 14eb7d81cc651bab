//! Configuration in cluster mode (CLUSTER.md, Configuration): webhooks,
//! schemas and rule groups live in the bucket as `config.<kind>.<id>` (the
//! record as JSON, the same bytes as in redb). An admin write commits to the
//! local file with every check, then does a compare-and-set on the revision
//! this instance last applied; losing that race is `409 conflict` and the
//! local record is put back as the bucket has it. Every instance watches
//! the bucket and applies changes in revision order.
//!
//! The records hold secrets (signing secrets, passwords, tokens): the NATS
//! account of the cluster must be as private as the data file.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use actix::Addr;
use async_nats::jetstream::kv;
use futures_util::StreamExt as _;
use tokio::sync::watch;

use crate::engine::{ConfigChanged, RuleEngine};
use crate::model::{RuleGroup, Schema, Webhook};
use crate::store::{Record, Store, StoreError};

/// Why a shared write did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ShareError {
    #[error("changed on another instance at the same time; reload it and try again")]
    Conflict,
    #[error("the cluster's configuration bucket is not reachable: {0}")]
    Unavailable(String),
}

impl From<ShareError> for StoreError {
    fn from(e: ShareError) -> StoreError {
        match e {
            ShareError::Conflict => StoreError::Conflict(e.to_string()),
            ShareError::Unavailable(_) => StoreError::Unavailable(e.to_string()),
        }
    }
}

/// The bucket and the revision of every key this instance has applied (the
/// revision its next compare-and-set names). Cheap to clone.
#[derive(Clone)]
pub struct ConfigShare {
    kv: kv::Store,
    revisions: Arc<Mutex<HashMap<String, u64>>>,
}

/// `config.<kind>.<id>`; the kind as one token (`rule_group`).
pub fn key_of<R: Record>(id: &str) -> String {
    format!("config.{}.{id}", R::KIND.replace(' ', "_"))
}

impl ConfigShare {
    pub(super) fn new(kv: kv::Store) -> ConfigShare {
        ConfigShare {
            kv,
            revisions: Arc::default(),
        }
    }

    fn known(&self, key: &str) -> Option<u64> {
        self.revisions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .copied()
    }

    /// Records `revision` as applied; false when it is not newer.
    fn advance(&self, key: &str, revision: u64) -> bool {
        let mut map = self
            .revisions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let slot = map.entry(key.to_string()).or_insert(0);
        if revision <= *slot {
            return false;
        }
        *slot = revision;
        true
    }

    /// Shares a record just committed locally: an update of the revision
    /// applied here (a create when this instance has never seen the key).
    pub async fn put<R: Record>(&self, record: &R) -> Result<(), ShareError> {
        let key = key_of::<R>(record.id());
        let bytes = serde_json::to_vec(record)
            .map_err(|e| ShareError::Unavailable(format!("encode: {e}")))?;
        let written = match self.known(&key) {
            Some(revision) => {
                self.kv
                    .update(&key, bytes.into(), revision)
                    .await
                    .map_err(|e| match e.kind() {
                        kv::UpdateErrorKind::WrongLastRevision => ShareError::Conflict,
                        _ => ShareError::Unavailable(e.to_string()),
                    })
            }
            None => self
                .kv
                .create(&key, bytes.into())
                .await
                .map_err(|e| match e.kind() {
                    kv::CreateErrorKind::AlreadyExists => ShareError::Conflict,
                    _ => ShareError::Unavailable(e.to_string()),
                }),
        }?;
        self.advance(&key, written);
        Ok(())
    }

    /// Shares a delete just committed locally.
    pub async fn delete<R: Record>(&self, id: &str) -> Result<(), ShareError> {
        let key = key_of::<R>(id);
        self.kv
            .delete_expect_revision(&key, self.known(&key))
            .await
            .map_err(|e| match e.kind() {
                kv::UpdateErrorKind::WrongLastRevision => ShareError::Conflict,
                _ => ShareError::Unavailable(e.to_string()),
            })
    }

    /// After a lost race: puts the local record back as the bucket has it.
    pub async fn restore<R: Record>(&self, store: &Store, id: &str) {
        let key = key_of::<R>(id);
        match self.kv.entry(key.clone()).await {
            Ok(Some(entry)) => {
                if let Err(e) = apply::<R>(store, id, &entry).await {
                    tracing::warn!(%key, error = %e, "cannot put the shared record back");
                }
                self.advance(&key, entry.revision);
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(%key, error = %e, "cannot read the shared record"),
        }
    }

    /// Shares the objects of this instance's file that the bucket does not
    /// know (a file that served alone before cluster mode was turned on):
    /// webhooks and schemas before the rule groups that name them. An
    /// object another instance created meanwhile under the same key stays
    /// as the bucket has it.
    async fn seed(&self, store: &Store) {
        let mut shared = 0;
        shared += self.seed_kind::<Webhook>(store).await;
        shared += self.seed_kind::<Schema>(store).await;
        shared += self.seed_kind::<RuleGroup>(store).await;
        if shared > 0 {
            tracing::info!(
                objects = shared,
                "configuration of this file shared with the cluster"
            );
        }
    }

    async fn seed_kind<R: Record>(&self, store: &Store) -> usize {
        let mut shared = 0;
        for record in store.list::<R>().unwrap_or_default() {
            if self.known(&key_of::<R>(record.id())).is_none() && self.put(&record).await.is_ok() {
                shared += 1;
            }
        }
        shared
    }

    /// Whether the bucket holds nothing yet (its watch would then never
    /// report being current).
    async fn empty(&self) -> bool {
        self.kv
            .status()
            .await
            .map(|s| s.values() == 0)
            .unwrap_or(false)
    }
}

/// Writes one entry of the bucket to the local file.
async fn apply<R: Record>(store: &Store, id: &str, entry: &kv::Entry) -> Result<(), StoreError> {
    match entry.operation {
        kv::Operation::Put => {
            let record: R = serde_json::from_slice(&entry.value)
                .map_err(|e| StoreError::Corrupt(format!("shared {}: {e}", R::KIND)))?;
            store.mirror_put(record).await
        }
        kv::Operation::Delete | kv::Operation::Purge => {
            store.mirror_delete::<R>(id.to_string()).await
        }
    }
}

/// Applies an entry if it is a configuration key newer than what was applied.
async fn apply_entry(share: &ConfigShare, store: &Store, entry: &kv::Entry) -> bool {
    let Some(rest) = entry.key.strip_prefix("config.") else {
        return false;
    };
    let Some((kind, id)) = rest.split_once('.') else {
        return false;
    };
    if share.known(&entry.key).is_some_and(|r| entry.revision <= r) {
        return false;
    }
    let applied = match kind {
        "webhook" => apply::<Webhook>(store, id, entry).await,
        "schema" => apply::<Schema>(store, id, entry).await,
        "rule_group" => apply::<RuleGroup>(store, id, entry).await,
        _ => return false,
    };
    match applied {
        Ok(()) => {
            share.advance(&entry.key, entry.revision);
            tracing::debug!(key = %entry.key, revision = entry.revision, "shared configuration applied");
            true
        }
        Err(e) => {
            tracing::warn!(key = %entry.key, error = %e, "cannot apply a shared configuration change");
            false
        }
    }
}

/// Watches the bucket for as long as the process runs: the whole history
/// first (then `ready` turns true), then every change, in revision order.
/// A watch that ends (NATS away) starts again; what was applied is skipped.
pub fn watch_config(
    share: ConfigShare,
    store: Store,
    engine: Addr<RuleEngine>,
    ready: watch::Sender<bool>,
) {
    actix::spawn(async move {
        loop {
            if share.empty().await {
                let _ = ready.send(true);
            }
            match share.kv.watch_with_history(">").await {
                Ok(mut changes) => {
                    let mut changed = false;
                    let mut seeded = *ready.borrow();
                    if seeded {
                        share.seed(&store).await;
                    }
                    while let Some(next) = changes.next().await {
                        let Ok(entry) = next else { break };
                        changed |= apply_entry(&share, &store, &entry).await;
                        if entry.delta == 0 {
                            if changed {
                                let _ = engine.send(ConfigChanged).await;
                                changed = false;
                            }
                            if !seeded {
                                share.seed(&store).await;
                                seeded = true;
                            }
                            let _ = ready.send(true);
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot watch the configuration bucket; trying again")
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
}
