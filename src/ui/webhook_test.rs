//! Test webhook: send one request now and show it beside the answer, the
//! way a request inspector does. The answer is the receiver's: hostile
//! input, shown as text and nothing else.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use maud::{html, Markup};

use super::guard::{Post, SignedIn, UiError};
use super::i18n::{Lang, Text};
use super::layout::{csrf_field, field_error, Nav, Page};
use super::shared::{headers_list, read, request_lines, sample_event_text};
use crate::admin::{TestOutcome, TestRequest};
use crate::http::AppState;
use crate::model::{FieldError, Schema, Webhook};
use crate::store::StoreError;

struct Typed {
    schema_id: String,
    event: String,
}

async fn page(
    user: &SignedIn,
    state: &AppState,
    id: &str,
    typed: Typed,
    outcome: Option<Result<TestOutcome, FieldError>>,
) -> Result<HttpResponse, UiError> {
    let lang = user.lang;
    let t = |k| lang.t(k);
    let store = state.store.clone();
    let key = id.to_string();
    let (webhook, schemas) = read(lang, move || {
        Ok((store.get::<Webhook>(&key)?, store.list::<Schema>()?))
    })
    .await?;
    let webhook = webhook.ok_or_else(|| UiError::not_found(lang))?;
    let error = outcome.as_ref().and_then(|o| o.as_ref().err());
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let body = html! {
        p.lead { (t(Text::TestHint)) }
        @if let Some(Ok(outcome)) = &outcome { (inspector(lang, outcome)) }
        form.stacked.card method="post" action=(format!("/ui/webhooks/{}/test", webhook.id)) {
            (csrf_field(user))
            div.field {
                label for="schema" { (t(Text::Schema)) }
                select id="schema" name="schema_id" {
                    option value="" { (t(Text::BuiltInTestMessage)) }
                    @for s in &schemas {
                        option value=(s.id) selected[s.id == typed.schema_id] { (s.name) }
                    }
                }
                (field_error(error, "schema_id"))
            }
            div.field.wide {
                label for="event" { (t(Text::Event)) }
                textarea id="event" name="event" rows="10" spellcheck="false" { (typed.event) }
                (field_error(error, "event"))
            }
            div.buttons {
                button type="submit" { (t(Text::SendTest)) }
                a.button.secondary href="/ui/webhooks" { (t(Text::Cancel)) }
            }
        }
    };
    let title = t(Text::TestWebhook).to_string();
    Ok(Page {
        user,
        nav: Nav::Webhooks,
        crumbs: vec![
            (t(Text::Webhooks).to_string(), Some("/ui/webhooks".into())),
            (
                webhook.name.clone(),
                Some(format!("/ui/webhooks/{}", webhook.id)),
            ),
            (title.clone(), None),
        ],
        title,
    }
    .render_with(status, body))
}

/// Request and answer side by side.
fn inspector(lang: Lang, outcome: &TestOutcome) -> Markup {
    let t = |k| lang.t(k);
    let (request, result) = (&outcome.request, &outcome.result);
    html! {
        div.inspector id="test-result" {
            section aria-labelledby="request-title" {
                h2 id="request-title" { (t(Text::Request)) }
                (request_lines(lang, request))
            }
            section aria-labelledby="response-title" {
                h2 id="response-title" { (t(Text::Response)) }
                @match result.status_code {
                    Some(code) => {
                        p.status-line class=(if (200..300).contains(&code) { "code-2xx" } else { "code-other" }) {
                            (t(Text::Status)) " " span id="response-status" { (code) }
                            " · " (t(Text::Duration)) " " (result.duration.as_millis()) " ms"
                        }
                        (headers_list(&result.response_headers))
                        h3.label { (t(Text::FirstBytes)) }
                        pre id="response-body" { (result.response_body) }
                    },
                    None => {
                        p.problem role="alert" {
                            (t(Text::NoAnswer)) " " (t(Text::Error)) ": "
                            span id="response-error" { (result.error.as_deref().unwrap_or("")) }
                        }
                        p { (t(Text::Duration)) " " (result.duration.as_millis()) " ms" }
                    },
                }
            }
        }
    }
}

async fn show(
    user: SignedIn,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let typed = Typed {
        schema_id: String::new(),
        event: sample_event_text(),
    };
    page(&user, &state, &id, typed, None).await
}

async fn send(
    post: Post,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let lang = post.user.lang;
    let typed = Typed {
        schema_id: post.form.text("schema_id").to_string(),
        event: post.form.text("event").to_string(),
    };
    let outcome = match parse_event(&typed.event) {
        Err(e) => Err(e),
        Ok(event) => {
            let test = TestRequest {
                schema_id: Some(typed.schema_id.clone()).filter(|s| !s.is_empty()),
                event,
            };
            match state.admin.test_webhook(&id, test).await {
                Ok(outcome) => Ok(outcome),
                Err(StoreError::Invalid(e)) => Err(e),
                Err(e) => return Err(UiError::storage(lang, e)),
            }
        }
    };
    page(&post.user, &state, &id, typed, Some(outcome)).await
}

/// The event box: empty means the sample event; otherwise a JSON object.
pub(super) fn parse_event(text: &str) -> Result<Option<serde_json::Value>, FieldError> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v) if v.is_object() => Ok(Some(v)),
        Ok(_) => Err(FieldError::new("event", "the event must be a JSON object")),
        Err(e) => Err(FieldError::new("event", format!("not valid JSON: {e}"))),
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/webhooks/{id}/test")
            .route(web::get().to(show))
            .route(web::post().to(send)),
    );
}
