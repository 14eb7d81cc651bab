//! The daemon as a process: restarts, the generated token file, a locked or
//! newer data file, and the command line.

use std::os::unix::fs::PermissionsExt as _;
use std::process::Command;

use crate::common::{binary, write_config, Daemon, ADMIN};
use serde_json::json;

#[test]
fn restart_keeps_every_object() {
    let dir = tempfile::tempdir().expect("tempdir");
    let extra = format!("admin_token = {ADMIN:?}");
    let d = Daemon::start_in(dir.path(), &extra);
    let wh = d.webhook("W");
    let sc = d.schema("S");
    let g = d.post(
        "/api/v1/rule-groups",
        json!({"name": "G", "rules": [{"name": "R", "actions": {"webhooks": [{"webhook_id": wh, "schema_id": sc}]}}]}),
    );
    assert_eq!(g.status, 201);
    let before: Vec<_> = ["webhooks", "schemas", "rule-groups"]
        .iter()
        .map(|k| d.get(&format!("/api/v1/{k}")).json)
        .collect();
    assert_eq!(d.stop(), Some(0), "SIGTERM exits 0");

    let d = Daemon::start_in(dir.path(), &extra);
    let after: Vec<_> = ["webhooks", "schemas", "rule-groups"]
        .iter()
        .map(|k| d.get(&format!("/api/v1/{k}")).json)
        .collect();
    assert_eq!(before, after);
    assert_eq!(
        d.delete(&format!("/api/v1/webhooks/{wh}")).status,
        409,
        "references survive too"
    );
}

#[test]
fn objects_survive_kill_9_once_acknowledged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let extra = format!("admin_token = {ADMIN:?}");
    let d = Daemon::start_in(dir.path(), &extra);
    let ids: Vec<String> = (0..20).map(|i| d.webhook(&format!("W{i}"))).collect();
    drop(d); // SIGKILL, no clean shutdown
    let d = Daemon::start_in(dir.path(), &extra);
    for id in ids {
        assert_eq!(
            d.get(&format!("/api/v1/webhooks/{id}")).status,
            200,
            "{id} lost"
        );
    }
}

#[test]
fn generated_admin_token_file_is_private_and_reused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = Daemon::start_in(dir.path(), "");
    let path = dir.path().join("hookline.redb.admin-token");
    let mode = std::fs::metadata(&path)
        .expect("token file exists")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let token = std::fs::read_to_string(&path).expect("read token");
    assert!(
        token.len() >= 32 && !token.contains('\n'),
        "the file holds the token alone"
    );
    assert_eq!(
        d.request("GET", "/api/v1/webhooks", Some(&token), None, None)
            .status,
        200
    );
    assert_eq!(
        d.request("GET", "/api/v1/webhooks", Some("other"), None, None)
            .status,
        401
    );
    let logs = d.logs();
    assert!(
        logs.contains("hookline.redb.admin-token"),
        "the path is logged"
    );
    assert!(!logs.contains(&token), "the token is not");
    assert_eq!(d.stop(), Some(0));

    let d = Daemon::start_in(dir.path(), "");
    assert_eq!(
        std::fs::read_to_string(&path).expect("read"),
        token,
        "kept across restarts"
    );
    assert_eq!(
        d.request("GET", "/api/v1/webhooks", Some(&token), None, None)
            .status,
        200
    );
}

#[test]
fn admin_token_file_setting_is_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("token");
    std::fs::write(&file, "from-a-file\n").expect("write token");
    let d = Daemon::start_in(
        dir.path(),
        &format!("admin_token_file = {:?}", file.display().to_string()),
    );
    assert_eq!(
        d.request("GET", "/api/v1/schemas", Some("from-a-file"), None, None)
            .status,
        200
    );
    assert!(
        !dir.path().join("hookline.redb.admin-token").exists(),
        "no token generated"
    );
}

#[test]
fn a_second_daemon_on_the_same_file_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let extra = format!("admin_token = {ADMIN:?}");
    let first = Daemon::start_in(dir.path(), &extra);
    let second = Daemon::try_start_in(dir.path(), &extra);
    let output = match second {
        Ok(_) => panic!("a second daemon started on a locked file"),
        Err(output) => output,
    };
    assert!(
        output.contains("in use by another hookline process"),
        "{output}"
    );
    assert_eq!(
        first.get("/api/v1/webhooks").status,
        200,
        "the first one goes on"
    );
}

#[test]
fn a_file_from_a_newer_version_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let extra = format!("admin_token = {ADMIN:?}");
    let d = Daemon::start_in(dir.path(), &extra);
    assert_eq!(d.stop(), Some(0));
    {
        // What a newer hookline would leave behind.
        let db = redb::Database::create(dir.path().join("hookline.redb")).expect("open");
        let txn = db.begin_write().expect("write");
        let meta: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("meta");
        txn.open_table(meta)
            .expect("meta")
            .insert("format_version", hookline::store::FORMAT_VERSION + 1)
            .expect("bump version");
        txn.commit().expect("commit");
    }
    let output = match Daemon::try_start_in(dir.path(), &extra) {
        Ok(_) => panic!("started on a newer file"),
        Err(output) => output,
    };
    assert!(output.contains("format version"), "{output}");
}

#[test]
fn version_and_check_commands() {
    let out = Command::new(binary())
        .arg("--version")
        .output()
        .expect("run");
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("hookline {}", env!("CARGO_PKG_VERSION"))
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), "admin_token = \"sekrit-admin\"");
    let out = Command::new(binary())
        .args(["check", "--config"])
        .arg(&config)
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("listen: 127.0.0.1:0"), "{stdout}");
    assert!(!stdout.contains("sekrit-admin"), "check prints no secret");

    std::fs::write(
        &config,
        "listen = \"127.0.0.1:1\"\n[delivery]\nretry_jiter = 0.5\n",
    )
    .expect("write");
    let out = Command::new(binary())
        .args(["check", "--config"])
        .arg(&config)
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("line 3") && stderr.contains("delivery.retry_jiter"),
        "{stderr}"
    );
}
