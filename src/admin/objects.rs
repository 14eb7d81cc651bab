//! Creating, replacing and deleting the configuration objects. Each
//! operation checks what needs no stored state first (off the request
//! threads: a schema check renders the sample event), commits, then tells
//! the engine, which owns applying the change.

use serde::de::DeserializeOwned;

use super::{interrupted, Admin};
use crate::delivery::policy::TargetPolicy;
use crate::model::{
    FieldError, RuleGroup, RuleGroupInput, Schema, SchemaInput, Webhook, WebhookInput,
};
use crate::store::{Record, Store, StoreError};

/// A configuration object: its input and how one becomes the other.
pub trait ConfigObject: Record + Clone + Sync {
    type Input: DeserializeOwned + Send + 'static;

    /// Checks made before the writer is asked (on the blocking pool, so
    /// heavy validation never holds up other writes or requests). `store`
    /// is for what must be counted with the other stored objects, `policy`
    /// the target policy the delivery client applies; `id` is the object
    /// being replaced, if any.
    fn precheck(
        _input: &Self::Input,
        _store: &Store,
        _policy: &TargetPolicy,
        _id: Option<&str>,
    ) -> Result<(), FieldError> {
        Ok(())
    }

    /// Builds the record from the input; `previous` is the stored one on `PUT`.
    /// May return a value to show once (a generated secret).
    fn build(
        input: Self::Input,
        previous: Option<&Self>,
    ) -> Result<(Self, Option<String>), FieldError>;

    /// The id of a webhook that is enabled after this save (enabling a
    /// webhook its health disabled makes it healthy again).
    fn enabled_webhook(&self) -> Option<&str> {
        None
    }
}

impl ConfigObject for Webhook {
    type Input = WebhookInput;

    fn enabled_webhook(&self) -> Option<&str> {
        self.enabled.then_some(self.id.as_str())
    }

    /// A literal address in the URL must be inside the target policy
    /// (POLICIES.md); a name is checked on every connection instead.
    fn precheck(
        input: &WebhookInput,
        _: &Store,
        policy: &TargetPolicy,
        _: Option<&str>,
    ) -> Result<(), FieldError> {
        let Ok(url) = url::Url::parse(input.url.trim()) else {
            return Ok(()); // the model's own check names what is wrong
        };
        match policy.check_literal(&url) {
            Some(Err(blocked)) => Err(FieldError::new("url", blocked.0)),
            _ => Ok(()),
        }
    }

    fn build(
        input: WebhookInput,
        previous: Option<&Self>,
    ) -> Result<(Self, Option<String>), FieldError> {
        input.into_webhook(previous)
    }
}

impl ConfigObject for Schema {
    type Input = SchemaInput;

    /// The template must parse and, for json/xml, render well-formed against
    /// the sample event (API.md, Schemas).
    fn precheck(
        input: &SchemaInput,
        _: &Store,
        _: &TargetPolicy,
        _: Option<&str>,
    ) -> Result<(), FieldError> {
        crate::render::validate_schema(input.content_type, &input.content)
            .map_err(|e| FieldError::new("content", e.to_string()))
    }

    fn build(
        input: SchemaInput,
        previous: Option<&Self>,
    ) -> Result<(Self, Option<String>), FieldError> {
        input.into_schema(previous).map(|s| (s, None))
    }
}

impl ConfigObject for RuleGroup {
    type Input = RuleGroupInput;

    /// Compiles the conditions (operators, values, regexes) the way the rule
    /// engine will, so a group that saves is a group that evaluates: its
    /// regexes count against one budget with those of every other stored
    /// group (equal patterns shared).
    fn precheck(
        input: &RuleGroupInput,
        store: &Store,
        _: &TargetPolicy,
        id: Option<&str>,
    ) -> Result<(), FieldError> {
        let mut probe = input.clone();
        for rule in &mut probe.rules {
            rule.id = None; // ids are checked against the stored group later
        }
        let group = probe.into_group(None)?;
        let mut regexes = crate::rules::Regexes::default();
        // A store that cannot be read leaves the others uncounted; the
        // engine applies the same budget when it compiles the plan.
        for other in store.list::<RuleGroup>().unwrap_or_default() {
            if Some(other.id.as_str()) != id {
                let _ = crate::rules::compile_group_with(&other, &mut regexes);
            }
        }
        crate::rules::compile_group_with(&group, &mut regexes)
            .map(|_| ())
            .map_err(|e| FieldError::new(e.field, e.message))
    }

    fn build(
        input: RuleGroupInput,
        previous: Option<&Self>,
    ) -> Result<(Self, Option<String>), FieldError> {
        input.into_group(previous).map(|g| (g, None))
    }
}

/// Runs `R::precheck` on the blocking pool; hands the input back.
async fn precheck<R: ConfigObject>(
    input: R::Input,
    admin: &Admin,
    id: Option<String>,
) -> Result<R::Input, StoreError> {
    // The client's own policy: the one every connection is checked against.
    let (store, client) = (admin.store.clone(), admin.client.clone());
    actix_web::rt::task::spawn_blocking(move || {
        R::precheck(&input, &store, client.policy(), id.as_deref()).map(|()| input)
    })
    .await
    .map_err(|_| interrupted("validation"))?
    .map_err(StoreError::from)
}

impl Admin {
    /// Stores a new object; answers after its commit and once the engine
    /// applied it. The second value is shown once (a generated secret).
    pub async fn create<R: ConfigObject>(
        &self,
        input: R::Input,
    ) -> Result<(R, Option<String>), StoreError> {
        let input = precheck::<R>(input, self, None).await?;
        let (record, shown_once) = R::build(input, None)?;
        let saved = self.store.create(record).await?;
        if let Some(share) = &self.share {
            if let Err(e) = share.put(&saved).await {
                // Not shared, so not kept: the others would never see it.
                let _ = self.store.mirror_delete::<R>(saved.id().to_string()).await;
                return Err(e.into());
            }
        }
        tracing::info!(
            kind = R::KIND,
            id = saved.id(),
            name = saved.name(),
            "created"
        );
        self.config_changed().await;
        Ok((saved, shown_once))
    }

    /// Replaces the object `id`; see [`Admin::create`].
    pub async fn replace<R: ConfigObject>(
        &self,
        id: String,
        input: R::Input,
    ) -> Result<(R, Option<String>), StoreError> {
        let input = precheck::<R>(input, self, Some(id.clone())).await?;
        self.commit_replace(id, move |previous: &R| {
            R::build(input, Some(previous)).map_err(StoreError::from)
        })
        .await
    }

    /// Changes the object `id` by `change`, applied to the stored record
    /// inside the write transaction, so two administrators changing different
    /// parts of one object (two rules of one group) both keep their change.
    /// `change` also runs once before, on the record as read, for the
    /// off-thread checks; it must give the same answer for the same record.
    pub async fn update<R, F>(&self, id: String, change: F) -> Result<R, StoreError>
    where
        R: ConfigObject,
        F: Fn(&R) -> Result<R::Input, FieldError> + Send + Sync + 'static,
    {
        let current = self.store.get::<R>(&id)?.ok_or(StoreError::NotFound)?;
        let input = change(&current)?;
        precheck::<R>(input, self, Some(id.clone())).await?;
        let (saved, _) = self
            .commit_replace(id, move |previous: &R| {
                let input = change(previous)?;
                R::build(input, Some(previous)).map_err(StoreError::from)
            })
            .await?;
        Ok(saved)
    }

    /// Rotates webhook `id`'s signing secret (POLICIES.md): the old one
    /// keeps signing for `grace`. Returns the new secret, shown once.
    /// `409` for a webhook that does not sign.
    pub async fn rotate_secret(
        &self,
        id: String,
        grace: std::time::Duration,
    ) -> Result<(Webhook, String), StoreError> {
        let no_secret = StoreError::Conflict(
            "the webhook has no signing secret to rotate; set one with PUT".into(),
        );
        self.commit_rotating(id, grace, no_secret, |previous: &Webhook| {
            let mut webhook = previous.clone();
            webhook.updated_at = crate::model::now_rfc3339();
            Ok(webhook)
        })
        .await
    }

    /// Replaces webhook `id` with `input` and rotates its signing secret in
    /// the same commit (the edit screen's "rotate"); see
    /// [`Admin::rotate_secret`]. Returns the new secret to show once.
    pub async fn replace_rotating(
        &self,
        id: String,
        input: WebhookInput,
        grace: std::time::Duration,
    ) -> Result<(Webhook, Option<String>), StoreError> {
        let input = precheck::<Webhook>(input, self, Some(id.clone())).await?;
        let no_secret = FieldError::new("signing_secret", "there is no secret to rotate").into();
        self.commit_rotating(id, grace, no_secret, move |previous: &Webhook| {
            Ok(Webhook::build(input, Some(previous))?.0)
        })
        .await
        .map(|(webhook, secret)| (webhook, Some(secret)))
    }

    /// The write of both rotations: `build` makes the new record from the
    /// stored one, whose secret then rotates in the same commit (`no_secret`
    /// when it has none).
    async fn commit_rotating<F>(
        &self,
        id: String,
        grace: std::time::Duration,
        no_secret: StoreError,
        build: F,
    ) -> Result<(Webhook, String), StoreError>
    where
        F: FnOnce(&Webhook) -> Result<Webhook, StoreError> + Send + 'static,
    {
        let (saved, secret) = self
            .commit_replace(id, move |previous: &Webhook| {
                let mut webhook = build(previous)?;
                let secret = webhook
                    .rotate_secret(grace, crate::model::now_millis())
                    .ok_or(no_secret)?;
                Ok((webhook, Some(secret)))
            })
            .await?;
        tracing::info!(webhook = %saved.id, grace = %humantime::format_duration(grace), "signing secret rotated");
        Ok((saved, secret.unwrap_or_default()))
    }

    /// The write of [`Admin::replace`] and [`Admin::update`]: `build` runs on
    /// the stored record inside the transaction; then the engine applies it.
    async fn commit_replace<R, F>(
        &self,
        id: String,
        build: F,
    ) -> Result<(R, Option<String>), StoreError>
    where
        R: ConfigObject,
        F: FnOnce(&R) -> Result<(R, Option<String>), StoreError> + Send + 'static,
    {
        let (saved, shown_once) = self.store.replace::<R, _, _>(id, build).await?;
        if let Some(share) = &self.share {
            if let Err(e) = share.put(&saved).await {
                // Lost the race (or NATS is away): the bucket's record wins.
                share.restore::<R>(&self.store, saved.id()).await;
                self.config_changed().await;
                return Err(e.into());
            }
        }
        tracing::info!(
            kind = R::KIND,
            id = saved.id(),
            name = saved.name(),
            "updated"
        );
        if let Some(id) = saved.enabled_webhook() {
            self.heal_if_disabled(id).await?;
        }
        self.config_changed().await;
        Ok((saved, shown_once))
    }

    /// A webhook enabled again after its health disabled it starts healthy.
    async fn heal_if_disabled(&self, id: &str) -> Result<(), StoreError> {
        if self.store.webhook_health(id)?.state == crate::model::HealthState::Disabled {
            self.store.reset_webhook_health(id.to_string()).await?;
            tracing::info!(webhook = %id, "enabled again: its health is reset");
        }
        Ok(())
    }

    /// Deletes the object `id` (refused while a rule points at it).
    pub async fn delete<R: ConfigObject>(&self, id: String) -> Result<(), StoreError> {
        self.store.delete::<R>(id.clone()).await?;
        if let Some(share) = &self.share {
            if let Err(e) = share.delete::<R>(&id).await {
                share.restore::<R>(&self.store, &id).await;
                self.config_changed().await;
                return Err(e.into());
            }
        }
        tracing::info!(kind = R::KIND, id = %id, "deleted");
        self.config_changed().await;
        Ok(())
    }
}
