//! `ordering: "per_ticket"` over HTTP: one ticket's deliveries arrive one at
//! a time in creation order through random delays, failed attempts and a
//! `kill -9`, while other tickets' deliveries are not held up behind them.

use std::time::Duration;

use serde_json::json;

use crate::common::receiver::{Behaviour, Receiver, Recorded, Reply};
use crate::common::{eventually, Daemon, ADMIN};

fn config(retry: &str) -> String {
    format!(
        "admin_token = {ADMIN:?}\n[delivery]\ndedup_window = \"0s\"\nretry_jitter = 0.0\nmax_in_flight_per_webhook = 8\nretry_schedule = [{retry}]\n"
    )
}

/// `n` replies from a fixed seed: about a third fail with `500`, each after
/// 0–9 ms; after them every request succeeds at once.
fn unsteady_replies(n: usize) -> Vec<Reply> {
    let mut state: u64 = 0x5eed;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        state >> 33
    };
    let mut replies: Vec<Reply> = (0..n)
        .map(|_| {
            let status = if next() % 3 == 0 { 500 } else { 200 };
            Reply::status(status).delay(Duration::from_millis(next() % 10))
        })
        .collect();
    replies.push(Reply::status(200));
    replies
}

/// Posts the event `n` of `ticket`; the schema sends the event back whole.
fn post(d: &Daemon, ticket: u64, n: u64) {
    let body = json!({"id": format!("t{ticket}-{n}"), "type": "ticket_updated",
        "ticket": {"id": ticket, "ref": format!("T-{ticket}"), "n": n}});
    let r = d.post_event(&body);
    assert_eq!(r.status, 202, "{}", r.text);
}

/// (ticket, n) of a recorded request.
fn sent(req: &Recorded) -> (u64, u64) {
    let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap_or_default();
    (
        body["ticket"]["id"].as_u64().unwrap_or(u64::MAX),
        body["ticket"]["n"].as_u64().unwrap_or(u64::MAX),
    )
}

fn route_ordered(d: &Daemon, rx: &Receiver) -> String {
    d.route(
        "Ordered",
        &rx.url(),
        json!({"ordering": "per_ticket"}),
        "{{ event | json }}",
    )
    .0
}

fn pending(d: &Daemon) -> Vec<serde_json::Value> {
    d.get("/api/v1/deliveries?status=pending").json["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn one_tickets_deliveries_arrive_in_creation_order_through_failures_and_kill_9() {
    const N: u64 = 50;
    let replies = unsteady_replies(300);
    let failing: Vec<bool> = replies.iter().map(|r| r.status != 200).collect();
    let rx = Receiver::start(Behaviour::Replies(replies));
    let dir = tempfile::tempdir().expect("dir");
    let retry = ["\"50ms\""; 8].join(", ");
    let cfg = config(&retry);
    let d = Daemon::start_in(dir.path(), &cfg);
    let webhook = route_ordered(&d, &rx);
    let view = d.get(&format!("/api/v1/webhooks/{webhook}"));
    assert_eq!(view.json["ordering"], "per_ticket", "{}", view.text);
    for n in 0..N {
        post(&d, 7, n);
        post(&d, 1000 + n, 0); // other tickets, interleaved
    }
    // Part-way through, the daemon is killed and started again.
    assert!(eventually(Duration::from_secs(20), || rx
        .requests()
        .iter()
        .filter(|r| sent(r).0 == 7)
        .count()
        >= 15));
    drop(d); // kill -9
    let d = Daemon::start_in(dir.path(), &cfg);
    assert!(
        eventually(Duration::from_secs(60), || pending(&d).is_empty()),
        "every delivery ended"
    );
    let all = rx.requests();
    let ticket7: Vec<(u64, bool)> = all
        .iter()
        .enumerate()
        .filter(|(_, r)| sent(r).0 == 7)
        .map(|(i, r)| (sent(r).1, failing.get(i).copied().unwrap_or(false)))
        .collect();
    // Arrivals never go back: n+1 is only sent once n has ended.
    let ns: Vec<u64> = ticket7.iter().map(|(n, _)| *n).collect();
    assert!(ns.windows(2).all(|w| w[0] <= w[1]), "out of order: {ns:?}");
    // Every one of them was answered 200, in creation order.
    let mut succeeded: Vec<u64> = ticket7
        .iter()
        .filter(|(_, failed)| !failed)
        .map(|(n, _)| *n)
        .collect();
    succeeded.dedup(); // a request answered just before the kill is sent again
    assert_eq!(succeeded, (0..N).collect::<Vec<_>>());
    assert!(
        ticket7.iter().any(|(_, failed)| *failed),
        "some attempts failed on the way"
    );
    let others = all.iter().filter(|r| sent(r).0 >= 1000).count();
    assert!(others >= N as usize, "other tickets delivered: {others}");
}

#[test]
fn a_ticket_waiting_for_a_retry_holds_up_no_other_ticket() {
    // The first request fails and is retried after 3 s; meanwhile ticket 7's
    // next delivery waits, and every other ticket's goes through.
    let rx = Receiver::start(Behaviour::Sequence(vec![500, 200]));
    let dir = tempfile::tempdir().expect("dir");
    let d = Daemon::start_in(dir.path(), &config("\"3s\""));
    route_ordered(&d, &rx);
    post(&d, 7, 0);
    assert!(rx.wait_for(1, Duration::from_secs(10)));
    post(&d, 7, 1);
    for t in 0..20 {
        post(&d, 100 + t, 0);
    }
    assert!(
        rx.wait_for(21, Duration::from_secs(10)),
        "the others are not held up"
    );
    let first21: Vec<(u64, u64)> = rx.requests().iter().take(21).map(sent).collect();
    assert!(
        first21[1..].iter().all(|(t, _)| *t >= 100),
        "ticket 7's second delivery waited for its first: {first21:?}"
    );
    let waiting = pending(&d);
    assert!(
        waiting.iter().any(|p| p["waiting_for_turn"] == true),
        "{waiting:?}"
    );
    assert!(rx.wait_for(23, Duration::from_secs(15)));
    let tail: Vec<(u64, u64)> = rx.requests().iter().skip(21).map(sent).collect();
    assert_eq!(tail, vec![(7, 0), (7, 1)]);
}

#[test]
fn cancelling_the_delivery_whose_turn_it_is_releases_the_next() {
    let rx = Receiver::start(Behaviour::Fixed(500));
    let dir = tempfile::tempdir().expect("dir");
    let d = Daemon::start_in(dir.path(), &config("\"1h\""));
    route_ordered(&d, &rx);
    post(&d, 7, 0);
    post(&d, 7, 1);
    assert!(rx.wait_for(1, Duration::from_secs(10)));
    let items = pending(&d);
    assert_eq!(items.len(), 2, "{items:?}");
    let waiting: Vec<bool> = items
        .iter()
        .map(|i| i["waiting_for_turn"] == true)
        .collect();
    assert_eq!(waiting.iter().filter(|w| **w).count(), 1, "{items:?}");
    assert!(
        !rx.wait_for(2, Duration::from_millis(300)),
        "the second waits"
    );
    let head = items
        .iter()
        .find(|i| i["waiting_for_turn"].is_null())
        .and_then(|i| i["id"].as_str())
        .expect("the head")
        .to_string();
    let r = d.post(&format!("/api/v1/deliveries/{head}/cancel"), json!({}));
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        rx.wait_for(2, Duration::from_secs(10)),
        "the next one is sent"
    );
    assert_eq!(sent(&rx.requests()[1]), (7, 1));
    // Deleting the webhook cancels the waiting ones too, not only the due.
    post(&d, 7, 2);
    post(&d, 7, 3);
    assert_eq!(pending(&d).len(), 3, "one due, two waiting");
    let groups = d.get("/api/v1/rule-groups").json;
    for g in groups["items"].as_array().cloned().unwrap_or_default() {
        let id = g["id"].as_str().unwrap_or_default();
        assert_eq!(d.delete(&format!("/api/v1/rule-groups/{id}")).status, 204);
    }
    let webhook = items[0]["webhook_id"]
        .as_str()
        .expect("webhook")
        .to_string();
    assert_eq!(d.delete(&format!("/api/v1/webhooks/{webhook}")).status, 204);
    assert!(pending(&d).is_empty(), "{:?}", pending(&d));
    let cancelled = d.get("/api/v1/deliveries?status=cancelled").json;
    assert_eq!(
        cancelled["items"].as_array().map(Vec::len),
        Some(4),
        "{cancelled}"
    );
}
