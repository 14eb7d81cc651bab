//! Create / list / get / replace / delete for the three configuration objects.
//! They behave identically (API.md: "CRUD exactly as webhooks"), so the
//! handlers are written once over [`Resource`] and each route names its type.

use actix_web::{web, HttpResponse};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::error::{ApiError, ErrorBody};
use super::extract::{parse, Admin, JsonObject};
use super::AppState;
use crate::model::{
    FieldError, RuleGroup, RuleGroupInput, Schema, SchemaInput, Webhook, WebhookInput, WebhookView,
};
use crate::store::{Record, StoreError};

/// A configuration object as the API sees it: its input, its view, and how
/// one becomes the other.
pub trait Resource: Record + Clone + Sync {
    type Input: DeserializeOwned + Send + 'static;
    type View: Serialize;

    /// Checks that need no stored state (they run before the writer is asked,
    /// so heavy validation never holds up other writes).
    fn precheck(_input: &Self::Input) -> Result<(), FieldError> {
        Ok(())
    }

    /// Builds the record from the input; `previous` is the stored one on `PUT`.
    /// May return a value to show once (a generated secret).
    fn build(
        input: Self::Input,
        previous: Option<&Self>,
    ) -> Result<(Self, Option<String>), FieldError>;

    fn view(&self, shown_once: Option<String>) -> Self::View;

    /// Order of the list answer; the store gives creation order.
    fn sort(_items: &mut [Self]) {}
}

impl Resource for Webhook {
    type Input = WebhookInput;
    type View = WebhookView;

    fn build(
        input: WebhookInput,
        previous: Option<&Self>,
    ) -> Result<(Self, Option<String>), FieldError> {
        input.into_webhook(previous)
    }

    fn view(&self, shown_once: Option<String>) -> WebhookView {
        WebhookView {
            signing_secret: shown_once,
            ..WebhookView::from(self)
        }
    }
}

impl Resource for Schema {
    type Input = SchemaInput;
    type View = Schema;

    /// The template must parse and, for json/xml, render well-formed against
    /// the sample event (API.md, Schemas).
    fn precheck(input: &SchemaInput) -> Result<(), FieldError> {
        crate::render::validate_schema(input.content_type, &input.content)
            .map_err(|e| FieldError::new("content", e.to_string()))
    }

    fn build(
        input: SchemaInput,
        previous: Option<&Self>,
    ) -> Result<(Self, Option<String>), FieldError> {
        input.into_schema(previous).map(|s| (s, None))
    }

    fn view(&self, _: Option<String>) -> Schema {
        self.clone()
    }
}

impl Resource for RuleGroup {
    type Input = RuleGroupInput;
    type View = RuleGroup;

    /// Compiles the conditions (operators, values, regexes) the way the rule
    /// engine will, so a group that saves is a group that evaluates.
    fn precheck(input: &RuleGroupInput) -> Result<(), FieldError> {
        let mut probe = input.clone();
        for rule in &mut probe.rules {
            rule.id = None; // ids are checked against the stored group later
        }
        let group = probe.into_group(None)?;
        crate::rules::compile_group(&group)
            .map(|_| ())
            .map_err(|e| FieldError::new(e.field, e.message))
    }

    fn build(
        input: RuleGroupInput,
        previous: Option<&Self>,
    ) -> Result<(Self, Option<String>), FieldError> {
        input.into_group(previous).map(|g| (g, None))
    }

    fn view(&self, _: Option<String>) -> RuleGroup {
        self.clone()
    }

    fn sort(items: &mut [Self]) {
        items.sort_by(|a, b| {
            (a.position, &a.created_at, &a.id).cmp(&(b.position, &b.created_at, &b.id))
        });
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
    R::precheck(&input)?;
    let (record, shown_once) = R::build(input, None)?;
    let saved = state.store.create(record).await?;
    tracing::info!(
        kind = R::KIND,
        id = saved.id(),
        name = saved.name(),
        "created"
    );
    state.reload_engine().await;
    Ok(HttpResponse::Created().json(saved.view(shown_once)))
}

fn list<R: Resource>(state: &AppState) -> Result<HttpResponse, ApiError> {
    let mut items = state.store.list::<R>()?;
    R::sort(&mut items);
    let views: Vec<R::View> = items.iter().map(|r| r.view(None)).collect();
    Ok(HttpResponse::Ok().json(Items { items: views }))
}

fn get<R: Resource>(state: &AppState, id: &str) -> Result<HttpResponse, ApiError> {
    match state.store.get::<R>(id)? {
        Some(record) => Ok(HttpResponse::Ok().json(record.view(None))),
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
    R::precheck(&input)?;
    let (saved, shown_once) = state
        .store
        .replace::<R, _, _>(id.clone(), move |previous| {
            R::build(input, Some(previous)).map_err(StoreError::from)
        })
        .await
        .map_err(|e| ApiError::from_store(R::KIND, &id, e))?;
    tracing::info!(
        kind = R::KIND,
        id = saved.id(),
        name = saved.name(),
        "updated"
    );
    state.reload_engine().await;
    Ok(HttpResponse::Ok().json(saved.view(shown_once)))
}

async fn delete<R: Resource>(state: &AppState, id: String) -> Result<HttpResponse, ApiError> {
    state
        .store
        .delete::<R>(id.clone())
        .await
        .map_err(|e| ApiError::from_store(R::KIND, &id, e))?;
    tracing::info!(kind = R::KIND, id = %id, "deleted");
    state.reload_engine().await;
    Ok(HttpResponse::NoContent().finish())
}

// The concrete routes below exist so each one carries its OpenAPI description.

macro_rules! crud_routes {
    ($module:ident, $record:ty, $input:ty, $view:ty, $path:literal, $tag:literal) => {
        pub mod $module {
            use super::*;

            #[utoipa::path(post, path = $path, tag = $tag, request_body = $input,
                responses((status = 201, body = $view), (status = 400, body = ErrorBody),
                          (status = 401, body = ErrorBody), (status = 409, body = ErrorBody)),
                security(("admin_token" = [])))]
            pub async fn create(_: Admin, state: web::Data<AppState>, body: JsonObject) -> Result<HttpResponse, ApiError> {
                super::create::<$record>(&state, body.0).await
            }

            #[utoipa::path(get, path = $path, tag = $tag,
                responses((status = 200, description = "`{\"items\": [...]}`"), (status = 401, body = ErrorBody)),
                security(("admin_token" = [])))]
            pub async fn list(_: Admin, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
                super::list::<$record>(&state)
            }

            #[utoipa::path(get, path = concat!($path, "/{id}"), tag = $tag,
                params(("id" = String, Path)),
                responses((status = 200, body = $view), (status = 404, body = ErrorBody)),
                security(("admin_token" = [])))]
            pub async fn get(_: Admin, state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
                super::get::<$record>(&state, &id)
            }

            #[utoipa::path(put, path = concat!($path, "/{id}"), tag = $tag, request_body = $input,
                params(("id" = String, Path)),
                responses((status = 200, body = $view), (status = 400, body = ErrorBody),
                          (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
                security(("admin_token" = [])))]
            pub async fn replace(_: Admin, state: web::Data<AppState>, id: web::Path<String>, body: JsonObject) -> Result<HttpResponse, ApiError> {
                super::replace::<$record>(&state, id.into_inner(), body.0).await
            }

            #[utoipa::path(delete, path = concat!($path, "/{id}"), tag = $tag,
                params(("id" = String, Path)),
                responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
                security(("admin_token" = [])))]
            pub async fn delete(_: Admin, state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
                super::delete::<$record>(&state, id.into_inner()).await
            }

            /// Registers the five routes under `$path`.
            pub fn routes(cfg: &mut web::ServiceConfig) {
                cfg.service(
                    super::super::resource($path)
                        .route(web::post().to(create))
                        .route(web::get().to(list)),
                )
                .service(
                    super::super::resource(concat!($path, "/{id}"))
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
    "webhooks"
);
crud_routes!(
    schemas,
    Schema,
    SchemaInput,
    Schema,
    "/api/v1/schemas",
    "schemas"
);
crud_routes!(
    rule_groups,
    RuleGroup,
    RuleGroupInput,
    RuleGroup,
    "/api/v1/rule-groups",
    "rule groups"
);
