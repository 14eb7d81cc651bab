//! `POST /api/v1/schemas/preview`: render a stored or given schema against an
//! event (the built-in sample event by default).

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::{event_or_sample, parse, Admin, JsonObject};
use super::AppState;
use crate::admin::{render_schema, RenderFailure};
use crate::model::{ContentType, Schema};

/// A schema given inline.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InlineSchema {
    pub content_type: ContentType,
    pub content: String,
}

/// `{"schema_id": …}` or `{"schema": {…}}`, and optionally `"event"`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    #[serde(default)]
    pub schema_id: Option<String>,
    #[serde(default)]
    pub schema: Option<InlineSchema>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub event: Option<serde_json::Value>,
}

#[derive(Serialize, ToSchema)]
pub struct PreviewAnswer {
    /// The `Content-Type` a delivery of this schema carries.
    pub content_type: String,
    pub body: String,
    /// Placeholders and Liquid variables with no value in the event (`ticket:nope`).
    pub unknown_placeholders: Vec<String>,
}

/// Renders a schema against an event without storing or sending anything.
#[utoipa::path(post, operation_id = "previewSchema", path = "/api/v1/schemas/preview", tag = "schemas", request_body = PreviewRequest,
    responses((status = 200, body = PreviewAnswer), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("admin_token" = [])))]
pub async fn preview(
    _: Admin,
    state: web::Data<AppState>,
    body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    let request: PreviewRequest = parse(body.0)?;
    let (content_type, content, field) = match (request.schema_id, request.schema) {
        (Some(id), None) => {
            let schema: Schema = state
                .store
                .get(&id)?
                .ok_or_else(|| ApiError::not_found(format!("no schema with id {id:?}")))?;
            (schema.content_type, schema.content, "schema_id")
        }
        (None, Some(inline)) => (inline.content_type, inline.content, "schema.content"),
        _ => {
            return Err(ApiError::validation(
                "schema_id",
                "give either schema_id or schema",
            ))
        }
    };
    let event = event_or_sample(request.event)?;
    let rendered = render_schema(content_type, content, event)
        .await
        .map_err(|e| match e {
            RenderFailure::Template(e) => ApiError::validation(field, e.to_string()),
            RenderFailure::Interrupted => ApiError::unavailable("rendering was interrupted"),
        })?;
    Ok(HttpResponse::Ok().json(PreviewAnswer {
        content_type: content_type.media_type().to_string(),
        body: rendered.body,
        unknown_placeholders: rendered.unknown_placeholders,
    }))
}

/// `{"items": [...]}` of the placeholder list.
#[derive(Serialize, ToSchema)]
pub struct PlaceholderList {
    pub items: Vec<crate::render::Placeholder>,
}

/// Every `model:attribute` of the sample event and of the last 1,000 events,
/// sorted, each with an example value (at most 100 characters).
#[utoipa::path(get, operation_id = "listPlaceholders", path = "/api/v1/placeholders", tag = "schemas",
    responses((status = 200, body = PlaceholderList)),
    security(("admin_token" = [])))]
pub async fn placeholders(_: Admin, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let items = state.admin.placeholders().await?;
    Ok(HttpResponse::Ok().json(PlaceholderList { items }))
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/api/v1/schemas/preview", "POST").route(web::post().to(preview)))
        .service(super::resource("/api/v1/placeholders", "GET").route(web::get().to(placeholders)));
}
