//! The screens' figures and lists: the Overview from tallies written with
//! the outcomes (deliveries that ended succeeded or failed, per webhook its
//! last success and its failed attempts since), and paged lists.

use std::time::Duration;

use serde_json::json;

use crate::common::receiver::{Behaviour, Receiver};
use crate::common::{eventually, fast_retries, Daemon};
use crate::ui_safety::UiClient;

/// The number in the count box labelled `label`.
fn count(page: &str, label: &str) -> Option<u64> {
    let end = page.find(&format!("<span class=\"label\">{label}</span>"))?;
    let start = page[..end].rfind("<span class=\"n\">")? + "<span class=\"n\">".len();
    page[start..end].split('<').next()?.parse().ok()
}

/// The cells of the row whose first cell links to `name`.
fn row<'a>(page: &'a str, name: &str) -> &'a str {
    let at = page.find(&format!(">{name}</a>")).unwrap_or(0);
    let end = page[at..].find("</tr>").map_or(page.len(), |e| at + e);
    &page[at..end]
}

#[test]
fn the_overview_counts_outcomes_and_each_webhooks_failures_in_a_row() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = Daemon::start_in(dir.path(), &fast_retries(1, "50ms", ""));
    let good = Receiver::start(Behaviour::Fixed(200));
    let bad = Receiver::start(Behaviour::Fixed(500));
    d.route("Good", &good.url(), json!({}), "{\"n\": {{ticket:id}}}");
    let (bad_id, _) = d.route("Bad", &bad.url(), json!({}), "{\"n\": {{ticket:id}}}");
    for n in 0..3 {
        d.send_event(&format!("e{n}"), n);
    }
    assert!(good.wait_for(3, Duration::from_secs(20)));
    // One try and one retry each for the bad webhook: 6 failed attempts.
    assert!(bad.wait_for(6, Duration::from_secs(20)));
    let (mut c, _) = UiClient::signed_in(&d);
    let mut page = String::new();
    let settled = eventually(Duration::from_secs(20), || {
        page = c.get("/ui/").text;
        count(&page, "Failed (24 h)") == Some(3) && count(&page, "Succeeded (24 h)") == Some(3)
    });
    assert!(settled, "{page}");
    assert_eq!(count(&page, "Pending"), Some(0));
    let good_row = row(&page, "Good");
    assert!(!good_row.contains("never"), "{good_row}");
    assert!(good_row.ends_with("<td>0</td>"), "{good_row}");
    let bad_row = row(&page, "Bad");
    assert!(bad_row.contains("never"), "{bad_row}");
    assert!(
        bad_row.contains("<span class=\"pill bad\">6</span>"),
        "{bad_row}"
    );
    // A success resets the run of failures.
    bad.set_behaviour(Behaviour::Fixed(200));
    d.send_event("e-ok", 99);
    assert!(eventually(Duration::from_secs(20), || {
        let page = c.get("/ui/").text;
        let r = row(&page, "Bad");
        r.ends_with("<td>0</td>") && !r.contains("never")
    }));
    // A deleted webhook's line is gone, its counts stay.
    let groups = d.get("/api/v1/rule-groups").json["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for g in groups.iter().filter(|g| g["name"] == "Bad-group") {
        d.delete(&format!(
            "/api/v1/rule-groups/{}",
            g["id"].as_str().unwrap_or("")
        ));
    }
    assert_eq!(d.delete(&format!("/api/v1/webhooks/{bad_id}")).status, 204);
    let page = c.get("/ui/").text;
    assert!(!page.contains(">Bad</a>"));
    assert_eq!(
        count(&page, "Succeeded (24 h)"),
        Some(5),
        "3 + e-ok to both"
    );
}

#[test]
fn the_webhook_list_is_paged_by_a_hundred() {
    let (_dir, d) = Daemon::start();
    for i in 0..101 {
        d.webhook(&format!("Hook {i:03}"));
    }
    let (mut c, _) = UiClient::signed_in(&d);
    let first = c.get("/ui/webhooks").text;
    assert!(first.contains(">Hook 099</a>") && !first.contains(">Hook 100</a>"));
    assert!(first.contains("1–100 / 101") && first.contains("href=\"/ui/webhooks?page=2\""));
    let second = c.get("/ui/webhooks?page=2").text;
    assert!(second.contains(">Hook 100</a>") && !second.contains(">Hook 000</a>"));
    assert!(second.contains("href=\"/ui/webhooks?page=1\""));
    let beyond = c.get("/ui/webhooks?page=999");
    assert!(
        beyond.text.contains(">Hook 100</a>"),
        "clamped to the last page"
    );
    assert_eq!(c.get("/ui/webhooks?page=x").status, 400, "not a number");
}
