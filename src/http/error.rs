//! The error body of every 4xx/5xx answer (API.md, Errors).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::model::FieldError;
use crate::store::StoreError;

/// An answer that is not a success: status, stable `code`, operator-readable
/// `message`, and the input `field` at fault when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
}

/// `{"error": {...}}`, as written on the wire.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
struct ErrorDetail {
    code: String,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }

    pub fn invalid_json(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_json", message)
    }

    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        let field = field.into();
        let message = format!("{field}: {}", message.into());
        ApiError {
            field: Some(field),
            ..Self::new(StatusCode::BAD_REQUEST, "validation_failed", message)
        }
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong bearer token",
        )
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// `408`: the body did not arrive within `request_timeout`.
    pub fn request_timeout(limit: std::time::Duration) -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!(
                "the request body did not arrive within {}",
                crate::config::format_duration(limit)
            ),
        )
    }

    /// `503` for a connection accepted over `max_connections`.
    pub fn over_capacity() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "too many connections are open; try again shortly",
        )
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this path does not take that method",
        )
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("body is larger than the limit of {limit} bytes"),
        )
    }

    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as Content-Type: application/json",
        )
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    /// Maps a store error, naming the kind of object for `404`.
    /// The body this error is answered with, as JSON.
    pub fn body_json(&self) -> serde_json::Value {
        serde_json::to_value(ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message.clone(),
                field: self.field.clone(),
            },
        })
        .unwrap_or_default()
    }

    pub fn from_store(kind: &str, id: &str, e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::not_found(format!("no {kind} with id {id:?}")),
            other => other.into(),
        }
    }
}

/// The error body for the answers actix-http's dispatcher writes by itself,
/// below every route (registered once in `http::start`; our patch of
/// actix-http, vendor/actix-http/PATCHES.md). Nothing of the request is
/// echoed: it could not be parsed, and it may be hostile.
pub fn below_routes_body(
    status: StatusCode,
) -> Option<(actix_web::http::header::HeaderValue, actix_web::web::Bytes)> {
    let (code, message) = match status {
        StatusCode::BAD_REQUEST => (
            "bad_request",
            "the request could not be parsed as HTTP/1.1 (a bad byte in the path or a header?)",
        ),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => (
            "request_header_fields_too_large",
            "the request's head is too large: more than 96 headers, over 128 KiB in all, or a header name of 64 KiB or more",
        ),
        StatusCode::REQUEST_TIMEOUT => (
            "request_timeout",
            "the request's head did not arrive within request_timeout",
        ),
        StatusCode::INTERNAL_SERVER_ERROR => ("internal", "the connection could not be served"),
        _ => return None,
    };
    let body = serde_json::to_vec(&ErrorBody {
        error: ErrorDetail {
            code: code.to_string(),
            message: message.to_string(),
            field: None,
        },
    })
    .ok()?;
    Some((
        actix_web::http::header::HeaderValue::from_static("application/json"),
        body.into(),
    ))
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status).json(ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message.clone(),
                field: self.field.clone(),
            },
        })
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        ApiError::validation(e.field, e.message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::not_found("not found"),
            StoreError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            StoreError::Invalid(f) => f.into(),
            StoreError::Full(e) => {
                tracing::warn!(error = %e, "storage refused a request: disk full");
                ApiError::unavailable(
                    "the disk is full; nothing was stored (retry once there is room)",
                )
            }
            StoreError::Io(e) => {
                tracing::warn!(error = %e, "storage refused a request: I/O error");
                ApiError::unavailable("storage cannot accept writes right now; nothing was stored")
            }
            StoreError::Unavailable(m) => {
                tracing::warn!(error = %m, "storage refused a request");
                ApiError::unavailable("storage cannot accept writes right now; nothing was stored")
            }
            // Not a passing state: retrying will not help, an operator must look.
            StoreError::Corrupt(m) => {
                tracing::error!(error = %m, "the data file is damaged");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "storage_damaged",
                    "the data file is damaged; stop hookline and run `hookline check` on it (nothing was stored)",
                )
            }
            StoreError::Closed => ApiError::unavailable("shutting down; nothing was stored"),
        }
    }
}
