//! A webhook prepared for sending: everything about its requests that does
//! not change from one attempt to the next — URL, method, the fixed headers
//! with the authorization, the decoded signing key, the timeout — built once
//! when the webhook changes, not on every attempt.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use super::request::{
    authorization, format_triggered_at, unix_seconds, without_parameters, USER_AGENT,
};
use super::signing::{sign_with_keys, signing_keys};
use crate::model::{ContentType, Method, Webhook};

/// The parts of a request that every attempt of a webhook shares.
#[derive(Debug)]
pub struct PreparedWebhook {
    pub webhook: Arc<Webhook>,
    /// URL, method and the fixed headers, or why the stored webhook cannot
    /// be sent to (each attempt then fails with that reason).
    target: Result<Target, String>,
    /// The decoded signing keys with their expiry (unix ms), newest first:
    /// the current one (never expiring) and those of a rotation's grace.
    signing_keys: Vec<(Vec<u8>, u64)>,
    pub timeout: Duration,
    /// The webhook's own client when it has a client certificate (or why
    /// that certificate cannot be used); `None` uses the shared one.
    own_client: Option<Result<reqwest::Client, String>>,
}

/// URL, method and headers as reqwest takes them.
#[derive(Debug)]
pub(super) struct Target {
    pub(super) url: reqwest::Url,
    pub(super) method: reqwest::Method,
    pub(super) headers: HeaderMap,
}

impl Target {
    /// Parses a request's parts. The errors name the bad part without
    /// echoing a value, which may hold credentials; `Authorization` is
    /// marked sensitive.
    pub(super) fn parse<'h>(
        url: &str,
        method: Method,
        headers: impl Iterator<Item = (&'h str, &'h str)>,
    ) -> Result<Target, String> {
        let url = reqwest::Url::parse(url).map_err(|e| format!("URL: {e}"))?;
        let method = reqwest::Method::from_bytes(method.as_str().as_bytes())
            .map_err(|_| "bad method".to_string())?;
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            let bad = || format!("invalid header {name:?}");
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad())?;
            let mut value = HeaderValue::from_str(value).map_err(|_| bad())?;
            if name == reqwest::header::AUTHORIZATION {
                value.set_sensitive(true);
            }
            map.append(name, value);
        }
        Ok(Target {
            url,
            method,
            headers: map,
        })
    }
}

/// What changes per attempt.
#[derive(Debug, Clone)]
pub struct Attempt<'a> {
    pub delivery_id: &'a str,
    pub triggered_at: SystemTime,
    pub content_type: ContentType,
    pub body: Bytes,
    /// This attempt's time: `Webhook-Timestamp` and the signature.
    pub now: SystemTime,
}

impl PreparedWebhook {
    /// Prepares `webhook`; `client` builds its own client when it has a
    /// client certificate.
    pub fn new(
        webhook: Arc<Webhook>,
        default_timeout: Duration,
        client: &super::HttpClient,
    ) -> PreparedWebhook {
        PreparedWebhook {
            own_client: webhook
                .client_certificate
                .as_ref()
                .map(|cert| client.for_certificate(cert)),
            target: target(&webhook),
            signing_keys: signing_keys(&webhook),
            timeout: webhook.timeout_or(default_timeout),
            webhook,
        }
    }

    /// The client presenting the webhook's certificate, if it has one.
    pub fn own_client(&self) -> Result<Option<&reqwest::Client>, &str> {
        match &self.own_client {
            None => Ok(None),
            Some(Ok(client)) => Ok(Some(client)),
            Some(Err(reason)) => Err(reason),
        }
    }

    /// The request of one attempt: the same headers as
    /// [`super::build_request`] gives for display, checked once.
    pub fn request(
        &self,
        client: &reqwest::Client,
        attempt: Attempt<'_>,
    ) -> Result<reqwest::Request, String> {
        let target = self.target.as_ref().map_err(Clone::clone)?;
        let timestamp = unix_seconds(attempt.now);
        let media_type = attempt.content_type.media_type();
        let mut headers = HeaderMap::with_capacity(target.headers.len() + 6);
        let mut put = |name: &'static str, value: &str| {
            if let Ok(v) = HeaderValue::from_str(value) {
                headers.append(HeaderName::from_static(name), v);
            }
        };
        put("content-type", media_type);
        put("accept", without_parameters(media_type));
        put("triggered-at", &format_triggered_at(attempt.triggered_at));
        put("webhook-id", attempt.delivery_id);
        put("webhook-timestamp", &timestamp.to_string());
        let now_ms = crate::model::millis_of(attempt.now);
        let signature = sign_with_keys(
            &self.signing_keys,
            now_ms,
            attempt.delivery_id,
            timestamp,
            &attempt.body,
        );
        if let Some(signature) = signature {
            put("webhook-signature", &signature);
        }
        for (name, value) in &target.headers {
            headers.append(name.clone(), value.clone());
        }
        client
            .request(target.method.clone(), target.url.clone())
            .headers(headers)
            .body(attempt.body)
            .build()
            .map_err(|e| e.to_string())
    }
}

/// The parts of the webhook's requests that never change: `User-Agent`,
/// `Authorization` and the webhook's own headers.
fn target(webhook: &Webhook) -> Result<Target, String> {
    let auth = authorization(&webhook.auth);
    let fixed = [("User-Agent", USER_AGENT)]
        .into_iter()
        .chain(auth.as_deref().map(|a| ("Authorization", a)))
        .chain(
            webhook
                .headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str())),
        );
    Target::parse(&webhook.url, webhook.method, fixed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Auth;

    fn webhook() -> Webhook {
        Webhook {
            id: "wh_1".into(),
            name: "W".into(),
            url: "https://example.test/hook".into(),
            method: Method::Post,
            auth: Auth::Bearer {
                token: "t0k3n".into(),
            },
            signing_secret: Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()),
            headers: [("X-Team".to_string(), "ops".to_string())].into(),
            timeout: Some("3s".into()),
            rate_limit: None,
            retry_schedule: None,
            signing_previous: Vec::new(),
            client_certificate: None,
            ordering: Default::default(),
            enabled: true,
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    /// The prepared path sends exactly the headers `build_request` shows.
    #[test]
    fn the_prepared_request_carries_the_shown_headers() {
        let webhook = Arc::new(webhook());
        let client = super::super::HttpClient::new(None).expect("client");
        let prepared = PreparedWebhook::new(webhook.clone(), Duration::from_secs(10), &client);
        assert_eq!(prepared.timeout, Duration::from_secs(3));
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let body = Bytes::from_static(b"{\"a\":1}");
        let client = reqwest::Client::new();
        let sent = prepared
            .request(
                &client,
                Attempt {
                    delivery_id: "dl_1",
                    triggered_at: now,
                    content_type: ContentType::Json,
                    body: body.clone(),
                    now,
                },
            )
            .expect("request");
        let shown =
            super::super::build_request(&webhook, "dl_1", now, ContentType::Json, body, now);
        assert_eq!(sent.url().as_str(), shown.url);
        assert_eq!(sent.method().as_str(), shown.method.as_str());
        assert_eq!(sent.headers().len(), shown.headers.len());
        for (name, value) in &shown.headers {
            let got = sent
                .headers()
                .get(name.as_str())
                .and_then(|v| v.to_str().ok());
            assert_eq!(got, Some(value.as_str()), "{name}");
        }
    }

    #[test]
    fn a_webhook_that_cannot_be_sent_to_fails_each_attempt_with_the_reason() {
        let mut w = webhook();
        w.url = "not a url".into();
        let client = super::super::HttpClient::new(None).expect("client");
        let prepared = PreparedWebhook::new(Arc::new(w), Duration::from_secs(10), &client);
        let now = SystemTime::now();
        let err = prepared
            .request(
                &reqwest::Client::new(),
                Attempt {
                    delivery_id: "dl_1",
                    triggered_at: now,
                    content_type: ContentType::Text,
                    body: Bytes::new(),
                    now,
                },
            )
            .expect_err("bad url");
        assert!(err.starts_with("URL:"), "{err}");
    }
}
