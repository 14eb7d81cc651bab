//! The admin API over real HTTP: every route, every validation error, tokens,
//! secrets, referential integrity and names.

use crate::common::{Daemon, ADMIN};
use serde_json::{json, Value};

pub(crate) fn webhook_body(name: &str) -> Value {
    json!({"name": name, "url": "https://receiver.test/hooks/tickets"})
}

#[test]
fn webhook_crud_round_trip() {
    let (_dir, d) = Daemon::start();
    let created = d.post(
        "/api/v1/webhooks",
        json!({"name": "Test Webhook", "url": "https://receiver.test/hooks", "method": "PUT",
               "headers": {"X-Source": "helpdesk"}, "timeout": "5s"}),
    );
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.json["id"].as_str().expect("id").to_string();
    assert!(id.starts_with("wh_"), "{id}");
    assert_eq!(created.json["method"], "PUT");
    assert_eq!(created.json["auth"], json!({"type": "none"}));
    assert_eq!(created.json["signing"], false);
    assert_eq!(created.json["enabled"], true);
    assert_eq!(created.json["timeout"], "5s");
    assert_eq!(created.json["headers"]["X-Source"], "helpdesk");

    let got = d.get(&format!("/api/v1/webhooks/{id}"));
    assert_eq!(got.status, 200);
    assert_eq!(got.json, created.json);

    let list = d.get("/api/v1/webhooks");
    assert_eq!(list.status, 200);
    assert_eq!(list.json["items"].as_array().map(Vec::len), Some(1));

    let mut body = got.json.clone();
    body["name"] = json!("Renamed");
    body["enabled"] = json!(false);
    let put = d.put(&format!("/api/v1/webhooks/{id}"), body);
    assert_eq!(
        put.status, 200,
        "a read webhook can be sent back: {}",
        put.text
    );
    assert_eq!(put.json["name"], "Renamed");
    assert_eq!(put.json["enabled"], false);
    assert_eq!(put.json["id"], id.as_str());
    assert_eq!(put.json["created_at"], created.json["created_at"]);

    assert_eq!(d.delete(&format!("/api/v1/webhooks/{id}")).status, 204);
    let gone = d.get(&format!("/api/v1/webhooks/{id}"));
    assert_eq!((gone.status, gone.error().0.as_str()), (404, "not_found"));
    assert_eq!(d.delete(&format!("/api/v1/webhooks/{id}")).status, 404);
}

#[test]
fn webhook_validation_errors_name_the_field() {
    let (_dir, d) = Daemon::start();
    let cases: Vec<(Value, &str)> = vec![
        (json!({"url": "https://a.test/"}), "name"),
        (json!({"name": "", "url": "https://a.test/"}), "name"),
        (
            json!({"name": "x".repeat(201), "url": "https://a.test/"}),
            "name",
        ),
        (json!({"name": "w"}), "url"),
        (json!({"name": "w", "url": "ftp://a.test/"}), "url"),
        (json!({"name": "w", "url": "not a url"}), "url"),
        (
            json!({"name": "w", "url": "https://user:pw@a.test/"}),
            "url",
        ),
        (json!({"name": "w", "url": 7}), "url"),
        (
            json!({"name": "w", "url": "https://a.test/", "method": "DELETE"}),
            "method",
        ),
        (
            json!({"name": "w", "url": "https://a.test/", "auth": {"type": "digest"}}),
            "auth.type",
        ),
        (
            json!({"name": "w", "url": "https://a.test/", "auth": {"type": "basic", "password": "p"}}),
            "auth.username",
        ),
        (
            json!({"name": "w", "url": "https://a.test/", "auth": {"type": "basic", "username": "u"}}),
            "auth.password",
        ),
        (
            json!({"name": "w", "url": "https://a.test/", "auth": {"type": "bearer"}}),
            "auth.token",
        ),
        (
            json!({"name": "w", "url": "https://a.test/", "headers": {"Authorization": "x"}}),
            "headers.Authorization",
        ),
        (
            json!({"name": "w", "url": "https://a.test/", "headers": {"WEBHOOK-SIGNATURE": "x"}}),
            "headers.WEBHOOK-SIGNATURE",
        ),
        (
            json!({"name": "w", "url": "https://a.test/", "headers": {"triggered-at": "x"}}),
            "headers.triggered-at",
        ),
        (
            json!({"name": "w", "url": "https://a.test/", "headers": {"bad header": "x"}}),
            "headers.bad header",
        ),
        (
            json!({"name": "w", "url": "https://a.test/", "headers": {"X-A": 1}}),
            "headers.X-A",
        ),
        (
            json!({"name": "w", "url": "https://a.test/", "signing_secret": "plain"}),
            "signing_secret",
        ),
        (
            json!({"name": "w", "url": "https://a.test/", "signing_secret": "whsec_c2hvcnQ="}),
            "signing_secret",
        ),
        (
            json!({"name": "w", "url": "https://a.test/", "timeout": "fast"}),
            "timeout",
        ),
        (
            json!({"name": "w", "url": "https://a.test/", "timeout": "0s"}),
            "timeout",
        ),
        (
            json!({"name": "w", "url": "https://a.test/", "enabled": "yes"}),
            "enabled",
        ),
        (
            json!({"name": "w", "url": "https://a.test/", "colour": "red"}),
            "colour",
        ),
    ];
    for (body, field) in cases {
        let r = d.post("/api/v1/webhooks", body.clone());
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert_eq!(
            r.error(),
            ("validation_failed".to_string(), Some(field.to_string())),
            "{body}"
        );
        assert!(r.json["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
    assert_eq!(
        d.get("/api/v1/webhooks").json["items"],
        json!([]),
        "nothing was stored"
    );
}

#[test]
fn secrets_are_write_only_everywhere() {
    let (_dir, d) = Daemon::start();
    let basic = d.post(
        "/api/v1/webhooks",
        json!({"name": "basic", "url": "https://a.test/", "auth": {"type": "basic", "username": "agent", "password": "pa55-SECRET-word"}}),
    );
    let bearer = d.post(
        "/api/v1/webhooks",
        json!({"name": "bearer", "url": "https://a.test/", "auth": {"type": "bearer", "token": "tok-SECRET-123"},
               "signing_secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}),
    );
    let generated = d.post(
        "/api/v1/webhooks",
        json!({"name": "gen", "url": "https://a.test/", "signing_secret": "generate"}),
    );
    assert_eq!(
        (basic.status, bearer.status, generated.status),
        (201, 201, 201)
    );
    assert_eq!(
        basic.json["auth"],
        json!({"type": "basic", "username": "agent"})
    );
    assert_eq!(bearer.json["auth"], json!({"type": "bearer"}));
    assert_eq!(bearer.json["signing"], true);
    assert!(
        bearer.json.get("signing_secret").is_none(),
        "a given secret is not echoed"
    );
    let shown = generated.json["signing_secret"]
        .as_str()
        .expect("generated secret shown once")
        .to_string();
    assert!(shown.starts_with("whsec_"));
    let gen_id = generated.json["id"].as_str().expect("id");

    let reads = [
        d.get("/api/v1/webhooks").text,
        d.get(&format!(
            "/api/v1/webhooks/{}",
            basic.json["id"].as_str().expect("id")
        ))
        .text,
        d.get(&format!(
            "/api/v1/webhooks/{}",
            bearer.json["id"].as_str().expect("id")
        ))
        .text,
        d.get(&format!("/api/v1/webhooks/{gen_id}")).text,
    ];
    for text in &reads {
        for secret in [
            "pa55-SECRET-word",
            "tok-SECRET-123",
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            &shown,
        ] {
            assert!(!text.contains(secret), "secret in a read: {text}");
        }
    }
    let logs = d.logs();
    for secret in [
        "pa55-SECRET-word",
        "tok-SECRET-123",
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        &shown,
        ADMIN,
    ] {
        assert!(!logs.contains(secret), "secret {secret} in the logs");
    }
}

#[test]
fn put_keeps_omitted_secrets_and_null_removes_signing() {
    let (_dir, d) = Daemon::start();
    let created = d.post(
        "/api/v1/webhooks",
        json!({"name": "w", "url": "https://a.test/", "auth": {"type": "basic", "username": "u", "password": "p"},
               "signing_secret": "generate"}),
    );
    let id = created.json["id"].as_str().expect("id").to_string();
    let first_secret = created.json["signing_secret"]
        .as_str()
        .expect("secret")
        .to_string();
    let path = format!("/api/v1/webhooks/{id}");

    // No password and no signing_secret: both kept (a create like this is a 400).
    let kept = d.put(
        &path,
        json!({"name": "w", "url": "https://b.test/", "auth": {"type": "basic", "username": "u2"}}),
    );
    assert_eq!(kept.status, 200, "{}", kept.text);
    assert_eq!(
        kept.json["auth"],
        json!({"type": "basic", "username": "u2"})
    );
    assert_eq!(kept.json["signing"], true);
    assert!(kept.json.get("signing_secret").is_none());

    // Switching to bearer without a token has nothing to keep.
    let r = d.put(
        &path,
        json!({"name": "w", "url": "https://b.test/", "auth": {"type": "bearer"}}),
    );
    assert_eq!(
        r.error(),
        ("validation_failed".into(), Some("auth.token".into()))
    );

    // "generate" on PUT makes a new secret, shown once.
    let regen = d.put(
        &path,
        json!({"name": "w", "url": "https://b.test/", "signing_secret": "generate"}),
    );
    let second = regen.json["signing_secret"]
        .as_str()
        .expect("new secret shown")
        .to_string();
    assert_ne!(second, first_secret);

    let removed = d.put(
        &path,
        json!({"name": "w", "url": "https://b.test/", "signing_secret": null}),
    );
    assert_eq!(removed.json["signing"], false);
}

#[test]
fn schema_crud_and_validation() {
    let (_dir, d) = Daemon::start();
    let created = d.post(
        "/api/v1/schemas",
        json!({"name": "Message 1", "content_type": "json", "content": "{\"ref\": \"{{ticket:ref}}\"}"}),
    );
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.json["id"].as_str().expect("id").to_string();
    assert!(id.starts_with("sc_"));
    assert_eq!(created.json["content"], "{\"ref\": \"{{ticket:ref}}\"}");
    let path = format!("/api/v1/schemas/{id}");
    assert_eq!(d.get(&path).json, created.json);
    let put = d.put(
        &path,
        json!({"name": "Message 1", "content_type": "text", "content": "plain"}),
    );
    assert_eq!(
        (put.status, put.json["content_type"].as_str()),
        (200, Some("text"))
    );
    assert_eq!(
        d.get("/api/v1/schemas").json["items"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    let cases: Vec<(Value, &str)> = vec![
        (json!({"content_type": "text", "content": "x"}), "name"),
        (json!({"name": "s", "content": "x"}), "content_type"),
        (
            json!({"name": "s", "content_type": "yaml", "content": "x"}),
            "content_type",
        ),
        (json!({"name": "s", "content_type": "text"}), "content"),
        (
            json!({"name": "s", "content_type": "text", "content": "x".repeat(256 * 1024 + 1)}),
            "content",
        ),
    ];
    for (body, field) in cases {
        let r = d.post("/api/v1/schemas", body.clone());
        let shown = body.to_string().chars().take(80).collect::<String>();
        assert_eq!(r.status, 400, "{shown}: {}", r.text);
        assert_eq!(
            r.error(),
            ("validation_failed".into(), Some(field.into())),
            "{shown}"
        );
    }
    assert_eq!(d.delete(&path).status, 204);
    assert_eq!(d.get(&path).status, 404);
}

fn group_body(name: &str, position: i64, webhook: &str, schema: &str) -> Value {
    json!({
        "name": name, "position": position,
        "rules": [{
            "name": "Priority changed",
            "conditions": [{"field": "event.type", "op": "eq", "value": "priority_changed"}],
            "actions": {"set_resolve_target": "8h", "webhooks": [{"webhook_id": webhook, "schema_id": schema}]}
        }, {
            "name": "VIP", "match": "any", "stop_rules": true,
            "conditions": [{"field": "customer.vip", "op": "exists"}, {"field": "ticket.subject", "op": "matches", "value": "(?i)urgent"}]
        }]
    })
}

#[test]
fn rule_group_crud_keeps_rule_ids_and_orders_by_position() {
    let (_dir, d) = Daemon::start();
    let wh = d.webhook("W");
    let sc = d.schema("S");
    let second = d.post("/api/v1/rule-groups", group_body("Second", 5, &wh, &sc));
    assert_eq!(second.status, 201, "{}", second.text);
    let first = d.post("/api/v1/rule-groups", group_body("First", 1, &wh, &sc));
    assert_eq!(first.status, 201, "{}", first.text);
    let g = &second.json;
    assert!(g["id"].as_str().is_some_and(|i| i.starts_with("rg_")));
    assert_eq!(g["enabled"], true);
    assert_eq!(g["match"], "all");
    assert_eq!(g["conditions"], json!([]));
    assert_eq!(g["stop_groups"], false);
    assert_eq!(g["rules"][0]["actions"]["set_response_target"], Value::Null);
    assert_eq!(g["rules"][0]["stop_rules"], false);
    assert_eq!(g["rules"][1]["match"], "any");
    let rule_ids: Vec<String> = g["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .map(|r| r["id"].as_str().expect("rule id").to_string())
        .collect();
    assert!(rule_ids.iter().all(|i| i.starts_with("ru_")));

    let names: Vec<Value> = d.get("/api/v1/rule-groups").json["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|g| g["name"].clone())
        .collect();
    assert_eq!(
        names,
        vec![json!("First"), json!("Second")],
        "listed by position"
    );

    // Send the group back with the rules swapped and one new rule.
    let gid = g["id"].as_str().expect("id");
    let mut body = g.clone();
    let rules = body["rules"].as_array().expect("rules").clone();
    body["rules"] = json!([rules[1], rules[0], {"name": "New"}]);
    let put = d.put(&format!("/api/v1/rule-groups/{gid}"), body);
    assert_eq!(put.status, 200, "{}", put.text);
    assert_eq!(put.json["rules"][0]["id"], rule_ids[1].as_str());
    assert_eq!(put.json["rules"][1]["id"], rule_ids[0].as_str());
    let new_id = put.json["rules"][2]["id"].as_str().expect("new rule id");
    assert!(!rule_ids.iter().any(|i| i == new_id));
    assert_eq!(d.get(&format!("/api/v1/rule-groups/{gid}")).json, put.json);
    assert_eq!(d.delete(&format!("/api/v1/rule-groups/{gid}")).status, 204);
    assert_eq!(d.get(&format!("/api/v1/rule-groups/{gid}")).status, 404);
}

#[test]
fn rule_group_validation_errors_name_the_field() {
    let (_dir, d) = Daemon::start();
    let wh = d.webhook("W");
    let sc = d.schema("S");
    let rule = |conditions: Value| json!({"name": "g", "rules": [{"name": "r", "conditions": conditions}]});
    let cases: Vec<(Value, &str)> = vec![
        (json!({"rules": []}), "name"),
        (
            rule(json!([{"field": "ticket.priority", "op": "like", "value": "x"}])),
            "rules[0].conditions[0].op",
        ),
        (
            rule(json!([{"field": "a", "op": "exists"}, {"field": "ticket.priority", "op": "eq"}])),
            "rules[0].conditions[1].value",
        ),
        (
            rule(json!([{"field": "ticket.priority", "op": "in", "value": "high"}])),
            "rules[0].conditions[0].value",
        ),
        (
            rule(json!([{"field": "ticket.subject", "op": "matches", "value": "(unclosed"}])),
            "rules[0].conditions[0].value",
        ),
        (
            rule(json!([{"op": "exists"}])),
            "rules[0].conditions[0].field",
        ),
        (
            json!({"name": "g", "conditions": [{"field": "x", "op": "gt"}]}),
            "conditions[0].value",
        ),
        (json!({"name": "g", "match": "some"}), "match"),
        (
            json!({"name": "g", "rules": [{"name": "r"}, {"name": "r2", "actions": {"webhooks": [{"webhook_id": wh, "schema_id": sc}, {"webhook_id": "wh_nope", "schema_id": sc}]}}]}),
            "rules[1].actions.webhooks[1].webhook_id",
        ),
        (
            json!({"name": "g", "rules": [{"name": "r", "actions": {"webhooks": [{"webhook_id": wh, "schema_id": "sc_nope"}]}}]}),
            "rules[0].actions.webhooks[0].schema_id",
        ),
        (
            json!({"name": "g", "rules": [{"name": "r", "id": "ru_unknown"}]}),
            "rules[0].id",
        ),
        (
            json!({"name": "g", "rules": [{"name": "r", "stop_rules": 1}]}),
            "rules[0].stop_rules",
        ),
        (json!({"name": "g", "rules": {"name": "r"}}), "rules"),
    ];
    for (body, field) in cases {
        let r = d.post("/api/v1/rule-groups", body.clone());
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert_eq!(
            r.error(),
            ("validation_failed".into(), Some(field.into())),
            "{body}"
        );
    }
    assert_eq!(d.get("/api/v1/rule-groups").json["items"], json!([]));
}

#[test]
fn referenced_webhooks_and_schemas_cannot_be_deleted() {
    let (_dir, d) = Daemon::start();
    let wh = d.webhook("W");
    let sc = d.schema("S");
    let g = d.post("/api/v1/rule-groups", group_body("G", 0, &wh, &sc));
    assert_eq!(g.status, 201, "{}", g.text);
    for path in [
        format!("/api/v1/webhooks/{wh}"),
        format!("/api/v1/schemas/{sc}"),
    ] {
        let r = d.delete(&path);
        assert_eq!(
            (r.status, r.error().0.as_str()),
            (409, "conflict"),
            "{path}: {}",
            r.text
        );
        assert!(
            r.text.contains("Priority changed"),
            "names the rule: {}",
            r.text
        );
        assert_eq!(d.get(&path).status, 200, "still there");
    }
    let gid = g.json["id"].as_str().expect("id");
    assert_eq!(d.delete(&format!("/api/v1/rule-groups/{gid}")).status, 204);
    assert_eq!(d.delete(&format!("/api/v1/webhooks/{wh}")).status, 204);
    assert_eq!(d.delete(&format!("/api/v1/schemas/{sc}")).status, 204);
}

#[test]
fn names_are_unique_per_kind() {
    let (_dir, d) = Daemon::start();
    let a = d.webhook("A");
    d.webhook("B");
    let dup = d.post("/api/v1/webhooks", webhook_body("A"));
    assert_eq!((dup.status, dup.error().0.as_str()), (409, "conflict"));
    let rename = d.put(&format!("/api/v1/webhooks/{a}"), webhook_body("B"));
    assert_eq!(rename.status, 409, "renaming onto another's name");
    assert_eq!(
        d.put(&format!("/api/v1/webhooks/{a}"), webhook_body("A"))
            .status,
        200,
        "own name is fine"
    );
    d.schema("A"); // another kind may share the name
    let dup = d.post(
        "/api/v1/schemas",
        json!({"name": "A", "content_type": "text", "content": ""}),
    );
    assert_eq!(dup.status, 409);
    assert_eq!(
        d.post("/api/v1/rule-groups", json!({"name": "G"})).status,
        201
    );
    assert_eq!(
        d.post("/api/v1/rule-groups", json!({"name": "G"})).status,
        409
    );
}
