//! The format-1 data file kept as a fixture (issue 16): made once, with the
//! release that wrote format 1, by the ignored test below
//! (`cargo test --test it make_format1_fixture -- --ignored`), and committed
//! as `tests/data/format1.redb` with what it holds in
//! `tests/data/format1.json` (ids, secrets, expected states). The tests that
//! open it with the current binary live beside the migration.

use std::time::Duration;

use serde_json::{json, Value};

use crate::common::receiver::{Behaviour, Receiver};
use crate::common::{eventually, Daemon, ADMIN};

/// Where the pending webhook points: below the kernel's ephemeral range
/// (32768–60999), so no test's kernel-chosen port can be it, and nothing
/// listens there while the fixture is made.
pub const PENDING_PORT: u16 = 29431;

fn delivery_of(d: &Daemon, event: &str, webhook: &str) -> String {
    let e = d.get(&format!("/api/v1/events/{event}")).json;
    e["evaluation"]["deliveries"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|x| x["webhook_id"] == webhook)
        .and_then(|x| x["id"].as_str())
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no delivery of {webhook} for {event}: {e}"))
}

#[test]
#[ignore = "makes tests/data/format1.redb; run by hand with the format-1 release"]
fn make_format1_fixture() {
    let dir = tempfile::tempdir().expect("dir");
    let cfg = format!(
        "admin_token = {ADMIN:?}\n[delivery]\ndedup_window = \"0s\"\nretry_jitter = 0.0\nretry_schedule = [\"50ms\"]\n"
    );
    let d = Daemon::start_in(dir.path(), &cfg);
    let ok = Receiver::start(Behaviour::Fixed(200));
    let bad = Receiver::start(Behaviour::Fixed(500));
    let make = |body: Value| {
        let r = d.post("/api/v1/webhooks", body);
        assert_eq!(r.status, 201, "{}", r.text);
        r.json
    };
    let signed = make(
        json!({"name": "Signed none", "url": ok.url(), "signing_secret": "generate",
        "headers": {"X-Desk": "north"}}),
    );
    let basic = make(json!({"name": "Basic", "url": ok.url(), "method": "PUT",
        "auth": {"type": "basic", "username": "agent", "password": "pa55-word"}}));
    let pending = make(
        json!({"name": "Pending bearer", "url": format!("http://127.0.0.1:{PENDING_PORT}/pending"),
        "auth": {"type": "bearer", "token": "tok-pending-1"}, "signing_secret": "generate",
        "retry_schedule": ["2s"], "timeout": "3s"}),
    );
    let failing = make(json!({"name": "Failing", "url": bad.url(), "method": "PATCH"}));
    let cancel = make(
        json!({"name": "Cancelled", "url": format!("http://127.0.0.1:{PENDING_PORT}/cancel"),
        "retry_schedule": ["1h"], "rate_limit": {"requests": 5, "per": "1s"}}),
    );
    let id = |w: &Value| w["id"].as_str().expect("id").to_string();
    let schema = |body: Value| {
        let r = d.post("/api/v1/schemas", body);
        assert_eq!(r.status, 201, "{}", r.text);
        id(&r.json)
    };
    let json_schema = schema(json!({"name": "JSON", "content_type": "json",
        "content": "{\"ticket\": \"{{ticket:ref}}\", \"subject\": {{ ticket.subject | json }}}"}));
    let text_schema = schema(json!({"name": "Text", "content_type": "text",
        "content": "Ticket {{ticket:ref}}: {{ticket:subject}}"}));
    let xml_schema = schema(json!({"name": "XML", "content_type": "xml",
        "content": "<t><ref>{{ticket:ref}}</ref></t>"}));
    let action = |w: &Value, s: &str| json!({"webhook_id": id(w), "schema_id": s});
    let g = d.post(
        "/api/v1/rule-groups",
        json!({"name": "Everything", "rules": [
            {"name": "all", "actions": {"webhooks": [
                action(&signed, &json_schema), action(&basic, &text_schema),
                action(&pending, &json_schema), action(&failing, &xml_schema),
                action(&cancel, &text_schema)]}}]}),
    );
    assert_eq!(g.status, 201, "{}", g.text);
    let g2 = d.post(
        "/api/v1/rule-groups",
        json!({"name": "Priority", "rules": [
            {"name": "high", "conditions": [{"field": "ticket.priority", "op": "eq", "value": "high"}],
             "stop_rules": true, "actions": {"webhooks": [action(&signed, &text_schema)]}}]}),
    );
    assert_eq!(g2.status, 201, "{}", g2.text);
    for n in 1..=2u64 {
        let body = json!({"id": format!("fx-{n}"), "type": "ticket_updated",
            "ticket": {"id": n, "ref": format!("T-{n}"), "subject": "Printer on fire", "priority": "high"}});
        let r = d.post_event(&body);
        assert_eq!(r.status, 202, "{}", r.text);
    }
    let pending_ids: Vec<String> = (1..=2)
        .map(|n| delivery_of(&d, &format!("fx-{n}"), &id(&pending)))
        .collect();
    let cancelled = delivery_of(&d, "fx-1", &id(&cancel));
    assert!(eventually(Duration::from_secs(10), || {
        let got = |x: &str| d.delivery(x)["attempt_count"].as_u64().unwrap_or(0);
        got(&pending_ids[0]) >= 1 && got(&pending_ids[1]) >= 1 && got(&cancelled) >= 1
    }));
    assert_eq!(
        d.post(&format!("/api/v1/deliveries/{cancelled}/cancel"), json!({}))
            .status,
        200
    );
    let failed = delivery_of(&d, "fx-1", &id(&failing));
    assert!(d.wait_status(&failed, "failed", Duration::from_secs(10)));
    let succeeded = delivery_of(&d, "fx-1", &id(&signed));
    assert!(d.wait_status(&succeeded, "succeeded", Duration::from_secs(10)));
    assert!(d.wait_status(
        &delivery_of(&d, "fx-2", &id(&basic)),
        "succeeded",
        Duration::from_secs(10)
    ));
    for p in &pending_ids {
        assert_eq!(
            d.delivery(p)["status"],
            "pending",
            "still pending when the file is kept"
        );
    }
    let deliveries = d.get("/api/v1/deliveries?limit=1000").json;
    let webhooks = d.get("/api/v1/webhooks").json;
    let schemas = d.get("/api/v1/schemas").json;
    let groups = d.get("/api/v1/rule-groups").json;
    assert_eq!(d.stop(), Some(0));
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    std::fs::copy(dir.path().join("hookline.redb"), data.join("format1.redb")).expect("copy");
    let manifest = json!({
        "made_with": "hookline format 1 (issue 15's release)",
        "secrets": {id(&signed): signed["signing_secret"], id(&pending): pending["signing_secret"]},
        "pending": pending_ids, "cancelled": cancelled, "failed": failed, "succeeded": succeeded,
        "webhooks": webhooks["items"], "schemas": schemas["items"], "rule_groups": groups["items"],
        "deliveries": deliveries["items"],
    });
    std::fs::write(
        data.join("format1.json"),
        serde_json::to_string_pretty(&manifest).expect("json"),
    )
    .expect("write manifest");
}

/// `hookline <command>` on the data file in `dir`; its stdout, or the
/// failure with stderr.
fn run_command(dir: &std::path::Path, command: &str) -> Result<String, String> {
    let config = crate::common::write_config(dir, &format!("admin_token = {ADMIN:?}"));
    let out = std::process::Command::new(crate::common::binary())
        .args([command, "--config"])
        .arg(&config)
        .env_remove("HOOKLINE_CONFIG")
        .output()
        .map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(stdout)
    } else {
        Err(format!("{stdout}{}", String::from_utf8_lossy(&out.stderr)))
    }
}

/// The members a read of `item` shows, without those that move on their own.
fn stable(item: &Value) -> Value {
    let mut item = item.clone();
    if let Some(o) = item.as_object_mut() {
        // Moving on their own, or only in the detail view.
        for key in ["health", "next_attempt_at", "attempts", "request"] {
            o.remove(key);
        }
    }
    item
}

#[test]
fn a_format1_file_is_migrated_on_open_and_keeps_everything() {
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(data.join("format1.json")).expect("manifest"),
    )
    .expect("json");
    let dir = tempfile::tempdir().expect("dir");
    std::fs::copy(data.join("format1.redb"), dir.path().join("hookline.redb")).expect("copy");
    let before = run_command(dir.path(), "check").expect("check");
    assert!(before.contains("format version 1"), "{before}");
    assert!(before.contains("migration due"), "{before}");
    // The pending webhook's receiver is back.
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], PENDING_PORT));
    let rx = Receiver::start_on(addr, Behaviour::Fixed(200)).expect("bind the fixture's port");
    let d = Daemon::start_in(dir.path(), &format!("admin_token = {ADMIN:?}\n"));
    assert!(
        d.logs().contains("the data file is now format 2"),
        "{}",
        d.logs()
    );
    for (route, key) in [
        ("/api/v1/webhooks", "webhooks"),
        ("/api/v1/schemas", "schemas"),
        ("/api/v1/rule-groups", "rule_groups"),
    ] {
        let stable_items =
            |v: &Value| -> Vec<Value> { v.as_array().into_iter().flatten().map(stable).collect() };
        let (got, kept) = (
            stable_items(&d.get(route).json["items"]),
            stable_items(&manifest[key]),
        );
        assert_eq!(got, kept, "{key}");
    }
    // The pending deliveries go out with their own ids and valid signatures.
    let pending: Vec<String> = manifest["pending"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p.as_str().map(str::to_string))
        .collect();
    let to_pending = || {
        rx.requests()
            .iter()
            .filter(|r| r.path == "/pending")
            .count()
    };
    assert!(
        eventually(Duration::from_secs(15), || to_pending() >= 2),
        "the pending ones are sent"
    );
    let pending_webhook = manifest["deliveries"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|x| x["id"] == pending[0].as_str())
        .and_then(|x| x["webhook_id"].as_str())
        .expect("pending webhook")
        .to_string();
    let secret = manifest["secrets"][&pending_webhook]
        .as_str()
        .expect("secret");
    // Only the pending webhook's path: the fixture's other pending delivery
    // (1 h retry, same port, path /cancel) falls due an hour after the file
    // was made, so on any later day it arrives here too.
    let mut ids: Vec<String> = rx
        .requests()
        .iter()
        .filter(|r| r.path == "/pending")
        .map(|r| {
            assert!(
                crate::trust::verify::request_verifies(secret, r),
                "signed with the old secret"
            );
            assert_eq!(r.header("authorization"), Some("Bearer tok-pending-1"));
            r.header("webhook-id").unwrap_or_default().to_string()
        })
        .collect();
    ids.sort();
    let mut want = pending.clone();
    want.sort();
    assert_eq!(ids, want);
    // Every delivery: the same status and attempts (the pending ones now
    // succeeded at their second attempt); attempts readable.
    for kept in manifest["deliveries"].as_array().into_iter().flatten() {
        let id = kept["id"].as_str().expect("id");
        let got = if pending.iter().any(|p| p == id) {
            assert!(d.wait_status(id, "succeeded", Duration::from_secs(10)));
            let got = d.delivery(id);
            assert_eq!(got["attempt_count"], 2, "{got}");
            got
        } else if kept["status"] == "pending" {
            // The 1 h retry of the /cancel webhook: still waiting, or sent
            // (and answered 200) once its hour has passed.
            let got = d.delivery(id);
            assert!(
                got["status"] == "pending" || got["status"] == "succeeded",
                "{got}"
            );
            assert_eq!(got["event_id"], kept["event_id"], "{id}");
            continue; // its attempt may be running now: no count to compare
        } else {
            let got = d.delivery(id);
            assert_eq!(stable(&got), stable(kept), "{id}");
            got
        };
        let detail = d.get(&format!("/api/v1/deliveries/{id}")).json;
        let attempts = detail["attempts"].as_array().map_or(0, Vec::len);
        assert_eq!(
            attempts as u64,
            got["attempt_count"].as_u64().unwrap_or(0),
            "{detail}"
        );
    }
    assert_eq!(d.stop(), Some(0));
    let after = run_command(dir.path(), "check").expect("check");
    assert!(
        after.contains("format version 2") && !after.contains("migration due"),
        "{after}"
    );
    // compact: refused while the daemon runs, fine when it does not.
    let compacted = run_command(dir.path(), "compact").expect("compact");
    assert!(compacted.contains("compacted"), "{compacted}");
    let d = Daemon::start_in(dir.path(), &format!("admin_token = {ADMIN:?}\n"));
    let refused = run_command(dir.path(), "compact").expect_err("refused while running");
    assert!(refused.contains("stop it first"), "{refused}");
    assert_eq!(
        d.get("/api/v1/deliveries?limit=100").json["items"]
            .as_array()
            .map(Vec::len),
        Some(12)
    );
}
