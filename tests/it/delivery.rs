//! Delivery end to end: the daemon sends to real receivers on 127.0.0.1.

use std::time::{Duration, Instant};

use crate::common::receiver::{Behaviour, Receiver, Reply};
use crate::common::{eventually, fast_retries, Daemon, ADMIN};
use serde_json::json;

const BODY: &str = "{\"ref\": \"{{ticket:ref}}\", \"subject\": \"{{ticket:subject}}\"}";
const WAIT: Duration = Duration::from_secs(20);

fn start(extra: &str) -> (tempfile::TempDir, Daemon) {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = Daemon::start_in(dir.path(), extra);
    (dir, d)
}

#[test]
fn a_delivery_arrives_with_every_header_and_succeeds() {
    let receiver = Receiver::start(Behaviour::Fixed(200));
    let (_dir, d) = start(&fast_retries(13, "10s", ""));
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let (wh, _) = d.route(
        "W",
        &receiver.url(),
        json!({"auth": {"type": "bearer", "token": "tok-123"}, "signing_secret": secret, "headers": {"X-Source": "helpdesk"}}),
        BODY,
    );
    let ids = d.send_event("e1", 1234);
    assert_eq!(ids.len(), 1);
    assert!(receiver.wait_for(1, WAIT), "nothing arrived");
    let req = &receiver.requests()[0];
    assert_eq!(req.method, "POST");
    assert_eq!(
        req.body_text(),
        "{\"ref\": \"T-1234\", \"subject\": \"Printer on fire\"}"
    );
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(req.header("accept"), Some("application/json"));
    assert_eq!(
        req.header("user-agent"),
        Some(format!("hookline/{}", env!("CARGO_PKG_VERSION")).as_str())
    );
    assert_eq!(req.header("webhook-id"), Some(ids[0].as_str()));
    assert_eq!(req.header("authorization"), Some("Bearer tok-123"));
    assert_eq!(req.header("x-source"), Some("helpdesk"));
    let triggered = req.header("triggered-at").expect("triggered-at");
    assert!(
        triggered.ends_with('Z') && triggered.len() == 20,
        "seconds precision: {triggered}"
    );
    let ts: i64 = req
        .header("webhook-timestamp")
        .and_then(|t| t.parse().ok())
        .expect("timestamp");
    let expected = hookline::delivery::sign(secret, &ids[0], ts, &req.body).expect("sign");
    assert_eq!(req.header("webhook-signature"), Some(expected.as_str()));

    assert!(d.wait_status(&ids[0], "succeeded", WAIT));
    let detail = d.delivery(&ids[0]);
    assert_eq!(detail["webhook_id"], wh.as_str());
    assert_eq!(detail["ticket_id"], "1234");
    assert_eq!(detail["attempt_count"], 1);
    assert_eq!(detail["next_attempt_at"], serde_json::Value::Null);
    assert_eq!(detail["last_attempt"]["status_code"], 200);
    assert_eq!(detail["attempts"][0]["n"], 1);
    assert_eq!(detail["request"]["headers"]["Authorization"], "Bearer ***");
    assert!(
        !detail.to_string().contains("tok-123"),
        "no secret in the delivery view"
    );
    assert!(!d.logs().contains("tok-123"), "no secret in the logs");
}

#[test]
fn a_receiver_that_always_fails_gets_exactly_fourteen_requests() {
    let receiver = Receiver::start(Behaviour::Replies(vec![Reply::status(500).body("broken")]));
    // The retry schedule alone: with the breaker on, it would open after 10.
    let (_dir, d) = start(&format!(
        "{}
[delivery.breaker]
failures = 0
",
        fast_retries(13, "20ms", "")
    ));
    d.route("W", &receiver.url(), json!({}), BODY);
    let ids = d.send_event("e1", 1);
    assert!(
        d.wait_status(&ids[0], "failed", WAIT),
        "{}",
        d.delivery(&ids[0])
    );
    let requests = receiver.requests();
    assert_eq!(requests.len(), 14, "1 try + 13 retries");
    for r in &requests {
        assert_eq!(r.header("webhook-id"), requests[0].header("webhook-id"));
        assert_eq!(r.header("triggered-at"), requests[0].header("triggered-at"));
        assert_eq!(r.body, requests[0].body);
    }
    let detail = d.delivery(&ids[0]);
    assert_eq!(detail["attempt_count"], 14);
    assert_eq!(detail["attempts"].as_array().map(Vec::len), Some(14));
    assert_eq!(detail["attempts"][13]["status_code"], 500);
    assert_eq!(detail["attempts"][13]["response_body"], "broken");
    assert_eq!(detail["next_attempt_at"], serde_json::Value::Null);
    let logs = d.logs();
    assert_eq!(
        logs.lines()
            .filter(|l| l.contains("delivery attempt failed") && l.contains("DEBUG"))
            .count(),
        14,
        "one line per attempt at debug"
    );
    assert_eq!(
        logs.lines()
            .filter(|l| l.contains("delivery attempts to this webhook fail") && l.contains("WARN"))
            .count(),
        1,
        "14 failures within a minute are one warn line"
    );
}

#[test]
fn fail_then_succeed() {
    let receiver = Receiver::start(Behaviour::Sequence(vec![503, 500, 200]));
    let (_dir, d) = start(&fast_retries(13, "20ms", ""));
    d.route("W", &receiver.url(), json!({}), BODY);
    let ids = d.send_event("e1", 1);
    assert!(d.wait_status(&ids[0], "succeeded", WAIT));
    assert_eq!(receiver.requests().len(), 3);
    let detail = d.delivery(&ids[0]);
    let codes: Vec<_> = detail["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .map(|a| a["status_code"].clone())
        .collect();
    assert_eq!(codes, vec![json!(503), json!(500), json!(200)]);
}

#[test]
fn timeouts_refusals_and_redirects_are_failed_attempts() {
    let _exclusive = crate::common::exclusive(); // an upper bound on an attempt's duration
    let slow = Receiver::start(Behaviour::Replies(vec![
        Reply::status(200).delay(Duration::from_secs(3))
    ]));
    let elsewhere = Receiver::start(Behaviour::Fixed(200));
    let redirect = Receiver::start(Behaviour::Replies(vec![
        Reply::status(302).header("Location", &elsewhere.url())
    ]));
    let refused = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}/hook", l.local_addr().expect("addr"))
    };
    let (_dir, d) = start(&fast_retries(1, "1h", ""));
    d.route("slow", &slow.url(), json!({"timeout": "200ms"}), BODY);
    d.route("refused", &refused, json!({}), BODY);
    d.route("redirect", &redirect.url(), json!({}), BODY);
    let ids = d.send_event("e1", 1);
    assert_eq!(ids.len(), 3);
    let mut errors = std::collections::HashMap::new();
    for id in &ids {
        assert!(
            eventually(WAIT, || d.delivery(id)["attempt_count"] == 1),
            "{}",
            d.delivery(id)
        );
        let detail = d.delivery(id);
        assert_eq!(detail["status"], "pending", "a retry is scheduled");
        assert!(detail["next_attempt_at"].is_string());
        let attempt = detail["attempts"][0].clone();
        errors.insert(
            detail["webhook_id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            attempt,
        );
    }
    let by_name = |name: &str| {
        let list = d.get("/api/v1/webhooks").json;
        let id = list["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|w| w["name"] == name)
            .expect("webhook")["id"]
            .clone();
        errors[id.as_str().unwrap_or_default()].clone()
    };
    let t = by_name("slow");
    assert_eq!(t["error"], "timeout");
    assert!(
        t["duration_ms"]
            .as_u64()
            .is_some_and(|ms| (150..2500).contains(&ms)),
        "{t}"
    );
    assert!(by_name("refused")["error"]
        .as_str()
        .is_some_and(|e| e.starts_with("connect")));
    let r = by_name("redirect");
    assert_eq!(r["status_code"], 302);
    assert_eq!(elsewhere.requests().len(), 0, "redirects are not followed");
}

#[test]
fn retry_after_on_429_is_honoured() {
    let receiver = Receiver::start(Behaviour::Replies(vec![
        Reply::status(429).header("Retry-After", "1"),
        Reply::status(200),
    ]));
    let (_dir, d) = start(&fast_retries(3, "10ms", ""));
    d.route("W", &receiver.url(), json!({}), BODY);
    let ids = d.send_event("e1", 1);
    assert!(d.wait_status(&ids[0], "succeeded", WAIT));
    let r = receiver.requests();
    assert_eq!(r.len(), 2);
    let gap = r[1].arrived.duration_since(r[0].arrived);
    assert!(
        gap >= Duration::from_millis(900),
        "waited {gap:?}, not the Retry-After second"
    );
}

#[test]
fn basic_auth_on_the_wire() {
    let receiver = Receiver::start(Behaviour::Fixed(204));
    let (_dir, d) = start(&fast_retries(1, "1s", ""));
    d.route("W", &receiver.url(), json!({"method": "PUT", "auth": {"type": "basic", "username": "agent", "password": "s3cret"}}), BODY);
    let ids = d.send_event("e1", 1);
    assert!(d.wait_status(&ids[0], "succeeded", WAIT));
    let r = &receiver.requests()[0];
    assert_eq!(r.method, "PUT");
    assert_eq!(r.header("authorization"), Some("Basic YWdlbnQ6czNjcmV0"));
    assert!(
        r.header("webhook-signature").is_none(),
        "no secret, no signature"
    );
}

#[test]
fn a_slow_webhook_does_not_delay_another() {
    let _exclusive = crate::common::exclusive(); // an upper bound on elapsed time
    let slow = Receiver::start(Behaviour::Replies(vec![
        Reply::status(200).delay(Duration::from_secs(4))
    ]));
    let fast = Receiver::start(Behaviour::Fixed(200));
    let (_dir, d) = start(&fast_retries(1, "1h", ""));
    d.route("slow", &slow.url(), json!({}), BODY);
    d.route("fast", &fast.url(), json!({}), BODY);
    let started = Instant::now();
    for i in 0..20 {
        d.send_event(&format!("e{i}"), i);
    }
    assert!(fast.wait_for(20, WAIT));
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(3),
        "fast webhook waited {took:?} behind the slow one"
    );
    assert!(
        slow.requests().len() <= 16,
        "the slow one holds at most its in-flight cap"
    );
}

#[test]
fn the_in_flight_cap_holds() {
    let receiver = Receiver::start(Behaviour::Replies(vec![
        Reply::status(200).delay(Duration::from_millis(300))
    ]));
    let (_dir, d) = start(&fast_retries(1, "1s", "max_in_flight_per_webhook = 3"));
    d.route("W", &receiver.url(), json!({}), BODY);
    for i in 0..12 {
        d.send_event(&format!("e{i}"), i);
    }
    assert!(receiver.wait_for(12, WAIT));
    assert_eq!(
        receiver.max_concurrent(),
        3,
        "at most 3 at once, and the cap is used"
    );
}

#[test]
fn manual_retry_and_cancel() {
    let receiver = Receiver::start(Behaviour::Fixed(500));
    let (_dir, d) = start(&fast_retries(0, "1s", ""));
    d.route("W", &receiver.url(), json!({}), BODY);
    let ids = d.send_event("e1", 1);
    let id = &ids[0];
    assert!(
        d.wait_status(id, "failed", WAIT),
        "no retries configured: failed after one try"
    );
    let pending_retry =
        |path: &str| d.admin("POST", &format!("/api/v1/deliveries/{id}/{path}"), None);
    assert_eq!(
        pending_retry("cancel").status,
        409,
        "only pending can be cancelled"
    );
    receiver.set_behaviour(Behaviour::Fixed(200));
    let r = pending_retry("retry");
    assert_eq!(r.status, 202, "{}", r.text);
    assert!(d.wait_status(id, "succeeded", WAIT));
    let requests = receiver.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        requests[0].header("webhook-id"),
        requests[1].header("webhook-id")
    );
    assert_eq!(d.delivery(id)["attempt_count"], 2);

    // A pending delivery (receiver down, retry in an hour) can be cancelled once.
    let (_dir2, d2) = start(&fast_retries(3, "1h", ""));
    d2.route("W", "http://127.0.0.1:9/down", json!({}), BODY);
    let ids = d2.send_event("e1", 1);
    assert!(eventually(WAIT, || d2.delivery(&ids[0])["attempt_count"] == 1));
    let post = |path: &str| {
        d2.admin(
            "POST",
            &format!("/api/v1/deliveries/{}/{path}", ids[0]),
            None,
        )
    };
    assert_eq!(post("retry").status, 409, "pending cannot be retried");
    let c = post("cancel");
    assert_eq!(
        (c.status, c.json["status"].as_str()),
        (200, Some("cancelled"))
    );
    assert_eq!(c.json["next_attempt_at"], serde_json::Value::Null);
    assert_eq!(post("cancel").status, 409);
    assert_eq!(
        d2.admin("POST", "/api/v1/deliveries/dl_nope/cancel", None)
            .status,
        404
    );
}

#[test]
fn listing_filters_and_pages() {
    let receiver = Receiver::start(Behaviour::Fixed(200));
    let (_dir, d) = start(&fast_retries(1, "1s", ""));
    let (wa, _) = d.route("A", &receiver.url(), json!({}), BODY);
    let (wb, _) = d.route("B", "http://127.0.0.1:9/down", json!({}), BODY);
    let mut all = Vec::new();
    for i in 0..5 {
        all.extend(d.send_event(&format!("e{i}"), 100 + i));
    }
    assert_eq!(all.len(), 10);
    assert!(receiver.wait_for(5, WAIT));
    let items = |q: &str| d.get(&format!("/api/v1/deliveries?{q}")).json;
    let ids_of = |v: &serde_json::Value| -> Vec<String> {
        v["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|d| d["id"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let newest_first = ids_of(&items("limit=1000"));
    let mut expected = all.clone();
    expected.sort();
    expected.reverse();
    assert_eq!(newest_first, expected);
    assert!(ids_of(&items(&format!("webhook_id={wb}")))
        .iter()
        .all(|i| d.delivery(i)["webhook_id"] == wb.as_str()));
    assert_eq!(ids_of(&items(&format!("webhook_id={wa}"))).len(), 5);
    assert_eq!(ids_of(&items("event_id=e3")).len(), 2);
    assert_eq!(ids_of(&items("ticket_id=102")).len(), 2);
    assert!(eventually(WAIT, || ids_of(&items("status=succeeded"))
        .len()
        == 5));
    let page1 = items("limit=4");
    assert_eq!(ids_of(&page1), expected[..4].to_vec());
    let cursor = page1["next"].as_str().expect("cursor").to_string();
    let page2 = items(&format!("limit=4&before={cursor}"));
    assert_eq!(ids_of(&page2), expected[4..8].to_vec());
    let last = items(&format!(
        "limit=4&before={}",
        page2["next"].as_str().expect("cursor")
    ));
    assert_eq!(ids_of(&last), expected[8..].to_vec());
    assert_eq!(last["next"], serde_json::Value::Null);
    for (q, field) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("status=done", "status"),
        ("colour=red", "colour"),
    ] {
        let r = d.get(&format!("/api/v1/deliveries?{q}"));
        assert_eq!(
            r.error(),
            ("validation_failed".into(), Some(field.into())),
            "{q}"
        );
    }
    assert_eq!(d.get("/api/v1/deliveries/dl_nope").status, 404);
    assert_eq!(
        d.request("GET", "/api/v1/deliveries", None, None, None)
            .status,
        401
    );
}

#[test]
fn the_webhook_test_sends_one_request_now() {
    let receiver = Receiver::start(Behaviour::Replies(vec![Reply::status(201)
        .header("X-Answer", "yes")
        .body("thanks")]));
    let (_dir, d) = start(&fast_retries(1, "1s", ""));
    let (wh, sc) = d.route(
        "W",
        &receiver.url(),
        json!({"auth": {"type": "basic", "username": "u", "password": "pw"}}),
        BODY,
    );
    let r = d.admin("POST", &format!("/api/v1/webhooks/{wh}/test"), None);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["response"]["status"], 201);
    assert_eq!(r.json["response"]["body"], "thanks");
    assert_eq!(r.json["response"]["headers"]["x-answer"], "yes");
    assert_eq!(r.json["error"], serde_json::Value::Null);
    assert_eq!(r.json["request"]["headers"]["Authorization"], "Basic ***");
    let sent: serde_json::Value =
        serde_json::from_slice(&receiver.requests()[0].body).expect("json");
    assert_eq!(sent, json!({"message": "hookline test", "webhook": "W"}));

    let with_schema = d.post(
        &format!("/api/v1/webhooks/{wh}/test"),
        json!({"schema_id": sc, "event": {"type": "t", "ticket": {"ref": "T-9", "subject": "s"}}}),
    );
    assert_eq!(
        with_schema.json["request"]["body"],
        "{\"ref\": \"T-9\", \"subject\": \"s\"}"
    );
    assert_eq!(receiver.requests().len(), 2);
    assert_eq!(
        d.get("/api/v1/deliveries").json["items"],
        json!([]),
        "nothing stored"
    );

    let w = d.post(
        "/api/v1/webhooks",
        json!({"name": "down", "url": "http://127.0.0.1:9/x"}),
    );
    let down = d.admin(
        "POST",
        &format!(
            "/api/v1/webhooks/{}/test",
            w.json["id"].as_str().expect("id")
        ),
        None,
    );
    assert_eq!(down.status, 200);
    assert_eq!(down.json["response"], serde_json::Value::Null);
    assert!(
        down.json["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("connect")),
        "{}",
        down.text
    );
    assert_eq!(
        d.admin("POST", "/api/v1/webhooks/wh_nope/test", None)
            .status,
        404
    );
}

#[test]
fn disabled_webhooks_hold_and_deleted_ones_cancel() {
    let receiver = Receiver::start(Behaviour::Fixed(200));
    let (_dir, d) = start(&fast_retries(3, "100ms", ""));
    let (wh, _) = d.route("W", "http://127.0.0.1:9/down", json!({}), BODY);
    let ids = d.send_event("e1", 1);
    assert!(eventually(WAIT, || d.delivery(&ids[0])["attempt_count"] == 1));
    // Disable, point it at the live receiver: nothing is sent while disabled.
    let mut w = d.get(&format!("/api/v1/webhooks/{wh}")).json;
    w["enabled"] = json!(false);
    w["url"] = json!(receiver.url());
    assert_eq!(
        d.put(&format!("/api/v1/webhooks/{wh}"), w.clone()).status,
        200
    );
    std::thread::sleep(Duration::from_millis(500)); // longer than the retry delay: would have been sent
    assert_eq!(
        receiver.requests().len(),
        0,
        "a disabled webhook holds its deliveries"
    );
    assert_eq!(d.delivery(&ids[0])["status"], "pending");
    w["enabled"] = json!(true);
    assert_eq!(d.put(&format!("/api/v1/webhooks/{wh}"), w).status, 200);
    assert!(
        d.wait_status(&ids[0], "succeeded", WAIT),
        "sent after enabling"
    );

    let (wh2, _) = d.route("X", "http://127.0.0.1:9/down", json!({}), BODY);
    let ids2 = d.send_event("e2", 2);
    let pending = ids2
        .iter()
        .find(|i| d.delivery(i)["webhook_id"] == wh2.as_str())
        .expect("delivery to X")
        .clone();
    let groups = d.get("/api/v1/rule-groups").json;
    let gid = groups["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|g| g["name"] == "X-group")
        .expect("group")["id"]
        .clone();
    assert_eq!(
        d.delete(&format!(
            "/api/v1/rule-groups/{}",
            gid.as_str().expect("id")
        ))
        .status,
        204
    );
    assert_eq!(d.delete(&format!("/api/v1/webhooks/{wh2}")).status, 204);
    assert_eq!(d.delivery(&pending)["status"], "cancelled");
    let _ = ADMIN;
}
