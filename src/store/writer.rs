//! The single writer: one thread that owns every write transaction.
//!
//! Callers queue jobs; the thread takes every job waiting at that moment,
//! applies them all in one write transaction and commits once with
//! `Durability::Immediate` (group commit). Only then does each caller get its
//! answer, so an acknowledgement always means "on disk". A commit costs one
//! fsync whatever the batch size, which is how throughput scales with load
//! while a lone request waits at most one commit cycle.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;

use redb::{Database, WriteTransaction};

use super::DbSlot;
use tokio::sync::oneshot;

use super::StoreError;

/// Most jobs in one transaction: bounds the work lost to one failed commit and
/// the time the first job of a batch waits for the last.
const MAX_BATCH: usize = 4096;

/// A queued write. It is called once: with the batch's transaction, or with
/// `None` when no transaction could be started. It returns whether it hit a
/// storage failure (which aborts the whole batch) and how to answer the caller
/// once the batch's fate is known.
type Job = Box<dyn FnOnce(Option<&WriteTransaction>) -> Applied + Send>;

struct Applied {
    storage_failed: bool,
    finish: Box<dyn FnOnce(Result<(), StoreError>) + Send>,
}

/// Cloneable handle that queues jobs for the writer thread.
#[derive(Clone)]
pub(super) struct WriterHandle {
    jobs: mpsc::Sender<Message>,
    stats: Arc<WriterStats>,
}

/// Counters of the writer, read by metrics and tests.
#[derive(Debug, Default)]
pub struct WriterStats {
    /// Transactions committed.
    pub commits: AtomicU64,
    /// Jobs in those transactions.
    pub jobs: AtomicU64,
    /// Batches whose commit failed.
    pub failures: AtomicU64,
    /// Total time spent committing, in microseconds.
    pub commit_micros: AtomicU64,
}

enum Message {
    Job(Job),
    /// Answered as soon as the thread reads it: proof that it is not stuck.
    Ping(oneshot::Sender<()>),
    /// Finish the jobs queued before this one, then stop.
    Stop,
}

/// Owns the writer thread; [`WriterHandle::stop`] then [`Writer::join`]
/// stop it after the jobs already queued.
pub(super) struct Writer {
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    pub(super) fn start(db: Arc<DbSlot>) -> std::io::Result<(Writer, WriterHandle)> {
        let (jobs, queue) = mpsc::channel::<Message>();
        let stats = Arc::new(WriterStats::default());
        let thread_stats = stats.clone();
        let thread = std::thread::Builder::new()
            .name("hookline-store-writer".into())
            .spawn(move || run(&db, &queue, &thread_stats))?;
        Ok((
            Writer {
                thread: Some(thread),
            },
            WriterHandle { jobs, stats },
        ))
    }

    /// Waits for the writer to finish the jobs already queued.
    pub(super) fn join(&mut self) {
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                tracing::error!("store writer thread panicked");
            }
        }
    }
}

impl WriterHandle {
    /// Runs `apply` inside the next group commit and answers after the commit.
    ///
    /// `apply` must make all of its checks before its first write: a job that
    /// returns a non-storage error shares the transaction with other jobs, so
    /// it must leave nothing behind. A storage error aborts the whole batch.
    pub(super) async fn write<T, F>(&self, apply: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&WriteTransaction) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |txn| {
            let result = match txn {
                Some(txn) => apply(txn),
                None => Err(StoreError::Unavailable("no write transaction".into())),
            };
            Applied {
                storage_failed: result.as_ref().is_err_and(StoreError::is_storage_failure),
                finish: Box::new(move |commit| {
                    let _ = reply.send(result.and_then(|v| commit.map(|()| v)));
                }),
            }
        });
        self.jobs
            .send(Message::Job(job))
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Answers once the writer thread reads the ping, i.e. between two
    /// commits: a thread stuck in a commit (a hung disk) never answers.
    pub(super) async fn ping(&self) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Message::Ping(reply))
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)
    }

    pub(super) fn stats(&self) -> &WriterStats {
        &self.stats
    }

    /// Asks the writer to stop once the jobs queued so far are committed.
    pub(super) fn stop(&self) {
        let _ = self.jobs.send(Message::Stop);
    }
}

fn run(slot: &DbSlot, queue: &mpsc::Receiver<Message>, stats: &WriterStats) {
    let mut stopping = false;
    let mut needs_reopen = false;
    while !stopping {
        let Ok(first) = queue.recv() else { return };
        let mut batch = Vec::new();
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Job(job) => batch.push(job),
                Message::Ping(reply) => {
                    let _ = reply.send(());
                }
                Message::Stop => {
                    stopping = true;
                    break;
                }
            }
            if batch.len() < MAX_BATCH {
                next = queue.try_recv().ok();
            }
        }
        if batch.is_empty() {
            continue;
        }
        if needs_reopen {
            match slot.reopen() {
                Ok(()) => needs_reopen = false,
                Err(e) => tracing::warn!(error = %e, "store: data file not reopened yet"),
            }
        }
        let committed = match slot.get() {
            Ok(db) => commit_batch(&db, batch, stats),
            Err(e) => {
                fail_batch(batch, &e);
                false
            }
        };
        // After a failed commit redb refuses writes until the file is opened
        // again: reopen before the next batch (throttled by the backoff of
        // whoever retries, at most once per batch).
        needs_reopen = needs_reopen || !committed;
    }
}

fn fail_batch(batch: Vec<Job>, e: &StoreError) {
    for job in batch {
        (job(None).finish)(Err(e.clone()));
    }
}

/// Applies and commits one batch; returns whether it committed.
fn commit_batch(db: &Database, batch: Vec<Job>, stats: &WriterStats) -> bool {
    let started = std::time::Instant::now();
    let size = batch.len();
    let txn = match super::begin_write(db) {
        Ok(txn) => txn,
        Err(e) => {
            tracing::warn!(error = %e, "store: cannot begin a write transaction");
            fail_batch(batch, &e);
            return false;
        }
    };
    let applied: Vec<Applied> = batch.into_iter().map(|job| job(Some(&txn))).collect();
    let outcome = if applied.iter().any(|a| a.storage_failed) {
        let _ = txn.abort();
        Err(StoreError::Unavailable(
            "a write in this batch failed".into(),
        ))
    } else {
        txn.commit().map_err(StoreError::from)
    };
    let elapsed = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    let metrics = crate::metrics::metrics();
    metrics
        .commit_seconds
        .observe(started.elapsed().as_secs_f64());
    metrics.commit_batch_jobs.observe(size as f64);
    if outcome.is_err() {
        metrics.commit_failures.inc();
    }
    stats.commit_micros.fetch_add(elapsed, Ordering::Relaxed);
    if outcome.is_ok() {
        stats.commits.fetch_add(1, Ordering::Relaxed);
        stats.jobs.fetch_add(size as u64, Ordering::Relaxed);
    } else {
        stats.failures.fetch_add(1, Ordering::Relaxed);
    }
    if let Err(e) = &outcome {
        tracing::warn!(error = %e, jobs = size, "store: commit failed; nothing of this batch was stored");
    }
    tracing::trace!(
        jobs = size,
        elapsed_us = started.elapsed().as_micros() as u64,
        "store: committed"
    );
    let committed = outcome.is_ok();
    for a in applied {
        (a.finish)(outcome.clone());
    }
    committed
}
