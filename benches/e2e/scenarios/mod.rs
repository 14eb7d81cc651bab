//! The scenarios, as methods of [`Bench`]: a (receiver capacity) here,
//! b and c in `ingest`, d in `latency`, e and f in `fanout`, g in `storm`,
//! h in `outage`, k in `cluster`, l in `levels`, o in `ordered`, r in `realistic`, s in
//! `scale`, w in `grown`.

mod cluster;
mod fanout;
mod grown;
mod ingest;
mod latency;
mod levels;
mod ordered;
mod outage;
mod realistic;
mod scale;
mod storm;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use serde_json::json;

use crate::cpu::{cpu_note, CpuMeter};
use crate::receiver::{Receiver, MODE_OK};
use crate::report::{per_sec, round3, Report};
use crate::sizes::{Sizes, CONCURRENCY};

/// What every scenario needs: the sizes, the receiver and its URLs, the
/// load generator's client, the clock tick rate and the report.
pub struct Bench {
    pub sizes: Sizes,
    pub rx: Arc<Receiver>,
    pub urls: Vec<String>,
    pub client: reqwest::Client,
    pub hz: f64,
    pub report: Report,
    pub capacity: Option<f64>,
}

/// A fresh directory for one daemon's config and data file.
pub(super) fn tempdir() -> Result<tempfile::TempDir, String> {
    tempfile::Builder::new()
        .prefix("hookline-bench-")
        .tempdir()
        .map_err(|e| e.to_string())
}

/// The size of the data file in `dir`.
pub(super) fn file_size(dir: &Path) -> u64 {
    std::fs::metadata(dir.join("hookline.redb")).map_or(0, |m| m.len())
}

impl Bench {
    /// A daemon on a fresh data file with the bench's default config, ready,
    /// with one rule sending every event to each of the first `webhooks`
    /// receiver ports (`settings` applied to every webhook).
    pub(super) async fn fresh_daemon(
        &self,
        webhooks: usize,
        settings: serde_json::Value,
    ) -> Result<(tempfile::TempDir, crate::common::Daemon), String> {
        let dir = tempdir()?;
        let text = crate::daemon::config_text(dir.path());
        let daemon = self
            .fresh_daemon_in(dir.path(), &text, webhooks, settings)
            .await?;
        Ok((dir, daemon))
    }

    /// The same with the config `text`, on the data file in `dir`.
    pub(super) async fn fresh_daemon_in(
        &self,
        dir: &Path,
        text: &str,
        webhooks: usize,
        settings: serde_json::Value,
    ) -> Result<crate::common::Daemon, String> {
        let daemon = crate::daemon::start_daemon_with(dir, text)?;
        crate::daemon::wait_ready(&daemon, &self.client).await?;
        crate::daemon::setup_routes(&self.client, &daemon.base, &self.urls[..webhooks], settings)
            .await?;
        Ok(daemon)
    }

    /// a. The receiver alone, posted to by this process's client.
    pub async fn scenario_capacity(&mut self) -> Result<(), String> {
        let n = self.sizes.receiver_requests;
        self.rx.reset(MODE_OK);
        let cpu = CpuMeter::start(None, self.hz);
        let next = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..CONCURRENCY {
            let (client, url, next) = (self.client.clone(), self.urls[0].clone(), next.clone());
            tasks.spawn(async move {
                let mut errors = 0usize;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    let r = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .header("webhook-id", format!("cap_{i}"))
                        .body(format!(r#"{{"ref": "T-{i}", "n": {i}}}"#))
                        .send()
                        .await;
                    match r {
                        Ok(r) if r.status() == 200 => {
                            let _ = r.bytes().await;
                        }
                        _ => errors += 1,
                    }
                }
                errors
            });
        }
        let mut errors = 0;
        while let Some(e) = tasks.join_next().await {
            errors += e.unwrap_or(1);
        }
        let elapsed = started.elapsed();
        let cpu = cpu.finish(None);
        let rate = per_sec(n - errors.min(n), elapsed);
        self.capacity = rate;
        self.report.add(
            "a. receiver capacity",
            "requests/s (reqwest, concurrency 64, 1 connection pool)",
            rate,
            "req/s",
        );
        self.report.note("a. receiver capacity", cpu_note(&cpu));
        self.report.detail(
            "a_receiver_capacity",
            json!({"requests": n, "errors": errors, "elapsed_s": round3(elapsed.as_secs_f64()),
                   "requests_per_s": rate, "cpu": cpu}),
        );
        Ok(())
    }
}
