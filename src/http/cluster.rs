//! `GET /api/v1/cluster` (admin): what this instance's claims loop last saw.

use actix_web::{web, HttpResponse};

use super::error::{ApiError, ErrorBody};
use super::extract::Admin;
use super::AppState;

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
/// the same JSON its own routes answer, from its own file.
pub fn local_reads(
    store: crate::store::Store,
) -> impl Fn(
    crate::cluster::Read,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<serde_json::Value>>>> {
    move |read| {
        let store = store.clone();
        Box::pin(async move {
            actix_web::rt::task::spawn_blocking(move || match read {
                crate::cluster::Read::Event { id } => store
                    .event(&id)
                    .ok()
                    .flatten()
                    .and_then(|e| serde_json::to_value(e).ok()),
                crate::cluster::Read::Delivery { id } => {
                    super::deliveries::delivery_json(&store, &id).ok().flatten()
                }
                crate::cluster::Read::Deliveries { query } => {
                    super::deliveries::page_json(&store, &query)
                        .ok()
                        .and_then(|p| serde_json::to_value(p).ok())
                }
            })
            .await
            .ok()
            .flatten()
        })
    }
}
