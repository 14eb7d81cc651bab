//! A webhook's endpoint health on the screens: the state as a word that
//! stands out when the circuit is open or the webhook disabled, the panel on
//! the webhook page, and **Reset health**.

use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};

use super::guard::{Post, UiError};
use super::i18n::{Lang, Text};
use super::layout::csrf_field;
use super::shared::see_other;
use crate::http::AppState;
use crate::model::{format_millis, Health, HealthState};

/// The state as a coloured word.
pub fn pill(lang: Lang, state: HealthState) -> Markup {
    let (class, text) = match state {
        HealthState::Healthy => ("pill on", Text::HealthHealthy),
        HealthState::Failing => ("pill wait", Text::HealthFailing),
        HealthState::Open => ("pill bad", Text::HealthOpen),
        HealthState::Disabled => ("pill bad", Text::HealthDisabled),
    };
    html! { span class=(class) data-health=(state.as_str()) { (lang.t(text)) } }
}

/// The health panel of the webhook page.
pub fn panel(user: &super::guard::SignedIn, webhook_id: &str, h: &Health) -> Markup {
    let lang = user.lang;
    let t = |k| lang.t(k);
    let at = |ms: Option<u64>| ms.map(format_millis);
    html! {
        section.card.health id="health" aria-labelledby="health-title" {
            h2 id="health-title" { (t(Text::Health)) " " (pill(lang, h.state)) }
            dl.facts {
                dt { (t(Text::FailuresInARow)) } dd { (h.failures_in_a_row) }
                dt { (t(Text::LastSuccess)) } dd { (at(h.last_success_ms).unwrap_or_else(|| t(Text::Never).into())) }
                @if let Some(f) = at(h.last_failure_ms) { dt { (t(Text::LastFailure)) } dd { (f) } }
                @if h.state == HealthState::Open { @if let Some(u) = at(h.open_until_ms) { dt { (t(Text::OpenUntil)) } dd { (u) } } }
                @if let Some(p) = at(h.paused_until_ms.filter(|&p| p > crate::model::now_millis())) { dt { (t(Text::PausedUntil)) } dd { (p) } }
                @if h.state == HealthState::Disabled { @if let Some(r) = &h.disabled_reason { dt { (t(Text::DisabledReason)) } dd { (r) } } }
            }
            p.hint { (t(Text::HealthHint)) }
            @if h.state != HealthState::Healthy {
                form method="post" action=(format!("/ui/webhooks/{webhook_id}/reset-health")) {
                    (csrf_field(user))
                    button.secondary type="submit" { (t(Text::ResetHealth)) }
                }
            }
            details.recover {
                summary { (t(Text::RecoverTitle)) }
                form.stacked method="post" action=(format!("/ui/webhooks/{webhook_id}/recover")) {
                    (csrf_field(user))
                    div.two {
                        div.field {
                            label for="recover-since" { (t(Text::Since)) }
                            input type="text" id="recover-since" name="since" required
                                value=(format_millis(crate::model::now_millis().saturating_sub(24 * 3600 * 1000)));
                        }
                        div.field {
                            label for="recover-until" { (t(Text::Until)) }
                            input type="text" id="recover-until" name="until" placeholder=(t(Text::Now));
                        }
                    }
                    fieldset {
                        legend { (t(Text::Status)) }
                        label.check for="recover-failed" { input type="checkbox" id="recover-failed" name="status" value="failed" checked; (t(Text::StatusFailed)) }
                        label.check for="recover-cancelled" { input type="checkbox" id="recover-cancelled" name="status" value="cancelled"; (t(Text::StatusCancelled)) }
                        label.check for="recover-succeeded" { input type="checkbox" id="recover-succeeded" name="status" value="succeeded"; (t(Text::StatusSucceeded)) }
                    }
                    button type="submit" { (t(Text::RecoverButton)) }
                }
            }
        }
    }
}

/// `since`/`until` of the recover form: RFC 3339.
fn time_of(text: &str) -> Option<u64> {
    humantime::parse_rfc3339_weak(text.trim())
        .ok()
        .map(crate::model::millis_of)
}

async fn recover(
    req: HttpRequest,
    post: Post,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let lang = post.user.lang;
    let id = id.into_inner();
    let back = see_other(&format!("/ui/webhooks/{id}"));
    let Some(since_ms) = time_of(post.form.text("since")) else {
        post.user.flash(&req, lang.t(Text::BadTime));
        return Ok(back);
    };
    let until = post.form.text("until");
    let until_ms = if until.trim().is_empty() {
        Some(crate::model::now_millis())
    } else {
        time_of(until)
    };
    let Some(until_ms) = until_ms else {
        post.user.flash(&req, lang.t(Text::BadTime));
        return Ok(back);
    };
    let statuses: Vec<crate::model::DeliveryStatus> = post
        .form
        .all("status")
        .filter_map(crate::model::DeliveryStatus::from_name)
        .filter(|s| *s != crate::model::DeliveryStatus::Pending)
        .collect();
    let window = crate::store::RecoverWindow {
        webhook_id: id.clone(),
        since_ms,
        until_ms,
        statuses,
    };
    match state.admin.recover(window).await {
        Ok(n) => post
            .user
            .flash(&req, &format!("{} {n}", lang.t(Text::Recovered))),
        Err(crate::store::StoreError::Conflict(m)) => post.user.flash(&req, &m),
        Err(e) => return Err(UiError::storage(lang, e)),
    }
    Ok(back)
}

async fn reset(
    req: HttpRequest,
    post: Post,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let lang = post.user.lang;
    let id = id.into_inner();
    state
        .admin
        .reset_health(id.clone())
        .await
        .map_err(|e| UiError::storage(lang, e))?;
    post.user.flash(&req, lang.t(Text::HealthWasReset));
    Ok(see_other(&format!("/ui/webhooks/{id}")))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/webhooks/{id}/reset-health", web::post().to(reset))
        .route("/webhooks/{id}/recover", web::post().to(recover));
}
