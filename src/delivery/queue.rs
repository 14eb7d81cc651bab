//! The WebhookQueue actor: one per enabled webhook.
//!
//! It keeps a bounded window of ready delivery ids, refilled from the store's
//! due index, and runs at most `max_in_flight_per_webhook` attempts at once.
//! Each webhook has its own queue, so a slow or dead receiver only ever holds
//! up its own deliveries. Pending work lives in redb: a million pending
//! deliveries cost this actor a window of ids, not a million of anything.
//!
//! State, explicitly:
//! - `ready`: due ids read from the index, not yet started (≤ `WINDOW`);
//! - `in_flight`: ids whose request runs now (≤ `max_in_flight`);
//! - the due index itself: the truth, including in-flight ids, so a crash
//!   mid-request means the delivery is sent again after restart.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use actix::prelude::*;

use super::client::HttpClient;
use super::request::build_request;
use super::supervisor::{RetrySupervisor, Schedule};
use crate::metrics::WebhookMetrics;
use crate::model::{millis_of, now_millis, Delivery, DeliveryStatus, Webhook};
use crate::store::{AttemptRecord, RetryPolicy, Store};

/// Most ready ids held in memory per webhook.
const WINDOW: usize = 256;
/// After the store refused to record an outcome (disk full), wait this long
/// before trying the webhook's due deliveries again instead of re-sending
/// them in a tight loop.
const STORAGE_BACKOFF: Duration = Duration::from_secs(5);

/// What every queue shares: the delivery settings of the configuration.
#[derive(Debug)]
pub struct QueueSettings {
    pub timeout: Duration,
    pub max_in_flight: usize,
    pub policy: Arc<RetryPolicy>,
    /// Finished events older than this are pruned.
    pub retention: Duration,
}

pub struct WebhookQueue {
    webhook: Arc<Webhook>,
    store: Store,
    client: HttpClient,
    settings: Arc<QueueSettings>,
    supervisor: Addr<RetrySupervisor>,
    ready: VecDeque<String>,
    /// Ids in `ready` or `in_flight`, so a refill does not take them twice.
    held: HashSet<String>,
    in_flight: usize,
    /// Outcomes not yet committed (gathered or being stored).
    recording: usize,
    /// Outcomes gathered while a store job runs.
    unrecorded: Vec<AttemptRecord>,
    /// Whether a store job of this queue runs.
    flushing: bool,
    /// No refills before this time (storage trouble).
    paused_until: u64,
    /// Stop once the running attempts are recorded; start no new ones.
    stopping: bool,
    metrics: WebhookMetrics,
}

/// Look at the due index now.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Wake;

/// The webhook's settings changed (URL, auth, timeout…); pending deliveries
/// use the new ones.
#[derive(Message)]
#[rtype(result = "()")]
pub struct UpdateWebhook(pub Arc<Webhook>);

/// Finish the running attempts, then stop (webhook disabled or deleted).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Stop;

/// How many attempts are running (for shutdown and tests).
#[derive(Message)]
#[rtype(result = "usize")]
pub struct InFlight;

impl WebhookQueue {
    pub fn new(
        webhook: Arc<Webhook>,
        store: Store,
        client: HttpClient,
        settings: Arc<QueueSettings>,
        supervisor: Addr<RetrySupervisor>,
    ) -> Self {
        WebhookQueue {
            store,
            client,
            settings,
            supervisor,
            ready: VecDeque::new(),
            held: HashSet::new(),
            in_flight: 0,
            recording: 0,
            unrecorded: Vec::new(),
            flushing: false,
            paused_until: 0,
            stopping: false,
            metrics: crate::metrics::metrics().webhook(&webhook.name),
            webhook,
        }
    }

    /// Reads due deliveries into the window; tells the supervisor when the
    /// next one falls due if everything due now is taken.
    fn refill(&mut self) {
        let now = now_millis();
        if now < self.paused_until || self.ready.len() >= WINDOW {
            return;
        }
        let want = WINDOW - self.ready.len();
        // Held ids are still in the index; read past them.
        let limit = want + self.held.len();
        let entries = match self.store.due(&self.webhook.id, now, limit) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(webhook = %self.webhook.name, error = %e, "cannot read due deliveries");
                self.pause();
                return;
            }
        };
        let exhausted = entries.len() < limit;
        for entry in entries {
            if self.held.insert(entry.delivery_id.clone()) {
                self.ready.push_back(entry.delivery_id);
            }
        }
        if exhausted {
            match self.store.next_due_after(&self.webhook.id, now) {
                Ok(Some(at)) => self.schedule(at),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(webhook = %self.webhook.name, error = %e, "cannot read the due index")
                }
            }
        }
    }

    fn pause(&mut self) {
        let until = now_millis() + u64::try_from(STORAGE_BACKOFF.as_millis()).unwrap_or(5000);
        self.paused_until = until;
        self.schedule(until);
    }

    fn schedule(&self, at_ms: u64) {
        self.supervisor.do_send(Schedule {
            webhook_id: self.webhook.id.clone(),
            at_ms,
        });
    }

    /// Starts attempts while there is room, refilling the window when empty.
    fn pump(&mut self, ctx: &mut Context<Self>) {
        if self.stopping {
            if self.in_flight == 0 && self.recording == 0 {
                ctx.stop();
            }
            return;
        }
        if self.ready.is_empty() {
            self.refill();
        }
        while self.in_flight < self.settings.max_in_flight {
            let Some(id) = self.ready.pop_front() else {
                break;
            };
            self.in_flight += 1;
            let attempt = send_attempt(
                self.store.clone(),
                self.client.clone(),
                self.webhook.clone(),
                self.settings.clone(),
                id.clone(),
                self.metrics.clone(),
            );
            ctx.spawn(attempt.into_actor(self).map(move |sent, queue, ctx| {
                // The request is over: its slot is free now, while the
                // outcome waits for its commit (the id stays held until then).
                queue.in_flight -= 1;
                match sent {
                    Sent::Answered(record) => queue.record(record, ctx),
                    Sent::Skipped => {
                        queue.held.remove(&id);
                    }
                    Sent::StorageFailed => {
                        queue.held.remove(&id);
                        queue.pause();
                    }
                }
                queue.pump(ctx);
            }));
        }
        self.metrics.ready.set(self.ready.len() as i64);
        self.metrics.in_flight.set(self.in_flight as i64);
    }

    /// Queues an attempt's outcome for storing; the delivery stays held (not
    /// picked up again) until its new state is committed.
    fn record(&mut self, record: AttemptRecord, ctx: &mut Context<Self>) {
        self.recording += 1;
        self.unrecorded.push(record);
        if !self.flushing {
            self.flush(ctx);
        }
    }

    /// Stores every outcome gathered so far in one writer job; outcomes that
    /// finish meanwhile wait for the next one. At most one job runs per queue,
    /// so under load each commit carries many outcomes of this webhook.
    fn flush(&mut self, ctx: &mut Context<Self>) {
        if self.unrecorded.is_empty() {
            return;
        }
        self.flushing = true;
        let batch = std::mem::take(&mut self.unrecorded);
        let ids: Vec<String> = batch.iter().map(|r| r.delivery_id.clone()).collect();
        let store = self.store.clone();
        let policy = self.settings.policy.clone();
        let recorded = async move { store.record_attempts(batch, policy).await };
        ctx.spawn(recorded.into_actor(self).map(move |result, queue, ctx| {
            queue.flushing = false;
            queue.recording -= ids.len();
            for id in &ids {
                queue.held.remove(id);
            }
            match result {
                Ok(deliveries) => {
                    let next = deliveries
                        .iter()
                        .filter(|d| d.status == DeliveryStatus::Pending)
                        .filter_map(|d| d.next_attempt_ms)
                        .min();
                    if let Some(at) = next {
                        queue.schedule(at);
                    }
                }
                Err(e) => {
                    tracing::warn!(count = ids.len(), error = %e, "attempt outcomes not stored; those deliveries will be sent again");
                    queue.pause();
                }
            }
            queue.flush(ctx);
            queue.pump(ctx);
        }));
    }
}

/// What became of one request.
enum Sent {
    /// An answer or a failure to record.
    Answered(AttemptRecord),
    /// Nothing to send (no longer pending, or gone).
    Skipped,
    /// The delivery could not be read.
    StorageFailed,
}

async fn send_attempt(
    store: Store,
    client: HttpClient,
    webhook: Arc<Webhook>,
    settings: Arc<QueueSettings>,
    id: String,
    metrics: WebhookMetrics,
) -> Sent {
    let (delivery, body) = match store.delivery_with_body(&id) {
        Ok(Some(found)) => found,
        Ok(None) => return Sent::Skipped,
        Err(e) => {
            tracing::warn!(delivery = %id, error = %e, "cannot read a due delivery");
            return Sent::StorageFailed;
        }
    };
    if delivery.status != DeliveryStatus::Pending {
        return Sent::Skipped;
    }
    let timeout = webhook.timeout_or(settings.timeout);
    let request = build_request(
        &webhook,
        &delivery.id,
        triggered_at(&delivery),
        delivery.content_type,
        body.into(),
        SystemTime::now(),
    );
    let result = client.send(&request, timeout).await;
    log_attempt(&webhook, &delivery, &result);
    count_attempt(&metrics, &result);
    Sent::Answered(AttemptRecord {
        delivery_id: delivery.id.clone(),
        started_ms: millis_of(result.started_at),
        duration_ms: u64::try_from(result.duration.as_millis()).unwrap_or(u64::MAX),
        succeeded: result.succeeded(),
        status_code: result.status_code,
        error: result.error,
        response_body: result.response_body,
        retry_after: result.retry_after,
    })
}

fn count_attempt(metrics: &WebhookMetrics, result: &super::client::AttemptResult) {
    use super::client::ErrorClass;
    metrics.duration.observe(result.duration.as_secs_f64());
    let counter = match (result.succeeded(), result.status_code, result.error_class) {
        (true, _, _) => &metrics.success,
        (false, Some(_), _) => &metrics.http_error,
        (false, None, Some(ErrorClass::Timeout)) => &metrics.timeout,
        (false, None, _) => &metrics.connect_error,
    };
    counter.inc();
}

fn triggered_at(delivery: &Delivery) -> SystemTime {
    humantime::parse_rfc3339_weak(&delivery.triggered_at).unwrap_or_else(|_| SystemTime::now())
}

/// One line per attempt at debug; failures at warn. Never a secret: the URL
/// is logged without credentials and no header is logged.
fn log_attempt(webhook: &Webhook, delivery: &Delivery, result: &super::client::AttemptResult) {
    let n = delivery.attempt_count + 1;
    let ms = result.duration.as_millis() as u64;
    if result.succeeded() {
        tracing::debug!(delivery = %delivery.id, webhook = %webhook.name, attempt = n, status = result.status_code, duration_ms = ms, "delivered");
    } else {
        tracing::warn!(
            delivery = %delivery.id, webhook = %webhook.name, attempt = n,
            status = result.status_code, error = result.error.as_deref().unwrap_or(""), duration_ms = ms,
            "delivery attempt failed"
        );
    }
}

impl Actor for WebhookQueue {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        tracing::debug!(webhook = %self.webhook.name, "delivery queue started");
        self.pump(ctx);
    }
}

impl Handler<Wake> for WebhookQueue {
    type Result = ();

    fn handle(&mut self, _: Wake, ctx: &mut Context<Self>) {
        self.refill();
        self.pump(ctx);
    }
}

impl Handler<UpdateWebhook> for WebhookQueue {
    type Result = ();

    fn handle(&mut self, msg: UpdateWebhook, ctx: &mut Context<Self>) {
        if msg.0.name != self.webhook.name {
            self.metrics = crate::metrics::metrics().webhook(&msg.0.name);
        }
        self.webhook = msg.0;
        self.pump(ctx);
    }
}

impl Handler<InFlight> for WebhookQueue {
    type Result = usize;

    fn handle(&mut self, _: InFlight, _: &mut Context<Self>) -> usize {
        self.in_flight + self.recording
    }
}

impl Handler<Stop> for WebhookQueue {
    type Result = ();

    fn handle(&mut self, _: Stop, ctx: &mut Context<Self>) {
        self.stopping = true;
        self.ready.clear();
        self.held.clear();
        tracing::debug!(webhook = %self.webhook.name, in_flight = self.in_flight, "delivery queue stopping");
        self.pump(ctx);
    }
}
