//! Webhooks: the stored record with its secrets, what a client writes and
//! reads, and the checks of a URL, headers, timeout, auth and signing secret.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use super::trust::{
    resolve_client_certificate, ClientCertificate, ClientCertificateInput, ClientCertificateView,
    Ordering, PreviousSecret, PreviousSecretView,
};
use super::{check_name, new_id, now_rfc3339, yes, FieldError};

/// Longest per-webhook timeout: a receiver slower than this is broken.
const MAX_WEBHOOK_TIMEOUT: Duration = Duration::from_secs(300);

/// Tells an absent member (`None`) from an explicit `null` (`Some(None)`), which
/// `PUT` needs for `signing_secret`: absent keeps, null removes.
fn double_option<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

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

/// `rate_limit`: requests start at no more than `requests` per `per` on
/// average, in bursts of at most `requests` (POLICIES.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    #[schema(minimum = 1, maximum = 100000)]
    pub requests: u32,
    /// A duration from 1 ms to 1 h (`"1s"`).
    pub per: String,
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
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
    /// Replaces the configured retry schedule for this webhook.
    #[serde(default)]
    pub retry_schedule: Option<Vec<String>>,
    /// Secrets replaced by a rotation, newest first, each still signing
    /// until its expiry.
    #[serde(default)]
    pub signing_previous: Vec<PreviousSecret>,
    /// The client certificate for mutual TLS, if the receiver asks for one.
    #[serde(default)]
    pub client_certificate: Option<ClientCertificate>,
    #[serde(default)]
    pub ordering: Ordering,
    pub created_at: String,
    pub updated_at: String,
}

impl Webhook {
    /// `rate_limit` as (requests, per), validated on save.
    pub fn rate(&self) -> Option<(u32, Duration)> {
        let r = self.rate_limit.as_ref()?;
        Some((r.requests, crate::config::parse_duration(&r.per).ok()?))
    }

    /// The webhook's own retry schedule, if it has one.
    pub fn own_retry_schedule(&self) -> Option<Vec<Duration>> {
        self.retry_schedule
            .as_ref()?
            .iter()
            .map(|d| crate::config::parse_duration(d).ok())
            .collect()
    }

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
    #[schema(min_length = 1, max_length = 200, pattern = r"^[^\x00-\x1F\x7F]+$")]
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
    pub rate_limit: Option<RateLimit>,
    /// 1–30 durations replacing the configured schedule; `null` uses it.
    #[serde(default)]
    pub retry_schedule: Option<Vec<String>>,
    #[serde(default)]
    pub ordering: Ordering,
    /// `{"cert_pem", "key_pem"}`; absent keeps the stored one, `null`
    /// removes it, an omitted `key_pem` keeps the stored key.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<ClientCertificateInput>)]
    pub client_certificate: Option<Option<ClientCertificateInput>>,
    #[serde(default)]
    #[schema(ignore)]
    pub signing_previous: Option<IgnoredAny>,
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
    #[serde(default)]
    #[schema(ignore)]
    pub health: Option<IgnoredAny>,
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
    pub rate_limit: Option<RateLimit>,
    pub retry_schedule: Option<Vec<String>>,
    /// Previous secrets still signing during their grace period.
    pub signing_previous: Vec<PreviousSecretView>,
    pub ordering: Ordering,
    pub client_certificate: Option<ClientCertificateView>,
    pub created_at: String,
    pub updated_at: String,
    /// Present once, in the answer that generated the secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_secret: Option<String>,
    /// The endpoint's health (POLICIES.md), read-only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<super::HealthView>,
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
            health: None,
            rate_limit: w.rate_limit.clone(),
            retry_schedule: w.retry_schedule.clone(),
            signing_previous: w.previous_secrets_view(super::now_millis()),
            ordering: w.ordering,
            client_certificate: w.client_certificate.as_ref().map(Into::into),
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
        if let Some(r) = &self.rate_limit {
            check_rate_limit(r)?;
        }
        if let Some(s) = &self.retry_schedule {
            check_retry_schedule(s)?;
        }
        let auth = resolve_auth(self.auth, previous.map(|p| &p.auth))?;
        // A secret written (generated, given or removed) replaces the old
        // ones at once; only a rotation keeps them for a grace period.
        let signing_previous = match &self.signing_secret {
            None => previous
                .map(|p| p.signing_previous.clone())
                .unwrap_or_default(),
            Some(_) => Vec::new(),
        };
        let (signing_secret, generated) = resolve_secret(
            self.signing_secret,
            previous.and_then(|p| p.signing_secret.clone()),
        )?;
        let client_certificate = resolve_client_certificate(
            self.client_certificate,
            previous.and_then(|p| p.client_certificate.as_ref()),
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
            rate_limit: self.rate_limit,
            retry_schedule: self.retry_schedule,
            signing_previous,
            client_certificate,
            ordering: self.ordering,
            created_at: previous.map_or_else(|| now.clone(), |p| p.created_at.clone()),
            updated_at: now,
        };
        Ok((webhook, generated))
    }
}

fn check_rate_limit(r: &RateLimit) -> Result<(), FieldError> {
    if !(1..=100_000).contains(&r.requests) {
        return Err(FieldError::new("rate_limit.requests", "from 1 to 100000"));
    }
    let per =
        crate::config::parse_duration(&r.per).map_err(|e| FieldError::new("rate_limit.per", e))?;
    if per < Duration::from_millis(1) || per > Duration::from_secs(3600) {
        return Err(FieldError::new("rate_limit.per", "from 1ms to 1h"));
    }
    Ok(())
}

fn check_retry_schedule(schedule: &[String]) -> Result<(), FieldError> {
    if schedule.is_empty() || schedule.len() > 30 {
        return Err(FieldError::new("retry_schedule", "from 1 to 30 durations"));
    }
    for (i, d) in schedule.iter().enumerate() {
        let at = || format!("retry_schedule[{i}]");
        let delay = crate::config::parse_duration(d).map_err(|e| FieldError::new(at(), e))?;
        if delay < Duration::from_millis(1) || delay > Duration::from_secs(30 * 86_400) {
            return Err(FieldError::new(at(), "from 1ms to 30d"));
        }
    }
    Ok(())
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
    // Port 0 is not a port anything listens on: every delivery would fail.
    if url.port() == Some(0) {
        return Err(FieldError::new("url", "port 0 cannot be connected to"));
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
    if d < std::time::Duration::from_millis(1) || d > MAX_WEBHOOK_TIMEOUT {
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

#[cfg(test)]
#[path = "webhook_tests.rs"]
pub(crate) mod tests;
