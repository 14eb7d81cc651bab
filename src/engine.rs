//! The RuleEngine actor: owns the compiled rules and schema templates, and
//! turns incoming events into durably stored deliveries.
//!
//! It runs on an arbiter of its own, so rule evaluation and rendering never
//! stall the HTTP workers. Its snapshot of the configuration is replaced as
//! a whole on [`Reload`] (sent after every admin write), and messages are
//! handled one at a time, so no event ever sees half a change. Waiting for the
//! store's commit happens off the actor: the next event is evaluated while the
//! previous one waits for its fsync, which is what lets commits group.

use std::collections::HashMap;
use std::sync::Arc;

use actix::prelude::*;

use crate::config::Config;
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
}

/// Receives the (webhook id, delivery id) pairs of every commit.
pub type CreatedSink = Recipient<DeliveriesCreated>;

/// Sent after each ingest commit so the delivery side can pick the new
/// deliveries up at once (the due index is the truth; this is a nudge).
#[derive(Message, Clone, Debug)]
#[rtype(result = "()")]
pub struct DeliveriesCreated(pub Vec<(String, String)>);

pub struct RuleEngine {
    store: Store,
    config: Arc<Config>,
    snapshot: Arc<Snapshot>,
    created: Option<CreatedSink>,
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

/// Re-read webhooks, schemas and rule groups and swap the snapshot.
#[derive(Message)]
#[rtype(result = "Result<(), String>")]
pub struct Reload;

/// Where the deliveries of each commit are announced.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetCreatedSink(pub CreatedSink);

impl RuleEngine {
    /// Builds the engine with the stored configuration compiled.
    pub fn new(store: Store, config: Arc<Config>) -> Result<RuleEngine, String> {
        let mut engine = RuleEngine {
            store,
            config,
            snapshot: Arc::new(Snapshot::default()),
            created: None,
        };
        engine.reload()?;
        Ok(engine)
    }

    fn reload(&mut self) -> Result<(), String> {
        let groups = self.store.list::<RuleGroup>().map_err(|e| e.to_string())?;
        let schemas = self.store.list::<Schema>().map_err(|e| e.to_string())?;
        let webhooks = self.store.list::<Webhook>().map_err(|e| e.to_string())?;
        let plan = rules::compile(&groups).map_err(|e| format!("rule groups: {e}"))?;
        let mut templates = HashMap::with_capacity(schemas.len());
        for schema in schemas {
            let kept = self
                .snapshot
                .templates
                .get(&schema.id)
                .filter(|(stamp, _)| *stamp == schema.updated_at)
                .map(|(_, t)| t.clone());
            let template = match kept {
                Some(t) => t,
                None => Arc::new(
                    render::compile(schema.content_type, &schema.content)
                        .map_err(|e| format!("schema {:?}: {e}", schema.name))?,
                ),
            };
            templates.insert(schema.id, (schema.updated_at, template));
        }
        self.snapshot = Arc::new(Snapshot {
            plan,
            templates,
            webhooks: webhooks.into_iter().map(|w| (w.id, w.enabled)).collect(),
        });
        Ok(())
    }

    /// Evaluates and renders one event. Pairs of disabled webhooks, and pairs
    /// whose dedup key a read shows within the window, are not rendered: the
    /// writer suppresses them (it alone decides for pairs that pass here).
    fn prepare(&self, event: IncomingEvent) -> PreparedEvent {
        let evaluation = self.snapshot.plan.evaluate(&event.body);
        let window = self.config.delivery.dedup_window;
        let deliveries = evaluation
            .webhooks
            .iter()
            .filter_map(|pair| {
                let (_, template) = self.snapshot.templates.get(&pair.schema_id)?;
                let enabled = self.snapshot.webhooks.get(&pair.webhook_id).copied()?;
                let seen_in_window = event.ticket_id.as_deref().is_some_and(|t| {
                    self.store
                        .recently_fired(&pair.webhook_id, &pair.schema_id, t, window)
                        .unwrap_or(false)
                });
                let body = if !enabled || seen_in_window {
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

impl Actor for RuleEngine {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
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
        let created = self.created.clone();
        Box::pin(async move {
            let outcomes = store.ingest(prepared, window).await?;
            announce(&outcomes, created.as_ref());
            Ok(outcomes.into_iter().map(|o| o.evaluation).collect())
        })
    }
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

fn announce(outcomes: &[IngestOutcome], sink: Option<&CreatedSink>) {
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
        for pair in pairs {
            if self.snapshot.webhooks.get(&pair.webhook_id) == Some(&false) {
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

impl Handler<Reload> for RuleEngine {
    type Result = Result<(), String>;

    fn handle(&mut self, _: Reload, _: &mut Context<Self>) -> Self::Result {
        let result = self.reload();
        if let Err(e) = &result {
            tracing::error!(error = %e, "configuration reload failed; keeping the previous rules");
        }
        result
    }
}

impl Handler<SetCreatedSink> for RuleEngine {
    type Result = ();

    fn handle(&mut self, msg: SetCreatedSink, _: &mut Context<Self>) {
        self.created = Some(msg.0);
    }
}
