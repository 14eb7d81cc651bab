//! The receiver: actix-web in this process, on its own thread (2 workers),
//! one loopback port per fan-out webhook. It records the first arrival of
//! every delivery id (`webhook-id`) and answers as its mode says.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};

use crate::sizes::{HOLD_MAX, PORTS};

pub const MODE_OK: u8 = 0;
pub const MODE_FAIL_HALF: u8 = 1;
/// Requests are held unanswered until the mode changes (or `HOLD_MAX`), then
/// answered 503 with `Retry-After: 0` and not recorded: the receiver is "down" without refusing
/// connections, so the daemon keeps its in-flight cap busy and everything
/// else waits in the store, with no attempt counted against it.
pub const MODE_HOLD: u8 = 2;

#[derive(Default)]
pub struct Arrivals {
    /// Delivery id → first arrival (of a request answered 200).
    pub first: HashMap<Box<str>, Instant>,
    pub duplicates: u64,
    pub first_at: Option<Instant>,
    pub last_at: Option<Instant>,
}

#[derive(Default)]
pub struct Receiver {
    pub mode: AtomicU8,
    pub seq: AtomicU64,
    pub failed: AtomicU64,
    pub held: AtomicU64,
    pub no_id: AtomicU64,
    pub arrivals: Mutex<Arrivals>,
}

pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Receiver {
    pub fn reset(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
        self.seq.store(0, Ordering::SeqCst);
        self.failed.store(0, Ordering::SeqCst);
        self.held.store(0, Ordering::SeqCst);
        self.no_id.store(0, Ordering::SeqCst);
        *lock(&self.arrivals) = Arrivals::default();
    }

    pub fn record(&self, id: Option<&str>, at: Instant) {
        let Some(id) = id else {
            self.no_id.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let mut a = lock(&self.arrivals);
        if a.first.contains_key(id) {
            a.duplicates += 1;
        } else {
            a.first.insert(id.into(), at);
            a.first_at.get_or_insert(at);
            a.last_at = Some(at);
        }
    }

    pub fn unique(&self) -> usize {
        lock(&self.arrivals).first.len()
    }

    /// (unique, duplicates, first arrival, last new arrival)
    pub fn summary(&self) -> (usize, u64, Option<Instant>, Option<Instant>) {
        let a = lock(&self.arrivals);
        (a.first.len(), a.duplicates, a.first_at, a.last_at)
    }
}

pub async fn hook(req: HttpRequest, _body: web::Bytes, rx: web::Data<Receiver>) -> HttpResponse {
    let arrived = Instant::now();
    match rx.mode.load(Ordering::Relaxed) {
        MODE_HOLD => {
            rx.held.fetch_add(1, Ordering::Relaxed);
            // Bounded: HOLD_MAX / 50 ms polls at most.
            while rx.mode.load(Ordering::Relaxed) == MODE_HOLD && arrived.elapsed() < HOLD_MAX {
                actix_web::rt::time::sleep(Duration::from_millis(50)).await;
            }
            // `Retry-After: 0`: a receiver that says "busy, try again",
            // which the breaker does not count as a failure (POLICIES.md);
            // without it the held answers would open the circuit for 30 s.
            return HttpResponse::ServiceUnavailable()
                .insert_header(("Retry-After", "0"))
                .finish();
        }
        MODE_FAIL_HALF if rx.seq.fetch_add(1, Ordering::Relaxed).is_multiple_of(2) => {
            rx.failed.fetch_add(1, Ordering::Relaxed);
            return HttpResponse::InternalServerError().finish();
        }
        _ => {}
    }
    let id = req
        .headers()
        .get("webhook-id")
        .and_then(|v| v.to_str().ok());
    rx.record(id, arrived);
    HttpResponse::Ok().finish()
}

/// Starts the receiver on its own thread (2 workers), bound to `PORTS`
/// loopback ports; returns its state and the base URLs.
pub fn start_receiver() -> Result<(Arc<Receiver>, Vec<String>), String> {
    let state = web::Data::new(Receiver::default());
    let shared = state.clone().into_inner();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("receiver".into())
        .spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let mut server = HttpServer::new(move || {
                    App::new()
                        .app_data(state.clone())
                        .default_service(web::to(hook))
                })
                .workers(2)
                .backlog(2048)
                .keep_alive(Duration::from_secs(300));
                for _ in 0..PORTS {
                    server = match server.bind(("127.0.0.1", 0)) {
                        Ok(s) => s,
                        Err(e) => {
                            let _ = tx.send(Err(format!("receiver bind: {e}")));
                            return;
                        }
                    };
                }
                let addrs = server.addrs();
                let running = server.run();
                let _ = tx.send(Ok(addrs));
                let _ = running.await;
            });
        })
        .map_err(|e| e.to_string())?;
    let addrs = rx
        .recv_timeout(Duration::from_secs(30))
        .map_err(|e| format!("receiver did not start: {e}"))??;
    let urls = addrs.iter().map(|a| format!("http://{a}/hook")).collect();
    Ok((shared, urls))
}
