//! Ingress in cluster mode: an accepted event is published to its
//! partition's subject with `Nats-Msg-Id` = its id, and acknowledged to the
//! helpdesk only once JetStream has stored it (CLUSTER.md, Ingress).

use super::{partition, Cluster, ClusterError};
use crate::model::IncomingEvent;

/// What the `202` of an event says in cluster mode: where it went, not yet
/// what the rules make of it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Queued {
    pub event_id: String,
    pub partition: u32,
    pub queued: bool,
    /// JetStream already had this id within its duplicate window.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
}

impl Cluster {
    /// Publishes `events` in order and waits for every acknowledgement.
    /// `Disconnected` (→ `503`) when NATS is away: nothing is answered
    /// `202` that the stream does not hold.
    pub async fn publish(&self, events: &[IncomingEvent]) -> Result<Vec<Queued>, ClusterError> {
        if !self.connected() {
            return Err(ClusterError::Disconnected);
        }
        let config = &self.inner.config;
        let mut pending = Vec::with_capacity(events.len());
        // All publishes first, then the acks: a batch costs one round trip.
        for event in events {
            let n = partition::partition_of(event, config.partitions);
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Msg-Id", event.id.as_str());
            let payload = serde_json::to_vec(&event.body)
                .map_err(|e| ClusterError::js("encode the event", e))?;
            let ack = self
                .inner
                .js
                .publish_with_headers(
                    partition::subject(&config.subject_prefix, n),
                    headers,
                    payload.into(),
                )
                .await
                .map_err(|_| ClusterError::Disconnected)?;
            pending.push((event.id.clone(), n, ack));
        }
        let mut queued = Vec::with_capacity(pending.len());
        for (event_id, partition, ack) in pending {
            let ack = ack.await.map_err(|_| ClusterError::Disconnected)?;
            queued.push(Queued {
                event_id,
                partition,
                queued: true,
                duplicate: ack.duplicate,
            });
        }
        Ok(queued)
    }
}
