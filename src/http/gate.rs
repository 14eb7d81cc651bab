//! The connection cap (`max_connections`). Every accepted connection is
//! counted (a guard in its extensions lets go when it closes). A connection
//! accepted while more than `max_connections` are open is "over the cap":
//! its requests get `503 unavailable` with `Connection: close`, except the
//! health routes (`/healthz`, `/readyz`, `/metrics`), which keep answering,
//! so a flood costs the flood and not the engineer on call. Idle sockets
//! that never send a request are closed after `request_timeout`. Under
//! pressure (three quarters of the cap open) every answer closes its
//! connection instead of keeping it alive for the next request, so idle
//! keep-alive connections give their slots back at once. Below the soft
//! cap, actix's own per-worker limit (4 × the cap over all workers) bounds
//! the descriptors taken.

use std::any::Any;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Extensions, Service, ServiceRequest, ServiceResponse};
use actix_web::ResponseError as _;

use super::error::ApiError;

/// Open connections, shared by the workers.
#[derive(Debug)]
pub struct Gate {
    open: AtomicUsize,
    cap: usize,
}

/// In a connection's extensions: counts it as open while it lives.
struct Open(Arc<Gate>);

impl Drop for Open {
    fn drop(&mut self) {
        let open = self.0.open.fetch_sub(1, Ordering::AcqRel).saturating_sub(1);
        crate::metrics::metrics()
            .http_connections
            .set(i64::try_from(open).unwrap_or(i64::MAX));
    }
}

/// In a connection's extensions: it was accepted over the cap.
#[derive(Debug, Clone, Copy)]
pub struct OverCap;

impl Gate {
    /// Three quarters of the cap or more are open.
    fn under_pressure(&self) -> bool {
        self.open.load(Ordering::Acquire).saturating_mul(4) >= self.cap.saturating_mul(3)
    }

    pub fn new(cap: usize) -> Arc<Gate> {
        Arc::new(Gate {
            open: AtomicUsize::new(0),
            cap,
        })
    }

    /// actix's `on_connect`: counts the connection and marks it when it is
    /// over the cap.
    pub fn on_connect(self: &Arc<Gate>, _: &dyn Any, ext: &mut Extensions) {
        let open = self.open.fetch_add(1, Ordering::AcqRel) + 1;
        crate::metrics::metrics()
            .http_connections
            .set(i64::try_from(open).unwrap_or(i64::MAX));
        ext.insert(Open(self.clone()));
        if open > self.cap {
            ext.insert(OverCap);
        }
    }
}

/// Middleware: a request on a connection accepted over the cap gets `503`
/// and the connection is closed (its slot goes back), unless it asks for a
/// health route.
pub fn shed_over_cap<S, B>(
    req: ServiceRequest,
    srv: &S,
) -> impl std::future::Future<Output = Result<ServiceResponse<BoxBody>, actix_web::Error>>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody + 'static,
{
    let shed = req.conn_data::<OverCap>().is_some() && !is_health_route(req.path());
    let pressure = req
        .conn_data::<Open>()
        .is_some_and(|o| o.0.under_pressure());
    let call = if shed { Err(req) } else { Ok(srv.call(req)) };
    async move {
        match call {
            Ok(answer) => {
                let mut answer = answer.await?.map_into_boxed_body();
                if pressure {
                    answer
                        .response_mut()
                        .head_mut()
                        .set_connection_type(actix_web::http::ConnectionType::Close);
                }
                Ok(answer)
            }
            Err(req) => {
                let mut answer = ApiError::over_capacity().error_response();
                answer
                    .head_mut()
                    .set_connection_type(actix_web::http::ConnectionType::Close);
                Ok(req.into_response(answer))
            }
        }
    }
}

/// The routes that answer even over the cap.
fn is_health_route(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics")
}
