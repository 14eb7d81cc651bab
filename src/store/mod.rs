//! The redb file: tables, encoding, format version, and the single writer.
//!
//! Reads open their own read transaction and never wait for the writer; every
//! write goes through [`writer`]'s group commit.

mod codec;
mod deliveries;
mod events;
mod health;
mod maintenance;
mod migrate;
mod objects;
mod ordering;
mod recover;
mod tally;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::model::FieldError;

pub use deliveries::{
    AttemptRecord, DeliveryDetail, DeliveryFilter, DueEntry, HealthRecord, NextState,
};
pub use events::{IngestOutcome, NewDelivery, PreparedEvent, PruneBatch, RetentionCursor};
pub use maintenance::Inspection;
pub use migrate::Progress as MigrationProgress;
pub use objects::Record;
pub use recover::RecoverWindow;
pub use tally::Summary;
pub use writer::WriterStats;

/// id → JSON record. JSON keeps the file readable by `hookline check` and
/// tolerant of added fields across versions.
type RecordTable = TableDefinition<'static, &'static str, &'static [u8]>;

pub(crate) const WEBHOOKS: RecordTable = TableDefinition::new("webhooks");
pub(crate) const SCHEMAS: RecordTable = TableDefinition::new("schemas");
pub(crate) const RULE_GROUPS: RecordTable = TableDefinition::new("rule_groups");
/// event id → `StoredEvent` JSON.
pub(crate) const EVENTS: RecordTable = TableDefinition::new("events");
/// (received unix ms, event id): retention prunes by time.
pub(crate) const EVENT_TIMES: TableDefinition<(u64, &str), ()> =
    TableDefinition::new("event_times");
/// delivery id → `Delivery` JSON (small; rewritten on every attempt).
pub(crate) const DELIVERIES: RecordTable = TableDefinition::new("deliveries");
/// delivery id → rendered body bytes (written once).
pub(crate) const BODIES: TableDefinition<&str, &[u8]> = TableDefinition::new("delivery_bodies");
/// (delivery id, attempt n) → `Attempt` JSON.
pub(crate) const ATTEMPTS: TableDefinition<(&str, u32), &[u8]> = TableDefinition::new("attempts");
/// (webhook id, due unix ms, delivery id): every pending delivery, and only
/// those. The delivery queues read their webhook's range in due order.
pub(crate) const DUE: TableDefinition<(&str, u64, &str), ()> = TableDefinition::new("due");
/// The key of a (webhook, schema, ticket) combination (see
/// `events::dedup_key`).
pub(crate) type DedupKey = Vec<u8>;
/// dedup key → unix ms it last fired (format 2: an 8-byte hash of the pair
/// and the ticket, a quarter of format 1's `webhook␟schema␟ticket` text).
pub(crate) const DEDUP: TableDefinition<&[u8], u64> = TableDefinition::new("dedup_v2");
/// (fired unix ms, dedup key): expired keys are pruned by range.
pub(crate) const DEDUP_TIMES: TableDefinition<(u64, &[u8]), ()> =
    TableDefinition::new("dedup_times_v2");
/// Format 1's dedup tables, moved to the hashed ones by the migration.
pub(crate) const DEDUP_V1: TableDefinition<&str, u64> = TableDefinition::new("dedup");
pub(crate) const DEDUP_TIMES_V1: TableDefinition<(u64, &str), ()> =
    TableDefinition::new("dedup_times");
/// Small named values: the format version and, later, counters.
pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

pub(crate) const FORMAT_VERSION_KEY: &str = "format_version";
/// The data-file format this build writes. A file with a higher number was
/// written by a newer hookline and is refused rather than misread.
/// Format 2 (issue 16): deliveries and attempts in the compact encoding of
/// `codec`; a format-1 file is migrated when it is opened (`migrate`).
pub const FORMAT_VERSION: u64 = 2;

/// Why a store operation failed. Storage failures keep redb's error as their
/// source, sorted by what an operator does about them: a full disk and an
/// I/O error pass (503, retry later), a damaged file needs `hookline check`.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Invalid(#[from] FieldError),
    /// The disk (or the file system's quota) is full.
    #[error("storage full: {0}")]
    Full(#[source] Arc<redb::Error>),
    /// Reading or writing the file failed.
    #[error("storage I/O error: {0}")]
    Io(#[source] Arc<redb::Error>),
    /// The file or a record in it is damaged.
    #[error("the data file is damaged ({0}); stop hookline and run `hookline check`")]
    Corrupt(String),
    /// Anything else that kept the store from answering now (the file is
    /// being reopened, a batch it shared failed, a task was interrupted).
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// The writer has stopped (shutdown).
    #[error("storage is closed")]
    Closed,
}

impl StoreError {
    /// A failure of the storage itself (which aborts a whole group commit),
    /// as opposed to an answer about the data (not found, conflict, invalid).
    pub fn is_storage_failure(&self) -> bool {
        matches!(
            self,
            StoreError::Full(_)
                | StoreError::Io(_)
                | StoreError::Corrupt(_)
                | StoreError::Unavailable(_)
        )
    }
}

impl From<redb::Error> for StoreError {
    fn from(e: redb::Error) -> Self {
        match &e {
            redb::Error::Io(io) if is_disk_full(io) => StoreError::Full(Arc::new(e)),
            redb::Error::Io(_) | redb::Error::PreviousIo => StoreError::Io(Arc::new(e)),
            redb::Error::Corrupted(_) => StoreError::Corrupt(e.to_string()),
            _ => StoreError::Unavailable(e.to_string()),
        }
    }
}

/// ENOSPC or EDQUOT.
fn is_disk_full(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::StorageFull
        || e.kind() == std::io::ErrorKind::QuotaExceeded
        || matches!(e.raw_os_error(), Some(28 | 122))
}

macro_rules! storage_errors {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::from(redb::Error::from(e))
            }
        }
    )*};
}
storage_errors!(
    redb::StorageError,
    redb::TableError,
    redb::TransactionError,
    redb::CommitError
);

/// Why the data file could not be opened at start-up.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(
        "data file {0} is in use by another hookline process (only one daemon may use a data file)"
    )]
    Locked(PathBuf),
    #[error("data file {path} has format version {found}, but this hookline understands up to {supported}; run the newer hookline or restore a backup")]
    NewerFormat {
        path: PathBuf,
        found: u64,
        supported: u64,
    },
    #[error("cannot open data file {path}: {message}")]
    Storage { path: PathBuf, message: String },
}

/// The open database, replaceable. After an I/O error (disk full) redb
/// refuses every further write until the file is opened again, so the writer
/// reopens it here once the error is seen; readers always take the current one.
pub(crate) struct DbSlot {
    path: PathBuf,
    current: std::sync::RwLock<Option<Arc<Database>>>,
}

/// How long a reopen waits for readers of the old instance to finish.
const REOPEN_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

impl DbSlot {
    fn new(path: &Path, db: Database) -> Self {
        DbSlot {
            path: path.to_path_buf(),
            current: std::sync::RwLock::new(Some(Arc::new(db))),
        }
    }

    /// The open database, or `Unavailable` while it is being reopened.
    pub(crate) fn get(&self) -> Result<Arc<Database>, StoreError> {
        let guard = self
            .current
            .read()
            .map_err(|_| StoreError::Unavailable("database slot poisoned".into()))?;
        guard
            .clone()
            .ok_or_else(|| StoreError::Unavailable("the data file is being reopened".into()))
    }

    /// Closes the current instance (after its last reader) and opens the file
    /// again. Leaves the slot empty when the file cannot be opened yet.
    pub(crate) fn reopen(&self) -> Result<(), StoreError> {
        self.close()?;
        let db = open_database(&self.path)
            .map_err(|e| StoreError::Unavailable(format!("reopen: {e}")))?;
        if let Ok(mut slot) = self.current.write() {
            *slot = Some(Arc::new(db));
        }
        tracing::info!(path = %self.path.display(), "data file reopened after a storage error");
        Ok(())
    }

    /// Empties the slot and drops the database once its last reader is done,
    /// which closes the file cleanly (no repair at the next open).
    pub(crate) fn close(&self) -> Result<(), StoreError> {
        let old = match self.current.write() {
            Ok(mut slot) => slot.take(),
            Err(_) => return Err(StoreError::Unavailable("database slot poisoned".into())),
        };
        if let Some(old) = old {
            let deadline = std::time::Instant::now() + REOPEN_WAIT;
            let mut old = Some(old);
            while let Some(arc) = old.take() {
                match Arc::try_unwrap(arc) {
                    Ok(db) => drop(db),
                    Err(arc) if std::time::Instant::now() < deadline => {
                        old = Some(arc);
                        std::thread::sleep(std::time::Duration::from_millis(1));
                    }
                    Err(_) => {
                        return Err(StoreError::Unavailable(
                            "readers hold the old data file".into(),
                        ))
                    }
                }
            }
        }
        Ok(())
    }
}

/// The opened data file. Cheap to clone; all clones share one writer.
#[derive(Clone)]
pub struct Store {
    db: Arc<DbSlot>,
    writer: writer::WriterHandle,
    thread: Arc<std::sync::Mutex<writer::Writer>>,
}

impl Store {
    /// Opens (or creates) the data file, checks its format version and starts
    /// the writer.
    pub fn open(path: &Path) -> Result<Store, OpenError> {
        Store::open_with(path, &mut log_migration)
    }

    /// [`Store::open`], telling a migration's progress to `on_progress`
    /// after each of its commits (the daemon also shows it in systemd's
    /// status line).
    pub fn open_with(
        path: &Path,
        on_progress: &mut dyn FnMut(MigrationProgress),
    ) -> Result<Store, OpenError> {
        let storage = |e: &dyn std::fmt::Display| OpenError::Storage {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let db = match open_database(path) {
            Ok(db) => db,
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
                return Err(OpenError::Locked(path.to_path_buf()))
            }
            Err(e) => return Err(storage(&e)),
        };
        init_tables(&db, path)?;
        let rewritten = migrate::migrate(&db, on_progress).map_err(|e| storage(&e))?;
        if rewritten > 0 {
            tracing::info!(records = rewritten, "the data file is now format 2");
        }
        let db = Arc::new(DbSlot::new(path, db));
        let (thread, writer) = writer::Writer::start(db.clone()).map_err(|e| storage(&e))?;
        Ok(Store {
            db,
            writer,
            thread: Arc::new(std::sync::Mutex::new(thread)),
        })
    }

    /// Reads one record by id.
    pub fn get<R: Record>(&self, id: &str) -> Result<Option<R>, StoreError> {
        let txn = self.db.get()?.begin_read()?;
        let table = txn.open_table(R::TABLE)?;
        let found = table.get(id)?;
        found.map(|v| decode(v.value())).transpose()
    }

    /// Reads every record of a kind, in id (= creation) order.
    pub fn list<R: Record>(&self) -> Result<Vec<R>, StoreError> {
        let txn = self.db.get()?.begin_read()?;
        let table = txn.open_table(R::TABLE)?;
        let mut out = Vec::new();
        for row in table.iter()? {
            let (_, v) = row?;
            out.push(decode(v.value())?);
        }
        Ok(out)
    }

    /// Answers when the writer thread is between commits (the watchdog's
    /// liveness check); see the writer's `ping`.
    pub async fn ping_writer(&self) -> Result<(), StoreError> {
        self.writer.ping().await
    }

    /// The writer's counters (commits, jobs per commit, commit time).
    pub fn writer_stats(&self) -> &WriterStats {
        self.writer.stats()
    }

    /// Stops the writer after the writes already queued. Other clones of this
    /// store get `StoreError::Closed` for writes made afterwards.
    pub fn close(&self) {
        self.writer.stop();
        if let Ok(mut t) = self.thread.lock() {
            t.join();
        }
        if let Err(e) = self.db.close() {
            tracing::warn!(error = %e, "data file not closed cleanly; it is checked at the next start");
        }
    }
}

/// The log line of a migration's progress, after each of its commits.
pub fn log_migration(p: MigrationProgress) {
    tracing::info!(
        table = p.table,
        done = p.done,
        total = p.total,
        "migrating the data file to format 2"
    );
}

/// redb's page cache: its default is 1 GiB, which a large backlog would fill
/// and keep. 32 MiB holds the hot part (due index, recent deliveries) and
/// keeps the daemon's memory bounded.
const CACHE_BYTES: usize = 32 * 1024 * 1024;

/// Opens or creates the file with hookline's settings.
fn open_database(path: &Path) -> Result<Database, redb::DatabaseError> {
    // redb calls this only when it must rebuild the whole file's allocator
    // state (the file was not closed and its last commit did not save that
    // state): it takes about a second per GB, so the operator is told.
    let logged = std::sync::atomic::AtomicU64::new(u64::MAX);
    let shown = path.display().to_string();
    Database::builder()
        .set_cache_size(CACHE_BYTES)
        .set_repair_callback(move |session| {
            let tenth = (session.progress() * 10.0) as u64;
            if logged.swap(tenth, std::sync::atomic::Ordering::Relaxed) != tenth {
                tracing::warn!(
                    file = %shown,
                    done = %format!("{} %", tenth * 10),
                    "the data file was not closed cleanly; repairing it before opening"
                );
            }
        })
        .create(path)
}

/// Every write transaction of hookline begins here: durable (fsync'd at
/// commit), and saving redb's allocator state with the commit (quick
/// repair), so that opening after a crash needs no repair of the whole file
/// whichever commit was the last (issue 16: ready after `kill -9` in
/// milliseconds at any size; its cost per commit is in BENCHMARKS.md). One
/// commit without it is enough to cost a full repair: opening the file
/// itself commits.
pub(super) fn begin_write(db: &Database) -> Result<redb::WriteTransaction, StoreError> {
    let mut txn = db.begin_write()?;
    txn.set_durability(redb::Durability::Immediate)
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
    txn.set_quick_repair(true);
    Ok(txn)
}

pub(super) fn init_tables(db: &Database, path: &Path) -> Result<(), OpenError> {
    let storage = |e: &dyn std::fmt::Display| OpenError::Storage {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let txn = begin_write(db).map_err(|e| storage(&e))?;
    {
        let mut meta = txn.open_table(META).map_err(|e| storage(&e))?;
        let found = meta
            .get(FORMAT_VERSION_KEY)
            .map_err(|e| storage(&e))?
            .map(|v| v.value());
        match found {
            Some(v) if v > FORMAT_VERSION => {
                return Err(OpenError::NewerFormat {
                    path: path.to_path_buf(),
                    found: v,
                    supported: FORMAT_VERSION,
                })
            }
            Some(_) => {}
            None => {
                meta.insert(FORMAT_VERSION_KEY, FORMAT_VERSION)
                    .map_err(|e| storage(&e))?;
            }
        }
        for table in [WEBHOOKS, SCHEMAS, RULE_GROUPS, EVENTS, DELIVERIES] {
            txn.open_table(table).map_err(|e| storage(&e))?;
        }
        let created = (|| -> Result<(), redb::TableError> {
            txn.open_table(EVENT_TIMES)?;
            txn.open_table(BODIES)?;
            txn.open_table(ATTEMPTS)?;
            txn.open_table(DUE)?;
            txn.open_table(DEDUP)?;
            txn.open_table(DEDUP_TIMES)?;
            txn.open_table(tally::ENDED)?;
            txn.open_table(health::WEBHOOK_HEALTH)?;
            txn.open_table(ordering::TURNS)?;
            txn.open_table(ordering::LINE)?;
            Ok(())
        })();
        created.map_err(|e| storage(&e))?;
    }
    txn.commit().map_err(|e| storage(&e))
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| StoreError::Unavailable(format!("encode: {e}")))
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(format!("a record: {e}")))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::Store;

    /// The writer's contract: a job checks before its first write. Cancelling
    /// a deleted webhook's backlog used to fail with `NotFound` half-way (a
    /// due entry whose delivery is gone) after it had already written.
    #[actix_web::test]
    async fn cancelling_a_backlog_reads_everything_before_it_writes() {
        use crate::model::{ContentType, IncomingEvent, TargetsView};
        use crate::store::{NewDelivery, PreparedEvent};
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("h.redb")).expect("open");
        let event =
            IncomingEvent::parse(serde_json::json!({"id": "e1", "type": "t"})).expect("event");
        let prepared = PreparedEvent {
            event,
            matched_rules: Vec::new(),
            actions: TargetsView::default(),
            deliveries: vec![NewDelivery {
                webhook_id: "wh_x".into(),
                schema_id: "sc_x".into(),
                content_type: ContentType::Text,
                body: Ok(b"hi".to_vec()),
                webhook_enabled: true,
                seen_in_window: false,
                ordered: false,
                about_itself: false,
            }],
        };
        let out = store
            .ingest(vec![prepared], Duration::from_secs(60))
            .await
            .expect("ingest");
        let id = out[0].evaluation.deliveries[0].id.clone().expect("id");
        // A due entry whose delivery is missing, sorting before the real one.
        store
            .writer
            .write(|txn| {
                txn.open_table(super::DUE)?
                    .insert(("wh_x", 0u64, "dl_gone"), ())?;
                Ok(())
            })
            .await
            .expect("dangling entry");
        let cancelled = store
            .writer
            .write(|txn| super::deliveries::cancel_all_of_webhook(txn, "wh_x"))
            .await
            .expect("no NotFound half-way");
        assert_eq!(cancelled, 1);
        assert_eq!(
            store.pending_count().expect("count"),
            0,
            "the dangling entry went too"
        );
        let (delivery, _) = store.delivery_with_body(&id).expect("read").expect("kept");
        assert_eq!(delivery.status, crate::model::DeliveryStatus::Cancelled);
        store.close();
    }

    /// The watchdog's writer check (defect 7 of issue 10): a writer thread
    /// stuck inside a job does not answer the ping; once free, it does.
    #[actix_web::test]
    async fn a_stuck_writer_does_not_answer_the_ping() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("h.redb")).expect("open");
        let wait = Duration::from_millis(200);
        assert!(matches!(
            tokio::time::timeout(wait, store.ping_writer()).await,
            Ok(Ok(()))
        ));
        let (release, stuck) = std::sync::mpsc::channel::<()>();
        let writer = store.writer.clone();
        let job = actix_web::rt::spawn(async move {
            writer
                .write(move |_| {
                    let _ = stuck.recv_timeout(Duration::from_secs(10));
                    Ok(())
                })
                .await
        });
        // Give the job time to reach the thread, then ask.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            tokio::time::timeout(wait, store.ping_writer())
                .await
                .is_err(),
            "a stuck writer must not answer"
        );
        release.send(()).expect("release");
        assert!(job.await.is_ok());
        assert!(matches!(
            tokio::time::timeout(Duration::from_secs(5), store.ping_writer()).await,
            Ok(Ok(()))
        ));
        store.close();
    }
}

#[cfg(test)]
mod error_tests {
    use super::StoreError;

    fn io(kind: std::io::ErrorKind) -> StoreError {
        StoreError::from(redb::Error::Io(std::io::Error::from(kind)))
    }

    #[test]
    fn storage_errors_are_told_apart() {
        assert!(matches!(
            io(std::io::ErrorKind::StorageFull),
            StoreError::Full(_)
        ));
        assert!(matches!(
            StoreError::from(redb::Error::Io(std::io::Error::from_raw_os_error(28))),
            StoreError::Full(_)
        ));
        assert!(matches!(
            io(std::io::ErrorKind::PermissionDenied),
            StoreError::Io(_)
        ));
        assert!(matches!(
            StoreError::from(redb::Error::Corrupted("bad page".into())),
            StoreError::Corrupt(_)
        ));
        // The source is kept, not flattened into a string.
        let full = io(std::io::ErrorKind::StorageFull);
        assert!(std::error::Error::source(&full).is_some());
        assert!(full.is_storage_failure());
        assert!(!StoreError::NotFound.is_storage_failure());
    }
}
