//! Deliveries: one rendered body on its way to one webhook, its attempts, and
//! the view a client reads.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{format_millis, ContentType};

/// Where a delivery is in its life (API.md, Deliveries).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Waiting for its first try or a retry, or in flight.
    Pending,
    Succeeded,
    /// Every retry used, or the body could not be rendered.
    Failed,
    Cancelled,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 4] = [
        DeliveryStatus::Pending,
        DeliveryStatus::Succeeded,
        DeliveryStatus::Failed,
        DeliveryStatus::Cancelled,
    ];

    /// The name the API writes (`"pending"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Succeeded => "succeeded",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Cancelled => "cancelled",
        }
    }

    /// The status a name stands for.
    pub fn from_name(name: &str) -> Option<DeliveryStatus> {
        DeliveryStatus::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// One try, as listed in a delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AttemptSummary {
    pub n: u32,
    pub started_at: String,
    pub duration_ms: u64,
    pub status_code: Option<u16>,
    pub error: Option<String>,
}

/// One try with the start of the answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Attempt {
    #[serde(flatten)]
    pub summary: AttemptSummary,
    pub response_body: String,
    /// The probe of an open circuit (POLICIES.md): it does not count
    /// against the delivery's retries when it fails.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub probe: bool,
}

/// A delivery as stored. The rendered body is kept apart (it never changes,
/// while this record is rewritten on every attempt).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub id: String,
    pub event_id: String,
    pub webhook_id: String,
    pub schema_id: String,
    pub ticket_id: Option<String>,
    pub status: DeliveryStatus,
    pub attempt_count: u32,
    /// `attempt_count` when the retry budget last started (creation or a
    /// manual retry): the schedule position is `attempt_count - retry_base`.
    pub retry_base: u32,
    /// Unix milliseconds of the next try while pending.
    pub next_attempt_ms: Option<u64>,
    pub created_at: String,
    pub triggered_at: String,
    pub content_type: ContentType,
    pub last_attempt: Option<AttemptSummary>,
    /// Why the delivery failed without an attempt (a render error).
    pub error: Option<String>,
    /// Ordered per ticket (`store::ordering`): it holds or waits for its
    /// ticket's turn until it ends.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub in_line: bool,
    /// While waiting for its turn: its place in line. Such a delivery is
    /// pending with no next attempt time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line_seq: Option<u64>,
}

/// A delivery as a client reads it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DeliveryView {
    pub id: String,
    pub event_id: String,
    pub webhook_id: String,
    pub schema_id: String,
    pub ticket_id: Option<String>,
    pub status: DeliveryStatus,
    pub attempt_count: u32,
    pub next_attempt_at: Option<String>,
    pub created_at: String,
    pub triggered_at: String,
    pub last_attempt: Option<AttemptSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Pending behind an earlier delivery of the same ticket (the webhook
    /// orders per ticket); present only then.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub waiting_for_turn: bool,
}

impl From<&Delivery> for DeliveryView {
    fn from(d: &Delivery) -> Self {
        DeliveryView {
            id: d.id.clone(),
            event_id: d.event_id.clone(),
            webhook_id: d.webhook_id.clone(),
            schema_id: d.schema_id.clone(),
            ticket_id: d.ticket_id.clone(),
            status: d.status,
            attempt_count: d.attempt_count,
            next_attempt_at: d.next_attempt_ms.map(format_millis),
            created_at: d.created_at.clone(),
            triggered_at: d.triggered_at.clone(),
            last_attempt: d.last_attempt.clone(),
            error: d.error.clone(),
            waiting_for_turn: d.line_seq.is_some(),
        }
    }
}
