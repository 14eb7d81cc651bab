//! Test harness: runs the real `hookline` binary on loopback with its own
//! temporary data file, and talks to it over HTTP.

pub mod receiver;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

pub const ADMIN: &str = "test-admin-token-0123456789";

/// Held (for the whole test) by the tests that must not overlap one another
/// now that every integration test shares one process: heavy load (the
/// `kill -9` test) and upper bounds on elapsed time. Other tests run beside
/// them as before. A test that failed while holding it does not fail the
/// next one (poisoning is ignored).
pub fn exclusive() -> MutexGuard<'static, ()> {
    static EXCLUSIVE: Mutex<()> = Mutex::new(());
    EXCLUSIVE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One running daemon.
pub struct Daemon {
    child: Child,
    pub base: String,
    #[allow(dead_code)] // no test reads it; kept for callers that want it
    pub dir: PathBuf,
    logs: Arc<Mutex<String>>,
    client: reqwest::blocking::Client,
}

/// An answer: status, raw text, and the body as JSON when it is JSON.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub text: String,
    pub json: serde_json::Value,
}

impl Resp {
    /// `error.code` and `error.field` of an error body.
    pub fn error(&self) -> (String, Option<String>) {
        let e = &self.json["error"];
        (
            e["code"].as_str().unwrap_or("<no code>").to_string(),
            e["field"].as_str().map(str::to_string),
        )
    }
}

/// Writes a config for `dir` (listen on port 0, data file inside `dir`) with
/// `extra` TOML lines appended.
pub fn write_config(dir: &Path, extra: &str) -> PathBuf {
    let path = dir.join("hookline.toml");
    let listen = if extra.contains("listen =") {
        ""
    } else {
        "listen = \"127.0.0.1:0\"\n"
    };
    let text = format!(
        "{listen}data_file = {:?}\nlog = \"hookline=debug,info\"\n{extra}\n",
        dir.join("hookline.redb").display().to_string()
    );
    std::fs::write(&path, text).expect("write config");
    path
}

/// A port free at the moment (for tests whose CLI must know the address).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_hookline")
}

impl Daemon {
    /// A daemon on a fresh directory with the test admin token.
    pub fn start() -> (tempfile::TempDir, Daemon) {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = Daemon::start_in(dir.path(), &format!("admin_token = {ADMIN:?}"));
        (dir, d)
    }

    /// A daemon on `dir` (kept between starts) with `extra` config lines.
    pub fn start_in(dir: &Path, extra: &str) -> Daemon {
        Daemon::try_start_in(dir, extra)
            .unwrap_or_else(|logs| panic!("daemon did not start:\n{logs}"))
    }

    /// Like `start_in`, but returns the daemon's output when it exits or
    /// does not listen within 30 s.
    pub fn try_start_in(dir: &Path, extra: &str) -> Result<Daemon, String> {
        Daemon::try_start_with(dir, extra, |config| {
            let mut cmd = Command::new(binary());
            cmd.arg("serve").arg("--config").arg(config);
            cmd
        })
    }

    /// Starts the command that `command` builds for the config file (a
    /// wrapper that sets environment, say).
    pub fn try_start_with(
        dir: &Path,
        extra: &str,
        command: impl FnOnce(&Path) -> Command,
    ) -> Result<Daemon, String> {
        let config = write_config(dir, extra);
        let mut child = command(&config)
            .env_remove("HOOKLINE_CONFIG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn hookline");
        let logs = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("stderr piped");
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(mut l) = sink.lock() {
                    l.push_str(&line);
                    l.push('\n');
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = logs.lock().map(|l| l.clone()).unwrap_or_default();
            if let Some(base) = listening_address(&text) {
                return Ok(Daemon {
                    child,
                    base,
                    dir: dir.to_path_buf(),
                    logs,
                    client: reqwest::blocking::Client::builder()
                        .timeout(Duration::from_secs(30))
                        .build()
                        .expect("client"),
                });
            }
            if let Ok(Some(_)) = child.try_wait() {
                std::thread::sleep(Duration::from_millis(50)); // let the reader drain
                return Err(logs.lock().map(|l| l.clone()).unwrap_or_default());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return Err(format!("timed out; output so far:\n{text}"));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The daemon's process id (to signal it).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn logs(&self) -> String {
        self.logs.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for a clean exit; returns the exit code.
    pub fn stop(mut self) -> Option<i32> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        None
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Resp {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        let resp = req.send().expect("request reaches the daemon");
        let status = resp.status().as_u16();
        let text = resp.text().unwrap_or_default();
        let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
        Resp { status, text, json }
    }

    /// An admin-token request with a JSON body.
    pub fn admin(&self, method: &str, path: &str, body: Option<serde_json::Value>) -> Resp {
        let body = body.map(|b| serde_json::to_vec(&b).expect("json"));
        let ct = body.as_ref().map(|_| "application/json");
        self.request(method, path, Some(ADMIN), ct, body)
    }

    pub fn get(&self, path: &str) -> Resp {
        self.admin("GET", path, None)
    }
    pub fn post(&self, path: &str, body: serde_json::Value) -> Resp {
        self.admin("POST", path, Some(body))
    }
    pub fn put(&self, path: &str, body: serde_json::Value) -> Resp {
        self.admin("PUT", path, Some(body))
    }
    pub fn delete(&self, path: &str) -> Resp {
        self.admin("DELETE", path, None)
    }

    /// Creates a webhook and returns its id.
    pub fn webhook(&self, name: &str) -> String {
        let r = self.post(
            "/api/v1/webhooks",
            serde_json::json!({"name": name, "url": "http://127.0.0.1:9/hook"}),
        );
        assert_eq!(r.status, 201, "{}", r.text);
        r.json["id"].as_str().expect("id").to_string()
    }

    /// Creates a text schema and returns its id.
    pub fn schema(&self, name: &str) -> String {
        let r = self.post(
            "/api/v1/schemas",
            serde_json::json!({"name": name, "content_type": "text", "content": "hello"}),
        );
        assert_eq!(r.status, 201, "{}", r.text);
        r.json["id"].as_str().expect("id").to_string()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn listening_address(logs: &str) -> Option<String> {
    let at = logs.find("listening on http://")?;
    let rest = &logs[at + "listening on ".len()..];
    let end = rest.find(|c: char| c.is_whitespace()).unwrap_or(rest.len());
    Some(rest[..end].to_string())
}

/// Config lines for fast retries in tests: `n` delays of `delay`, no jitter.
pub fn fast_retries(n: usize, delay: &str, extra_delivery: &str) -> String {
    let schedule: Vec<String> = (0..n).map(|_| format!("{delay:?}")).collect();
    format!(
        "admin_token = {ADMIN:?}\n[delivery]\nretry_schedule = [{}]\nretry_jitter = 0.0\n{extra_delivery}\n",
        schedule.join(", ")
    )
}

/// Polls `check` every 20 ms until it holds or `within` passes.
pub fn eventually(within: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if check() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Daemon {
    /// Creates webhook `name` → `url` (extra members merged in), a schema,
    /// and a rule firing them on every event; returns (webhook id, schema id).
    pub fn route(
        &self,
        name: &str,
        url: &str,
        webhook_extra: serde_json::Value,
        content: &str,
    ) -> (String, String) {
        let mut body = serde_json::json!({"name": name, "url": url});
        if let (Some(b), Some(extra)) = (body.as_object_mut(), webhook_extra.as_object()) {
            b.extend(extra.clone());
        }
        let w = self.post("/api/v1/webhooks", body);
        assert_eq!(w.status, 201, "{}", w.text);
        let s = self.post(
            "/api/v1/schemas",
            serde_json::json!({"name": format!("{name}-schema"), "content_type": "json", "content": content}),
        );
        assert_eq!(s.status, 201, "{}", s.text);
        let (wh, sc) = (
            w.json["id"].as_str().expect("id").to_string(),
            s.json["id"].as_str().expect("id").to_string(),
        );
        let g = self.post(
            "/api/v1/rule-groups",
            serde_json::json!({"name": format!("{name}-group"), "rules": [{"name": "all",
                "actions": {"webhooks": [{"webhook_id": wh, "schema_id": sc}]}}]}),
        );
        assert_eq!(g.status, 201, "{}", g.text);
        (wh, sc)
    }

    /// Posts an event; returns the ids of the deliveries it created.
    pub fn send_event(&self, id: &str, ticket: u64) -> Vec<String> {
        let body = serde_json::json!({"id": id, "type": "ticket_updated", "ticket": {"id": ticket, "ref": format!("T-{ticket}"), "subject": "Printer on fire"}});
        let r = self.request(
            "POST",
            "/api/v1/events",
            None,
            Some("application/json"),
            Some(body.to_string().into_bytes()),
        );
        assert!(r.status == 202 || r.status == 200, "{}", r.text);
        r.json["deliveries"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|d| d["id"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The delivery's status field.
    pub fn delivery(&self, id: &str) -> serde_json::Value {
        self.get(&format!("/api/v1/deliveries/{id}")).json
    }

    /// Waits until the delivery has `status`.
    pub fn wait_status(&self, id: &str, status: &str, within: Duration) -> bool {
        eventually(within, || self.delivery(id)["status"] == status)
    }
}
