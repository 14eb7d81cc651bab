//! The admin screens at `/ui/` (UI.md), on the API's listener. Pages are
//! rendered on the server with maud, whose `html!` templates are Rust code
//! (checked when the binary compiles) and escape every value spliced into
//! them; nothing is marked raw except our own embedded assets.
//!
//! The screens call the same parts as the API — `admin` for every change,
//! the store for reads, `render` for previews — never the API over HTTP,
//! and show the API's own validation messages.

mod assets;
mod deleting;
mod deliveries;
mod guard;
mod health;
mod i18n;
mod layout;
mod login;
mod norwegian;
mod overview;
mod rule_editor;
mod rule_form;
mod rules;
mod schemas;
mod session;
mod shared;
mod starting_points;
mod try_event;
mod webhook_form;
mod webhook_test;
mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header;
use actix_web::middleware::DefaultHeaders;
use actix_web::{web, HttpResponse};

pub use guard::{Post, SignedIn, UiError};
pub use i18n::{Lang, Text};

/// The UI's own shared state: sessions and the sign-in throttle.
pub struct UiState {
    sessions: session::Sessions,
    throttle: session::Throttle,
    secure_cookies: bool,
}

impl UiState {
    pub fn new(session_idle: Duration, secure_cookies: bool) -> Arc<UiState> {
        Arc::new(UiState {
            sessions: session::Sessions::new(session_idle),
            throttle: session::Throttle::default(),
            secure_cookies,
        })
    }
}

/// The `Content-Security-Policy` of every answer: our own files only, no
/// inline script or style, no framing, forms only to ourselves.
pub const CSP: &str =
    "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

/// Adds the `/ui` scope to an app. `http::start` calls this on every worker.
pub fn mount(state: Arc<UiState>) -> impl Fn(&mut web::ServiceConfig) + Clone + Send + 'static {
    move |cfg| {
        let headers = DefaultHeaders::new()
            .add((header::CONTENT_SECURITY_POLICY, CSP))
            .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .add((header::REFERRER_POLICY, "same-origin"))
            .add((header::X_FRAME_OPTIONS, "DENY"))
            .add((header::CACHE_CONTROL, "no-store"));
        cfg.service(web::resource("/ui").to(|| async {
            HttpResponse::SeeOther()
                .insert_header((header::LOCATION, "/ui/"))
                .finish()
        }))
        .service(
            web::scope("/ui")
                .app_data(web::Data::from(state.clone()))
                .wrap(headers)
                .configure(routes)
                .default_service(web::to(not_found)),
        );
    }
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(assets::routes)
        .configure(login::routes)
        .configure(overview::routes)
        .configure(health::routes)
        .configure(webhooks::routes)
        .configure(webhook_test::routes)
        .configure(schemas::routes)
        .configure(deliveries::routes)
        .configure(rules::routes);
}

async fn not_found(req: actix_web::HttpRequest) -> Result<HttpResponse, UiError> {
    Err(UiError::not_found(Lang::of(&req)))
}
