//! hookline patch: a body for the answers the dispatcher writes by itself
//! (400 for a request it cannot parse, 431 for a head too large, 408 for a
//! head that does not arrive, 500 for its own inconsistencies). Upstream sends
//! them empty; the application registers one writer at start-up so they carry
//! its error body like every other answer.

use std::sync::OnceLock;

use bytes::Bytes;
use http::{header::CONTENT_TYPE, HeaderValue};

use crate::{body::BoxBody, Response, StatusCode};

/// Gives the content type and body for a status, or `None` for an empty body.
pub type ErrorBodyWriter = fn(StatusCode) -> Option<(HeaderValue, Bytes)>;

static WRITER: OnceLock<ErrorBodyWriter> = OnceLock::new();

/// Registers the writer for the whole process. Only the first call takes
/// effect; it answers whether this one did.
pub fn set_error_body_writer(writer: ErrorBodyWriter) -> bool {
    WRITER.set(writer).is_ok()
}

/// The response with the registered body, or empty when none is registered.
pub(crate) fn with_error_body(mut res: Response<()>) -> (Response<()>, BoxBody) {
    match WRITER.get().and_then(|writer| writer(res.status())) {
        Some((content_type, body)) => {
            res.headers_mut().insert(CONTENT_TYPE, content_type);
            (res, BoxBody::new(body))
        }
        None => (res, BoxBody::new(())),
    }
}
