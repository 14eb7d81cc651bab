//! `POST /webhooks/{id}/rotate-secret`: both signatures during the grace
//! period, the old one rejected after it; `PUT "generate"` replaces at once.

use std::time::Duration;

use serde_json::json;

use super::verify::request_verifies;
use crate::common::receiver::{Behaviour, Receiver};
use crate::common::{eventually, Daemon, ADMIN};

fn config() -> String {
    format!("admin_token = {ADMIN:?}\n[delivery]\ndedup_window = \"0s\"\n")
}

#[test]
fn during_the_grace_either_secret_verifies_and_after_it_only_the_new_one() {
    let dir = tempfile::tempdir().expect("dir");
    let d = Daemon::start_in(dir.path(), &config());
    let rx = Receiver::start(Behaviour::Fixed(200));
    let w = d.post(
        "/api/v1/webhooks",
        json!({"name": "Signed", "url": rx.url(), "signing_secret": "generate"}),
    );
    assert_eq!(w.status, 201, "{}", w.text);
    let id = w.json["id"].as_str().expect("id").to_string();
    let first = w.json["signing_secret"]
        .as_str()
        .expect("shown once")
        .to_string();
    let s = d.post(
        "/api/v1/schemas",
        json!({"name": "S", "content_type": "json", "content": "{\"t\": 1}"}),
    );
    let g = d.post(
        "/api/v1/rule-groups",
        json!({"name": "G", "rules": [{"name": "all", "actions": {"webhooks": [
            {"webhook_id": id, "schema_id": s.json["id"]}]}}]}),
    );
    assert_eq!(g.status, 201, "{}", g.text);
    d.send_event("e1", 1);
    assert!(rx.wait_for(1, Duration::from_secs(10)));
    assert!(request_verifies(&first, &rx.requests()[0]));

    // A long grace: both secrets sign, newest first.
    let r = d.post(
        &format!("/api/v1/webhooks/{id}/rotate-secret"),
        json!({"grace": "1h"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let second = r.json["signing_secret"]
        .as_str()
        .expect("new secret")
        .to_string();
    assert_ne!(second, first);
    let view = d.get(&format!("/api/v1/webhooks/{id}"));
    assert!(!view.text.contains("whsec_"), "{}", view.text);
    assert_eq!(
        view.json["signing_previous"].as_array().map(Vec::len),
        Some(1)
    );
    d.send_event("e2", 2);
    assert!(rx.wait_for(2, Duration::from_secs(10)));
    let during = &rx.requests()[1];
    let header = during.header("webhook-signature").expect("signed");
    assert_eq!(header.split(' ').count(), 2, "{header}");
    assert!(request_verifies(&second, during), "new secret");
    assert!(request_verifies(&first, during), "old secret in its grace");

    // A grace of one second for the second secret; the first keeps its hour.
    let r = d.post(
        &format!("/api/v1/webhooks/{id}/rotate-secret"),
        json!({"grace": "1s"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let third = r.json["signing_secret"]
        .as_str()
        .expect("new secret")
        .to_string();
    assert!(eventually(Duration::from_secs(10), || {
        d.get(&format!("/api/v1/webhooks/{id}")).json["signing_previous"]
            .as_array()
            .map(Vec::len)
            == Some(1)
    }));
    d.send_event("e3", 3);
    assert!(rx.wait_for(3, Duration::from_secs(10)));
    let after = &rx.requests()[2];
    assert!(request_verifies(&third, after));
    assert!(
        request_verifies(&first, after),
        "the first keeps its own hour"
    );
    assert!(!request_verifies(&second, after), "expired with its grace");

    // PUT "generate" replaces at once and forgets every old secret.
    let mut body = d.get(&format!("/api/v1/webhooks/{id}")).json;
    body["signing_secret"] = json!("generate");
    let r = d.put(&format!("/api/v1/webhooks/{id}"), body);
    assert_eq!(r.status, 200, "{}", r.text);
    let fourth = r.json["signing_secret"]
        .as_str()
        .expect("generated")
        .to_string();
    assert_eq!(r.json["signing_previous"], json!([]));
    d.send_event("e4", 4);
    assert!(rx.wait_for(4, Duration::from_secs(10)));
    let replaced = &rx.requests()[3];
    assert!(request_verifies(&fourth, replaced));
    assert!(!request_verifies(&first, replaced) && !request_verifies(&third, replaced));
}

#[test]
fn rotation_is_refused_without_a_secret_or_with_a_grace_past_seven_days() {
    let dir = tempfile::tempdir().expect("dir");
    let d = Daemon::start_in(dir.path(), &config());
    let plain = d.webhook("Plain");
    let r = d.post(
        &format!("/api/v1/webhooks/{plain}/rotate-secret"),
        json!({}),
    );
    assert_eq!(r.status, 409, "{}", r.text);
    let w = d.post(
        "/api/v1/webhooks",
        json!({"name": "Signed", "url": "http://127.0.0.1:9/", "signing_secret": "generate"}),
    );
    let id = w.json["id"].as_str().expect("id");
    let r = d.post(
        &format!("/api/v1/webhooks/{id}/rotate-secret"),
        json!({"grace": "8d"}),
    );
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.error().1.as_deref(), Some("grace"));
    let r = d.post("/api/v1/webhooks/wh_missing/rotate-secret", json!({}));
    assert_eq!(r.status, 404, "{}", r.text);
    // Eleven rotations keep ten old secrets.
    for _ in 0..11 {
        let r = d.post(&format!("/api/v1/webhooks/{id}/rotate-secret"), json!({}));
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let view = d.get(&format!("/api/v1/webhooks/{id}"));
    assert_eq!(
        view.json["signing_previous"].as_array().map(Vec::len),
        Some(10)
    );
}
