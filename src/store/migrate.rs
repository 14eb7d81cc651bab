//! Migrating a format-1 file to format 2 when it is opened (issue 16).
//!
//! Only the values of `deliveries`, `events` and `attempts` change (JSON →
//! the tagged postcard, or compressed JSON, of `store::codec`); no key is added, removed or renamed, so no
//! delivery can be lost or duplicated by it. The work goes in commits of
//! [`BATCH`] records, each also storing where it stopped, so a migration
//! killed half-way resumes there; and since reads take both encodings, a
//! half-migrated file is a good file. The format number becomes 2 in the
//! commit that ends the migration.

use std::ops::Bound;

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

use super::codec::{
    decode_attempt, decode_delivery, decode_event, encode_attempt, encode_delivery, encode_event,
    is_format1,
};
use super::{
    StoreError, ATTEMPTS, DEDUP, DEDUP_TIMES, DEDUP_TIMES_V1, DEDUP_V1, DELIVERIES, EVENTS,
    FORMAT_VERSION, FORMAT_VERSION_KEY, META,
};

/// Records rewritten per commit: small enough that a commit takes tens of
/// milliseconds, large enough that fsyncs do not dominate.
pub const BATCH: usize = 5_000;

/// Where the migration stopped: table name → last key done (attempts as
/// `delivery id \u{1f} n`).
const CURSOR: TableDefinition<&str, &str> = TableDefinition::new("migration_cursor");

/// How far a migration is, told after every commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub table: &'static str,
    /// Records of the table looked at so far (rewritten or already format 2).
    pub done: u64,
    pub total: u64,
}

/// The file's format number (1 for a file that predates the key).
pub fn format_of(db: &Database) -> Result<u64, StoreError> {
    let txn = db.begin_read()?;
    let meta = match txn.open_table(META) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(1),
        Err(e) => return Err(e.into()),
    };
    Ok(meta.get(FORMAT_VERSION_KEY)?.map_or(1, |v| v.value()))
}

/// Migrates `db` to [`FORMAT_VERSION`] if it is older; returns how many
/// records were rewritten.
pub fn migrate(db: &Database, on_progress: &mut dyn FnMut(Progress)) -> Result<u64, StoreError> {
    if format_of(db)? >= FORMAT_VERSION {
        return Ok(0);
    }
    let mut rewritten = 0;
    let delivery = |id: &str, old: &[u8]| encode_delivery(&decode_delivery(id, old)?);
    rewritten += migrate_by_id(db, DELIVERIES, "deliveries", &delivery, on_progress)?;
    let event = |_: &str, old: &[u8]| encode_event(&decode_event(old)?);
    rewritten += migrate_by_id(db, EVENTS, "events", &event, on_progress)?;
    rewritten += migrate_attempts(db, on_progress)?;
    rewritten += migrate_dedup(db, on_progress)?;
    let txn = super::begin_write(db)?;
    {
        txn.open_table(META)?
            .insert(FORMAT_VERSION_KEY, FORMAT_VERSION)?;
        let mut cursor = txn.open_table(CURSOR)?;
        for table in ["deliveries", "events", "attempts"] {
            cursor.remove(table)?;
        }
    }
    txn.commit()?;
    Ok(rewritten)
}

fn cursor_of(txn: &redb::WriteTransaction, table: &str) -> Result<Option<String>, StoreError> {
    Ok(txn
        .open_table(CURSOR)?
        .get(table)?
        .map(|v| v.value().to_string()))
}

/// A table keyed by id whose values change encoding.
type ById = TableDefinition<'static, &'static str, &'static [u8]>;
/// Re-encodes one value, given its id and its format-1 bytes.
type Convert<'a> = &'a dyn Fn(&str, &[u8]) -> Result<Vec<u8>, StoreError>;

/// Rewrites every format-1 value of `table` with `convert(id, old)`.
fn migrate_by_id(
    db: &Database,
    table_def: ById,
    name: &'static str,
    convert: Convert<'_>,
    on_progress: &mut dyn FnMut(Progress),
) -> Result<u64, StoreError> {
    let (mut rewritten, mut done) = (0, 0u64);
    loop {
        let txn = super::begin_write(db)?;
        let after = cursor_of(&txn, name)?;
        let (batch, last, total, scanned) = {
            let table = txn.open_table(table_def)?;
            let total = table.len()?;
            let lower = after.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
            let (mut batch, mut last, mut scanned) = (Vec::new(), None, 0u64);
            for row in table.range::<&str>((lower, Bound::Unbounded))?.take(BATCH) {
                scanned += 1;
                let (key, value) = row?;
                let id = key.value().to_string();
                if is_format1(value.value()) {
                    batch.push((id.clone(), convert(&id, value.value())?));
                }
                last = Some(id);
            }
            (batch, last, total, scanned)
        };
        let Some(last) = last else {
            txn.commit()?;
            return Ok(rewritten);
        };
        {
            let mut table = txn.open_table(table_def)?;
            for (id, bytes) in &batch {
                table.insert(id.as_str(), bytes.as_slice())?;
            }
            txn.open_table(CURSOR)?.insert(name, last.as_str())?;
        }
        txn.commit()?;
        rewritten += batch.len() as u64;
        done = (done + scanned).min(total);
        on_progress(Progress {
            table: name,
            done,
            total,
        });
    }
}

/// Format 1's text dedup keys become hashed keys (`events::dedup_key`),
/// moved [`BATCH`] at a time: each commit removes what it moved, so a
/// stopped migration resumes with what is left. The old tables go at the end.
fn migrate_dedup(db: &Database, on_progress: &mut dyn FnMut(Progress)) -> Result<u64, StoreError> {
    let mut moved = 0;
    loop {
        let txn = super::begin_write(db)?;
        let batch: Vec<(String, u64)> = match txn.open_table(DEDUP_V1) {
            Ok(old) => old
                .iter()?
                .take(BATCH)
                .map(|row| row.map(|(k, v)| (k.value().to_string(), v.value())))
                .collect::<Result<_, _>>()?,
            Err(redb::TableError::TableDoesNotExist(_)) => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        if batch.is_empty() {
            txn.delete_table(DEDUP_V1)?;
            txn.delete_table(DEDUP_TIMES_V1)?;
            txn.commit()?;
            return Ok(moved);
        }
        {
            let mut old = txn.open_table(DEDUP_V1)?;
            let mut dedup = txn.open_table(DEDUP)?;
            let mut times = txn.open_table(DEDUP_TIMES)?;
            for (text, fired) in &batch {
                let key = super::events::dedup_key_of(text);
                dedup.insert(key.as_slice(), *fired)?;
                times.insert((*fired, key.as_slice()), ())?;
                old.remove(text.as_str())?;
            }
        }
        txn.commit()?;
        moved += batch.len() as u64;
        on_progress(Progress {
            table: "dedup",
            done: moved,
            total: moved,
        });
    }
}

fn migrate_attempts(
    db: &Database,
    on_progress: &mut dyn FnMut(Progress),
) -> Result<u64, StoreError> {
    let mut rewritten = 0;
    let mut done = 0u64;
    loop {
        let txn = super::begin_write(db)?;
        let after = cursor_of(&txn, "attempts")?.and_then(|c| {
            let (id, n) = c.split_once('\u{1f}')?;
            Some((id.to_string(), n.parse::<u32>().ok()?))
        });
        let (batch, last, total) = {
            let table = txn.open_table(ATTEMPTS)?;
            let total = table.len()?;
            let lower = match &after {
                Some((id, n)) => Bound::Excluded((id.as_str(), *n)),
                None => Bound::Unbounded,
            };
            let mut batch = Vec::new();
            let mut last = None;
            for row in table
                .range::<(&str, u32)>((lower, Bound::Unbounded))?
                .take(BATCH)
            {
                let (key, value) = row?;
                let (id, n) = key.value();
                if is_format1(value.value()) {
                    let attempt = decode_attempt(value.value())?;
                    batch.push((id.to_string(), n, encode_attempt(&attempt)?));
                }
                last = Some((id.to_string(), n));
            }
            (batch, last, total)
        };
        let Some((last_id, last_n)) = last else {
            txn.commit()?;
            return Ok(rewritten);
        };
        {
            let mut table = txn.open_table(ATTEMPTS)?;
            for (id, n, bytes) in &batch {
                table.insert((id.as_str(), *n), bytes.as_slice())?;
            }
            let cursor = format!("{last_id}\u{1f}{last_n}");
            txn.open_table(CURSOR)?
                .insert("attempts", cursor.as_str())?;
        }
        txn.commit()?;
        rewritten += batch.len() as u64;
        done = (done + BATCH as u64).min(total);
        on_progress(Progress {
            table: "attempts",
            done,
            total,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        format_millis, Attempt, AttemptSummary, ContentType, Delivery, DeliveryStatus,
    };

    const N: usize = 12_000; // more than two batches

    fn delivery(i: usize) -> Delivery {
        Delivery {
            id: format!("dl_{i:08}"),
            event_id: format!("ev-{i}"),
            webhook_id: "wh_1".into(),
            schema_id: "sc_1".into(),
            ticket_id: Some(format!("{}", i % 7)),
            status: if i.is_multiple_of(3) {
                DeliveryStatus::Pending
            } else {
                DeliveryStatus::Failed
            },
            attempt_count: 1,
            retry_base: 0,
            next_attempt_ms: i.is_multiple_of(3).then_some(1_700_000_000_000),
            created_at: format_millis(1_700_000_000_000 + i as u64),
            triggered_at: format_millis(1_700_000_000_000 + i as u64),
            content_type: ContentType::Json,
            last_attempt: None,
            error: None,
            in_line: false,
            line_seq: None,
        }
    }

    fn attempt(i: usize) -> Attempt {
        Attempt {
            summary: AttemptSummary {
                n: 1,
                started_at: format_millis(1_700_000_000_500 + i as u64),
                duration_ms: 4,
                status_code: Some(500),
                error: None,
            },
            response_body: format!("no {i}"),
            probe: false,
        }
    }

    /// A format-1 file of `N` deliveries with one attempt each.
    fn format1_file(path: &std::path::Path) {
        let db = Database::create(path).expect("create");
        super::super::init_tables(&db, path).expect("tables");
        let txn = db.begin_write().expect("txn");
        {
            txn.open_table(META)
                .expect("meta")
                .insert(FORMAT_VERSION_KEY, 1)
                .expect("v1");
            let mut deliveries = txn.open_table(DELIVERIES).expect("deliveries");
            let mut attempts = txn.open_table(ATTEMPTS).expect("attempts");
            for i in 0..N {
                let d = delivery(i);
                let json = serde_json::to_vec(&d).expect("json");
                deliveries
                    .insert(d.id.as_str(), json.as_slice())
                    .expect("insert");
                let a = serde_json::to_vec(&attempt(i)).expect("json");
                attempts
                    .insert((d.id.as_str(), 1), a.as_slice())
                    .expect("insert");
            }
            let mut dedup = txn.open_table(DEDUP_V1).expect("dedup v1");
            let mut times = txn.open_table(DEDUP_TIMES_V1).expect("times v1");
            for t in 0..3u64 {
                let text = format!("wh_1\u{1f}sc_1\u{1f}{t}");
                dedup.insert(text.as_str(), 1_000 + t).expect("insert");
                times
                    .insert((1_000 + t, text.as_str()), ())
                    .expect("insert");
            }
        }
        txn.commit().expect("commit");
    }

    /// A migration stopped right after its first commit (as by `kill -9`)
    /// resumes where it stopped; nothing is lost, duplicated or changed.
    #[test]
    fn an_interrupted_migration_resumes_and_keeps_every_record() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("h.redb");
        format1_file(&path);
        {
            let db = Database::create(&path).expect("open");
            let stopped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                migrate(&db, &mut |_| panic!("killed after the first commit"))
            }));
            assert!(stopped.is_err());
            assert_eq!(format_of(&db).expect("format"), 1, "not done yet");
        }
        let db = Database::create(&path).expect("reopen");
        let mut seen = Vec::new();
        let rewritten = migrate(&db, &mut |p| seen.push(p)).expect("migrate");
        assert_eq!(
            rewritten as usize,
            2 * N - BATCH + 3,
            "the first batch was kept"
        );
        assert!(seen
            .iter()
            .any(|p| p.table == "attempts" && p.done == p.total));
        assert_eq!(format_of(&db).expect("format"), FORMAT_VERSION);
        let txn = db.begin_read().expect("read");
        let deliveries = txn.open_table(DELIVERIES).expect("deliveries");
        let attempts = txn.open_table(ATTEMPTS).expect("attempts");
        assert_eq!(deliveries.len().expect("len") as usize, N);
        assert_eq!(attempts.len().expect("len") as usize, N);
        for i in (0..N).step_by(997) {
            let d = delivery(i);
            let bytes = deliveries.get(d.id.as_str()).expect("get").expect("kept");
            assert!(!is_format1(bytes.value()), "{i} rewritten");
            assert_eq!(decode_delivery(&d.id, bytes.value()).expect("decode"), d);
            let a = attempts
                .get((d.id.as_str(), 1))
                .expect("get")
                .expect("kept");
            assert_eq!(decode_attempt(a.value()).expect("decode"), attempt(i));
        }
        // The dedup keys are hashed, with their times; the old tables went.
        let dedup = txn.open_table(DEDUP).expect("dedup");
        let key = super::super::events::dedup_key("wh_1", "sc_1", "2");
        assert_eq!(
            dedup.get(key.as_slice()).expect("get").map(|v| v.value()),
            Some(1_002)
        );
        assert_eq!(
            txn.open_table(DEDUP_TIMES)
                .expect("times")
                .len()
                .expect("len"),
            3
        );
        assert!(
            txn.open_table(DEDUP_V1).is_err(),
            "format 1's table is gone"
        );
        drop((dedup, deliveries, attempts, txn));
        // A second open finds nothing to do.
        assert_eq!(migrate(&db, &mut |_| {}).expect("again"), 0);
    }
}
