//! Delivering: the actors that send, and the pieces below them.
//!
//! - [`supervisor`]: the RetrySupervisor actor (one queue per enabled
//!   webhook, one timer over their due times);
//! - [`queue`]: the WebhookQueue actor (a window of due ids, at most
//!   `max_in_flight_per_webhook` requests, outcomes committed in batches);
//! - [`messages`]: what those two say to each other, so neither imports the
//!   other;
//! - [`outcome`]: what an attempt's outcome means (succeeded / retry at T /
//!   failed), a pure function; the store only persists it;
//! - [`prepared`]: a webhook's request parts (URL, headers with auth,
//!   signing key, timeout) built once per change, not per attempt;
//! - [`request`] builds the exact request of an attempt (headers of
//!   BEHAVIOUR.md §5) and its redacted form for display and storage;
//! - [`signing`] computes the Standard Webhooks signature;
//! - [`client`] holds the one shared HTTP client and runs a single attempt,
//!   bounded in time and memory, describing every outcome as an
//!   [`AttemptResult`] rather than an error;
//! - [`schedule`] says how long to wait before the next attempt.

mod answer;
pub mod client;
pub mod health;
pub mod messages;
pub mod outcome;
pub mod policy;
pub mod prepared;
pub mod queue;
pub mod rate;
pub mod request;
pub mod schedule;
mod send;
pub mod signing;
pub mod supervisor;

use std::sync::Arc;

use crate::store::Store;

pub use client::{AttemptResult, ClientError, ErrorClass, HttpClient, RESPONSE_BODY_LIMIT};
pub use messages::{
    DeliveriesCreated, DeliveryDue, HealthReset, QueueSettings, QueueSpawner, WebhookStateChanged,
};
pub use outcome::{decide, RetryPolicy};
pub use request::{build_request, format_triggered_at, request_for, OutgoingRequest, USER_AGENT};
pub use schedule::{retry_delay, MAX_RETRY_AFTER};
pub use signing::sign;
pub use supervisor::{Drain, RetrySupervisor, SyncWebhooks};

/// The supervisor as the daemon runs it: queues are [`queue::WebhookQueue`]s.
pub fn supervisor(store: Store, client: HttpClient, settings: QueueSettings) -> RetrySupervisor {
    let spawn: QueueSpawner = Arc::new(queue::spawn);
    RetrySupervisor::new(store, client, settings, spawn)
}
