//! Event ingestion over HTTP: evaluation, durable storage, idempotency,
//! deduplication, batches, dry runs and malformed input.

use std::time::{Duration, Instant};

use crate::common::{Daemon, ADMIN};
use serde_json::{json, Value};

/// A daemon with one rule group firing (W, S) on `priority_changed`.
fn daemon_with_rule(extra: &str) -> (tempfile::TempDir, Daemon, String, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = Daemon::start_in(dir.path(), &format!("admin_token = {ADMIN:?}\n{extra}"));
    let (wh, sc) = add_rule(&d, "W", "S");
    (dir, d, wh, sc)
}

fn add_rule(d: &Daemon, webhook: &str, schema: &str) -> (String, String) {
    let wh = d.webhook(webhook);
    let sc = d.schema(schema);
    let g = d.post("/api/v1/rule-groups", json!({"name": format!("G-{webhook}-{schema}"), "rules": [{
        "name": "Priority changed",
        "conditions": [{"field": "event.type", "op": "eq", "value": "priority_changed"}],
        "actions": {"set_resolve_target": "8h", "webhooks": [{"webhook_id": wh, "schema_id": sc}]}}]}));
    assert_eq!(g.status, 201, "{}", g.text);
    (wh, sc)
}

fn event(id: &str, ticket: Value) -> Value {
    json!({"id": id, "type": "priority_changed", "occurred_at": "2026-11-29T12:00:00Z",
           "ticket": {"id": ticket, "ref": "T-1", "subject": "Printer on fire"}})
}

fn post_event(d: &Daemon, body: &Value) -> crate::common::Resp {
    d.request(
        "POST",
        "/api/v1/events",
        None,
        Some("application/json"),
        Some(body.to_string().into_bytes()),
    )
}

#[test]
fn an_event_is_evaluated_stored_and_readable() {
    let (_dir, d, wh, sc) = daemon_with_rule("");
    let r = post_event(&d, &event("evt-1", json!(1234)));
    assert_eq!(r.status, 202, "{}", r.text);
    let e = &r.json;
    assert_eq!(e["event_id"], "evt-1");
    assert_eq!(e["duplicate"], false);
    assert_eq!(e["matched_rules"][0]["name"], "Priority changed");
    assert!(e["matched_rules"][0]["group_id"]
        .as_str()
        .is_some_and(|g| g.starts_with("rg_")));
    assert_eq!(
        e["actions"],
        json!({"set_response_target": null, "set_resolve_target": "8h"})
    );
    assert_eq!(e["deliveries"][0]["webhook_id"], wh.as_str());
    assert_eq!(e["deliveries"][0]["schema_id"], sc.as_str());
    assert!(e["deliveries"][0]["id"]
        .as_str()
        .is_some_and(|i| i.starts_with("dl_")));
    assert_eq!(e["suppressed"], json!([]));

    let stored = d.get("/api/v1/events/evt-1");
    assert_eq!(stored.status, 200, "{}", stored.text);
    assert_eq!(&stored.json["evaluation"], e);
    assert_eq!(stored.json["event"]["ticket"]["subject"], "Printer on fire");
    assert_eq!(
        d.request("GET", "/api/v1/events/evt-1", None, None, None)
            .status,
        401,
        "admin only"
    );
    assert_eq!(d.get("/api/v1/events/evt-nope").status, 404);

    let other = post_event(&d, &json!({"type": "status_changed", "ticket": {"id": 1}}));
    assert_eq!(other.status, 202);
    assert_eq!(other.json["matched_rules"], json!([]));
    assert!(
        other.json["event_id"]
            .as_str()
            .is_some_and(|i| i.starts_with("evt_")),
        "server-made id"
    );
}

#[test]
fn a_repeated_event_id_returns_the_stored_evaluation() {
    let (_dir, d, _, _) = daemon_with_rule("");
    let first = post_event(&d, &event("evt-dup", json!(1)));
    let again = post_event(&d, &event("evt-dup", json!(2)));
    assert_eq!(again.status, 200);
    assert_eq!(again.json["duplicate"], true);
    assert_eq!(
        again.json["deliveries"], first.json["deliveries"],
        "nothing new created"
    );
    assert_eq!(again.json["suppressed"], json!([]));
}

#[test]
fn concurrent_posts_of_one_id_create_one_evaluation() {
    let (_dir, d, _, _) = daemon_with_rule("");
    let body = event("evt-race", json!(99));
    let answers: Vec<crate::common::Resp> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8).map(|_| s.spawn(|| post_event(&d, &body))).collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    let fresh = answers
        .iter()
        .filter(|a| a.json["duplicate"] == false)
        .count();
    assert_eq!(fresh, 1, "exactly one post created the event");
    let deliveries: Vec<&Value> = answers.iter().map(|a| &a.json["deliveries"]).collect();
    assert!(
        deliveries.iter().all(|x| *x == deliveries[0]),
        "all see the same deliveries"
    );
    assert_eq!(deliveries[0].as_array().map(Vec::len), Some(1));
}

#[test]
fn dedup_window_suppresses_and_expires() {
    let (dir, d, wh, sc) = daemon_with_rule("[delivery]\ndedup_window = \"2s\"");
    let first = post_event(&d, &event("e1", json!(1234)));
    assert_eq!(first.json["deliveries"].as_array().map(Vec::len), Some(1));
    let second = post_event(&d, &event("e2", json!("1234")));
    assert_eq!(
        second.json["deliveries"],
        json!([]),
        "1234 and \"1234\" are one ticket"
    );
    assert_eq!(
        second.json["suppressed"],
        json!([{"webhook_id": wh, "schema_id": sc, "reason": "dedup_window"}])
    );
    let other_ticket = post_event(&d, &event("e3", json!(5678)));
    assert_eq!(
        other_ticket.json["deliveries"].as_array().map(Vec::len),
        Some(1)
    );
    let no_ticket = json!({"type": "priority_changed", "ticket": {"ref": "x"}});
    for _ in 0..2 {
        let r = post_event(&d, &no_ticket);
        assert_eq!(
            r.json["deliveries"].as_array().map(Vec::len),
            Some(1),
            "no ticket.id, no dedup"
        );
    }

    // The key survives a restart.
    assert_eq!(d.stop(), Some(0));
    let d = Daemon::start_in(
        dir.path(),
        &format!("admin_token = {ADMIN:?}\n[delivery]\ndedup_window = \"2s\""),
    );
    let after_restart = post_event(&d, &event("e4", json!(1234)));
    let suppressed_after_restart = after_restart.json["deliveries"] == json!([]);
    let first_fired = Instant::now();

    // And it expires: poll with new events until one fires again (bounded).
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut n = 0;
    let fired_again = loop {
        n += 1;
        let r = post_event(&d, &event(&format!("late-{n}"), json!(1234)));
        if r.json["deliveries"]
            .as_array()
            .is_some_and(|a| a.len() == 1)
        {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(fired_again, "the window ended");
    // Only meaningful when the restart took less than the window.
    if first_fired.elapsed() < Duration::from_secs(2) {
        assert!(suppressed_after_restart || n > 0);
    }
}

#[test]
fn dedup_survives_restart() {
    let (dir, d, _, _) = daemon_with_rule("[delivery]\ndedup_window = \"1h\"");
    assert_eq!(
        post_event(&d, &event("a", json!(1))).json["deliveries"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(d.stop(), Some(0));
    let d = Daemon::start_in(
        dir.path(),
        &format!("admin_token = {ADMIN:?}\n[delivery]\ndedup_window = \"1h\""),
    );
    let r = post_event(&d, &event("b", json!(1)));
    assert_eq!(r.json["deliveries"], json!([]));
    assert_eq!(r.json["suppressed"][0]["reason"], "dedup_window");
}

#[test]
fn disabled_webhooks_are_suppressed() {
    let (_dir, d, wh, sc) = daemon_with_rule("");
    let mut w = d.get(&format!("/api/v1/webhooks/{wh}")).json;
    w["enabled"] = json!(false);
    assert_eq!(d.put(&format!("/api/v1/webhooks/{wh}"), w).status, 200);
    let r = post_event(&d, &event("e", json!(1)));
    assert_eq!(r.json["deliveries"], json!([]));
    assert_eq!(
        r.json["suppressed"],
        json!([{"webhook_id": wh, "schema_id": sc, "reason": "webhook_disabled"}])
    );
}

#[test]
fn a_configuration_change_applies_to_the_next_event() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = Daemon::start_in(dir.path(), &format!("admin_token = {ADMIN:?}"));
    let before = post_event(&d, &event("x1", json!(1)));
    assert_eq!(before.json["matched_rules"], json!([]));
    add_rule(&d, "W", "S");
    let after = post_event(&d, &event("x2", json!(1)));
    assert_eq!(
        after.json["matched_rules"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(after.json["deliveries"].as_array().map(Vec::len), Some(1));
}

#[test]
fn batches_are_ordered_and_all_or_nothing() {
    let (_dir, d, _, _) = daemon_with_rule("");
    let post_batch = |body: &Value| {
        d.request(
            "POST",
            "/api/v1/events/batch",
            None,
            Some("application/json"),
            Some(body.to_string().into_bytes()),
        )
    };
    let r = post_batch(&json!([
        event("b1", json!(1)),
        event("b2", json!(1)),
        event("b1", json!(1)),
        event("b3", json!(2))
    ]));
    assert_eq!(r.status, 202, "{}", r.text);
    let results = r.json["results"].as_array().expect("results");
    assert_eq!(results.len(), 4);
    assert_eq!(results[0]["deliveries"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        results[1]["suppressed"][0]["reason"], "dedup_window",
        "items dedup each other in order"
    );
    assert_eq!(
        results[2]["duplicate"], true,
        "an id seen earlier in the batch"
    );
    assert_eq!(results[3]["deliveries"].as_array().map(Vec::len), Some(1));

    let bad = post_batch(
        &json!([event("c1", json!(7)), {"id": "c2", "ticket": {}}, event("c3", json!(8))]),
    );
    assert_eq!(bad.status, 400);
    assert_eq!(
        bad.error(),
        ("validation_failed".into(), Some("[1].type".into()))
    );
    assert_eq!(
        d.get("/api/v1/events/c1").status,
        404,
        "nothing of the batch was stored"
    );
    let fresh = post_event(&d, &event("c4", json!(7)));
    assert_eq!(
        fresh.json["deliveries"].as_array().map(Vec::len),
        Some(1),
        "and no dedup key was set"
    );

    assert_eq!(post_batch(&json!([])).error().0, "validation_failed");
    let too_many: Vec<Value> = (0..1001)
        .map(|i| json!({"type": "t", "id": format!("m{i}")}))
        .collect();
    assert_eq!(post_batch(&Value::Array(too_many)).status, 400);
    assert_eq!(post_batch(&json!({"type": "t"})).error().0, "invalid_json");
    assert_eq!(
        post_batch(&json!([1])).error(),
        ("invalid_json".into(), Some("[0]".into()))
    );
}

#[test]
fn dry_run_stores_nothing_and_sets_no_dedup_key() {
    let (_dir, d, wh, _) = daemon_with_rule("");
    let dry = d.request(
        "POST",
        "/api/v1/events/dry-run",
        None,
        Some("application/json"),
        Some(event("dry-1", json!(42)).to_string().into_bytes()),
    );
    assert_eq!(dry.status, 200, "{}", dry.text);
    assert_eq!(dry.json["matched_rules"].as_array().map(Vec::len), Some(1));
    assert_eq!(dry.json["deliveries"][0]["webhook_id"], wh.as_str());
    assert!(
        dry.json["deliveries"][0].get("id").is_none(),
        "no delivery was created"
    );
    assert_eq!(d.get("/api/v1/events/dry-1").status, 404);
    let real = post_event(&d, &event("real-1", json!(42)));
    assert_eq!(
        real.json["deliveries"].as_array().map(Vec::len),
        Some(1),
        "dry run set no dedup key"
    );
    let dry_again = d.request(
        "POST",
        "/api/v1/events/dry-run",
        None,
        Some("application/json"),
        Some(event("dry-2", json!(42)).to_string().into_bytes()),
    );
    assert_eq!(
        dry_again.json["suppressed"],
        json!([]),
        "dry run does not check dedup keys"
    );
}

#[test]
fn malformed_events_get_the_error_body() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = Daemon::start_in(
        dir.path(),
        &format!("admin_token = {ADMIN:?}\nmax_event_bytes = 4096"),
    );
    let cases: Vec<(&[u8], u16, &str, Option<&str>)> = vec![
        (b"{oops", 400, "invalid_json", None),
        (b"[]", 400, "invalid_json", None),
        (b"\"text\"", 400, "invalid_json", None),
        (br#"{"ticket": {}}"#, 400, "validation_failed", Some("type")),
        (br#"{"type": 5}"#, 400, "validation_failed", Some("type")),
        (br#"{"type": ""}"#, 400, "validation_failed", Some("type")),
        (
            br#"{"type": "t", "id": 12}"#,
            400,
            "validation_failed",
            Some("id"),
        ),
        (
            br#"{"type": "t", "ticket": "T-1"}"#,
            400,
            "validation_failed",
            Some("ticket"),
        ),
        (
            br#"{"type": "t", "ticket": {"id": true}}"#,
            400,
            "validation_failed",
            Some("ticket.id"),
        ),
        (
            br#"{"type": "t", "occurred_at": "yesterday"}"#,
            400,
            "validation_failed",
            Some("occurred_at"),
        ),
    ];
    for (body, status, code, field) in cases {
        let r = d.request(
            "POST",
            "/api/v1/events",
            None,
            Some("application/json"),
            Some(body.to_vec()),
        );
        let shown = String::from_utf8_lossy(body);
        assert_eq!(r.status, status, "{shown}: {}", r.text);
        assert_eq!(
            r.error(),
            (code.to_string(), field.map(str::to_string)),
            "{shown}"
        );
    }
    let big = format!(
        r#"{{"type": "t", "ticket": {{"subject": "{}"}}}}"#,
        "x".repeat(5000)
    );
    let r = d.request(
        "POST",
        "/api/v1/events",
        None,
        Some("application/json"),
        Some(big.into_bytes()),
    );
    assert_eq!((r.status, r.error().0.as_str()), (413, "payload_too_large"));
    let r = d.request(
        "POST",
        "/api/v1/events",
        None,
        Some("text/plain"),
        Some(b"{\"type\":\"t\"}".to_vec()),
    );
    assert_eq!(r.status, 415);
}

#[test]
fn the_ingest_token_guards_the_event_routes_when_set() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = Daemon::start_in(
        dir.path(),
        &format!("admin_token = {ADMIN:?}\ningest_token = \"ingest-secret\""),
    );
    let body = Some(b"{\"type\": \"t\"}".to_vec());
    for path in ["/api/v1/events", "/api/v1/events/dry-run"] {
        for token in [None, Some("wrong"), Some(ADMIN)] {
            let r = d.request("POST", path, token, Some("application/json"), body.clone());
            assert_eq!(
                (r.status, r.error().0.as_str()),
                (401, "unauthorized"),
                "{path} {token:?}"
            );
        }
        let r = d.request(
            "POST",
            path,
            Some("ingest-secret"),
            Some("application/json"),
            body.clone(),
        );
        assert!(r.status == 202 || r.status == 200, "{path}: {}", r.text);
    }
    let r = d.request(
        "POST",
        "/api/v1/events/batch",
        None,
        Some("application/json"),
        Some(b"[{\"type\":\"t\"}]".to_vec()),
    );
    assert_eq!(r.status, 401);
}

/// Any JSON value, nested a few levels, biased towards event-like objects.
fn arb_json() -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::from),
        Just(json!("priority_changed")),
    ];
    let value = leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::btree_map(
                "(type|id|ticket|occurred_at|changes|[a-z]{1,6})",
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    prop_oneof![
        value.clone(),
        (value, "\\PC{0,20}").prop_map(|(v, t)| {
            let mut o = json!({"type": t});
            if let Value::Object(m) = v {
                if let Some(obj) = o.as_object_mut() {
                    obj.extend(m.into_iter().filter(|(k, _)| k != "type"));
                }
            }
            o
        }),
    ]
}

#[test]
fn random_events_never_break_the_endpoints() {
    use proptest::test_runner::{Config, TestRunner};
    let (_dir, d, _, _) = daemon_with_rule("");
    let mut runner = TestRunner::new(Config {
        cases: 150,
        failure_persistence: None,
        ..Config::default()
    });
    let outcome = runner.run(&arb_json(), |event| {
        for path in ["/api/v1/events", "/api/v1/events/dry-run"] {
            let r = d.request(
                "POST",
                path,
                None,
                Some("application/json"),
                Some(event.to_string().into_bytes()),
            );
            proptest::prop_assert!(
                matches!(r.status, 200 | 202 | 400),
                "{path} {event}: {} {}",
                r.status,
                r.text
            );
            if r.status == 400 {
                proptest::prop_assert!(r.json["error"]["code"].is_string(), "{}", r.text);
            }
        }
        Ok(())
    });
    if let Err(e) = outcome {
        panic!("{e}");
    }
    assert_eq!(
        d.request("GET", "/healthz", None, None, None).status,
        200,
        "still up"
    );
}
