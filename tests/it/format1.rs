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
        let r = d.request(
            "POST",
            "/api/v1/events",
            None,
            Some("application/json"),
            Some(body.to_string().into_bytes()),
        );
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
