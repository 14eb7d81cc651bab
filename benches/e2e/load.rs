//! Load generation: closed-loop (`ingest`) and open-loop (`ingest_paced`)
//! event posting, and the wait for the receiver's arrivals.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::receiver::{lock, Receiver};

pub static TICKET: AtomicU64 = AtomicU64::new(1);
/// When not 0, events go to this many tickets in turn (ordering runs).
pub static TICKETS: AtomicU64 = AtomicU64::new(0);

/// When set, events are the specification's sample event (scenario r).
pub static REALISTIC: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The sample event with `"ticket": {"id": 1001, "ref": "T-1001"` cut out,
/// so each event gets its own ticket.
fn sample_parts() -> &'static (String, String) {
    static PARTS: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();
    PARTS.get_or_init(|| {
        let text = include_str!("../../tests/data/sample-event.json");
        let mut event: Value = serde_json::from_str(text).unwrap_or_default();
        if let Some(o) = event.as_object_mut() {
            o.remove("id");
        }
        event["ticket"]["id"] = Value::from(0);
        event["ticket"]["ref"] = Value::from("T-0");
        let flat = event.to_string();
        let cut = "\"id\":0,";
        match flat.find(cut) {
            Some(at) => {
                let rest = flat[at + cut.len()..].replacen("\"ref\":\"T-0\",", "", 1);
                (flat[..at].to_string(), rest)
            }
            None => (flat, String::new()),
        }
    })
}

pub fn event_json() -> String {
    let mut n = TICKET.fetch_add(1, Ordering::Relaxed);
    let spread = TICKETS.load(Ordering::Relaxed);
    if spread > 0 {
        n = n % spread + 1;
    }
    if REALISTIC.load(Ordering::Relaxed) {
        let (head, tail) = sample_parts();
        return format!(r#"{head}"id":{n},"ref":"T-{n}",{tail}"#);
    }
    format!(r#"{{"type":"ticket_updated","ticket":{{"id":{n},"ref":"T-{n}"}}}}"#)
}

/// One acknowledged request: when it was sent and acked, and the delivery
/// ids it created.
pub struct Ack {
    pub sent: Instant,
    pub acked: Instant,
    pub ids: Vec<String>,
}

#[derive(Default)]
pub struct Load {
    pub acks: Vec<Ack>,
    pub errors: usize,
    pub first_error: Option<String>,
    pub elapsed: Duration,
}

impl Load {
    pub fn merge(&mut self, other: Load) {
        self.acks.extend(other.acks);
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    pub fn error(&mut self, e: String) {
        self.errors += 1;
        self.first_error.get_or_insert(e);
    }

    pub fn delivery_ids(&self) -> usize {
        self.acks.iter().map(|a| a.ids.len()).sum()
    }

    pub fn last_ack(&self) -> Option<Instant> {
        self.acks.iter().map(|a| a.acked).max()
    }
}

pub fn ids_of(evaluation: &Value) -> impl Iterator<Item = String> + '_ {
    evaluation["deliveries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["id"].as_str().map(str::to_string))
}

/// POSTs `body` to `url`; the delivery ids of a 202 answer.
pub async fn post_events(
    client: &reqwest::Client,
    url: &str,
    body: String,
    batch: bool,
) -> Result<Vec<String>, String> {
    let r = client
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| format!("request: {e}"))?;
    let status = r.status().as_u16();
    let bytes = r.bytes().await.map_err(|e| format!("answer: {e}"))?;
    if status != 202 {
        return Err(format!("{status}: {}", String::from_utf8_lossy(&bytes)));
    }
    let v: Value = serde_json::from_slice(&bytes).map_err(|e| format!("answer json: {e}"))?;
    if batch {
        Ok(v["results"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(ids_of)
            .collect())
    } else {
        Ok(ids_of(&v).collect())
    }
}

/// `n` events as `requests` requests of `per_request` events each (1 =
/// single `POST /events`), `concurrency` requests at once (closed loop).
pub async fn ingest(
    client: &reqwest::Client,
    base: &str,
    n: usize,
    per_request: usize,
    concurrency: usize,
) -> Load {
    let requests = n.div_ceil(per_request);
    let next = Arc::new(AtomicUsize::new(0));
    let (url, batch) = if per_request == 1 {
        (format!("{base}/api/v1/events"), false)
    } else {
        (format!("{base}/api/v1/events/batch"), true)
    };
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.min(requests) {
        let (client, url, next) = (client.clone(), url.clone(), next.clone());
        tasks.spawn(async move {
            let mut load = Load::default();
            // Bounded: each turn takes one of the `requests` indexes.
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= requests {
                    break;
                }
                let count = per_request.min(n - i * per_request);
                let body = if batch {
                    let items: Vec<String> = (0..count).map(|_| event_json()).collect();
                    format!("[{}]", items.join(","))
                } else {
                    event_json()
                };
                let sent = Instant::now();
                match post_events(&client, &url, body, batch).await {
                    Ok(ids) => load.acks.push(Ack {
                        sent,
                        acked: Instant::now(),
                        ids,
                    }),
                    Err(e) => load.error(e),
                }
            }
            load
        });
    }
    let mut total = Load::default();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(load) => total.merge(load),
            Err(e) => total.error(format!("task: {e}")),
        }
    }
    total.elapsed = started.elapsed();
    total
}

/// `n` single events at a steady `rate` per second (open loop: one request
/// starts every 1/rate s whatever the answers do; at most 1,000 outstanding).
pub async fn ingest_paced(client: &reqwest::Client, base: &str, n: usize, rate: u64) -> Load {
    let url = format!("{base}/api/v1/events");
    let permits = Arc::new(tokio::sync::Semaphore::new(1000));
    let started = Instant::now();
    let period = Duration::from_nanos(1_000_000_000 / rate.max(1));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        tokio::time::sleep_until((started + period * i as u32).into()).await;
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        let (client, url) = (client.clone(), url.clone());
        tasks.spawn(async move {
            let sent = Instant::now();
            let r = post_events(&client, &url, event_json(), false).await;
            drop(permit);
            r.map(|ids| Ack {
                sent,
                acked: Instant::now(),
                ids,
            })
        });
    }
    let mut total = Load::default();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Ok(ack)) => total.acks.push(ack),
            Ok(Err(e)) => total.error(e),
            Err(e) => total.error(format!("task: {e}")),
        }
    }
    total.elapsed = started.elapsed();
    total
}

/// Waits until `expected` unique deliveries arrived, nothing new arrived
/// for `idle`, or `cap` passed. True when all arrived.
pub async fn wait_arrivals(rx: &Receiver, expected: usize, cap: Duration, idle: Duration) -> bool {
    let started = Instant::now();
    let (mut seen, mut since) = (rx.unique(), Instant::now());
    while started.elapsed() < cap {
        let now = rx.unique();
        if now >= expected {
            return true;
        }
        if now != seen {
            (seen, since) = (now, Instant::now());
        } else if since.elapsed() > idle {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

pub fn arrival_cap(expected: usize) -> Duration {
    // ≥ 60 s, else 1,000 deliveries/s: far beyond any plausible run.
    Duration::from_secs(60.max(expected as u64 / 1000))
}

/// Acked ids not (yet) arrived, and arrived ids that no ack named.
pub fn missing_and_unknown(rx: &Receiver, load: &Load) -> (usize, usize) {
    let a = lock(&rx.arrivals);
    let mut acked = HashSet::with_capacity(load.delivery_ids());
    for id in load.acks.iter().flat_map(|a| a.ids.iter()) {
        acked.insert(id.as_str());
    }
    let missing = acked
        .iter()
        .filter(|id| !a.first.contains_key(**id))
        .count();
    let unknown = a
        .first
        .keys()
        .filter(|id| !acked.contains(id.as_ref()))
        .count();
    (missing, unknown)
}
