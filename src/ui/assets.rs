//! The screens' own CSS, script and icon, embedded in the binary and served
//! with a content hash-free path and a short cache (an upgrade shows the new
//! files within the hour; pages themselves are never cached).

use actix_web::http::header;
use actix_web::{web, HttpResponse};

pub const STYLE_PATH: &str = "/ui/assets/style.css";
pub const SCRIPT_PATH: &str = "/ui/assets/app.js";
pub const ICON_PATH: &str = "/ui/assets/icon.svg";

const STYLE: &str = include_str!("assets/style.css");
const SCRIPT: &str = include_str!("assets/app.js");
pub const ICON_SVG: &str = include_str!("assets/icon.svg");

fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(body)
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/assets/style.css",
        web::get().to(|| async { asset("text/css; charset=utf-8", STYLE) }),
    )
    .route(
        "/assets/app.js",
        web::get().to(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }),
    )
    .route(
        "/assets/icon.svg",
        web::get().to(|| async { asset("image/svg+xml", ICON_SVG) }),
    );
}
