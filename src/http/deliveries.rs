//! Delivery routes: list, detail, manual retry and cancel; and the webhook
//! test that sends one request now.

use std::collections::HashMap;

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::{event_or_sample, json_object, parse, read_limited, Admin, ADMIN_BODY_LIMIT};
use super::AppState;
use crate::delivery::{request_for, OutgoingRequest};
use crate::model::{Attempt, DeliveryStatus, DeliveryView, Webhook};
use crate::store::DeliveryFilter;

/// Largest `limit` of a listing.
const MAX_LIMIT: usize = 1000;
const DEFAULT_LIMIT: usize = 50;

/// A request as shown to an operator: `Authorization` redacted.
#[derive(Serialize, ToSchema)]
pub struct RequestView {
    pub method: String,
    pub url: String,
    pub headers: HashMap<String, String>,
    pub body: String,
}

impl RequestView {
    fn of(request: &OutgoingRequest) -> Self {
        RequestView {
            method: request.method.as_str().to_string(),
            url: request.url.clone(),
            headers: request.redacted_headers().into_iter().collect(),
            body: String::from_utf8_lossy(&request.body).into_owned(),
        }
    }
}

/// A delivery with its request and attempts.
#[derive(Serialize, ToSchema)]
pub struct DeliveryDetail {
    #[serde(flatten)]
    pub delivery: DeliveryView,
    /// `null` when its webhook no longer exists.
    pub request: Option<RequestView>,
    pub attempts: Vec<Attempt>,
}

fn parse_listing(query: &str) -> Result<(DeliveryFilter, usize, Option<String>), ApiError> {
    let pairs = web::Query::<HashMap<String, String>>::from_query(query)
        .map_err(|e| ApiError::validation("query", e.to_string()))?
        .into_inner();
    let mut filter = DeliveryFilter::default();
    let mut limit = DEFAULT_LIMIT;
    let mut before = None;
    for (key, value) in pairs {
        if value.is_empty() {
            continue;
        }
        match key.as_str() {
            "status" => {
                filter.status = Some(
                    serde_json::from_value::<DeliveryStatus>(serde_json::Value::String(value))
                        .map_err(|_| {
                            ApiError::validation(
                                "status",
                                "one of pending, succeeded, failed, cancelled",
                            )
                        })?,
                )
            }
            "webhook_id" => filter.webhook_id = Some(value),
            "event_id" => filter.event_id = Some(value),
            "ticket_id" => filter.ticket_id = Some(value),
            "before" => before = Some(value),
            "limit" => {
                limit = value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| ApiError::validation("limit", "a number from 1 to 1000"))?
            }
            other => return Err(ApiError::validation(other, "unknown query parameter")),
        }
    }
    Ok((filter, limit, before))
}

/// Deliveries, newest first, filtered, a page at a time.
#[utoipa::path(get, operation_id = "listDeliveries", path = "/api/v1/deliveries", tag = "deliveries",
    params(("status" = Option<String>, Query), ("webhook_id" = Option<String>, Query), ("event_id" = Option<String>, Query),
           ("ticket_id" = Option<String>, Query), ("limit" = Option<usize>, Query, minimum = 1, maximum = 1000), ("before" = Option<String>, Query)),
    responses((status = 200, description = "`{\"items\": [delivery…], \"next\": cursor|null}`"), (status = 400, body = ErrorBody)),
    security(("admin_token" = [])))]
pub async fn list(
    _: Admin,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let query = req.query_string().to_string();
    let (_, limit, _) = parse_listing(&query)?;
    let store = state.store.clone();
    let local = web::block({
        let query = query.clone();
        move || page_json(&store, &query)
    })
    .await
    .map_err(|_| ApiError::unavailable("listing was interrupted"))??;
    let Some(cluster) = &state.cluster else {
        return Ok(HttpResponse::Ok().json(local));
    };
    // Cluster mode: every instance's page of its own file, merged.
    let mut pages = vec![local];
    for answer in cluster
        .ask_all(crate::cluster::Read::Deliveries { query })
        .await
    {
        if let Ok(page) = serde_json::from_value(answer) {
            pages.push(page);
        }
    }
    Ok(HttpResponse::Ok().json(crate::cluster::pages::merge(pages, limit)))
}

/// One page of the delivery log from this instance's file.
pub(super) fn page_json(
    store: &crate::store::Store,
    query: &str,
) -> Result<crate::cluster::pages::Page, ApiError> {
    let (filter, limit, before) = parse_listing(query)?;
    let (items, next) = store.list_deliveries(&filter, limit, before.as_deref())?;
    let items = items
        .iter()
        .map(|d| serde_json::to_value(DeliveryView::from(d)))
        .collect::<Result<_, _>>()
        .map_err(|e| ApiError::unavailable(format!("encode: {e}")))?;
    Ok(crate::cluster::pages::Page { items, next })
}

/// One delivery with its request (auth redacted) and every attempt.
#[utoipa::path(get, operation_id = "getDelivery", path = "/api/v1/deliveries/{id}", tag = "deliveries", params(("id" = String, Path)),
    responses((status = 200, body = DeliveryDetail), (status = 404, body = ErrorBody)),
    security(("admin_token" = [])))]
pub async fn get(
    _: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    if let Some(found) = delivery_json(&state.store, &id)? {
        return Ok(HttpResponse::Ok().json(found));
    }
    if let Some(cluster) = &state.cluster {
        let read = crate::cluster::Read::Delivery { id: id.to_string() };
        if let Some(found) = cluster.ask(read).await {
            return Ok(HttpResponse::Ok().json(found));
        }
    }
    Err(ApiError::not_found(format!(
        "no delivery with id {:?}",
        id.as_str()
    )))
}

/// The answer of `GET /deliveries/{id}` from this instance's file.
pub(super) fn delivery_json(
    store: &crate::store::Store,
    id: &str,
) -> Result<Option<serde_json::Value>, ApiError> {
    let Some(crate::store::DeliveryDetail {
        delivery,
        body,
        attempts,
    }) = store.delivery_detail(id)?
    else {
        return Ok(None);
    };
    let request = store
        .get::<Webhook>(&delivery.webhook_id)?
        .map(|webhook| RequestView::of(&request_for(&webhook, &delivery, body)));
    let detail = DeliveryDetail {
        delivery: DeliveryView::from(&delivery),
        request,
        attempts,
    };
    serde_json::to_value(detail)
        .map(Some)
        .map_err(|e| ApiError::unavailable(format!("encode: {e}")))
}

/// Send a finished delivery again with a fresh set of retries.
#[utoipa::path(post, operation_id = "retryDelivery", path = "/api/v1/deliveries/{id}/retry", tag = "deliveries", params(("id" = String, Path)),
    responses((status = 202, body = DeliveryView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("admin_token" = [])))]
pub async fn retry(
    _: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let done = state.admin.retry_delivery(id.clone()).await;
    let elsewhere = crate::cluster::Read::Retry { id: id.clone() };
    super::cluster::delivery_action(&state, done, &id, 202, elsewhere).await
}

/// Cancel a pending delivery.
#[utoipa::path(post, operation_id = "cancelDelivery", path = "/api/v1/deliveries/{id}/cancel", tag = "deliveries", params(("id" = String, Path)),
    responses((status = 200, body = DeliveryView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("admin_token" = [])))]
pub async fn cancel(
    _: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let done = state.admin.cancel_delivery(id.clone()).await;
    let elsewhere = crate::cluster::Read::Cancel { id: id.clone() };
    super::cluster::delivery_action(&state, done, &id, 200, elsewhere).await
}

/// Body of `POST /webhooks/{id}/test` (all optional).
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct TestRequest {
    #[serde(default)]
    pub schema_id: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub event: Option<serde_json::Value>,
}

#[derive(Serialize, ToSchema)]
pub struct TestResponse {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: String,
}

#[derive(Serialize, ToSchema)]
pub struct TestAnswer {
    pub request: RequestView,
    pub response: Option<TestResponse>,
    pub error: Option<String>,
    pub duration_ms: u64,
}

/// Sends one request to the webhook now: no dedup, no retry, nothing stored.
#[utoipa::path(post, operation_id = "testWebhook", path = "/api/v1/webhooks/{id}/test", tag = "webhooks", params(("id" = String, Path)),
    request_body = TestRequest,
    responses((status = 200, body = TestAnswer), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("admin_token" = [])))]
pub async fn test_webhook(
    _: Admin,
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let input = read_test_request(&req, &mut payload).await?;
    let test = crate::admin::TestRequest {
        schema_id: input.schema_id,
        event: input.event.map(|e| event_or_sample(Some(e))).transpose()?,
    };
    let crate::admin::TestOutcome { request, result } =
        state
            .admin
            .test_webhook(&id, test)
            .await
            .map_err(|e| ApiError::from_store("webhook", &id, e))?;
    Ok(HttpResponse::Ok().json(TestAnswer {
        request: RequestView::of(&request),
        response: result.status_code.map(|status| TestResponse {
            status,
            headers: result.response_headers.iter().cloned().collect(),
            body: result.response_body.clone(),
        }),
        error: result.error.clone(),
        duration_ms: u64::try_from(result.duration.as_millis()).unwrap_or(u64::MAX),
    }))
}

/// The optional body: empty means all defaults.
async fn read_test_request(
    req: &HttpRequest,
    payload: &mut web::Payload,
) -> Result<TestRequest, ApiError> {
    let bytes = read_limited(req, payload, ADMIN_BODY_LIMIT).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(TestRequest::default());
    }
    if !super::extract::is_json_content_type(req) {
        return Err(ApiError::unsupported_media_type());
    }
    parse(json_object(&bytes)?)
}

/// Body of `POST /webhooks/{id}/recover`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecoverRequest {
    /// RFC 3339; deliveries created at or after it.
    pub since: String,
    /// RFC 3339; deliveries created before it (default: now).
    #[serde(default)]
    pub until: Option<String>,
    /// Default `["failed"]`; `failed`, `cancelled`, `succeeded`.
    #[serde(default)]
    pub status: Option<Vec<DeliveryStatus>>,
}

#[derive(Serialize, ToSchema)]
pub struct RecoverAnswer {
    pub count: u64,
}

fn time_of(field: &str, text: &str) -> Result<u64, ApiError> {
    humantime::parse_rfc3339_weak(text)
        .map(crate::model::millis_of)
        .map_err(|e| ApiError::validation(field, format!("not an RFC 3339 time ({e})")))
}

/// Sends again, with fresh retries, every delivery of the webhook created in
/// `[since, until)` with one of the statuses (POLICIES.md, *Recover*).
#[utoipa::path(post, operation_id = "recoverWebhook", path = "/api/v1/webhooks/{id}/recover", tag = "webhooks", params(("id" = String, Path)),
    request_body = RecoverRequest,
    responses((status = 202, body = RecoverAnswer), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("admin_token" = [])))]
pub async fn recover(
    _: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: super::extract::JsonObject,
) -> Result<HttpResponse, ApiError> {
    let input: RecoverRequest = parse(body.0)?;
    let since_ms = time_of("since", &input.since)?;
    let until_ms = match &input.until {
        Some(u) => time_of("until", u)?,
        None => crate::model::now_millis(),
    };
    let statuses = input.status.unwrap_or_else(|| vec![DeliveryStatus::Failed]);
    if let Some(i) = statuses.iter().position(|s| *s == DeliveryStatus::Pending) {
        return Err(ApiError::validation(
            format!("status[{i}]"),
            "one of failed, cancelled, succeeded",
        ));
    }
    let id = id.into_inner();
    let window = crate::store::RecoverWindow {
        webhook_id: id.clone(),
        since_ms,
        until_ms,
        statuses,
    };
    let count = state
        .admin
        .recover(window)
        .await
        .map_err(|e| ApiError::from_store("webhook", &id, e))?;
    Ok(HttpResponse::Accepted().json(RecoverAnswer { count }))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/api/v1/deliveries", "GET").route(web::get().to(list)))
        .service(super::resource("/api/v1/deliveries/{id}", "GET").route(web::get().to(get)))
        .service(
            super::resource("/api/v1/deliveries/{id}/retry", "POST").route(web::post().to(retry)),
        )
        .service(
            super::resource("/api/v1/deliveries/{id}/cancel", "POST").route(web::post().to(cancel)),
        )
        .service(
            super::resource("/api/v1/webhooks/{id}/test", "POST")
                .route(web::post().to(test_webhook)),
        )
        .service(
            super::resource("/api/v1/webhooks/{id}/recover", "POST").route(web::post().to(recover)),
        );
}
