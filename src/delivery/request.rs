//! The request of one delivery attempt, built from the webhook and the
//! rendered body (BEHAVIOUR.md §5). Pure: no I/O, so the exact headers are
//! unit-testable and the same value is shown by the test endpoint.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use bytes::Bytes;

use super::signing::{sign_with_keys, signing_keys};
use crate::model::{Auth, ContentType, Method, Webhook};

/// `User-Agent` of every request.
pub const USER_AGENT: &str = concat!("hookline/", env!("CARGO_PKG_VERSION"));

/// One request, ready to send. Header names keep the spelling of the spec
/// (`Webhook-Id`); HTTP/1 sends them lower-cased anyway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingRequest {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    /// `Bytes` so a retry re-sends the same body without copying it.
    pub body: Bytes,
}

/// Builds the request of one attempt. `triggered_at` (when the rule fired) and
/// `delivery_id` are the same on every retry, so a receiver can drop repeats;
/// `now` is this attempt's time and goes into `Webhook-Timestamp` and the
/// signature, so each retry is signed afresh.
pub fn build_request(
    webhook: &Webhook,
    delivery_id: &str,
    triggered_at: SystemTime,
    content_type: ContentType,
    body: Bytes,
    now: SystemTime,
) -> OutgoingRequest {
    let timestamp = unix_seconds(now);
    let media_type = content_type.media_type();
    let mut headers = vec![
        header("Content-Type", media_type),
        header("Accept", without_parameters(media_type)),
        header("User-Agent", USER_AGENT),
        header("Triggered-At", &format_triggered_at(triggered_at)),
        header("Webhook-Id", delivery_id),
        header("Webhook-Timestamp", &timestamp.to_string()),
    ];
    let keys = signing_keys(webhook);
    let now_ms = crate::model::millis_of(now);
    if let Some(signature) = sign_with_keys(&keys, now_ms, delivery_id, timestamp, &body) {
        headers.push(header("Webhook-Signature", &signature));
    }
    if let Some(value) = authorization(&webhook.auth) {
        headers.push(header("Authorization", &value));
    }
    headers.extend(webhook.headers.iter().map(|(n, v)| (n.clone(), v.clone())));
    OutgoingRequest {
        method: webhook.method,
        url: webhook.url.clone(),
        headers,
        body,
    }
}

impl OutgoingRequest {
    /// The headers as they may be shown or stored: the `Authorization`
    /// credentials become `***`, keeping the scheme (`Basic ***`) so an
    /// operator still sees which kind was sent. The signature is not a
    /// secret (it is derived from the body, and verifying needs the key).
    pub fn redacted_headers(&self) -> Vec<(String, String)> {
        self.headers
            .iter()
            .map(|(name, value)| {
                if name.eq_ignore_ascii_case("authorization") {
                    (name.clone(), redact_credentials(value))
                } else {
                    (name.clone(), value.clone())
                }
            })
            .collect()
    }
}

/// `Triggered-At`: RFC 3339 UTC with seconds precision (`2026-11-29T12:00:00Z`).
pub fn format_triggered_at(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

fn header(name: &str, value: &str) -> (String, String) {
    (name.to_string(), value.to_string())
}

/// Unix seconds; a clock before 1970 gives 0 rather than a negative stamp.
pub(super) fn unix_seconds(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// `application/xml; charset=utf-8` → `application/xml`.
pub(super) fn without_parameters(media_type: &str) -> &str {
    media_type.split(';').next().unwrap_or(media_type).trim()
}

pub(super) fn authorization(auth: &Auth) -> Option<String> {
    match auth {
        Auth::None => None,
        Auth::Basic { username, password } => {
            let pair = format!("{username}:{password}");
            let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
            Some(format!("Basic {encoded}"))
        }
        Auth::Bearer { token } => Some(format!("Bearer {token}")),
    }
}

/// The request a stored delivery is sent as now (its webhook's current URL,
/// method, auth and headers; its stored body; signed at `now`), for showing.
pub fn request_for(
    webhook: &Webhook,
    delivery: &crate::model::Delivery,
    body: Vec<u8>,
) -> OutgoingRequest {
    let triggered =
        humantime::parse_rfc3339_weak(&delivery.triggered_at).unwrap_or_else(|_| SystemTime::now());
    build_request(
        webhook,
        &delivery.id,
        triggered,
        delivery.content_type,
        body.into(),
        SystemTime::now(),
    )
}

/// `Basic dXNlcjpwYXNz` → `Basic ***`; anything without a scheme → `***`.
fn redact_credentials(value: &str) -> String {
    match value.split_once(' ') {
        Some((scheme, _)) => format!("{scheme} ***"),
        None => "***".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use super::*;
    use crate::delivery::signing::sign;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn webhook(auth: Auth, secret: Option<&str>) -> Webhook {
        Webhook {
            id: "wh_1".into(),
            name: "W".into(),
            url: "https://example.test/hook".into(),
            method: Method::Put,
            auth,
            headers: BTreeMap::from([("X-Source".to_string(), "helpdesk".to_string())]),
            signing_secret: secret.map(str::to_string),
            enabled: true,
            timeout: None,
            rate_limit: None,
            retry_schedule: None,
            signing_previous: Vec::new(),
            client_certificate: None,
            ordering: Default::default(),
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn value<'a>(req: &'a OutgoingRequest, name: &str) -> Option<&'a str> {
        req.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn headers_of_the_spec_in_order() {
        let body = Bytes::from_static(b"<a/>");
        let triggered = at(1_795_953_600) + Duration::from_millis(789);
        let req = build_request(
            &webhook(Auth::None, Some(SECRET)),
            "dl_1",
            triggered,
            ContentType::Xml,
            body.clone(),
            at(1_795_953_605),
        );
        let names: Vec<&str> = req.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "Content-Type",
                "Accept",
                "User-Agent",
                "Triggered-At",
                "Webhook-Id",
                "Webhook-Timestamp",
                "Webhook-Signature",
                "X-Source"
            ]
        );
        assert_eq!(
            value(&req, "Content-Type"),
            Some("application/xml; charset=utf-8")
        );
        assert_eq!(value(&req, "Accept"), Some("application/xml"));
        assert_eq!(value(&req, "User-Agent"), Some("hookline/0.1.0"));
        assert_eq!(value(&req, "Triggered-At"), Some("2026-11-29T12:00:00Z"));
        assert_eq!(value(&req, "Webhook-Timestamp"), Some("1795953605"));
        let expected = sign(SECRET, "dl_1", 1_795_953_605, b"<a/>");
        assert_eq!(value(&req, "Webhook-Signature"), expected.as_deref());
        assert_eq!(req.method, Method::Put);
        assert_eq!(req.body, body);
    }

    #[test]
    fn triggered_at_is_utc_seconds() {
        let t = at(1_795_953_600) + Duration::from_nanos(999_999_999);
        assert_eq!(format_triggered_at(t), "2026-11-29T12:00:00Z");
        assert_eq!(format_triggered_at(UNIX_EPOCH), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn no_secret_no_signature() {
        let req = build_request(
            &webhook(Auth::None, None),
            "dl_1",
            at(0),
            ContentType::Json,
            Bytes::new(),
            at(0),
        );
        assert_eq!(value(&req, "Webhook-Signature"), None);
        assert_eq!(value(&req, "Authorization"), None);
        assert_eq!(value(&req, "Accept"), Some("application/json"));
    }

    #[test]
    fn basic_auth_is_sent_and_redacted() {
        let auth = Auth::Basic {
            username: "user".into(),
            password: "pa:ss".into(),
        };
        let req = build_request(
            &webhook(auth, None),
            "dl_1",
            at(0),
            ContentType::Text,
            Bytes::new(),
            at(0),
        );
        assert_eq!(value(&req, "Authorization"), Some("Basic dXNlcjpwYTpzcw=="));
        let shown = req.redacted_headers();
        assert!(shown.contains(&("Authorization".into(), "Basic ***".into())));
        assert_eq!(shown.len(), req.headers.len());
        assert!(!format!("{shown:?}").contains("dXNlcjpwYTpzcw"));
    }

    #[test]
    fn bearer_auth_is_sent_and_redacted() {
        let auth = Auth::Bearer {
            token: "tok-123".into(),
        };
        let req = build_request(
            &webhook(auth, Some(SECRET)),
            "dl_1",
            at(0),
            ContentType::Json,
            Bytes::new(),
            at(0),
        );
        assert_eq!(value(&req, "Authorization"), Some("Bearer tok-123"));
        let shown = req.redacted_headers();
        assert!(shown.contains(&("Authorization".into(), "Bearer ***".into())));
        assert!(!format!("{shown:?}").contains("tok-123"));
        // The signature stays visible: it is no secret.
        assert!(shown.iter().any(|(n, _)| n == "Webhook-Signature"));
    }

    #[test]
    fn redaction_without_scheme() {
        assert_eq!(redact_credentials("opaque"), "***");
    }
}
