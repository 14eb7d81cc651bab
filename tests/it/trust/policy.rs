//! The target policy over HTTP: literal addresses refused on save, names
//! refused on every connection for every address they resolve to (the
//! receiver sees nothing), `allow_networks`, deny winning over allow, and
//! the webhook test obeying the same policy.

use std::time::Duration;

use serde_json::json;

use crate::common::receiver::{Behaviour, Receiver};
use crate::common::{Daemon, ADMIN};

fn config(delivery: &str) -> String {
    format!("admin_token = {ADMIN:?}\n[delivery]\ndedup_window = \"0s\"\nretry_jitter = 0.0\nretry_schedule = [\"50ms\", \"50ms\"]\n{delivery}\n")
}

#[test]
fn the_metadata_address_is_refused_on_save_with_the_network_named() {
    let dir = tempfile::tempdir().expect("dir");
    let d = Daemon::start_in(dir.path(), &config(""));
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/",
        "http://0.0.0.0:8080/",
    ] {
        let r = d.post("/api/v1/webhooks", json!({"name": "Meta", "url": url}));
        assert_eq!(r.status, 400, "{url}: {}", r.text);
        assert_eq!(r.error(), ("validation_failed".into(), Some("url".into())));
        assert!(r.text.contains("is in deny_networks"), "{}", r.text);
    }
    let r = d.post(
        "/api/v1/webhooks",
        json!({"name": "Meta", "url": "http://169.254.169.254/"}),
    );
    assert!(r.text.contains("169.254.0.0/16"), "{}", r.text);
    // Loopback and private networks are allowed by default.
    let r = d.post(
        "/api/v1/webhooks",
        json!({"name": "Local", "url": "http://127.0.0.1:9/"}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
}

#[test]
fn a_name_resolving_into_a_denied_network_fails_at_once_and_nothing_connects() {
    let dir = tempfile::tempdir().expect("dir");
    let d = Daemon::start_in(
        dir.path(),
        &config("deny_networks = [\"127.0.0.0/8\", \"::1\"]"),
    );
    let rx = Receiver::start(Behaviour::Fixed(200));
    let url = format!("http://localhost:{}/hook", rx.addr().port());
    // The literal form is refused on save.
    let r = d.post("/api/v1/webhooks", json!({"name": "Lit", "url": rx.url()}));
    assert_eq!(r.status, 400, "{}", r.text);
    let (webhook, _) = d.route("Named", &url, json!({}), "{\"t\": 1}");
    let ids = d.send_event("e1", 1);
    assert_eq!(ids.len(), 1);
    assert!(d.wait_status(&ids[0], "failed", Duration::from_secs(10)));
    let delivery = d.delivery(&ids[0]);
    assert_eq!(delivery["attempt_count"], 1, "not retried: {delivery}");
    let error = delivery["last_attempt"]["error"]
        .as_str()
        .unwrap_or_default();
    assert!(
        error.starts_with("blocked: ") && error.contains("is in deny_networks"),
        "{delivery}"
    );
    // The webhook test obeys the policy too.
    let t = d.post(&format!("/api/v1/webhooks/{webhook}/test"), json!({}));
    assert_eq!(t.status, 200, "{}", t.text);
    assert_eq!(t.json["response"], serde_json::Value::Null, "{}", t.text);
    assert!(
        t.json["error"]
            .as_str()
            .unwrap_or_default()
            .starts_with("blocked: "),
        "{}",
        t.text
    );
    assert_eq!(rx.count(), 0, "no request reached the receiver");
    assert_eq!(rx.connections(), 0, "no connection was made");
    let metrics = d.get("/metrics").text;
    assert!(
        metrics
            .contains("hookline_delivery_attempts_total{result=\"blocked\",webhook=\"Named\"} 1"),
        "{metrics}"
    );
    // A blocked target says nothing about the receiver's health.
    let view = d.get(&format!("/api/v1/webhooks/{webhook}"));
    assert_eq!(view.json["health"]["failures_in_a_row"], 0, "{}", view.text);
}

#[test]
fn allow_networks_admits_only_its_networks_and_deny_wins() {
    let dir = tempfile::tempdir().expect("dir");
    let d = Daemon::start_in(
        dir.path(),
        &config("allow_networks = [\"127.0.0.0/8\"]\ndeny_networks = [\"127.0.0.2/32\"]"),
    );
    let r = d.post(
        "/api/v1/webhooks",
        json!({"name": "Out", "url": "http://10.1.2.3/"}),
    );
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.text.contains("is not in allow_networks"), "{}", r.text);
    let r = d.post(
        "/api/v1/webhooks",
        json!({"name": "Two", "url": "http://127.0.0.2/"}),
    );
    assert_eq!(r.status, 400, "deny wins: {}", r.text);
    let rx = Receiver::start(Behaviour::Fixed(200));
    let (_, _) = d.route("In", &rx.url(), json!({}), "{\"t\": 1}");
    let ids = d.send_event("e1", 1);
    assert!(d.wait_status(&ids[0], "succeeded", Duration::from_secs(10)));
    assert_eq!(rx.count(), 1);
}
