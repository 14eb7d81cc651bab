//! The messages between the delivery actors, and the handle by which the
//! supervisor drives a queue. Both actors import this module and neither
//! imports the other: the supervisor starts queues through a
//! [`QueueSpawner`] it is given, and a queue reports to whatever
//! `Recipient<Schedule>` it was started with.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use actix::prelude::*;

use super::client::HttpClient;
use super::outcome::RetryPolicy;
use crate::model::Webhook;
use crate::store::Store;

/// What every queue shares: the delivery settings of the configuration.
#[derive(Debug)]
pub struct QueueSettings {
    pub timeout: std::time::Duration,
    pub max_in_flight: usize,
    pub policy: Arc<RetryPolicy>,
    /// Finished events older than this are pruned.
    pub retention: std::time::Duration,
    /// When a failing receiver is left alone (POLICIES.md, *Endpoint health*).
    pub breaker: Arc<super::health::BreakerPolicy>,
    /// Where changes to and from `open` and `disabled` are told (the engine).
    pub state_changes: Option<Recipient<WebhookStateChanged>>,
}

/// A webhook's health opened, closed or disabled it: the engine ingests
/// a `hookline.webhook_state_changed` event, and on `disabled` turns the
/// webhook's `enabled` off.
#[derive(Message, Clone, Debug)]
#[rtype(result = "()")]
pub struct WebhookStateChanged {
    pub webhook_id: String,
    pub name: String,
    pub previous: crate::model::HealthState,
    pub state: crate::model::HealthState,
    pub reason: String,
}

/// A webhook's stored health was reset (`reset-health`): its queue reads it
/// again and sends at once.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct HealthReset {
    pub webhook_id: String,
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

/// How many attempts are running or waiting for their outcome's commit.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct InFlight;

/// Wake `webhook_id`'s queue at `at_ms` (unix ms), unless it is already due
/// to wake earlier. Sent by queues only: it is the supervisor's timer.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct Schedule {
    pub webhook_id: String,
    pub at_ms: u64,
}

/// Sent after each ingest commit so the delivery side picks the new
/// deliveries up at once (the due index is the truth; this is a nudge).
/// (webhook id, delivery id) pairs.
#[derive(Message, Clone, Debug)]
#[rtype(result = "()")]
pub struct DeliveriesCreated(pub Vec<(String, String)>);

/// A delivery of this webhook became due now (a manual retry): wake its queue.
#[derive(Message, Clone, Debug)]
#[rtype(result = "()")]
pub struct DeliveryDue {
    pub webhook_id: String,
}

/// How the supervisor drives one running queue.
#[derive(Clone)]
pub struct QueueHandle {
    pub health: Recipient<HealthReset>,
    pub wake: Recipient<Wake>,
    pub update: Recipient<UpdateWebhook>,
    pub stop: Recipient<Stop>,
    pub in_flight: Recipient<InFlight>,
}

/// Everything a new queue is started with.
pub struct QueueStart {
    pub webhook: Arc<Webhook>,
    pub store: Store,
    pub client: HttpClient,
    pub settings: Arc<QueueSettings>,
    pub supervisor: Recipient<Schedule>,
    pub claims: Arc<Claims>,
    pub arbiter: ArbiterHandle,
}

/// Starts a queue on the given arbiter (`queue::spawn` in the daemon).
pub type QueueSpawner = Arc<dyn Fn(QueueStart) -> QueueHandle + Send + Sync>;

/// The delivery ids of one webhook that some queue of this process holds
/// (read into its window, running, or waiting for the outcome's commit).
/// It outlives the queues: a queue started while a stopped one still has
/// requests running skips their ids, so a delivery is in flight at most
/// once within a process.
#[derive(Debug, Default)]
pub struct Claims(Mutex<HashSet<String>>);

impl Claims {
    /// Takes `id`; false when another holder has it.
    pub fn claim(&self, id: &str) -> bool {
        let mut held = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if held.contains(id) {
            return false;
        }
        held.insert(id.to_string())
    }

    pub fn release(&self, id: &str) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
    }

    pub fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::Claims;

    #[test]
    fn an_id_has_one_holder_until_released() {
        let claims = Claims::default();
        assert!(claims.claim("dl_1"));
        assert!(!claims.claim("dl_1"));
        claims.release("dl_1");
        assert!(claims.claim("dl_1"));
    }

    #[test]
    fn racing_claimers_get_each_id_once() {
        let claims = std::sync::Arc::new(Claims::default());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let c = claims.clone();
                std::thread::spawn(move || {
                    (0..1000).filter(|i| c.claim(&format!("dl_{i}"))).count()
                })
            })
            .collect();
        let won: usize = threads.into_iter().map(|t| t.join().unwrap_or(0)).sum();
        assert_eq!(won, 1000);
    }
}
