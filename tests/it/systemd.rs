//! The systemd integration: the unit file passes `systemd-analyze`, and the
//! daemon speaks the notify protocol (READY=1, WATCHDOG=1, STOPPING=1).

use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{binary, Daemon, ADMIN};

const UNIT: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/systemd/hookline.service"
));

fn analyze() -> Option<&'static str> {
    let found = Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        Some("systemd-analyze")
    } else {
        eprintln!("SKIPPED: systemd-analyze is not installed (.ci/run installs it)");
        None
    }
}

/// The unit with ExecStart pointing at the binary under test.
fn unit_for_test(dir: &std::path::Path) -> std::path::PathBuf {
    let unit = UNIT.replace("/usr/local/bin/hookline", binary());
    let path = dir.join("hookline.service");
    std::fs::write(&path, unit).expect("write unit");
    path
}

#[test]
fn the_unit_passes_systemd_analyze_verify() {
    let Some(tool) = analyze() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(tool)
        .arg("verify")
        .arg(unit_for_test(dir.path()))
        .output()
        .expect("run verify");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        !stderr.contains("hookline.service:"),
        "warnings about the unit: {stderr}"
    );
}

#[test]
fn the_unit_is_rated_well_by_systemd_analyze_security() {
    let Some(tool) = analyze() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(tool)
        .args(["security", "--offline=true", "--no-pager"])
        .arg(unit_for_test(dir.path()))
        .output()
        .expect("run security");
    let text = String::from_utf8_lossy(&out.stdout);
    let score: f64 = text
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for hookline.service:")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in: {text}"));
    eprintln!("systemd-analyze security: exposure {score}");
    assert!(score <= 2.0, "exposure {score} (0 is best, 10 worst)");
}

#[test]
fn the_sample_config_checks() {
    let out = Command::new(binary())
        .args([
            "check",
            "--config",
            concat!(env!("CARGO_MANIFEST_DIR"), "/systemd/hookline.toml"),
        ])
        .output()
        .expect("run check");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Receives notify datagrams until `want` arrived or `within` passed.
fn receive_until(
    socket: &UnixDatagram,
    want: &str,
    within: Duration,
    seen: &mut Vec<String>,
) -> bool {
    let deadline = Instant::now() + within;
    let mut buf = [0u8; 512];
    while Instant::now() < deadline {
        if let Ok(n) = socket.recv(&mut buf) {
            let message = String::from_utf8_lossy(&buf[..n]).to_string();
            let found = message.lines().any(|l| l == want);
            seen.push(message);
            if found {
                return true;
            }
        }
    }
    false
}

#[test]
fn the_daemon_speaks_the_notify_protocol() {
    let dir = tempfile::tempdir().expect("tempdir");
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).expect("bind notify socket");
    socket
        .set_read_timeout(Some(Duration::from_millis(50)))
        .expect("timeout");
    // sh's `exec` keeps its pid, so WATCHDOG_PID can name the daemon.
    let d = Daemon::try_start_with(dir.path(), &format!("admin_token = {ADMIN:?}"), |config| {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg("WATCHDOG_PID=$$ exec \"$0\" serve --config \"$1\"")
            .arg(binary())
            .arg(config)
            .env("NOTIFY_SOCKET", &socket_path)
            .env("WATCHDOG_USEC", "200000");
        cmd
    })
    .unwrap_or_else(|logs| panic!("did not start: {logs}"));
    let mut seen = Vec::new();
    assert!(
        receive_until(&socket, "READY=1", Duration::from_secs(10), &mut seen),
        "{seen:?}"
    );
    assert!(
        receive_until(&socket, "WATCHDOG=1", Duration::from_secs(5), &mut seen),
        "{seen:?}"
    );
    assert_eq!(d.stop(), Some(0));
    assert!(
        receive_until(&socket, "STOPPING=1", Duration::from_secs(5), &mut seen),
        "{seen:?}"
    );
}
