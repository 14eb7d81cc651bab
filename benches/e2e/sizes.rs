//! Sizes and constants: the full run, and `--quick` (each scenario at 1/50).

use std::time::Duration;

use serde_json::{json, Value};

pub const ADMIN: &str = "bench-admin";
/// Concurrency of the single-event load generator and of the receiver
/// capacity client.
pub const CONCURRENCY: usize = 64;
/// Concurrent batch requests.
pub const BATCH_CONCURRENCY: usize = 8;
pub const BATCH: usize = 100;
pub const FANOUT_WEBHOOKS: usize = 10;
/// Receiver ports: one per fan-out webhook.
pub const PORTS: usize = FANOUT_WEBHOOKS;
pub const LATENCY_RATE: u64 = 1000;
/// Held receiver requests answer after this at the latest.
pub const HOLD_MAX: Duration = Duration::from_secs(280);
/// Wait for arrivals: give up when nothing new arrived for this long.
pub const IDLE_GIVE_UP: Duration = Duration::from_secs(15);

#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    /// `--quick`: every scenario at 1/50 (the opt-in ones size themselves by it).
    pub quick: bool,
    pub receiver_requests: usize,
    pub ingest_events: usize,
    pub drain_events: usize,
    pub latency_events: usize,
    pub fanout_events: usize,
    pub backlog_deliveries: usize,
    pub storm_events: usize,
    /// h. events posted while one receiver is down, and the outage's length.
    pub outage_events: usize,
    pub outage: Duration,
}

impl Sizes {
    pub fn full() -> Sizes {
        Sizes {
            quick: false,
            receiver_requests: 100_000,
            ingest_events: 100_000,
            drain_events: 100_000,
            latency_events: 30_000,
            fanout_events: 30_000,
            backlog_deliveries: 1_000_000,
            storm_events: 20_000,
            outage_events: 10_000,
            outage: Duration::from_secs(60),
        }
    }

    pub fn quick() -> Sizes {
        let f = Sizes::full();
        Sizes {
            quick: true,
            receiver_requests: f.receiver_requests / 50,
            ingest_events: f.ingest_events / 50,
            drain_events: f.drain_events / 50,
            latency_events: f.latency_events / 50,
            fanout_events: f.fanout_events / 50,
            backlog_deliveries: f.backlog_deliveries / 50,
            storm_events: f.storm_events / 50,
            outage_events: f.outage_events / 20,
            outage: Duration::from_secs(5),
        }
    }

    pub fn json(&self) -> Value {
        json!({
            "receiver_requests": self.receiver_requests,
            "ingest_events_single": self.ingest_events,
            "ingest_events_batched": self.ingest_events,
            "batch_size": BATCH,
            "concurrency_single": CONCURRENCY,
            "concurrency_batches": BATCH_CONCURRENCY,
            "drain_events": self.drain_events,
            "latency_events": self.latency_events,
            "latency_rate_per_s": LATENCY_RATE,
            "fanout_events": self.fanout_events,
            "fanout_webhooks": FANOUT_WEBHOOKS,
            "backlog_deliveries": self.backlog_deliveries,
            "backlog_webhooks": FANOUT_WEBHOOKS,
            "backlog_batch_size": 1000,
            "storm_events": self.storm_events,
            "outage_events": self.outage_events,
            "outage_seconds": self.outage.as_secs(),
        })
    }
}
