//! Test harness: runs the real `hookline` binary on loopback with its own
//! temporary data file, and talks to it over HTTP.
//!
//! `benches/e2e` uses this harness too (with `#[path]`): it launches the
//! release binary with a config of its own through [`Daemon::launch`], keeps
//! only a tail of the log ([`Launch::keep_lines`]) and reads the daemon's
//! memory, warn/error line counts and stop time.

pub mod receiver;

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

pub const ADMIN: &str = "test-admin-token-0123456789";

/// Held (for the whole test) by the tests that must not overlap one another
/// now that every integration test shares one process: heavy load (the
/// `kill -9` test) and upper bounds on elapsed time. Other tests run beside
/// them as before. A test that failed while holding it does not fail the
/// next one (poisoning is ignored).
pub fn exclusive() -> MutexGuard<'static, ()> {
    static EXCLUSIVE: Mutex<()> = Mutex::new(());
    lock(&EXCLUSIVE)
}

/// Locks ignoring poisoning.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How [`Daemon::launch`] watches a daemon.
#[derive(Debug, Clone, Copy)]
pub struct Launch {
    /// How often to look for the `listening on http://ADDR` line.
    pub poll: Duration,
    /// Keep only the last this many stderr lines (all of them in tests).
    pub keep_lines: usize,
}

impl Launch {
    /// The tests': every log line kept, 10 ms polls.
    pub const TESTS: Launch = Launch {
        poll: Duration::from_millis(10),
        keep_lines: usize::MAX,
    };
}

/// What the daemon wrote to stderr, as the reader thread saw it.
#[derive(Default)]
struct Log {
    lines: VecDeque<String>,
    keep: usize,
    warn: u64,
    error: u64,
    /// `http://ADDR` from the first `listening on http://ADDR` line.
    listening: Option<String>,
}

impl Log {
    fn push(&mut self, line: String) {
        if self.listening.is_none() {
            self.listening = listening_address(&line);
        }
        if line.contains("WARN") {
            self.warn += 1;
        }
        if line.contains("ERROR") {
            self.error += 1;
        }
        self.lines.push_back(line);
        if self.lines.len() > self.keep {
            self.lines.pop_front();
        }
    }

    /// Every kept line, each ended by a newline.
    fn text(&self) -> String {
        let mut text = String::new();
        for line in &self.lines {
            text.push_str(line);
            text.push('\n');
        }
        text
    }
}

/// One running daemon.
pub struct Daemon {
    child: Child,
    pub base: String,
    #[allow(dead_code)] // no test reads it; kept for callers that want it
    pub dir: PathBuf,
    pub pid: u32,
    /// Just before the process was spawned.
    #[allow(dead_code)] // read by benches/e2e only
    pub spawned: Instant,
    log: Arc<Mutex<Log>>,
    /// Built on the first request (the bench never makes one).
    client: OnceLock<reqwest::blocking::Client>,
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

/// Writes `text` as the config file `hookline.toml` in `dir`.
pub fn write_config_text(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("hookline.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// Writes a config for `dir` (listen on port 0, data file inside `dir`) with
/// `extra` TOML lines appended.
pub fn write_config(dir: &Path, extra: &str) -> PathBuf {
    let listen = if extra.contains("listen =") {
        ""
    } else {
        "listen = \"127.0.0.1:0\"\n"
    };
    let text = format!(
        "{listen}data_file = {:?}\nlog = \"hookline=debug,info\"\n{extra}\n",
        dir.join("hookline.redb").display().to_string()
    );
    write_config_text(dir, &text)
}

/// A port free at the moment (for tests whose CLI must know the address).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The binary cargo built for the tests.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_hookline")
}

/// The target directory: `CARGO_TARGET_DIR` or `<manifest>/target`.
#[allow(dead_code)] // used by benches/e2e only
pub fn target_dir() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(t) if Path::new(&t).is_absolute() => PathBuf::from(t),
        Some(t) => manifest.join(t),
        None => manifest.join("target"),
    }
}

/// `<target>/release/hookline` (built by `cargo build --release`).
#[allow(dead_code)] // used by benches/e2e only
pub fn release_binary() -> PathBuf {
    target_dir().join("release").join("hookline")
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
        Daemon::launch(dir, command(&config), Launch::TESTS)
    }

    /// Spawns `command` (a `hookline serve` on `dir`'s data file; its
    /// `HOOKLINE_CONFIG` is removed, stdout dropped, stderr read by a
    /// thread) and waits up to 30 s for its `listening on http://ADDR`
    /// line. `Err` holds the daemon's output when it exits first or does
    /// not listen in time.
    pub fn launch(dir: &Path, mut command: Command, launch: Launch) -> Result<Daemon, String> {
        let spawned = Instant::now();
        let mut child = command
            .env_remove("HOOKLINE_CONFIG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", command.get_program().display()))?;
        let log = Arc::new(Mutex::new(Log {
            keep: launch.keep_lines,
            ..Log::default()
        }));
        let stderr = child.stderr.take().expect("stderr piped");
        let sink = log.clone();
        // Drains stderr (a chatty daemon never blocks on a full pipe); ends
        // at the daemon's exit (EOF).
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                lock(&sink).push(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let listening = lock(&log).listening.clone();
            if let Some(base) = listening {
                return Ok(Daemon {
                    pid: child.id(),
                    child,
                    base,
                    dir: dir.to_path_buf(),
                    spawned,
                    log,
                    client: OnceLock::new(),
                });
            }
            if let Ok(Some(_)) = child.try_wait() {
                std::thread::sleep(Duration::from_millis(50)); // let the reader drain
                return Err(lock(&log).text());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return Err(format!("timed out; output so far:\n{}", lock(&log).text()));
            }
            std::thread::sleep(launch.poll);
        }
    }

    /// Every kept log line (all of them, unless `Launch::keep_lines` said
    /// otherwise), each ended by a newline.
    pub fn logs(&self) -> String {
        lock(&self.log).text()
    }

    /// How many stderr lines so far contained `WARN` and `ERROR`.
    #[allow(dead_code)] // used by benches/e2e only
    pub fn warn_error_lines(&self) -> (u64, u64) {
        let log = lock(&self.log);
        (log.warn, log.error)
    }

    /// `(VmHWM, VmRSS)` of the daemon in bytes (0 when unreadable).
    pub fn memory(&self) -> (u64, u64) {
        let text =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap_or_default();
        let field = |name: &str| {
            text.lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
                .map_or(0, |kb| kb * 1024)
        };
        (field("VmHWM:"), field("VmRSS:"))
    }

    /// Sends SIGTERM and waits for a clean exit; returns the exit code.
    pub fn stop(self) -> Option<i32> {
        self.stop_timed().0
    }

    /// Sends SIGTERM and waits up to 30 s for the exit (SIGKILL after);
    /// the exit code and the time that took.
    pub fn stop_timed(mut self) -> (Option<i32>, Duration) {
        let started = Instant::now();
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid.to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return (status.code(), started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        (None, started.elapsed())
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
        let client = self.client.get_or_init(|| {
            reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client")
        });
        let mut req = client.request(method, format!("{}{path}", self.base));
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

/// The value of the series `name_and_labels` in a `/metrics` text.
pub fn metric(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(name_and_labels) && l[name_and_labels.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
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

    /// Posts one event as JSON (no ingest token).
    pub fn post_event(&self, body: &serde_json::Value) -> Resp {
        self.request(
            "POST",
            "/api/v1/events",
            None,
            Some("application/json"),
            Some(body.to_string().into_bytes()),
        )
    }

    /// Posts an event; returns the ids of the deliveries it created.
    pub fn send_event(&self, id: &str, ticket: u64) -> Vec<String> {
        let body = serde_json::json!({"id": id, "type": "ticket_updated", "ticket": {"id": ticket, "ref": format!("T-{ticket}"), "subject": "Printer on fire"}});
        let r = self.post_event(&body);
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
