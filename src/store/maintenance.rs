//! What operators do to the file besides running the daemon: inspect it
//! (`hookline check`) and copy it consistently (`hookline backup`).

use std::path::{Path, PathBuf};

use redb::{
    Database, Key, ReadOnlyDatabase, ReadTransaction, ReadableDatabase, ReadableTable,
    ReadableTableMetadata, TableDefinition, Value,
};

use super::{
    decode, OpenError, Store, StoreError, ATTEMPTS, BODIES, DEDUP, DEDUP_TIMES, DELIVERIES, DUE,
    EVENTS, EVENT_TIMES, FORMAT_VERSION_KEY, META, RULE_GROUPS, SCHEMAS, WEBHOOKS,
};
use crate::model::{RuleGroup, Schema, Webhook};

/// What `hookline check` reports of a data file.
#[derive(Debug, Clone, PartialEq)]
pub struct Inspection {
    pub format_version: u64,
    pub webhooks: u64,
    pub schemas: u64,
    pub rule_groups: u64,
    pub rules: u64,
    pub events: u64,
    pub deliveries: u64,
    pub pending: u64,
    /// The configuration objects that decode (check compiles them).
    pub webhook_list: Vec<Webhook>,
    pub schema_list: Vec<Schema>,
    pub rule_group_list: Vec<RuleGroup>,
}

/// Rows copied per transaction of a backup: bounds the memory of one commit
/// while the source stays one consistent snapshot.
const COPY_CHUNK: usize = 50_000;

impl Store {
    /// Opens `path` read-only and counts what it holds. Fails with
    /// `OpenError::Locked` while a daemon has the file open.
    pub fn inspect(path: &Path) -> Result<Inspection, OpenError> {
        let storage = |e: &dyn std::fmt::Display| OpenError::Storage {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let db = match ReadOnlyDatabase::open(path) {
            Ok(db) => db,
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
                return Err(OpenError::Locked(path.to_path_buf()))
            }
            Err(e) => return Err(storage(&e)),
        };
        let txn = db.begin_read().map_err(|e| storage(&e))?;
        count_all(&txn).map_err(|e| storage(&e))
    }

    /// Writes a consistent copy of the whole file to `dest` (which must not
    /// exist) from one read snapshot, while the daemon goes on writing.
    pub fn backup_to(&self, dest: &Path) -> Result<(), StoreError> {
        if dest.exists() {
            return Err(StoreError::Conflict(format!(
                "{} already exists",
                dest.display()
            )));
        }
        let snapshot = self.db.get()?.begin_read()?;
        let copy = Database::create(dest)
            .map_err(|e| StoreError::Unavailable(format!("create {}: {e}", dest.display())))?;
        copy_table(&snapshot, &copy, META)?;
        for table in [WEBHOOKS, SCHEMAS, RULE_GROUPS, EVENTS, DELIVERIES] {
            copy_table(&snapshot, &copy, table)?;
        }
        copy_table(&snapshot, &copy, BODIES)?;
        copy_table(&snapshot, &copy, EVENT_TIMES)?;
        copy_table(&snapshot, &copy, ATTEMPTS)?;
        copy_table(&snapshot, &copy, DUE)?;
        copy_table(&snapshot, &copy, DEDUP)?;
        copy_table(&snapshot, &copy, DEDUP_TIMES)?;
        // Health, the overview's tallies and the per-ticket turns: a restored
        // copy must not reopen circuits, forget counts or send a ticket's
        // waiting deliveries out of order.
        copy_table(&snapshot, &copy, super::tally::ENDED)?;
        copy_table(&snapshot, &copy, super::health::WEBHOOK_HEALTH)?;
        copy_table(&snapshot, &copy, super::ordering::TURNS)?;
        copy_table(&snapshot, &copy, super::ordering::LINE)?;
        Ok(())
    }

    /// `hookline compact`: rewrites the file without its free pages (redb's
    /// `compact`), after migrating it if it is older. Refused with
    /// [`OpenError::Locked`] while a daemon has the file open. Returns the
    /// file's size before and after.
    pub fn compact_file(path: &Path) -> Result<(u64, u64), OpenError> {
        let size = || std::fs::metadata(path).map_or(0, |m| m.len());
        let before = size();
        let storage = |e: &dyn std::fmt::Display| OpenError::Storage {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        // hookline's own cache size: redb's default (1 GiB) would hold a
        // large file's pages in memory while they are moved.
        let mut db = match super::open_database(path) {
            Ok(db) => db,
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
                return Err(OpenError::Locked(path.to_path_buf()))
            }
            Err(e) => return Err(storage(&e)),
        };
        super::init_tables(&db, path)?;
        super::migrate::migrate(&db, &mut super::log_migration).map_err(|e| storage(&e))?;
        // Each pass moves pages towards the start; a few passes reach the
        // end (bounded, in case a pass keeps finding a little to move).
        for _ in 0..8 {
            if !db.compact().map_err(|e| storage(&e))? {
                break;
            }
        }
        drop(db);
        Ok((before, size()))
    }

    /// Where a backup made for streaming is written before it is sent.
    pub fn backup_scratch_path(&self) -> PathBuf {
        let mut name = self.db.path.as_os_str().to_owned();
        name.push(format!(".backup-{}", ulid::Ulid::new()));
        PathBuf::from(name)
    }
}

fn count_all(txn: &ReadTransaction) -> Result<Inspection, redb::Error> {
    let format_version = txn
        .open_table(META)?
        .get(FORMAT_VERSION_KEY)?
        .map_or(0, |v| v.value());
    let rule_group_list: Vec<RuleGroup> = decodable(txn, RULE_GROUPS)?;
    Ok(Inspection {
        format_version,
        webhooks: txn.open_table(WEBHOOKS)?.len()?,
        schemas: txn.open_table(SCHEMAS)?.len()?,
        rule_groups: txn.open_table(RULE_GROUPS)?.len()?,
        rules: rule_group_list.iter().map(|g| g.rules.len() as u64).sum(),
        events: txn.open_table(EVENTS)?.len()?,
        deliveries: txn.open_table(DELIVERIES)?.len()?,
        // Deliveries waiting for their ticket's turn are pending too.
        pending: txn.open_table(DUE)?.len()? + super::ordering::waiting_count(txn)?,
        webhook_list: decodable(txn, WEBHOOKS)?,
        schema_list: decodable(txn, SCHEMAS)?,
        rule_group_list,
    })
}

/// Every record of `table` that decodes (a damaged one is counted by the
/// table's length but left out here).
fn decodable<T: serde::de::DeserializeOwned>(
    txn: &ReadTransaction,
    table: super::RecordTable,
) -> Result<Vec<T>, redb::Error> {
    let mut out = Vec::new();
    for row in txn.open_table(table)?.iter()? {
        let (_, v) = row?;
        if let Ok(record) = decode::<T>(v.value()) {
            out.push(record);
        }
    }
    Ok(out)
}

/// Copies one table in chunks of [`COPY_CHUNK`] rows per commit.
fn copy_table<K: Key + 'static, V: Value + 'static>(
    src: &ReadTransaction,
    dst: &Database,
    def: TableDefinition<K, V>,
) -> Result<(), StoreError> {
    let table = src.open_table(def)?;
    let mut rows = table.iter()?;
    loop {
        let txn = super::begin_write(dst)?;
        let mut copied = 0;
        {
            let mut out = txn.open_table(def)?;
            for row in rows.by_ref() {
                let (k, v) = row?;
                out.insert(k.value(), v.value())?;
                copied += 1;
                if copied == COPY_CHUNK {
                    break;
                }
            }
        }
        txn.commit()?;
        if copied < COPY_CHUNK {
            return Ok(());
        }
    }
}
