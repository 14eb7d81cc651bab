//! The plain data types of the API (API.md) and the validation of single
//! values. No storage, no HTTP: the store persists these records and the HTTP
//! layer turns [`FieldError`]s into `400 validation_failed` answers.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

/// One input field is wrong; `field` is its path (`url`, `auth.username`,
/// `rules[0].conditions[1].op`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The same error seen from an enclosing object (`conditions[1].op` inside
    /// `rules[0]` becomes `rules[0].conditions[1].op`).
    pub fn within(self, prefix: &str) -> Self {
        FieldError {
            field: format!("{prefix}.{}", self.field),
            message: self.message,
        }
    }
}

/// A new sortable id with its type prefix (`wh_01JDV…`): ULIDs sort by creation
/// time, so "newest first" and retention are range scans.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", ulid::Ulid::new())
}

/// Now, as the RFC 3339 UTC text the API writes (`2026-11-29T12:00:00.123Z`).
pub fn now_rfc3339() -> String {
    format_time(SystemTime::now())
}

pub fn format_time(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// Longest name of a webhook, schema, rule group or rule.
pub const MAX_NAME_CHARS: usize = 200;
/// Largest schema template.
pub const MAX_SCHEMA_CONTENT_BYTES: usize = 256 * 1024;
/// Longest per-webhook timeout: a receiver slower than this is broken.
const MAX_WEBHOOK_TIMEOUT: Duration = Duration::from_secs(300);

fn check_name(field: &str, name: &str) -> Result<(), FieldError> {
    let chars = name.trim().chars().count();
    if chars == 0 {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(FieldError::new(
            field,
            format!("at most {MAX_NAME_CHARS} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// Tells an absent member (`None`) from an explicit `null` (`Some(None)`), which
/// `PUT` needs for `signing_secret`: absent keeps, null removes.
fn double_option<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

// ---------------------------------------------------------------- webhooks

/// HTTP method of a webhook request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    #[default]
    Post,
    Put,
    Patch,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
        }
    }
}

/// Authentication as stored, secrets included. Never serialised to a client.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Auth {
    #[default]
    None,
    Basic {
        username: String,
        password: String,
    },
    Bearer {
        token: String,
    },
}

/// Authentication as a client writes it; secrets may be omitted on `PUT` to
/// keep the stored ones.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum AuthInput {
    None,
    Basic {
        username: String,
        #[serde(default)]
        password: Option<String>,
    },
    Bearer {
        #[serde(default)]
        token: Option<String>,
    },
}

/// Authentication as a client reads it: no password, no token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum AuthView {
    None,
    Basic { username: String },
    Bearer,
}

/// A webhook as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Webhook {
    pub id: String,
    pub name: String,
    pub url: String,
    pub method: Method,
    pub auth: Auth,
    pub headers: BTreeMap<String, String>,
    pub signing_secret: Option<String>,
    pub enabled: bool,
    /// Per-webhook delivery timeout as written (`"5s"`); `None` uses the config's.
    pub timeout: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl Webhook {
    /// The webhook's own request timeout (validated on save), else `default`.
    pub fn timeout_or(&self, default: Duration) -> Duration {
        self.timeout
            .as_deref()
            .and_then(|t| crate::config::parse_duration(t).ok())
            .unwrap_or(default)
    }
}

/// The body of `POST`/`PUT /api/v1/webhooks`. Read-only members of a webhook
/// (`id`, `signing`, times) are accepted and ignored so a client can send back
/// what it read.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookInput {
    pub name: String,
    pub url: String,
    #[serde(default)]
    pub method: Method,
    #[serde(default)]
    pub auth: Option<AuthInput>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// `"generate"`, a `whsec_…` secret, or `null` to remove it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub signing_secret: Option<Option<String>>,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub timeout: Option<String>,
    #[serde(default)]
    #[schema(ignore)]
    pub id: Option<IgnoredAny>,
    #[serde(default)]
    #[schema(ignore)]
    pub signing: Option<IgnoredAny>,
    #[serde(default)]
    #[schema(ignore)]
    pub created_at: Option<IgnoredAny>,
    #[serde(default)]
    #[schema(ignore)]
    pub updated_at: Option<IgnoredAny>,
}

fn yes() -> bool {
    true
}

/// A webhook as a client reads it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct WebhookView {
    pub id: String,
    pub name: String,
    pub url: String,
    pub method: Method,
    pub auth: AuthView,
    pub headers: BTreeMap<String, String>,
    /// Whether requests are signed (the secret itself is never shown).
    pub signing: bool,
    pub enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// Present once, in the answer that generated the secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_secret: Option<String>,
}

impl From<&Webhook> for WebhookView {
    fn from(w: &Webhook) -> Self {
        WebhookView {
            id: w.id.clone(),
            name: w.name.clone(),
            url: w.url.clone(),
            method: w.method,
            auth: match &w.auth {
                Auth::None => AuthView::None,
                Auth::Basic { username, .. } => AuthView::Basic {
                    username: username.clone(),
                },
                Auth::Bearer { .. } => AuthView::Bearer,
            },
            headers: w.headers.clone(),
            signing: w.signing_secret.is_some(),
            enabled: w.enabled,
            timeout: w.timeout.clone(),
            created_at: w.created_at.clone(),
            updated_at: w.updated_at.clone(),
            signing_secret: None,
        }
    }
}

/// Headers a webhook may not set itself: hookline writes them.
const RESERVED_HEADERS: &[&str] = &[
    "authorization",
    "content-type",
    "content-length",
    "host",
    "triggered-at",
];

impl WebhookInput {
    /// Validates the input and builds the record to store. `previous` is the
    /// stored webhook on `PUT`, whose secrets are kept where the input omits
    /// them. Returns the record and the secret to show once, if one was
    /// generated.
    pub fn into_webhook(
        self,
        previous: Option<&Webhook>,
    ) -> Result<(Webhook, Option<String>), FieldError> {
        check_name("name", &self.name)?;
        let url = check_url(&self.url)?;
        check_headers(&self.headers)?;
        let timeout = self.timeout.as_deref().map(check_timeout).transpose()?;
        let auth = resolve_auth(self.auth, previous.map(|p| &p.auth))?;
        let (signing_secret, generated) = resolve_secret(
            self.signing_secret,
            previous.and_then(|p| p.signing_secret.clone()),
        )?;
        let now = now_rfc3339();
        let webhook = Webhook {
            id: previous.map_or_else(|| new_id("wh"), |p| p.id.clone()),
            name: self.name,
            url,
            method: self.method,
            auth,
            headers: self.headers,
            signing_secret,
            enabled: self.enabled,
            timeout,
            created_at: previous.map_or_else(|| now.clone(), |p| p.created_at.clone()),
            updated_at: now,
        };
        Ok((webhook, generated))
    }
}

fn check_url(text: &str) -> Result<String, FieldError> {
    let url = url::Url::parse(text.trim())
        .map_err(|e| FieldError::new("url", format!("not an absolute URL ({e})")))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(FieldError::new("url", "scheme must be http or https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(FieldError::new("url", "must name a host"));
    }
    // Credentials in the URL would show wherever the URL does (requests,
    // logs); they belong in `auth`, which is write-only.
    if !url.username().is_empty() || url.password().is_some() {
        return Err(FieldError::new(
            "url",
            "must not hold credentials; use auth instead",
        ));
    }
    Ok(url.to_string())
}

fn check_headers(headers: &BTreeMap<String, String>) -> Result<(), FieldError> {
    use actix_web::http::header::{HeaderName, HeaderValue};
    for (name, value) in headers {
        let field = format!("headers.{name}");
        let lower = name.to_ascii_lowercase();
        if RESERVED_HEADERS.contains(&lower.as_str()) || lower.starts_with("webhook-") {
            return Err(FieldError::new(
                field,
                "set by hookline; cannot be overridden",
            ));
        }
        if HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(FieldError::new(field, "not a valid header name"));
        }
        if HeaderValue::from_str(value).is_err() {
            return Err(FieldError::new(field, "not a valid header value"));
        }
    }
    Ok(())
}

fn check_timeout(text: &str) -> Result<String, FieldError> {
    let d = crate::config::parse_duration(text).map_err(|m| FieldError::new("timeout", m))?;
    if d.is_zero() || d > MAX_WEBHOOK_TIMEOUT {
        return Err(FieldError::new("timeout", "must be between 1ms and 5m"));
    }
    Ok(text.trim().to_string())
}

fn resolve_auth(input: Option<AuthInput>, previous: Option<&Auth>) -> Result<Auth, FieldError> {
    let missing = |f: &str| FieldError::new(f, "required");
    match input.unwrap_or(AuthInput::None) {
        AuthInput::None => Ok(Auth::None),
        AuthInput::Basic { username, password } => {
            if username.is_empty() || username.contains(':') {
                return Err(FieldError::new(
                    "auth.username",
                    "must be non-empty and contain no ':'",
                ));
            }
            let password = match (password, previous) {
                (Some(p), _) => p,
                (None, Some(Auth::Basic { password, .. })) => password.clone(),
                (None, _) => return Err(missing("auth.password")),
            };
            Ok(Auth::Basic { username, password })
        }
        AuthInput::Bearer { token } => {
            let token = match (token, previous) {
                (Some(t), _) => t,
                (None, Some(Auth::Bearer { token })) => token.clone(),
                (None, _) => return Err(missing("auth.token")),
            };
            if token.is_empty() || actix_web::http::header::HeaderValue::from_str(&token).is_err() {
                return Err(FieldError::new(
                    "auth.token",
                    "must be non-empty printable text",
                ));
            }
            Ok(Auth::Bearer { token })
        }
    }
}

/// Applies the `signing_secret` member: absent keeps `previous`, `null` removes,
/// `"generate"` makes a new one (returned a second time to be shown once).
fn resolve_secret(
    input: Option<Option<String>>,
    previous: Option<String>,
) -> Result<(Option<String>, Option<String>), FieldError> {
    match input {
        None => Ok((previous, None)),
        Some(None) => Ok((None, None)),
        Some(Some(s)) if s == "generate" => {
            let secret = generate_signing_secret();
            Ok((Some(secret.clone()), Some(secret)))
        }
        Some(Some(s)) => {
            check_signing_secret(&s)?;
            Ok((Some(s), None))
        }
    }
}

const SECRET_PREFIX: &str = "whsec_";

/// A Standard Webhooks secret: `whsec_` + base64 of 32 random bytes.
pub fn generate_signing_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    format!(
        "{SECRET_PREFIX}{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// The key bytes of a `whsec_…` secret, if it is one.
pub fn signing_key(secret: &str) -> Option<Vec<u8>> {
    let encoded = secret.strip_prefix(SECRET_PREFIX)?;
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()
}

fn check_signing_secret(secret: &str) -> Result<(), FieldError> {
    match signing_key(secret) {
        Some(key) if (24..=64).contains(&key.len()) => Ok(()),
        _ => Err(FieldError::new(
            "signing_secret",
            "must be \"generate\" or whsec_ followed by base64 of 24 to 64 bytes",
        )),
    }
}

// ---------------------------------------------------------------- schemas

/// The body format of a schema; decides escaping and the Content-Type of deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ContentType {
    Text,
    Json,
    Xml,
}

impl ContentType {
    /// The `Content-Type` header a delivery of this schema carries.
    ///
    /// ```
    /// use hookline::model::ContentType;
    /// assert_eq!(ContentType::Json.media_type(), "application/json");
    /// assert_eq!(ContentType::Xml.media_type(), "application/xml; charset=utf-8");
    /// ```
    pub fn media_type(self) -> &'static str {
        match self {
            ContentType::Text => "text/plain; charset=utf-8",
            ContentType::Json => "application/json",
            ContentType::Xml => "application/xml; charset=utf-8",
        }
    }
}

/// A schema: a body template and its content type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Schema {
    pub id: String,
    pub name: String,
    pub content_type: ContentType,
    pub content: String,
    pub created_at: String,
    pub updated_at: String,
}

/// The body of `POST`/`PUT /api/v1/schemas`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SchemaInput {
    pub name: String,
    pub content_type: ContentType,
    pub content: String,
    #[serde(default)]
    #[schema(ignore)]
    pub id: Option<IgnoredAny>,
    #[serde(default)]
    #[schema(ignore)]
    pub created_at: Option<IgnoredAny>,
    #[serde(default)]
    #[schema(ignore)]
    pub updated_at: Option<IgnoredAny>,
}

impl SchemaInput {
    /// Validates the single values and builds the record (`previous` on `PUT`).
    pub fn into_schema(self, previous: Option<&Schema>) -> Result<Schema, FieldError> {
        check_name("name", &self.name)?;
        if self.content.len() > MAX_SCHEMA_CONTENT_BYTES {
            return Err(FieldError::new("content", "at most 256 KiB"));
        }
        let now = now_rfc3339();
        Ok(Schema {
            id: previous.map_or_else(|| new_id("sc"), |p| p.id.clone()),
            name: self.name,
            content_type: self.content_type,
            content: self.content,
            created_at: previous.map_or_else(|| now.clone(), |p| p.created_at.clone()),
            updated_at: now,
        })
    }
}

// ---------------------------------------------------------------- rule groups

/// How a condition list combines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Match {
    #[default]
    All,
    Any,
}

/// A condition operator (BEHAVIOUR.md §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Eq,
    Ne,
    In,
    NotIn,
    Contains,
    NotContains,
    StartsWith,
    EndsWith,
    Gt,
    Gte,
    Lt,
    Lte,
    Exists,
    NotExists,
    Matches,
}

/// `{"field": PATH, "op": OP, "value": V}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    pub field: String,
    pub op: Op,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
}

/// One (webhook, schema) pair to fire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookAction {
    pub webhook_id: String,
    pub schema_id: String,
}

/// What a matching rule does.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Actions {
    #[serde(default)]
    pub set_response_target: Option<String>,
    #[serde(default)]
    pub set_resolve_target: Option<String>,
    #[serde(default)]
    pub webhooks: Vec<WebhookAction>,
}

/// A rule as stored and read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Rule {
    pub id: String,
    pub name: String,
    pub enabled: bool,
    #[serde(rename = "match")]
    pub match_: Match,
    pub conditions: Vec<Condition>,
    pub stop_rules: bool,
    pub stop_groups: bool,
    pub actions: Actions,
}

/// A rule group as stored and read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RuleGroup {
    pub id: String,
    pub name: String,
    pub position: i64,
    pub enabled: bool,
    #[serde(rename = "match")]
    pub match_: Match,
    pub conditions: Vec<Condition>,
    pub stop_groups: bool,
    pub rules: Vec<Rule>,
    pub created_at: String,
    pub updated_at: String,
}

/// A rule as a client writes it; `id` is sent back on `PUT` to keep it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleInput {
    #[serde(default)]
    pub id: Option<String>,
    pub name: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default, rename = "match")]
    pub match_: Match,
    #[serde(default)]
    pub conditions: Vec<Condition>,
    #[serde(default)]
    pub stop_rules: bool,
    #[serde(default)]
    pub stop_groups: bool,
    #[serde(default)]
    pub actions: Actions,
}

/// The body of `POST`/`PUT /api/v1/rule-groups`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleGroupInput {
    pub name: String,
    #[serde(default)]
    pub position: i64,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default, rename = "match")]
    pub match_: Match,
    #[serde(default)]
    pub conditions: Vec<Condition>,
    #[serde(default)]
    pub stop_groups: bool,
    #[serde(default)]
    pub rules: Vec<RuleInput>,
    #[serde(default)]
    #[schema(ignore)]
    pub id: Option<IgnoredAny>,
    #[serde(default)]
    #[schema(ignore)]
    pub created_at: Option<IgnoredAny>,
    #[serde(default)]
    #[schema(ignore)]
    pub updated_at: Option<IgnoredAny>,
}

/// Most rules one group may hold; keeps a single save bounded.
pub const MAX_RULES_PER_GROUP: usize = 1000;
/// Most conditions one rule or group may hold.
pub const MAX_CONDITIONS: usize = 100;

impl RuleGroupInput {
    /// Validates single values and builds the group. Rule ids sent back by the
    /// client are kept when they belong to `previous`; new rules get new ids.
    /// Conditions are checked by `rules::compile_group`, references by the store.
    pub fn into_group(self, previous: Option<&RuleGroup>) -> Result<RuleGroup, FieldError> {
        check_name("name", &self.name)?;
        if self.rules.len() > MAX_RULES_PER_GROUP {
            return Err(FieldError::new("rules", "at most 1000 rules per group"));
        }
        if self.conditions.len() > MAX_CONDITIONS {
            return Err(FieldError::new("conditions", "at most 100 conditions"));
        }
        let mut rules = Vec::with_capacity(self.rules.len());
        for (i, input) in self.rules.into_iter().enumerate() {
            let rule = input
                .into_rule(previous, &rules)
                .map_err(|e| e.within(&format!("rules[{i}]")))?;
            rules.push(rule);
        }
        let now = now_rfc3339();
        Ok(RuleGroup {
            id: previous.map_or_else(|| new_id("rg"), |p| p.id.clone()),
            name: self.name,
            position: self.position,
            enabled: self.enabled,
            match_: self.match_,
            conditions: self.conditions,
            stop_groups: self.stop_groups,
            rules,
            created_at: previous.map_or_else(|| now.clone(), |p| p.created_at.clone()),
            updated_at: now,
        })
    }
}

impl RuleInput {
    fn into_rule(self, group: Option<&RuleGroup>, earlier: &[Rule]) -> Result<Rule, FieldError> {
        check_name("name", &self.name)?;
        if self.conditions.len() > MAX_CONDITIONS {
            return Err(FieldError::new("conditions", "at most 100 conditions"));
        }
        let id = match self.id {
            None => new_id("ru"),
            Some(id) => {
                let known = group.is_some_and(|g| g.rules.iter().any(|r| r.id == id));
                if !known {
                    return Err(FieldError::new(
                        "id",
                        "not a rule of this group; omit it for a new rule",
                    ));
                }
                if earlier.iter().any(|r| r.id == id) {
                    return Err(FieldError::new("id", "given twice"));
                }
                id
            }
        };
        Ok(Rule {
            id,
            name: self.name,
            enabled: self.enabled,
            match_: self.match_,
            conditions: self.conditions,
            stop_rules: self.stop_rules,
            stop_groups: self.stop_groups,
            actions: self.actions,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn webhook_input(json: serde_json::Value) -> WebhookInput {
        serde_json::from_value(json).expect("valid input shape")
    }

    #[test]
    fn ids_sort_by_creation() {
        let a = new_id("wh");
        std::thread::sleep(Duration::from_millis(2));
        let b = new_id("wh");
        assert!(a.starts_with("wh_") && a < b, "{a} {b}");
    }

    #[test]
    fn put_without_secrets_keeps_them() {
        let (first, shown) = webhook_input(serde_json::json!({
            "name": "W", "url": "https://example.test/h",
            "auth": {"type": "basic", "username": "u", "password": "p"},
            "signing_secret": "generate"
        }))
        .into_webhook(None)
        .expect("valid");
        assert!(shown.is_some());
        let (second, shown2) = webhook_input(serde_json::json!({
            "name": "W2", "url": "https://example.test/h",
            "auth": {"type": "basic", "username": "u2"}
        }))
        .into_webhook(Some(&first))
        .expect("valid");
        assert_eq!(shown2, None);
        assert_eq!(second.id, first.id);
        assert_eq!(second.signing_secret, first.signing_secret);
        assert_eq!(
            second.auth,
            Auth::Basic {
                username: "u2".into(),
                password: "p".into()
            }
        );
    }

    #[test]
    fn switching_auth_type_needs_the_new_secret() {
        let err = webhook_input(serde_json::json!({
            "name": "W", "url": "https://example.test/h", "auth": {"type": "bearer"}
        }))
        .into_webhook(None)
        .expect_err("token required");
        assert_eq!(err.field, "auth.token");
    }

    #[test]
    fn url_and_header_checks() {
        for (json, field) in [
            (serde_json::json!({"name": "W", "url": "ftp://x/y"}), "url"),
            (serde_json::json!({"name": "W", "url": "/relative"}), "url"),
            (serde_json::json!({"name": "", "url": "http://x/"}), "name"),
            (
                serde_json::json!({"name": "W", "url": "http://x/", "headers": {"webhook-id": "1"}}),
                "headers.webhook-id",
            ),
            (
                serde_json::json!({"name": "W", "url": "http://x/", "headers": {"Content-Type": "x"}}),
                "headers.Content-Type",
            ),
            (
                serde_json::json!({"name": "W", "url": "http://x/", "timeout": "soon"}),
                "timeout",
            ),
            (
                serde_json::json!({"name": "W", "url": "http://x/", "signing_secret": "whsec_abc"}),
                "signing_secret",
            ),
        ] {
            let err = webhook_input(json.clone())
                .into_webhook(None)
                .expect_err(&json.to_string());
            assert_eq!(err.field, field, "{json}");
        }
    }

    #[test]
    fn generated_secret_is_valid() {
        let s = generate_signing_secret();
        assert!(check_signing_secret(&s).is_ok(), "{s}");
        assert_eq!(signing_key(&s).map(|k| k.len()), Some(32));
    }

    #[test]
    fn view_hides_secrets() {
        let (w, _) = webhook_input(serde_json::json!({
            "name": "W", "url": "https://example.test/h",
            "auth": {"type": "bearer", "token": "tok-123"}, "signing_secret": "generate"
        }))
        .into_webhook(None)
        .expect("valid");
        let text = serde_json::to_string(&WebhookView::from(&w)).expect("serialises");
        assert!(
            !text.contains("tok-123") && !text.contains("whsec_"),
            "{text}"
        );
        assert!(text.contains("\"signing\":true"), "{text}");
    }

    #[test]
    fn rule_ids_are_kept_only_for_own_rules() {
        let input: RuleGroupInput = serde_json::from_value(serde_json::json!({
            "name": "G", "rules": [{"name": "R"}]
        }))
        .expect("shape");
        let group = input.into_group(None).expect("valid");
        let rid = group.rules[0].id.clone();
        let again: RuleGroupInput = serde_json::from_value(serde_json::json!({
            "name": "G", "rules": [{"id": rid, "name": "R"}, {"name": "R2"}]
        }))
        .expect("shape");
        let updated = again.into_group(Some(&group)).expect("valid");
        assert_eq!(updated.rules[0].id, rid);
        assert_ne!(updated.rules[1].id, rid);
        let foreign: RuleGroupInput = serde_json::from_value(serde_json::json!({
            "name": "G", "rules": [{"id": "ru_other", "name": "R"}]
        }))
        .expect("shape");
        let err = foreign.into_group(Some(&group)).expect_err("foreign id");
        assert_eq!(err.field, "rules[0].id");
    }
}

// ---------------------------------------------------------------- events

/// Longest event `type`.
const MAX_EVENT_TYPE_CHARS: usize = 100;
/// Longest client-given event `id`.
const MAX_EVENT_ID_CHARS: usize = 200;

/// A validated incoming event. `body` is the event object as stored and
/// rendered, with `id` and `occurred_at` filled in when the client left them out.
#[derive(Debug, Clone, PartialEq)]
pub struct IncomingEvent {
    pub id: String,
    pub event_type: String,
    pub body: serde_json::Value,
    /// `ticket.id` as the dedup key: `1234` and `"1234"` are the same ticket.
    pub ticket_id: Option<String>,
}

impl IncomingEvent {
    /// Validates an event body (API.md, Events). Field paths are relative to
    /// the event; the batch route prefixes them with the item index.
    pub fn parse(value: serde_json::Value) -> Result<IncomingEvent, FieldError> {
        let serde_json::Value::Object(mut map) = value else {
            return Err(FieldError::new("body", "an event must be a JSON object"));
        };
        let event_type = match map.get("type") {
            Some(serde_json::Value::String(t)) => t.clone(),
            Some(_) => return Err(FieldError::new("type", "must be a string")),
            None => return Err(FieldError::new("type", "required")),
        };
        let type_chars = event_type.chars().count();
        if type_chars == 0 || type_chars > MAX_EVENT_TYPE_CHARS {
            return Err(FieldError::new("type", "must be 1 to 100 characters"));
        }
        let id = match map.get("id") {
            None | Some(serde_json::Value::Null) => new_id("evt"),
            Some(serde_json::Value::String(s))
                if !s.is_empty() && s.chars().count() <= MAX_EVENT_ID_CHARS =>
            {
                s.clone()
            }
            Some(_) => {
                return Err(FieldError::new(
                    "id",
                    "must be a string of 1 to 200 characters",
                ))
            }
        };
        match map.get("occurred_at") {
            None | Some(serde_json::Value::Null) => {}
            Some(serde_json::Value::String(s)) if parse_rfc3339(s) => {}
            Some(_) => {
                return Err(FieldError::new(
                    "occurred_at",
                    "must be an RFC 3339 time such as 2026-11-29T12:00:00Z",
                ))
            }
        }
        for (key, member) in &map {
            if !matches!(key.as_str(), "id" | "type" | "occurred_at") && !member.is_object() {
                return Err(FieldError::new(
                    key.clone(),
                    "must be an object (a model such as ticket or customer)",
                ));
            }
        }
        let ticket_id = ticket_key(map.get("ticket"))?;
        map.insert("id".into(), serde_json::Value::String(id.clone()));
        if map
            .get("occurred_at")
            .is_none_or(serde_json::Value::is_null)
        {
            map.insert(
                "occurred_at".into(),
                serde_json::Value::String(now_rfc3339()),
            );
        }
        Ok(IncomingEvent {
            id,
            event_type,
            body: serde_json::Value::Object(map),
            ticket_id,
        })
    }
}

fn parse_rfc3339(s: &str) -> bool {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).is_ok()
}

fn ticket_key(ticket: Option<&serde_json::Value>) -> Result<Option<String>, FieldError> {
    match ticket.and_then(|t| t.get("id")) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
        Some(serde_json::Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(FieldError::new(
            "ticket.id",
            "must be a non-empty string or a number",
        )),
    }
}

/// Why a (webhook, schema) pair that a rule named gave no delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SuppressReason {
    DedupWindow,
    WebhookDisabled,
}

/// A delivery created for an event, as the evaluation lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeliveryRef {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub id: Option<String>,
    pub webhook_id: String,
    pub schema_id: String,
}

/// A pair that fired no delivery, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Suppressed {
    pub webhook_id: String,
    pub schema_id: String,
    pub reason: SuppressReason,
}

/// A matched rule in evaluation order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MatchedRuleView {
    pub group_id: String,
    pub rule_id: String,
    pub name: String,
}

/// The SLA targets handed back to the ticketing system.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
pub struct TargetsView {
    pub set_response_target: Option<String>,
    pub set_resolve_target: Option<String>,
}

/// What an event got (API.md, Evaluation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EvaluationView {
    pub event_id: String,
    pub duplicate: bool,
    pub matched_rules: Vec<MatchedRuleView>,
    pub actions: TargetsView,
    pub deliveries: Vec<DeliveryRef>,
    pub suppressed: Vec<Suppressed>,
}

impl EvaluationView {
    /// The evaluation of a new event before its pairs are sorted into
    /// deliveries and suppressions.
    pub fn new(
        event_id: String,
        matched_rules: Vec<MatchedRuleView>,
        actions: TargetsView,
    ) -> Self {
        EvaluationView {
            event_id,
            duplicate: false,
            matched_rules,
            actions,
            deliveries: Vec::new(),
            suppressed: Vec::new(),
        }
    }
}

/// An event as stored: the body and its evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StoredEvent {
    pub received_at: String,
    #[schema(value_type = Object)]
    pub event: serde_json::Value,
    pub evaluation: EvaluationView,
}

// ---------------------------------------------------------------- deliveries

/// Where a delivery is in its life (API.md, Deliveries).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Waiting for its first try or a retry, or in flight.
    Pending,
    Succeeded,
    /// Every retry used, or the body could not be rendered.
    Failed,
    Cancelled,
}

/// One try, as listed in a delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AttemptSummary {
    pub n: u32,
    pub started_at: String,
    pub duration_ms: u64,
    pub status_code: Option<u16>,
    pub error: Option<String>,
}

/// One try with the start of the answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Attempt {
    #[serde(flatten)]
    pub summary: AttemptSummary,
    pub response_body: String,
}

/// A delivery as stored. The rendered body is kept apart (it never changes,
/// while this record is rewritten on every attempt).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub id: String,
    pub event_id: String,
    pub webhook_id: String,
    pub schema_id: String,
    pub ticket_id: Option<String>,
    pub status: DeliveryStatus,
    pub attempt_count: u32,
    /// `attempt_count` when the retry budget last started (creation or a
    /// manual retry): the schedule position is `attempt_count - retry_base`.
    pub retry_base: u32,
    /// Unix milliseconds of the next try while pending.
    pub next_attempt_ms: Option<u64>,
    pub created_at: String,
    pub triggered_at: String,
    pub content_type: ContentType,
    pub last_attempt: Option<AttemptSummary>,
    /// Why the delivery failed without an attempt (a render error).
    pub error: Option<String>,
}

/// A delivery as a client reads it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DeliveryView {
    pub id: String,
    pub event_id: String,
    pub webhook_id: String,
    pub schema_id: String,
    pub ticket_id: Option<String>,
    pub status: DeliveryStatus,
    pub attempt_count: u32,
    pub next_attempt_at: Option<String>,
    pub created_at: String,
    pub triggered_at: String,
    pub last_attempt: Option<AttemptSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl From<&Delivery> for DeliveryView {
    fn from(d: &Delivery) -> Self {
        DeliveryView {
            id: d.id.clone(),
            event_id: d.event_id.clone(),
            webhook_id: d.webhook_id.clone(),
            schema_id: d.schema_id.clone(),
            ticket_id: d.ticket_id.clone(),
            status: d.status,
            attempt_count: d.attempt_count,
            next_attempt_at: d.next_attempt_ms.map(format_millis),
            created_at: d.created_at.clone(),
            triggered_at: d.triggered_at.clone(),
            last_attempt: d.last_attempt.clone(),
            error: d.error.clone(),
        }
    }
}

/// Unix milliseconds now.
pub fn now_millis() -> u64 {
    millis_of(SystemTime::now())
}

pub fn millis_of(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Unix milliseconds as RFC 3339 UTC text.
pub fn format_millis(ms: u64) -> String {
    format_time(SystemTime::UNIX_EPOCH + Duration::from_millis(ms))
}
