//! Storage faults for real: the data file on a small tmpfs that the test
//! fills up. Needs root (to mount); skipped with a printed reason otherwise.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::common::receiver::{Behaviour, Receiver};
use crate::common::{eventually, fast_retries, Daemon};
use serde_json::json;

/// A tmpfs mounted for the test, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Result<Tmpfs, String> {
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if out.status.success() {
            Ok(Tmpfs(dir.to_path_buf()))
        } else {
            Err(format!(
                "mount failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Writes zeros into `path` until the file system is full.
fn fill(path: &Path) -> u64 {
    let Ok(mut f) = std::fs::File::create(path) else {
        return 0;
    };
    let chunk = vec![0u8; 16 * 1024];
    let mut written = 0u64;
    for _ in 0..100_000 {
        match f.write_all(&chunk).and_then(|()| f.sync_all()) {
            Ok(()) => written += chunk.len() as u64,
            Err(_) => break,
        }
    }
    written
}

#[test]
fn a_full_disk_refuses_writes_loses_nothing_and_recovers() {
    if !is_root() {
        eprintln!("SKIPPED a_full_disk_refuses_writes_loses_nothing_and_recovers: needs root to mount a tmpfs");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let _mount = match Tmpfs::mount(dir.path(), "4m") {
        Ok(m) => m,
        Err(reason) => {
            eprintln!("SKIPPED a_full_disk_refuses_writes_loses_nothing_and_recovers: {reason}");
            return;
        }
    };
    let receiver = Receiver::start(Behaviour::Fixed(200));
    let config = fast_retries(3, "100ms", "");
    let d = Daemon::start_in(dir.path(), &config);
    d.route(
        "W",
        &receiver.url(),
        json!({}),
        "{\"s\": \"{{ticket:subject}}\"}",
    );
    let mut acked: Vec<String> = Vec::new();
    for i in 0..20 {
        d.send_event(&format!("before-{i}"), i);
        acked.push(format!("before-{i}"));
    }

    let filler = dir.path().join("filler");
    let filled = fill(&filler);
    assert!(filled > 0, "could not fill the tmpfs");
    let subject = "x".repeat(200_000); // larger than any space left
    let mut refused = 0;
    for i in 0..50 {
        let id = format!("full-{i}");
        let body = json!({"id": id, "type": "t", "ticket": {"id": 1000 + i, "subject": subject}});
        let r = d.post_event(&body);
        match r.status {
            202 => acked.push(id),
            503 => {
                assert_eq!(r.error().0, "unavailable", "{}", r.text);
                refused += 1;
            }
            other => panic!("unexpected {other}: {}", r.text),
        }
    }
    assert!(refused > 0, "the full disk never refused a write");
    assert_eq!(
        d.request("GET", "/healthz", None, None, None).status,
        200,
        "the daemon lives on"
    );

    std::fs::remove_file(&filler).expect("free the space");
    let mut n = 0;
    let recovered = eventually(Duration::from_secs(30), || {
        n += 1;
        let body = json!({"id": format!("after-{n}"), "type": "t", "ticket": {"id": 5000 + n}});
        let r = d.post_event(&body);
        if r.status == 202 {
            acked.push(format!("after-{n}"));
        }
        r.status == 202
    });
    assert!(recovered, "writes did not resume once space returned");
    eprintln!(
        "disk full: {refused} of 50 large events refused with 503, recovered after {n} tries"
    );

    // Nothing acknowledged was lost, and every acknowledged delivery arrives.
    for id in &acked {
        assert_eq!(
            d.get(&format!("/api/v1/events/{id}")).status,
            200,
            "{id} lost"
        );
    }
    assert!(
        receiver.wait_for(acked.len(), Duration::from_secs(30)),
        "deliveries went on"
    );
    assert_eq!(d.stop(), Some(0));
    let d = Daemon::start_in(dir.path(), &config);
    for id in &acked {
        assert_eq!(
            d.get(&format!("/api/v1/events/{id}")).status,
            200,
            "{id} lost across restart"
        );
    }
}
