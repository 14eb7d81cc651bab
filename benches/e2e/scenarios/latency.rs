//! d. Latency at a steady 1,000 events/s: ack → arrival.

use std::time::Duration;

use serde_json::json;

use super::{tempdir, Bench};
use crate::cpu::{cpu_note, CpuMeter};
use crate::daemon::{setup_routes, start_daemon, wait_ready};
use crate::load::Load;
use crate::load::{arrival_cap, ingest_paced, missing_and_unknown, wait_arrivals};
use crate::receiver::{lock, Receiver, MODE_OK};
use crate::report::{fmt_num, ms, per_sec, percentile};
use crate::sizes::{IDLE_GIVE_UP, LATENCY_RATE};

/// The latencies of one load's deliveries, each sorted.
pub(super) struct Latencies {
    /// Ack → first arrival (an arrival before the ack counts as 0).
    pub lat: Vec<Duration>,
    /// Request sent → first arrival.
    pub req_lat: Vec<Duration>,
    /// Request sent → ack.
    pub ack_lat: Vec<Duration>,
    /// Deliveries that arrived before the client saw their ack.
    pub before_ack: usize,
}

/// Matches `load`'s acks to the receiver's first arrivals.
pub(super) fn latencies(rx: &Receiver, load: &Load) -> Latencies {
    let (mut lat, mut req_lat, mut ack_lat, mut before_ack) =
        (Vec::new(), Vec::new(), Vec::new(), 0);
    {
        let a = lock(&rx.arrivals);
        for ack in &load.acks {
            ack_lat.push(ack.acked.saturating_duration_since(ack.sent));
            for id in &ack.ids {
                if let Some(at) = a.first.get(id.as_str()) {
                    if *at < ack.acked {
                        before_ack += 1;
                    }
                    lat.push(at.saturating_duration_since(ack.acked));
                    req_lat.push(at.saturating_duration_since(ack.sent));
                }
            }
        }
    }
    lat.sort_unstable();
    ack_lat.sort_unstable();
    req_lat.sort_unstable();
    Latencies {
        lat,
        req_lat,
        ack_lat,
        before_ack,
    }
}

impl Bench {
    /// d. Ack → arrival at a steady 1,000 events/s.
    pub async fn scenario_latency(&mut self) -> Result<(), String> {
        let n = self.sizes.latency_events;
        let dir = tempdir()?;
        let daemon = start_daemon(dir.path())?;
        wait_ready(&daemon, &self.client).await?;
        setup_routes(&self.client, &daemon.base, &self.urls[..1], json!({})).await?;
        self.rx.reset(MODE_OK);
        let cpu = CpuMeter::start(Some(daemon.pid), self.hz);
        let load = ingest_paced(&self.client, &daemon.base, n, LATENCY_RATE).await;
        let expected = load.delivery_ids();
        let all = wait_arrivals(&self.rx, expected, arrival_cap(expected), IDLE_GIVE_UP).await;
        let cpu = cpu.finish(Some(daemon.pid));
        let (unique, dups, _, _) = self.rx.summary();
        let (missing, unknown) = missing_and_unknown(&self.rx, &load);
        let Latencies {
            lat,
            req_lat,
            ack_lat,
            before_ack,
        } = latencies(&self.rx, &load);
        let p = |v: &[Duration], q: f64| percentile(v, q).map(ms);
        let achieved = per_sec(load.acks.len(), load.elapsed);
        let (warns, errors) = daemon.warn_error_lines();
        let (code, _) = daemon.stop_timed();
        let s = "d. latency";
        self.report.add(s, "ack→arrival p50", p(&lat, 0.50), "ms");
        self.report
            .target(s, "ack→arrival p99", p(&lat, 0.99), "ms", 25.0, false);
        self.report
            .add(s, "ack→arrival max", lat.last().copied().map(ms), "ms");
        self.report
            .add(s, "request sent→arrival p50", p(&req_lat, 0.50), "ms");
        self.report
            .add(s, "request sent→arrival p99", p(&req_lat, 0.99), "ms");
        let max = req_lat.last().copied().map(ms);
        self.report.add(s, "request sent→arrival max", max, "ms");
        let p50 = p(&ack_lat, 0.50);
        self.report
            .add(s, "request sent→ack p50 (p99 in the note)", p50, "ms");
        self.report.note(
            s,
            format!(
                "{} events at {} ev/s achieved; request→ack p99 {} ms; {before_ack} arrived before the client saw the ack (counted as 0); {unique}/{expected} delivered, {missing} missing, {dups} duplicates; {}",
                load.acks.len(),
                achieved.map_or("n/a".into(), fmt_num),
                p(&ack_lat, 0.99).map_or("n/a".into(), fmt_num),
                cpu_note(&cpu)
            ),
        );
        self.report.detail(
            "d_latency",
            json!({"events": n, "target_rate_per_s": LATENCY_RATE, "achieved_rate_per_s": achieved,
                   "request_errors": load.errors, "first_error": load.first_error,
                   "ack_to_arrival_ms": {"p50": p(&lat, 0.5), "p90": p(&lat, 0.9), "p99": p(&lat, 0.99),
                                         "p999": p(&lat, 0.999), "max": lat.last().copied().map(ms)},
                   "request_to_arrival_ms": {"p50": p(&req_lat, 0.5), "p90": p(&req_lat, 0.9),
                                             "p99": p(&req_lat, 0.99), "p999": p(&req_lat, 0.999),
                                             "max": req_lat.last().copied().map(ms)},
                   "request_to_ack_ms": {"p50": p(&ack_lat, 0.5), "p99": p(&ack_lat, 0.99),
                                         "max": ack_lat.last().copied().map(ms)},
                   "arrived_before_ack_seen": before_ack,
                   "deliveries_expected": expected, "deliveries_unique": unique, "duplicates": dups,
                   "missing": missing, "unknown": unknown, "all_arrived": all,
                   "daemon_warn_lines": warns, "daemon_error_lines": errors, "daemon_exit_code": code,
                   "cpu": cpu}),
        );
        Ok(())
    }
}
