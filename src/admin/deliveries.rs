//! Manual retry and cancel of a delivery, and the webhook test that sends
//! one request now.

use std::time::SystemTime;

use super::rendering::{render_schema, RenderFailure};
use super::Admin;
use crate::delivery::{build_request, AttemptResult, DeliveryDue, OutgoingRequest};
use crate::model::{ContentType, Delivery, FieldError, Schema, Webhook};
use crate::store::StoreError;

/// What `POST /webhooks/{id}/test` sends: a stored schema rendered against
/// an event (the sample event by default), or the built-in test message.
#[derive(Debug, Clone, Default)]
pub struct TestRequest {
    pub schema_id: Option<String>,
    pub event: Option<serde_json::Value>,
}

/// The request a test sent and what came back.
#[derive(Debug)]
pub struct TestOutcome {
    pub request: OutgoingRequest,
    pub result: AttemptResult,
}

impl Admin {
    /// A finished delivery is sent again now with a fresh set of retries;
    /// its queue is woken at once. Refused (`Conflict`) while it is pending,
    /// when there is no body, or when its webhook was deleted.
    pub async fn retry_delivery(&self, id: String) -> Result<Delivery, StoreError> {
        let delivery = self.store.retry_delivery(id).await?;
        self.wake.do_send(DeliveryDue {
            webhook_id: delivery.webhook_id.clone(),
        });
        Ok(delivery)
    }

    /// Recover (POLICIES.md): the webhook's deliveries created in the window
    /// with one of the statuses are sent again with fresh retries; its queue
    /// is woken. Returns how many.
    pub async fn recover(&self, window: crate::store::RecoverWindow) -> Result<u64, StoreError> {
        let webhook_id = window.webhook_id.clone();
        let count = self.store.recover(window).await?;
        tracing::info!(webhook = %webhook_id, count, "deliveries recovered");
        if count > 0 {
            self.wake.do_send(DeliveryDue { webhook_id });
        }
        Ok(count)
    }

    /// A pending delivery becomes cancelled (a running request finishes, and
    /// its outcome is recorded without changing the status). Its queue is
    /// woken: a per-ticket webhook's next delivery of the ticket is due now.
    pub async fn cancel_delivery(&self, id: String) -> Result<Delivery, StoreError> {
        let delivery = self.store.cancel_delivery(id).await?;
        self.wake.do_send(DeliveryDue {
            webhook_id: delivery.webhook_id.clone(),
        });
        Ok(delivery)
    }

    /// Sends one request to the webhook now: no dedup, no retry, nothing
    /// stored. `NotFound` when the webhook does not exist.
    pub async fn test_webhook(
        &self,
        webhook_id: &str,
        test: TestRequest,
    ) -> Result<TestOutcome, StoreError> {
        let webhook = self
            .store
            .get::<Webhook>(webhook_id)?
            .ok_or(StoreError::NotFound)?;
        let (content_type, body) = self.test_body(&webhook, test).await?;
        let request = build_request(
            &webhook,
            &crate::model::new_id("test"),
            SystemTime::now(),
            content_type,
            body.into(),
            SystemTime::now(),
        );
        let timeout = webhook.timeout_or(self.config.delivery.timeout);
        let result = self
            .client
            .send_presenting(&request, timeout, webhook.client_certificate.as_ref())
            .await;
        Ok(TestOutcome { request, result })
    }

    async fn test_body(
        &self,
        webhook: &Webhook,
        test: TestRequest,
    ) -> Result<(ContentType, Vec<u8>), StoreError> {
        let Some(schema_id) = test.schema_id else {
            let message = serde_json::json!({"message": "hookline test", "webhook": webhook.name});
            return Ok((ContentType::Json, message.to_string().into_bytes()));
        };
        let schema: Schema = self
            .store
            .get(&schema_id)?
            .ok_or_else(|| FieldError::new("schema_id", "no such schema"))?;
        let event = test
            .event
            .unwrap_or_else(|| crate::render::sample_event().clone());
        let rendered = render_schema(schema.content_type, schema.content, event)
            .await
            .map_err(|e| match e {
                RenderFailure::Template(e) => {
                    StoreError::from(FieldError::new("schema_id", e.to_string()))
                }
                RenderFailure::Interrupted => super::interrupted("rendering"),
            })?;
        Ok((schema.content_type, rendered.body.into_bytes()))
    }
}
