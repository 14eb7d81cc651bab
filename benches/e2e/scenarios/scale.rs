//! s. Scale: 10,000,000 pending deliveries (issue 16). Not part of the
//! default run or of `--quick` (about 5 minutes and 11 GB of disk); run it
//! with `--only s`.
//!
//! 1,000,000 events in batches of 1,000 (2 concurrent), each to 10 webhooks
//! whose receiver holds every request unanswered, so every delivery stays
//! pending; then peak RSS and file size, ready after a clean stop, and ready
//! after `kill -9` on the full file.

use std::time::Duration;

use serde_json::json;

use super::{file_size, tempdir, Bench};
use crate::daemon::{config_text, metric, start_daemon_with, wait_ready};
use crate::load::ingest;
use crate::receiver::{MODE_HOLD, MODE_OK};
use crate::report::{fmt_num, mb, ms, per_sec};
use crate::sizes::FANOUT_WEBHOOKS;

/// Pending deliveries of the full run.
const SCALE_DELIVERIES: usize = 10_000_000;

impl Bench {
    pub async fn scenario_scale(&mut self) -> Result<(), String> {
        let quick = self.sizes.quick;
        let total = if quick {
            SCALE_DELIVERIES / 50
        } else {
            SCALE_DELIVERIES
        };
        let events = total / FANOUT_WEBHOOKS;
        let dir = tempdir()?;
        let text = config_text(dir.path());
        let daemon = self
            .fresh_daemon_in(dir.path(), &text, FANOUT_WEBHOOKS, json!({"timeout": "5m"}))
            .await?;
        self.rx.reset(MODE_HOLD);
        let load = ingest(&self.client, &daemon.base, events, 1000, 2).await;
        let expected = load.delivery_ids();
        let (hwm, _) = daemon.memory();
        let size = file_size(dir.path());
        let pending = metric(&self.client, &daemon.base, "hookline_deliveries_pending").await;
        let (_, stop) = daemon.stop_timed();

        let daemon = start_daemon_with(dir.path(), &text)?;
        let ready = wait_ready(&daemon, &self.client).await?;
        let clean = ready.saturating_duration_since(daemon.spawned);
        tokio::time::sleep(Duration::from_secs(5)).await;
        let (hwm_restart, _) = daemon.memory();
        drop(daemon); // kill -9
        let daemon = start_daemon_with(dir.path(), &text)?;
        let ready = wait_ready(&daemon, &self.client).await?;
        let killed = ready.saturating_duration_since(daemon.spawned);
        let pending_after = metric(&self.client, &daemon.base, "hookline_deliveries_pending").await;
        let _ = daemon.stop_timed();
        self.rx.reset(MODE_OK);

        let s = "s. scale";
        self.report.note(
            s,
            format!(
                "{} pending acked = {events} events x 10 webhooks (batches of 1,000, {} request errors; pending gauge {}, after kill -9 {}), receiver holding requests; SIGTERM took {:.1} s",
                fmt_num(expected as f64),
                load.errors,
                pending.map_or("n/a".into(), fmt_num),
                pending_after.map_or("n/a".into(), fmt_num),
                stop.as_secs_f64()
            ),
        );
        let rate = per_sec(expected, load.elapsed);
        self.report
            .add(s, "deliveries created/s (building)", rate, "dl/s");
        self.report.target(
            s,
            "daemon peak RSS (VmHWM) while building",
            Some(mb(hwm)),
            "MB",
            250.0,
            false,
        );
        self.report.add(
            s,
            "daemon peak RSS 5 s after a restart",
            Some(mb(hwm_restart)),
            "MB",
        );
        self.report.add(s, "data file size", Some(mb(size)), "MB");
        self.report.add(
            s,
            "data file bytes per pending delivery",
            (expected > 0).then(|| size as f64 / expected as f64),
            "B",
        );
        self.report.target(
            s,
            "ready after a clean stop",
            Some(ms(clean)),
            "ms",
            2000.0,
            false,
        );
        self.report.target(
            s,
            "ready after kill -9",
            Some(ms(killed)),
            "ms",
            2000.0,
            false,
        );
        self.report.detail(
            "s_scale",
            json!({"events": events, "deliveries_pending": expected, "request_errors": load.errors,
                   "first_error": load.first_error, "build_s": load.elapsed.as_secs_f64(),
                   "deliveries_created_per_s": rate, "vm_hwm_bytes": hwm,
                   "vm_hwm_after_restart_bytes": hwm_restart, "data_file_bytes": size,
                   "pending_gauge": pending, "pending_gauge_after_kill_9": pending_after,
                   "stop_s": stop.as_secs_f64(), "ready_after_clean_stop_ms": ms(clean),
                   "ready_after_kill_9_ms": ms(killed)}),
        );
        Ok(())
    }
}
