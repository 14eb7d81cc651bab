//! l. Accept → arrival at 50 % and 90 % of hookline's own maximum (issue 16):
//! single requests, to one webhook and fanned out to ten.
//!
//! For each fan-out, one fresh daemon: first its maximum, single events at
//! concurrency 64 (closed loop), acknowledged *and* delivered (events over
//! first request → last ack or arrival, whichever is later); then open-loop
//! runs paced at 50 % and 90 % of that rate, about 10 s each, with ack →
//! arrival percentiles. The load generator shares the 2 cores, as in b.

use std::time::Instant;

use serde_json::json;

use super::latency::latencies;
use super::Bench;
use crate::cpu::{cpu_note, CpuMeter};
use crate::daemon::{commit_delta, commit_note, commits};
use crate::load::{arrival_cap, ingest, ingest_paced, missing_and_unknown, wait_arrivals};
use crate::receiver::MODE_OK;
use crate::report::{fmt_num, ms, percentile, round3};
use crate::sizes::{CONCURRENCY, FANOUT_WEBHOOKS, IDLE_GIVE_UP};

/// The shares of the maximum the paced runs go at.
const LEVELS: [f64; 2] = [0.5, 0.9];
/// How long each paced run lasts (full size; `--quick` runs 1/50 of it).
const LEVEL_SECONDS: f64 = 10.0;

impl Bench {
    pub async fn scenario_levels(&mut self) -> Result<(), String> {
        let quick = self.sizes.quick;
        for webhooks in [1, FANOUT_WEBHOOKS] {
            let (s, goal) = if webhooks == 1 {
                ("l. levels, one webhook", 25.0)
            } else {
                ("l. levels, fan-out 10", 50.0)
            };
            let (_dir, daemon) = self.fresh_daemon(webhooks, json!({})).await?;

            // The maximum: closed loop, acknowledged and delivered.
            self.rx.reset(MODE_OK);
            let n = self.sizes.latency_events;
            let started = Instant::now();
            let load = ingest(&self.client, &daemon.base, n, 1, CONCURRENCY).await;
            let expected = load.delivery_ids();
            wait_arrivals(&self.rx, expected, arrival_cap(expected), IDLE_GIVE_UP).await;
            let (_, _, _, last_arrival) = self.rx.summary();
            let end = [load.last_ack(), last_arrival]
                .into_iter()
                .flatten()
                .max()
                .unwrap_or(started);
            let max = load.acks.len() as f64 / end.duration_since(started).as_secs_f64().max(1e-3);
            self.report.add(
                s,
                "own maximum: single events acknowledged and delivered",
                Some(max),
                "ev/s",
            );
            let mut details = Vec::new();
            for share in LEVELS {
                self.rx.reset(MODE_OK);
                let rate = ((max * share) as u64).max(1);
                let seconds = if quick {
                    LEVEL_SECONDS / 50.0
                } else {
                    LEVEL_SECONDS
                };
                let events = ((rate as f64 * seconds) as usize).max(10);
                let c0 = commits(&self.client, &daemon.base).await;
                let level_started = Instant::now();
                let cpu = CpuMeter::start(Some(daemon.pid), self.hz);
                let load = ingest_paced(&self.client, &daemon.base, events, rate).await;
                let expected = load.delivery_ids();
                let all =
                    wait_arrivals(&self.rx, expected, arrival_cap(expected), IDLE_GIVE_UP).await;
                let cpu = cpu.finish(Some(daemon.pid));
                let writer = commit_delta(
                    c0,
                    commits(&self.client, &daemon.base).await,
                    level_started.elapsed(),
                );
                let (unique, dups, _, _) = self.rx.summary();
                let (missing, _) = missing_and_unknown(&self.rx, &load);
                let l = latencies(&self.rx, &load);
                let p = |q: f64| percentile(&l.lat, q).map(ms);
                let pct = (share * 100.0).round();
                self.report
                    .add(s, &format!("{pct} %: ack→arrival p50"), p(0.5), "ms");
                if share >= 0.9 {
                    self.report
                        .target(s, "90 %: ack→arrival p99", p(0.99), "ms", goal, false);
                } else {
                    self.report
                        .add(s, &format!("{pct} %: ack→arrival p99"), p(0.99), "ms");
                }
                self.report.note(
                    s,
                    format!(
                        "{pct} % = {} ev/s asked, {} events, {} errors; request→ack p99 {} ms; {unique}/{expected} delivered{}, {missing} missing, {dups} duplicates; {}; {}",
                        fmt_num(rate as f64),
                        load.acks.len(),
                        load.errors,
                        percentile(&l.ack_lat, 0.99).map(ms).map_or("n/a".into(), fmt_num),
                        if all { "" } else { " (capped or stalled)" },
                        cpu_note(&cpu),
                        commit_note(&writer)
                    ),
                );
                details.push(json!({
                    "share": share, "rate_per_s": rate, "events": events, "request_errors": load.errors,
                    "first_error": load.first_error,
                    "achieved_per_s": round3(load.acks.len() as f64 / load.elapsed.as_secs_f64().max(1e-3)),
                    "ack_to_arrival_ms": {"p50": p(0.5), "p90": p(0.9), "p99": p(0.99), "max": l.lat.last().copied().map(ms)},
                    "request_to_ack_ms": {"p50": percentile(&l.ack_lat, 0.5).map(ms), "p99": percentile(&l.ack_lat, 0.99).map(ms)},
                    "arrived_before_ack_seen": l.before_ack,
                    "deliveries_expected": expected, "deliveries_unique": unique, "duplicates": dups,
                    "missing": missing, "all_arrived": all, "cpu": cpu, "writer": writer,
                }));
            }
            let (warns, errors) = daemon.warn_error_lines();
            let (code, _) = daemon.stop_timed();
            self.report.detail(
                &format!("l_levels_{webhooks}"),
                json!({"webhooks": webhooks, "max_events": n, "max_request_errors": load.errors,
                       "max_events_per_s": round3(max), "levels": details,
                       "daemon_warn_lines": warns, "daemon_error_lines": errors, "daemon_exit_code": code}),
            );
        }
        Ok(())
    }
}
