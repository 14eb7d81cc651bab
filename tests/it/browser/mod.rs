//! The admin screens in a real browser: the seed's steps walked through,
//! hostile names and answers that must stay text, the script's
//! enhancements, and every form without script. Screenshots of each screen
//! land in `target/ui-screenshots/`.

mod cluster;
mod harness;
mod rules;
mod trust;

use fantoccini::Locator;
use serde_json::json;

use crate::common::receiver::{Behaviour, Receiver, Reply};
use crate::common::{Daemon, ADMIN};
use harness::{blocking, run, Browser};

const HOSTILE_ANSWER: &str = "<script>alert(1)</script><img src=x onerror=alert(2)>";

#[test]
fn the_seed_steps_in_the_browser_sign_in_webhook_schema_and_test() {
    let (_dir, d) = Daemon::start();
    let rx = Receiver::start(Behaviour::Replies(vec![Reply::status(200)
        .header("Content-Type", "text/html")
        .body(HOSTILE_ANSWER)]));
    run(async {
        let b = Browser::start(&d.base, true).await;
        b.goto("/ui/webhooks").await;
        assert!(
            b.path().await.starts_with("/ui/login?next="),
            "{}",
            b.path().await
        );
        b.screenshot("01-sign-in").await;
        b.fill("Admin token", "wrong").await;
        b.click("Log in").await;
        b.wait_text(".message", "Wrong token").await;
        b.fill("Admin token", ADMIN).await;
        b.click("Log in").await;
        b.wait_path("/ui/webhooks").await; // back where the sign-in started
        b.goto("/ui/").await;
        b.screenshot("02-overview-empty").await;

        // Step 1: a webhook with bearer auth and a generated secret, shown once.
        b.goto("/ui/webhooks").await;
        b.click("New Webhook").await;
        b.wait_text("h1", "New Webhook").await;
        b.fill("URL", &rx.url()).await;
        b.fill("Name", "Helpdesk receiver").await;
        b.choose("Authentication Type", "Bearer Token").await;
        assert!(
            b.field("Token").await.is_displayed().await.unwrap_or(false),
            "the token field follows the type"
        );
        assert!(
            !b.field("Username")
                .await
                .is_displayed()
                .await
                .unwrap_or(true),
            "basic's fields are hidden"
        );
        b.fill("Token", "tok-seed-1").await;
        b.fill("Header name", "X-Desk").await;
        b.fill("Header value", "north").await;
        b.choose("Signing secret", "Generate").await;
        b.screenshot("03-new-webhook").await;
        b.click("Save").await;
        let secret = b.wait_text("#signing-secret", "whsec_").await;
        assert!(secret.starts_with("whsec_"), "{secret}");
        b.wait_text("h1", "Edit Webhook").await;
        b.screenshot("04-webhook-secret-once").await;
        // The edit page again: the secret is not on it any more.
        let edit = b
            .client
            .execute(
                "return document.querySelector('form.stacked').getAttribute('action');",
                vec![],
            )
            .await
            .expect("form action");
        let edit = edit.as_str().unwrap_or("").to_string();
        assert!(edit.starts_with("/ui/webhooks/wh_"), "{edit}");
        b.goto(&edit).await;
        b.wait_text("h1", "Edit Webhook").await;
        assert!(
            b.client.find(Locator::Id("signing-secret")).await.is_err(),
            "shown only once"
        );
        b.goto("/ui/webhooks").await;
        b.wait_text("table", "Helpdesk receiver").await;
        b.screenshot("05-webhooks").await;

        // Step 2: a schema from the Slack starting point, with its preview.
        b.goto("/ui/schemas").await;
        b.click("New Schema").await;
        b.click("Slack message").await;
        b.wait_text("#preview-body", "Ticket T-1001: Sample ticket")
            .await;
        b.fill("Name", "Slack alert").await;
        let content = b.field("Content").await;
        let before = content
            .prop("value")
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        assert!(before.contains("{{ticket:ref}}"));
        b.screenshot("06-schema-details").await;
        b.click("Save").await;
        b.wait_text("table", "Slack alert").await;
        assert!(b.no_dialog().await);
        b.screenshot("07-schemas").await;

        // The Test screen: the receiver's hostile answer is text on the screen.
        b.goto("/ui/webhooks").await;
        b.click("Test").await;
        b.wait_text("h1", "Test webhook").await;
        b.choose("Schema", "Slack alert").await;
        b.click("Send test").await;
        b.wait_text("#response-status", "200").await;
        let shown = b.wait_text("#response-body", "<script>").await;
        assert_eq!(shown, HOSTILE_ANSWER, "shown exactly, as text");
        assert!(b.no_dialog().await, "nothing the receiver sent ran");
        let request = b.wait_text("#test-result", "Bearer ***").await;
        assert!(!request.contains("tok-seed-1"), "the token is never shown");
        b.wait_text("#request-body", "Ticket T-1001").await;
        b.screenshot("08-test-webhook").await;

        // Step 3 (a rule) is part 2's screen; made here through the API so
        // one real delivery reaches the Overview.
        blocking(|| {
            let id = |path: &str, name: &str| {
                let items = d.get(path).json["items"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                items
                    .iter()
                    .find(|i| i["name"] == name)
                    .and_then(|i| i["id"].as_str().map(str::to_string))
                    .unwrap_or_default()
            };
            let (wh, sc) = (
                id("/api/v1/webhooks", "Helpdesk receiver"),
                id("/api/v1/schemas", "Slack alert"),
            );
            let rule = json!({"name": "Integrations", "rules": [{"name": "All events",
                "actions": {"webhooks": [{"webhook_id": wh, "schema_id": sc}]}}]});
            assert_eq!(d.post("/api/v1/rule-groups", rule).status, 201);
            d.send_event("e-1", 1001);
            assert!(rx.wait_for(2, std::time::Duration::from_secs(20)));
        });
        b.goto("/ui/").await;
        b.wait_text("table", "Helpdesk receiver").await;
        let deadline = std::time::Instant::now() + harness::WAIT;
        while !b
            .find(Locator::Css(".count.succeeded .n"))
            .await
            .text()
            .await
            .unwrap_or_default()
            .contains('1')
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the delivery never showed as succeeded"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            b.goto("/ui/").await;
        }
        b.screenshot("12-overview").await;
        b.stop().await;
    });
    let got = rx.requests();
    assert_eq!(got.len(), 2, "the test and the delivery");
    assert_eq!(got[0].header("authorization"), Some("Bearer tok-seed-1"));
    assert_eq!(got[0].header("x-desk"), Some("north"));
    assert!(got[0]
        .header("webhook-signature")
        .is_some_and(|s| s.starts_with("v1,")));
    assert!(got[0].body_text().contains("Ticket T-1001: Sample ticket"));
}

#[test]
fn hostile_names_and_content_stay_text_and_the_editor_helps() {
    let (_dir, d) = Daemon::start();
    let name = "<script>alert(1)</script>";
    let created = d.post(
        "/api/v1/webhooks",
        json!({"name": name, "url": "http://127.0.0.1:9/x"}),
    );
    assert_eq!(created.status, 201);
    let schema = d.post(
        "/api/v1/schemas",
        json!({"name": "<img src=x onerror=alert(3)>", "content_type": "text",
               "content": "<b>bold</b><img src=x onerror=alert(4)> {{ticket:ref}}"}),
    );
    assert_eq!(schema.status, 201, "{}", schema.text);
    let schema_id = schema.json["id"].as_str().unwrap_or("").to_string();
    run(async {
        let b = Browser::start(&d.base, true).await;
        b.sign_in(ADMIN).await;
        for page in [
            "/ui/",
            "/ui/webhooks",
            "/ui/schemas",
            &format!("/ui/schemas/{schema_id}"),
        ] {
            b.goto(page).await;
            assert!(b.no_dialog().await, "{page}");
        }
        b.goto("/ui/webhooks").await;
        b.wait_text("table", name).await;
        b.goto(&format!("/ui/schemas/{schema_id}")).await;
        let preview = b.wait_text("#preview-body", "T-1001").await;
        assert_eq!(
            preview, "<b>bold</b><img src=x onerror=alert(4)> T-1001",
            "rendered, shown as text"
        );
        assert!(
            b.client.find(Locator::Css("#preview b")).await.is_err(),
            "no element made from content"
        );

        // Live preview follows the typing; a placeholder goes in at the cursor.
        let content = b.field("Content").await;
        content.clear().await.expect("clear");
        content.send_keys("Hello ").await.expect("type");
        b.click_placeholder("ticket:subject").await;
        b.wait_text("#preview-body", "Hello Sample ticket").await;
        content.send_keys(" {{ticket:nope}}").await.expect("type");
        b.wait_text("#unknown-placeholders", "ticket:nope").await;
        content.send_keys(" {% if %}").await.expect("type");
        let error = b.wait_text("#preview-error", "line 1, column").await;
        assert!(error.contains("does not parse"), "{error}");
        assert!(b.no_dialog().await);
        b.stop().await;
    });
}

impl Browser {
    async fn click_placeholder(&self, placeholder: &str) {
        let css = format!("button[data-insert='{{{{{placeholder}}}}}']");
        self.find(Locator::Css(&css))
            .await
            .click()
            .await
            .expect("click placeholder");
    }
}

#[test]
fn every_form_works_without_script() {
    let (_dir, d) = Daemon::start();
    run(async {
        let b = Browser::start(&d.base, false).await;
        b.sign_in(ADMIN).await;
        // A refused save shows the message at the field and keeps the input.
        b.goto("/ui/webhooks/new").await;
        b.fill("URL", "ftp://127.0.0.1/x").await;
        b.fill("Name", "Kept name").await;
        b.choose("Authentication Type", "Basic").await;
        b.fill("Username", "agent").await;
        b.fill("Password", "hunter2").await;
        b.click("Save").await;
        b.wait_text("#url-error", "scheme").await;
        b.screenshot("09-validation-error").await;
        let value = |label: &'static str| {
            let b = &b;
            async move {
                b.field(label)
                    .await
                    .prop("value")
                    .await
                    .ok()
                    .flatten()
                    .unwrap_or_default()
            }
        };
        assert_eq!(value("Name").await, "Kept name");
        assert_eq!(value("Username").await, "agent");
        assert_eq!(value("Password").await, "", "never sent back");
        b.fill("URL", "http://127.0.0.1:9/hook").await;
        b.fill("Password", "hunter2").await;
        b.click("Save").await;
        b.wait_text(".flash", "Saved.").await;
        b.wait_path("/ui/webhooks").await;

        // The Preview button renders without saving anything.
        b.goto("/ui/schemas/new?start=xml").await;
        b.fill("Name", "Ticket XML").await;
        let content = b.field("Content").await;
        content.clear().await.expect("clear");
        content
            .send_keys("<t>{{ticket:priority}}</t>")
            .await
            .expect("type");
        b.click("Preview").await;
        b.wait_text("#preview-body", "<t>high</t>").await;
        let stored = blocking(|| {
            d.get("/api/v1/schemas").json["items"]
                .as_array()
                .map(Vec::len)
        });
        assert_eq!(stored, Some(0), "a preview stores nothing");
        b.click("Save").await;
        b.wait_text("table", "Ticket XML").await;

        // Delete with its confirmation.
        b.click("Delete").await;
        b.wait_text("h1", "Delete schema").await;
        b.screenshot("10-delete-confirmation").await;
        b.click("Delete").await;
        b.wait_text(".flash", "Deleted.").await;
        let stored = blocking(|| {
            d.get("/api/v1/schemas").json["items"]
                .as_array()
                .map(Vec::len)
        });
        assert_eq!(stored, Some(0));
        b.click("Log out").await;
        // The log-out POST answers "session ended" at /ui/logout; only then
        // is the session gone (going on at once raced it).
        b.wait_path("/ui/logout").await;
        b.goto("/ui/").await;
        b.wait_path("/ui/login").await;
        b.stop().await;
    });
}

#[test]
fn the_screens_fit_a_phone() {
    let (_dir, d) = Daemon::start();
    d.webhook("A webhook with a long name for a narrow screen");
    run(async {
        let b = Browser::start(&d.base, true).await;
        b.sign_in(ADMIN).await;
        b.client.set_window_size(390, 844).await.expect("resize");
        for page in [
            "/ui/",
            "/ui/webhooks",
            "/ui/webhooks/new",
            "/ui/schemas/new?start=slack",
        ] {
            b.goto(page).await;
            let overflow = b
                .client
                .execute(
                    "return document.documentElement.scrollWidth > window.innerWidth + 1;",
                    vec![],
                )
                .await
                .expect("script");
            let wide = b
                .client
                .execute("return Array.from(document.querySelectorAll('body *')).filter(e => !(e.parentElement && e.parentElement.closest('.table-wrap')) && e.getBoundingClientRect().right > window.innerWidth + 1).slice(0, 5).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right)).join(' | ') + ' sw=' + document.documentElement.scrollWidth + ' iw=' + window.innerWidth + ' cw=' + document.documentElement.clientWidth;", vec![])
                .await
                .expect("script");
            assert_eq!(
                overflow,
                json!(false),
                "{page} scrolls sideways at 390 px: {wide}"
            );
        }
        b.goto("/ui/webhooks").await;
        b.screenshot("11-phone-webhooks").await;
        b.stop().await;
    });
}
