//! The OpenAPI 3 document, generated from the handlers' and types'
//! annotations so it cannot drift from the code.

use actix_web::HttpResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::crud::{rule_groups, schemas, webhooks};
use super::error::{ApiError, ErrorBody};
use super::extract::Admin;
use crate::model;

#[derive(OpenApi)]
#[openapi(
    info(title = "hookline", description = "Outgoing webhooks for a ticketing system (API.md)"),
    paths(
        super::healthz, super::readyz, super::metrics,
        webhooks::create, webhooks::list, webhooks::get, webhooks::replace, webhooks::delete,
        super::crud::reset_health, super::crud::rotate_secret,
        schemas::create, schemas::list, schemas::get, schemas::replace, schemas::delete,
        rule_groups::create, rule_groups::list, rule_groups::get, rule_groups::replace, rule_groups::delete,
        super::events::post_event, super::events::post_batch, super::events::dry_run, super::events::get_event,
        super::preview::preview, super::preview::placeholders,
        super::deliveries::list, super::deliveries::get, super::deliveries::retry, super::deliveries::cancel,
        super::deliveries::test_webhook, super::deliveries::recover, super::backup::backup, super::cluster::view,
        document,
    ),
    components(schemas(
        ErrorBody, super::events::EventDoc, super::events::BatchAnswer,
        webhooks::List, schemas::List, rule_groups::List,
        model::WebhookInput, model::WebhookView, model::HealthView, model::HealthState, model::AuthInput, model::AuthView, model::Method,
        model::Schema, model::SchemaInput, model::ContentType,
        model::RuleGroup, model::RuleGroupInput, model::Rule, model::RuleInput, model::Condition,
        model::Op, model::Match, model::Actions, model::WebhookAction,
        model::EvaluationView, model::StoredEvent, model::DeliveryRef, model::Suppressed, model::SuppressReason,
        model::MatchedRuleView, model::TargetsView,
        super::deliveries::RequestView, super::deliveries::DeliveryDetail, super::deliveries::TestRequest,
        super::deliveries::TestResponse, super::deliveries::TestAnswer, model::DeliveryView, model::DeliveryStatus,
        model::Attempt, model::AttemptSummary,
        super::preview::PreviewRequest, super::preview::PreviewAnswer, super::preview::InlineSchema,
        super::preview::PlaceholderList, crate::render::Placeholder,
        super::deliveries::RecoverRequest, super::deliveries::RecoverAnswer, model::RateLimit,
        super::crud::RotateInput, super::crud::Rotated, model::Ordering, model::ClientCertificateInput,
        model::ClientCertificateView, model::PreviousSecretView,
        crate::cluster::ClusterView, crate::cluster::PartitionView, crate::cluster::Queued,
    )),
    modifiers(&BearerTokens, &CommonAnswers),
)]
struct ApiDoc;

/// Declares the two bearer tokens of API.md, Authentication.
struct BearerTokens;

impl Modify for BearerTokens {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        for name in ["admin_token", "ingest_token"] {
            components.add_security_scheme(
                name,
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
        }
    }
}

/// Adds the answers every route can give but few annotate: `401` on every
/// route under `/api/` (the token comes first), `415` on every route that
/// takes a body (it must be JSON).
struct CommonAnswers;

impl Modify for CommonAnswers {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
        };
        for (path, item) in doc.paths.paths.iter_mut() {
            let api = path.starts_with("/api/");
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                let answers = &mut op.responses.responses;
                if api && !answers.contains_key("401") {
                    answers.insert("401".into(), error("token missing or wrong").into());
                }
                if op.request_body.is_some() && !answers.contains_key("415") {
                    answers.insert("415".into(), error("the body is not JSON").into());
                }
            }
        }
    }
}

/// This document.
#[utoipa::path(get, operation_id = "getOpenApiDocument", path = "/api/v1/openapi.json", tag = "operations",
    responses((status = 200, description = "OpenAPI 3 document"), (status = 401, body = ErrorBody)),
    security(("admin_token" = [])))]
pub async fn document(_: Admin) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(ApiDoc::openapi()))
}
