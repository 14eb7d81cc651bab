//! Try an event (`/ui/rules/try`): paste an event, take the sample or one
//! of the recent events, and see what it would do — the matched rules in
//! order and where evaluation stopped, the targets, and each delivery with
//! its rendered body. The engine's dry run, the same as
//! `POST /api/v1/events/dry-run`: nothing is stored, sent or deduplicated.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use maud::{html, Markup};

use super::guard::{Post, SignedIn, UiError};
use super::i18n::{Lang, Text};
use super::layout::{csrf_field, field_error, Nav, Page};
use super::shared::pretty;
use super::shared::{read, sample_event_text};
use crate::admin::render_schema;
use crate::engine::DryRun;
use crate::http::AppState;
use crate::model::{
    ContentType, EvaluationView, FieldError, IncomingEvent, RuleGroup, Schema, Webhook,
};

/// Recent events offered.
const RECENT: usize = 20;

/// One delivery the event would create, rendered.
struct Would {
    webhook: String,
    schema: String,
    content_type: ContentType,
    body: Result<String, String>,
}

async fn page(
    user: &SignedIn,
    state: &AppState,
    event_text: String,
    outcome: Option<Result<(EvaluationView, Vec<Would>), FieldError>>,
) -> Result<HttpResponse, UiError> {
    let lang = user.lang;
    let t = |k| lang.t(k);
    let recent = state
        .admin
        .recent_events(RECENT)
        .await
        .map_err(|e| UiError::storage(lang, e))?;
    let store = state.store.clone();
    let groups = read(lang, move || store.list::<RuleGroup>()).await?;
    let error = outcome.as_ref().and_then(|o| o.as_ref().err());
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let body = html! {
        p.lead { (t(Text::TryLead)) }
        @if let Some(Ok((ev, would))) = &outcome { (result(lang, &groups, ev, would)) }
        form.stacked.card method="post" action="/ui/rules/try" {
            (csrf_field(user))
            div.field {
                label for="recent" { (t(Text::RecentEvent)) }
                select id="recent" name="recent_id" {
                    option value="" { (t(Text::PastedEvent)) }
                    @for (id, e) in &recent {
                        option value=(id) { (e.event.get("type").and_then(|v| v.as_str()).unwrap_or("event")) " · " (id) " · " (e.received_at) }
                    }
                }
            }
            div.field.wide {
                label for="event" { (t(Text::Event)) }
                textarea id="event" name="event" rows="14" spellcheck="false" { (event_text) }
                (field_error(error, "event"))
            }
            div.buttons { button type="submit" { (t(Text::TryIt)) } }
        }
    };
    let title = t(Text::TryAnEvent).to_string();
    Ok(Page {
        user,
        nav: Nav::Rules,
        crumbs: vec![
            (t(Text::EventRules).into(), Some("/ui/rules".into())),
            (title.clone(), None),
        ],
        title,
    }
    .render_with(status, body))
}

/// Matched rules in order with the stop flags that ended evaluation, the
/// targets, and the deliveries.
fn result(lang: Lang, groups: &[RuleGroup], ev: &EvaluationView, would: &[Would]) -> Markup {
    let t = |k| lang.t(k);
    let rule = |g: &str, r: &str| {
        groups
            .iter()
            .find(|x| x.id == g)
            .and_then(|x| x.rules.iter().find(|y| y.id == r).map(|y| (x, y)))
    };
    html! {
        section.card id="dry-run" aria-labelledby="dry-run-title" {
            h2 id="dry-run-title" { (t(Text::WouldDo)) }
            h3.label { (t(Text::MatchedRules)) }
            @if ev.matched_rules.is_empty() { p.hint { (t(Text::NoRuleMatched)) } }
            ol id="matched-rules" {
                @for m in &ev.matched_rules {
                    li {
                        a href=(format!("/ui/rules/{}/{}", m.group_id, m.rule_id)) { (m.name) }
                        @if let Some((g, r)) = rule(&m.group_id, &m.rule_id) {
                            " " span.hint { "(" (g.name) ")" }
                            @if r.stop_rules { br; span.stop { (t(Text::StoppedRules)) } }
                            @if r.stop_groups { br; span.stop { (t(Text::StoppedGroups)) } }
                        }
                    }
                }
            }
            @if ev.actions.set_response_target.is_some() || ev.actions.set_resolve_target.is_some() {
                h3.label { (t(Text::Targets)) }
                dl.facts {
                    @if let Some(v) = &ev.actions.set_response_target { dt { (t(Text::SetResponseTarget)) } dd { (v) } }
                    @if let Some(v) = &ev.actions.set_resolve_target { dt { (t(Text::SetResolveTarget)) } dd { (v) } }
                }
            }
            h3.label { (t(Text::WouldDeliver)) }
            @if would.is_empty() { p.hint { (t(Text::NoDeliveries)) } }
            @for w in would {
                div.would {
                    p.status-line { (w.webhook) " / " (w.schema) " · " code { (w.content_type.media_type()) } }
                    @match &w.body {
                        Ok(b) => pre.would-body { (if w.content_type == ContentType::Json { pretty(b) } else { b.clone() }) },
                        Err(e) => p.problem { (e) },
                    }
                }
            }
            @if !ev.suppressed.is_empty() {
                h3.label { (t(Text::Suppressed)) }
                ul.plain { @for s in &ev.suppressed { li { (s.webhook_id) " / " (s.schema_id) } } }
            }
        }
    }
}

async fn show(user: SignedIn, state: web::Data<AppState>) -> Result<HttpResponse, UiError> {
    page(&user, &state, sample_event_text(), None).await
}

async fn run(post: Post, state: web::Data<AppState>) -> Result<HttpResponse, UiError> {
    let lang = post.user.lang;
    let recent_id = post.form.text("recent_id").to_string();
    let mut text = post.form.text("event").to_string();
    if !recent_id.is_empty() {
        let store = state.store.clone();
        if let Some(stored) = read(lang, move || store.event(&recent_id)).await? {
            text = serde_json::to_string_pretty(&stored.event).unwrap_or_default();
        }
    }
    let parsed = match super::webhook_test::parse_event(&text) {
        Ok(None) => IncomingEvent::parse(crate::render::sample_event().clone()),
        Ok(Some(v)) => IncomingEvent::parse(v),
        Err(e) => Err(e),
    }
    .map_err(|e| {
        if e.field == "event" {
            e
        } else {
            FieldError::new("event", e.message)
        }
    });
    let outcome = match parsed {
        Err(e) => Err(e),
        Ok(event) => {
            let body = event.body.clone();
            let ev = state.engine.send(DryRun(event)).await.map_err(|_| {
                UiError::storage(
                    lang,
                    crate::store::StoreError::Unavailable("the rule engine is not running".into()),
                )
            })?;
            Ok((ev.clone(), would_send(&state, lang, &ev, body).await?))
        }
    };
    page(&post.user, &state, text, Some(outcome)).await
}

/// Renders each delivery the dry run lists, as the engine would.
async fn would_send(
    state: &AppState,
    lang: Lang,
    ev: &EvaluationView,
    event: serde_json::Value,
) -> Result<Vec<Would>, UiError> {
    let store = state.store.clone();
    let (webhooks, schemas) = read(lang, move || {
        Ok((store.list::<Webhook>()?, store.list::<Schema>()?))
    })
    .await?;
    let mut out = Vec::new();
    for d in &ev.deliveries {
        let Some(schema) = schemas.iter().find(|s| s.id == d.schema_id) else {
            continue;
        };
        let webhook = webhooks
            .iter()
            .find(|w| w.id == d.webhook_id)
            .map_or(d.webhook_id.clone(), |w| w.name.clone());
        let body = render_schema(schema.content_type, schema.content.clone(), event.clone())
            .await
            .map(|r| r.body)
            .map_err(|e| e.to_string());
        out.push(Would {
            webhook,
            schema: schema.name.clone(),
            content_type: schema.content_type,
            body,
        });
    }
    Ok(out)
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/rules/try")
            .route(web::get().to(show))
            .route(web::post().to(run)),
    );
}
