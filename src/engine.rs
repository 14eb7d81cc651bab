//! The RuleEngine actor: owns the compiled rules and schema templates, and
//! turns incoming events into durably stored deliveries.
//!
//! It runs on an arbiter of its own, so rule evaluation and rendering never
//! stall the HTTP workers. Its snapshot of the configuration is replaced as
//! a whole on [`ConfigChanged`] (sent after every admin write), and messages are
//! handled one at a time, so no event ever sees half a change. Waiting for the
//! store's commit happens off the actor: the next event is evaluated while the
//! previous one waits for its fsync, which is what lets commits group.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use actix::prelude::*;

use crate::config::Config;
use crate::delivery::{DeliveriesCreated, SyncWebhooks};
use crate::model::{
    DeliveryRef, EvaluationView, IncomingEvent, MatchedRuleView, RuleGroup, Schema, SuppressReason,
    Suppressed, TargetsView, Webhook,
};
use crate::render::{self, Template};
use crate::rules::{self, Plan};
use crate::store::{IngestOutcome, NewDelivery, PreparedEvent, Store, StoreError};

/// The configuration as the engine uses it: compiled once per change.
#[derive(Default)]
struct Snapshot {
    plan: Plan,
    /// schema id → (updated_at, compiled template); the timestamp lets a
    /// reload keep templates whose schema did not change.
    templates: HashMap<String, (String, Arc<Template>)>,
    /// webhook id → enabled.
    webhooks: HashMap<String, bool>,
    /// Webhooks that order their deliveries per ticket.
    ordered: std::collections::HashSet<String>,
}

/// Where the engine's news goes: the deliveries of every commit, and the
/// webhook list after every configuration change.
#[derive(Clone)]
pub struct Sinks {
    pub created: Recipient<DeliveriesCreated>,
    pub webhooks: Recipient<SyncWebhooks>,
}

/// Stored objects left out of the running configuration because they do not
/// compile: id → why. Written by the engine on every reload, read by the
/// API and the UI to show `"error"` on the object.
#[derive(Debug, Default, Clone)]
pub struct ConfigErrors(Arc<RwLock<HashMap<String, String>>>);

impl ConfigErrors {
    /// Why the object `id` is left out, if it is.
    pub fn get(&self, id: &str) -> Option<String> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned()
    }

    fn replace(&self, errors: HashMap<String, String>) {
        crate::metrics::metrics()
            .config_errors
            .set(i64::try_from(errors.len()).unwrap_or(i64::MAX));
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = errors;
    }
}

/// One stored object that does not compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uncompilable {
    pub kind: &'static str,
    pub id: String,
    pub name: String,
    pub error: String,
}

pub struct RuleEngine {
    store: Store,
    config: Arc<Config>,
    snapshot: Arc<Snapshot>,
    sinks: Option<Sinks>,
    errors: ConfigErrors,
    /// Configuration changes handed out (one per `ConfigChanged`) and the
    /// newest one applied: a change whose compile finishes after a newer
    /// one's is dropped, since the newer one read after it.
    issued: u64,
    applied: u64,
}

/// Store `events` (one or a batch) and answer with their evaluations after
/// the commit.
#[derive(Message)]
#[rtype(result = "Result<Vec<EvaluationView>, StoreError>")]
pub struct Ingest(pub Vec<IncomingEvent>);

/// Evaluate without storing, sending or touching dedup keys.
#[derive(Message)]
#[rtype(result = "EvaluationView")]
pub struct DryRun(pub IncomingEvent);

/// A configuration change was committed: re-read webhooks, schemas and rule
/// groups, swap the snapshot, and hand the webhook list to the delivery
/// side. This actor is the one owner of that step, so changes apply in the
/// order they are handled here, each from a read made after its commit: an
/// older list can never be delivered after a newer one.
#[derive(Message)]
#[rtype(result = "Result<(), StoreError>")]
pub struct ConfigChanged;

/// Where the engine's news goes (set once at start-up).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Connect(pub Sinks);

/// Answered as soon as the actor gets to it: the watchdog's proof that the
/// engine thread is not stuck.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Ping;

impl RuleEngine {
    /// Builds the engine with the stored configuration compiled. Objects
    /// that do not compile are left out and logged; only a store that
    /// cannot be read fails.
    pub fn new(
        store: Store,
        config: Arc<Config>,
        errors: ConfigErrors,
    ) -> Result<RuleEngine, StoreError> {
        let mut engine = RuleEngine {
            store,
            config,
            snapshot: Arc::new(Snapshot::default()),
            sinks: None,
            errors,
            issued: 0,
            applied: 0,
        };
        engine.reload()?;
        Ok(engine)
    }

    /// Re-reads and recompiles on this thread (start-up); returns the
    /// webhooks it read.
    fn reload(&mut self) -> Result<Vec<Webhook>, StoreError> {
        let (snapshot, failed, webhooks) = load_snapshot(&self.store, &self.snapshot)?;
        self.apply(snapshot, failed);
        Ok(webhooks)
    }

    fn apply(&mut self, snapshot: Snapshot, failed: Vec<Uncompilable>) {
        for f in &failed {
            tracing::error!(kind = f.kind, id = %f.id, name = %f.name, error = %f.error,
                "stored object does not compile; it is left out until it is fixed");
        }
        self.errors
            .replace(failed.into_iter().map(|f| (f.id, f.error)).collect());
        self.snapshot = Arc::new(snapshot);
    }

    /// Evaluates and renders one event. Pairs of disabled webhooks, and pairs
    /// whose dedup key a read shows within the window, are not rendered: the
    /// writer suppresses them (it alone decides for pairs that pass here).
    fn prepare(&self, event: IncomingEvent) -> PreparedEvent {
        let evaluation = self.snapshot.plan.evaluate(&event.body);
        let about = about_webhook(&event);
        let window = self.config.delivery.dedup_window;
        let deliveries = evaluation
            .webhooks
            .iter()
            .filter_map(|pair| {
                let enabled = self.snapshot.webhooks.get(&pair.webhook_id).copied()?;
                let Some((_, template)) = self.snapshot.templates.get(&pair.schema_id) else {
                    // A stored schema that does not compile: the delivery
                    // fails visibly instead of vanishing.
                    let error = self.errors.get(&pair.schema_id)?;
                    return Some(NewDelivery {
                        webhook_id: pair.webhook_id.clone(),
                        schema_id: pair.schema_id.clone(),
                        content_type: crate::model::ContentType::Text,
                        body: Err(format!("the schema does not compile: {error}")),
                        webhook_enabled: enabled,
                        seen_in_window: false,
                        about_itself: about == Some(pair.webhook_id.as_str()),
                        ordered: false,
                    });
                };
                let seen_in_window = event.ticket_id.as_deref().is_some_and(|t| {
                    self.store
                        .recently_fired(&pair.webhook_id, &pair.schema_id, t, window)
                        .unwrap_or(false)
                });
                let about_itself = about == Some(pair.webhook_id.as_str());
                let body = if !enabled || seen_in_window || about_itself {
                    Ok(Vec::new())
                } else {
                    template
                        .render(&event.body)
                        .map(|r| r.body.into_bytes())
                        .map_err(|e| e.to_string())
                };
                Some(NewDelivery {
                    webhook_id: pair.webhook_id.clone(),
                    schema_id: pair.schema_id.clone(),
                    content_type: template.content_type(),
                    body,
                    webhook_enabled: enabled,
                    seen_in_window,
                    about_itself,
                    ordered: self.snapshot.ordered.contains(&pair.webhook_id),
                })
            })
            .collect();
        let (matched_rules, actions) = outcome_views(evaluation);
        PreparedEvent {
            event,
            matched_rules,
            actions,
            deliveries,
        }
    }
}

/// How often expired dedup keys are removed, and how many per commit (a
/// bounded job keeps the writer's batches short).
const DEDUP_PRUNE_EVERY: std::time::Duration = std::time::Duration::from_secs(10);
const DEDUP_PRUNE_LIMIT: usize = 10_000;
/// The overview's minute counts older than two days go this often.
const TALLY_PRUNE_EVERY: std::time::Duration = std::time::Duration::from_secs(600);

impl Actor for RuleEngine {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(TALLY_PRUNE_EVERY, |engine, ctx| {
            let store = engine.store.clone();
            ctx.spawn(actix::fut::wrap_future(async move {
                if let Err(e) = store.prune_tallies().await {
                    tracing::warn!(error = %e, "pruning the overview's minute counts failed; will retry");
                }
            }));
        });
        ctx.run_interval(DEDUP_PRUNE_EVERY, |engine, ctx| {
            let store = engine.store.clone();
            let window = engine.config.delivery.dedup_window;
            ctx.spawn(actix::fut::wrap_future(async move {
                match store.prune_dedup(window, DEDUP_PRUNE_LIMIT).await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(removed = n, "expired dedup keys pruned"),
                    Err(e) => tracing::warn!(error = %e, "dedup pruning failed; will retry"),
                }
            }));
        });
    }
}

impl Handler<Ingest> for RuleEngine {
    type Result = ResponseFuture<Result<Vec<EvaluationView>, StoreError>>;

    fn handle(&mut self, msg: Ingest, _: &mut Context<Self>) -> Self::Result {
        let prepared: Vec<PreparedEvent> = msg.0.into_iter().map(|e| self.prepare(e)).collect();
        let store = self.store.clone();
        let window = self.config.delivery.dedup_window;
        let created = self.sinks.as_ref().map(|s| s.created.clone());
        Box::pin(async move {
            let outcomes = store.ingest(prepared, window).await?;
            announce(&outcomes, created.as_ref());
            Ok(outcomes.into_iter().map(|o| o.evaluation).collect())
        })
    }
}

impl Handler<crate::delivery::WebhookStateChanged> for RuleEngine {
    type Result = ();

    /// Ingests the `hookline.webhook_state_changed` event (rules may send it
    /// on, never to the webhook it is about) and, when the health disabled
    /// the webhook, turns its `enabled` off and applies that change.
    fn handle(&mut self, msg: crate::delivery::WebhookStateChanged, ctx: &mut Context<Self>) {
        let body = serde_json::json!({
            "type": crate::model::STATE_EVENT_TYPE,
            "webhook": {
                "id": msg.webhook_id, "name": msg.name, "state": msg.state.as_str(),
                "previous_state": msg.previous.as_str(), "reason": msg.reason,
            },
        });
        let ingest = match IncomingEvent::parse(body) {
            Ok(event) => Some(<Self as Handler<Ingest>>::handle(
                self,
                Ingest(vec![event]),
                ctx,
            )),
            Err(e) => {
                tracing::error!(error = %e.message, "cannot build the webhook state event");
                None
            }
        };
        let store = self.store.clone();
        let me = ctx.address();
        let disable = msg.state == crate::model::HealthState::Disabled;
        let id = msg.webhook_id.clone();
        actix::spawn(async move {
            if let Some(ingest) = ingest {
                if let Err(e) = ingest.await {
                    tracing::warn!(error = %e, "the webhook state event was not stored");
                }
            }
            if disable {
                let turned_off = store.set_webhook_enabled(id.clone(), false).await;
                match turned_off {
                    Ok(_) => me.do_send(ConfigChanged),
                    Err(e) => {
                        tracing::warn!(webhook = %id, error = %e, "cannot disable the webhook")
                    }
                }
            }
        });
    }
}

/// The webhook a state-change event is about (it is never delivered there).
fn about_webhook(event: &IncomingEvent) -> Option<&str> {
    (event.event_type == crate::model::STATE_EVENT_TYPE)
        .then(|| event.body.pointer("/webhook/id").and_then(|v| v.as_str()))
        .flatten()
}

/// Counts stored events, created deliveries and suppressions.
fn count(outcomes: &[IngestOutcome]) {
    let m = crate::metrics::metrics();
    for o in outcomes.iter().filter(|o| !o.evaluation.duplicate) {
        m.events.inc();
        m.deliveries_created
            .inc_by(o.evaluation.deliveries.len() as u64);
        for s in &o.evaluation.suppressed {
            match s.reason {
                SuppressReason::DedupWindow => m.suppressed_dedup.inc(),
                SuppressReason::WebhookDisabled => m.suppressed_disabled.inc(),
                SuppressReason::SelfStateEvent => m.suppressed_self.inc(),
            }
        }
    }
}

/// The API's view of the matched rules and SLA targets of an evaluation.
fn outcome_views(evaluation: rules::Evaluation) -> (Vec<MatchedRuleView>, TargetsView) {
    let matched = evaluation
        .matched_rules
        .into_iter()
        .map(|m| MatchedRuleView {
            group_id: m.group_id,
            rule_id: m.rule_id,
            name: m.name,
        })
        .collect();
    let targets = TargetsView {
        set_response_target: evaluation.actions.set_response_target,
        set_resolve_target: evaluation.actions.set_resolve_target,
    };
    (matched, targets)
}

fn announce(outcomes: &[IngestOutcome], sink: Option<&Recipient<DeliveriesCreated>>) {
    count(outcomes);
    let pairs: Vec<(String, String)> = outcomes
        .iter()
        .flat_map(|o| o.created.iter().cloned())
        .collect();
    for o in outcomes.iter().filter(|o| !o.evaluation.duplicate) {
        tracing::debug!(
            event_id = %o.evaluation.event_id,
            matched = o.evaluation.matched_rules.len(),
            deliveries = o.evaluation.deliveries.len(),
            suppressed = o.evaluation.suppressed.len(),
            "event stored"
        );
    }
    if let (Some(sink), false) = (sink, pairs.is_empty()) {
        sink.do_send(DeliveriesCreated(pairs));
    }
}

impl Handler<DryRun> for RuleEngine {
    type Result = MessageResult<DryRun>;

    fn handle(&mut self, msg: DryRun, _: &mut Context<Self>) -> Self::Result {
        let event = msg.0;
        let mut evaluation = self.snapshot.plan.evaluate(&event.body);
        let pairs = std::mem::take(&mut evaluation.webhooks);
        let (matched_rules, actions) = outcome_views(evaluation);
        let mut view = EvaluationView::new(event.id.clone(), matched_rules, actions);
        let about = about_webhook(&event).map(str::to_string);
        for pair in pairs {
            if about.as_deref() == Some(pair.webhook_id.as_str()) {
                view.suppressed.push(Suppressed {
                    webhook_id: pair.webhook_id,
                    schema_id: pair.schema_id,
                    reason: SuppressReason::SelfStateEvent,
                });
            } else if self.snapshot.webhooks.get(&pair.webhook_id) == Some(&false) {
                view.suppressed.push(Suppressed {
                    webhook_id: pair.webhook_id,
                    schema_id: pair.schema_id,
                    reason: SuppressReason::WebhookDisabled,
                });
            } else {
                view.deliveries.push(DeliveryRef {
                    id: None,
                    webhook_id: pair.webhook_id,
                    schema_id: pair.schema_id,
                });
            }
        }
        MessageResult(view)
    }
}

impl Handler<ConfigChanged> for RuleEngine {
    type Result = ResponseActFuture<Self, Result<(), StoreError>>;

    /// Reads and compiles on the blocking pool, so a large or slow rule set
    /// never stalls the events this actor evaluates meanwhile; then swaps.
    fn handle(&mut self, _: ConfigChanged, _: &mut Context<Self>) -> Self::Result {
        self.issued += 1;
        let generation = self.issued;
        let (store, previous) = (self.store.clone(), self.snapshot.clone());
        let work = actix_web::rt::task::spawn_blocking(move || load_snapshot(&store, &previous));
        Box::pin(actix::fut::wrap_future(work).map(move |loaded, engine: &mut Self, _| {
            let loaded = loaded
                .map_err(|_| StoreError::Unavailable("configuration load was interrupted".into()))
                .and_then(|r| r)
                .inspect_err(|e| {
                    tracing::error!(error = %e, "cannot read the configuration; keeping the previous one");
                })?;
            if generation <= engine.applied {
                return Ok(()); // a newer change, read after this one, is in place
            }
            engine.applied = generation;
            let (snapshot, failed, webhooks) = loaded;
            engine.apply(snapshot, failed);
            if let Some(sinks) = &engine.sinks {
                sinks.webhooks.do_send(SyncWebhooks(webhooks));
            }
            Ok(())
        }))
    }
}

/// Reads every configuration object and compiles what compiles.
fn load_snapshot(
    store: &Store,
    previous: &Snapshot,
) -> Result<(Snapshot, Vec<Uncompilable>, Vec<Webhook>), StoreError> {
    let groups = store.list::<RuleGroup>()?;
    let schemas = store.list::<Schema>()?;
    let webhooks = store.list::<Webhook>()?;
    let (snapshot, failed) = compile_snapshot(&groups, schemas, &webhooks, previous);
    Ok((snapshot, failed, webhooks))
}

impl Handler<Connect> for RuleEngine {
    type Result = ();

    fn handle(&mut self, msg: Connect, _: &mut Context<Self>) {
        self.sinks = Some(msg.0);
    }
}

impl Handler<Ping> for RuleEngine {
    type Result = ();

    fn handle(&mut self, _: Ping, _: &mut Context<Self>) {}
}

/// Compiles what compiles; returns the snapshot and what was left out.
/// Templates whose schema did not change are taken over from `previous`.
fn compile_snapshot(
    groups: &[RuleGroup],
    schemas: Vec<Schema>,
    webhooks: &[Webhook],
    previous: &Snapshot,
) -> (Snapshot, Vec<Uncompilable>) {
    let (plan, failed_groups) = rules::compile_valid(groups);
    let mut failed: Vec<Uncompilable> = failed_groups
        .into_iter()
        .map(|(id, e)| Uncompilable {
            kind: "rule group",
            name: groups
                .iter()
                .find(|g| g.id == id)
                .map(|g| g.name.clone())
                .unwrap_or_default(),
            id,
            error: e.to_string(),
        })
        .collect();
    let mut templates = HashMap::with_capacity(schemas.len());
    for schema in schemas {
        let kept = previous
            .templates
            .get(&schema.id)
            .filter(|(stamp, _)| *stamp == schema.updated_at)
            .map(|(_, t)| t.clone());
        let template = match kept {
            Some(t) => t,
            None => match render::compile(schema.content_type, &schema.content) {
                Ok(t) => Arc::new(t),
                Err(e) => {
                    failed.push(Uncompilable {
                        kind: "schema",
                        id: schema.id,
                        name: schema.name,
                        error: e.to_string(),
                    });
                    continue;
                }
            },
        };
        templates.insert(schema.id, (schema.updated_at, template));
    }
    let snapshot = Snapshot {
        plan,
        templates,
        webhooks: webhooks.iter().map(|w| (w.id.clone(), w.enabled)).collect(),
        ordered: webhooks
            .iter()
            .filter(|w| w.ordering == crate::model::Ordering::PerTicket)
            .map(|w| w.id.clone())
            .collect(),
    };
    (snapshot, failed)
}

/// The given objects that do not compile (for `hookline check`, from its
/// read-only inspection of the file).
pub fn uncompilable(
    groups: &[RuleGroup],
    schemas: Vec<Schema>,
    webhooks: &[Webhook],
) -> Vec<Uncompilable> {
    compile_snapshot(groups, schemas, webhooks, &Snapshot::default()).1
}
