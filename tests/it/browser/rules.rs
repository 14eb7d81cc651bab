//! Part 2 in the browser: a rule written in the editor (rows added and
//! removed on the way), the delivery it makes watched in the log and
//! retried from its page; Try an event against the API's dry run; the
//! editor without script; the screens in Norwegian.

use std::time::{Duration, Instant};

use fantoccini::Locator;
use serde_json::json;

use super::harness::{blocking, run, Browser, WAIT};
use crate::common::receiver::{Behaviour, Receiver};
use crate::common::{fast_retries, Daemon, ADMIN};

/// A daemon with a receiver, a webhook "Test Webhook", a schema "Message 1"
/// and an empty group "Integrations"; quick retries.
fn setup() -> (tempfile::TempDir, Daemon, Receiver, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = Daemon::start_in(dir.path(), &fast_retries(2, "200ms", ""));
    let rx = Receiver::start(Behaviour::Fixed(200));
    assert_eq!(
        d.post(
            "/api/v1/webhooks",
            json!({"name": "Test Webhook", "url": rx.url()})
        )
        .status,
        201
    );
    let schema = json!({"name": "Message 1", "content_type": "json",
        "content": "{\"ticket\": \"{{ticket:ref}}\", \"priority\": \"{{changes:priority.to}}\"}"});
    assert_eq!(d.post("/api/v1/schemas", schema).status, 201);
    let g = d.post("/api/v1/rule-groups", json!({"name": "Integrations"}));
    let gid = g.json["id"].as_str().unwrap_or("").to_string();
    (dir, d, rx, gid)
}

/// The ids of the webhook and the schema [`setup`] made.
fn webhook_and_schema(d: &Daemon) -> (String, String) {
    let id = |p: &str| {
        d.get(p).json["items"][0]["id"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    (id("/api/v1/webhooks"), id("/api/v1/schemas"))
}

fn priority_event(id: &str) -> serde_json::Value {
    json!({"id": id, "type": "priority_changed", "ticket": {"id": 1234, "ref": "T-1234", "priority": "high"},
           "changes": {"priority": {"from": "normal", "to": "high"}}})
}

impl Browser {
    /// Reloads `path` until `css` holds `wanted` (the log refreshes itself
    /// too; reloading keeps the wait bounded by [`WAIT`] either way).
    async fn reload_until(&self, path: &str, css: &str, wanted: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            self.goto(path).await;
            let text = match self.client.find(Locator::Css(css)).await {
                Ok(e) => e.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if text.contains(wanted) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{path}: {css} never held {wanted:?}; last {text:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

#[test]
fn the_seed_walk_with_the_rule_editor_the_log_and_a_retry() {
    let (_dir, d, rx, gid) = setup();
    run(async {
        let b = Browser::start(&d.base, true).await;
        b.sign_in(ADMIN).await;
        b.goto("/ui/rules").await;
        b.screenshot("20-event-rules-empty").await;
        b.goto(&format!("/ui/rules/{gid}/new")).await;
        b.fill("Name", "Priority changed → Test Webhook").await;
        b.fill("Field", "event.type").await;
        b.choose("Operator", "is equal to").await;
        b.fill("Value", "priority_changed").await;
        // A second condition row, added and removed in place.
        b.click("+ Add condition").await;
        b.find(Locator::Id("cond-field-1")).await;
        let removes = b
            .client
            .find_all(Locator::Css("#condition-rows [data-remove-row]"))
            .await
            .expect("rows");
        assert_eq!(removes.len(), 2);
        removes[1].click().await.expect("remove");
        assert!(
            b.client.find(Locator::Id("cond-field-1")).await.is_err(),
            "removed in place"
        );
        b.choose("Webhook", "Test Webhook").await;
        b.choose("Schema", "Message 1").await;
        b.click("+ Add Webhook").await;
        b.find(Locator::Id("act-webhook-1")).await;
        let removes = b
            .client
            .find_all(Locator::Css("#webhook-rows [data-remove-row]"))
            .await
            .expect("rows");
        removes[1].click().await.expect("remove");
        b.screenshot("21-rule-editor").await;
        b.click("Save").await;
        b.wait_text(".flash", "Saved.").await;
        b.wait_text("main", "Priority changed → Test Webhook").await;
        b.screenshot("22-event-rules").await;

        // An event through the API; its delivery in the log, then its page.
        let delivery = blocking(|| {
            let r = d.admin("POST", "/api/v1/events", Some(priority_event("ev-walk")));
            assert_eq!(r.status, 202, "{}", r.text);
            r.json["deliveries"][0]["id"]
                .as_str()
                .unwrap_or("")
                .to_string()
        });
        assert!(!delivery.is_empty(), "the rule fired");
        b.reload_until("/ui/deliveries", "#deliveries-table", "Succeeded")
            .await;
        b.screenshot("23-deliveries").await;
        b.find(Locator::Css(&format!(
            "a[href='/ui/deliveries/{delivery}']"
        )))
        .await
        .click()
        .await
        .expect("open");
        b.wait_text("#request-body", "T-1234").await;
        let got = rx.requests();
        assert!(
            got[0].body_text().contains("\"priority\": \"high\""),
            "{}",
            got[0].body_text()
        );
        b.wait_text("#attempts", "200").await;

        // The receiver fails now; Retry from the screen shows the second attempt.
        rx.set_behaviour(Behaviour::Fixed(503));
        b.click("Retry").await;
        b.wait_text(".flash", "Sent again").await;
        b.reload_until(&format!("/ui/deliveries/{delivery}"), "#attempts", "#2")
            .await;
        b.wait_text("#attempts", "503").await;
        b.screenshot("24-delivery").await;
        assert!(b.no_dialog().await);
        b.stop().await;
    });
}

#[test]
fn try_an_event_shows_what_the_api_dry_run_says_and_where_it_stopped() {
    let (_dir, d, _rx, gid) = setup();
    let (wh, sc) = webhook_and_schema(&d);
    let rules = json!({"name": "Integrations", "rules": [
        {"name": "First, and stop", "stop_rules": true, "conditions": [{"field": "event.type", "op": "eq", "value": "priority_changed"}],
         "actions": {"set_resolve_target": "4h", "webhooks": [{"webhook_id": wh, "schema_id": sc}]}},
        {"name": "Never reached", "actions": {"webhooks": [{"webhook_id": wh, "schema_id": sc}]}}]});
    assert_eq!(
        d.put(&format!("/api/v1/rule-groups/{gid}"), rules).status,
        200
    );
    let event = priority_event("ev-try");
    let api = d
        .admin("POST", "/api/v1/events/dry-run", Some(event.clone()))
        .json;
    run(async {
        let b = Browser::start(&d.base, true).await;
        b.sign_in(ADMIN).await;
        b.goto("/ui/rules/try").await;
        let area = b.field("Event").await;
        area.clear().await.expect("clear");
        area.send_keys(&event.to_string()).await.expect("type");
        b.click("Try it").await;
        let matched = b.wait_text("#matched-rules", "First, and stop").await;
        let api_names: Vec<&str> = api["matched_rules"]
            .as_array()
            .map(|a| a.iter().filter_map(|m| m["name"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(api_names, ["First, and stop"]);
        for name in &api_names {
            assert!(matched.contains(name));
        }
        assert!(!matched.contains("Never reached"));
        assert!(matched.contains("stopped here"), "{matched}");
        let result = b.wait_text("#dry-run", "4h").await;
        assert_eq!(api["deliveries"].as_array().map(Vec::len), Some(1));
        assert!(
            result.contains("\"ticket\": \"T-1234\"") && result.contains("\"priority\": \"high\""),
            "{result}"
        );
        b.screenshot("25-try-an-event").await;
        b.stop().await;
    });
    let stored = d.get("/api/v1/deliveries").json["items"]
        .as_array()
        .map(Vec::len);
    assert_eq!(stored, Some(0), "nothing stored or sent");
}

#[test]
fn the_rule_editor_works_without_script() {
    let (_dir, d, _rx, gid) = setup();
    run(async {
        let b = Browser::start(&d.base, false).await;
        b.sign_in(ADMIN).await;
        b.goto(&format!("/ui/rules/{gid}/new")).await;
        b.fill("Name", "No script").await;
        b.fill("Field", "ticket.priority").await;
        b.fill("Value", "high").await;
        b.click("+ Add condition").await; // a round trip
        let second = b.find(Locator::Id("cond-field-1")).await;
        second.send_keys("ticket.queue").await.expect("type");
        b.find(Locator::Id("cond-value-1"))
            .await
            .send_keys("Support")
            .await
            .expect("type");
        b.click("Save").await;
        b.wait_text(".flash", "Saved.").await;
        b.stop().await;
    });
    let group = d.get(&format!("/api/v1/rule-groups/{gid}")).json;
    assert_eq!(
        group["rules"][0]["conditions"].as_array().map(Vec::len),
        Some(2),
        "{group}"
    );
    assert_eq!(group["rules"][0]["conditions"][1]["value"], "Support");
}

#[test]
fn the_screens_in_norwegian() {
    let (_dir, d, rx, gid) = setup();
    let (wh, sc) = webhook_and_schema(&d);
    let rules = json!({"name": "Integrasjoner", "rules": [{"name": "Prioritet endret",
        "conditions": [{"field": "event.type", "op": "eq", "value": "priority_changed"}],
        "actions": {"webhooks": [{"webhook_id": wh, "schema_id": sc}]}}]});
    assert_eq!(
        d.put(&format!("/api/v1/rule-groups/{gid}"), rules).status,
        200
    );
    let posted = d.admin("POST", "/api/v1/events", Some(priority_event("ev-nb")));
    let delivery = posted.json["deliveries"][0]["id"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(rx.wait_for(1, Duration::from_secs(10)), "{}", posted.text);
    let rid = d.get(&format!("/api/v1/rule-groups/{gid}")).json["rules"][0]["id"]
        .as_str()
        .unwrap_or("")
        .to_string();
    run(async {
        let b = Browser::start(&d.base, true).await;
        b.sign_in(ADMIN).await;
        b.choose("Language", "Norsk bokmål").await;
        b.click("Choose").await;
        b.wait_text("h1", "Oversikt").await;
        let lang = b
            .client
            .execute("return document.documentElement.lang;", vec![])
            .await
            .expect("lang");
        assert_eq!(lang, json!("nb"));
        for (path, name) in [
            ("/ui/".to_string(), "nb-overview"),
            ("/ui/webhooks/new".into(), "nb-new-webhook"),
            ("/ui/schemas/new?start=slack".into(), "nb-schema"),
            (format!("/ui/rules/{gid}/{rid}"), "nb-rule-editor"),
            ("/ui/deliveries".into(), "nb-deliveries"),
            (format!("/ui/deliveries/{delivery}"), "nb-delivery"),
        ] {
            b.goto(&path).await;
            b.screenshot(name).await;
        }
        b.goto(&format!("/ui/rules/{gid}/{rid}")).await;
        b.wait_text("main", "Regelbetingelser").await;
        b.wait_text(
            "main",
            "Ikke sjekk flere regler hvis betingelsene i denne regelen er oppfylt.",
        )
        .await;
        b.stop().await;
    });
}

/// The lowest contrast of any visible text on the page against the
/// background it sits on (WCAG's ratio), and where it is.
const CONTRAST: &str = r#"
function lum(c) {
  var m = c.match(/rgba?\(([^)]+)\)/); if (!m) return null;
  var p = m[1].split(',').map(parseFloat); if (p.length > 3 && p[3] === 0) return null;
  var v = p.slice(0, 3).map(function (x) { x /= 255; return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4); });
  return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2];
}
function bg(e) {
  while (e) {
    var c = getComputedStyle(e).backgroundColor, m = c.match(/rgba?\(([^)]+)\)/);
    if (m) { var p = m[1].split(',').map(parseFloat); if (p.length < 4 || p[3] > 0.5) return c; }
    e = e.parentElement;
  }
  return 'rgb(255, 255, 255)';
}
var worst = [21, ''];
document.querySelectorAll('body *').forEach(function (e) {
  var text = Array.from(e.childNodes).some(function (n) { return n.nodeType === 3 && n.textContent.trim(); });
  var s = getComputedStyle(e), r = e.getBoundingClientRect();
  if (!text || r.width <= 1 || s.visibility === 'hidden' || s.display === 'none') return;
  var a = lum(s.color), b = lum(bg(e)); if (a === null || b === null) return;
  var ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  if (ratio < worst[0]) worst = [ratio, e.tagName + '.' + e.className + ': ' + e.textContent.trim().slice(0, 40)];
});
return worst;
"#;

#[test]
fn text_contrast_is_at_least_4_5_to_1_on_every_screen() {
    let (_dir, d, rx, gid) = setup();
    let (wh, sc) = webhook_and_schema(&d);
    let rules = json!({"name": "Integrations", "rules": [{"name": "All", "stop_rules": true,
        "actions": {"webhooks": [{"webhook_id": wh, "schema_id": sc}]}}]});
    assert_eq!(
        d.put(&format!("/api/v1/rule-groups/{gid}"), rules).status,
        200
    );
    let posted = d.admin("POST", "/api/v1/events", Some(priority_event("ev-c")));
    let delivery = posted.json["deliveries"][0]["id"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(rx.wait_for(1, Duration::from_secs(10)));
    let rid = d.get(&format!("/api/v1/rule-groups/{gid}")).json["rules"][0]["id"]
        .as_str()
        .unwrap_or("")
        .to_string();
    run(async {
        let b = Browser::start(&d.base, true).await;
        b.goto("/ui/login").await;
        let login = b.client.execute(CONTRAST, vec![]).await.expect("script");
        assert!(
            login[0].as_f64().unwrap_or(0.0) >= 4.5,
            "/ui/login: {login}"
        );
        b.sign_in(ADMIN).await;
        for path in [
            "/ui/".to_string(),
            "/ui/webhooks".into(),
            "/ui/webhooks/new".into(),
            format!("/ui/webhooks/{wh}/test"),
            "/ui/schemas".into(),
            "/ui/schemas/new?start=slack".into(),
            "/ui/rules".into(),
            format!("/ui/rules/{gid}/{rid}"),
            "/ui/rules/try".into(),
            "/ui/deliveries".into(),
            format!("/ui/deliveries/{delivery}"),
            "/ui/events/ev-c".into(),
        ] {
            b.goto(&path).await;
            let worst = b.client.execute(CONTRAST, vec![]).await.expect("script");
            assert!(worst[0].as_f64().unwrap_or(0.0) >= 4.5, "{path}: {worst}");
        }
        b.stop().await;
    });
}
