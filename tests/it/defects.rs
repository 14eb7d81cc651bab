//! Regression tests for the defects of issue 10, each over HTTP against the
//! real binary and a real receiver on loopback. Each failed before its fix.

use std::collections::HashMap;
use std::time::Duration;

use crate::common::receiver::{Behaviour, Receiver, Reply};
use crate::common::{eventually, fast_retries, Daemon, ADMIN};
use redb::ReadableTable as _;
use serde_json::json;

/// Defect 2: retrying a cancelled delivery whose webhook was deleted would
/// make it pending with no queue to send it.
#[test]
fn retry_of_a_deleted_webhooks_delivery_is_refused() {
    let rx = Receiver::start(Behaviour::Fixed(500));
    let dir = tempfile::tempdir().expect("tempdir");
    let d = Daemon::start_in(dir.path(), &fast_retries(3, "1h", ""));
    let (wh, _) = d.route("gone", &rx.url(), json!({}), "{\"t\": 1}");
    let ids = d.send_event("ev-1", 1);
    assert_eq!(ids.len(), 1);
    assert!(rx.wait_for(1, Duration::from_secs(10)));
    let groups = d.get("/api/v1/rule-groups");
    for g in groups.json["items"].as_array().expect("items") {
        let id = g["id"].as_str().expect("id");
        assert_eq!(d.delete(&format!("/api/v1/rule-groups/{id}")).status, 204);
    }
    assert_eq!(d.delete(&format!("/api/v1/webhooks/{wh}")).status, 204);
    assert_eq!(d.delivery(&ids[0])["status"], "cancelled");

    let r = d.post(&format!("/api/v1/deliveries/{}/retry", ids[0]), json!({}));
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(r.error().0, "conflict");
    assert!(
        r.json["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("webhook was deleted"),
        "{}",
        r.text
    );
    assert_eq!(d.delivery(&ids[0])["status"], "cancelled");
    let metrics = d.get("/metrics").text;
    assert!(
        metrics.contains("hookline_deliveries_pending 0"),
        "{metrics}"
    );
}

/// Defect 4: disabling and re-enabling a webhook while its requests run made
/// the new queue send the same deliveries again, at the same time.
#[test]
fn disable_then_enable_never_sends_a_delivery_twice_at_once() {
    let slow = Reply::status(200).delay(Duration::from_millis(1500));
    let rx = Receiver::start(Behaviour::Replies(vec![slow]));
    let dir = tempfile::tempdir().expect("tempdir");
    let d = Daemon::start_in(dir.path(), &fast_retries(3, "30s", ""));
    let (wh, _) = d.route("toggled", &rx.url(), json!({}), "{\"t\": 1}");
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.extend(d.send_event(&format!("ev-{i}"), i));
    }
    assert!(
        rx.wait_for(4, Duration::from_secs(10)),
        "4 requests running"
    );
    let path = format!("/api/v1/webhooks/{wh}");
    let off = d.put(
        &path,
        json!({"name": "toggled", "url": rx.url(), "enabled": false}),
    );
    assert_eq!(off.status, 200, "{}", off.text);
    let on = d.put(
        &path,
        json!({"name": "toggled", "url": rx.url(), "enabled": true}),
    );
    assert_eq!(on.status, 200, "{}", on.text);
    for id in &ids {
        assert!(
            d.wait_status(id, "succeeded", Duration::from_secs(20)),
            "{id}"
        );
    }
    let mut arrivals: HashMap<String, usize> = HashMap::new();
    for r in rx.requests() {
        *arrivals
            .entry(r.header("webhook-id").unwrap_or("").to_string())
            .or_default() += 1;
    }
    for id in &ids {
        assert_eq!(arrivals.get(id), Some(&1), "{id} sent {arrivals:?}");
    }
}

/// Defect 5: a renamed webhook or a stopped queue left its gauges behind,
/// frozen at their last value.
#[test]
fn renamed_or_stopped_webhooks_leave_no_gauges_behind() {
    let rx = Receiver::start(Behaviour::Fixed(200));
    let (_dir, d) = Daemon::start();
    let (wh, _) = d.route("before", &rx.url(), json!({}), "{\"t\": 1}");
    let id = d.send_event("ev-1", 1);
    assert!(d.wait_status(&id[0], "succeeded", Duration::from_secs(10)));
    let series = |name: &str| format!("hookline_webhook_in_flight{{webhook=\"{name}\"}}");
    assert!(d.get("/metrics").text.contains(&series("before")));

    let path = format!("/api/v1/webhooks/{wh}");
    let r = d.put(&path, json!({"name": "after", "url": rx.url()}));
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        eventually(Duration::from_secs(5), || {
            let m = d.get("/metrics").text;
            !m.contains(&series("before")) && m.contains(&series("after"))
        }),
        "{}",
        d.get("/metrics").text
    );
    let r = d.put(
        &path,
        json!({"name": "after", "url": rx.url(), "enabled": false}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        eventually(Duration::from_secs(5), || !d
            .get("/metrics")
            .text
            .contains(&series("after"))),
        "{}",
        d.get("/metrics").text
    );
}

/// Defect 6: one stored object that no longer compiles (after an upgrade,
/// say) stopped `serve` from starting at all.
#[test]
fn a_stored_schema_that_no_longer_compiles_is_skipped_not_fatal() {
    let rx = Receiver::start(Behaviour::Fixed(200));
    let dir = tempfile::tempdir().expect("tempdir");
    let extra = format!("admin_token = {ADMIN:?}");
    let d = Daemon::start_in(dir.path(), &extra);
    let (_, good_schema) = d.route("good", &rx.url(), json!({}), "{\"t\": 1}");
    let (_, bad_schema) = d.route("bad", &rx.url(), json!({}), "{\"t\": 2}");
    assert_eq!(d.stop(), Some(0));

    // What an older or newer build might have stored: a template this build
    // cannot parse.
    let file = dir.path().join("hookline.redb");
    {
        let db = redb::Database::create(&file).expect("open data file");
        let table: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("schemas");
        let txn = db.begin_write().expect("write");
        {
            let mut t = txn.open_table(table).expect("schemas");
            let mut record: serde_json::Value = {
                let found = t.get(bad_schema.as_str()).expect("get").expect("stored");
                serde_json::from_slice(found.value()).expect("json")
            };
            record["content"] = json!("{% if %}");
            let bytes = serde_json::to_vec(&record).expect("encode");
            t.insert(bad_schema.as_str(), bytes.as_slice())
                .expect("insert");
        }
        txn.commit().expect("commit");
    }

    let config = dir.path().join("hookline.toml");
    let check = std::process::Command::new(crate::common::binary())
        .args(["check", "--config"])
        .arg(&config)
        .output()
        .expect("check runs");
    let out = String::from_utf8_lossy(&check.stdout).to_string()
        + &String::from_utf8_lossy(&check.stderr);
    assert!(out.contains(&bad_schema), "check names the schema: {out}");

    let d = Daemon::try_start_in(dir.path(), &extra).expect("serve starts anyway");
    let s = d.get(&format!("/api/v1/schemas/{bad_schema}"));
    assert_eq!(s.status, 200);
    assert!(s.json["error"].is_string(), "{}", s.text);
    let s = d.get(&format!("/api/v1/schemas/{good_schema}"));
    assert!(
        s.json.get("error").is_none_or(|e| e.is_null()),
        "{}",
        s.text
    );
    assert!(d.logs().contains("ERROR"), "{}", d.logs());
    assert!(d.get("/metrics").text.contains("hookline_config_errors 1"));
    // The good route still delivers.
    let ids = d.send_event("ev-after", 7);
    assert!(!ids.is_empty());
    assert!(rx.wait_for(1, Duration::from_secs(10)));
}

/// Defect 9: during the shutdown grace period the listener was closed, so
/// `/readyz` and new events got "connection refused".
#[test]
fn shutdown_keeps_answering_during_the_grace_period() {
    let _exclusive = crate::common::exclusive(); // bounds on the shutdown's timing
    let hang = Reply::status(200).delay(Duration::from_secs(4));
    let rx = Receiver::start(Behaviour::Replies(vec![hang]));
    let dir = tempfile::tempdir().expect("tempdir");
    let d = Daemon::start_in(
        dir.path(),
        &format!("admin_token = {ADMIN:?}\nshutdown_grace = \"3s\""),
    );
    d.route("hanging", &rx.url(), json!({}), "{\"t\": 1}");
    d.send_event("ev-1", 1);
    assert!(rx.wait_for(1, Duration::from_secs(10)));
    let base = d.base.clone();
    let pid = d.pid;
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    // readyz turns 503 while the listener still answers.
    assert!(
        eventually(Duration::from_secs(2), || client
            .get(format!("{base}/readyz"))
            .send()
            .is_ok_and(|r| r.status().as_u16() == 503)),
        "readyz 503 during the grace period"
    );
    let r = client
        .post(format!("{base}/api/v1/events"))
        .header("content-type", "application/json")
        .body(json!({"id": "late", "type": "x"}).to_string())
        .send()
        .expect("an answer, not a refused connection");
    assert_eq!(r.status().as_u16(), 503);
    let body: serde_json::Value = r.json().expect("error body");
    assert_eq!(body["error"]["code"], "unavailable");
    assert_eq!(d.stop(), Some(0));
}

/// Defect 3: each admin write read the webhook list on its own HTTP worker
/// and sent it on, so two concurrent writes could deliver the older list
/// last and a disabled webhook kept sending. The race is narrow (a list read
/// and a send with no await between them); the fix makes it impossible by
/// construction (one owner re-reads after each commit), and this test keeps
/// the property: after racing writes, a disabled webhook sends nothing.
#[test]
fn a_webhook_disabled_during_concurrent_writes_stays_stopped() {
    let _exclusive = crate::common::exclusive(); // a settling time
    let failing = Receiver::start(Behaviour::Fixed(500));
    let other = Receiver::start(Behaviour::Fixed(200));
    let dir = tempfile::tempdir().expect("tempdir");
    let d = Daemon::start_in(dir.path(), &fast_retries(50, "100ms", ""));
    let (wh, _) = d.route("retrying", &failing.url(), json!({}), "{\"t\": 1}");
    let others: Vec<String> = (0..4)
        .map(|i| {
            d.route(&format!("other-{i}"), &other.url(), json!({}), "{\"t\": 1}")
                .0
        })
        .collect();
    for i in 0..5 {
        d.send_event(&format!("ev-{i}"), i);
    }
    assert!(failing.wait_for(10, Duration::from_secs(10)), "retries run");
    std::thread::scope(|s| {
        for (n, id) in others.iter().enumerate() {
            let (d, url) = (&d, other.url());
            s.spawn(move || {
                for round in 0..15 {
                    let name = format!("other-{n}-{round}");
                    let r = d.put(
                        &format!("/api/v1/webhooks/{id}"),
                        json!({"name": name, "url": url}),
                    );
                    assert_eq!(r.status, 200, "{}", r.text);
                }
            });
        }
        let (d, url) = (&d, failing.url());
        s.spawn(move || {
            let r = d.put(
                &format!("/api/v1/webhooks/{wh}"),
                json!({"name": "retrying", "url": url, "enabled": false}),
            );
            assert_eq!(r.status, 200, "{}", r.text);
        });
    });
    // Requests already running may still land; then nothing more.
    let settled = failing.requests().len() + 16;
    std::thread::sleep(Duration::from_millis(1000)); // ten retry periods
    let after = failing.requests().len();
    assert!(
        after <= settled,
        "the disabled webhook kept sending: {after} requests, {settled} at most"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        failing.requests().len(),
        after,
        "no request after the running ones finished"
    );
}
