//! Endpoint health over HTTP against a loopback receiver (POLICIES.md,
//! *Endpoint health*): the breaker opens after the configured failures and
//! then lets one probe through per open period, held deliveries keep their
//! attempts, closing sends the backlog; Retry-After pauses the webhook;
//! 410 disables it; `reset-health`; the state survives `kill -9`.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::receiver::{Behaviour, Receiver, Reply};
use crate::common::{eventually, Daemon, ADMIN};

/// One request at a time, retries every 100 ms (so without the breaker a
/// dead receiver would get ten requests a second), the breaker opening
/// after 3 failures for 1 s, then 2 s.
fn config(extra: &str) -> String {
    config_with("1s", "2s", extra)
}

/// [`config`] with other open periods; `extra` goes into `[delivery.breaker]`.
fn config_with(open_min: &str, open_max: &str, extra: &str) -> String {
    let schedule: Vec<&str> = vec!["\"100ms\""; 13];
    format!(
        "admin_token = {ADMIN:?}\n[delivery]\nmax_in_flight_per_webhook = 1\nretry_jitter = 0.0\nretry_schedule = [{}]\n[delivery.breaker]\nfailures = 3\nopen_min = {open_min:?}\nopen_max = {open_max:?}\n{extra}\n",
        schedule.join(", ")
    )
}

/// A daemon on `dir` whose webhook "Down" (receiver answering 500) has an
/// open circuit after one event: (daemon, receiver, webhook id, delivery ids).
fn open_circuit(dir: &std::path::Path, cfg: &str) -> (Daemon, Receiver, String, Vec<String>) {
    let d = Daemon::start_in(dir, cfg);
    let rx = Receiver::start(Behaviour::Fixed(500));
    let (webhook, _) = d.route("Down", &rx.url(), json!({}), "{\"t\": 1}");
    let ids = d.send_event("e1", 1);
    assert!(eventually(Duration::from_secs(10), || health(&d, &webhook)
        ["state"]
        == "open"));
    (d, rx, webhook, ids)
}

fn health(d: &Daemon, webhook: &str) -> serde_json::Value {
    d.get(&format!("/api/v1/webhooks/{webhook}")).json["health"].clone()
}

fn attempts_of_all(d: &Daemon) -> u64 {
    d.get("/api/v1/deliveries?limit=1000").json["items"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x["attempt_count"].as_u64()).sum())
        .unwrap_or(0)
}

#[test]
fn an_outage_costs_a_few_probes_and_the_backlog_flows_when_the_receiver_returns() {
    let _serial = crate::common::exclusive(); // counts requests per second
    let dir = tempfile::tempdir().expect("tempdir");
    let d = Daemon::start_in(dir.path(), &config(""));
    let rx = Receiver::start(Behaviour::Fixed(500));
    let (webhook, _) = d.route("Flaky", &rx.url(), json!({}), "{\"t\": {{ticket:id}}}");
    let mut ids = Vec::new();
    for n in 0..10 {
        ids.extend(d.send_event(&format!("e{n}"), n));
    }
    assert!(rx.wait_for(3, Duration::from_secs(10)));
    assert!(eventually(Duration::from_secs(5), || health(&d, &webhook)
        ["state"]
        == "open"));
    let opened = Instant::now();
    let h = health(&d, &webhook);
    assert_eq!(h["failures_in_a_row"], 3, "{h}");
    assert!(h["open_until"].is_string());
    // 4.5 s of outage: without the breaker ≈ 45 requests; with it, the
    // probes at ~1 s and ~3 s (open 1 s, then 2 s).
    std::thread::sleep(Duration::from_millis(4500)); // the outage itself is what is measured
    let during: Vec<Instant> = rx
        .requests()
        .iter()
        .skip(3)
        .map(|r| r.arrived)
        .filter(|at| *at >= opened)
        .collect();
    assert!(
        (1..=3).contains(&during.len()),
        "{} probes in 4.5 s",
        during.len()
    );
    for pair in during.windows(2) {
        assert!(
            pair[1] - pair[0] >= Duration::from_millis(900),
            "one probe per open period"
        );
    }
    // Every request is an attempt of one delivery; the held ones did not move.
    assert_eq!(attempts_of_all(&d), rx.requests().len() as u64);
    let failed = d.get("/api/v1/deliveries?status=failed").json["items"]
        .as_array()
        .map(Vec::len);
    assert_eq!(failed, Some(0), "no delivery lost retries to the outage");
    let probe = d.get(&format!("/api/v1/deliveries/{}", ids[0])).json;
    let probes = probe["attempts"]
        .as_array()
        .map(|a| a.iter().filter(|x| x["probe"] == true).count())
        .unwrap_or(0);
    let total_probes: usize = ids
        .iter()
        .map(|id| {
            d.get(&format!("/api/v1/deliveries/{id}")).json["attempts"]
                .as_array()
                .map(|a| a.iter().filter(|x| x["probe"] == true).count())
                .unwrap_or(0)
        })
        .sum();
    assert_eq!(
        total_probes,
        during.len(),
        "each probe is recorded as one ({probes} on the first)"
    );
    // The receiver returns: the next probe closes the circuit and everything flows.
    rx.set_behaviour(Behaviour::Fixed(200));
    assert!(eventually(Duration::from_secs(15), || {
        ids.iter().all(|id| d.delivery(id)["status"] == "succeeded")
    }));
    let h = health(&d, &webhook);
    assert_eq!(
        (h["state"].as_str(), h["failures_in_a_row"].as_u64()),
        (Some("healthy"), Some(0)),
        "{h}"
    );
    let metrics = d.request("GET", "/metrics", None, None, None).text;
    assert!(
        metrics.contains("hookline_webhook_state{state=\"healthy\",webhook=\"Flaky\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("hookline_webhook_state{state=\"open\",webhook=\"Flaky\"} 0"));
}

#[test]
fn the_health_survives_kill_9_and_reset_health_makes_it_flow_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config_with("30s", "60s", "");
    let (d, rx, webhook, ids) = open_circuit(dir.path(), &cfg);
    drop(d); // kill -9
    let d = Daemon::start_in(dir.path(), &cfg);
    assert_eq!(health(&d, &webhook)["state"], "open", "the state is stored");
    rx.set_behaviour(Behaviour::Fixed(200));
    let before = rx.requests().len();
    std::thread::sleep(Duration::from_millis(500)); // nothing may arrive while open
    assert_eq!(
        rx.requests().len(),
        before,
        "open for 30 s: nothing is sent after the restart"
    );
    let reset = d.post(
        &format!("/api/v1/webhooks/{webhook}/reset-health"),
        json!({}),
    );
    assert_eq!(reset.status, 200, "{}", reset.text);
    assert_eq!(reset.json["health"]["state"], "healthy");
    assert!(
        d.wait_status(&ids[0], "succeeded", Duration::from_secs(10)),
        "sent at once"
    );
    assert_eq!(
        d.post("/api/v1/webhooks/wh_nope/reset-health", json!({}))
            .status,
        404
    );
}

#[test]
fn retry_after_pauses_the_whole_webhook_without_counting_as_a_failure() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = Daemon::start_in(dir.path(), &config(""));
    let rx = Receiver::start(Behaviour::Replies(vec![
        Reply::status(503).header("Retry-After", "2"),
        Reply::status(200),
    ]));
    let (webhook, _) = d.route("Busy", &rx.url(), json!({}), "{\"t\": {{ticket:id}}}");
    d.send_event("a", 1);
    assert!(rx.wait_for(1, Duration::from_secs(10)));
    d.send_event("b", 2);
    assert!(rx.wait_for(2, Duration::from_secs(10)));
    let got = rx.requests();
    assert!(
        got[1].arrived - got[0].arrived >= Duration::from_millis(1900),
        "no request before Retry-After"
    );
    let h = health(&d, &webhook);
    assert_eq!(
        (h["state"].as_str(), h["failures_in_a_row"].as_u64()),
        (Some("healthy"), Some(0)),
        "{h}"
    );
}

#[test]
fn gone_disables_the_webhook_at_once_holds_the_rest_and_tells_the_rules() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = Daemon::start_in(dir.path(), &config(""));
    let gone = Receiver::start(Behaviour::Replies(vec![
        Reply::status(410).delay(Duration::from_millis(300))
    ]));
    let chat = Receiver::start(Behaviour::Fixed(200));
    let id_of = |r: crate::common::Resp| r.json["id"].as_str().unwrap_or("").to_string();
    let g = id_of(d.post(
        "/api/v1/webhooks",
        json!({"name": "Gone", "url": gone.url()}),
    ));
    let c = id_of(d.post(
        "/api/v1/webhooks",
        json!({"name": "Chat", "url": chat.url()}),
    ));
    let sc = id_of(d.post(
        "/api/v1/schemas",
        json!({"name": "S", "content_type": "json", "content": "{{ event | json }}"}),
    ));
    let to = |w: &str| json!({"webhook_id": w, "schema_id": sc});
    let group = json!({"name": "G", "rules": [
        {"name": "state changes to everyone", "conditions": [{"field": "event.type", "op": "eq", "value": "hookline.webhook_state_changed"}],
         "actions": {"webhooks": [to(&g), to(&c)]}},
        {"name": "tickets to Gone", "conditions": [{"field": "event.type", "op": "eq", "value": "ticket_updated"}],
         "actions": {"webhooks": [to(&g)]}}]});
    assert_eq!(d.post("/api/v1/rule-groups", group).status, 201);
    let first = d.send_event("a", 1);
    let second = d.send_event("b", 2);
    assert!(
        d.wait_status(&first[0], "failed", Duration::from_secs(10)),
        "the 410 ends its delivery"
    );
    let h = health(&d, &g);
    assert_eq!(h["state"], "disabled", "{h}");
    assert_eq!(h["disabled_reason"], "the receiver answered 410 Gone");
    assert!(eventually(Duration::from_secs(10), || d
        .get(&format!("/api/v1/webhooks/{g}"))
        .json["enabled"]
        == false));
    // The state event reached the other webhook, never the one it is about.
    assert!(chat.wait_for(1, Duration::from_secs(10)));
    let told: serde_json::Value =
        serde_json::from_slice(&chat.requests()[0].body).unwrap_or_default();
    assert_eq!(told["type"], "hookline.webhook_state_changed");
    assert_eq!(
        told["webhook"],
        json!({"id": g, "name": "Gone", "state": "disabled", "previous_state": "healthy",
        "reason": "the receiver answered 410 Gone"})
    );
    let mut suppressed = serde_json::Value::Null;
    for i in d.get(&format!("/api/v1/deliveries?webhook_id={c}")).json["items"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let event = d
            .get(&format!(
                "/api/v1/events/{}",
                i["event_id"].as_str().unwrap_or("")
            ))
            .json;
        suppressed = event["evaluation"]["suppressed"].clone();
    }
    assert_eq!(
        suppressed,
        json!([{"webhook_id": g, "schema_id": sc, "reason": "self_state_event"}])
    );
    // The other pending delivery is held, not failed; nothing more is sent.
    assert_eq!(d.delivery(&second[0])["status"], "pending");
    assert_eq!(gone.requests().len(), 1);
    gone.set_behaviour(Behaviour::Fixed(200));
    let reset = d.post(&format!("/api/v1/webhooks/{g}/reset-health"), json!({}));
    assert_eq!(
        (
            reset.json["enabled"].as_bool(),
            reset.json["health"]["state"].as_str()
        ),
        (Some(true), Some("healthy")),
        "{}",
        reset.text
    );
    assert!(d.wait_status(&second[0], "succeeded", Duration::from_secs(10)));
}

#[test]
fn the_screens_show_an_open_circuit_and_reset_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config_with("30s", "60s", "");
    let (d, rx, webhook, ids) = open_circuit(dir.path(), &cfg);
    let (mut c, csrf) = crate::ui_safety::UiClient::signed_in(&d);
    assert!(
        c.get("/ui/").text.contains("data-health=\"open\""),
        "the overview shows it"
    );
    assert!(
        c.get("/ui/webhooks").text.contains("data-health=\"open\""),
        "so does the list"
    );
    let page = c.get(&format!("/ui/webhooks/{webhook}")).text;
    assert!(
        page.contains("Circuit open")
            && page.contains("Next probe")
            && page.contains("Reset health"),
        "{page}"
    );
    rx.set_behaviour(Behaviour::Fixed(200));
    let reset = c.post(
        &format!("/ui/webhooks/{webhook}/reset-health"),
        &[("csrf", &csrf)],
    );
    assert_eq!(reset.status, 303);
    assert!(d.wait_status(&ids[0], "succeeded", Duration::from_secs(10)));
    assert!(
        !c.get(&format!("/ui/webhooks/{webhook}"))
            .text
            .contains("Reset health"),
        "healthy again"
    );
}

#[test]
fn the_rate_limit_holds_within_ten_percent_over_ten_seconds() {
    let _serial = crate::common::exclusive(); // counts requests per second
    let dir = tempfile::tempdir().expect("tempdir");
    let d = Daemon::start_in(dir.path(), &format!("admin_token = {ADMIN:?}"));
    let rx = Receiver::start(Behaviour::Fixed(200));
    let limit = json!({"rate_limit": {"requests": 20, "per": "1s"}});
    let (webhook, _) = d.route("Limited", &rx.url(), limit, "{\"t\": {{ticket:id}}}");
    assert_eq!(
        d.get(&format!("/api/v1/webhooks/{webhook}")).json["rate_limit"],
        json!({"requests": 20, "per": "1s"})
    );
    let events: Vec<_> = (0..400)
        .map(|n| json!({"id": format!("e{n}"), "type": "t", "ticket": {"id": n}}))
        .collect();
    assert_eq!(
        d.admin("POST", "/api/v1/events/batch", Some(json!(events)))
            .status,
        202
    );
    assert!(rx.wait_for(1, Duration::from_secs(10)));
    let first = rx.requests()[0].arrived;
    std::thread::sleep(Duration::from_secs(10)); // the rate over 10 s is what is measured
    let within = rx
        .requests()
        .iter()
        .filter(|r| r.arrived - first <= Duration::from_secs(10))
        .count();
    // A burst of 20, then 20 a second: 220 in the first 10 s.
    assert!(
        (198..=242).contains(&within),
        "{within} requests in 10 s for 20/s"
    );
}

#[test]
fn a_webhooks_own_retry_schedule_replaces_the_configured_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = Daemon::start_in(dir.path(), &format!("admin_token = {ADMIN:?}"));
    let rx = Receiver::start(Behaviour::Fixed(500));
    let own = json!({"retry_schedule": ["50ms", "50ms"]});
    let (webhook, _) = d.route("Own", &rx.url(), own, "{\"t\": 1}");
    let ids = d.send_event("e1", 1);
    assert!(
        d.wait_status(&ids[0], "failed", Duration::from_secs(10)),
        "two retries, then failed"
    );
    assert_eq!(rx.requests().len(), 3);
    let bad = d.put(
        &format!("/api/v1/webhooks/{webhook}"),
        json!({"name": "Own", "url": rx.url(), "retry_schedule": ["soon"]}),
    );
    assert_eq!(
        bad.error(),
        ("validation_failed".into(), Some("retry_schedule[0]".into()))
    );
    let bad = d.put(
        &format!("/api/v1/webhooks/{webhook}"),
        json!({"name": "Own", "url": rx.url(), "rate_limit": {"requests": 0, "per": "1s"}}),
    );
    assert_eq!(bad.error().1.as_deref(), Some("rate_limit.requests"));
}

#[test]
fn recover_retries_exactly_the_deliveries_in_the_window_and_status() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = format!("admin_token = {ADMIN:?}\n[delivery]\nretry_schedule = [\"10ms\"]\n[delivery.breaker]\nfailures = 0\n");
    let d = Daemon::start_in(dir.path(), &cfg);
    let rx = Receiver::start(Behaviour::Fixed(500));
    let (webhook, _) = d.route("R", &rx.url(), json!({}), "{\"t\": {{ticket:id}}}");
    let early: Vec<String> = (0..3)
        .flat_map(|n| d.send_event(&format!("a{n}"), n))
        .collect();
    for id in &early {
        assert!(d.wait_status(id, "failed", Duration::from_secs(10)));
    }
    std::thread::sleep(Duration::from_millis(5)); // a boundary between the two batches' creation times
    let mid = hookline::model::format_millis(hookline::model::now_millis());
    let late: Vec<String> = (10..12)
        .flat_map(|n| d.send_event(&format!("b{n}"), n))
        .collect();
    for id in &late {
        assert!(d.wait_status(id, "failed", Duration::from_secs(10)));
    }
    rx.set_behaviour(Behaviour::Fixed(200));
    let r = d.post(
        &format!("/api/v1/webhooks/{webhook}/recover"),
        json!({"since": mid}),
    );
    assert_eq!(
        (r.status, r.json["count"].as_u64()),
        (202, Some(2)),
        "{}",
        r.text
    );
    for id in &late {
        assert!(d.wait_status(id, "succeeded", Duration::from_secs(10)));
    }
    for id in &early {
        assert_eq!(d.delivery(id)["status"], "failed", "outside the window");
    }
    let r = d.post(
        &format!("/api/v1/webhooks/{webhook}/recover"),
        json!({"since": "2000-01-01T00:00:00Z", "status": ["cancelled"]}),
    );
    assert_eq!(r.json["count"], 0, "none cancelled");
    let r = d.post(
        &format!("/api/v1/webhooks/{webhook}/recover"),
        json!({"since": "2000-01-01T00:00:00Z"}),
    );
    assert_eq!(r.json["count"], 3);
    for id in &early {
        assert!(d.wait_status(id, "succeeded", Duration::from_secs(10)));
    }
    let bad = d.post(
        &format!("/api/v1/webhooks/{webhook}/recover"),
        json!({"since": "soon"}),
    );
    assert_eq!(
        bad.error(),
        ("validation_failed".into(), Some("since".into()))
    );
    let bad = d.post(
        &format!("/api/v1/webhooks/{webhook}/recover"),
        json!({"since": mid, "status": ["pending"]}),
    );
    assert_eq!(bad.error().1.as_deref(), Some("status[0]"));
    let mut w = d.get(&format!("/api/v1/webhooks/{webhook}")).json;
    w["enabled"] = json!(false);
    assert_eq!(d.put(&format!("/api/v1/webhooks/{webhook}"), w).status, 200);
    assert_eq!(
        d.post(
            &format!("/api/v1/webhooks/{webhook}/recover"),
            json!({"since": mid})
        )
        .status,
        409
    );
}

#[test]
fn no_success_for_disable_after_disables_the_webhook() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config_with("200ms", "200ms", "disable_after = \"1s\"");
    let d = Daemon::start_in(dir.path(), &cfg);
    let rx = Receiver::start(Behaviour::Fixed(500));
    let (webhook, _) = d.route("Dying", &rx.url(), json!({}), "{\"t\": 1}");
    let ids = d.send_event("e1", 1);
    assert!(eventually(Duration::from_secs(10), || health(&d, &webhook)
        ["state"]
        == "disabled"));
    let h = health(&d, &webhook);
    assert!(
        h["disabled_reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("no success since ")),
        "{h}"
    );
    assert!(eventually(Duration::from_secs(5), || d
        .get(&format!("/api/v1/webhooks/{webhook}"))
        .json["enabled"]
        == false));
    assert_eq!(d.delivery(&ids[0])["status"], "pending", "held, not failed");
}
