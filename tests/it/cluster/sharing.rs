//! Three instances sharing one stream: the spread of partitions, ingress on
//! every instance, exactly-once delivery without crashes, configuration
//! shared within a second, and compare-and-set between two instances.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::json;

use super::{fnv1a, instances, nats_here, settled, view, Scratch};
use crate::common::receiver::{Behaviour, Receiver};
use crate::common::{eventually, Daemon};

#[test]
fn three_instances_share_the_work_and_the_configuration() {
    if !nats_here() {
        return;
    }
    let scratch = Scratch::new();
    let (_dirs, [a, b, c]) = instances(&scratch, ["a", "b", "c"], "3s");
    let all = [&a, &b, &c];

    // Partitions spread 3/3/2, and every instance sees the same owners.
    assert!(
        settled(&all, &[3, 3, 2], Duration::from_secs(30)),
        "not spread 3/3/2: {}",
        view(&a)
    );
    let owners = |d: &Daemon| view(d)["partitions"].clone();
    assert_eq!(owners(&a), owners(&b));
    assert_eq!(view(&a)["instances"], json!(["a", "b", "c"]));

    // The overview shows the instance, its partitions and the others.
    let (mut ui, _) = crate::ui_safety::UiClient::signed_in(&b);
    let page = ui.get("/ui/");
    assert_eq!(page.status, 200);
    for text in [
        "Cluster",
        "NATS connected",
        "this instance",
        ">a",
        ">b",
        ">c",
    ] {
        assert!(page.text.contains(text), "{text:?} missing: {}", page.text);
    }
    assert!(!page.text.contains("Waiting for an owner"), "{}", page.text);

    // A route made on a reaches b and c within a second.
    let rx = Receiver::start(Behaviour::Fixed(200));
    let started = Instant::now();
    let (webhook, _) = a.route(
        "crm",
        &rx.url(),
        json!({}),
        r#"{"e": "{{event:id}}", "t": "{{ticket:id}}"}"#,
    );
    let path = format!("/api/v1/webhooks/{webhook}");
    let everywhere = || all.iter().all(|d| d.get(&path).status == 200);
    assert!(eventually(Duration::from_secs(5), everywhere));
    let applied = started.elapsed();
    assert!(super::groups_everywhere(&all, 1));
    eprintln!("route applied on all three in {applied:?}");
    assert!(applied < Duration::from_secs(2), "took {applied:?}");

    // Events posted round-robin, one ticket each: 202 with the partition
    // CLUSTER.md computes, each delivered exactly once.
    let n = 90;
    for i in 0..n {
        let ticket = 1000 + i;
        let body =
            json!({"id": format!("ev-{i}"), "type": "ticket_updated", "ticket": {"id": ticket}});
        let r = all[i % 3].post_event(&body);
        assert_eq!(r.status, 202, "{}", r.text);
        assert_eq!(r.json["queued"], true);
        assert_eq!(r.json["event_id"], format!("ev-{i}"));
        assert_eq!(
            r.json["partition"],
            fnv1a(ticket.to_string().as_bytes()) % 8
        );
    }
    assert!(
        rx.wait_for(n, Duration::from_secs(30)),
        "{} of {n} arrived",
        rx.count()
    );
    // The same id again: JetStream's dedup answers 200, nothing new arrives.
    let again =
        b.post_event(&json!({"id": "ev-0", "type": "ticket_updated", "ticket": {"id": 1000}}));
    assert_eq!(again.status, 200, "{}", again.text);
    // Another event of ticket 1000, posted to another instance: the same
    // owner gets it, and its dedup window suppresses the delivery.
    let dup =
        c.post_event(&json!({"id": "ev-dup", "type": "ticket_updated", "ticket": {"id": "1000"}}));
    assert_eq!(dup.status, 202, "{}", dup.text);
    let pending =
        |d: &Daemon| crate::common::metric(&d.get("/metrics").text, "hookline_deliveries_pending");
    assert!(eventually(Duration::from_secs(10), || all
        .iter()
        .all(|d| pending(d) == Some(0.0))));
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for r in rx.requests() {
        let body: serde_json::Value = serde_json::from_slice(&r.body).expect("json body");
        *seen
            .entry(body["e"].as_str().unwrap_or("?").to_string())
            .or_default() += 1;
    }
    assert_eq!(seen.len(), n, "{seen:?}");
    assert!(seen.values().all(|c| *c == 1), "duplicates: {seen:?}");
    // Each instance stored the events of its own partitions only.
    let events = |d: &Daemon| {
        crate::common::metric(&d.get("/metrics").text, "hookline_events_total").unwrap_or(0.0)
    };
    let count = || all.iter().map(|d| events(d)).sum::<f64>() as usize;
    assert!(
        eventually(Duration::from_secs(10), || count() == n + 1),
        "{} events stored",
        count()
    );
    let suppressed = |d: &Daemon| {
        crate::common::metric(
            &d.get("/metrics").text,
            "hookline_deliveries_suppressed_total{reason=\"dedup_window\"}",
        )
        .unwrap_or(0.0)
    };
    assert_eq!(all.iter().map(|d| suppressed(d)).sum::<f64>(), 1.0);

    // Any instance answers for an event or a delivery in another's file.
    for i in 0..6 {
        let path = format!("/api/v1/events/ev-{i}");
        let answers: Vec<serde_json::Value> = all.iter().map(|d| d.get(&path).json).collect();
        for answer in &answers {
            assert_eq!(
                answer["evaluation"]["event_id"],
                format!("ev-{i}"),
                "{answer}"
            );
        }
        let delivery = answers[0]["evaluation"]["deliveries"][0]["id"]
            .as_str()
            .expect("a delivery")
            .to_string();
        for d in all {
            let r = d.get(&format!("/api/v1/deliveries/{delivery}"));
            assert_eq!(r.status, 200, "{}", r.text);
            assert_eq!(r.json["status"], "succeeded", "{}", r.text);
        }
    }
    assert_eq!(a.get("/api/v1/events/no-such-event").status, 404);
    // The delivery log on any instance is the whole cluster's, page by page.
    for d in all {
        let (mut ids, mut before) = (Vec::new(), String::new());
        for _ in 0..30 {
            let page = d.get(&format!("/api/v1/deliveries?limit=7{before}")).json;
            ids.extend(
                page["items"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|i| i["id"].as_str().map(str::to_string)),
            );
            match page["next"].as_str() {
                Some(next) => before = format!("&before={next}"),
                None => break,
            }
        }
        let unique: std::collections::BTreeSet<&String> = ids.iter().collect();
        assert_eq!((ids.len(), unique.len()), (n, n), "{ids:?}");
        let mut sorted = ids.clone();
        sorted.sort_unstable_by(|x, y| y.cmp(x));
        assert_eq!(ids, sorted, "newest first");
    }
    // Retry and cancel on an instance that does not hold the delivery: done
    // by the one that does, with its answer.
    let owners = view(&a)["partitions"].clone();
    let names = ["a", "b", "c"];
    let before = rx.count();
    let mut used = Vec::new();
    for (d, name) in all.iter().zip(names) {
        // An event of a ticket whose partition another instance owns (a
        // different one for each instance: a retried delivery is pending).
        let i = (0..n)
            .find(|i| {
                let p = fnv1a((1000 + i).to_string().as_bytes()) % 8;
                owners[p as usize]["owner"] != name && !used.contains(i)
            })
            .expect("an event held elsewhere");
        used.push(i);
        let event = a.get(&format!("/api/v1/events/ev-{i}")).json;
        let delivery = event["evaluation"]["deliveries"][0]["id"]
            .as_str()
            .expect("id")
            .to_string();
        let cancel = d.post(&format!("/api/v1/deliveries/{delivery}/cancel"), json!({}));
        assert_eq!(cancel.status, 409, "a succeeded delivery: {}", cancel.text);
        assert_eq!(cancel.json["error"]["code"], "conflict", "{}", cancel.text);
        let retry = d.post(&format!("/api/v1/deliveries/{delivery}/retry"), json!({}));
        assert_eq!(retry.status, 202, "{}", retry.text);
        assert_eq!(retry.json["id"], delivery.as_str(), "{}", retry.text);
    }
    assert!(
        rx.wait_for(before + 3, Duration::from_secs(10)),
        "the retries were sent"
    );
    assert_eq!(
        a.post("/api/v1/deliveries/dl_nope/retry", json!({})).status,
        404
    );

    // Two changes of one webhook on two instances at once: one wins.
    let put = |d: &Daemon, name: &str| d.put(&path, json!({"name": name, "url": rx.url()})).status;
    // Both must start from the same revision: a round where one change
    // reached the other instance first is not concurrent, and is retried.
    let mut rounds = Vec::new();
    let (sa, _) = loop {
        let barrier = std::sync::Barrier::new(2);
        let round = rounds.len();
        let (sa, sb) = std::thread::scope(|s| {
            let ta = s.spawn(|| {
                barrier.wait();
                put(&a, &format!("crm-from-a-{round}"))
            });
            let tb = s.spawn(|| {
                barrier.wait();
                put(&b, &format!("crm-from-b-{round}"))
            });
            (ta.join().expect("a"), tb.join().expect("b"))
        });
        rounds.push((sa, sb));
        let mut statuses = [sa, sb];
        statuses.sort_unstable();
        match statuses {
            [200, 409] => break (sa, sb),
            [200, 200] if rounds.len() < 10 => {
                // Wait until both see the last change before the next round.
                let name = d_name(&a, &path);
                assert!(eventually(Duration::from_secs(5), || d_name(&b, &path) == name));
            }
            _ => panic!("rounds (a, b): {rounds:?}"),
        }
    };
    eprintln!("concurrent changes (a, b) by round: {rounds:?}");
    let round = rounds.len() - 1;
    let winner = if sa == 200 {
        format!("crm-from-a-{round}")
    } else {
        format!("crm-from-b-{round}")
    };
    assert!(eventually(Duration::from_secs(5), || all
        .iter()
        .all(|d| d.get(&path).json["name"] == winner)));
}

fn d_name(d: &Daemon, path: &str) -> serde_json::Value {
    d.get(path).json["name"].clone()
}
