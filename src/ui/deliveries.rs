//! Deliveries (the log, filtered, newest first, paged by the store's
//! cursor), one Delivery (the request as it is sent, the attempts as a
//! timeline, Retry / Cancel), and one Event (its body, its evaluation, its
//! deliveries). What receivers answered is shown as text, nothing else.

use std::collections::HashMap;

use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};

use super::guard::{Post, SignedIn, UiError};
use super::i18n::{Lang, Text};
use super::layout::{csrf_field, Nav, Page};
use super::shared::{read, request_lines, see_other};
use crate::http::AppState;
use crate::model::{Delivery, DeliveryStatus, Schema, Webhook};
use crate::store::{DeliveryFilter, StoreError};

/// Rows per page of the log.
const LOG_ROWS: usize = 50;
/// Deliveries read at most for one page of the log: a filter that matches
/// few answers in bounded time with a short page and "Older →".
const LOG_SCAN: usize = 10_000;

fn status_text(lang: Lang, s: DeliveryStatus) -> &'static str {
    lang.t(match s {
        DeliveryStatus::Pending => Text::StatusPending,
        DeliveryStatus::Succeeded => Text::StatusSucceeded,
        DeliveryStatus::Failed => Text::StatusFailed,
        DeliveryStatus::Cancelled => Text::StatusCancelled,
    })
}

/// A delivery's state as a coloured word.
pub(super) fn status_pill(lang: Lang, s: DeliveryStatus) -> Markup {
    let class = match s {
        DeliveryStatus::Succeeded => "pill on",
        DeliveryStatus::Failed => "pill bad",
        DeliveryStatus::Pending => "pill wait",
        DeliveryStatus::Cancelled => "pill off",
    };
    html! { span class=(class) { (status_text(lang, s)) } }
}

#[derive(Debug, Default, serde::Deserialize)]
struct LogQuery {
    status: Option<String>,
    webhook_id: Option<String>,
    ticket_id: Option<String>,
    event_id: Option<String>,
    before: Option<String>,
}

fn non_empty(v: &Option<String>) -> Option<String> {
    v.as_ref()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

impl LogQuery {
    fn filter(&self) -> DeliveryFilter {
        DeliveryFilter {
            status: non_empty(&self.status).and_then(|s| DeliveryStatus::from_name(&s)),
            webhook_id: non_empty(&self.webhook_id),
            event_id: non_empty(&self.event_id),
            ticket_id: non_empty(&self.ticket_id),
        }
    }

    /// This query with another cursor, as a link.
    fn link(&self, before: Option<&str>) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        for (k, v) in [
            ("status", &self.status),
            ("webhook_id", &self.webhook_id),
            ("ticket_id", &self.ticket_id),
            ("event_id", &self.event_id),
        ] {
            if let Some(v) = non_empty(v) {
                pairs.push((k, v));
            }
        }
        if let Some(b) = before {
            pairs.push(("before", b.to_string()));
        }
        let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
        if query.is_empty() {
            "/ui/deliveries".into()
        } else {
            format!("/ui/deliveries?{query}")
        }
    }
}

fn names<R: crate::store::Record>(items: &[R]) -> HashMap<String, String> {
    items
        .iter()
        .map(|r| (r.id().to_string(), r.name().to_string()))
        .collect()
}

async fn log(
    user: SignedIn,
    state: web::Data<AppState>,
    q: web::Query<LogQuery>,
) -> Result<HttpResponse, UiError> {
    let lang = user.lang;
    let t = |k| lang.t(k);
    let store = state.store.clone();
    let filter = q.filter();
    let before = non_empty(&q.before);
    let (page, webhooks) = read(lang, move || {
        Ok((
            store.list_deliveries_scanning(&filter, LOG_ROWS, before.as_deref(), LOG_SCAN)?,
            store.list::<Webhook>()?,
        ))
    })
    .await?;
    let (items, next) = page;
    let webhook_names = names(&webhooks);
    let current = non_empty(&q.status).unwrap_or_default();
    let body = html! {
        form.filters method="get" action="/ui/deliveries" {
            div.field {
                label for="f-status" { (t(Text::Status)) }
                select id="f-status" name="status" {
                    option value="" { (t(Text::All)) }
                    @for s in DeliveryStatus::ALL {
                        option value=(s.as_str()) selected[current == s.as_str()] { (status_text(lang, s)) }
                    }
                }
            }
            div.field {
                label for="f-webhook" { (t(Text::Webhook)) }
                select id="f-webhook" name="webhook_id" {
                    option value="" { (t(Text::All)) }
                    @for w in &webhooks {
                        option value=(w.id) selected[non_empty(&q.webhook_id).as_deref() == Some(w.id.as_str())] { (w.name) }
                    }
                }
            }
            div.field {
                label for="f-ticket" { (t(Text::Ticket)) }
                input type="text" id="f-ticket" name="ticket_id" value=(q.ticket_id.clone().unwrap_or_default());
            }
            div.field {
                label for="f-event" { (t(Text::Event)) }
                input type="text" id="f-event" name="event_id" value=(q.event_id.clone().unwrap_or_default());
            }
            div.buttons { button type="submit" { (t(Text::Filter)) } }
        }
        div.toolbar {
            a href=(q.link(non_empty(&q.before).as_deref())) id="refresh-link" { (t(Text::Refresh)) }
            label.check.auto-refresh for="auto-refresh" hidden {
                input type="checkbox" id="auto-refresh" checked data-refresh="5";
                (t(Text::AutoRefresh))
            }
        }
        div.table-wrap id="deliveries-table" {
            table {
                thead { tr {
                    th scope="col" { (t(Text::Created)) }
                    th scope="col" { (t(Text::Webhook)) }
                    th scope="col" { (t(Text::Ticket)) }
                    th scope="col" { (t(Text::Status)) }
                    th scope="col" { (t(Text::Attempts)) }
                    th scope="col" { (t(Text::LastStatusCode)) }
                } }
                tbody {
                    @for d in &items {
                        tr {
                            td { a href=(format!("/ui/deliveries/{}", d.id)) { (d.created_at) } }
                            td { (webhook_names.get(&d.webhook_id).cloned().unwrap_or_else(|| d.webhook_id.clone())) }
                            td { (d.ticket_id.clone().unwrap_or_default()) }
                            td { (status_pill(lang, d.status)) }
                            td { (d.attempt_count) }
                            td { (d.last_attempt.as_ref().and_then(|a| a.status_code).map(|c| c.to_string()).unwrap_or_default()) }
                        }
                    }
                    @if items.is_empty() {
                        tr { td.empty colspan="6" { (t(if next.is_some() { Text::NoMatchYet } else { Text::NoDeliveries })) } }
                    }
                }
            }
        }
        @if let Some(cursor) = &next {
            nav.pager aria-label=(t(Text::Pages)) {
                @if q.before.is_some() { a href=(q.link(None)) { (t(Text::Newest)) } }
                a href=(q.link(Some(cursor))) rel="next" { (t(Text::Older)) }
            }
        }
    };
    Ok(Page {
        user: &user,
        nav: Nav::Deliveries,
        title: t(Text::Deliveries).into(),
        crumbs: vec![(t(Text::Deliveries).into(), None)],
    }
    .render(body))
}

async fn one(
    user: SignedIn,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let lang = user.lang;
    let t = |k| lang.t(k);
    let store = state.store.clone();
    let key = id.into_inner();
    let (detail, webhook, schema) = read(lang, move || {
        let Some(detail) = store.delivery_detail(&key)? else {
            return Err(StoreError::NotFound);
        };
        let webhook = store.get::<Webhook>(&detail.delivery.webhook_id)?;
        let schema = store.get::<Schema>(&detail.delivery.schema_id)?;
        Ok((detail, webhook, schema))
    })
    .await?;
    let d: &Delivery = &detail.delivery;
    let request = webhook
        .as_ref()
        .map(|w| crate::delivery::request_for(w, d, detail.body.clone()));
    let body = html! {
        div.card {
            dl.facts {
                dt { (t(Text::Status)) } dd { (status_pill(lang, d.status)) }
                dt { (t(Text::Webhook)) } dd {
                    @match &webhook { Some(w) => a href=(format!("/ui/webhooks/{}", w.id)) { (w.name) }, None => (d.webhook_id) }
                }
                dt { (t(Text::Schema)) } dd {
                    @match &schema { Some(s) => a href=(format!("/ui/schemas/{}", s.id)) { (s.name) }, None => (d.schema_id) }
                }
                dt { (t(Text::Event)) } dd { a href=(format!("/ui/events/{}", d.event_id)) { (d.event_id) } }
                dt { (t(Text::Ticket)) } dd { (d.ticket_id.clone().unwrap_or_default()) }
                dt { (t(Text::Created)) } dd { (d.created_at) }
                @if let Some(next) = d.next_attempt_ms { dt { (t(Text::NextAttempt)) } dd { (crate::model::format_millis(next)) } }
                @if let Some(e) = &d.error { dt { (t(Text::Error)) } dd.problem-text { (e) } }
                @if d.line_seq.is_some() { dt { (t(Text::NextAttempt)) } dd { (t(Text::WaitingForTurn)) } }
            }
            @if d.last_attempt.as_ref().and_then(|a| a.error.as_deref()).is_some_and(|e| e.starts_with("blocked: ")) {
                p.problem id="blocked-explained" role="note" { (t(Text::BlockedExplained)) }
            }
            div.buttons {
                @if d.status == DeliveryStatus::Pending {
                    form method="post" action=(format!("/ui/deliveries/{}/cancel", d.id)) {
                        (csrf_field(&user)) button.danger type="submit" { (t(Text::CancelDelivery)) }
                    }
                } @else if d.error.is_none() && webhook.is_some() {
                    form method="post" action=(format!("/ui/deliveries/{}/retry", d.id)) {
                        (csrf_field(&user)) button type="submit" { (t(Text::Retry)) }
                    }
                }
            }
        }
        div.inspector {
            section aria-labelledby="request-title" {
                h2 id="request-title" { (t(Text::Request)) }
                @match &request {
                    Some(r) => (request_lines(lang, r)),
                    None => p.hint { (t(Text::WebhookGone)) },
                }
            }
            section aria-labelledby="attempts-title" {
                h2 id="attempts-title" { (t(Text::Attempts)) }
                @if detail.attempts.is_empty() { p.hint { (t(Text::NoAttempts)) } }
                ol.timeline id="attempts" {
                    @for a in detail.attempts.iter().rev() {
                        @let s = &a.summary;
                        li {
                            p.status-line {
                                "#" (s.n) " · " (s.started_at) " · " (s.duration_ms) " ms · "
                                @match s.status_code {
                                    Some(c) => span class=(if (200..300).contains(&c) { "code-2xx" } else { "code-other" }) { (c) },
                                    None => span.code-other { (s.error.clone().unwrap_or_default()) },
                                }
                            }
                            @if s.status_code.is_some() { @if let Some(e) = &s.error { p.problem-text { (e) } } }
                            @if !a.response_body.is_empty() { pre.response-body { (a.response_body) } }
                        }
                    }
                }
            }
        }
    };
    let title = t(Text::Delivery).to_string();
    Ok(Page {
        user: &user,
        nav: Nav::Deliveries,
        crumbs: vec![
            (t(Text::Deliveries).into(), Some("/ui/deliveries".into())),
            (d.id.clone(), None),
        ],
        title,
    }
    .render(body))
}

async fn act(
    req: HttpRequest,
    post: Post,
    state: web::Data<AppState>,
    id: String,
    retry: bool,
) -> Result<HttpResponse, UiError> {
    let lang = post.user.lang;
    let result = if retry {
        state.admin.retry_delivery(id.clone()).await
    } else {
        state.admin.cancel_delivery(id.clone()).await
    };
    match result {
        Ok(_) => post.user.flash(
            &req,
            lang.t(if retry {
                Text::RetryQueued
            } else {
                Text::Cancelled
            }),
        ),
        Err(StoreError::Conflict(m)) => post.user.flash(&req, &m),
        Err(e) => return Err(UiError::storage(lang, e)),
    }
    Ok(see_other(&format!("/ui/deliveries/{id}")))
}

async fn retry(
    req: HttpRequest,
    post: Post,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    act(req, post, state, id.into_inner(), true).await
}

async fn cancel(
    req: HttpRequest,
    post: Post,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    act(req, post, state, id.into_inner(), false).await
}

async fn event(
    user: SignedIn,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let lang = user.lang;
    let t = |k| lang.t(k);
    let store = state.store.clone();
    let key = id.into_inner();
    let (stored, deliveries, webhooks, schemas) = read(lang, move || {
        let stored = store.event(&key)?.ok_or(StoreError::NotFound)?;
        let filter = DeliveryFilter {
            event_id: Some(key.clone()),
            ..DeliveryFilter::default()
        };
        let (deliveries, _) = store.list_deliveries(&filter, 1000, None)?;
        Ok((
            stored,
            deliveries,
            store.list::<Webhook>()?,
            store.list::<Schema>()?,
        ))
    })
    .await?;
    let (wn, sn) = (names(&webhooks), names(&schemas));
    let ev = &stored.evaluation;
    let body = html! {
        div.inspector {
            section aria-labelledby="event-title" {
                h2 id="event-title" { (t(Text::Event)) }
                p.hint { (t(Text::Received)) " " (stored.received_at) }
                pre id="event-body" { (serde_json::to_string_pretty(&stored.event).unwrap_or_default()) }
            }
            section aria-labelledby="evaluation-title" {
                h2 id="evaluation-title" { (t(Text::Evaluation)) }
                h3.label { (t(Text::MatchedRules)) }
                @if ev.matched_rules.is_empty() { p.hint { (t(Text::NoRuleMatched)) } }
                ol { @for r in &ev.matched_rules { li { a href=(format!("/ui/rules/{}/{}", r.group_id, r.rule_id)) { (r.name) } } } }
                @if ev.actions.set_response_target.is_some() || ev.actions.set_resolve_target.is_some() {
                    h3.label { (t(Text::Targets)) }
                    dl.facts {
                        @if let Some(v) = &ev.actions.set_response_target { dt { (t(Text::SetResponseTarget)) } dd { (v) } }
                        @if let Some(v) = &ev.actions.set_resolve_target { dt { (t(Text::SetResolveTarget)) } dd { (v) } }
                    }
                }
                h3.label { (t(Text::Deliveries)) }
                @if deliveries.is_empty() { p.hint { (t(Text::NoDeliveries)) } }
                ul.plain {
                    @for d in &deliveries {
                        li {
                            a href=(format!("/ui/deliveries/{}", d.id)) {
                                (wn.get(&d.webhook_id).cloned().unwrap_or_else(|| d.webhook_id.clone())) " / "
                                (sn.get(&d.schema_id).cloned().unwrap_or_else(|| d.schema_id.clone()))
                            }
                            " " (status_pill(lang, d.status))
                        }
                    }
                }
                @if !ev.suppressed.is_empty() {
                    h3.label { (t(Text::Suppressed)) }
                    ul.plain {
                        @for s in &ev.suppressed {
                            li {
                                (wn.get(&s.webhook_id).cloned().unwrap_or_else(|| s.webhook_id.clone())) " / "
                                (sn.get(&s.schema_id).cloned().unwrap_or_else(|| s.schema_id.clone())) " — "
                                (lang.t(match s.reason {
                                    crate::model::SuppressReason::DedupWindow => Text::ReasonDedup,
                                    crate::model::SuppressReason::WebhookDisabled => Text::ReasonDisabled,
                                    crate::model::SuppressReason::SelfStateEvent => Text::ReasonSelf,
                                }))
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(Page {
        user: &user,
        nav: Nav::Deliveries,
        crumbs: vec![
            (t(Text::Deliveries).into(), Some("/ui/deliveries".into())),
            (ev.event_id.clone(), None),
        ],
        title: t(Text::Event).into(),
    }
    .render(body))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/deliveries", web::get().to(log))
        .route("/deliveries/{id}", web::get().to(one))
        .route("/deliveries/{id}/retry", web::post().to(retry))
        .route("/deliveries/{id}/cancel", web::post().to(cancel))
        .route("/events/{id}", web::get().to(event));
}
