//! The plain data types of the API (API.md) and the validation of single
//! values. No storage, no HTTP: the store persists these records and the HTTP
//! layer turns [`FieldError`]s into `400 validation_failed` answers.
//!
//! One file per resource ([`Webhook`], [`Schema`], [`RuleGroup`], events,
//! [`Delivery`]) and one for time and id helpers; everything is re-exported
//! here, so every type is named `model::X`. This file holds what the
//! resources share: [`FieldError`] and the name check.

mod delivery;
mod event;
mod health;
mod parse;
mod rule_group;
mod schema;
mod time;
mod trust;
mod webhook;

pub use self::time::{format_millis, format_time, millis_of, new_id, now_millis, now_rfc3339};
pub use delivery::{Attempt, AttemptSummary, Delivery, DeliveryStatus, DeliveryView};
pub use event::{
    DeliveryRef, EvaluationView, IncomingEvent, MatchedRuleView, StoredEvent, SuppressReason,
    Suppressed, TargetsView, STATE_EVENT_TYPE,
};
pub use health::{Health, HealthState, HealthView};
pub use parse::parse_input;
pub use rule_group::{
    Actions, Condition, Match, Op, Rule, RuleGroup, RuleGroupInput, RuleInput, WebhookAction,
    MAX_CONDITIONS, MAX_RULES_PER_GROUP,
};
pub use schema::{ContentType, Schema, SchemaInput, MAX_SCHEMA_CONTENT_BYTES};
pub use trust::{
    check_grace, ClientCertificate, ClientCertificateInput, ClientCertificateView, Ordering,
    PreviousSecret, PreviousSecretView, MAX_PREVIOUS_SECRETS,
};
pub use webhook::{
    generate_signing_secret, signing_key, Auth, AuthInput, AuthView, Method, RateLimit, Webhook,
    WebhookInput, WebhookView,
};

/// One input field is wrong; `field` is its path (`url`, `auth.username`,
/// `rules[0].conditions[1].op`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The same error seen from an enclosing object (`conditions[1].op` inside
    /// `rules[0]` becomes `rules[0].conditions[1].op`).
    pub fn within(self, prefix: &str) -> Self {
        FieldError {
            field: format!("{prefix}.{}", self.field),
            message: self.message,
        }
    }
}

/// Longest name of a webhook, schema, rule group or rule.
pub const MAX_NAME_CHARS: usize = 200;

fn check_name(field: &str, name: &str) -> Result<(), FieldError> {
    let chars = name.trim().chars().count();
    if chars == 0 {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(FieldError::new(
            field,
            format!("at most {MAX_NAME_CHARS} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// `#[serde(default = "yes")]`: members such as `enabled` default to true.
fn yes() -> bool {
    true
}
