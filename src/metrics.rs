//! Prometheus metrics (API.md, Operations), served as text at `/metrics`.
//!
//! Counters and histograms are atomics. Labelled series are resolved once and
//! kept by their user (a delivery queue keeps its webhook's series), so the
//! hot paths never take the label map's lock.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock, PoisonError};

use prometheus::{
    exponential_buckets, Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter,
    IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Every series of the daemon.
pub struct Metrics {
    registry: Registry,
    pub events: IntCounter,
    pub deliveries_created: IntCounter,
    attempts: IntCounterVec,
    /// `hookline_deliveries_suppressed_total{reason="dedup_window"}`, resolved once.
    pub suppressed_dedup: IntCounter,
    /// `…{reason="webhook_disabled"}`.
    pub suppressed_disabled: IntCounter,
    /// `…{reason="self_state_event"}`.
    pub suppressed_self: IntCounter,
    duration: HistogramVec,
    pub pending: IntGauge,
    ready_window: IntGaugeVec,
    in_flight: IntGaugeVec,
    webhook_state: IntGaugeVec,
    pub commit_seconds: Histogram,
    pub commit_batch_jobs: Histogram,
    pub commit_failures: IntCounter,
    /// Stored webhooks, schemas and rule groups that do not compile and are
    /// left out of the running configuration.
    pub config_errors: IntGauge,
    /// HTTP connections open now (the cap is `max_connections`).
    pub http_connections: IntGauge,
    /// Cluster mode: partitions this instance reads now.
    pub cluster_partitions_owned: IntGauge,
    /// Cluster mode: messages of a partition not yet acked by its owner.
    cluster_consumer_lag: IntGaugeVec,
    /// Cluster mode: partitions claimed that another instance owned last.
    pub cluster_takeovers: IntCounter,
    /// How many queues use each webhook name's gauges: a stopping queue and
    /// its successor share them, and the series go when the last one lets go.
    gauge_users: Mutex<HashMap<String, usize>>,
}

/// The series of one webhook, resolved once by its queue.
#[derive(Clone)]
pub struct WebhookMetrics {
    pub success: IntCounter,
    pub http_error: IntCounter,
    pub timeout: IntCounter,
    pub connect_error: IntCounter,
    pub tls_error: IntCounter,
    /// Refused by the target policy before any connection.
    pub blocked: IntCounter,
    pub dns_error: IntCounter,
    /// A reset or closed connection, a malformed answer.
    pub protocol_error: IntCounter,
    pub duration: Histogram,
    pub ready: IntGauge,
    pub in_flight: IntGauge,
    /// `hookline_webhook_state{webhook,state}`, one per state.
    state: Vec<(crate::model::HealthState, IntGauge)>,
    name: std::sync::Arc<str>,
    /// Set by the first `remove`: a queue that stops after a rename, or
    /// pumps once more while stopping, must not let go twice.
    removed: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl WebhookMetrics {
    /// 1 for the webhook's current health state, 0 for the others.
    pub fn set_state(&self, now: crate::model::HealthState) {
        for (state, gauge) in &self.state {
            gauge.set(i64::from(*state == now));
        }
    }

    /// The queue is done with these series (stopped, or its webhook renamed):
    /// the gauges go once no other queue uses the name, instead of staying
    /// frozen at their last value. Only the first call counts.
    pub fn remove(&self) {
        if !self.removed.swap(true, std::sync::atomic::Ordering::AcqRel) {
            metrics().release_webhook(&self.name);
        }
    }
}

/// The process-wide metrics.
pub fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    let c = IntCounter::new(name, help).unwrap_or_else(|e| unreachable_metric(name, &e));
    let _ = registry.register(Box::new(c.clone()));
    c
}

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels)
        .unwrap_or_else(|e| unreachable_metric(name, &e));
    let _ = registry.register(Box::new(c.clone()));
    c
}

fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    let g = IntGauge::new(name, help).unwrap_or_else(|e| unreachable_metric(name, &e));
    let _ = registry.register(Box::new(g.clone()));
    g
}

fn gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(name, help), labels)
        .unwrap_or_else(|e| unreachable_metric(name, &e));
    let _ = registry.register(Box::new(g.clone()));
    g
}

fn histogram(registry: &Registry, opts: HistogramOpts) -> Histogram {
    let name = opts.common_opts.name.clone();
    let h = Histogram::with_opts(opts).unwrap_or_else(|e| unreachable_metric(&name, &e));
    let _ = registry.register(Box::new(h.clone()));
    h
}

/// Metric definitions are constants of this file; an invalid one is a bug
/// caught by the first test run, not something input can cause.
fn unreachable_metric(name: &str, e: &prometheus::Error) -> ! {
    panic!("metric {name} is defined wrongly: {e}")
}

fn seconds_buckets() -> Vec<f64> {
    exponential_buckets(0.0005, 2.0, 16).unwrap_or_default()
}

impl Metrics {
    fn new() -> Metrics {
        let r = Registry::new();
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "hookline_delivery_duration_seconds",
                "Duration of delivery attempts.",
            )
            .buckets(seconds_buckets()),
            &["webhook"],
        )
        .unwrap_or_else(|e| unreachable_metric("hookline_delivery_duration_seconds", &e));
        let _ = r.register(Box::new(duration.clone()));
        let pending = IntGauge::new(
            "hookline_deliveries_pending",
            "Deliveries waiting for a first try or a retry.",
        )
        .unwrap_or_else(|e| unreachable_metric("hookline_deliveries_pending", &e));
        let _ = r.register(Box::new(pending.clone()));
        let suppressed = counter_vec(
            &r,
            "hookline_deliveries_suppressed_total",
            "Triggers that created no delivery.",
            &["reason"],
        );
        Metrics {
            events: counter(&r, "hookline_events_total", "Events stored."),
            deliveries_created: counter(
                &r,
                "hookline_deliveries_created_total",
                "Deliveries created.",
            ),
            attempts: counter_vec(
                &r,
                "hookline_delivery_attempts_total",
                "Delivery attempts by outcome.",
                &["webhook", "result"],
            ),
            suppressed_dedup: suppressed.with_label_values(&["dedup_window"]),
            suppressed_disabled: suppressed.with_label_values(&["webhook_disabled"]),
            suppressed_self: suppressed.with_label_values(&["self_state_event"]),
            duration,
            pending,
            ready_window: gauge_vec(
                &r,
                "hookline_webhook_queue_ready",
                "Due deliveries held in a webhook's queue, not yet started.",
                &["webhook"],
            ),
            in_flight: gauge_vec(
                &r,
                "hookline_webhook_in_flight",
                "Requests running now per webhook, counted until their outcome is committed.",
                &["webhook"],
            ),
            webhook_state: gauge_vec(
                &r,
                "hookline_webhook_state",
                "A webhook's endpoint health: 1 for its state now, 0 for the others.",
                &["webhook", "state"],
            ),
            commit_seconds: histogram(
                &r,
                HistogramOpts::new(
                    "hookline_store_commit_seconds",
                    "Time of one fsync'd group commit.",
                )
                .buckets(seconds_buckets()),
            ),
            commit_batch_jobs: histogram(
                &r,
                HistogramOpts::new("hookline_store_commit_jobs", "Writes per group commit.")
                    .buckets(exponential_buckets(1.0, 2.0, 13).unwrap_or_default()),
            ),
            commit_failures: counter(
                &r,
                "hookline_store_commit_failures_total",
                "Group commits that failed (nothing of them stored).",
            ),
            config_errors: gauge(
                &r,
                "hookline_config_errors",
                "Stored webhooks, schemas and rule groups left out because they do not compile.",
            ),
            http_connections: gauge(
                &r,
                "hookline_http_connections",
                "HTTP connections open now.",
            ),
            cluster_partitions_owned: gauge(
                &r,
                "hookline_cluster_partitions_owned",
                "Cluster mode: partitions this instance owns and reads now.",
            ),
            cluster_consumer_lag: gauge_vec(
                &r,
                "hookline_cluster_consumer_lag",
                "Cluster mode: messages of a partition not yet acknowledged by its owner.",
                &["partition"],
            ),
            cluster_takeovers: counter(
                &r,
                "hookline_cluster_takeovers_total",
                "Cluster mode: partitions claimed that another instance owned last.",
            ),
            gauge_users: Mutex::new(HashMap::new()),
            registry: r,
        }
    }

    /// The series of webhook `name`; hand them back with
    /// [`WebhookMetrics::remove`].
    /// Sets partition `n`'s consumer lag.
    pub fn cluster_lag(&self, n: u32, lag: u64) {
        self.cluster_consumer_lag
            .with_label_values(&[n.to_string().as_str()])
            .set(i64::try_from(lag).unwrap_or(i64::MAX));
    }

    pub fn webhook(&self, name: &str) -> WebhookMetrics {
        *self
            .gauge_users
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(name.to_string())
            .or_default() += 1;
        let attempts = |result: &str| self.attempts.with_label_values(&[name, result]);
        WebhookMetrics {
            success: attempts("success"),
            http_error: attempts("http_error"),
            timeout: attempts("timeout"),
            connect_error: attempts("connect_error"),
            tls_error: attempts("tls_error"),
            blocked: attempts("blocked"),
            dns_error: attempts("dns_error"),
            protocol_error: attempts("protocol_error"),
            duration: self.duration.with_label_values(&[name]),
            ready: self.ready_window.with_label_values(&[name]),
            in_flight: self.in_flight.with_label_values(&[name]),
            state: crate::model::HealthState::ALL
                .iter()
                .map(|s| {
                    (
                        *s,
                        self.webhook_state.with_label_values(&[name, s.as_str()]),
                    )
                })
                .collect(),
            name: name.into(),
            removed: Default::default(),
        }
    }

    /// A webhook was deleted or renamed: its counters and histogram under
    /// `name` go too, so `/metrics` does not grow with every name ever used.
    pub fn forget_webhook(&self, name: &str) {
        for result in [
            "success",
            "http_error",
            "timeout",
            "connect_error",
            "tls_error",
            "dns_error",
            "protocol_error",
            "blocked",
        ] {
            let _ = self.attempts.remove_label_values(&[name, result]);
        }
        let _ = self.duration.remove_label_values(&[name]);
    }

    fn release_webhook(&self, name: &str) {
        let mut users = self
            .gauge_users
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(count) = users.get_mut(name) else {
            return;
        };
        *count -= 1;
        if *count == 0 {
            users.remove(name);
            let _ = self.ready_window.remove_label_values(&[name]);
            let _ = self.in_flight.remove_label_values(&[name]);
            for state in crate::model::HealthState::ALL {
                let _ = self
                    .webhook_state
                    .remove_label_values(&[name, state.as_str()]);
            }
        }
    }

    /// The text exposition of every series.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}
