//! `GET /api/v1/cluster` (admin): what this instance's claims loop last saw.

use std::future::Future;
use std::pin::Pin;

use actix_web::{web, HttpResponse};

use super::error::{ApiError, ErrorBody};
use super::extract::Admin;
use super::AppState;
use crate::cluster::Read;

/// The instances seen, every partition with its owner and lag, and the
/// partitions this instance reads; `404` when cluster mode is off.
#[utoipa::path(get, operation_id = "getCluster", path = "/api/v1/cluster", tag = "operations",
    responses((status = 200, body = crate::cluster::ClusterView), (status = 404, body = ErrorBody)),
    security(("admin_token" = [])))]
pub async fn view(_: Admin, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    match &state.cluster {
        Some(cluster) => Ok(HttpResponse::Ok().json(cluster.view())),
        None => Err(ApiError::not_found(
            "cluster mode is off: this instance has no [cluster] configuration",
        )),
    }
}

/// What this instance answers to the others' reads (`Cluster::serve_reads`):
/// the same JSON its own routes answer, from its own file; `None` when the
/// record is not here.
pub fn local_reads(
    admin: crate::admin::Admin,
) -> impl Fn(Read) -> Pin<Box<dyn Future<Output = Option<serde_json::Value>>>> {
    move |read| {
        let admin = admin.clone();
        Box::pin(async move {
            let store = admin.store.clone();
            match read {
                Read::Retry { id } => act(admin.retry_delivery(id.clone()).await, &id, 202),
                Read::Cancel { id } => act(admin.cancel_delivery(id.clone()).await, &id, 200),
                read => actix_web::rt::task::spawn_blocking(move || match read {
                    Read::Event { id } => store
                        .event(&id)
                        .ok()
                        .flatten()
                        .and_then(|e| serde_json::to_value(e).ok()),
                    Read::Delivery { id } => {
                        super::deliveries::delivery_json(&store, &id).ok().flatten()
                    }
                    Read::Deliveries { query } => super::deliveries::page_json(&store, &query)
                        .ok()
                        .and_then(|p| serde_json::to_value(p).ok()),
                    Read::Retry { .. } | Read::Cancel { .. } => None,
                })
                .await
                .ok()
                .flatten(),
            }
        })
    }
}

/// The answer to a forwarded action: nothing when the delivery is not in
/// this file, else the status and body the route would have answered.
fn act(
    done: Result<crate::model::Delivery, crate::store::StoreError>,
    id: &str,
    ok: u16,
) -> Option<serde_json::Value> {
    match done {
        Err(crate::store::StoreError::NotFound) => None,
        Ok(delivery) => Some(serde_json::json!({
            "status": ok,
            "body": crate::model::DeliveryView::from(&delivery),
        })),
        Err(e) => {
            let e = ApiError::from_store("delivery", id, e);
            Some(serde_json::json!({"status": e.status.as_u16(), "body": e.body_json()}))
        }
    }
}

/// The answer to a retry or cancel (`done`, tried on this instance's file):
/// in cluster mode a delivery not held here is acted on by the instance
/// that holds it, and its answer is passed on. Both answers are built by
/// [`act`], so they are the same whichever instance gave them.
pub(super) async fn delivery_action(
    state: &AppState,
    done: Result<crate::model::Delivery, crate::store::StoreError>,
    id: &str,
    ok: u16,
    elsewhere: Read,
) -> Result<HttpResponse, ApiError> {
    let answer = match (act(done, id, ok), &state.cluster) {
        (Some(here), _) => Some(here),
        (None, Some(cluster)) => cluster.ask(elsewhere).await,
        (None, None) => None,
    };
    answer
        .as_ref()
        .and_then(respond)
        .ok_or_else(|| ApiError::from_store("delivery", id, crate::store::StoreError::NotFound))
}

/// `{"status", "body"}` as an HTTP answer.
fn respond(answer: &serde_json::Value) -> Option<HttpResponse> {
    let status = answer["status"]
        .as_u64()
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| actix_web::http::StatusCode::from_u16(s).ok())?;
    Some(HttpResponse::build(status).json(&answer["body"]))
}
