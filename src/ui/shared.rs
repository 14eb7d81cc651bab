//! Small pieces several screens use: reading off the request threads, the
//! redirect after a POST, the rules that use a webhook or schema, the
//! delete confirmation, the breadcrumb of a section, and the sample event
//! as the text of an event box.

use actix_web::http::header;
use actix_web::HttpResponse;
use maud::{html, Markup};

use super::guard::{SignedIn, UiError};
use super::i18n::{Lang, Text};
use super::layout::csrf_field;
use crate::delivery::OutgoingRequest;
use crate::model::{Health, RuleGroup, Webhook, WebhookAction};
use crate::store::{Store, StoreError};

/// `303 See Other` to `to` (the answer to a POST that worked).
pub fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to.to_string()))
        .finish()
}

/// Reads on the blocking pool (redb reads may touch the disk).
pub async fn read<T, F>(lang: Lang, f: F) -> Result<T, UiError>
where
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
    T: Send + 'static,
{
    actix_web::rt::task::spawn_blocking(f)
        .await
        .map_err(|_| {
            UiError::storage(
                lang,
                StoreError::Unavailable("a read was interrupted".into()),
            )
        })?
        .map_err(|e| UiError::storage(lang, e))
}

/// Every webhook with its health, in the store's order.
pub fn webhooks_with_health(store: &Store) -> Result<Vec<(Webhook, Health)>, StoreError> {
    let mut healths = store.webhook_healths()?;
    Ok(store
        .list::<Webhook>()?
        .into_iter()
        .map(|w| {
            let h = healths.remove(&w.id).unwrap_or_default();
            (w, h)
        })
        .collect())
}

/// A rule that names a webhook or schema in its actions.
#[derive(Debug, Clone)]
pub struct RuleUse {
    pub group_id: String,
    pub group_name: String,
    pub rule_id: String,
    pub rule_name: String,
}

/// Each rule with an action that `points_here`.
pub fn rules_using(
    groups: &[RuleGroup],
    points_here: impl Fn(&WebhookAction) -> bool,
) -> Vec<RuleUse> {
    let mut found = Vec::new();
    for g in groups {
        for r in &g.rules {
            if r.actions.webhooks.iter().any(&points_here) {
                found.push(RuleUse {
                    group_id: g.id.clone(),
                    group_name: g.name.clone(),
                    rule_id: r.id.clone(),
                    rule_name: r.name.clone(),
                });
            }
        }
    }
    found
}

/// A list of rules as links to their editor.
pub fn rule_links(rules: &[RuleUse]) -> Markup {
    html! {
        ul.rule-links {
            @for r in rules {
                li { a href=(format!("/ui/rules/{}/{}", r.group_id, r.rule_id)) { (r.group_name) " › " (r.rule_name) } }
            }
        }
    }
}

/// The body of a delete confirmation: what goes, and either the Delete
/// button or the rules that still use it (with links), and Cancel.
pub fn delete_confirmation(
    user: &SignedIn,
    what: Markup,
    action: &str,
    cancel: &str,
    users: &[RuleUse],
) -> Markup {
    let t = |k| user.lang.t(k);
    html! {
        div.card {
            p { (what) }
            @if users.is_empty() {
                p { (t(Text::DeleteQuestion)) }
                form method="post" action=(action) {
                    (csrf_field(user))
                    div.buttons {
                        button.danger type="submit" { (t(Text::Delete)) }
                        a.button.secondary href=(cancel) { (t(Text::Cancel)) }
                    }
                }
            } @else {
                p.problem role="alert" { (t(Text::StillUsed)) }
                (rule_links(users))
                div.buttons { a.button.secondary href=(cancel) { (t(Text::Cancel)) } }
            }
        }
    }
}

/// The breadcrumb after *Outgoing integrations*: the section (a link to
/// `list` when a page below it is shown), then the page.
pub fn crumbs(
    lang: Lang,
    section: Text,
    list: &str,
    page: Option<String>,
) -> Vec<(String, Option<String>)> {
    let name = lang.t(section).to_string();
    match page {
        None => vec![(name, None)],
        Some(page) => vec![(name, Some(list.to_string())), (page, None)],
    }
}

/// The sample event, indented, to prefill an event box.
pub fn sample_event_text() -> String {
    serde_json::to_string_pretty(crate::render::sample_event()).unwrap_or_default()
}

/// Headers as a list of name and value.
pub fn headers_list(list: &[(String, String)]) -> Markup {
    html! { dl.headers { @for (k, v) in list { dt { (k) } dd { (v) } } } }
}

/// A request as an inspector shows it: method and URL, the headers with
/// credentials as `***`, the body (JSON indented).
pub fn request_lines(lang: Lang, request: &OutgoingRequest) -> Markup {
    html! {
        p.status-line { (request.method.as_str()) " " (request.url) }
        (headers_list(&request.redacted_headers()))
        h3.label { (lang.t(Text::Body)) }
        pre id="request-body" { (pretty(&String::from_utf8_lossy(&request.body))) }
    }
}

/// JSON bodies indented for reading, members in the order they were sent;
/// anything else (and anything that is not valid JSON) as it is.
pub fn pretty(body: &str) -> String {
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
