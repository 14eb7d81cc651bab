//! g. Retry storm: the receiver answers 500 to every other request.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::json;

use super::{tempdir, Bench};
use crate::cpu::{cpu_note, CpuMeter};
use crate::daemon::{setup_routes, start_daemon, wait_ready};
use crate::load::{arrival_cap, ingest, missing_and_unknown, wait_arrivals};
use crate::receiver::MODE_FAIL_HALF;
use crate::report::{per_sec, span};
use crate::sizes::CONCURRENCY;

impl Bench {
    /// g. Receiver answers 500 to every other request (global alternation).
    pub async fn scenario_storm(&mut self) -> Result<(), String> {
        let n = self.sizes.storm_events;
        let dir = tempdir()?;
        let daemon = start_daemon(dir.path())?;
        wait_ready(&daemon, &self.client).await?;
        setup_routes(&self.client, &daemon.base, &self.urls[..1], json!({})).await?;
        self.rx.reset(MODE_FAIL_HALF);
        let cpu = CpuMeter::start(Some(daemon.pid), self.hz);
        let load = ingest(&self.client, &daemon.base, n, 1, CONCURRENCY).await;
        let expected = load.delivery_ids();
        // Retries are ≤ 500 ms apart: 3 s without a new success ends it.
        let all = wait_arrivals(
            &self.rx,
            expected,
            arrival_cap(expected),
            Duration::from_secs(3),
        )
        .await;
        let cpu = cpu.finish(Some(daemon.pid));
        let (unique, dups, first, last) = self.rx.summary();
        let (missing, unknown) = missing_and_unknown(&self.rx, &load);
        let failed_answers = self.rx.failed.load(Ordering::SeqCst);
        let rate = per_sec(unique, span(first, last));
        let ack_rate = per_sec(load.acks.len(), load.elapsed);
        let (warns, errors) = daemon.warn_error_lines();
        let (code, _) = daemon.stop_timed();
        let s = "g. retry storm";
        self.report.add(
            s,
            "successful deliveries/s (first→last success)",
            rate,
            "dl/s",
        );
        self.report.add(
            s,
            "events/s acknowledged meanwhile (single, concurrency 64)",
            ack_rate,
            "ev/s",
        );
        self.report.note(
            s,
            format!(
                "{unique}/{expected} succeeded, {missing} never succeeded (4 attempts used; ~1/16 expected with strict alternation), {failed_answers} answers 500, {dups} duplicates, {unknown} unknown; {}",
                cpu_note(&cpu)
            ),
        );
        self.report.detail(
            "g_retry_storm",
            json!({"events": n, "request_errors": load.errors, "first_error": load.first_error,
                   "events_per_s_acked": ack_rate, "deliveries_expected": expected,
                   "deliveries_succeeded": unique, "never_succeeded": missing, "answers_500": failed_answers,
                   "duplicates": dups, "unknown": unknown, "all_arrived": all,
                   "successful_deliveries_per_s": rate,
                   "daemon_warn_lines": warns, "daemon_error_lines": errors, "daemon_exit_code": code,
                   "cpu": cpu}),
        );
        Ok(())
    }
}
