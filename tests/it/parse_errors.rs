//! Issue 11: requests actix-http cannot parse. They are answered below the
//! routes by its dispatcher, patched in `vendor/actix-http` (PATCHES.md): a
//! 64 KiB header name is a `431` instead of a panic, and those answers carry
//! the API's error body.

use std::time::Duration;

use crate::common::Daemon;
use crate::hardening::{daemon_with_a_1s_request_timeout, raw_exchange};

/// Parses a raw answer's status and its `{"error": {"code": …}}`.
fn raw_status_and_code(answer: &str) -> (u16, String) {
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or("");
    let code = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["error"]["code"].as_str().map(str::to_string))
        .unwrap_or_default();
    (status, code)
}

/// A header name of 64 KiB made actix-http 3.20.0 panic on that connection
/// (an unwrap in its decoder). Our patch of it answers 431 instead: no panic,
/// no log line above debug, and the daemon goes on serving.
#[test]
fn a_huge_header_name_is_answered_431_without_a_panic() {
    let (_dir, d) = Daemon::start();
    let lines_before = d.logs().lines().count();
    let head = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\n{}: v\r\n\r\n",
        "a".repeat(65_536)
    );
    for _ in 0..3 {
        let answer = raw_exchange(&d.base, &head, b"", Duration::from_secs(3));
        assert_eq!(
            raw_status_and_code(&answer),
            (431, "request_header_fields_too_large".to_string()),
            "{}",
            &answer[..answer.len().min(300)]
        );
    }
    assert_eq!(d.get("/healthz").status, 200, "still serving");
    let new_lines: Vec<String> = d
        .logs()
        .lines()
        .skip(lines_before)
        .filter(|l| !l.contains("DEBUG"))
        .map(str::to_string)
        .collect();
    assert!(new_lines.is_empty(), "{new_lines:#?}");
}

/// The answers written below the routes (a head that cannot be parsed, one
/// too large, one that does not arrive) carry the API's error body.
#[test]
fn answers_below_the_routes_carry_the_error_body() {
    let (_dir, d) = daemon_with_a_1s_request_timeout();
    let cases: Vec<(&str, String, u16, &str)> = vec![
        (
            "a bad byte in the path",
            "GET /heal\x01thz HTTP/1.1\r\nHost: x\r\n\r\n".to_string(),
            400,
            "bad_request",
        ),
        (
            "a bad byte in a header value",
            "GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\x7fb\r\n\r\n".to_string(),
            400,
            "bad_request",
        ),
        (
            "200 headers",
            format!(
                "GET /healthz HTTP/1.1\r\nHost: x\r\n{}\r\n",
                (0..200)
                    .map(|n| format!("X-{n}: v\r\n"))
                    .collect::<String>()
            ),
            431,
            "request_header_fields_too_large",
        ),
        (
            "a head of 200 KiB",
            format!(
                "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
                "v".repeat(200 * 1024)
            ),
            431,
            "request_header_fields_too_large",
        ),
        (
            "a head that stops",
            "GET /healthz HTTP/1.1\r\nHost: x\r\n".to_string(),
            408,
            "request_timeout",
        ),
    ];
    for (what, head, status, code) in cases {
        let answer = raw_exchange(&d.base, &head, b"", Duration::from_secs(10));
        assert_eq!(
            raw_status_and_code(&answer),
            (status, code.to_string()),
            "{what}: {}",
            &answer[..answer.len().min(300)]
        );
        assert!(
            answer
                .to_ascii_lowercase()
                .contains("content-type: application/json"),
            "{what}: {answer}"
        );
    }
    assert_eq!(d.get("/healthz").status, 200, "still serving");
}
