//! One attempt of one delivery, as the queue runs it: read the delivery,
//! send it, ask `decide` what the answer means for the delivery and sort it
//! for the webhook's health; and how failures are logged (each at debug, a
//! summary per webhook at warn).

use std::sync::Arc;
use std::time::SystemTime;

use super::client::HttpClient;
use super::health::{HealthState, Observed};
use super::outcome::{decide, Finished};
use super::prepared::{Attempt, PreparedWebhook};
use crate::metrics::WebhookMetrics;
use crate::model::{millis_of, Delivery, DeliveryStatus, Webhook};
use crate::store::{AttemptRecord, NextState, Store};

/// Failed attempts of a webhook, told at warn at most once a minute (the
/// first failure at once): an outage of 60,000 deliveries is a few lines,
/// not 60,000.
#[derive(Debug, Default)]
pub(super) struct FailureSummary {
    failed: u64,
    last_error: String,
    next_ms: u64,
}

/// How often a failing webhook's summary is logged.
const SUMMARY_EVERY_MS: u64 = 60_000;

impl FailureSummary {
    pub(super) fn failed(&mut self, webhook: &str, state: HealthState, error: String, now_ms: u64) {
        self.failed += 1;
        self.last_error = error;
        if now_ms >= self.next_ms {
            tracing::warn!(
                webhook = %webhook, failed_attempts = self.failed, last_error = %self.last_error,
                state = state.as_str(), "delivery attempts to this webhook fail"
            );
            self.failed = 0;
            self.next_ms = now_ms.saturating_add(SUMMARY_EVERY_MS);
        }
    }
}

/// What became of one request.
pub(super) enum Sent {
    /// An answer or a failure to record, and what it means for the webhook.
    Answered(AttemptRecord, Observed),
    /// Nothing to send (no longer pending, or gone).
    Skipped,
    /// The delivery could not be read.
    StorageFailed,
}

pub(super) async fn send_attempt(
    store: Store,
    client: HttpClient,
    webhook: Arc<PreparedWebhook>,
    retry: Arc<super::outcome::RetryPolicy>,
    id: String,
    metrics: WebhookMetrics,
) -> Sent {
    let (delivery, body) = match store.delivery_with_body(&id) {
        Ok(Some(found)) => found,
        Ok(None) => return Sent::Skipped,
        Err(e) => {
            tracing::warn!(delivery = %id, error = %e, "cannot read a due delivery");
            return Sent::StorageFailed;
        }
    };
    if delivery.status != DeliveryStatus::Pending {
        return Sent::Skipped;
    }
    let attempt = Attempt {
        delivery_id: &delivery.id,
        triggered_at: triggered_at(&delivery),
        content_type: delivery.content_type,
        body: body.into(),
        now: SystemTime::now(),
    };
    let result = client.send_attempt(&webhook, attempt).await;
    log_attempt(&webhook.webhook, &delivery, &result);
    count_attempt(&metrics, &result);
    let started_ms = millis_of(result.started_at);
    let duration_ms = u64::try_from(result.duration.as_millis()).unwrap_or(u64::MAX);
    let next: NextState = decide(
        &retry,
        Finished {
            succeeded: result.succeeded(),
            failed_attempts: (delivery.attempt_count + 1).saturating_sub(delivery.retry_base),
            retry_after: result.retry_after,
            ended_ms: started_ms.saturating_add(duration_ms),
        },
        &mut rand::rng(),
    );
    let blocked = result.error_class == Some(super::client::ErrorClass::Blocked);
    let seen = match (result.succeeded(), result.status_code, result.retry_after) {
        _ if blocked => Observed::Blocked,
        (true, _, _) => Observed::Success,
        (false, Some(410), _) => Observed::Gone,
        (false, Some(429 | 503), Some(wait)) => Observed::RetryAfter(wait),
        _ => Observed::Failure,
    };
    Sent::Answered(
        AttemptRecord {
            delivery_id: delivery.id.clone(),
            started_ms,
            duration_ms,
            status_code: result.status_code,
            error: result.error,
            response_body: result.response_body,
            next,
            probe: false,
        },
        seen,
    )
}

fn count_attempt(metrics: &WebhookMetrics, result: &super::client::AttemptResult) {
    use super::client::ErrorClass;
    metrics.duration.observe(result.duration.as_secs_f64());
    let counter = match (result.succeeded(), result.status_code, result.error_class) {
        (true, _, _) => &metrics.success,
        (false, Some(_), _) => &metrics.http_error,
        (false, None, Some(ErrorClass::Timeout)) => &metrics.timeout,
        (false, None, Some(ErrorClass::Tls)) => &metrics.tls_error,
        (false, None, Some(ErrorClass::Dns)) => &metrics.dns_error,
        (false, None, Some(ErrorClass::Http)) => &metrics.protocol_error,
        (false, None, Some(ErrorClass::Blocked)) => &metrics.blocked,
        (false, None, _) => &metrics.connect_error,
    };
    counter.inc();
}

fn triggered_at(delivery: &Delivery) -> SystemTime {
    humantime::parse_rfc3339_weak(&delivery.triggered_at).unwrap_or_else(|_| SystemTime::now())
}

/// One line per attempt at debug (failures are summed up at warn per
/// webhook, see [`FailureSummary`]). Never a secret: the URL is logged
/// without credentials and no header is logged.
fn log_attempt(webhook: &Webhook, delivery: &Delivery, result: &super::client::AttemptResult) {
    let n = delivery.attempt_count + 1;
    let ms = result.duration.as_millis() as u64;
    if result.succeeded() {
        tracing::debug!(delivery = %delivery.id, webhook = %webhook.name, attempt = n, status = result.status_code, duration_ms = ms, "delivered");
    } else {
        tracing::debug!(
            delivery = %delivery.id, webhook = %webhook.name, attempt = n,
            status = result.status_code, error = result.error.as_deref().unwrap_or(""), duration_ms = ms,
            "delivery attempt failed"
        );
    }
}
