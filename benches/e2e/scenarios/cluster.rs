//! k. Cluster mode (issue 17): the plain single-file daemon, then one and
//! three instances in cluster mode against the machine's NATS server
//! (127.0.0.1:4222; the scenario is skipped with a note without one), each
//! with its own stream and buckets, deleted afterwards. Single events,
//! concurrency 64 spread over the instances, one webhook: events/s
//! acknowledged and delivered, the CPU each instance spent per event, and
//! the stream hop's latency from sequential probes at idle (post → arrival).
//!
//! Two cores cannot show scaling: the three instances, NATS, the receiver
//! and the load generator share them. What carries over to N machines is
//! the CPU per event of one instance.

use std::time::{Duration, Instant};

use serde_json::json;

use super::{tempdir, Bench};
use crate::cpu::{cpu_note, CpuMeter};
use crate::daemon::{config_text, setup_routes, start_daemon_with, wait_ready};
use crate::load::{event_json, ingest, wait_arrivals, Load};
use crate::receiver::MODE_OK;
use crate::report::per_sec;
use crate::sizes::{CONCURRENCY, IDLE_GIVE_UP};

const NATS: &str = "127.0.0.1:4222";
/// Sequential probes per run for the idle latency.
const PROBES: usize = 40;

impl Bench {
    pub async fn scenario_cluster(&mut self) -> Result<(), String> {
        let s = "k. cluster mode";
        if std::net::TcpStream::connect_timeout(
            &NATS.parse().map_err(|_| "address")?,
            Duration::from_secs(2),
        )
        .is_err()
        {
            self.report
                .note(s, format!("skipped: no NATS server on {NATS}"));
            return Ok(());
        }
        for instances in [0usize, 1, 3] {
            self.cluster_run(instances).await?;
        }
        Ok(())
    }

    /// `instances` = 0: the plain daemon, no `[cluster]`.
    async fn cluster_run(&mut self, instances: usize) -> Result<(), String> {
        let tag = format!("{}_{instances}", std::process::id());
        let names = Names {
            stream: format!("HLB_{tag}"),
            bucket: format!("hlb_{tag}"),
        };
        let mut dirs = Vec::new();
        let mut daemons = Vec::new();
        for i in 0..instances.max(1) {
            let dir = tempdir()?;
            let mut text = config_text(dir.path());
            if instances > 0 {
                text = text.replacen(
                    "[delivery]",
                    &format!(
                        "[cluster]\nnats_url = \"nats://{NATS}\"\ninstance = \"i{i}\"\nstream = \"{}\"\nsubject_prefix = \"hlb.t{tag}\"\nbucket = \"{}\"\npartitions = 8\nlease = \"10s\"\n[delivery]",
                        names.stream, names.bucket
                    ),
                    1,
                );
            }
            let d = start_daemon_with(dir.path(), &text)?;
            wait_ready(&d, &self.client).await?;
            dirs.push(dir);
            daemons.push(d);
        }
        let result = self.cluster_measure(instances, &daemons).await;
        for d in daemons {
            let _ = d.stop_timed();
        }
        if instances > 0 {
            names.delete().await;
        }
        result
    }

    async fn cluster_measure(
        &mut self,
        instances: usize,
        daemons: &[crate::common::Daemon],
    ) -> Result<(), String> {
        let label: &'static str = match instances {
            0 => "k. single file (no cluster)",
            1 => "k. cluster, 1 instance",
            _ => "k. cluster, 3 instances",
        };
        let bases: Vec<String> = daemons.iter().map(|d| d.base.clone()).collect();
        setup_routes(&self.client, &bases[0], &self.urls[..1], json!({})).await?;
        if instances > 0 {
            self.wait_cluster(&bases).await?;
        }
        // Idle latency: one event at a time, post → its arrival.
        self.rx.reset(MODE_OK);
        let mut probes = Vec::with_capacity(PROBES);
        for i in 0..PROBES {
            let before = self.rx.unique();
            let sent = Instant::now();
            let url = format!("{}/api/v1/events", bases[i % bases.len()]);
            crate::load::post_events(&self.client, &url, event_json(), false).await?;
            // Polled finely: the probe measures milliseconds.
            let deadline = Instant::now() + Duration::from_secs(10);
            while self.rx.unique() <= before {
                if Instant::now() > deadline {
                    return Err(format!("{label}: probe {i} did not arrive"));
                }
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
            probes.push(sent.elapsed().as_secs_f64() * 1000.0);
        }
        probes.sort_by(f64::total_cmp);
        let median = probes[probes.len() / 2];

        // Throughput: the events split over the instances, concurrency 64 in all.
        self.rx.reset(MODE_OK);
        let n = self.sizes.drain_events / 2;
        let nats_pid = nats_server_pid();
        let nats = nats_pid.map(|pid| CpuMeter::start(Some(pid), self.hz));
        let meters: Vec<CpuMeter> = daemons
            .iter()
            .map(|d| CpuMeter::start(Some(d.pid), self.hz))
            .collect();
        let started = Instant::now();
        let share = CONCURRENCY / bases.len();
        let runs = bases
            .iter()
            .map(|b| ingest(&self.client, b, n / bases.len(), 1, share.max(1)));
        let loads: Vec<Load> = futures_util::future::join_all(runs).await;
        let acked: usize = loads.iter().map(|l| l.acks.len()).sum();
        let errors: usize = loads.iter().map(|l| l.errors).sum();
        let ack_elapsed = loads.iter().map(|l| l.elapsed).max().unwrap_or_default();
        let all = wait_arrivals(&self.rx, acked, Duration::from_secs(120), IDLE_GIVE_UP).await;
        let (unique, dups, _, last) = self.rx.summary();
        let cpus: Vec<serde_json::Value> = meters
            .iter()
            .zip(daemons)
            .map(|(m, d)| m.finish(Some(d.pid)))
            .collect();
        let end = last.map_or(started.elapsed(), |l| l.saturating_duration_since(started));
        let delivered = all.then(|| per_sec(acked, end)).flatten();
        // CPU per event: all instances together (what N machines would
        // spend), and the NATS server's.
        let cpu_s = |c: &serde_json::Value| {
            c["daemon_pct_of_core"].as_f64().unwrap_or(0.0) / 100.0
                * c["wall_s"].as_f64().unwrap_or(0.0)
        };
        let per_event_us = |secs: f64| Some(secs * 1e6 / (acked as f64).max(1.0));
        let daemons_cpu = per_event_us(cpus.iter().map(cpu_s).sum());
        let nats_cpu = nats
            .as_ref()
            .zip(nats_pid)
            .and_then(|(m, pid)| per_event_us(cpu_s(&m.finish(Some(pid)))));
        let rows = [
            (
                "events/s acknowledged (single, concurrency 64 in all)",
                per_sec(acked, ack_elapsed),
                "ev/s",
            ),
            (
                "events/s acknowledged and delivered (end to end)",
                delivered,
                "ev/s",
            ),
            (
                "idle post → arrival, median of 40 probes",
                Some(median),
                "ms",
            ),
            ("daemon CPU per event (all instances)", daemons_cpu, "µs"),
        ];
        for (figure, value, unit) in rows {
            self.report.add(label, figure, value, unit);
        }
        if instances > 0 {
            self.report
                .add(label, "NATS server CPU per event", nats_cpu, "µs");
        }
        let notes: Vec<String> = cpus.iter().map(cpu_note).collect();
        self.report.note(
            label,
            format!(
                "{acked} events acked, {errors} request errors, {unique}/{acked} delivered, {dups} duplicates; probes p90 {:.2} ms; {}",
                probes[probes.len() * 9 / 10],
                notes.join(" | ")
            ),
        );
        Ok(())
    }

    /// Waits (≤ 30 s) until the instances own all 8 partitions and every one
    /// has the route.
    async fn wait_cluster(&self, bases: &[String]) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut seen = (0, 0);
        while Instant::now() < deadline {
            let mut owned = 0;
            let mut fewest = usize::MAX;
            let mut routed = 0;
            for base in bases {
                let get = |path: &str| {
                    self.client
                        .get(format!("{base}{path}"))
                        .bearer_auth(crate::sizes::ADMIN)
                        .send()
                };
                if let Ok(r) = get("/api/v1/cluster").await {
                    let v: serde_json::Value = r.json().await.unwrap_or_default();
                    let mine = v["owned"].as_array().map_or(0, Vec::len);
                    owned += mine;
                    fewest = fewest.min(mine);
                }
                if let Ok(r) = get("/api/v1/rule-groups").await {
                    let v: serde_json::Value = r.json().await.unwrap_or_default();
                    routed += usize::from(v["items"].as_array().is_some_and(|i| !i.is_empty()));
                }
            }
            // Spread evenly (8 over 3 is 3/3/2), not just all owned.
            if owned == 8 && fewest >= 8 / bases.len() && routed == bases.len() {
                return Ok(());
            }
            seen = (owned, routed);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(format!(
            "the cluster did not settle within 30 s: {} partitions owned, {} of {} instances with the route",
            seen.0,
            seen.1,
            bases.len()
        ))
    }
}

/// The machine's `nats-server` process, for its CPU.
fn nats_server_pid() -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let comm = std::fs::read_to_string(e.path().join("comm")).ok()?;
        (comm.trim() == "nats-server").then_some(pid)
    })
}

/// The stream and buckets of one run.
struct Names {
    stream: String,
    bucket: String,
}

impl Names {
    async fn delete(&self) {
        let Ok(client) = async_nats::connect(NATS).await else {
            return;
        };
        let js = async_nats::jetstream::new(client);
        let _ = js.delete_stream(&self.stream).await;
        let _ = js.delete_key_value(&self.bucket).await;
        let _ = js.delete_key_value(format!("{}_config", self.bucket)).await;
    }
}
