//! w. Throughput on a grown file against a fresh one (issue 16). Not in the
//! default run (about 3 minutes, 2 GB of disk); run it with `--only w`.
//!
//! One webhook whose receiver holds every request unanswered, so nothing
//! the daemon does besides ingestion changes between the runs: single events
//! at concurrency 64, acknowledged/s, on a fresh file; then the file is grown
//! to about 2 GB with pending deliveries (batches of 1,000) and the same
//! single-event run repeated; then a second fresh daemon runs it again, so
//! the grown run is compared with the mean of two fresh ones.

use serde_json::json;

use super::{file_size, Bench};
use crate::cpu::{cpu_note, CpuMeter};
use crate::load::ingest;
use crate::receiver::{MODE_HOLD, MODE_OK};
use crate::report::{fmt_num, mb, per_sec};
use crate::sizes::CONCURRENCY;

/// The file size the backlog grows the file to (full run).
const GROWN_BYTES: u64 = 2_000_000_000;

impl Bench {
    pub async fn scenario_grown(&mut self) -> Result<(), String> {
        let quick = self.sizes.quick;
        let n = self.sizes.ingest_events / 2;
        let target = if quick { GROWN_BYTES / 50 } else { GROWN_BYTES };
        let s = "w. grown file";
        self.rx.reset(MODE_HOLD);

        let fresh1 = self.single_rate(None, n, s, "fresh file (first)").await?;
        let grown = self.single_rate(Some(target), n, s, "grown file").await?;
        let fresh2 = self.single_rate(None, n, s, "fresh file (second)").await?;
        self.rx.reset(MODE_OK);
        let fresh = match (fresh1, fresh2) {
            (Some(a), Some(b)) => Some((a + b) / 2.0),
            (a, b) => a.or(b),
        };
        let change = fresh.zip(grown).map(|(f, g)| (g / f - 1.0) * 100.0);
        self.report.target(
            s,
            "grown against fresh (mean of two)",
            change,
            "%",
            -5.0,
            true,
        );
        Ok(())
    }

    /// One daemon: optionally grows its file to `grow_to` bytes, then
    /// measures single events acknowledged/s.
    async fn single_rate(
        &mut self,
        grow_to: Option<u64>,
        n: usize,
        s: &'static str,
        label: &str,
    ) -> Result<Option<f64>, String> {
        let (dir, daemon) = self.fresh_daemon(1, json!({"timeout": "5m"})).await?;
        let mut grown_events = 0;
        if let Some(target) = grow_to {
            // Bounded: at most 100 rounds of 50,000 events.
            for _ in 0..100 {
                if file_size(dir.path()) >= target {
                    break;
                }
                let load = ingest(&self.client, &daemon.base, 50_000, 1000, 2).await;
                grown_events += load.delivery_ids();
                if load.errors > 0 {
                    return Err(format!("growing the file: {:?}", load.first_error));
                }
            }
        }
        let size = file_size(dir.path());
        let cpu = CpuMeter::start(Some(daemon.pid), self.hz);
        let load = ingest(&self.client, &daemon.base, n, 1, CONCURRENCY).await;
        let cpu = cpu.finish(Some(daemon.pid));
        let rate = per_sec(load.acks.len(), load.elapsed);
        let _ = daemon.stop_timed();
        self.report.add(
            s,
            &format!("{label}: single events acknowledged/s"),
            rate,
            "ev/s",
        );
        self.report.note(
            s,
            format!(
                "{label}: file {:.0} MB ({} pending before the run), {} events, {} errors; {}",
                mb(size),
                fmt_num(grown_events as f64),
                load.acks.len(),
                load.errors,
                cpu_note(&cpu)
            ),
        );
        Ok(rate)
    }
}
