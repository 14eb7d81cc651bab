//! The event-rule screens, the delivery log and the event page over HTTP:
//! saving a rule from the editor's form, the error at the row at fault, two
//! administrators editing one group at once, the labels of every input, and
//! Norwegian.

use std::time::Duration;

use serde_json::json;

use crate::common::receiver::{Behaviour, Receiver};
use crate::common::{Daemon, ADMIN};
use crate::ui_safety::UiClient;

fn group_with_two_rules(d: &Daemon) -> (String, String, String) {
    let g = d.post(
        "/api/v1/rule-groups",
        json!({"name": "G", "rules": [{"name": "one"}, {"name": "two"}]}),
    );
    assert_eq!(g.status, 201, "{}", g.text);
    let id = |p: &str| {
        g.json
            .pointer(p)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string()
    };
    (id("/id"), id("/rules/0/id"), id("/rules/1/id"))
}

fn rule_form<'a>(
    csrf: &'a str,
    name: &'a str,
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut f = vec![
        ("csrf", csrf),
        ("name", name),
        ("enabled", "on"),
        ("match", "all"),
        ("action", "save"),
    ];
    f.extend_from_slice(extra);
    f
}

#[test]
fn a_rule_saved_from_the_editor_is_the_rule_the_api_sees() {
    let (_dir, d) = Daemon::start();
    let webhook = d.webhook("Test Webhook");
    let schema = d.schema("Message 1");
    let (gid, _, _) = group_with_two_rules(&d);
    let (mut c, csrf) = UiClient::signed_in(&d);
    let form = rule_form(
        &csrf,
        "Priority changed → Test Webhook",
        &[
            ("cond_field", "event.type"),
            ("cond_op", "eq"),
            ("cond_value", "priority_changed"),
            ("cond_field", "ticket.queue"),
            ("cond_op", "in"),
            ("cond_value", "Support, Sales"),
            ("stop_rules", "on"),
            ("set_response_target", "2h"),
            ("act_webhook", &webhook),
            ("act_schema", &schema),
        ],
    );
    let page = c.post(&format!("/ui/rules/{gid}/new"), &form);
    assert_eq!(page.status, 303, "{}", page.text);
    let group = d.get(&format!("/api/v1/rule-groups/{gid}")).json;
    let rule = &group["rules"][2];
    assert_eq!(rule["name"], "Priority changed → Test Webhook");
    assert_eq!(
        rule["conditions"][0],
        json!({"field": "event.type", "op": "eq", "value": "priority_changed"})
    );
    assert_eq!(rule["conditions"][1]["value"], json!(["Support", "Sales"]));
    assert_eq!(rule["stop_rules"], true);
    assert_eq!(rule["actions"]["set_response_target"], "2h");
    assert_eq!(
        rule["actions"]["webhooks"],
        json!([{"webhook_id": webhook, "schema_id": schema}])
    );
    // The editor shows it back, operators in words.
    let rid = rule["id"].as_str().unwrap_or("");
    let editor = c.get(&format!("/ui/rules/{gid}/{rid}")).text;
    assert!(
        editor.contains("<option value=\"in\" selected>is one of</option>"),
        "{editor}"
    );
    assert!(editor.contains("value=\"Support, Sales\""));
}

#[test]
fn a_rejected_save_marks_the_row_at_fault_and_keeps_what_was_typed() {
    let (_dir, d) = Daemon::start();
    let (gid, r1, _) = group_with_two_rules(&d);
    let (mut c, csrf) = UiClient::signed_in(&d);
    let form = rule_form(
        &csrf,
        "Typed name",
        &[
            ("cond_field", "ticket.priority"),
            ("cond_op", "eq"),
            ("cond_value", "high"),
            ("cond_field", ""),
            ("cond_op", "eq"),
            ("cond_value", ""),
            ("cond_field", "ticket.subject"),
            ("cond_op", "matches"),
            ("cond_value", "(unclosed"),
        ],
    );
    let page = c.post(&format!("/ui/rules/{gid}/{r1}"), &form);
    assert_eq!(page.status, 400, "{}", page.text);
    // The API names conditions[1] (empty rows are not sent): the third row here.
    assert!(page.text.contains("id=\"cond-error-2\""), "{}", page.text);
    assert!(page.text.contains("aria-describedby=\"cond-error-2\""));
    assert!(
        page.text.contains("value=\"(unclosed\"") && page.text.contains("value=\"Typed name\"")
    );
    assert_eq!(
        d.get(&format!("/api/v1/rule-groups/{gid}")).json["rules"][0]["name"],
        "one",
        "nothing saved"
    );
    // Without script, "+ Add condition" is a round trip that adds a row and saves nothing.
    let mut add = rule_form(
        &csrf,
        "Typed name",
        &[("cond_field", "a"), ("cond_op", "eq"), ("cond_value", "1")],
    );
    add.retain(|(k, _)| *k != "action");
    add.push(("action", "add-condition"));
    let page = c.post(&format!("/ui/rules/{gid}/{r1}"), &add);
    assert_eq!(page.status, 200);
    assert!(page.text.contains("id=\"cond-field-1\""), "a second row");
    assert_eq!(
        d.get(&format!("/api/v1/rule-groups/{gid}")).json["rules"][0]["name"],
        "one"
    );
}

#[test]
fn two_administrators_editing_two_rules_of_one_group_both_keep_their_change() {
    let (_dir, d) = Daemon::start();
    let (gid, r1, r2) = group_with_two_rules(&d);
    let (c1, csrf1) = UiClient::signed_in(&d);
    let (c2, csrf2) = UiClient::signed_in(&d);
    let mut clients = [(c1, csrf1, r1), (c2, csrf2, r2)];
    for round in 0..10 {
        std::thread::scope(|s| {
            for (c, csrf, rid) in clients.iter_mut() {
                let (gid, rid, csrf) = (gid.clone(), rid.clone(), csrf.clone());
                s.spawn(move || {
                    let name = format!("{rid} round {round}");
                    let page = c.post(
                        &format!("/ui/rules/{gid}/{rid}"),
                        &rule_form(&csrf, &name, &[]),
                    );
                    assert_eq!(page.status, 303, "{}", page.text);
                });
            }
        });
        let group = d.get(&format!("/api/v1/rule-groups/{gid}")).json;
        for (i, (_, _, rid)) in clients.iter().enumerate() {
            assert_eq!(
                group["rules"][i]["name"],
                format!("{rid} round {round}"),
                "round {round}"
            );
        }
    }
}

#[test]
fn groups_move_toggle_and_delete_from_the_list() {
    let (_dir, d) = Daemon::start();
    let a = d
        .post("/api/v1/rule-groups", json!({"name": "A", "position": 0}))
        .json["id"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let b = d
        .post("/api/v1/rule-groups", json!({"name": "B", "position": 1}))
        .json["id"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let (mut c, csrf) = UiClient::signed_in(&d);
    assert_eq!(
        c.post(&format!("/ui/rules/{b}/move-up"), &[("csrf", &csrf)])
            .status,
        303
    );
    let names: Vec<String> = d.get("/api/v1/rule-groups").json["items"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|g| g["name"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(names, ["B", "A"]);
    assert_eq!(
        c.post(&format!("/ui/rules/{a}/toggle"), &[("csrf", &csrf)])
            .status,
        303
    );
    assert_eq!(
        d.get(&format!("/api/v1/rule-groups/{a}")).json["enabled"],
        false
    );
    assert_eq!(
        c.get(&format!("/ui/rules/{a}/delete")).status,
        200,
        "a confirmation first"
    );
    assert_eq!(d.get(&format!("/api/v1/rule-groups/{a}")).status, 200);
    assert_eq!(
        c.post(&format!("/ui/rules/{a}/delete"), &[("csrf", &csrf)])
            .status,
        303
    );
    assert_eq!(d.get(&format!("/api/v1/rule-groups/{a}")).status, 404);
    let page = c.post("/ui/rules/new-group", &[("csrf", &csrf), ("name", "C")]);
    assert_eq!(page.status, 303);
    assert!(c.get("/ui/rules").text.contains("C"));
}

#[test]
fn the_log_the_delivery_and_the_event_show_what_happened() {
    let (_dir, d) = Daemon::start();
    let rx = Receiver::start(Behaviour::Fixed(200));
    d.route(
        "Desk",
        &rx.url(),
        json!({"auth": {"type": "bearer", "token": "tok-log-1"}}),
        "{\"ref\": \"{{ticket:ref}}\"}",
    );
    let ids = d.send_event("ev-1", 7);
    assert!(rx.wait_for(1, Duration::from_secs(10)));
    assert!(d.wait_status(&ids[0], "succeeded", Duration::from_secs(10)));
    let (mut c, csrf) = UiClient::signed_in(&d);
    let log = c.get("/ui/deliveries?status=succeeded").text;
    assert!(
        log.contains(&format!("href=\"/ui/deliveries/{}\"", ids[0])),
        "{log}"
    );
    assert!(!c.get("/ui/deliveries?status=failed").text.contains(&ids[0]));
    let one = c.get(&format!("/ui/deliveries/{}", ids[0])).text;
    assert!(one.contains("Bearer ***") && !one.contains("tok-log-1"));
    assert!(
        one.contains("&quot;ref&quot;: &quot;T-7&quot;") || one.contains("\"ref\": \"T-7\""),
        "{one}"
    );
    assert!(one.contains("href=\"/ui/events/ev-1\""));
    let retried = c.post(
        &format!("/ui/deliveries/{}/retry", ids[0]),
        &[("csrf", &csrf)],
    );
    assert_eq!(retried.status, 303);
    assert!(rx.wait_for(2, Duration::from_secs(10)), "sent again");
    let event = c.get("/ui/events/ev-1").text;
    assert!(event.contains("all") && event.contains(&ids[0]), "{event}");
    let _ = ADMIN;
}

/// Every visible input, select and textarea of `html` has a `<label for>`
/// naming its id, and the page has exactly one `h1`.
fn check_labels(path: &str, html: &str) {
    assert_eq!(html.matches("<h1").count(), 1, "{path}: one h1");
    for tag in ["<input", "<select", "<textarea"] {
        for (at, _) in html.match_indices(tag) {
            let element = &html[at..html[at..].find('>').map_or(html.len(), |e| at + e)];
            if element.contains("type=\"hidden\"") {
                continue;
            }
            let id = element
                .split_once(" id=\"")
                .and_then(|(_, rest)| rest.split('"').next())
                .unwrap_or_else(|| panic!("{path}: no id on {element}"));
            assert!(
                html.contains(&format!("for=\"{id}\"")),
                "{path}: no label for {id}"
            );
        }
    }
}

#[test]
fn every_input_of_every_screen_has_a_label_and_every_page_one_h1_in_both_languages() {
    let (_dir, d) = Daemon::start();
    let rx = Receiver::start(Behaviour::Fixed(200));
    let (webhook, schema) = d.route("Desk", &rx.url(), json!({}), "{\"a\": 1}");
    let ids = d.send_event("ev-l", 1);
    assert!(rx.wait_for(1, Duration::from_secs(10)));
    let groups = d.get("/api/v1/rule-groups").json;
    let gid = groups["items"][0]["id"].as_str().unwrap_or("").to_string();
    let rid = groups["items"][0]["rules"][0]["id"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let pages = [
        "/ui/".to_string(),
        "/ui/webhooks".into(),
        "/ui/webhooks/new".into(),
        format!("/ui/webhooks/{webhook}"),
        format!("/ui/webhooks/{webhook}/test"),
        format!("/ui/webhooks/{webhook}/delete"),
        "/ui/schemas".into(),
        "/ui/schemas/new".into(),
        format!("/ui/schemas/{schema}"),
        "/ui/rules".into(),
        format!("/ui/rules/{gid}"),
        format!("/ui/rules/{gid}/new"),
        format!("/ui/rules/{gid}/{rid}"),
        "/ui/rules/try".into(),
        "/ui/deliveries".into(),
        format!("/ui/deliveries/{}", ids[0]),
        "/ui/events/ev-l".into(),
    ];
    let (mut c, _) = UiClient::signed_in(&d);
    for path in &pages {
        let page = c.get(path);
        assert_eq!(page.status, 200, "{path}");
        assert!(page.text.contains("<html lang=\"en\">"), "{path}");
        check_labels(path, &page.text);
    }
    check_labels("/ui/login", &UiClient::new(&d).get("/ui/login").text);
    // Norwegian by Accept-Language, and by the switch (a cookie that wins).
    let nb = reqwest::blocking::Client::new()
        .get(format!("{}/ui/rules", d.base))
        .bearer_auth(ADMIN)
        .header("accept-language", "nn;q=0.9, en;q=0.5")
        .send()
        .and_then(|r| r.text())
        .unwrap_or_default();
    assert!(
        nb.contains("<html lang=\"nb\">") && nb.contains("Hendelsesregler"),
        "{nb}"
    );
    let csrf = c.get("/ui/").csrf();
    assert_eq!(
        c.post("/ui/language", &[("csrf", &csrf), ("lang", "nb")])
            .status,
        303
    );
    for path in &pages {
        let page = c.get(path);
        assert!(page.text.contains("<html lang=\"nb\">"), "{path}");
        check_labels(path, &page.text);
    }
}
