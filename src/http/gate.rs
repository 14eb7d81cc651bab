//! The connection cap (`max_connections`). Every accepted connection is
//! counted (a guard in its extensions lets go when it closes). A connection
//! accepted while more than `max_connections` are open is "over the cap":
//! its requests get `503 unavailable` with `Connection: close`, except the
//! health routes (`/healthz`, `/readyz`, `/metrics`), which keep answering,
//! so a flood costs the flood and not the engineer on call. Idle sockets
//! that never send a request are closed after `request_timeout`. Below the
//! soft cap, actix's own per-worker limit (4 × the cap over all workers)
//! bounds the descriptors taken.

use std::any::Any;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use actix_web::dev::Extensions;

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

/// The routes that answer even over the cap.
pub fn is_health_route(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics")
}
