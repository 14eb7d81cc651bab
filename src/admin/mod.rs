//! What an administrator does, as one part that both front ends call: the
//! HTTP API (`http`) and the admin screens (`ui`). Handlers parse their
//! input, call one function here and map its error; the orchestration of
//! each operation (store, then tell the engine; store, then wake a queue;
//! render off the request threads) lives here, once.

mod deliveries;
mod objects;
mod rendering;

use std::sync::Arc;

use actix::Addr;

use crate::config::Config;
use crate::delivery::{DeliveryDue, HealthReset, HttpClient};
use crate::engine::{ConfigChanged, ConfigErrors, RuleEngine};
use crate::store::{Store, StoreError};

pub use deliveries::{TestOutcome, TestRequest};
pub use objects::ConfigObject;
pub use rendering::{render_schema, RenderFailure};

/// The parts an administrator's operations use. Cheap to clone.
#[derive(Clone)]
pub struct Admin {
    pub store: Store,
    engine: Addr<RuleEngine>,
    wake: actix::Recipient<DeliveryDue>,
    health: actix::Recipient<HealthReset>,
    client: HttpClient,
    config: Arc<Config>,
    errors: ConfigErrors,
    /// Cluster mode: where configuration changes are shared.
    share: Option<crate::cluster::ConfigShare>,
}

/// Where the delivery side is told about an administrator's actions.
pub struct DeliverySide {
    pub wake: actix::Recipient<DeliveryDue>,
    pub health: actix::Recipient<HealthReset>,
}

impl Admin {
    pub fn new(
        store: Store,
        engine: Addr<RuleEngine>,
        delivery: DeliverySide,
        client: HttpClient,
        config: Arc<Config>,
        errors: ConfigErrors,
    ) -> Admin {
        Admin {
            store,
            engine,
            wake: delivery.wake,
            health: delivery.health,
            client,
            config,
            errors,
            share: None,
        }
    }

    /// Shares every configuration change through the cluster's bucket.
    pub fn with_share(mut self, share: crate::cluster::ConfigShare) -> Admin {
        self.share = Some(share);
        self
    }

    /// Makes the webhook `id` healthy again and tells its queue, which sends
    /// its due deliveries at once. `NotFound` when there is no such webhook.
    pub async fn reset_health(&self, id: String) -> Result<crate::model::Health, StoreError> {
        let was = self.store.webhook_health(&id)?.state;
        self.store.reset_webhook_health(id.clone()).await?;
        if was == crate::model::HealthState::Disabled {
            // Disabled by its health, so enabled again (a webhook an
            // operator disabled while healthy stays as it is).
            self.store.set_webhook_enabled(id.clone(), true).await?;
            self.config_changed().await;
        }
        tracing::info!(webhook = %id, "webhook health reset by an administrator");
        self.health.do_send(HealthReset {
            webhook_id: id.clone(),
        });
        self.store.webhook_health(&id)
    }

    /// Why the stored object `id` is left out of the running configuration
    /// (it does not compile), if it is.
    pub fn object_error(&self, id: &str) -> Option<String> {
        self.errors.get(id)
    }

    /// Tells the engine (the one owner of configuration changes) that a
    /// change was committed, and waits until it applied it, so the next event
    /// sees it. The change itself is durable already: a failure here is
    /// logged, not returned.
    async fn config_changed(&self) {
        match self.engine.send(ConfigChanged).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "configuration change not applied yet"),
            Err(e) => tracing::error!(error = %e, "rule engine unreachable"),
        }
    }
}

/// `StoreError::Unavailable` for a task that did not come back.
fn interrupted(what: &str) -> StoreError {
    StoreError::Unavailable(format!("{what} was interrupted"))
}
