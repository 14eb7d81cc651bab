//! Test webhook: send one request now and show it beside the answer, the
//! way a request inspector does. The answer is the receiver's: hostile
//! input, shown as text and nothing else.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use maud::{html, Markup};

use super::guard::{Post, SignedIn, UiError};
use super::i18n::{Lang, Text};
use super::layout::{csrf_field, field_error, Nav, Page};
use super::webhooks::read;
use crate::admin::{TestOutcome, TestRequest};
use crate::http::AppState;
use crate::model::{FieldError, Schema, Webhook};
use crate::store::StoreError;

struct Typed {
    schema_id: String,
    event: String,
}

fn sample_text() -> String {
    serde_json::to_string_pretty(crate::render::sample_event()).unwrap_or_default()
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

fn headers(list: &[(String, String)]) -> Markup {
    html! { dl.headers { @for (k, v) in list { dt { (k) } dd { (v) } } } }
}

/// Request and answer side by side.
fn inspector(lang: Lang, outcome: &TestOutcome) -> Markup {
    let t = |k| lang.t(k);
    let (request, result) = (&outcome.request, &outcome.result);
    let body = String::from_utf8_lossy(&request.body);
    html! {
        div.inspector id="test-result" {
            section aria-labelledby="request-title" {
                h2 id="request-title" { (t(Text::Request)) }
                p.status-line { (request.method.as_str()) " " (request.url) }
                (headers(&request.redacted_headers()))
                h3.label { (t(Text::Body)) }
                pre id="request-body" { (pretty(&body)) }
            }
            section aria-labelledby="response-title" {
                h2 id="response-title" { (t(Text::Response)) }
                @match result.status_code {
                    Some(code) => {
                        p.status-line class=(if (200..300).contains(&code) { "code-2xx" } else { "code-other" }) {
                            (t(Text::Status)) " " span id="response-status" { (code) }
                            " · " (t(Text::Duration)) " " (result.duration.as_millis()) " ms"
                        }
                        (headers(&result.response_headers))
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

/// JSON bodies indented for reading, members in the order they were sent;
/// anything else (and anything that is not valid JSON) as it is.
pub(super) fn pretty(body: &str) -> String {
    if serde_json::from_str::<serde::de::IgnoredAny>(body).is_err() {
        return body.to_string();
    }
    let mut out = String::with_capacity(body.len() * 2);
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.push_str(&"  ".repeat(depth));
    };
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                while chars.peek().is_some_and(|n| n.is_whitespace()) {
                    chars.next();
                }
                if chars.peek().is_some_and(|&n| n == '}' || n == ']') {
                    if let Some(close) = chars.next() {
                        out.push(close);
                    }
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    out
}

async fn show(
    user: SignedIn,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let typed = Typed {
        schema_id: String::new(),
        event: sample_text(),
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

#[cfg(test)]
mod tests {
    use super::pretty;

    #[test]
    fn json_is_indented_in_the_order_sent_and_other_bodies_are_left_alone() {
        assert_eq!(
            pretty(r#"{"z":1,"a":[1, {}],"s":"x,{\"y\":[]}"}"#),
            "{\n  \"z\": 1,\n  \"a\": [\n    1,\n    {}\n  ],\n  \"s\": \"x,{\\\"y\\\":[]}\"\n}"
        );
        assert_eq!(pretty("<a>not json</a>"), "<a>not json</a>");
        assert_eq!(pretty("{\"broken\": "), "{\"broken\": ");
    }
}
