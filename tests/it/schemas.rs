//! Schema save-validation and preview over HTTP.

use crate::common::Daemon;
use serde_json::json;

#[test]
fn saving_checks_that_templates_parse_and_render_well_formed() {
    let (_dir, d) = Daemon::start();
    let cases = [
        ("text", "line one\n{% if ticket.priority %}open", "line"),
        (
            "text",
            "Hello {{ ticket.subject | nosuchfilter }}",
            "nosuchfilter",
        ),
        ("json", "{\"ref\": {{ticket:ref}}}", "JSON"),
        ("json", "{\"ref\": \"{{ticket:ref}}\"", "JSON"),
        ("xml", "<a>{{ticket:ref}}</a><b/>", "XML"),
        ("xml", "<a>{{ticket:ref}}</b>", "XML"),
    ];
    for (content_type, content, hint) in cases {
        let r = d.post(
            "/api/v1/schemas",
            json!({"name": "s", "content_type": content_type, "content": content}),
        );
        assert_eq!(r.status, 400, "{content}: {}", r.text);
        assert_eq!(
            r.error(),
            ("validation_failed".into(), Some("content".into())),
            "{content}"
        );
        let message = r.json["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(hint), "{content}: {message}");
    }
    let r = d.post("/api/v1/schemas", json!({"name": "s", "content_type": "text", "content": "a\nb {{ ticket.x | nosuchfilter }}"}));
    let message = r.json["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        message.contains("line 2"),
        "parse errors give the line: {message}"
    );
    assert!(message.contains("column"), "and the column: {message}");

    // Placeholders missing from the sample count as 0 for the check: a number slot stays valid JSON.
    let ok = d.post(
        "/api/v1/schemas",
        json!({"name": "n", "content_type": "json",
        "content": "{\"n\": {{ticket:custom_number}}, \"tags\": {{ ticket.tags | json }}}"}),
    );
    assert_eq!(ok.status, 201, "{}", ok.text);
    let ok = d.post(
        "/api/v1/schemas",
        json!({"name": "x", "content_type": "xml",
        "content": "<ticket ref=\"{{ticket:ref}}\"><s>{{ticket:subject}}</s></ticket>"}),
    );
    assert_eq!(ok.status, 201, "{}", ok.text);
    let id = ok.json["id"].as_str().expect("id").to_string();
    let bad_put = d.put(
        &format!("/api/v1/schemas/{id}"),
        json!({"name": "x", "content_type": "xml", "content": "<a>"}),
    );
    assert_eq!(bad_put.status, 400, "PUT validates too");
    assert_eq!(
        d.get(&format!("/api/v1/schemas/{id}")).json["content_type"],
        "xml",
        "unchanged"
    );
}

#[test]
fn preview_renders_stored_and_inline_schemas() {
    let (_dir, d) = Daemon::start();
    let created = d.post("/api/v1/schemas", json!({"name": "Message 1", "content_type": "json",
        "content": "{\"ref\": \"{{ticket:ref}}\", \"s\": \"{{ticket:subject}}\", \"x\": \"{{ticket:nope}}\"}"}));
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.json["id"].as_str().expect("id");

    let sample = d.post("/api/v1/schemas/preview", json!({"schema_id": id}));
    assert_eq!(sample.status, 200, "{}", sample.text);
    assert_eq!(sample.json["content_type"], "application/json");
    assert_eq!(
        sample.json["body"],
        "{\"ref\": \"T-1001\", \"s\": \"Sample ticket\", \"x\": \"\"}"
    );
    assert_eq!(sample.json["unknown_placeholders"], json!(["ticket:nope"]));

    let event = json!({"type": "priority_changed", "ticket": {"id": 7, "ref": "T-7", "subject": "Quote \" and \\ back", "nope": ""}});
    let custom = d.post(
        "/api/v1/schemas/preview",
        json!({"schema_id": id, "event": event}),
    );
    assert_eq!(custom.status, 200, "{}", custom.text);
    let body: serde_json::Value =
        serde_json::from_str(custom.json["body"].as_str().expect("body")).expect("valid JSON");
    assert_eq!(body["s"], "Quote \" and \\ back");
    assert_eq!(
        custom.json["unknown_placeholders"],
        json!([]),
        "present but empty is not unknown"
    );

    let inline = d.post("/api/v1/schemas/preview", json!({"schema": {"content_type": "xml",
        "content": "<t>{{ ticket.subject | upcase }} &amp; {{event:type}}</t>"}, "event": {"type": "a<b", "ticket": {"subject": "x&y"}}}));
    assert_eq!(inline.status, 200, "{}", inline.text);
    assert_eq!(
        inline.json["content_type"],
        "application/xml; charset=utf-8"
    );
    assert_eq!(inline.json["body"], "<t>X&amp;Y &amp; a&lt;b</t>");

    let text = d.post(
        "/api/v1/schemas/preview",
        json!({"schema": {"content_type": "text", "content": "{{ticket:ref}}"}}),
    );
    assert_eq!(text.json["content_type"], "text/plain; charset=utf-8");
}

#[test]
fn preview_errors() {
    let (_dir, d) = Daemon::start();
    let r = d.post(
        "/api/v1/schemas/preview",
        json!({"schema_id": "sc_missing"}),
    );
    assert_eq!((r.status, r.error().0.as_str()), (404, "not_found"));
    let r = d.post("/api/v1/schemas/preview", json!({}));
    assert_eq!(
        r.error(),
        ("validation_failed".into(), Some("schema_id".into()))
    );
    let r = d.post(
        "/api/v1/schemas/preview",
        json!({"schema": {"content_type": "text", "content": "{% if %}"}}),
    );
    assert_eq!(
        r.error(),
        ("validation_failed".into(), Some("schema.content".into()))
    );
    let r = d.post(
        "/api/v1/schemas/preview",
        json!({"schema": {"content_type": "yaml", "content": ""}}),
    );
    assert_eq!(
        r.error(),
        (
            "validation_failed".into(),
            Some("schema.content_type".into())
        )
    );
    let r = d.post(
        "/api/v1/schemas/preview",
        json!({"schema": {"content_type": "text", "content": "x"}, "event": {"ticket": {}}}),
    );
    assert_eq!(
        r.error(),
        ("validation_failed".into(), Some("event.type".into()))
    );
    let r = d.post("/api/v1/schemas/preview", json!({"schema": {"content_type": "text",
        "content": "{% for a in (1..100000) %}{% for b in (1..100000) %}x{% endfor %}{% endfor %}"}}));
    assert_eq!(
        r.status, 400,
        "a runaway template is an error, not a hang: {}",
        r.text
    );
}
