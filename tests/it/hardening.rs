//! Issue 11, hardening: what a hostile or careless caller gets.

use std::time::Duration;

use crate::common::receiver::{Behaviour, Receiver};
use crate::common::{eventually, Daemon};
use serde_json::json;

/// Under `/api/` the token is checked first: without it, an unknown path
/// and a wrong method answer 401, so nothing about the routes leaks.
#[test]
fn api_paths_answer_401_before_404_or_405() {
    let (_dir, d) = Daemon::start();
    for (method, path) in [
        ("GET", "/api/v1/nope"),
        ("GET", "/api/v2/webhooks"),
        ("PATCH", "/api/v1/webhooks"),
        ("DELETE", "/api/v1/schemas"),
    ] {
        let r = d.request(method, path, None, None, None);
        assert_eq!(r.status, 401, "{method} {path}: {}", r.text);
        assert_eq!(r.error().0, "unauthorized");
    }
    // With the token the real answer comes.
    assert_eq!(d.get("/api/v1/nope").status, 404);
    let r = d.admin("PATCH", "/api/v1/webhooks", None);
    assert_eq!(r.status, 405);
    assert_eq!(r.error().0, "method_not_allowed");
    // Outside /api/ nothing changes.
    assert_eq!(d.request("GET", "/nope", None, None, None).status, 404);
}

#[test]
fn port_zero_and_sub_millisecond_timeouts_are_refused() {
    let (_dir, d) = Daemon::start();
    let r = d.post(
        "/api/v1/webhooks",
        json!({"name": "w", "url": "http://127.0.0.1:0/"}),
    );
    assert_eq!(
        (r.status, r.error().1.as_deref()),
        (400, Some("url")),
        "{}",
        r.text
    );
    for timeout in ["1ns", "999us"] {
        let r = d.post(
            "/api/v1/webhooks",
            json!({"name": "w", "url": "http://127.0.0.1:9/", "timeout": timeout}),
        );
        assert_eq!(
            (r.status, r.error().1.as_deref()),
            (400, Some("timeout")),
            "{timeout}"
        );
    }
}

/// A liquid integer literal past i64 is refused before the parser sees it
/// (the parser would panic; the daemon logs no panic).
#[test]
fn an_oversized_integer_literal_is_a_validation_error_not_a_panic() {
    let (_dir, d) = Daemon::start();
    let r = d.post(
        "/api/v1/schemas",
        json!({"name": "s", "content_type": "text", "content": "{{ 9223372036854775808 | plus: 1 }}"}),
    );
    assert_eq!(
        (r.status, r.error().1.as_deref()),
        (400, Some("content")),
        "{}",
        r.text
    );
    assert!(r.text.contains("out of range"), "{}", r.text);
    assert!(!d.logs().contains("panicked"), "{}", d.logs());
}

/// A deleted webhook's series leave `/metrics`.
#[test]
fn a_deleted_webhooks_series_leave_the_metrics() {
    let rx = Receiver::start(Behaviour::Fixed(200));
    let (_dir, d) = Daemon::start();
    let (wh, _) = d.route("doomed", &rx.url(), json!({}), "{\"t\": 1}");
    let ids = d.send_event("ev-1", 1);
    assert!(d.wait_status(&ids[0], "succeeded", Duration::from_secs(10)));
    assert!(d.get("/metrics").text.contains("webhook=\"doomed\""));
    for g in d.get("/api/v1/rule-groups").json["items"]
        .as_array()
        .expect("items")
    {
        let id = g["id"].as_str().expect("id");
        assert_eq!(d.delete(&format!("/api/v1/rule-groups/{id}")).status, 204);
    }
    assert_eq!(d.delete(&format!("/api/v1/webhooks/{wh}")).status, 204);
    assert!(
        eventually(Duration::from_secs(5), || !d
            .get("/metrics")
            .text
            .contains("webhook=\"doomed\"")),
        "{}",
        d.get("/metrics").text
    );
}

/// Client generators need one distinct `operationId` per operation.
#[test]
fn every_operation_has_its_own_operation_id() {
    let (_dir, d) = Daemon::start();
    let doc = d.get("/api/v1/openapi.json").json;
    let mut seen = std::collections::HashSet::new();
    let mut count = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("item") {
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path}: no operationId"));
            assert!(
                seen.insert(id.to_string()),
                "{id} repeats ({method} {path})"
            );
            count += 1;
        }
    }
    assert!(count >= 29, "{count} operations");
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("item") {
            if path.starts_with("/api/") {
                assert!(
                    op["responses"]["401"].is_object(),
                    "{method} {path}: no 401"
                );
            }
            if op.get("requestBody").is_some() {
                assert!(
                    op["responses"]["415"].is_object(),
                    "{method} {path}: no 415"
                );
            }
        }
    }
    assert!(seen.contains("listWebhooks"));
}

/// The served document passes `openapi-spec-validator` (installed by
/// `.ci/run`; without it this test says so and passes, except under CI).
#[test]
fn the_served_document_passes_the_openapi_validator() {
    let has_validator = std::process::Command::new("python3")
        .args(["-c", "import openapi_spec_validator"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_validator {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install openapi-spec-validator (.ci/run)"
        );
        eprintln!(
            "openapi-spec-validator not installed; skipped (pip install openapi-spec-validator)"
        );
        return;
    }
    let (dir, d) = Daemon::start();
    let doc = d.get("/api/v1/openapi.json");
    assert_eq!(doc.status, 200);
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, doc.text.as_bytes()).expect("write document");
    let out = std::process::Command::new("python3")
        .args(["-m", "openapi_spec_validator"])
        .arg(&file)
        .output()
        .expect("run the validator");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && text.contains("OK"), "{text}");
}

/// Sends `head` (and `body`) on a raw connection, then reads the answer for
/// at most `within`; returns it as text (empty when none came).
pub(crate) fn raw_exchange(base: &str, head: &str, body: &[u8], within: Duration) -> String {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let mut conn = std::net::TcpStream::connect(addr).expect("connect");
    conn.set_read_timeout(Some(within)).expect("timeout");
    conn.write_all(head.as_bytes()).expect("head");
    conn.write_all(body).expect("body");
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = conn.read(&mut buf) {
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
        if answer.windows(4).any(|w| w == b"\r\n\r\n") && answer.ends_with(b"}") {
            break;
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

/// A daemon whose `request_timeout` is 1 s, so the timeouts are quick to see.
pub(crate) fn daemon_with_a_1s_request_timeout() -> (tempfile::TempDir, Daemon) {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = Daemon::start_in(
        dir.path(),
        &format!(
            "admin_token = {:?}\nrequest_timeout = \"1s\"",
            crate::common::ADMIN
        ),
    );
    (dir, d)
}

/// A body that stops arriving gets `408` once `request_timeout` passed, and
/// a declared `Content-Length` over the limit gets `413` before any byte of
/// the body is read.
#[test]
fn stalled_bodies_time_out_and_oversized_ones_are_refused_at_once() {
    let (_dir, d) = daemon_with_a_1s_request_timeout();
    let stalled = "POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n";
    let answer = raw_exchange(&d.base, stalled, b"{", Duration::from_secs(10));
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"request_timeout\""), "{answer}");

    let chunked = "POST /api/v1/webhooks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nAuthorization: Bearer test-admin-token-0123456789\r\n\r\n";
    let answer = raw_exchange(&d.base, chunked, b"1\r\n{\r\n", Duration::from_secs(10));
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");

    let huge = "POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000000000\r\n\r\n";
    let started = std::time::Instant::now();
    let answer = raw_exchange(&d.base, huge, b"", Duration::from_secs(10));
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("payload_too_large"), "{answer}");
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "answered before the timeout"
    );
}

/// A rule group of `rules` × `per_rule` `matches` conditions, the n-th
/// pattern given by `pattern(n)`.
fn regex_group(
    rules: usize,
    per_rule: usize,
    pattern: impl Fn(usize) -> String,
) -> serde_json::Value {
    let rules: Vec<serde_json::Value> = (0..rules)
        .map(|r| {
            let conditions: Vec<serde_json::Value> = (0..per_rule)
                .map(|c| json!({"field": "ticket.subject", "op": "matches", "value": pattern(r * per_rule + c)}))
                .collect();
            json!({"name": format!("r{r}"), "conditions": conditions, "actions": {}})
        })
        .collect();
    json!({"name": "regexes", "rules": rules})
}

/// 100 rules × 100 conditions of one Unicode pattern took 1.73 GB (issue 11):
/// equal patterns now share one compiled regex. Distinct ones count against
/// one budget and the condition that passes it is named.
#[test]
fn regex_conditions_are_shared_and_bounded() {
    let _exclusive = crate::common::exclusive(); // memory is measured
    let (_dir, d) = Daemon::start();
    let r = d.post(
        "/api/v1/rule-groups",
        regex_group(100, 100, |_| r"(?i)^\w+ on \w+$".to_string()),
    );
    assert_eq!(r.status, 201, "{}", &r.text[..r.text.len().min(300)]);
    let (peak, _) = d.memory();
    eprintln!(
        "100 x 100 equal regexes: daemon peak RSS {} MB",
        peak / 1_000_000
    );
    assert!(peak < 300_000_000, "peak RSS {peak} bytes");

    let r = d.post(
        "/api/v1/rule-groups",
        json!({"name": "distinct", "rules": regex_group(100, 100, |n| format!(r"(?i)^\w+ on \w+ {n}$"))["rules"]}),
    );
    assert_eq!(r.status, 400, "{}", &r.text[..r.text.len().min(300)]);
    let (code, field) = r.error();
    assert_eq!(code, "validation_failed");
    let field = field.unwrap_or_default();
    assert!(
        field.starts_with("rules[") && field.ends_with("].value"),
        "{field}"
    );
    assert!(
        r.text.contains("MiB"),
        "{}",
        &r.text[..r.text.len().min(300)]
    );
    let (peak, _) = d.memory();
    eprintln!(
        "and 10,000 distinct ones refused: daemon peak RSS {} MB",
        peak / 1_000_000
    );
    assert!(peak < 400_000_000, "peak RSS {peak} bytes");
    // Events are still evaluated.
    let r = d.request(
        "POST",
        "/api/v1/events/dry-run",
        None,
        Some("application/json"),
        Some(
            json!({"type": "x", "ticket": {"subject": "printer on fire"}})
                .to_string()
                .into_bytes(),
        ),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["matched_rules"].as_array().map(Vec::len), Some(100));
}

/// A `405` names what the path takes in `Allow` (RFC 9110).
#[test]
fn method_not_allowed_says_which_methods_are() {
    let (_dir, d) = Daemon::start();
    let client = reqwest::blocking::Client::new();
    for (method, path, allow) in [
        ("PATCH", "/api/v1/webhooks", "GET, POST"),
        ("POST", "/api/v1/webhooks/wh_1", "GET, PUT, DELETE"),
        ("GET", "/api/v1/events", "POST"),
        ("POST", "/healthz", "GET"),
    ] {
        let r = client
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).expect("method"),
                format!("{}{path}", d.base),
            )
            .bearer_auth(crate::common::ADMIN)
            .send()
            .expect("answer");
        assert_eq!(r.status().as_u16(), 405, "{method} {path}");
        let got = r
            .headers()
            .get("allow")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        assert_eq!(got.as_deref(), Some(allow), "{method} {path}");
    }
}

/// The document is usable as a contract: every documented operation, called
/// as a generated client would (path ids filled in, an empty JSON object as
/// body), answers one of the statuses the document lists for it.
#[test]
fn every_documented_operation_answers_a_documented_status() {
    let (_dir, d) = Daemon::start();
    let doc = d.get("/api/v1/openapi.json").json;
    let mut undocumented = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("item") {
            let url = path.replace("{id}", "nope");
            let takes_body = op.get("requestBody").is_some();
            let r = d.request(
                &method.to_ascii_uppercase(),
                &url,
                Some(crate::common::ADMIN),
                takes_body.then_some("application/json"),
                takes_body.then(|| b"{}".to_vec()),
            );
            let listed = op["responses"].as_object().expect("responses");
            if !listed.contains_key(&r.status.to_string()) {
                undocumented.push(format!("{method} {path}: {} {}", r.status, r.text));
            }
        }
    }
    assert!(undocumented.is_empty(), "{undocumented:#?}");
}

/// The document's request schemas are as strict as the server: names
/// non-empty without control characters, an event's `type` required,
/// `limit` from 1 to 1000; the batch answer has its schema.
#[test]
fn the_document_is_as_strict_as_the_server() {
    let (_dir, d) = Daemon::start();
    let doc = d.get("/api/v1/openapi.json").json;
    let schemas = &doc["components"]["schemas"];
    for input in ["WebhookInput", "SchemaInput", "RuleGroupInput", "RuleInput"] {
        let name = &schemas[input]["properties"]["name"];
        assert_eq!(name["minLength"], 1, "{input}: {name}");
        assert!(name["pattern"].is_string(), "{input}: {name}");
    }
    let event = &schemas["EventDoc"];
    assert!(
        event["required"]
            .as_array()
            .is_some_and(|r| r.contains(&json!("type"))),
        "{event}"
    );
    assert_eq!(event["properties"]["type"]["minLength"], 1);
    let limit = doc["paths"]["/api/v1/deliveries"]["get"]["parameters"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == "limit").cloned())
        .expect("limit parameter");
    assert_eq!(limit["schema"]["minimum"], 1, "{limit}");
    assert_eq!(limit["schema"]["maximum"], 1000, "{limit}");
    for (path, list) in [
        ("/api/v1/webhooks", "WebhookList"),
        ("/api/v1/schemas", "SchemaList"),
        ("/api/v1/rule-groups", "RuleGroupList"),
    ] {
        let answer =
            &doc["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"];
        assert_eq!(
            answer["$ref"],
            format!("#/components/schemas/{list}"),
            "{path}: {answer}"
        );
        assert!(schemas[list]["properties"]["items"].is_object(), "{list}");
    }
    let batch = &doc["paths"]["/api/v1/events/batch"]["post"]["responses"]["202"];
    assert!(
        batch["content"]["application/json"]["schema"].is_object(),
        "{batch}"
    );
}

/// With twice `max_connections` idle sockets open, the health routes still
/// answer on a new connection, and other requests on a new connection get
/// `503` and are closed; once the flood goes, requests are served again.
#[test]
fn over_the_connection_cap_the_health_routes_still_answer() {
    let _exclusive = crate::common::exclusive(); // many sockets
    let dir = tempfile::tempdir().expect("tempdir");
    let d = Daemon::start_in(
        dir.path(),
        &format!(
            "admin_token = {:?}\nmax_connections = 20",
            crate::common::ADMIN
        ),
    );
    let addr = d.base.trim_start_matches("http://").to_string();
    let flood: Vec<std::net::TcpStream> = (0..40)
        .map(|_| std::net::TcpStream::connect(&addr).expect("connect"))
        .collect();
    // The flood is accepted and counted before the probes below (`/metrics`
    // answers over the cap too).
    assert!(eventually(Duration::from_secs(5), || {
        let metrics = d.get("/metrics").text;
        metrics
            .lines()
            .find_map(|l| l.strip_prefix("hookline_http_connections "))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .is_some_and(|n| n >= 40)
    }));
    for path in ["/healthz", "/readyz", "/metrics"] {
        let answer = raw_exchange(
            &d.base,
            &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
            b"",
            Duration::from_secs(5),
        );
        assert!(answer.starts_with("HTTP/1.1 200"), "{path}: {answer}");
    }
    let admin = format!(
        "GET /api/v1/webhooks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\r\n",
        crate::common::ADMIN
    );
    let answer = raw_exchange(&d.base, &admin, b"", Duration::from_secs(5));
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("\"unavailable\""), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    drop(flood);
    assert!(
        eventually(Duration::from_secs(5), || raw_exchange(
            &d.base,
            &admin,
            b"",
            Duration::from_secs(5)
        )
        .starts_with("HTTP/1.1 200")),
        "served again once the flood is gone"
    );
}

/// Under pressure (three quarters of `max_connections` open) an answer
/// closes its connection instead of keeping it alive; below it, keep-alive
/// stays.
#[test]
fn under_pressure_answers_close_their_connection() {
    let _exclusive = crate::common::exclusive(); // counts open sockets
    let dir = tempfile::tempdir().expect("tempdir");
    let d = Daemon::start_in(
        dir.path(),
        &format!(
            "admin_token = {:?}\nmax_connections = 8",
            crate::common::ADMIN
        ),
    );
    let ask = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    let calm = raw_exchange(&d.base, ask, b"", Duration::from_millis(500));
    assert!(
        calm.starts_with("HTTP/1.1 200")
            && !calm.to_ascii_lowercase().contains("connection: close"),
        "{calm}"
    );
    let addr = d.base.trim_start_matches("http://").to_string();
    let idle: Vec<std::net::TcpStream> = (0..6)
        .map(|_| std::net::TcpStream::connect(&addr).expect("connect"))
        .collect();
    assert!(eventually(Duration::from_secs(5), || {
        d.get("/metrics")
            .text
            .lines()
            .find_map(|l| l.strip_prefix("hookline_http_connections "))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .is_some_and(|n| n >= 6)
    }));
    let started = std::time::Instant::now();
    let pressed = raw_exchange(&d.base, ask, b"", Duration::from_secs(5));
    assert!(pressed.starts_with("HTTP/1.1 200"), "{pressed}");
    assert!(
        pressed.to_ascii_lowercase().contains("connection: close"),
        "{pressed}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the server closed it, not the read timeout"
    );
    drop(idle);
}
