//! Issue 15's screens in the browser: rotating the signing secret with a
//! grace period, choosing per-ticket order and giving a client certificate
//! on Edit Webhook, and a delivery the target policy blocked explaining why.

use std::time::Duration;

use serde_json::json;

use super::harness::{blocking, run, Browser};
use crate::common::{Daemon, ADMIN};

#[test]
fn rotate_order_and_certificate_on_the_edit_screen_and_a_blocked_delivery() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = Daemon::start_in(
        dir.path(),
        &format!(
            "admin_token = {ADMIN:?}\n[delivery]\ndeny_networks = [\"127.0.0.0/8\", \"::1\"]\n"
        ),
    );
    let (webhook, _) = d.route(
        "Billing receiver",
        "https://localhost:9/hooks",
        json!({"signing_secret": "generate"}),
        "{\"ticket\": \"{{ticket:ref}}\"}",
    );
    let client = rcgen::generate_simple_self_signed(vec!["helpdesk.example".into()]).expect("cert");
    let (cert, key) = (client.cert.pem(), client.signing_key.serialize_pem());
    let ids = blocking(|| d.send_event("e-blocked", 42));
    assert!(blocking(|| d.wait_status(
        &ids[0],
        "failed",
        Duration::from_secs(10)
    )));
    run(async {
        let b = Browser::start(&d.base, true).await;
        b.sign_in(ADMIN).await;
        b.goto(&format!("/ui/webhooks/{webhook}")).await;
        b.wait_text("h1", "Edit Webhook").await;
        b.choose(
            "Signing secret",
            "Rotate (the old one keeps signing for the grace period)",
        )
        .await;
        b.fill("Grace period", "2h").await;
        b.choose("Order", "One at a time per ticket, in order")
            .await;
        b.fill("Certificate (PEM)", &cert).await;
        b.fill("Private key (PEM)", &key).await;
        b.click("Save").await;
        let secret = b.wait_text("#signing-secret", "whsec_").await;
        assert!(secret.starts_with("whsec_"), "{secret}");
        b.screenshot("13-secret-rotated").await;
        b.goto(&format!("/ui/webhooks/{webhook}")).await;
        let stored = b.wait_text("#cert-stored", "CN=").await;
        assert!(stored.contains("expires"), "{stored}");
        let page = b.client.source().await.expect("source");
        assert!(
            !page.contains("PRIVATE KEY-----\n"),
            "the key is never shown"
        );
        assert!(page.contains("Old secrets still signing, until:"));
        b.screenshot_at("14-webhook-trust", "#ordering").await;

        b.goto(&format!("/ui/deliveries/{}", ids[0])).await;
        b.wait_text("#blocked-explained", "target policy").await;
        b.screenshot("15-delivery-blocked").await;
        b.stop().await;
    });
    let view = blocking(|| d.get(&format!("/api/v1/webhooks/{webhook}")).json);
    assert_eq!(view["ordering"], "per_ticket");
    assert_eq!(view["signing_previous"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        view["client_certificate"]["subject"],
        "CN=rcgen self signed cert"
    );
}
