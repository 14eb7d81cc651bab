//! Issue 11, hardening: what a hostile or careless caller gets.

use std::time::Duration;

use crate::common::receiver::{Behaviour, Receiver};
use crate::common::{eventually, Daemon};
use serde_json::json;

/// Under `/api/` the token is checked first: without it, an unknown path
/// and a wrong method answer 401, so nothing about the routes leaks.
#[test]
fn api_paths_answer_401_before_404_or_405() {
    let (_dir, d) = Daemon::start();
    for (method, path) in [
        ("GET", "/api/v1/nope"),
        ("GET", "/api/v2/webhooks"),
        ("PATCH", "/api/v1/webhooks"),
        ("DELETE", "/api/v1/schemas"),
    ] {
        let r = d.request(method, path, None, None, None);
        assert_eq!(r.status, 401, "{method} {path}: {}", r.text);
        assert_eq!(r.error().0, "unauthorized");
    }
    // With the token the real answer comes.
    assert_eq!(d.get("/api/v1/nope").status, 404);
    assert_eq!(d.admin("PATCH", "/api/v1/webhooks", None).status, 405);
    // Outside /api/ nothing changes.
    assert_eq!(d.request("GET", "/nope", None, None, None).status, 404);
}

#[test]
fn port_zero_and_sub_millisecond_timeouts_are_refused() {
    let (_dir, d) = Daemon::start();
    let r = d.post(
        "/api/v1/webhooks",
        json!({"name": "w", "url": "http://127.0.0.1:0/"}),
    );
    assert_eq!(
        (r.status, r.error().1.as_deref()),
        (400, Some("url")),
        "{}",
        r.text
    );
    for timeout in ["1ns", "999us"] {
        let r = d.post(
            "/api/v1/webhooks",
            json!({"name": "w", "url": "http://127.0.0.1:9/", "timeout": timeout}),
        );
        assert_eq!(
            (r.status, r.error().1.as_deref()),
            (400, Some("timeout")),
            "{timeout}"
        );
    }
}

/// A liquid integer literal past i64 is refused before the parser sees it
/// (the parser would panic; the daemon logs no panic).
#[test]
fn an_oversized_integer_literal_is_a_validation_error_not_a_panic() {
    let (_dir, d) = Daemon::start();
    let r = d.post(
        "/api/v1/schemas",
        json!({"name": "s", "content_type": "text", "content": "{{ 9223372036854775808 | plus: 1 }}"}),
    );
    assert_eq!(
        (r.status, r.error().1.as_deref()),
        (400, Some("content")),
        "{}",
        r.text
    );
    assert!(r.text.contains("out of range"), "{}", r.text);
    assert!(!d.logs().contains("panicked"), "{}", d.logs());
}

/// A deleted webhook's series leave `/metrics`.
#[test]
fn a_deleted_webhooks_series_leave_the_metrics() {
    let rx = Receiver::start(Behaviour::Fixed(200));
    let (_dir, d) = Daemon::start();
    let (wh, _) = d.route("doomed", &rx.url(), json!({}), "{\"t\": 1}");
    let ids = d.send_event("ev-1", 1);
    assert!(d.wait_status(&ids[0], "succeeded", Duration::from_secs(10)));
    assert!(d.get("/metrics").text.contains("webhook=\"doomed\""));
    for g in d.get("/api/v1/rule-groups").json["items"]
        .as_array()
        .expect("items")
    {
        let id = g["id"].as_str().expect("id");
        assert_eq!(d.delete(&format!("/api/v1/rule-groups/{id}")).status, 204);
    }
    assert_eq!(d.delete(&format!("/api/v1/webhooks/{wh}")).status, 204);
    assert!(
        eventually(Duration::from_secs(5), || !d
            .get("/metrics")
            .text
            .contains("webhook=\"doomed\"")),
        "{}",
        d.get("/metrics").text
    );
}
