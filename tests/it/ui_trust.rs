//! The trust features on the admin screens: rotating the signing secret with
//! a grace period (the new secret shown once), the ordering choice, the
//! client certificate (subject and expiry shown, the key never), and a
//! delivery the target policy blocked explaining why.

use std::time::Duration;

use serde_json::json;

use crate::common::{Daemon, ADMIN};
use crate::ui_safety::UiClient;

/// The edit form's fields for webhook `name` → `url`, plus `extra`.
fn edit_fields<'a>(
    csrf: &'a str,
    url: &'a str,
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut fields = vec![
        ("csrf", csrf),
        ("url", url),
        ("name", "Desk"),
        ("method", "POST"),
        ("auth_type", "none"),
        ("enabled", "on"),
    ];
    fields.extend_from_slice(extra);
    fields
}

#[test]
fn rotating_on_the_edit_screen_shows_the_new_secret_once_and_keeps_the_old_signing() {
    let (_dir, d) = Daemon::start();
    let w = d.post(
        "/api/v1/webhooks",
        json!({"name": "Desk", "url": "http://127.0.0.1:9/", "signing_secret": "generate"}),
    );
    let id = w.json["id"].as_str().expect("id").to_string();
    let (mut c, csrf) = UiClient::signed_in(&d);
    let form = c.get(&format!("/ui/webhooks/{id}")).text;
    assert!(form.contains("id=\"grace\""), "the grace field is offered");
    let path = format!("/ui/webhooks/{id}");
    let refused = c.post(
        &path,
        &edit_fields(
            &csrf,
            "http://127.0.0.1:9/",
            &[("signing", "rotate"), ("grace", "8d")],
        ),
    );
    assert_eq!(refused.status, 400);
    assert!(
        refused.text.contains("id=\"grace-error\""),
        "{}",
        refused.text
    );
    let page = c.post(
        &path,
        &edit_fields(
            &csrf,
            "http://127.0.0.1:9/",
            &[("signing", "rotate"), ("grace", "1h")],
        ),
    );
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(
        page.text.contains("id=\"signing-secret\">whsec_"),
        "shown once"
    );
    assert!(
        page.text.contains("Old secrets still signing, until:"),
        "{}",
        page.text
    );
    let view = d.get(&format!("/api/v1/webhooks/{id}"));
    assert_eq!(
        view.json["signing_previous"].as_array().map(Vec::len),
        Some(1)
    );
    let again = c.get(&path).text;
    assert!(!again.contains("whsec_"), "never shown a second time");
}

#[test]
fn ordering_and_the_client_certificate_are_set_on_the_form_and_the_key_never_shown() {
    let (_dir, d) = Daemon::start();
    let id = d.webhook("Desk");
    let (mut c, csrf) = UiClient::signed_in(&d);
    let path = format!("/ui/webhooks/{id}");
    let mine = rcgen::generate_simple_self_signed(vec!["client.test".into()]).expect("cert");
    let other = rcgen::generate_simple_self_signed(vec!["other.test".into()]).expect("cert");
    let (cert, key) = (mine.cert.pem(), mine.signing_key.serialize_pem());
    let wrong_key = other.signing_key.serialize_pem();
    let refused = c.post(
        &path,
        &edit_fields(
            &csrf,
            "https://localhost:9/",
            &[("cert_pem", &cert), ("key_pem", &wrong_key)],
        ),
    );
    assert_eq!(refused.status, 400);
    assert!(
        refused
            .text
            .contains("id=\"client_certificate-key_pem-error\""),
        "{}",
        refused.text
    );
    assert!(
        !refused.text.contains("PRIVATE KEY-----\n"),
        "the typed key is not sent back"
    );
    let saved = c.post(
        &path,
        &edit_fields(
            &csrf,
            "https://localhost:9/",
            &[
                ("cert_pem", &cert),
                ("key_pem", &key),
                ("ordering", "per_ticket"),
                ("signing", "none"),
            ],
        ),
    );
    assert_eq!(saved.status, 303, "{}", saved.text);
    let view = d.get(&format!("/api/v1/webhooks/{id}")).json;
    assert_eq!(view["ordering"], "per_ticket");
    assert_eq!(
        view["client_certificate"]["subject"],
        "CN=rcgen self signed cert"
    );
    let form = c.get(&path).text;
    assert!(form.contains("id=\"cert-stored\""), "{form}");
    assert!(form.contains("CN=rcgen self signed cert"));
    assert!(form.contains("<option value=\"per_ticket\" selected>"));
    assert!(
        !form.contains("PRIVATE KEY-----\n") && !form.contains(key.lines().nth(1).unwrap_or("x"))
    );
    // Saving again with both fields empty keeps it; the checkbox removes it.
    let kept = c.post(
        &path,
        &edit_fields(&csrf, "https://localhost:9/", &[("signing", "none")]),
    );
    assert_eq!(kept.status, 303);
    assert!(d.get(&format!("/api/v1/webhooks/{id}")).json["client_certificate"].is_object());
    let removed = c.post(
        &path,
        &edit_fields(
            &csrf,
            "https://localhost:9/",
            &[("cert_remove", "on"), ("signing", "none")],
        ),
    );
    assert_eq!(removed.status, 303);
    assert!(d.get(&format!("/api/v1/webhooks/{id}")).json["client_certificate"].is_null());
}

#[test]
fn a_blocked_delivery_says_why_on_its_page() {
    let dir = tempfile::tempdir().expect("dir");
    let d = Daemon::start_in(
        dir.path(),
        &format!(
            "admin_token = {ADMIN:?}\n[delivery]\ndeny_networks = [\"127.0.0.0/8\", \"::1\"]\n"
        ),
    );
    d.route("Local", "http://localhost:9/hook", json!({}), "{\"t\": 1}");
    let ids = d.send_event("e1", 1);
    assert!(d.wait_status(&ids[0], "failed", Duration::from_secs(10)));
    let (mut c, _) = UiClient::signed_in(&d);
    let page = c.get(&format!("/ui/deliveries/{}", ids[0])).text;
    assert!(page.contains("id=\"blocked-explained\""), "{page}");
    assert!(page.contains("blocked: "), "the error itself is shown too");
}
