//! A webhook's endpoint health as stored and shown (POLICIES.md, *Endpoint
//! health*). What changes it is decided in `delivery::health`.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Where a webhook stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HealthState {
    #[default]
    Healthy,
    Failing,
    Open,
    Disabled,
}

impl HealthState {
    pub const ALL: [HealthState; 4] = [
        HealthState::Healthy,
        HealthState::Failing,
        HealthState::Open,
        HealthState::Disabled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            HealthState::Healthy => "healthy",
            HealthState::Failing => "failing",
            HealthState::Open => "open",
            HealthState::Disabled => "disabled",
        }
    }
}

/// A webhook's health, as stored (it survives restarts and `kill -9`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Health {
    pub state: HealthState,
    pub failures_in_a_row: u64,
    pub last_success_ms: Option<u64>,
    pub last_failure_ms: Option<u64>,
    /// The first failure after the last success (for `disable_after`).
    pub first_failure_ms: Option<u64>,
    /// While open: when the probe goes.
    pub open_until_ms: Option<u64>,
    /// The length of the current (or last) open period.
    pub open_period_ms: u64,
    /// `Retry-After` of a `429`/`503`: nothing starts before this.
    pub paused_until_ms: Option<u64>,
    pub disabled_reason: Option<String>,
    /// (unix ms, succeeded) of the newest attempts within the window.
    pub recent: VecDeque<(u64, bool)>,
}

/// The `health` member of a webhook (POLICIES.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct HealthView {
    pub state: HealthState,
    pub failures_in_a_row: u64,
    pub last_success_at: Option<String>,
    pub last_failure_at: Option<String>,
    pub open_until: Option<String>,
    pub disabled_reason: Option<String>,
    /// Set while a `Retry-After` pauses the webhook.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paused_until: Option<String>,
}

impl From<&Health> for HealthView {
    fn from(h: &Health) -> Self {
        let at = |ms: Option<u64>| ms.map(super::format_millis);
        HealthView {
            state: h.state,
            failures_in_a_row: h.failures_in_a_row,
            last_success_at: at(h.last_success_ms),
            last_failure_at: at(h.last_failure_ms),
            open_until: at(h.open_until_ms.filter(|_| h.state == HealthState::Open)),
            disabled_reason: h
                .disabled_reason
                .clone()
                .filter(|_| h.state == HealthState::Disabled),
            paused_until: at(h.paused_until_ms.filter(|&u| u > super::now_millis())),
        }
    }
}
