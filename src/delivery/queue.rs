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
//! - `in_flight`: requests started whose outcome is not committed yet
//!   (≤ `max_in_flight`), so a crash re-sends at most that many received ones;
//! - `claims`: the ids of both, shared with other queues of the webhook;
//! - the due index itself: the truth, including in-flight ids, so a crash
//!   mid-request means the delivery is sent again after restart;
//! - `health`: the endpoint's health (`delivery::health`), asked before a
//!   request starts and changed by every answer, stored with the outcomes.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use super::client::HttpClient;
use super::health::{gate, observe, Gate, Health, HealthState, Observed, StateChange};
use super::messages::{
    Claims, HealthReset, InFlight, QueueHandle, QueueSettings, QueueStart, Schedule, Stop,
    UpdateWebhook, Wake,
};
use super::prepared::PreparedWebhook;
use super::rate::TokenBucket;
use super::send::{send_attempt, FailureSummary, Sent};
use crate::metrics::WebhookMetrics;
use crate::model::{now_millis, DeliveryStatus, Webhook};
use crate::store::{AttemptRecord, NextState, Store};

/// Most ready ids held in memory per webhook.
const WINDOW: usize = 256;
/// After the store refused to record an outcome (disk full), wait this long
/// before trying the webhook's due deliveries again instead of re-sending
/// them in a tight loop.
const STORAGE_BACKOFF: Duration = Duration::from_secs(5);
/// Outcomes waiting for the writer, shared with the one writer job of this
/// queue that is queued and not yet applied (`armed`). The job takes what is
/// here when the writer applies it, so an answer never waits for more than
/// the commit running now and the next one: a request's slot is only freed
/// once its outcome is committed, and this keeps that wait short.
#[derive(Default)]
struct Outbox {
    records: std::sync::Mutex<Vec<AttemptRecord>>,
    /// The webhook's health after the newest outcome, stored with them.
    health: std::sync::Mutex<Option<Health>>,
    armed: std::sync::atomic::AtomicBool,
}

impl Outbox {
    fn set_health(&self, health: Health) {
        *self
            .health
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(health);
    }

    fn take_health(&self) -> Option<Health> {
        self.health
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    fn push(&self, record: AttemptRecord) {
        self.records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(record);
    }

    /// Disarms first, then drains: an outcome pushed meanwhile either goes
    /// into this take or finds the outbox disarmed and queues the next job.
    fn take(&self) -> Vec<AttemptRecord> {
        self.armed
            .store(false, std::sync::atomic::Ordering::Release);
        std::mem::take(
            &mut *self
                .records
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// True when the caller must queue a job (none is waiting).
    fn arm(&self) -> bool {
        !self.armed.swap(true, std::sync::atomic::Ordering::AcqRel)
    }
}

pub struct WebhookQueue {
    /// Rebuilt when the webhook changes, shared by its running attempts.
    webhook: Arc<PreparedWebhook>,
    store: Store,
    client: HttpClient,
    settings: Arc<QueueSettings>,
    supervisor: Recipient<Schedule>,
    ready: VecDeque<String>,
    /// Ids in `ready` or in flight, shared with any other queue of this
    /// webhook in this process (one that is stopping, say).
    claims: Arc<Claims>,
    /// Requests started whose outcome is not committed yet. A request holds
    /// its slot until then: only these can arrive twice after a crash.
    in_flight: usize,
    /// Outcomes waiting for their writer job.
    outbox: Arc<Outbox>,
    /// No refills before this time (storage trouble).
    paused_until: u64,
    /// Stop once the running attempts are recorded; start no new ones.
    stopping: bool,
    metrics: WebhookMetrics,
    /// The endpoint's health; see `delivery::health`.
    health: Health,
    /// The probe of an open circuit is running.
    probing: bool,
    /// The webhook's `rate_limit`, if it has one.
    bucket: Option<TokenBucket>,
    failures: FailureSummary,
    /// The retry schedule: the webhook's own, or the configured one.
    retry: Arc<super::outcome::RetryPolicy>,
}

/// The webhook's `rate_limit` as a full bucket.
fn bucket_of(webhook: &Webhook) -> Option<TokenBucket> {
    webhook
        .rate()
        .map(|(requests, per)| TokenBucket::new(requests, per, now_millis()))
}

/// The webhook's own retry schedule with the configured jitter, else the
/// configured policy.
fn retry_of(webhook: &Webhook, settings: &QueueSettings) -> Arc<super::outcome::RetryPolicy> {
    match webhook.own_retry_schedule() {
        Some(schedule) => Arc::new(super::outcome::RetryPolicy {
            schedule,
            jitter: settings.policy.jitter,
        }),
        None => settings.policy.clone(),
    }
}

/// Starts a queue on `start.arbiter`; the handle is how the supervisor
/// drives it.
pub fn spawn(start: QueueStart) -> QueueHandle {
    let QueueStart {
        webhook,
        store,
        client,
        settings,
        supervisor,
        claims,
        arbiter,
    } = start;
    let settings_timeout = settings.timeout;
    let health = store.webhook_health(&webhook.id).unwrap_or_else(|e| {
        tracing::warn!(webhook = %webhook.name, error = %e, "cannot read the webhook's health; starting healthy");
        Health::default()
    });
    let metrics = crate::metrics::metrics().webhook(&webhook.name);
    metrics.set_state(health.state);
    let (bucket, retry) = (bucket_of(&webhook), retry_of(&webhook, &settings));
    let prepared = Arc::new(PreparedWebhook::new(webhook, settings_timeout, &client));
    let addr = WebhookQueue::start_in_arbiter(&arbiter, move |_| WebhookQueue {
        store,
        client,
        settings,
        supervisor,
        ready: VecDeque::new(),
        claims,
        in_flight: 0,
        outbox: Arc::new(Outbox::default()),
        paused_until: 0,
        stopping: false,
        metrics,
        health,
        probing: false,
        bucket,
        retry,
        failures: FailureSummary::default(),
        webhook: prepared,
    });
    QueueHandle {
        health: addr.clone().recipient(),
        wake: addr.clone().recipient(),
        update: addr.clone().recipient(),
        stop: addr.clone().recipient(),
        in_flight: addr.recipient(),
    }
}

impl WebhookQueue {
    /// Reads due deliveries into the window; tells the supervisor when the
    /// next one falls due if everything due now is taken.
    fn refill(&mut self) {
        let now = now_millis();
        if self.stopping || now < self.paused_until || self.ready.len() >= WINDOW {
            return;
        }
        let want = WINDOW - self.ready.len();
        // Claimed ids are still in the index; read past them.
        let limit = want + self.claims.len();
        let entries = match self.store.due(&self.webhook.webhook.id, now, limit) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(webhook = %self.webhook.webhook.name, error = %e, "cannot read due deliveries");
                self.pause();
                return;
            }
        };
        let exhausted = entries.len() < limit;
        for entry in entries {
            if self.claims.claim(&entry.delivery_id) {
                self.ready.push_back(entry.delivery_id);
            }
        }
        if exhausted {
            match self.store.next_due_after(&self.webhook.webhook.id, now) {
                Ok(Some(at)) => self.schedule(at),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(webhook = %self.webhook.webhook.name, error = %e, "cannot read the due index")
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
            webhook_id: self.webhook.webhook.id.clone(),
            at_ms,
        });
    }

    /// Starts attempts while there is room, refilling the window when empty.
    fn pump(&mut self, ctx: &mut Context<Self>) {
        if self.stopping {
            if self.in_flight == 0 {
                self.metrics.remove();
                ctx.stop();
            }
            return;
        }
        if self.ready.is_empty() {
            self.refill();
        }
        // The endpoint's health first: an open circuit or a Retry-After
        // pause sends nothing (one probe when the open period is over).
        let (room, probe) = match gate(&self.health, now_millis()) {
            Gate::Flow => (self.settings.max_in_flight, false),
            Gate::Probe if self.in_flight == 0 && !self.probing => (1, true),
            Gate::HoldUntil(at) => {
                self.schedule(at);
                (0, false)
            }
            Gate::Probe | Gate::Closed => (0, false),
        };
        while self.in_flight < room && !self.ready.is_empty() {
            if let Some(bucket) = &mut self.bucket {
                let now = now_millis();
                if let Err(wait) = bucket.take(now) {
                    self.schedule(now.saturating_add(wait));
                    break;
                }
            }
            let Some(id) = self.ready.pop_front() else {
                break;
            };
            self.in_flight += 1;
            self.probing |= probe;
            let attempt = send_attempt(
                self.store.clone(),
                self.client.clone(),
                self.webhook.clone(),
                self.retry.clone(),
                id.clone(),
                self.metrics.clone(),
            );
            ctx.spawn(attempt.into_actor(self).map(move |sent, queue, ctx| {
                if probe {
                    queue.probing = false;
                }
                match sent {
                    // The slot stays taken until the outcome is committed.
                    Sent::Answered(mut record, seen) => {
                        queue.observe(&mut record, seen, probe);
                        queue.record(record, ctx);
                    }
                    Sent::Skipped => queue.finish(&id),
                    Sent::StorageFailed => {
                        queue.finish(&id);
                        queue.pause();
                    }
                }
                queue.pump(ctx);
            }));
        }
        self.metrics.ready.set(self.ready.len() as i64);
        self.metrics.in_flight.set(self.in_flight as i64);
    }

    /// What an answer means for the webhook: its health moves on, and a
    /// failed probe waits for the next one instead of using up a retry; a
    /// `410 Gone` ends the delivery.
    fn observe(&mut self, record: &mut AttemptRecord, seen: Observed, probe: bool) {
        let at = record.started_ms.saturating_add(record.duration_ms);
        let health = std::mem::take(&mut self.health);
        let (health, change) = observe(&self.settings.breaker, health, seen, at, probe);
        let succeeded = matches!(record.next, NextState::Succeeded);
        if !succeeded {
            let error = record
                .error
                .clone()
                .or_else(|| record.status_code.map(|s| format!("status {s}")))
                .unwrap_or_default();
            self.failures
                .failed(&self.webhook.webhook.name, health.state, error, at);
        }
        if probe && !succeeded {
            record.probe = true;
            record.next = NextState::RetryAt(health.open_until_ms.unwrap_or(at));
        }
        if matches!(seen, Observed::Gone | Observed::Blocked) {
            // Gone ends the delivery; a blocked one would be refused again.
            record.next = NextState::Failed;
        }
        if let Some(change) = change {
            self.tell(&change, &health);
        }
        self.outbox.set_health(health.clone());
        self.health = health;
    }

    /// A change of health: the gauge always; changes to and from `open` and
    /// `disabled` at warn and to the engine (which ingests them as events),
    /// the others at debug.
    fn tell(&self, change: &StateChange, health: &Health) {
        let name = &self.webhook.webhook.name;
        let (from, to) = (change.previous.as_str(), change.state.as_str());
        self.metrics.set_state(change.state);
        let notable = |s: HealthState| matches!(s, HealthState::Open | HealthState::Disabled);
        if !notable(change.previous) && !notable(change.state) {
            tracing::debug!(webhook = %name, from, to, "webhook health changed");
            return;
        }
        let open_until = health.open_until_ms.map(crate::model::format_millis);
        tracing::warn!(webhook = %name, from, to, reason = %change.reason, open_until, "webhook health changed");
        if let Some(sink) = &self.settings.state_changes {
            sink.do_send(super::messages::WebhookStateChanged {
                webhook_id: self.webhook.webhook.id.clone(),
                name: name.clone(),
                previous: change.previous,
                state: change.state,
                reason: change.reason.clone(),
            });
        }
    }

    /// A request is over and its outcome settled: free its slot and its id.
    fn finish(&mut self, id: &str) {
        self.in_flight -= 1;
        self.claims.release(id);
    }

    /// Queues an attempt's outcome for storing.
    fn record(&mut self, record: AttemptRecord, ctx: &mut Context<Self>) {
        self.outbox.push(record);
        if self.outbox.arm() {
            self.flush(ctx);
        }
    }

    /// Queues the writer job that takes the outbox when the writer gets to
    /// it. Several jobs of one queue may be in flight (one queued, others
    /// committing), so commits pipeline.
    fn flush(&mut self, ctx: &mut Context<Self>) {
        let store = self.store.clone();
        let outbox = self.outbox.clone();
        let webhook_id = self.webhook.webhook.id.clone();
        let taken: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
        let job_taken = taken.clone();
        let recorded = async move {
            store
                .record_outcomes_taken(move || {
                    let records = outbox.take();
                    if let Ok(mut ids) = job_taken.lock() {
                        ids.extend(records.iter().map(|r| r.delivery_id.clone()));
                    }
                    (records, outbox.take_health().map(|h| (webhook_id, h)))
                })
                .await
        };
        ctx.spawn(recorded.into_actor(self).map(move |result, queue, ctx| {
            let mut ids = std::mem::take(
                &mut *taken
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
            );
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
                    // The job may not have run at all: what still waits in
                    // the outbox is given up too, so no slot stays taken.
                    ids.extend(queue.outbox.take().into_iter().map(|r| r.delivery_id));
                    tracing::warn!(count = ids.len(), error = %e, "attempt outcomes not stored; those deliveries will be sent again");
                    queue.pause();
                }
            }
            for id in &ids {
                queue.finish(id);
            }
            queue.pump(ctx);
        }));
    }
}

impl Actor for WebhookQueue {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        tracing::debug!(webhook = %self.webhook.webhook.name, "delivery queue started");
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
        if msg.0.name != self.webhook.webhook.name {
            // A renamed webhook's series go, not freeze at their last value.
            self.metrics.remove();
            crate::metrics::metrics().forget_webhook(&self.webhook.webhook.name);
            self.metrics = crate::metrics::metrics().webhook(&msg.0.name);
        }
        if msg.0.rate_limit != self.webhook.webhook.rate_limit {
            self.bucket = bucket_of(&msg.0);
        }
        self.retry = retry_of(&msg.0, &self.settings);
        self.webhook = Arc::new(PreparedWebhook::new(
            msg.0,
            self.settings.timeout,
            &self.client,
        ));
        self.pump(ctx);
    }
}

impl Handler<HealthReset> for WebhookQueue {
    type Result = ();

    fn handle(&mut self, _: HealthReset, ctx: &mut Context<Self>) {
        match self.store.webhook_health(&self.webhook.webhook.id) {
            Ok(health) => {
                tracing::info!(webhook = %self.webhook.webhook.name, state = health.state.as_str(), "webhook health reset");
                self.metrics.set_state(health.state);
                self.health = health;
            }
            Err(e) => {
                tracing::warn!(webhook = %self.webhook.webhook.name, error = %e, "cannot read the webhook's health")
            }
        }
        self.refill();
        self.pump(ctx);
    }
}

impl Handler<InFlight> for WebhookQueue {
    type Result = usize;

    fn handle(&mut self, _: InFlight, _: &mut Context<Self>) -> usize {
        self.in_flight
    }
}

impl Handler<Stop> for WebhookQueue {
    type Result = ();

    fn handle(&mut self, _: Stop, ctx: &mut Context<Self>) {
        self.stopping = true;
        // Ids not started go back; running ones stay claimed until their
        // outcome is committed, so a new queue cannot send them meanwhile.
        for id in self.ready.drain(..) {
            self.claims.release(&id);
        }
        tracing::debug!(webhook = %self.webhook.webhook.name, in_flight = self.in_flight, "delivery queue stopping");
        self.pump(ctx);
    }
}
