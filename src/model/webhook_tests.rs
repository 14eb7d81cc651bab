//! Unit tests of the webhook model: secrets kept on `PUT`, the URL and
//! header checks, the generated secret, the view hiding secrets.

use super::*;

/// A valid webhook with nothing optional set.
pub(crate) fn plain_webhook() -> Webhook {
    webhook_input(serde_json::json!({"name": "W", "url": "https://example.test/h"}))
        .into_webhook(None)
        .expect("valid")
        .0
}

fn webhook_input(json: serde_json::Value) -> WebhookInput {
    serde_json::from_value(json).expect("valid input shape")
}

#[test]
fn put_without_secrets_keeps_them() {
    let (first, shown) = webhook_input(serde_json::json!({
        "name": "W", "url": "https://example.test/h",
        "auth": {"type": "basic", "username": "u", "password": "p"},
        "signing_secret": "generate"
    }))
    .into_webhook(None)
    .expect("valid");
    assert!(shown.is_some());
    let (second, shown2) = webhook_input(serde_json::json!({
        "name": "W2", "url": "https://example.test/h",
        "auth": {"type": "basic", "username": "u2"}
    }))
    .into_webhook(Some(&first))
    .expect("valid");
    assert_eq!(shown2, None);
    assert_eq!(second.id, first.id);
    assert_eq!(second.signing_secret, first.signing_secret);
    assert_eq!(
        second.auth,
        Auth::Basic {
            username: "u2".into(),
            password: "p".into()
        }
    );
}

#[test]
fn switching_auth_type_needs_the_new_secret() {
    let err = webhook_input(serde_json::json!({
        "name": "W", "url": "https://example.test/h", "auth": {"type": "bearer"}
    }))
    .into_webhook(None)
    .expect_err("token required");
    assert_eq!(err.field, "auth.token");
}

#[test]
fn url_and_header_checks() {
    for (json, field) in [
        (serde_json::json!({"name": "W", "url": "ftp://x/y"}), "url"),
        (serde_json::json!({"name": "W", "url": "/relative"}), "url"),
        (serde_json::json!({"name": "", "url": "http://x/"}), "name"),
        (
            serde_json::json!({"name": "W", "url": "http://x/", "headers": {"webhook-id": "1"}}),
            "headers.webhook-id",
        ),
        (
            serde_json::json!({"name": "W", "url": "http://x/", "headers": {"Content-Type": "x"}}),
            "headers.Content-Type",
        ),
        (
            serde_json::json!({"name": "W", "url": "http://x/", "timeout": "soon"}),
            "timeout",
        ),
        (
            serde_json::json!({"name": "W", "url": "http://127.0.0.1:0/"}),
            "url",
        ),
        (
            serde_json::json!({"name": "W", "url": "http://x/", "timeout": "999us"}),
            "timeout",
        ),
        (
            serde_json::json!({"name": "W", "url": "http://x/", "timeout": "1ns"}),
            "timeout",
        ),
        (
            serde_json::json!({"name": "W", "url": "http://x/", "signing_secret": "whsec_abc"}),
            "signing_secret",
        ),
    ] {
        let err = webhook_input(json.clone())
            .into_webhook(None)
            .expect_err(&json.to_string());
        assert_eq!(err.field, field, "{json}");
    }
}

#[test]
fn generated_secret_is_valid() {
    let s = generate_signing_secret();
    assert!(check_signing_secret(&s).is_ok(), "{s}");
    assert_eq!(signing_key(&s).map(|k| k.len()), Some(32));
}

#[test]
fn view_hides_secrets() {
    let (w, _) = webhook_input(serde_json::json!({
        "name": "W", "url": "https://example.test/h",
        "auth": {"type": "bearer", "token": "tok-123"}, "signing_secret": "generate"
    }))
    .into_webhook(None)
    .expect("valid");
    let text = serde_json::to_string(&WebhookView::from(&w)).expect("serialises");
    assert!(
        !text.contains("tok-123") && !text.contains("whsec_"),
        "{text}"
    );
    assert!(text.contains("\"signing\":true"), "{text}");
}
