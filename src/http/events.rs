//! Event ingestion routes: `POST /api/v1/events`, `/events/batch`,
//! `/events/dry-run` (ingest token) and `GET /api/v1/events/{id}` (admin).

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::value::RawValue;

use super::error::{ApiError, ErrorBody};
use super::extract::{bearer_matches, is_json_content_type, json_object, read_limited, Admin};
use super::AppState;
use crate::engine::{DryRun, Ingest};
use crate::model::{EvaluationView, IncomingEvent, StoredEvent};

/// Most events in one batch (API.md).
pub const MAX_BATCH_ITEMS: usize = 1000;
/// Largest batch body: a batch of typical events, not 1000 maximal ones.
const MAX_BATCH_BYTES: usize = 32 * 1024 * 1024;

/// Checks the ingest token when one is configured.
pub(super) fn check_ingest_token(req: &HttpRequest, state: &AppState) -> Result<(), ApiError> {
    match &state.config.ingest_token {
        Some(token) if !bearer_matches(req, token) => Err(ApiError::unauthorized()),
        _ => Ok(()),
    }
}

/// Reads a JSON body of at most `limit` bytes after the token check.
async fn read_body(
    req: &HttpRequest,
    state: &AppState,
    payload: &mut web::Payload,
    limit: usize,
) -> Result<web::BytesMut, ApiError> {
    check_ingest_token(req, state)?;
    if !is_json_content_type(req) {
        return Err(ApiError::unsupported_media_type());
    }
    read_limited(req, payload, limit).await
}

/// Reads and validates the single event of `POST /events` and `/dry-run`.
async fn read_event(
    req: &HttpRequest,
    state: &AppState,
    payload: &mut web::Payload,
) -> Result<IncomingEvent, ApiError> {
    let bytes = read_body(req, state, payload, state.config.max_event_bytes).await?;
    parse_event(&bytes)
}

/// Parses one event body: JSON, an object, valid.
fn parse_event(bytes: &[u8]) -> Result<IncomingEvent, ApiError> {
    Ok(IncomingEvent::parse(json_object(bytes)?)?)
}

/// Shutdown (or start-up): answer, do not refuse the connection, and store
/// (or publish) nothing that the delivery side could no longer pick up.
fn check_ready(state: &AppState) -> Result<(), ApiError> {
    if state.ready.load(std::sync::atomic::Ordering::Acquire) {
        Ok(())
    } else {
        Err(ApiError::unavailable(
            "hookline is not ready (starting or shutting down); send the event again shortly",
        ))
    }
}

async fn ingest(
    state: &AppState,
    events: Vec<IncomingEvent>,
) -> Result<Vec<EvaluationView>, ApiError> {
    check_ready(state)?;
    state
        .engine
        .send(Ingest(events))
        .await
        .map_err(|_| ApiError::unavailable("the rule engine is not running"))?
        .map_err(ApiError::from)
}

/// Cluster mode: the events go to the stream; `202` once JetStream stored
/// them, `503` while NATS is away (nothing answered that is not stored).
async fn publish(
    state: &AppState,
    cluster: &crate::cluster::Cluster,
    events: Vec<IncomingEvent>,
) -> Result<Vec<crate::cluster::Queued>, ApiError> {
    check_ready(state)?;
    cluster.publish(&events).await.map_err(|e| {
        ApiError::unavailable(format!(
            "the cluster's event stream did not store the event ({e}); send it again shortly"
        ))
    })
}

/// Store one event; `202` after its commit, `200` for an id already stored.
#[utoipa::path(post, operation_id = "postEvent", path = "/api/v1/events", tag = "events",
    request_body(content = EventDoc, description = "an event (API.md, Events)"),
    responses((status = 202, body = EvaluationView), (status = 200, body = EvaluationView, description = "duplicate id"),
              (status = 400, body = ErrorBody), (status = 413, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("ingest_token" = [])))]
pub async fn post_event(
    req: HttpRequest,
    state: web::Data<AppState>,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let event = read_event(&req, &state, &mut payload).await?;
    if let Some(cluster) = &state.cluster {
        let mut queued = publish(&state, cluster, vec![event]).await?;
        let queued = queued
            .pop()
            .ok_or_else(|| ApiError::unavailable("no answer"))?;
        let status = if queued.duplicate {
            actix_web::http::StatusCode::OK
        } else {
            actix_web::http::StatusCode::ACCEPTED
        };
        return Ok(HttpResponse::build(status).json(queued));
    }
    let mut evaluations = ingest(&state, vec![event]).await?;
    let evaluation = evaluations
        .pop()
        .ok_or_else(|| ApiError::unavailable("no evaluation"))?;
    let status = if evaluation.duplicate {
        actix_web::http::StatusCode::OK
    } else {
        actix_web::http::StatusCode::ACCEPTED
    };
    Ok(HttpResponse::build(status).json(evaluation))
}

/// `202` of a batch: the evaluations in the order of the events.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct BatchAnswer {
    results: Vec<EvaluationView>,
}

/// An event as API.md describes it, for the document only (the server
/// parses with `IncomingEvent::parse`). Other members are kept and are
/// visible to placeholders.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[allow(dead_code)] // read by utoipa, never built
pub struct EventDoc {
    #[serde(rename = "type")]
    #[schema(min_length = 1, max_length = 100)]
    event_type: String,
    #[schema(min_length = 1, max_length = 200)]
    id: Option<String>,
    occurred_at: Option<String>,
    #[schema(value_type = Option<Object>)]
    ticket: Option<serde_json::Value>,
}

/// Store 1–1000 events in order, all or nothing.
#[utoipa::path(post, operation_id = "postEventBatch", path = "/api/v1/events/batch", tag = "events",
    request_body(content = Vec<EventDoc>, description = "1 to 1000 events"),
    responses((status = 202, body = BatchAnswer), (status = 400, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("ingest_token" = [])))]
pub async fn post_batch(
    req: HttpRequest,
    state: web::Data<AppState>,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let limit = MAX_BATCH_BYTES.max(state.config.max_event_bytes);
    let bytes = read_body(&req, &state, &mut payload, limit).await?;
    let items: Vec<&RawValue> = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::invalid_json(format!("a batch must be a JSON array of events: {e}"))
    })?;
    if items.is_empty() || items.len() > MAX_BATCH_ITEMS {
        return Err(ApiError::validation(
            "body",
            "a batch holds 1 to 1000 events",
        ));
    }
    let mut events = Vec::with_capacity(items.len());
    for (i, raw) in items.iter().enumerate() {
        if raw.get().len() > state.config.max_event_bytes {
            return Err(ApiError::validation(
                format!("[{i}]"),
                "event is larger than max_event_bytes",
            ));
        }
        events.push(parse_event(raw.get().as_bytes()).map_err(|e| at_index(i, e))?);
    }
    if let Some(cluster) = &state.cluster {
        let results = publish(&state, cluster, events).await?;
        return Ok(HttpResponse::Accepted().json(serde_json::json!({ "results": results })));
    }
    let results = ingest(&state, events).await?;
    Ok(HttpResponse::Accepted().json(BatchAnswer { results }))
}

/// Names the batch item at fault: `type` of item 37 is `[37].type`; an item
/// that is not an object stays `invalid_json`, with its index as the field.
fn at_index(i: usize, e: ApiError) -> ApiError {
    let field = match &e.field {
        Some(f) if f != "body" => format!("[{i}].{f}"),
        _ => format!("[{i}]"),
    };
    let message = e
        .message
        .split_once(": ")
        .map_or(e.message.as_str(), |(_, m)| m);
    ApiError {
        message: format!("{field}: {message}"),
        field: Some(field),
        ..e
    }
}

/// The evaluation an event would get; nothing stored, sent or deduplicated.
#[utoipa::path(post, operation_id = "dryRunEvent", path = "/api/v1/events/dry-run", tag = "events",
    request_body(content = EventDoc, description = "an event"),
    responses((status = 200, body = EvaluationView), (status = 400, body = ErrorBody)),
    security(("ingest_token" = [])))]
pub async fn dry_run(
    req: HttpRequest,
    state: web::Data<AppState>,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let event = read_event(&req, &state, &mut payload).await?;
    let evaluation = state
        .engine
        .send(DryRun(event))
        .await
        .map_err(|_| ApiError::unavailable("the rule engine is not running"))?;
    Ok(HttpResponse::Ok().json(evaluation))
}

/// A stored event and its evaluation.
#[utoipa::path(get, operation_id = "getEvent", path = "/api/v1/events/{id}", tag = "events", params(("id" = String, Path)),
    responses((status = 200, body = StoredEvent), (status = 404, body = ErrorBody)),
    security(("admin_token" = [])))]
pub async fn get_event(
    _: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    if let Some(stored) = state.store.event(&id)? {
        return Ok(HttpResponse::Ok().json(stored));
    }
    if let Some(cluster) = &state.cluster {
        let read = crate::cluster::Read::Event { id: id.to_string() };
        if let Some(found) = cluster.ask(read).await {
            return Ok(HttpResponse::Ok().json(found));
        }
    }
    Err(ApiError::not_found(format!(
        "no event with id {:?}",
        id.as_str()
    )))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/api/v1/events", "POST").route(web::post().to(post_event)))
        .service(super::resource("/api/v1/events/batch", "POST").route(web::post().to(post_batch)))
        .service(super::resource("/api/v1/events/dry-run", "POST").route(web::post().to(dry_run)))
        .service(super::resource("/api/v1/events/{id}", "GET").route(web::get().to(get_event)));
}
