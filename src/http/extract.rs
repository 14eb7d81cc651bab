//! Request extractors: bearer-token checks and the JSON body reader that
//! answers every malformed body with the API's error body.

use std::future::{ready, Future, Ready};
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::web::{self, BytesMut};
use actix_web::{FromRequest, HttpRequest};
use futures_util::StreamExt as _;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::ApiError;
use super::AppState;

/// Largest body of an admin request (a schema is at most 256 KiB of template,
/// which JSON escaping can grow several times).
pub const ADMIN_BODY_LIMIT: usize = 2 * 1024 * 1024;

/// Proof that the request carried the admin token.
pub struct Admin;

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let allowed = state(req).is_some_and(|s| bearer_matches(req, &s.admin_token));
        ready(if allowed {
            Ok(Admin)
        } else {
            Err(ApiError::unauthorized())
        })
    }
}

fn state(req: &HttpRequest) -> Option<&AppState> {
    req.app_data::<web::Data<AppState>>().map(|d| d.get_ref())
}

/// Whether the request's bearer token is `expected`.
pub fn bearer_matches(req: &HttpRequest, expected: &str) -> bool {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    given.is_some_and(|given| tokens_match(given, expected))
}

/// Compares a token someone gave with the expected one in constant time.
/// Both sides are hashed first so the comparison does not leak the length.
pub fn tokens_match(given: &str, expected: &str) -> bool {
    let a = Sha256::digest(given.as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    a.ct_eq(&b).into()
}

/// A request body that is a JSON object (API.md: `invalid_json` otherwise),
/// read up to [`ADMIN_BODY_LIMIT`].
pub struct JsonObject(pub serde_json::Value);

impl FromRequest for JsonObject {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_json = is_json_content_type(req);
        let mut payload = payload.take();
        let req = req.clone();
        Box::pin(async move {
            if !is_json {
                return Err(ApiError::unsupported_media_type());
            }
            let bytes = read_limited(&req, &mut payload, ADMIN_BODY_LIMIT).await?;
            json_object(&bytes).map(JsonObject)
        })
    }
}

/// Parses a body that must be a JSON object (API.md: `invalid_json` otherwise).
pub fn json_object(bytes: &[u8]) -> Result<serde_json::Value, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::invalid_json(format!("body is not JSON: {e}")))?;
    if !value.is_object() {
        return Err(ApiError::invalid_json("body must be a JSON object"));
    }
    Ok(value)
}

/// The `event` member of a preview or test request, validated like an
/// ingested event, or the built-in sample event when absent.
pub fn event_or_sample(event: Option<serde_json::Value>) -> Result<serde_json::Value, ApiError> {
    match event {
        None => Ok(crate::render::sample_event().clone()),
        Some(value) => Ok(crate::model::IncomingEvent::parse(value)
            .map_err(|e| e.within("event"))?
            .body),
    }
}

/// `application/json` or any `application/*+json`, parameters allowed.
pub fn is_json_content_type(req: &HttpRequest) -> bool {
    let Some(value) = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Reads the body of `req`: `413` at once when its declared `Content-Length`
/// is over `limit` (nothing is read), `413` as soon as more than `limit`
/// bytes came, and `408` when the whole body took longer than the
/// configured `request_timeout` (a body that stalls cannot hold its
/// connection and handler open).
pub async fn read_limited<S>(
    req: &HttpRequest,
    payload: &mut S,
    limit: usize,
) -> Result<BytesMut, ApiError>
where
    S: futures_util::Stream<Item = Result<web::Bytes, actix_web::error::PayloadError>> + Unpin,
{
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::payload_too_large(limit));
    }
    let timeout = state(req).map_or(std::time::Duration::from_secs(30), |s| {
        s.config.request_timeout
    });
    let read = async {
        let mut body = BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| match e {
                actix_web::error::PayloadError::Overflow => ApiError::payload_too_large(limit),
                other => ApiError::invalid_json(format!("could not read the body: {other}")),
            })?;
            if body.len() + chunk.len() > limit {
                return Err(ApiError::payload_too_large(limit));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    };
    actix_web::rt::time::timeout(timeout, read)
        .await
        .unwrap_or_else(|_| Err(ApiError::request_timeout(timeout)))
}

/// Turns a JSON object into `T`, naming the field at fault: a missing member,
/// a wrong type or a value outside its set is `validation_failed` with `field`.
pub fn parse<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    crate::model::parse_input(value).map_err(|e| ApiError::validation(e.field, e.message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{RuleGroupInput, WebhookInput};

    fn field_of<T: DeserializeOwned>(json: serde_json::Value) -> String {
        match parse::<T>(json) {
            Ok(_) => "<ok>".into(),
            Err(e) => e.field.unwrap_or_default(),
        }
    }

    #[test]
    fn fields_are_named() {
        use serde_json::json;
        assert_eq!(field_of::<WebhookInput>(json!({"name": "x"})), "url");
        assert_eq!(
            field_of::<WebhookInput>(json!({"name": "x", "url": "http://a/", "method": "DELETE"})),
            "method"
        );
        assert_eq!(
            field_of::<WebhookInput>(
                json!({"name": "x", "url": "http://a/", "auth": {"type": "digest"}})
            ),
            "auth.type"
        );
        assert_eq!(
            field_of::<WebhookInput>(
                json!({"name": "x", "url": "http://a/", "auth": {"type": "basic"}})
            ),
            "auth.username"
        );
        assert_eq!(
            field_of::<WebhookInput>(json!({"name": 5, "url": "http://a/"})),
            "name"
        );
        assert_eq!(
            field_of::<WebhookInput>(json!({"name": "x", "url": "http://a/", "enabeld": true})),
            "enabeld"
        );
        assert_eq!(
            field_of::<RuleGroupInput>(
                json!({"name": "g", "rules": [{"name": "r", "conditions": [{"field": "a", "op": "eq"}, {"field": "a", "op": "like"}]}]})
            ),
            "rules[0].conditions[1].op"
        );
        assert_eq!(
            field_of::<RuleGroupInput>(
                json!({"name": "g", "rules": [{"name": "r", "actions": {"webhooks": [{"webhook_id": "w"}]}}]})
            ),
            "rules[0].actions.webhooks[0].schema_id"
        );
    }
}
