//! b. Durable ingestion (single events and batches), c. pure delivery.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::json;

use super::{file_size, tempdir, Bench};
use crate::cpu::{cpu_note, CpuMeter};
use crate::daemon::{
    commit_delta, commit_note, commits, config_text, max_in_flight, setup_routes, start_daemon,
    start_daemon_with, wait_ready,
};
use crate::load::{arrival_cap, ingest, missing_and_unknown, wait_arrivals, TICKETS};
use crate::receiver::{MODE_HOLD, MODE_OK};
use crate::report::{mb, ms, per_sec, round3, span};
use crate::sizes::{BATCH, BATCH_CONCURRENCY, CONCURRENCY, IDLE_GIVE_UP};

impl Bench {
    /// b. Ingestion with one webhook and the receiver answering 200.
    pub async fn scenario_ingest(&mut self, batched: bool) -> Result<(), String> {
        let n = self.sizes.ingest_events;
        let dir = tempdir()?;
        let daemon = start_daemon(dir.path())?;
        wait_ready(&daemon, &self.client).await?;
        setup_routes(&self.client, &daemon.base, &self.urls[..1], json!({})).await?;
        self.rx.reset(MODE_OK);
        let c0 = commits(&self.client, &daemon.base).await;
        let cpu = CpuMeter::start(Some(daemon.pid), self.hz);
        let started = Instant::now();
        let load = if batched {
            ingest(&self.client, &daemon.base, n, BATCH, BATCH_CONCURRENCY).await
        } else {
            ingest(&self.client, &daemon.base, n, 1, CONCURRENCY).await
        };
        let expected = load.delivery_ids();
        let all = wait_arrivals(&self.rx, expected, arrival_cap(expected), IDLE_GIVE_UP).await;
        let cpu = cpu.finish(Some(daemon.pid));
        let writer = commit_delta(
            c0,
            commits(&self.client, &daemon.base).await,
            started.elapsed(),
        );
        let (unique, dups, first, last) = self.rx.summary();
        let (missing, unknown) = missing_and_unknown(&self.rx, &load);
        let events_acked: usize = if batched {
            load.acks.len() * BATCH
        } else {
            load.acks.len()
        }
        .min(n);
        let ack_rate = per_sec(events_acked, load.elapsed);
        let end = load.last_ack().max(last);
        let e2e = if all {
            per_sec(events_acked, span(Some(started), end))
        } else {
            None
        };
        let delivery_rate = per_sec(unique, span(first, last));
        let (hwm, _) = daemon.memory();
        let (warns, errors) = daemon.warn_error_lines();
        let (code, stop_time) = daemon.stop_timed();
        let scenario = if batched {
            "b. ingest batched"
        } else {
            "b. ingest single"
        };
        let how = if batched {
            "batches of 100, 8 concurrent"
        } else {
            "single, concurrency 64"
        };
        if batched {
            self.report.target(
                scenario,
                &format!("events/s acknowledged ({how})"),
                ack_rate,
                "ev/s",
                20_000.0,
                true,
            );
            self.report.add(
                scenario,
                "events/s acknowledged and delivered (end to end)",
                e2e,
                "ev/s",
            );
        } else {
            self.report.target(
                scenario,
                &format!("events/s acknowledged ({how})"),
                ack_rate,
                "ev/s",
                11_000.0,
                true,
            );
            self.report.target(
                scenario,
                "events/s acknowledged and delivered (end to end, 1 webhook)",
                e2e,
                "ev/s",
                11_000.0,
                true,
            );
        }
        self.report.add(
            scenario,
            "deliveries/s while ingesting (first→last arrival)",
            delivery_rate,
            "dl/s",
        );
        self.report.note(
            scenario,
            format!(
                "{} events acked, {} request errors, {unique}/{expected} delivered, {missing} missing, {dups} duplicates, {unknown} unknown; daemon peak RSS {:.0} MB; {}; {}",
                events_acked, load.errors, mb(hwm), cpu_note(&cpu), commit_note(&writer)
            ),
        );
        self.report.detail(
            if batched { "b_ingest_batched" } else { "b_ingest_single" },
            json!({"events": n, "events_acked": events_acked, "request_errors": load.errors,
                   "first_error": load.first_error, "ack_elapsed_s": round3(load.elapsed.as_secs_f64()),
                   "events_per_s_acked": ack_rate, "events_per_s_end_to_end": e2e,
                   "deliveries_expected": expected, "deliveries_unique": unique, "duplicates": dups,
                   "missing": missing, "unknown": unknown, "all_arrived": all,
                   "deliveries_per_s_first_to_last": delivery_rate,
                   "daemon_vm_hwm_bytes": hwm, "data_file_bytes": file_size(dir.path()),
                   "daemon_warn_lines": warns, "daemon_error_lines": errors,
                   "daemon_exit_code": code, "daemon_stop_s": round3(stop_time.as_secs_f64()),
                   "cpu": cpu, "writer": writer}),
        );
        Ok(())
    }

    /// c. Pure delivery: a backlog built while the receiver holds its
    /// requests (64 in flight, the rest in the store), then released.
    pub async fn scenario_delivery(&mut self) -> Result<(), String> {
        let n = self.sizes.drain_events;
        let d = self.drain_held(json!({"timeout": "5m"}), 0).await?;
        let HeldDrain {
            load,
            expected,
            held,
            all,
            unique,
            dups,
            missing,
            unknown,
            ..
        } = &d;
        let s = "c. delivery";
        self.report.add(
            s,
            &format!(
                "deliveries/s, 1 webhook, {} in flight, no ingestion (first→last arrival)",
                max_in_flight()
            ),
            d.rate,
            "dl/s",
        );
        self.report.target(
            s,
            "delivery rate / receiver capacity (a)",
            d.ratio,
            "%",
            50.0,
            true,
        );
        self.report.note(
            s,
            format!("{unique}/{expected} delivered, {missing} missing, {dups} duplicates, {unknown} unknown; {held} requests held before release; {}; {}", cpu_note(&d.cpu), commit_note(&d.writer)),
        );
        self.report.detail(
            "c_delivery",
            json!({"events": n, "request_errors": load.errors, "first_error": load.first_error,
                   "deliveries_expected": expected, "deliveries_unique": unique, "duplicates": dups,
                   "missing": missing, "unknown": unknown, "all_arrived": all, "held_before_release": held,
                   "release_to_first_arrival_ms": d.first.map(|f| ms(f.saturating_duration_since(d.released))),
                   "deliveries_per_s_first_to_last": d.rate, "percent_of_receiver_capacity": d.ratio,
                   "daemon_warn_lines": d.warns, "daemon_error_lines": d.errors, "daemon_exit_code": d.code,
                   "cpu": d.cpu, "writer": d.writer}),
        );
        Ok(())
    }

    /// The drain of c and o: `drain_events` deliveries to one webhook (with
    /// `extra` members) built while the receiver holds its requests, then
    /// released and measured. `tickets` > 0 spreads the events over that
    /// many tickets (and turns dedup off, so repeats are not suppressed).
    pub(super) async fn drain_held(
        &mut self,
        extra: serde_json::Value,
        tickets: u64,
    ) -> Result<HeldDrain, String> {
        let n = self.sizes.drain_events;
        let dir = tempdir()?;
        let mut text = config_text(dir.path());
        if tickets > 0 {
            text = text.replace("dedup_window = \"1s\"", "dedup_window = \"0s\"");
        }
        let daemon = start_daemon_with(dir.path(), &text)?;
        wait_ready(&daemon, &self.client).await?;
        setup_routes(&self.client, &daemon.base, &self.urls[..1], extra).await?;
        self.rx.reset(MODE_HOLD);
        TICKETS.store(tickets, Ordering::SeqCst);
        let load = ingest(&self.client, &daemon.base, n, BATCH, BATCH_CONCURRENCY).await;
        TICKETS.store(0, Ordering::SeqCst);
        let expected = load.delivery_ids();
        // Let the queue fill its in-flight slots, then release: the held
        // requests are answered 503 (unrecorded) and retried 100 ms later.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let held = self.rx.held.load(Ordering::SeqCst);
        let c0 = commits(&self.client, &daemon.base).await;
        let meter = CpuMeter::start(Some(daemon.pid), self.hz);
        let released = Instant::now();
        self.rx.mode.store(MODE_OK, Ordering::SeqCst);
        let all = wait_arrivals(&self.rx, expected, arrival_cap(expected), IDLE_GIVE_UP).await;
        let cpu = meter.finish(Some(daemon.pid));
        let took = released.elapsed();
        let writer = commit_delta(c0, commits(&self.client, &daemon.base).await, took);
        let (unique, dups, first, last) = self.rx.summary();
        let (missing, unknown) = missing_and_unknown(&self.rx, &load);
        let rate = per_sec(unique, span(first, last));
        let ratio = rate.zip(self.capacity).map(|(r, c)| r / c * 100.0);
        let (warns, errors) = daemon.warn_error_lines();
        let (code, _) = daemon.stop_timed();
        Ok(HeldDrain {
            load,
            expected,
            held,
            all,
            unique,
            dups,
            missing,
            unknown,
            first,
            released,
            took,
            rate,
            ratio,
            cpu,
            writer,
            warns,
            errors,
            code,
        })
    }
}

/// What [`Bench::drain_held`] measured.
pub(super) struct HeldDrain {
    pub load: crate::load::Load,
    pub expected: usize,
    pub held: u64,
    pub all: bool,
    pub unique: usize,
    pub dups: u64,
    pub missing: usize,
    pub unknown: usize,
    pub first: Option<Instant>,
    pub released: Instant,
    pub took: Duration,
    pub rate: Option<f64>,
    pub ratio: Option<f64>,
    pub cpu: serde_json::Value,
    pub writer: serde_json::Value,
    pub warns: u64,
    pub errors: u64,
    pub code: Option<i32>,
}
