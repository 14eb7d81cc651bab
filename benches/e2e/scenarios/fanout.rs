//! e. Fan-out to 10 webhooks, f. a backlog of pending deliveries across a
//! restart.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::json;

use super::{file_size, tempdir, Bench};
use crate::cpu::{cpu_note, CpuMeter};
use crate::daemon::{
    commit_delta, commit_note, commits, config_text, metric, start_daemon_with, wait_ready,
};
use crate::load::{arrival_cap, ingest, missing_and_unknown, wait_arrivals};
use crate::receiver::{MODE_HOLD, MODE_OK};
use crate::report::{fmt_num, mb, ms, per_sec, round3, span};
use crate::sizes::{ADMIN, BATCH, BATCH_CONCURRENCY, FANOUT_WEBHOOKS, IDLE_GIVE_UP};

impl Bench {
    /// e. Every event to 10 webhooks (10 receiver ports).
    pub async fn scenario_fanout(&mut self) -> Result<(), String> {
        let n = self.sizes.fanout_events;
        let (_dir, daemon) = self.fresh_daemon(FANOUT_WEBHOOKS, json!({})).await?;
        self.rx.reset(MODE_OK);
        let c0 = commits(&self.client, &daemon.base).await;
        let cpu = CpuMeter::start(Some(daemon.pid), self.hz);
        let started = Instant::now();
        let load = ingest(&self.client, &daemon.base, n, BATCH, BATCH_CONCURRENCY).await;
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
        let rate = per_sec(unique, span(first, last));
        let e2e = if all {
            per_sec(unique, span(Some(started), load.last_ack().max(last)))
        } else {
            None
        };
        let ack_rate = per_sec(load.acks.len() * BATCH, load.elapsed);
        let (hwm, _) = daemon.memory();
        let (warns, errors) = daemon.warn_error_lines();
        let (code, _) = daemon.stop_timed();
        let s = "e. fan-out x10";
        self.report.target(
            s,
            "deliveries/s (first→last arrival)",
            rate,
            "dl/s",
            30_000.0,
            true,
        );
        self.report.add(
            s,
            "deliveries/s end to end (first request→last arrival)",
            e2e,
            "dl/s",
        );
        self.report.add(
            s,
            "events/s acknowledged (batches of 100, 8 concurrent)",
            ack_rate,
            "ev/s",
        );
        self.report.note(
            s,
            format!("{unique}/{expected} delivered, {missing} missing, {dups} duplicates, {unknown} unknown; peak RSS {:.0} MB; {}; {}", mb(hwm), cpu_note(&cpu), commit_note(&writer)),
        );
        self.report.detail(
            "e_fanout",
            json!({"events": n, "webhooks": FANOUT_WEBHOOKS, "request_errors": load.errors,
                   "first_error": load.first_error, "events_per_s_acked": ack_rate,
                   "deliveries_expected": expected, "deliveries_unique": unique, "duplicates": dups,
                   "missing": missing, "unknown": unknown, "all_arrived": all,
                   "deliveries_per_s_first_to_last": rate, "deliveries_per_s_end_to_end": e2e,
                   "daemon_vm_hwm_bytes": hwm, "daemon_warn_lines": warns, "daemon_error_lines": errors,
                   "daemon_exit_code": code, "cpu": cpu, "writer": writer}),
        );
        Ok(())
    }

    /// f. Backlog. What happens, exactly:
    /// 1. daemon with 10 webhooks (one per receiver port, webhook `timeout`
    ///    5m), the receiver in HOLD mode: it accepts each request and does
    ///    not answer, so each webhook has 64 requests in flight and every
    ///    other delivery stays pending in the store, due now, with no attempt
    ///    counted (a 503 with Retry-After would count attempts and, after the
    ///    4 of our schedule, fail the deliveries);
    /// 2. backlog_deliveries / 10 events in batches of 1,000 (2 concurrent),
    ///    each to the 10 webhooks; peak RSS (VmHWM) and data file size;
    /// 3. SIGTERM (the held requests are abandoned; their deliveries stay
    ///    pending), receiver switched to 200;
    /// 4. restart on the same data file: spawn → `/readyz` 200, spawn →
    ///    first arrival, and the drain rate of the whole backlog (first →
    ///    last arrival; 10 webhooks × 64 in flight), capped at 6 minutes.
    pub async fn scenario_backlog(&mut self) -> Result<(), String> {
        let total = self.sizes.backlog_deliveries;
        let events = total / FANOUT_WEBHOOKS;
        let dir = tempdir()?;
        // A short retention, so the drained backlog is pruned before it is
        // built again (the file must then reuse the pages it freed).
        let text =
            config_text(dir.path()).replace("[delivery]\n", "[delivery]\nretention = \"1m\"\n");
        let daemon = self
            .fresh_daemon_in(dir.path(), &text, FANOUT_WEBHOOKS, json!({"timeout": "5m"}))
            .await?;
        self.rx.reset(MODE_HOLD);
        let cpu = CpuMeter::start(Some(daemon.pid), self.hz);
        let load = ingest(&self.client, &daemon.base, events, 1000, 2).await;
        let cpu = cpu.finish(Some(daemon.pid));
        let expected = load.delivery_ids();
        let create_rate = per_sec(expected, load.elapsed);
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (hwm, rss) = daemon.memory();
        let size = file_size(dir.path());
        // One sparing look at the pending list: the newest pending delivery.
        let pending_probe = self
            .client
            .get(format!(
                "{}/api/v1/deliveries?status=pending&limit=1",
                daemon.base
            ))
            .bearer_auth(ADMIN)
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0);
        let pending_gauge = metric(&self.client, &daemon.base, "hookline_deliveries_pending").await;
        let held = self.rx.held.load(Ordering::SeqCst);
        let (warns1, errors1) = daemon.warn_error_lines();
        let (code1, stop1) = daemon.stop_timed();
        let size_after_stop = file_size(dir.path());

        // Restart with the receiver answering 200.
        self.rx.reset(MODE_OK);
        let daemon = start_daemon_with(dir.path(), &text)?;
        let spawned = daemon.spawned;
        let ready = wait_ready(&daemon, &self.client).await?;
        let to_ready = ready.saturating_duration_since(spawned);
        let cpu2 = CpuMeter::start(Some(daemon.pid), self.hz);
        let cap = Duration::from_secs(360).min(arrival_cap(expected).max(Duration::from_secs(60)));
        let all = wait_arrivals(&self.rx, expected, cap, IDLE_GIVE_UP).await;
        let cpu2 = cpu2.finish(Some(daemon.pid));
        let (unique, dups, first, last) = self.rx.summary();
        let (missing, unknown) = missing_and_unknown(&self.rx, &load);
        let to_first = first.map(|f| f.saturating_duration_since(spawned));
        let drain = per_sec(unique, span(first, last));
        let (hwm2, _) = daemon.memory();
        let pending_after = metric(&self.client, &daemon.base, "hookline_deliveries_pending").await;
        let (warns2, errors2) = daemon.warn_error_lines();
        let size_drained = file_size(dir.path());
        // kill -9 with the drained file, and the time to ready after it
        // (redb repairs a file that was not closed before it opens it).
        drop(daemon);
        let daemon = start_daemon_with(dir.path(), &text)?;
        let spawned = daemon.spawned;
        let ready = wait_ready(&daemon, &self.client).await?;
        let to_ready_killed = ready.saturating_duration_since(spawned);
        // The same backlog again on the drained file, once retention pruned
        // it: freed pages must be reused, so the file stops growing.
        // The newest delivery of the first build: gone when all of it is.
        let probe = load
            .acks
            .iter()
            .max_by_key(|a| a.acked)
            .and_then(|a| a.ids.last())
            .cloned();
        let pruned = match probe {
            Some(id) => {
                gone_within(&self.client, &daemon.base, &id, Duration::from_secs(120)).await
            }
            None => false,
        };
        self.rx.reset(MODE_HOLD);
        let again = ingest(&self.client, &daemon.base, events, 1000, 2).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let size_rebuilt = file_size(dir.path());
        let (code2, _) = daemon.stop_timed();
        self.rx.reset(MODE_OK);

        let s = "f. backlog";
        self.report.note(
            s,
            format!(
                "{} pending acked = {events} events x 10 webhooks (batches of 1,000; pending gauge {}), receiver holding requests (not answering; {held} held), then SIGTERM (stop took {:.1} s), receiver → 200, restart",
                fmt_num(expected as f64),
                pending_gauge.map_or("n/a".into(), fmt_num),
                stop1.as_secs_f64()
            ),
        );
        self.report.add(
            s,
            "deliveries created/s (while building the backlog)",
            create_rate,
            "dl/s",
        );
        self.report.target(
            s,
            "daemon peak RSS (VmHWM) with the backlog",
            Some(mb(hwm)),
            "MB",
            200.0,
            false,
        );
        self.report
            .add(s, "data file size with the backlog", Some(mb(size)), "MB");
        self.report.target(
            s,
            "restart: spawn → /readyz 200",
            Some(ms(to_ready)),
            "ms",
            2000.0,
            false,
        );
        self.report
            .add(s, "restart: spawn → first delivery", to_first.map(ms), "ms");
        self.report.add(
            s,
            "data file bytes per pending delivery",
            (expected > 0).then(|| size as f64 / expected as f64),
            "B",
        );
        self.report.add(
            s,
            "data file after the drain (every delivery succeeded, one attempt each)",
            Some(mb(size_drained)),
            "MB",
        );
        // The measure: the second build, once retention pruned the
        // drained backlog, must reuse the freed pages.
        self.report.target(
            s,
            "file growth from building the backlog again, against the drained file",
            (size_drained > 0).then(|| (size_rebuilt as f64 / size_drained as f64 - 1.0) * 100.0),
            "%",
            10.0,
            false,
        );
        self.report.add(
            s,
            "file growth of the second build against the first",
            (size > 0).then(|| (size_rebuilt as f64 / size as f64 - 1.0) * 100.0),
            "%",
        );
        self.report.target(
            s,
            "after kill -9 (drained file): spawn → /readyz 200",
            Some(ms(to_ready_killed)),
            "ms",
            2000.0,
            false,
        );
        self.report.add(
            s,
            "drain rate (first→last arrival, 10 webhooks)",
            drain,
            "dl/s",
        );
        self.report
            .add(s, "daemon peak RSS while draining", Some(mb(hwm2)), "MB");
        self.report.note(
            s,
            format!(
                "{unique}/{expected} delivered{}, {missing} missing, {dups} duplicates, {unknown} unknown; drain {}",
                if all { "" } else { " (capped or stalled)" },
                cpu_note(&cpu2)
            ),
        );
        self.report.detail(
            "f_backlog",
            json!({"method": "receiver holds requests unanswered (webhook timeout 5m); SIGTERM; receiver -> 200; restart on the same data file",
                   "events": events, "webhooks": FANOUT_WEBHOOKS, "batch_size": 1000, "batch_concurrency": 2,
                   "request_errors": load.errors, "first_error": load.first_error,
                   "deliveries_pending": expected, "create_elapsed_s": round3(load.elapsed.as_secs_f64()),
                   "deliveries_created_per_s": create_rate, "cpu_while_creating": cpu,
                   "daemon_vm_hwm_bytes": hwm, "daemon_vm_rss_bytes_after": rss,
                   "data_file_bytes": size, "data_file_bytes_after_stop": size_after_stop,
                   "data_file_bytes_after_drain": size_drained,
                   "data_file_bytes_rebuilt": size_rebuilt, "drained_backlog_pruned_before_rebuild": pruned, "rebuild_request_errors": again.errors,
                   "pending_list_probe_status": pending_probe,
                   "pending_gauge_with_backlog": pending_gauge, "pending_gauge_after_drain": pending_after, "requests_held": held,
                   "first_daemon": {"warn_lines": warns1, "error_lines": errors1, "exit_code": code1,
                                    "stop_s": round3(stop1.as_secs_f64())},
                   "restart_to_ready_ms": ms(to_ready), "ready_after_kill_9_ms": ms(to_ready_killed), "restart_to_first_delivery_ms": to_first.map(ms),
                   "drain_cap_s": cap.as_secs(), "all_arrived": all,
                   "deliveries_unique": unique, "duplicates": dups, "missing": missing, "unknown": unknown,
                   "drain_deliveries_per_s": drain, "drain_vm_hwm_bytes": hwm2, "cpu_while_draining": cpu2,
                   "second_daemon": {"warn_lines": warns2, "error_lines": errors2, "exit_code": code2}}),
        );
        Ok(())
    }
}

/// Polls `GET /api/v1/deliveries/{id}` until it is `404` (pruned), for at
/// most `within`.
async fn gone_within(client: &reqwest::Client, base: &str, id: &str, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        let status = client
            .get(format!("{base}/api/v1/deliveries/{id}"))
            .bearer_auth(ADMIN)
            .send()
            .await
            .map(|r| r.status().as_u16());
        if matches!(status, Ok(404)) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    false
}
