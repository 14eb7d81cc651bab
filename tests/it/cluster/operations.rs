//! Running a cluster: `hookline check` connects, a stopped instance hands its
//! partitions over at once, and a stream made for another partition count
//! is refused.

use std::process::Command;
use std::time::{Duration, Instant};

use super::{instance, instances, nats_here, settled, view, Scratch};
use crate::common::{binary, write_config, Daemon};

#[test]
fn check_connects_and_names_the_stream() {
    if !nats_here() {
        return;
    }
    let scratch = Scratch::new();
    let dir = tempfile::tempdir().expect("dir");
    let config = write_config(dir.path(), &scratch.config("a", "10s"));
    let out = Command::new(binary())
        .arg("check")
        .arg("--config")
        .arg(&config)
        .output()
        .expect("run check");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("cluster: connected to nats://127.0.0.1:4222 as a"),
        "{text}"
    );
    assert!(
        text.contains(&format!("stream {} does not exist yet", scratch.stream)),
        "{text}"
    );

    // Unreachable NATS: check fails and says where it looked.
    let elsewhere = write_config(
        dir.path(),
        &scratch
            .config("a", "10s")
            .replace("4222", &crate::common::free_port().to_string()),
    );
    let out = Command::new(binary())
        .arg("check")
        .arg("--config")
        .arg(&elsewhere)
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot connect to NATS"),
        "{out:?}"
    );
}

#[test]
fn a_stopped_instance_hands_its_partitions_over_before_the_lease() {
    if !nats_here() {
        return;
    }
    let scratch = Scratch::new();
    let (_dirs, [a, b]) = instances(&scratch, ["a", "b"], "10s");
    assert!(
        settled(&[&a, &b], &[4, 4], Duration::from_secs(30)),
        "{}",
        view(&a)
    );
    let stopping = Instant::now();
    assert_eq!(b.stop(), Some(0));
    assert!(settled(&[&a], &[8], Duration::from_secs(8)), "{}", view(&a));
    let handed_over = stopping.elapsed();
    eprintln!("partitions of a stopped instance owned again in {handed_over:?} (lease 10s)");
    assert!(handed_over < Duration::from_secs(8), "{handed_over:?}");
}

#[test]
fn a_stream_made_for_another_partition_count_is_refused() {
    if !nats_here() {
        return;
    }
    let scratch = Scratch::new();
    let dirs: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().expect("dir")).collect();
    let a = instance(dirs[0].path(), &scratch, "a", "10s");
    let other = scratch
        .config("b", "10s")
        .replace("partitions = 8", "partitions = 4");
    let refused = Daemon::try_start_in(dirs[1].path(), &other)
        .map(|_| ())
        .expect_err("must not start");
    assert!(refused.contains("cluster.partitions is 4"), "{refused}");
    drop(a);
}

#[test]
fn a_file_that_served_alone_shares_its_configuration_when_it_joins() {
    if !nats_here() {
        return;
    }
    let scratch = Scratch::new();
    let dirs: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().expect("dir")).collect();
    let alone = Daemon::start_in(
        dirs[0].path(),
        &format!("admin_token = {:?}", crate::common::ADMIN),
    );
    let (webhook, schema) = alone.route(
        "crm",
        "http://127.0.0.1:9/hook",
        serde_json::json!({}),
        "{}",
    );
    assert_eq!(alone.stop(), Some(0));
    let a = instance(dirs[0].path(), &scratch, "a", "10s");
    let b = instance(dirs[1].path(), &scratch, "b", "10s");
    let b_ref = &b;
    let has = |path: String| move || b_ref.get(&path).status == 200;
    assert!(crate::common::eventually(
        Duration::from_secs(10),
        has(format!("/api/v1/webhooks/{webhook}"))
    ));
    assert!(crate::common::eventually(
        Duration::from_secs(10),
        has(format!("/api/v1/schemas/{schema}"))
    ));
    assert!(super::groups_everywhere(&[&a, &b], 1));
    // And b's changes reach a: the object is shared, not a copy.
    let r = b.put(
        &format!("/api/v1/webhooks/{webhook}"),
        serde_json::json!({"name": "crm-2", "url": "http://127.0.0.1:9/hook"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let path = format!("/api/v1/webhooks/{webhook}");
    assert!(crate::common::eventually(Duration::from_secs(5), || a
        .get(&path)
        .json["name"]
        == "crm-2"));
}

#[test]
fn an_instance_restarted_within_the_lease_takes_its_claims_up_again() {
    if !nats_here() {
        return;
    }
    let scratch = Scratch::new();
    let (dirs, [a, b]) = instances(&scratch, ["a", "b"], "10s");
    assert!(
        settled(&[&a, &b], &[4, 4], Duration::from_secs(30)),
        "{}",
        view(&a)
    );
    drop(b); // SIGKILL: its claims stay until the lease ends
    let restarted = Instant::now();
    let b = instance(dirs[1].path(), &scratch, "b", "10s");
    assert!(
        settled(&[&a, &b], &[4, 4], Duration::from_secs(8)),
        "{}",
        view(&b)
    );
    let back = restarted.elapsed();
    eprintln!("a restarted instance read its partitions again after {back:?} (lease 10s)");
    assert!(back < Duration::from_secs(8), "{back:?}");
    let takeovers = |d: &Daemon| {
        crate::common::metric(&d.get("/metrics").text, "hookline_cluster_takeovers_total")
    };
    assert_eq!((takeovers(&a), takeovers(&b)), (Some(0.0), Some(0.0)));
}
