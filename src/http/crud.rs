//! Create / list / get / replace / delete for the three configuration objects.
//! They behave identically (API.md: "CRUD exactly as webhooks"), so the
//! handlers are written once over [`Resource`] and each route names its type.

use actix_web::{web, HttpResponse};
use serde::Serialize;

use super::error::{ApiError, ErrorBody};
use super::extract::{parse, Admin, JsonObject};
use super::AppState;
use crate::admin::ConfigObject;
use crate::model::{
    RuleGroup, RuleGroupInput, Schema, SchemaInput, Webhook, WebhookInput, WebhookView,
};

/// A configuration object as the API shows it.
pub trait Resource: ConfigObject {
    type View: Serialize;

    fn view(&self, shown_once: Option<String>) -> Self::View;

    /// The view with what lives beside the record (a webhook's health).
    fn view_in(&self, _state: &AppState, shown_once: Option<String>) -> Self::View {
        self.view(shown_once)
    }

    /// Order of the list answer; the store gives creation order.
    fn sort(_items: &mut [Self]) {}
}

impl Resource for Webhook {
    type View = WebhookView;

    fn view(&self, shown_once: Option<String>) -> WebhookView {
        WebhookView {
            signing_secret: shown_once,
            ..WebhookView::from(self)
        }
    }

    fn view_in(&self, state: &AppState, shown_once: Option<String>) -> WebhookView {
        let health = state.store.webhook_health(&self.id).unwrap_or_default();
        WebhookView {
            health: Some(crate::model::HealthView::from(&health)),
            ..self.view(shown_once)
        }
    }
}

impl Resource for Schema {
    type View = Schema;

    fn view(&self, _: Option<String>) -> Schema {
        self.clone()
    }
}

impl Resource for RuleGroup {
    type View = RuleGroup;

    fn view(&self, _: Option<String>) -> RuleGroup {
        self.clone()
    }

    fn sort(items: &mut [Self]) {
        RuleGroup::sort_listed(items);
    }
}

/// An object's view, with `"error"` when the stored object does not compile
/// and is left out of the running configuration.
#[derive(Serialize)]
struct Shown<V> {
    #[serde(flatten)]
    view: V,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

fn shown<R: Resource>(state: &AppState, record: &R, shown_once: Option<String>) -> Shown<R::View> {
    Shown {
        view: record.view_in(state, shown_once),
        error: state.admin.object_error(record.id()),
    }
}

/// `{"items": [...]}`.
#[derive(Serialize)]
struct Items<T> {
    items: Vec<T>,
}

async fn create<R: Resource>(
    state: &AppState,
    body: serde_json::Value,
) -> Result<HttpResponse, ApiError> {
    let input: R::Input = parse(body)?;
    let (saved, shown_once) = state.admin.create::<R>(input).await?;
    Ok(HttpResponse::Created().json(shown(state, &saved, shown_once)))
}

fn list<R: Resource>(state: &AppState) -> Result<HttpResponse, ApiError> {
    let mut items = state.store.list::<R>()?;
    R::sort(&mut items);
    let views: Vec<_> = items.iter().map(|r| shown(state, r, None)).collect();
    Ok(HttpResponse::Ok().json(Items { items: views }))
}

fn get<R: Resource>(state: &AppState, id: &str) -> Result<HttpResponse, ApiError> {
    match state.store.get::<R>(id)? {
        Some(record) => Ok(HttpResponse::Ok().json(shown(state, &record, None))),
        None => Err(ApiError::not_found(format!(
            "no {} with id {id:?}",
            R::KIND
        ))),
    }
}

async fn replace<R: Resource>(
    state: &AppState,
    id: String,
    body: serde_json::Value,
) -> Result<HttpResponse, ApiError> {
    let input: R::Input = parse(body)?;
    let (saved, shown_once) = state
        .admin
        .replace::<R>(id.clone(), input)
        .await
        .map_err(|e| ApiError::from_store(R::KIND, &id, e))?;
    Ok(HttpResponse::Ok().json(shown(state, &saved, shown_once)))
}

async fn delete<R: Resource>(state: &AppState, id: String) -> Result<HttpResponse, ApiError> {
    state
        .admin
        .delete::<R>(id.clone())
        .await
        .map_err(|e| ApiError::from_store(R::KIND, &id, e))?;
    Ok(HttpResponse::NoContent().finish())
}

/// Makes a webhook healthy again, and enabled again if its health had
/// disabled it (POLICIES.md).
#[utoipa::path(post, operation_id = "resetWebhookHealth", path = "/api/v1/webhooks/{id}/reset-health", tag = "webhooks",
    params(("id" = String, Path)),
    responses((status = 200, body = WebhookView), (status = 404, body = ErrorBody)),
    security(("admin_token" = [])))]
pub async fn reset_health(
    _: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    state
        .admin
        .reset_health(id.clone())
        .await
        .map_err(|e| ApiError::from_store("webhook", &id, e))?;
    get::<Webhook>(&state, &id)
}

/// Body of `POST /webhooks/{id}/rotate-secret`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateInput {
    /// How long the old secret keeps signing: 0s to 7d, default 24h.
    #[serde(default)]
    pub grace: Option<String>,
}

/// The answer of a rotation: the new secret, shown this once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Rotated {
    pub signing_secret: String,
}

/// Replaces the signing secret; the old one keeps signing for the grace
/// period, so receivers can switch without a gap (POLICIES.md).
#[utoipa::path(post, operation_id = "rotateWebhookSecret", path = "/api/v1/webhooks/{id}/rotate-secret", tag = "webhooks",
    params(("id" = String, Path)), request_body = RotateInput,
    responses((status = 200, body = Rotated), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)),
    security(("admin_token" = [])))]
pub async fn rotate_secret(
    _: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
    req: actix_web::HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    // No body at all takes the default grace; a body must be a JSON object.
    let input: RotateInput = if body.is_empty() {
        RotateInput { grace: None }
    } else if !super::extract::is_json_content_type(&req) {
        return Err(ApiError::unsupported_media_type());
    } else {
        parse(super::extract::json_object(&body)?)?
    };
    let grace = crate::model::check_grace(input.grace.as_deref()).map_err(ApiError::from)?;
    let (_, signing_secret) = state
        .admin
        .rotate_secret(id.clone(), grace)
        .await
        .map_err(|e| ApiError::from_store("webhook", &id, e))?;
    Ok(HttpResponse::Ok().json(Rotated { signing_secret }))
}

// The concrete routes below exist so each one carries its OpenAPI description.

macro_rules! crud_routes {
    ($module:ident, $record:ty, $input:ty, $view:ty, $path:literal, $tag:literal,
     ids($create:literal, $list:literal, $get:literal, $replace:literal, $delete:literal),
     list_schema($list_schema:ident)) => {
        pub mod $module {
            use super::*;

            /// The list answer, for the document (`{"items": [...]}`).
            #[derive(Serialize, utoipa::ToSchema)]
            #[schema(as = $list_schema)]
            pub struct List {
                pub items: Vec<$view>,
            }

            #[utoipa::path(post, operation_id = $create, path = $path, tag = $tag, request_body = $input,
                responses((status = 201, body = $view), (status = 400, body = ErrorBody),
                          (status = 401, body = ErrorBody), (status = 409, body = ErrorBody)),
                security(("admin_token" = [])))]
            pub async fn create(_: Admin, state: web::Data<AppState>, body: JsonObject) -> Result<HttpResponse, ApiError> {
                super::create::<$record>(&state, body.0).await
            }

            #[utoipa::path(get, operation_id = $list, path = $path, tag = $tag,
                responses((status = 200, body = List), (status = 401, body = ErrorBody)),
                security(("admin_token" = [])))]
            pub async fn list(_: Admin, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
                super::list::<$record>(&state)
            }

            #[utoipa::path(get, operation_id = $get, path = concat!($path, "/{id}"), tag = $tag,
                params(("id" = String, Path)),
                responses((status = 200, body = $view), (status = 404, body = ErrorBody)),
                security(("admin_token" = [])))]
            pub async fn get(_: Admin, state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
                super::get::<$record>(&state, &id)
            }

            #[utoipa::path(put, operation_id = $replace, path = concat!($path, "/{id}"), tag = $tag, request_body = $input,
                params(("id" = String, Path)),
                responses((status = 200, body = $view), (status = 400, body = ErrorBody),
                          (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
                security(("admin_token" = [])))]
            pub async fn replace(_: Admin, state: web::Data<AppState>, id: web::Path<String>, body: JsonObject) -> Result<HttpResponse, ApiError> {
                super::replace::<$record>(&state, id.into_inner(), body.0).await
            }

            #[utoipa::path(delete, operation_id = $delete, path = concat!($path, "/{id}"), tag = $tag,
                params(("id" = String, Path)),
                responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
                security(("admin_token" = [])))]
            pub async fn delete(_: Admin, state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
                super::delete::<$record>(&state, id.into_inner()).await
            }

            /// Registers the five routes under `$path`.
            pub fn routes(cfg: &mut web::ServiceConfig) {
                cfg.service(
                    super::super::resource($path, "GET, POST")
                        .route(web::post().to(create))
                        .route(web::get().to(list)),
                )
                .service(
                    super::super::resource(concat!($path, "/{id}"), "GET, PUT, DELETE")
                        .route(web::get().to(get))
                        .route(web::put().to(replace))
                        .route(web::delete().to(delete)),
                );
            }
        }
    };
}

crud_routes!(
    webhooks,
    Webhook,
    WebhookInput,
    WebhookView,
    "/api/v1/webhooks",
    "webhooks",
    ids(
        "createWebhook",
        "listWebhooks",
        "getWebhook",
        "replaceWebhook",
        "deleteWebhook"
    ),
    list_schema(WebhookList)
);
crud_routes!(
    schemas,
    Schema,
    SchemaInput,
    Schema,
    "/api/v1/schemas",
    "schemas",
    ids(
        "createSchema",
        "listSchemas",
        "getSchema",
        "replaceSchema",
        "deleteSchema"
    ),
    list_schema(SchemaList)
);
crud_routes!(
    rule_groups,
    RuleGroup,
    RuleGroupInput,
    RuleGroup,
    "/api/v1/rule-groups",
    "rule groups",
    ids(
        "createRuleGroup",
        "listRuleGroups",
        "getRuleGroup",
        "replaceRuleGroup",
        "deleteRuleGroup"
    ),
    list_schema(RuleGroupList)
);
