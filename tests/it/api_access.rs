//! The admin API over real HTTP: tokens on every route, malformed bodies,
//! and the OpenAPI document.

use crate::api::webhook_body;
use crate::common::{Daemon, ADMIN};
use serde_json::json;

#[test]
fn every_admin_route_needs_the_admin_token() {
    let extra = format!("admin_token = {ADMIN:?}\ningest_token = \"ingest-token\"");
    let dir = tempfile::tempdir().expect("tempdir");
    let d = Daemon::start_in(dir.path(), &extra);
    let routes = [
        ("GET", "/api/v1/webhooks"),
        ("POST", "/api/v1/webhooks"),
        ("GET", "/api/v1/webhooks/wh_x"),
        ("PUT", "/api/v1/webhooks/wh_x"),
        ("DELETE", "/api/v1/webhooks/wh_x"),
        ("GET", "/api/v1/schemas"),
        ("POST", "/api/v1/schemas"),
        ("GET", "/api/v1/schemas/sc_x"),
        ("PUT", "/api/v1/schemas/sc_x"),
        ("DELETE", "/api/v1/schemas/sc_x"),
        ("GET", "/api/v1/rule-groups"),
        ("POST", "/api/v1/rule-groups"),
        ("GET", "/api/v1/rule-groups/rg_x"),
        ("PUT", "/api/v1/rule-groups/rg_x"),
        ("DELETE", "/api/v1/rule-groups/rg_x"),
        ("GET", "/api/v1/openapi.json"),
    ];
    for (method, path) in routes {
        for token in [None, Some("wrong"), Some("ingest-token"), Some("")] {
            let r = d.request(
                method,
                path,
                token,
                Some("application/json"),
                Some(b"{}".to_vec()),
            );
            assert_eq!(r.status, 401, "{method} {path} with {token:?}");
            assert_eq!(r.error().0, "unauthorized");
        }
    }
    assert_eq!(d.request("GET", "/healthz", None, None, None).text, "ok");
}

#[test]
fn malformed_bodies_get_the_error_body() {
    let (_dir, d) = Daemon::start();
    let post = |ct: Option<&str>, body: &[u8]| {
        d.request(
            "POST",
            "/api/v1/webhooks",
            Some(ADMIN),
            ct,
            Some(body.to_vec()),
        )
    };
    let r = post(Some("application/json"), b"{not json");
    assert_eq!((r.status, r.error().0.as_str()), (400, "invalid_json"));
    let r = post(Some("application/json"), b"[{\"name\": \"w\"}]");
    assert_eq!((r.status, r.error().0.as_str()), (400, "invalid_json"));
    let r = post(Some("application/json"), b"");
    assert_eq!((r.status, r.error().0.as_str()), (400, "invalid_json"));
    let r = post(Some("text/plain"), b"{}");
    assert_eq!(
        (r.status, r.error().0.as_str()),
        (415, "unsupported_media_type")
    );
    let r = post(None, b"{}");
    assert_eq!(r.status, 415);
    let r = post(
        Some("application/json; charset=utf-8"),
        br#"{"name":"w","url":"http://a.test/"}"#,
    );
    assert_eq!(r.status, 201, "parameters are fine: {}", r.text);
    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(3 * 1024 * 1024));
    let r = post(Some("application/json"), big.as_bytes());
    assert_eq!((r.status, r.error().0.as_str()), (413, "payload_too_large"));
    let r = d.request("PATCH", "/api/v1/webhooks", Some(ADMIN), None, None);
    assert_eq!(r.status, 405);
    assert!(r.json["error"]["code"].is_string());
    let r = d.request("GET", "/api/v1/nothing-here", Some(ADMIN), None, None);
    assert_eq!((r.status, r.error().0.as_str()), (404, "not_found"));
    for (kind, body) in [
        ("webhooks", webhook_body("n")),
        (
            "schemas",
            json!({"name": "n", "content_type": "text", "content": ""}),
        ),
        ("rule-groups", json!({"name": "n"})),
    ] {
        let r = d.put(&format!("/api/v1/{kind}/nope"), body);
        assert_eq!(
            (r.status, r.error().0.as_str()),
            (404, "not_found"),
            "{kind}: {}",
            r.text
        );
        assert_eq!(d.get(&format!("/api/v1/{kind}/nope")).status, 404);
        assert_eq!(d.delete(&format!("/api/v1/{kind}/nope")).status, 404);
    }
}

#[test]
fn openapi_document_lists_the_routes() {
    let (_dir, d) = Daemon::start();
    let doc = d.get("/api/v1/openapi.json");
    assert_eq!(doc.status, 200);
    assert!(doc.json["openapi"]
        .as_str()
        .is_some_and(|v| v.starts_with("3.")));
    let paths = doc.json["paths"].as_object().expect("paths");
    for p in [
        "/api/v1/webhooks",
        "/api/v1/webhooks/{id}",
        "/api/v1/schemas",
        "/api/v1/schemas/{id}",
        "/api/v1/rule-groups",
        "/api/v1/rule-groups/{id}",
        "/healthz",
    ] {
        assert!(paths.contains_key(p), "missing {p}");
    }
    assert!(doc.json["components"]["schemas"]["WebhookInput"].is_object());
    assert!(doc.json["components"]["securitySchemes"]["admin_token"].is_object());
}
