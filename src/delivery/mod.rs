//! Sending one delivery attempt: the pieces below the delivery workers.
//!
//! - [`request`] builds the exact request of an attempt (headers of
//!   BEHAVIOUR.md §5) and its redacted form for display and storage;
//! - [`signing`] computes the Standard Webhooks signature;
//! - [`client`] holds the one shared HTTP client and runs a single attempt,
//!   bounded in time and memory, describing every outcome as an
//!   [`AttemptResult`] rather than an error;
//! - [`schedule`] says how long to wait before the next attempt.
//!
//! Nothing here stores, logs or retries by itself: the caller decides what to
//! do with an [`AttemptResult`] (record it, log it, schedule the next try).

pub mod client;
pub mod queue;
pub mod request;
pub mod schedule;
pub mod signing;
pub mod supervisor;

pub use client::{AttemptResult, ClientError, ErrorClass, HttpClient, RESPONSE_BODY_LIMIT};
pub use queue::QueueSettings;
pub use request::{build_request, format_triggered_at, OutgoingRequest, USER_AGENT};
pub use schedule::{retry_delay, MAX_RETRY_AFTER};
pub use signing::sign;
pub use supervisor::{CountInFlight, Drain, RetrySupervisor, Schedule, SyncWebhooks};
