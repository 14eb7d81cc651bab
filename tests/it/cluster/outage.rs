//! NATS stopped and started under load, on a NATS server of the test's own
//! (`nats-server -js` on a free port, its store in a temporary directory
//! kept across the restart): ingress answers `503` while it is down, nothing
//! accepted is lost, the claims come back.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use super::{instance, nats_here, settled, view, Scratch};
use crate::common::receiver::{Behaviour, Receiver};
use crate::common::{eventually, free_port};

/// A NATS server of this test; killed when dropped.
struct OwnNats {
    child: Child,
}

impl OwnNats {
    fn start(port: u16, store: &Path) -> OwnNats {
        // Debian puts it in /usr/sbin, which a CI user's PATH may lack.
        let binary = ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .unwrap_or("nats-server");
        let child = Command::new(binary)
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(store)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server (Debian's package nats-server) must be on PATH");
        let up = eventually(Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        assert!(up, "nats-server did not listen on {port}");
        OwnNats { child }
    }
}

impl Drop for OwnNats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn event(i: usize) -> serde_json::Value {
    json!({"id": format!("ev-{i}"), "type": "ticket_updated", "ticket": {"id": 9000 + i}})
}

#[test]
fn nats_stopped_and_started_loses_nothing_accepted() {
    if !nats_here() {
        return;
    }
    let store = tempfile::tempdir().expect("store dir");
    let port = free_port();
    let nats = OwnNats::start(port, store.path());
    let scratch = Scratch::on(&format!("nats://127.0.0.1:{port}"));
    let dirs: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().expect("dir")).collect();
    let a = instance(dirs[0].path(), &scratch, "a", "2s");
    let b = instance(dirs[1].path(), &scratch, "b", "2s");
    assert!(
        settled(&[&a, &b], &[4, 4], Duration::from_secs(30)),
        "{}",
        view(&a)
    );
    let rx = Receiver::start(Behaviour::Fixed(200));
    a.route("crm", &rx.url(), json!({}), r#"{"e": "{{event:id}}"}"#);
    assert!(super::groups_everywhere(&[&a, &b], 1));

    let mut accepted = Vec::new();
    let mut i = 0;
    for _ in 0..100 {
        assert_eq!([&a, &b][i % 2].post_event(&event(i)).status, 202);
        accepted.push(format!("ev-{i}"));
        i += 1;
    }
    drop(nats);
    // Down for longer than the lease (the claims expire): every event is
    // answered 503 `unavailable`, none 202. Paced, to keep the count sane.
    let down = Instant::now();
    let mut refused = 0;
    while down.elapsed() < Duration::from_secs(3) {
        let r = [&a, &b][i % 2].post_event(&event(i));
        assert_eq!(r.status, 503, "{}", r.text);
        assert_eq!(r.json["error"]["code"], "unavailable", "{}", r.text);
        refused += 1;
        i += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!(
        "{refused} events answered 503 in {:?} without NATS",
        down.elapsed()
    );
    // Up again on the same port and store: ingress and claims come back.
    let _nats = OwnNats::start(port, store.path());
    let back = Instant::now();
    assert!(eventually(Duration::from_secs(30), || a
        .post_event(&event(i))
        .status
        == 202));
    accepted.push(format!("ev-{i}"));
    i += 1;
    eprintln!("ingress back {:?} after NATS", back.elapsed());
    for _ in 0..100 {
        assert_eq!([&a, &b][i % 2].post_event(&event(i)).status, 202);
        accepted.push(format!("ev-{i}"));
        i += 1;
    }
    assert!(
        settled(&[&a, &b], &[4, 4], Duration::from_secs(30)),
        "{}",
        view(&a)
    );
    eprintln!("claims back {:?} after NATS", back.elapsed());
    let arrived = || -> BTreeSet<String> {
        rx.requests()
            .iter()
            .filter_map(|r| serde_json::from_slice::<serde_json::Value>(&r.body).ok())
            .filter_map(|v| v["e"].as_str().map(str::to_string))
            .collect()
    };
    let all = eventually(Duration::from_secs(60), || {
        let seen = arrived();
        accepted.iter().all(|id| seen.contains(id))
    });
    let seen = arrived();
    let missing: Vec<&String> = accepted.iter().filter(|id| !seen.contains(*id)).collect();
    assert!(all, "accepted but never delivered: {missing:?}");
}
