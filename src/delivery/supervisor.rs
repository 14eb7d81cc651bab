//! The RetrySupervisor actor: starts and stops one WebhookQueue per enabled
//! webhook, and keeps the one timer that wakes each queue when its next
//! delivery falls due.
//!
//! Queues report the earliest due time they know of (`Schedule`); the
//! supervisor keeps the earliest per webhook and arms a single timer for the
//! earliest of all. Its memory is one entry per webhook, however many
//! deliveries are pending. It starts queues through the [`QueueSpawner`] it
//! is given and drives them through their [`QueueHandle`], so it never
//! names the queue type.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use super::client::HttpClient;
use super::messages::{
    Claims, DeliveriesCreated, DeliveryDue, InFlight, QueueHandle, QueueSettings, QueueSpawner,
    QueueStart, Schedule, Stop, UpdateWebhook, Wake,
};
use crate::model::{now_millis, Webhook};
use crate::store::Store;

pub struct RetrySupervisor {
    store: Store,
    client: HttpClient,
    settings: Arc<QueueSettings>,
    spawn: QueueSpawner,
    queues: HashMap<String, QueueHandle>,
    /// Per webhook, the ids its queues hold; kept while a stopped queue may
    /// still have requests running (see [`Claims`]).
    claims: HashMap<String, Arc<Claims>>,
    /// (wake time ms, webhook id), earliest first…
    timeline: BTreeSet<(u64, String)>,
    /// …and the same per webhook, to replace an entry.
    wake_at: HashMap<String, u64>,
    timer: Option<SpawnHandle>,
    /// The delivery threads the queues run on, round robin.
    arbiters: Vec<actix::Arbiter>,
    next_arbiter: usize,
    /// Shutdown has begun: no queue starts again.
    draining: bool,
    /// Every stored webhook's name by id, to drop a deleted one's series.
    names: HashMap<String, String>,
}

/// The current webhooks: start queues for the enabled ones, stop the rest.
/// Sent by the one owner of configuration changes, in commit order.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SyncWebhooks(pub Vec<Webhook>);

/// Shutdown: stop every queue, let running attempts finish and be recorded
/// for at most `grace`; answers how many were still running then (they stay
/// pending in the store and are sent after the next start).
#[derive(Message)]
#[rtype(result = "usize")]
pub struct Drain {
    pub grace: Duration,
}

impl RetrySupervisor {
    pub fn new(
        store: Store,
        client: HttpClient,
        settings: QueueSettings,
        spawn: QueueSpawner,
    ) -> Self {
        // One delivery thread per core: queues are spread over them, so many
        // webhooks use every core while each queue stays single-threaded.
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, 8);
        RetrySupervisor {
            store,
            client,
            settings: Arc::new(settings),
            spawn,
            queues: HashMap::new(),
            claims: HashMap::new(),
            timeline: BTreeSet::new(),
            wake_at: HashMap::new(),
            timer: None,
            arbiters: (0..threads).map(|_| actix::Arbiter::new()).collect(),
            next_arbiter: 0,
            draining: false,
            names: HashMap::new(),
        }
    }

    fn start_queue(&mut self, webhook: Webhook, ctx: &mut Context<Self>) {
        let id = webhook.id.clone();
        let arbiter = self.arbiters[self.next_arbiter % self.arbiters.len()].handle();
        self.next_arbiter += 1;
        let claims = self.claims.entry(id.clone()).or_default().clone();
        let handle = (self.spawn)(QueueStart {
            webhook: Arc::new(webhook),
            store: self.store.clone(),
            client: self.client.clone(),
            settings: self.settings.clone(),
            supervisor: ctx.address().recipient(),
            claims,
            arbiter,
        });
        self.queues.insert(id, handle);
    }

    fn forget(&mut self, webhook_id: &str) {
        if let Some(at) = self.wake_at.remove(webhook_id) {
            self.timeline.remove(&(at, webhook_id.to_string()));
        }
    }

    /// Arms the timer for the earliest wake-up.
    fn arm(&mut self, ctx: &mut Context<Self>) {
        if let Some(handle) = self.timer.take() {
            ctx.cancel_future(handle);
        }
        let Some((at, _)) = self.timeline.first() else {
            return;
        };
        let delay = Duration::from_millis(at.saturating_sub(now_millis()));
        self.timer = Some(ctx.run_later(delay, |sup, ctx| {
            sup.timer = None;
            sup.fire(ctx);
        }));
    }

    /// Wakes every queue whose time has come.
    fn fire(&mut self, ctx: &mut Context<Self>) {
        let now = now_millis();
        while let Some((at, webhook_id)) = self.timeline.first().cloned() {
            if at > now {
                break;
            }
            self.timeline.remove(&(at, webhook_id.clone()));
            self.wake_at.remove(&webhook_id);
            self.wake(&webhook_id);
        }
        self.arm(ctx);
    }

    fn wake(&self, webhook_id: &str) {
        if let Some(queue) = self.queues.get(webhook_id) {
            queue.wake.do_send(Wake);
        }
    }
}

/// How often old events, deliveries and attempts are pruned, how many events
/// one commit looks at (short commits keep ingestion flowing), and how many
/// commits one sweep makes at most; the next sweep goes on from there.
const RETENTION_SWEEP_EVERY: Duration = Duration::from_secs(30);
const RETENTION_BATCH: usize = 2000;
const RETENTION_BATCHES_PER_SWEEP: usize = 50;

/// Prunes forever, one sweep every [`RETENTION_SWEEP_EVERY`], carrying its
/// place from sweep to sweep so events that must be kept are stepped over.
async fn prune_retention(store: Store, retention: Duration) {
    let mut cursor = crate::store::RetentionCursor::default();
    loop {
        actix_web::rt::time::sleep(RETENTION_SWEEP_EVERY).await;
        match store
            .sweep_retention(
                retention,
                RETENTION_BATCH,
                RETENTION_BATCHES_PER_SWEEP,
                &mut cursor,
            )
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(events = n, "pruned events older than the retention"),
            Err(e) => tracing::warn!(error = %e, "retention pruning failed; will retry"),
        }
    }
}

impl Actor for RetrySupervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        tracing::debug!("retry supervisor started");
        let (store, retention) = (self.store.clone(), self.settings.retention);
        ctx.spawn(actix::fut::wrap_future(prune_retention(store, retention)));
    }
}

impl Handler<SyncWebhooks> for RetrySupervisor {
    type Result = ();

    fn handle(&mut self, msg: SyncWebhooks, ctx: &mut Context<Self>) {
        if self.draining {
            return;
        }
        tracing::debug!(
            webhooks = msg.0.len(),
            running = self.queues.len(),
            "syncing delivery queues"
        );
        let names: HashMap<String, String> = msg
            .0
            .iter()
            .map(|w| (w.id.clone(), w.name.clone()))
            .collect();
        for (id, name) in &self.names {
            if !names.contains_key(id) {
                crate::metrics::metrics().forget_webhook(name); // deleted
            }
        }
        self.names = names;
        let enabled: HashMap<String, Webhook> = msg
            .0
            .into_iter()
            .filter(|w| w.enabled)
            .map(|w| (w.id.clone(), w))
            .collect();
        let gone: Vec<String> = self
            .queues
            .keys()
            .filter(|id| !enabled.contains_key(*id))
            .cloned()
            .collect();
        for id in gone {
            // The queue records its running attempts, then stops; its other
            // pending deliveries stay in the store until the webhook returns.
            if let Some(queue) = self.queues.remove(&id) {
                queue.stop.do_send(Stop);
            }
            self.forget(&id);
            tracing::info!(webhook = %id, "delivery queue stopped");
        }
        // Claims of webhooks with no queue and nothing held are dropped.
        let queues = &self.queues;
        self.claims
            .retain(|id, claims| queues.contains_key(id) || !claims.is_empty());
        for (id, webhook) in enabled {
            match self.queues.get(&id) {
                Some(queue) => queue.update.do_send(UpdateWebhook(Arc::new(webhook))),
                None => self.start_queue(webhook, ctx),
            }
        }
        self.arm(ctx);
    }
}

impl Handler<DeliveriesCreated> for RetrySupervisor {
    type Result = ();

    fn handle(&mut self, msg: DeliveriesCreated, _: &mut Context<Self>) {
        let mut woken = std::collections::HashSet::new();
        for (webhook_id, _) in msg.0 {
            if woken.insert(webhook_id.clone()) {
                self.wake(&webhook_id);
            }
        }
    }
}

impl Handler<DeliveryDue> for RetrySupervisor {
    type Result = ();

    fn handle(&mut self, msg: DeliveryDue, _: &mut Context<Self>) {
        self.wake(&msg.webhook_id);
    }
}

impl Handler<super::messages::HealthReset> for RetrySupervisor {
    type Result = ();

    /// Passes a reset to the webhook's queue, if it runs.
    fn handle(&mut self, msg: super::messages::HealthReset, _: &mut Context<Self>) {
        if let Some(queue) = self.queues.get(&msg.webhook_id) {
            queue.health.do_send(msg);
        }
    }
}

impl Handler<Schedule> for RetrySupervisor {
    type Result = ();

    fn handle(&mut self, msg: Schedule, ctx: &mut Context<Self>) {
        if !self.queues.contains_key(&msg.webhook_id) {
            return;
        }
        match self.wake_at.get(&msg.webhook_id) {
            Some(&current) if current <= msg.at_ms => return,
            _ => {}
        }
        self.forget(&msg.webhook_id);
        self.wake_at.insert(msg.webhook_id.clone(), msg.at_ms);
        self.timeline.insert((msg.at_ms, msg.webhook_id));
        self.arm(ctx);
    }
}

impl Handler<Drain> for RetrySupervisor {
    type Result = ResponseFuture<usize>;

    fn handle(&mut self, msg: Drain, ctx: &mut Context<Self>) -> Self::Result {
        self.draining = true;
        if let Some(handle) = self.timer.take() {
            ctx.cancel_future(handle);
        }
        let queues: Vec<_> = self.queues.drain().map(|(_, q)| q).collect();
        for q in &queues {
            q.stop.do_send(Stop);
        }
        let deadline = std::time::Instant::now() + msg.grace;
        Box::pin(async move {
            loop {
                let mut running = 0;
                for q in &queues {
                    // A stopped queue no longer answers: nothing runs there.
                    running += q.in_flight.send(InFlight).await.unwrap_or(0);
                }
                if running == 0 || std::time::Instant::now() >= deadline {
                    return running;
                }
                actix_web::rt::time::sleep(Duration::from_millis(10)).await;
            }
        })
    }
}

#[cfg(test)]
#[path = "supervisor_tests.rs"]
mod tests;
