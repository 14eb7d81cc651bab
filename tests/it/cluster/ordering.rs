//! Per-ticket order across instances: a ticket's events posted to different
//! instances all land on its partition's one owner, so an ordered webhook
//! gets them in the order the stream holds them.

use std::time::Duration;

use serde_json::json;

use super::{groups_everywhere, nats_here, settled, view, Scratch};
use crate::common::receiver::{Behaviour, Receiver};
use crate::common::Daemon;

#[test]
fn one_tickets_events_posted_to_two_instances_arrive_in_order() {
    if !nats_here() {
        return;
    }
    let scratch = Scratch::new();
    let dirs: [tempfile::TempDir; 2] = std::array::from_fn(|_| tempfile::tempdir().expect("dir"));
    // Every event of a ticket is delivered: no dedup window.
    let config = |name: &str| {
        format!(
            "{}[delivery]\ndedup_window = \"0s\"\n",
            scratch.config(name, "10s")
        )
    };
    let a = Daemon::start_in(dirs[0].path(), &config("a"));
    let b = Daemon::start_in(dirs[1].path(), &config("b"));
    assert!(
        settled(&[&a, &b], &[4, 4], Duration::from_secs(30)),
        "{}",
        view(&a)
    );
    let rx = Receiver::start(Behaviour::Fixed(200));
    a.route(
        "Ordered",
        &rx.url(),
        json!({"ordering": "per_ticket"}),
        "{{ event | json }}",
    );
    assert!(groups_everywhere(&[&a, &b], 1));
    const N: u64 = 30;
    for n in 0..N {
        for ticket in [7u64, 8] {
            let body = json!({"id": format!("t{ticket}-{n}"), "type": "ticket_updated",
                "ticket": {"id": ticket, "n": n}});
            // Alternate instances, so each ticket's events enter through both.
            let d = if (n + ticket) % 2 == 0 { &a } else { &b };
            assert_eq!(d.post_event(&body).status, 202);
        }
    }
    assert!(
        rx.wait_for(2 * N as usize, Duration::from_secs(30)),
        "{} arrived",
        rx.count()
    );
    for ticket in [7u64, 8] {
        let order: Vec<u64> = rx
            .requests()
            .iter()
            .filter_map(|r| serde_json::from_slice::<serde_json::Value>(&r.body).ok())
            .filter(|v| v["ticket"]["id"] == ticket)
            .filter_map(|v| v["ticket"]["n"].as_u64())
            .collect();
        assert_eq!(order, (0..N).collect::<Vec<_>>(), "ticket {ticket}");
    }
}
