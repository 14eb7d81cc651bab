//! h. Outage: two webhooks, each event to both. Events arrive at a steady
//! rate; after a quiet stretch the second receiver stops (its port refuses
//! connections) for `sizes.outage`, then comes back on the same port.
//! Reported: requests the daemon tried against the dead receiver during the
//! outage (its failed attempts of every kind, from `/metrics`), deliveries that ended `failed`,
//! the time from its return until its backlog arrived, and the healthy
//! webhook's ack → arrival p99 during the outage against before it. Run
//! with the breaker on (`h`, the defaults) and off (`H`), both on hookline's
//! default retry schedule (10 s, 30 s, 1 m, …).

use std::time::{Duration, Instant};

use serde_json::json;

use super::{tempdir, Bench};
use crate::common::receiver::{Behaviour, Receiver as TestReceiver};
use crate::daemon::{
    config_text, metrics_text, series_value, setup_routes, start_daemon_with, wait_ready,
};
use crate::load::{ingest_paced, Load};
use crate::receiver::{lock, MODE_OK};
use crate::report::{ms, percentile};

/// The failed attempts of every kind to the webhook `wh-1`, from `/metrics`.
async fn failed_attempts(client: &reqwest::Client, base: &str) -> f64 {
    let Some(text) = metrics_text(client, base).await else {
        return 0.0;
    };
    [
        "connect_error",
        "protocol_error",
        "timeout",
        "http_error",
        "dns_error",
        "tls_error",
    ]
    .iter()
    .filter_map(|r| {
        let series = format!("hookline_delivery_attempts_total{{result=\"{r}\",webhook=\"wh-1\"}}");
        series_value(&text, &series)
    })
    .sum()
}

impl Bench {
    /// The healthy webhook's ack → arrival times of `load`.
    fn healthy_latencies(&self, load: &Load) -> Vec<Duration> {
        let a = lock(&self.rx.arrivals);
        let mut lat: Vec<Duration> = load
            .acks
            .iter()
            .flat_map(|ack| {
                ack.ids.iter().filter_map(|id| {
                    a.first
                        .get(id.as_str())
                        .map(|at| at.saturating_duration_since(ack.acked))
                })
            })
            .collect();
        lat.sort_unstable();
        lat
    }

    pub async fn scenario_outage(&mut self, breaker: bool) -> Result<(), String> {
        let dir = tempdir()?;
        // hookline's default retry schedule, not the bench's short one.
        let mut text = config_text(dir.path())
            .replace("retry_schedule = [\"100ms\", \"200ms\", \"500ms\"]\n", "");
        if !breaker {
            text.push_str("[delivery.breaker]\nfailures = 0\n");
        }
        let daemon = start_daemon_with(dir.path(), &text)?;
        wait_ready(&daemon, &self.client).await?;
        let dead = TestReceiver::start(Behaviour::Fixed(200));
        let dead_addr = dead.addr();
        setup_routes(
            &self.client,
            &daemon.base,
            &[self.urls[0].clone(), dead.url()],
            json!({}),
        )
        .await?;
        self.rx.reset(MODE_OK);
        let n = self.sizes.outage_events;
        let rate = (n as f64 / self.sizes.outage.as_secs_f64()).max(1.0) as u64;
        let before_n = (n / 6).max(1);
        let before = ingest_paced(&self.client, &daemon.base, before_n, rate).await;
        // The receiver goes down: its port refuses connections from now on.
        let before_dead = dead.count();
        drop(dead);
        let refused_before = failed_attempts(&self.client, &daemon.base).await;
        let outage_started = Instant::now();
        let during = ingest_paced(&self.client, &daemon.base, n, rate).await;
        let rest = self.sizes.outage.saturating_sub(outage_started.elapsed());
        tokio::time::sleep(rest).await;
        let refused = failed_attempts(&self.client, &daemon.base).await - refused_before;
        // It comes back on the same port.
        let back = TestReceiver::start_on(dead_addr, Behaviour::Fixed(200))
            .map_err(|e| format!("rebind {dead_addr}: {e}"))?;
        let returned = Instant::now();
        let expected = before_n + n - before_dead;
        let cap = Duration::from_secs(if breaker { 900 } else { 1800 });
        let mut drained = false;
        while returned.elapsed() < cap {
            if back.count() >= expected {
                drained = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let drain_time = returned.elapsed();
        let failed = failed_count(&self.client, &daemon.base).await;
        let (lat_before, lat_during) = (
            self.healthy_latencies(&before),
            self.healthy_latencies(&during),
        );
        let p99 = |v: &[Duration]| percentile(v, 0.99).map(ms);
        let (warns, _) = daemon.warn_error_lines();
        let _ = daemon.stop_timed();
        let s = if breaker {
            "h. outage, breaker on"
        } else {
            "h. outage, breaker off"
        };
        if breaker {
            self.report.target(
                s,
                "requests to the dead receiver during the outage",
                Some(refused),
                "",
                20.0,
                false,
            );
            self.report.target(
                s,
                "deliveries ended failed",
                Some(failed as f64),
                "",
                0.0,
                false,
            );
        } else {
            self.report.add(
                s,
                "requests to the dead receiver during the outage",
                Some(refused),
                "",
            );
            self.report
                .add(s, "deliveries ended failed", Some(failed as f64), "");
        }
        self.report.add(
            s,
            "receiver back → its backlog arrived",
            Some(drain_time.as_secs_f64()),
            "s",
        );
        self.report.add(
            s,
            "healthy webhook ack→arrival p99 before",
            p99(&lat_before),
            "ms",
        );
        self.report.add(
            s,
            "healthy webhook ack→arrival p99 during",
            p99(&lat_during),
            "ms",
        );
        self.report.note(
            s,
            format!(
                "{} s outage, {n} events at {rate}/s (and {before_n} before it), each to both webhooks; backlog {} of {expected} arrived{}; {warns} warn lines in the daemon's last 50 log lines",
                self.sizes.outage.as_secs(),
                back.count(),
                if drained { "" } else { " (gave up)" }
            ),
        );
        Ok(())
    }
}

/// Deliveries that ended `failed` (up to 1,000).
async fn failed_count(client: &reqwest::Client, base: &str) -> usize {
    let answer = client
        .get(format!("{base}/api/v1/deliveries?status=failed&limit=1000"))
        .bearer_auth(crate::sizes::ADMIN)
        .send()
        .await;
    match answer {
        Ok(r) => r
            .json::<serde_json::Value>()
            .await
            .ok()
            .and_then(|v| v["items"].as_array().map(Vec::len))
            .unwrap_or(0),
        Err(_) => 0,
    }
}
