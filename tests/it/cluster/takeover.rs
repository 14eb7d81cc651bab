//! Losing an instance: `kill -9` of one of three under load. Its partitions
//! are owned again within `lease` + 5 s, and no event answered `202` is lost:
//! each is delivered, or its delivery is in the killed instance's file and
//! is sent when that instance comes back.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::json;

use super::{instance, instances, nats_here, settled, spread, view, Scratch};
use crate::common::receiver::{Behaviour, Receiver};
use crate::common::{eventually, metric, Daemon};

const LEASE: &str = "2s";

/// Posts events (a ticket each) to `targets` in turn until `stop`, at most
/// `max`; returns the ids answered `202`.
fn post_until(targets: &[&Daemon], stop: &AtomicBool, max: usize, acked: &Mutex<Vec<String>>) {
    for i in 0..max {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let id = format!("ev-{i}");
        let body = json!({"id": id, "type": "ticket_updated", "ticket": {"id": 5000 + i}});
        if targets[i % targets.len()].post_event(&body).status == 202 {
            acked.lock().expect("lock").push(id);
        }
    }
}

#[test]
fn kill_9_of_one_instance_loses_no_acknowledged_event() {
    if !nats_here() {
        return;
    }
    let _exclusive = crate::common::exclusive(); // three daemons under load
    let scratch = Scratch::new();
    let (dirs, [a, b, c]) = instances(&scratch, ["a", "b", "c"], LEASE);
    assert!(
        settled(&[&a, &b, &c], &[3, 3, 2], Duration::from_secs(30)),
        "{}",
        view(&a)
    );
    let rx = Receiver::start(Behaviour::Fixed(200));
    a.route("crm", &rx.url(), json!({}), r#"{"e": "{{event:id}}"}"#);
    assert!(super::groups_everywhere(&[&a, &b, &c], 1));
    let c_partitions = view(&c)["owned"].as_array().map_or(0, Vec::len);

    let acked = Mutex::new(Vec::new());
    let stop = AtomicBool::new(false);
    let (taken_over_in, c) = std::thread::scope(|s| {
        let poster = s.spawn(|| post_until(&[&a, &b], &stop, 2000, &acked));
        // Under load: kill c once a third of the events are in.
        assert!(eventually(Duration::from_secs(60), || acked
            .lock()
            .expect("lock")
            .len()
            >= 150));
        drop(c); // SIGKILL
        let killed = Instant::now();
        let owned_again = settled(&[&a, &b], &[4, 4], Duration::from_secs(30));
        let taken_over_in = killed.elapsed();
        assert!(eventually(Duration::from_secs(60), || acked
            .lock()
            .expect("lock")
            .len()
            >= 450));
        stop.store(true, Ordering::Relaxed);
        poster.join().expect("poster");
        assert!(owned_again, "not owned again: {}", view(&a));
        // c comes back on its data file, with its name.
        let c = instance(dirs[2].path(), &scratch, "c", LEASE);
        (taken_over_in, c)
    });
    eprintln!("c's {c_partitions} partitions owned again {taken_over_in:?} after the kill (lease {LEASE})");
    assert!(
        taken_over_in < Duration::from_secs(2 + 5),
        "{taken_over_in:?}"
    );

    let acked = acked.into_inner().expect("lock");
    let all_arrived = || {
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for r in rx.requests() {
            let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
            *seen
                .entry(body["e"].as_str().unwrap_or("?").to_string())
                .or_default() += 1;
        }
        seen
    };
    let delivered = eventually(Duration::from_secs(60), || {
        let seen = all_arrived();
        acked.iter().all(|id| seen.contains_key(id))
    });
    let seen = all_arrived();
    let missing: Vec<&String> = acked.iter().filter(|id| !seen.contains_key(*id)).collect();
    assert!(
        delivered,
        "{} of {} acknowledged events never arrived: {missing:?}",
        missing.len(),
        acked.len()
    );
    let duplicates: usize = seen.values().map(|n| n - 1).sum();
    let takeovers: f64 = [&a, &b, &c]
        .iter()
        .filter_map(|d| metric(&d.get("/metrics").text, "hookline_cluster_takeovers_total"))
        .sum();
    eprintln!(
        "{} events acknowledged, all delivered; {duplicates} takeover duplicates; {takeovers} takeovers counted",
        acked.len()
    );
    assert!(
        takeovers >= c_partitions as f64,
        "{takeovers} takeovers for {c_partitions} partitions"
    );
    // c is back in the spread.
    assert!(
        settled(&[&a, &b, &c], &[3, 3, 2], Duration::from_secs(30)),
        "{:?}",
        spread(&a)
    );
}
