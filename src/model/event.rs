//! Events: the validation of an incoming event and what it got, the
//! evaluation (matched rules, targets, deliveries and suppressions) as stored.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::time::parse_rfc3339;
use super::{new_id, now_rfc3339, FieldError};

/// Longest event `type`.
const MAX_EVENT_TYPE_CHARS: usize = 100;
/// Longest client-given event `id`.
const MAX_EVENT_ID_CHARS: usize = 200;

/// A validated incoming event. `body` is the event object as stored and
/// rendered, with `id` and `occurred_at` filled in when the client left them out.
#[derive(Debug, Clone, PartialEq)]
pub struct IncomingEvent {
    pub id: String,
    pub event_type: String,
    pub body: serde_json::Value,
    /// `ticket.id` as the dedup key: `1234` and `"1234"` are the same ticket.
    pub ticket_id: Option<String>,
}

impl IncomingEvent {
    /// Validates an event body (API.md, Events). Field paths are relative to
    /// the event; the batch route prefixes them with the item index.
    pub fn parse(value: serde_json::Value) -> Result<IncomingEvent, FieldError> {
        let serde_json::Value::Object(mut map) = value else {
            return Err(FieldError::new("body", "an event must be a JSON object"));
        };
        let event_type = match map.get("type") {
            Some(serde_json::Value::String(t)) => t.clone(),
            Some(_) => return Err(FieldError::new("type", "must be a string")),
            None => return Err(FieldError::new("type", "required")),
        };
        let type_chars = event_type.chars().count();
        if type_chars == 0 || type_chars > MAX_EVENT_TYPE_CHARS {
            return Err(FieldError::new("type", "must be 1 to 100 characters"));
        }
        let id = match map.get("id") {
            None | Some(serde_json::Value::Null) => new_id("evt"),
            Some(serde_json::Value::String(s))
                if !s.is_empty() && s.chars().count() <= MAX_EVENT_ID_CHARS =>
            {
                s.clone()
            }
            Some(_) => {
                return Err(FieldError::new(
                    "id",
                    "must be a string of 1 to 200 characters",
                ))
            }
        };
        match map.get("occurred_at") {
            None | Some(serde_json::Value::Null) => {}
            Some(serde_json::Value::String(s)) if parse_rfc3339(s) => {}
            Some(_) => {
                return Err(FieldError::new(
                    "occurred_at",
                    "must be an RFC 3339 time such as 2026-11-29T12:00:00Z",
                ))
            }
        }
        for (key, member) in &map {
            if !matches!(key.as_str(), "id" | "type" | "occurred_at") && !member.is_object() {
                return Err(FieldError::new(
                    key.clone(),
                    "must be an object (a model such as ticket or customer)",
                ));
            }
        }
        let ticket_id = ticket_key(map.get("ticket"))?;
        map.insert("id".into(), serde_json::Value::String(id.clone()));
        if map
            .get("occurred_at")
            .is_none_or(serde_json::Value::is_null)
        {
            map.insert(
                "occurred_at".into(),
                serde_json::Value::String(now_rfc3339()),
            );
        }
        Ok(IncomingEvent {
            id,
            event_type,
            body: serde_json::Value::Object(map),
            ticket_id,
        })
    }
}

fn ticket_key(ticket: Option<&serde_json::Value>) -> Result<Option<String>, FieldError> {
    match ticket.and_then(|t| t.get("id")) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
        Some(serde_json::Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(FieldError::new(
            "ticket.id",
            "must be a non-empty string or a number",
        )),
    }
}

/// Why a (webhook, schema) pair that a rule named gave no delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SuppressReason {
    DedupWindow,
    WebhookDisabled,
    /// A `hookline.webhook_state_changed` event about this very webhook.
    SelfStateEvent,
}

/// The type of the event ingested when a webhook's health opens, closes or
/// disables it (POLICIES.md).
pub const STATE_EVENT_TYPE: &str = "hookline.webhook_state_changed";

/// A delivery created for an event, as the evaluation lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeliveryRef {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub id: Option<String>,
    pub webhook_id: String,
    pub schema_id: String,
}

/// A pair that fired no delivery, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Suppressed {
    pub webhook_id: String,
    pub schema_id: String,
    pub reason: SuppressReason,
}

/// A matched rule in evaluation order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MatchedRuleView {
    pub group_id: String,
    pub rule_id: String,
    pub name: String,
}

/// The SLA targets handed back to the ticketing system.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
pub struct TargetsView {
    pub set_response_target: Option<String>,
    pub set_resolve_target: Option<String>,
}

/// What an event got (API.md, Evaluation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EvaluationView {
    pub event_id: String,
    pub duplicate: bool,
    pub matched_rules: Vec<MatchedRuleView>,
    pub actions: TargetsView,
    pub deliveries: Vec<DeliveryRef>,
    pub suppressed: Vec<Suppressed>,
}

impl EvaluationView {
    /// The evaluation of a new event before its pairs are sorted into
    /// deliveries and suppressions.
    pub fn new(
        event_id: String,
        matched_rules: Vec<MatchedRuleView>,
        actions: TargetsView,
    ) -> Self {
        EvaluationView {
            event_id,
            duplicate: false,
            matched_rules,
            actions,
            deliveries: Vec::new(),
            suppressed: Vec::new(),
        }
    }
}

/// An event as stored: the body and its evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StoredEvent {
    pub received_at: String,
    #[schema(value_type = Object)]
    pub event: serde_json::Value,
    pub evaluation: EvaluationView,
}
