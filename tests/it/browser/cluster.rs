//! The overview of an instance in cluster mode, in the browser: NATS's
//! state, the instances with their partitions, this instance marked.

use std::time::Duration;

use serde_json::json;

use super::harness::{run, Browser};
use crate::cluster::{instances, nats_here, settled, Scratch};
use crate::common::receiver::{Behaviour, Receiver};
use crate::common::ADMIN;

#[test]
fn the_overview_shows_the_cluster() {
    if !nats_here() {
        return;
    }
    let scratch = Scratch::new();
    let (_dirs, all) = instances(&scratch, ["hookline-a", "hookline-b", "hookline-c"], "3s");
    let refs: Vec<_> = all.iter().collect();
    assert!(settled(&refs, &[3, 3, 2], Duration::from_secs(30)));
    let rx = Receiver::start(Behaviour::Fixed(200));
    all[0].route(
        "Helpdesk receiver",
        &rx.url(),
        json!({}),
        r#"{"t": "{{ticket:id}}"}"#,
    );
    assert!(crate::cluster::groups_everywhere(&refs, 1));
    for i in 0..30 {
        let body = json!({"type": "ticket_updated", "ticket": {"id": 100 + i}});
        assert_eq!(all[i % 3].post_event(&body).status, 202);
    }
    assert!(rx.wait_for(30, Duration::from_secs(20)));
    let base = all[1].base.clone();
    run(async {
        let b = Browser::start(&base, true).await;
        b.sign_in(ADMIN).await;
        let text = b.wait_text("main", "Cluster").await;
        for wanted in [
            "NATS connected",
            "hookline-a",
            "hookline-b",
            "hookline-c",
            "this instance",
        ] {
            assert!(text.contains(wanted), "{wanted:?} missing: {text}");
        }
        b.screenshot_at("30-overview-cluster", "h2").await;
        b.stop().await;
    });
    drop(all);
}
