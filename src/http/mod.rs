//! The HTTP front (actix-web): routes, authentication, error mapping and the
//! OpenAPI document. Handlers only parse, call the parts, and answer.

mod backup;
mod cluster;
mod crud;
mod deliveries;
mod error;
mod events;
mod extract;
mod gate;
mod openapi;
mod preview;

use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer, ResponseError};

use crate::config::Config;
use crate::store::Store;

pub use cluster::local_reads;
pub use error::ApiError;
pub use extract::{bearer_matches, read_limited, tokens_match};

/// What every handler can reach.
pub struct AppState {
    pub store: Store,
    /// For the ingest routes' own messages (`Ingest`, `DryRun`).
    pub engine: actix::Addr<crate::engine::RuleEngine>,
    /// Every administrator operation beyond a plain read.
    pub admin: crate::admin::Admin,
    pub config: Arc<Config>,
    pub admin_token: String,
    /// True once storage and the delivery workers run; false again when
    /// shutdown starts (`/readyz` 503, new events `503 unavailable`).
    pub ready: Arc<std::sync::atomic::AtomicBool>,
    /// Cluster mode (CLUSTER.md): ingress goes to the stream.
    pub cluster: Option<crate::cluster::Cluster>,
}

/// Binds the listener and returns the running server with the bound address
/// (which differs from the configured one when that names port 0).
/// `mount` adds routes of other parts (the admin screens) to every worker's app.
pub fn start<M>(state: AppState, mount: M) -> std::io::Result<(Server, Vec<SocketAddr>)>
where
    M: Fn(&mut web::ServiceConfig) + Clone + Send + 'static,
{
    let listen = state.config.listen;
    let grace = state.config.shutdown_grace;
    // The head of a request gets the same bound as its body.
    let request_timeout = state.config.request_timeout;
    let cap = state.config.max_connections;
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let gate = gate::Gate::new(cap);
    let on_connect = gate.clone();
    // Answers written below the routes get the API's error body too.
    actix_http::h1::set_error_body_writer(error::below_routes_body);
    let state = web::Data::new(state);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .wrap_fn(gate::shed_over_cap)
            .configure(mount.clone())
            .configure(routes)
    })
    .workers(workers)
    // actix's own limit per worker: the descriptors' hard bound.
    .max_connections((cap.saturating_mul(4) / workers).max(1))
    .on_connect(move |io, ext| on_connect.on_connect(io, ext))
    .bind(listen)?
    // main handles SIGTERM/SIGINT itself: readyz first, then the listener.
    .disable_signals()
    .shutdown_timeout(grace.as_secs().max(1))
    .client_request_timeout(request_timeout);
    let addrs = server.addrs();
    Ok((server.run(), addrs))
}

/// Every route of the daemon.
pub fn routes(cfg: &mut web::ServiceConfig) {
    // The ingest routes first: actix tries resources in order, and each
    // pattern with a `{param}` before them costs a regex match per event
    // (about 2.5 % of the daemon's CPU under single-event load, perf).
    cfg.configure(events::routes)
        .service(resource("/healthz", "GET").route(web::get().to(healthz)))
        .service(resource("/readyz", "GET").route(web::get().to(readyz)))
        .service(resource("/metrics", "GET").route(web::get().to(metrics)))
        .service(resource("/api/v1/openapi.json", "GET").route(web::get().to(openapi::document)))
        .configure(preview::routes) // before /schemas/{id}, which would take the path
        .configure(crud::webhooks::routes)
        .service(
            resource("/api/v1/webhooks/{id}/reset-health", "POST")
                .route(web::post().to(crud::reset_health)),
        )
        .service(
            resource("/api/v1/webhooks/{id}/rotate-secret", "POST")
                .route(web::post().to(crud::rotate_secret)),
        )
        .configure(crud::schemas::routes)
        .configure(crud::rule_groups::routes)
        .configure(deliveries::routes)
        .configure(backup::routes)
        .service(resource("/api/v1/cluster", "GET").route(web::get().to(cluster::view)))
        .default_service(web::to(not_found));
}

/// A resource whose unknown methods get `405` with the error body and the
/// `Allow` header naming the methods it takes.
fn resource(path: &str, allow: &'static str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(move |req: HttpRequest| async move {
        guard_api(&req)?;
        let mut answer = ApiError::method_not_allowed().error_response();
        answer.headers_mut().insert(
            actix_web::http::header::ALLOW,
            actix_web::http::header::HeaderValue::from_static(allow),
        );
        Ok::<HttpResponse, ApiError>(answer)
    }))
}

async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    guard_api(&req)?;
    Err(ApiError::not_found("no such path"))
}

/// Under `/api/` the token comes before anything else: a caller without it
/// learns nothing about which paths or methods exist (API.md). The event
/// routes take the ingest token, everything else the admin token.
fn guard_api(req: &HttpRequest) -> Result<(), ApiError> {
    let path = req.path();
    if !path.starts_with("/api/") {
        return Ok(());
    }
    let Some(state) = req.app_data::<web::Data<AppState>>() else {
        return Err(ApiError::unauthorized());
    };
    let admin = extract::bearer_matches(req, &state.admin_token);
    let ingest_route = path == "/api/v1/events" || path.starts_with("/api/v1/events/");
    if admin || (ingest_route && events::check_ingest_token(req, state).is_ok()) {
        Ok(())
    } else {
        Err(ApiError::unauthorized())
    }
}

/// `200 ok` while the process runs.
#[utoipa::path(get, operation_id = "healthz", path = "/healthz", tag = "operations", responses((status = 200, description = "ok")))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

/// `200` while storage is open and the delivery workers run; `503` during
/// start-up and shutdown.
#[utoipa::path(get, operation_id = "readyz", path = "/readyz", tag = "operations",
    responses((status = 200, description = "ready"), (status = 503, description = "starting or stopping")))]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if state.ready.load(std::sync::atomic::Ordering::Acquire) {
        HttpResponse::Ok().content_type("text/plain").body("ready")
    } else {
        HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body("not ready")
    }
}

/// Prometheus text format.
#[utoipa::path(get, operation_id = "metrics", path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus text")))]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let m = crate::metrics::metrics();
    if let Ok(n) = state.store.pending_count() {
        m.pending.set(i64::try_from(n).unwrap_or(i64::MAX));
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(m.render())
}
