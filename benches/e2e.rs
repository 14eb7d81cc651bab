//! End-to-end benchmark: the release daemon as a separate process on loopback
//! with a temporary data file, a fast actix-web receiver in this process, and
//! a reqwest load generator. `cargo bench --bench e2e` (about 10 minutes on 2
//! cores) or `cargo bench --bench e2e -- --quick` (every scenario at 1/50
//! size, under a minute). `--only abf` runs a subset (for debugging).
//!
//! Scenarios (each on a fresh daemon and data file, except a):
//! - a. receiver capacity: this process's reqwest client, concurrency 64,
//!   straight to the receiver — what this machine allows the delivery side;
//! - b. durable ingestion, one webhook, receiver answering 200: single events
//!   (concurrency 64) and batches of 100 (concurrency 8): events/s
//!   acknowledged, plus end to end (first request → last of acks and arrivals);
//! - c. delivery throughput: events ingested while the receiver holds its
//!   requests unanswered (so at most 64 are in flight and the rest wait in the
//!   store), then the receiver is switched to 200: deliveries/s from first to
//!   last arrival with no ingestion running, and its ratio to (a);
//! - d. latency: a steady (open-loop) 1,000 events/s, ack → arrival;
//! - e. fan-out: each event to 10 webhooks (10 receiver ports, so 10 pools of
//!   keep-alive connections, like 10 real receivers), batches of 100;
//! - f. backlog: see `scenario_backlog`;
//! - g. retry storm: the receiver answers 500 to every other request.
//!
//! Every ack is the daemon's `202`, sent after the event and its deliveries
//! are committed (fsync'd). Arrivals are matched to acks by the `webhook-id`
//! header (the delivery id); duplicates are allowed by the at-least-once
//! contract and are counted. The table goes to stdout, all figures to
//! `target/bench/e2e.json`. Every loop is bounded in count and time, and
//! everything talks to 127.0.0.1 only.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::{json, Value};

// ---------------------------------------------------------------------------
// Sizes and constants

const ADMIN: &str = "bench-admin";
/// Concurrency of the single-event load generator and of the receiver
/// capacity client.
const CONCURRENCY: usize = 64;
/// Concurrent batch requests.
const BATCH_CONCURRENCY: usize = 8;
const BATCH: usize = 100;
const FANOUT_WEBHOOKS: usize = 10;
/// Receiver ports: one per fan-out webhook.
const PORTS: usize = FANOUT_WEBHOOKS;
const LATENCY_RATE: u64 = 1000;
/// Held receiver requests answer after this at the latest.
const HOLD_MAX: Duration = Duration::from_secs(280);
/// Wait for arrivals: give up when nothing new arrived for this long.
const IDLE_GIVE_UP: Duration = Duration::from_secs(15);

#[derive(Debug, Clone, Copy)]
struct Sizes {
    receiver_requests: usize,
    ingest_events: usize,
    drain_events: usize,
    latency_events: usize,
    fanout_events: usize,
    backlog_deliveries: usize,
    storm_events: usize,
}

impl Sizes {
    fn full() -> Sizes {
        Sizes {
            receiver_requests: 100_000,
            ingest_events: 100_000,
            drain_events: 100_000,
            latency_events: 30_000,
            fanout_events: 30_000,
            backlog_deliveries: 1_000_000,
            storm_events: 20_000,
        }
    }

    fn quick() -> Sizes {
        let f = Sizes::full();
        Sizes {
            receiver_requests: f.receiver_requests / 50,
            ingest_events: f.ingest_events / 50,
            drain_events: f.drain_events / 50,
            latency_events: f.latency_events / 50,
            fanout_events: f.fanout_events / 50,
            backlog_deliveries: f.backlog_deliveries / 50,
            storm_events: f.storm_events / 50,
        }
    }

    fn json(&self) -> Value {
        json!({
            "receiver_requests": self.receiver_requests,
            "ingest_events_single": self.ingest_events,
            "ingest_events_batched": self.ingest_events,
            "batch_size": BATCH,
            "concurrency_single": CONCURRENCY,
            "concurrency_batches": BATCH_CONCURRENCY,
            "drain_events": self.drain_events,
            "latency_events": self.latency_events,
            "latency_rate_per_s": LATENCY_RATE,
            "fanout_events": self.fanout_events,
            "fanout_webhooks": FANOUT_WEBHOOKS,
            "backlog_deliveries": self.backlog_deliveries,
            "backlog_webhooks": FANOUT_WEBHOOKS,
            "backlog_batch_size": 1000,
            "storm_events": self.storm_events,
        })
    }
}

// ---------------------------------------------------------------------------
// The receiver

const MODE_OK: u8 = 0;
const MODE_FAIL_HALF: u8 = 1;
/// Requests are held unanswered until the mode changes (or `HOLD_MAX`), then
/// answered 503 and not recorded: the receiver is "down" without refusing
/// connections, so the daemon keeps its in-flight cap busy and everything
/// else waits in the store, with no attempt counted against it.
const MODE_HOLD: u8 = 2;

#[derive(Default)]
struct Arrivals {
    /// Delivery id → first arrival (of a request answered 200).
    first: HashMap<Box<str>, Instant>,
    duplicates: u64,
    first_at: Option<Instant>,
    last_at: Option<Instant>,
}

#[derive(Default)]
struct Receiver {
    mode: AtomicU8,
    seq: AtomicU64,
    failed: AtomicU64,
    held: AtomicU64,
    no_id: AtomicU64,
    arrivals: Mutex<Arrivals>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Receiver {
    fn reset(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
        self.seq.store(0, Ordering::SeqCst);
        self.failed.store(0, Ordering::SeqCst);
        self.held.store(0, Ordering::SeqCst);
        self.no_id.store(0, Ordering::SeqCst);
        *lock(&self.arrivals) = Arrivals::default();
    }

    fn record(&self, id: Option<&str>, at: Instant) {
        let Some(id) = id else {
            self.no_id.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let mut a = lock(&self.arrivals);
        if a.first.contains_key(id) {
            a.duplicates += 1;
        } else {
            a.first.insert(id.into(), at);
            a.first_at.get_or_insert(at);
            a.last_at = Some(at);
        }
    }

    fn unique(&self) -> usize {
        lock(&self.arrivals).first.len()
    }

    /// (unique, duplicates, first arrival, last new arrival)
    fn summary(&self) -> (usize, u64, Option<Instant>, Option<Instant>) {
        let a = lock(&self.arrivals);
        (a.first.len(), a.duplicates, a.first_at, a.last_at)
    }
}

async fn hook(req: HttpRequest, _body: web::Bytes, rx: web::Data<Receiver>) -> HttpResponse {
    let arrived = Instant::now();
    match rx.mode.load(Ordering::Relaxed) {
        MODE_HOLD => {
            rx.held.fetch_add(1, Ordering::Relaxed);
            // Bounded: HOLD_MAX / 50 ms polls at most.
            while rx.mode.load(Ordering::Relaxed) == MODE_HOLD && arrived.elapsed() < HOLD_MAX {
                actix_web::rt::time::sleep(Duration::from_millis(50)).await;
            }
            return HttpResponse::ServiceUnavailable().finish();
        }
        MODE_FAIL_HALF if rx.seq.fetch_add(1, Ordering::Relaxed).is_multiple_of(2) => {
            rx.failed.fetch_add(1, Ordering::Relaxed);
            return HttpResponse::InternalServerError().finish();
        }
        _ => {}
    }
    let id = req
        .headers()
        .get("webhook-id")
        .and_then(|v| v.to_str().ok());
    rx.record(id, arrived);
    HttpResponse::Ok().finish()
}

/// Starts the receiver on its own thread (2 workers), bound to `PORTS`
/// loopback ports; returns its state and the base URLs.
fn start_receiver() -> Result<(Arc<Receiver>, Vec<String>), String> {
    let state = web::Data::new(Receiver::default());
    let shared = state.clone().into_inner();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("receiver".into())
        .spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let mut server = HttpServer::new(move || {
                    App::new()
                        .app_data(state.clone())
                        .default_service(web::to(hook))
                })
                .workers(2)
                .backlog(2048)
                .keep_alive(Duration::from_secs(300));
                for _ in 0..PORTS {
                    server = match server.bind(("127.0.0.1", 0)) {
                        Ok(s) => s,
                        Err(e) => {
                            let _ = tx.send(Err(format!("receiver bind: {e}")));
                            return;
                        }
                    };
                }
                let addrs = server.addrs();
                let running = server.run();
                let _ = tx.send(Ok(addrs));
                let _ = running.await;
            });
        })
        .map_err(|e| e.to_string())?;
    let addrs = rx
        .recv_timeout(Duration::from_secs(30))
        .map_err(|e| format!("receiver did not start: {e}"))??;
    let urls = addrs.iter().map(|a| format!("http://{a}/hook")).collect();
    Ok((shared, urls))
}

// ---------------------------------------------------------------------------
// The daemon

#[derive(Default)]
struct LogTail {
    lines: VecDeque<String>,
    warn: u64,
    error: u64,
    listening: Option<String>,
}

struct Daemon {
    child: Option<Child>,
    pid: u32,
    base: String,
    spawned: Instant,
    log: Arc<Mutex<LogTail>>,
}

fn config_text(dir: &Path) -> String {
    let data = dir.join("hookline.redb");
    format!(
        "listen = \"127.0.0.1:0\"\n\
         data_file = {data:?}\n\
         admin_token = \"{ADMIN}\"\n\
         # warn, but the `listening on http://ADDR` line is logged at info\n\
         # (hookline's own info lines are rare: start-up and admin changes).\n\
         log = \"warn,hookline=info\"\n\
         [delivery]\n\
         retry_schedule = [\"100ms\", \"200ms\", \"500ms\"]\n\
         retry_jitter = 0.0\n\
         # 64 = the load generator's and the capacity client's concurrency, so\n\
         # (c) compares like with like; also the daemon client's idle pool\n\
         # size per host, so keep-alive connections are reused, not churned.\n\
         max_in_flight_per_webhook = {in_flight}\n\
         dedup_window = \"1s\"\n",
        data = data.display().to_string(),
        in_flight = max_in_flight()
    )
}

/// The target directory: `CARGO_TARGET_DIR` or `<manifest>/target`.
fn target_dir() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(t) if Path::new(&t).is_absolute() => PathBuf::from(t),
        Some(t) => manifest.join(t),
        None => manifest.join("target"),
    }
}

/// `<target>/release/hookline`, or the build named by `E2E_HOOKLINE_BIN`
/// (e.g. an unstripped one for `perf`; nothing is built then).
fn hookline_binary() -> PathBuf {
    match std::env::var_os("E2E_HOOKLINE_BIN") {
        Some(bin) => PathBuf::from(bin),
        None => target_dir().join("release").join("hookline"),
    }
}

impl Daemon {
    /// Spawns `hookline serve` on `dir` and waits (≤ 30 s) for its
    /// `listening on http://ADDR` line.
    async fn start(dir: &Path) -> Result<Daemon, String> {
        let config = dir.join("hookline.toml");
        std::fs::write(&config, config_text(dir)).map_err(|e| e.to_string())?;
        let spawned = Instant::now();
        let mut command = Command::new(hookline_binary());
        // Every HOOKLINE_* variable (HOOKLINE_CONFIG included) would override
        // or reject the bench's configuration.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("HOOKLINE_") {
                command.env_remove(key);
            }
        }
        let mut child = command
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", hookline_binary().display()))?;
        let log = Arc::new(Mutex::new(LogTail::default()));
        let stderr = child.stderr.take().ok_or("no stderr")?;
        let sink = log.clone();
        // Drains stderr (so a chatty daemon never blocks on a full pipe),
        // keeping the last 50 lines; ends at the daemon's exit (EOF).
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut l = lock(&sink);
                if l.listening.is_none() {
                    if let Some(at) = line.find("listening on http://") {
                        let rest = &line[at + "listening on ".len()..];
                        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
                        l.listening = Some(rest[..end].to_string());
                    }
                }
                if line.contains("WARN") {
                    l.warn += 1;
                }
                if line.contains("ERROR") {
                    l.error += 1;
                }
                l.lines.push_back(line);
                if l.lines.len() > 50 {
                    l.lines.pop_front();
                }
            }
        });
        let pid = child.id();
        let mut daemon = Daemon {
            child: Some(child),
            pid,
            base: String::new(),
            spawned,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        for _ in 0..15_000 {
            if Instant::now() > deadline {
                break;
            }
            let listening = lock(&daemon.log).listening.clone();
            if let Some(base) = listening {
                daemon.base = base;
                return Ok(daemon);
            }
            if let Some(Ok(Some(status))) = daemon.child.as_mut().map(Child::try_wait) {
                tokio::time::sleep(Duration::from_millis(50)).await;
                return Err(format!("daemon exited ({status}):\n{}", daemon.tail()));
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        Err(format!("daemon did not listen in 30 s:\n{}", daemon.tail()))
    }

    fn tail(&self) -> String {
        let l = lock(&self.log);
        l.lines.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    fn warn_error_lines(&self) -> (u64, u64) {
        let l = lock(&self.log);
        (l.warn, l.error)
    }

    /// Polls `GET /readyz` every 2 ms (≤ 30 s); the instant of the first 200.
    async fn wait_ready(&self, client: &reqwest::Client) -> Result<Instant, String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        for _ in 0..15_000 {
            if Instant::now() > deadline {
                break;
            }
            if let Ok(r) = client.get(format!("{}/readyz", self.base)).send().await {
                if r.status() == 200 {
                    return Ok(Instant::now());
                }
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        Err("not ready within 30 s".into())
    }

    /// `(VmHWM, VmRSS)` in bytes.
    fn memory(&self) -> (u64, u64) {
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

    /// SIGTERM, then wait ≤ 30 s (SIGKILL after). Exit code and time taken.
    async fn stop(mut self) -> (Option<i32>, Duration) {
        let started = Instant::now();
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid.to_string())
            .status();
        let Some(mut child) = self.child.take() else {
            return (None, started.elapsed());
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        for _ in 0..3000 {
            if Instant::now() > deadline {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                return (status.code(), started.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        (None, started.elapsed())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

// ---------------------------------------------------------------------------
// CPU use, from /proc

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .unwrap_or(100.0)
}

/// utime + stime in ticks from a `/proc/.../stat` file.
fn stat_ticks(path: &Path) -> u64 {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let Some(close) = text.rfind(')') else {
        return 0;
    };
    let fields: Vec<&str> = text[close + 1..].split_whitespace().collect();
    // After the comm: state is field 3 (index 0), utime 14 (index 11), stime 15.
    let get = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    get(11) + get(12)
}

/// Ticks of this process's threads: (receiver threads, the rest).
fn bench_ticks() -> (u64, u64) {
    let (mut receiver, mut other) = (0, 0);
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return (0, 0);
    };
    for task in tasks.flatten().take(10_000) {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        let ticks = stat_ticks(&task.path().join("stat"));
        if comm.starts_with("actix") || comm.starts_with("receiver") {
            receiver += ticks;
        } else {
            other += ticks;
        }
    }
    (receiver, other)
}

/// Thread id → (name, ticks) of process `pid`.
fn thread_ticks(pid: u32) -> HashMap<u32, (String, u64)> {
    let mut out = HashMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in tasks.flatten().take(10_000) {
        let Some(tid) = task.file_name().to_str().and_then(|t| t.parse().ok()) else {
            continue;
        };
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        let ticks = stat_ticks(&task.path().join("stat"));
        out.insert(tid, (comm.trim().to_string(), ticks));
    }
    out
}

struct CpuMeter {
    at: Instant,
    daemon_threads: HashMap<u32, (String, u64)>,
    daemon: u64,
    receiver: u64,
    other: u64,
    hz: f64,
}

impl CpuMeter {
    fn start(pid: Option<u32>, hz: f64) -> CpuMeter {
        let (receiver, other) = bench_ticks();
        CpuMeter {
            at: Instant::now(),
            daemon_threads: pid.map(thread_ticks).unwrap_or_default(),
            daemon: pid.map_or(0, |p| stat_ticks(Path::new(&format!("/proc/{p}/stat")))),
            receiver,
            other,
            hz,
        }
    }

    /// Percent of one core: daemon, receiver, load generator (rest of bench).
    fn finish(&self, pid: Option<u32>) -> Value {
        let secs = self.at.elapsed().as_secs_f64().max(1e-9);
        let (receiver, other) = bench_ticks();
        let daemon = pid.map_or(0, |p| stat_ticks(Path::new(&format!("/proc/{p}/stat"))));
        let pct = |now: u64, then: u64| {
            (now.saturating_sub(then) as f64 / self.hz / secs * 100.0).round()
        };
        // Thread names are cut to 15 characters (every actix thread is
        // "actix-rt|system"), so each is named `name#n`, n its rank by
        // thread id, i.e. by creation order (#0 is the main thread).
        let mut now: Vec<(u32, (String, u64))> = pid
            .map(thread_ticks)
            .unwrap_or_default()
            .into_iter()
            .collect();
        now.sort_by_key(|(tid, _)| *tid);
        let mut threads: Vec<(String, f64)> = now
            .into_iter()
            .enumerate()
            .map(|(rank, (tid, (name, t)))| {
                let then = self.daemon_threads.get(&tid).map_or(0, |x| x.1);
                (format!("{name}#{rank}"), pct(t, then))
            })
            .filter(|(_, p)| *p > 0.0)
            .collect();
        threads.sort_by(|a, b| b.1.total_cmp(&a.1));
        json!({
            "daemon_threads_pct_of_core": threads
                .iter()
                .map(|(n, p)| json!({"thread": n, "pct": p}))
                .collect::<Vec<_>>(),
            "wall_s": round3(secs),
            "daemon_pct_of_core": pct(daemon, self.daemon),
            "receiver_pct_of_core": pct(receiver, self.receiver),
            "loadgen_pct_of_core": pct(other, self.other),
        })
    }
}

fn cpu_note(v: &Value) -> String {
    let busiest: Vec<String> = v["daemon_threads_pct_of_core"]
        .as_array()
        .into_iter()
        .flatten()
        .take(3)
        .map(|t| format!("{} {}", t["thread"].as_str().unwrap_or("?"), t["pct"]))
        .collect();
    let threads = if busiest.is_empty() {
        String::new()
    } else {
        format!(" [daemon threads: {}]", busiest.join(", "))
    };
    format!(
        "CPU (% of a core): daemon {}, receiver {}, load gen {}{threads}",
        v["daemon_pct_of_core"], v["receiver_pct_of_core"], v["loadgen_pct_of_core"]
    )
}

// ---------------------------------------------------------------------------
// Load generation

static TICKET: AtomicU64 = AtomicU64::new(1);

fn event_json() -> String {
    let n = TICKET.fetch_add(1, Ordering::Relaxed);
    format!(r#"{{"type":"ticket_updated","ticket":{{"id":{n},"ref":"T-{n}"}}}}"#)
}

/// One acknowledged request: when it was sent and acked, and the delivery
/// ids it created.
struct Ack {
    sent: Instant,
    acked: Instant,
    ids: Vec<String>,
}

#[derive(Default)]
struct Load {
    acks: Vec<Ack>,
    errors: usize,
    first_error: Option<String>,
    elapsed: Duration,
}

impl Load {
    fn merge(&mut self, other: Load) {
        self.acks.extend(other.acks);
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    fn error(&mut self, e: String) {
        self.errors += 1;
        self.first_error.get_or_insert(e);
    }

    fn delivery_ids(&self) -> usize {
        self.acks.iter().map(|a| a.ids.len()).sum()
    }

    fn last_ack(&self) -> Option<Instant> {
        self.acks.iter().map(|a| a.acked).max()
    }
}

fn ids_of(evaluation: &Value) -> impl Iterator<Item = String> + '_ {
    evaluation["deliveries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["id"].as_str().map(str::to_string))
}

/// POSTs `body` to `url`; the delivery ids of a 202 answer.
async fn post_events(
    client: &reqwest::Client,
    url: &str,
    body: String,
    batch: bool,
) -> Result<Vec<String>, String> {
    let r = client
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| format!("request: {e}"))?;
    let status = r.status().as_u16();
    let bytes = r.bytes().await.map_err(|e| format!("answer: {e}"))?;
    if status != 202 {
        return Err(format!("{status}: {}", String::from_utf8_lossy(&bytes)));
    }
    let v: Value = serde_json::from_slice(&bytes).map_err(|e| format!("answer json: {e}"))?;
    if batch {
        Ok(v["results"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(ids_of)
            .collect())
    } else {
        Ok(ids_of(&v).collect())
    }
}

/// `n` events as `requests` requests of `per_request` events each (1 =
/// single `POST /events`), `concurrency` requests at once (closed loop).
async fn ingest(
    client: &reqwest::Client,
    base: &str,
    n: usize,
    per_request: usize,
    concurrency: usize,
) -> Load {
    let requests = n.div_ceil(per_request);
    let next = Arc::new(AtomicUsize::new(0));
    let (url, batch) = if per_request == 1 {
        (format!("{base}/api/v1/events"), false)
    } else {
        (format!("{base}/api/v1/events/batch"), true)
    };
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.min(requests) {
        let (client, url, next) = (client.clone(), url.clone(), next.clone());
        tasks.spawn(async move {
            let mut load = Load::default();
            // Bounded: each turn takes one of the `requests` indexes.
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= requests {
                    break;
                }
                let count = per_request.min(n - i * per_request);
                let body = if batch {
                    let items: Vec<String> = (0..count).map(|_| event_json()).collect();
                    format!("[{}]", items.join(","))
                } else {
                    event_json()
                };
                let sent = Instant::now();
                match post_events(&client, &url, body, batch).await {
                    Ok(ids) => load.acks.push(Ack {
                        sent,
                        acked: Instant::now(),
                        ids,
                    }),
                    Err(e) => load.error(e),
                }
            }
            load
        });
    }
    let mut total = Load::default();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(load) => total.merge(load),
            Err(e) => total.error(format!("task: {e}")),
        }
    }
    total.elapsed = started.elapsed();
    total
}

/// `n` single events at a steady `rate` per second (open loop: one request
/// starts every 1/rate s whatever the answers do; at most 1,000 outstanding).
async fn ingest_paced(client: &reqwest::Client, base: &str, n: usize, rate: u64) -> Load {
    let url = format!("{base}/api/v1/events");
    let permits = Arc::new(tokio::sync::Semaphore::new(1000));
    let started = Instant::now();
    let period = Duration::from_nanos(1_000_000_000 / rate.max(1));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        tokio::time::sleep_until((started + period * i as u32).into()).await;
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        let (client, url) = (client.clone(), url.clone());
        tasks.spawn(async move {
            let sent = Instant::now();
            let r = post_events(&client, &url, event_json(), false).await;
            drop(permit);
            r.map(|ids| Ack {
                sent,
                acked: Instant::now(),
                ids,
            })
        });
    }
    let mut total = Load::default();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Ok(ack)) => total.acks.push(ack),
            Ok(Err(e)) => total.error(e),
            Err(e) => total.error(format!("task: {e}")),
        }
    }
    total.elapsed = started.elapsed();
    total
}

/// Waits until `expected` unique deliveries arrived, nothing new arrived
/// for `idle`, or `cap` passed. True when all arrived.
async fn wait_arrivals(rx: &Receiver, expected: usize, cap: Duration, idle: Duration) -> bool {
    let started = Instant::now();
    let (mut seen, mut since) = (rx.unique(), Instant::now());
    while started.elapsed() < cap {
        let now = rx.unique();
        if now >= expected {
            return true;
        }
        if now != seen {
            (seen, since) = (now, Instant::now());
        } else if since.elapsed() > idle {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

fn arrival_cap(expected: usize) -> Duration {
    // ≥ 60 s, else 1,000 deliveries/s: far beyond any plausible run.
    Duration::from_secs(60.max(expected as u64 / 1000))
}

/// Acked ids not (yet) arrived, and arrived ids that no ack named.
fn missing_and_unknown(rx: &Receiver, load: &Load) -> (usize, usize) {
    let a = lock(&rx.arrivals);
    let mut acked = std::collections::HashSet::with_capacity(load.delivery_ids());
    for id in load.acks.iter().flat_map(|a| a.ids.iter()) {
        acked.insert(id.as_str());
    }
    let missing = acked
        .iter()
        .filter(|id| !a.first.contains_key(**id))
        .count();
    let unknown = a
        .first
        .keys()
        .filter(|id| !acked.contains(id.as_ref()))
        .count();
    (missing, unknown)
}

/// The value of an unlabelled metric from `GET /metrics` (no token).
async fn metric(client: &reqwest::Client, base: &str, name: &str) -> Option<f64> {
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// The daemon's group-commit counters from `/metrics`: (commits, seconds
/// spent committing, writes committed).
async fn commits(client: &reqwest::Client, base: &str) -> Option<(f64, f64, f64)> {
    Some((
        metric(client, base, "hookline_store_commit_seconds_count").await?,
        metric(client, base, "hookline_store_commit_seconds_sum").await?,
        metric(client, base, "hookline_store_commit_jobs_sum").await?,
    ))
}

/// What the writer did between two `commits` snapshots `wall` apart.
fn commit_delta(a: Option<(f64, f64, f64)>, b: Option<(f64, f64, f64)>, wall: Duration) -> Value {
    let (Some(a), Some(b)) = (a, b) else {
        return Value::Null;
    };
    let (n, secs, jobs) = (b.0 - a.0, b.1 - a.1, b.2 - a.2);
    let wall = wall.as_secs_f64().max(1e-9);
    json!({
        "commits": n,
        "commits_per_s": (n / wall).round(),
        "mean_commit_ms": (n > 0.0).then(|| round3(secs / n * 1000.0)),
        "mean_writes_per_commit": (n > 0.0).then(|| (jobs / n * 10.0).round() / 10.0),
        "writer_busy_committing_pct": (secs / wall * 100.0).round(),
    })
}

fn commit_note(v: &Value) -> String {
    if v.is_null() {
        return "commits: n/a".into();
    }
    format!(
        "group commits: {}/s, {} ms each, {} writes each",
        v["commits_per_s"], v["mean_commit_ms"], v["mean_writes_per_commit"]
    )
}

/// `max_in_flight_per_webhook` (see `config_text`); `E2E_MAX_IN_FLIGHT`
/// overrides it for experiments.
fn max_in_flight() -> usize {
    std::env::var("E2E_MAX_IN_FLIGHT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(CONCURRENCY)
}

// ---------------------------------------------------------------------------
// Admin setup

async fn admin_post(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    body: Value,
) -> Result<Value, String> {
    let r = client
        .post(format!("{base}{path}"))
        .bearer_auth(ADMIN)
        .json(&body)
        .send()
        .await
        .map_err(|e| format!("POST {path}: {e}"))?;
    let status = r.status().as_u16();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    if status != 201 {
        return Err(format!("POST {path}: {status} {v}"));
    }
    Ok(v)
}

/// One schema, a webhook per URL (with `extra` members), and one rule group
/// whose single unconditional rule sends every event to all of them.
async fn setup_routes(
    client: &reqwest::Client,
    base: &str,
    urls: &[String],
    extra: Value,
) -> Result<(), String> {
    let schema = admin_post(
        client,
        base,
        "/api/v1/schemas",
        json!({"name": "bench", "content_type": "json",
               "content": "{\"ref\": \"{{ticket:ref}}\", \"n\": {{ticket:id}}}"}),
    )
    .await?;
    let schema_id = schema["id"].as_str().ok_or("schema id")?.to_string();
    let mut actions = Vec::new();
    for (i, url) in urls.iter().enumerate() {
        let mut body = json!({"name": format!("wh-{i}"), "url": url});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        let w = admin_post(client, base, "/api/v1/webhooks", body).await?;
        let id = w["id"].as_str().ok_or("webhook id")?.to_string();
        actions.push(json!({"webhook_id": id, "schema_id": schema_id}));
    }
    admin_post(
        client,
        base,
        "/api/v1/rule-groups",
        json!({"name": "g", "rules": [{"name": "r", "actions": {"webhooks": actions}}]}),
    )
    .await?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Report

struct Row {
    scenario: &'static str,
    figure: String,
    value: Option<f64>,
    unit: &'static str,
    target: String,
    met: Option<bool>,
}

#[derive(Default)]
struct Report {
    rows: Vec<Row>,
    details: serde_json::Map<String, Value>,
}

impl Report {
    fn add(
        &mut self,
        scenario: &'static str,
        figure: &str,
        value: Option<f64>,
        unit: &'static str,
    ) {
        self.rows.push(Row {
            scenario,
            figure: figure.to_string(),
            value,
            unit,
            target: String::new(),
            met: None,
        });
    }

    /// A figure with a target: `at_least` (true: ≥ target, false: ≤).
    fn target(
        &mut self,
        scenario: &'static str,
        figure: &str,
        value: Option<f64>,
        unit: &'static str,
        target: f64,
        at_least: bool,
    ) {
        let met = value.map(|v| if at_least { v >= target } else { v <= target });
        let sign = if at_least { "≥" } else { "≤" };
        self.rows.push(Row {
            scenario,
            figure: figure.to_string(),
            value,
            unit,
            target: format!("{sign} {} {unit}", fmt_num(target)),
            met,
        });
    }

    fn note(&mut self, scenario: &'static str, text: String) {
        self.rows.push(Row {
            scenario,
            figure: text,
            value: None,
            unit: "",
            target: String::new(),
            met: None,
        });
    }

    fn detail(&mut self, key: &str, v: Value) {
        self.details.insert(key.to_string(), v);
    }

    fn print(&self) {
        let value = |r: &Row| match r.value {
            Some(v) => format!("{} {}", fmt_num(v), r.unit),
            None if r.unit.is_empty() => String::new(),
            None => "n/a".to_string(),
        };
        let w0 = self
            .rows
            .iter()
            .map(|r| r.scenario.chars().count())
            .max()
            .unwrap_or(0);
        let w1 = self
            .rows
            .iter()
            .filter(|r| r.value.is_some() || !r.unit.is_empty())
            .map(|r| r.figure.chars().count())
            .max()
            .unwrap_or(0);
        let w2 = self
            .rows
            .iter()
            .map(|r| value(r).chars().count())
            .max()
            .unwrap_or(0);
        let w3 = self
            .rows
            .iter()
            .map(|r| r.target.chars().count())
            .max()
            .unwrap_or(0);
        let pad =
            |s: &str, w: usize| format!("{s}{}", " ".repeat(w.saturating_sub(s.chars().count())));
        println!();
        println!(
            "{} | {} | {} | {} | met",
            pad("scenario", w0),
            pad("figure", w1),
            pad("value", w2),
            pad("target", w3)
        );
        println!("{}", "-".repeat(w0 + w1 + w2 + w3 + 16));
        for r in &self.rows {
            if r.value.is_none() && r.unit.is_empty() {
                println!("{} |   {}", pad(r.scenario, w0), r.figure);
                continue;
            }
            let met = match r.met {
                Some(true) => "met",
                Some(false) => "MISSED",
                None => "",
            };
            println!(
                "{} | {} | {} | {} | {met}",
                pad(r.scenario, w0),
                pad(&r.figure, w1),
                pad(&value(r), w2),
                pad(&r.target, w3)
            );
        }
    }

    fn rows_json(&self) -> Value {
        Value::Array(
            self.rows
                .iter()
                .map(|r| {
                    json!({"scenario": r.scenario, "figure": r.figure, "value": r.value,
                           "unit": r.unit, "target": r.target, "met": r.met})
                })
                .collect(),
        )
    }
}

fn fmt_num(v: f64) -> String {
    if v.abs() >= 100.0 {
        let n = v.round() as i64;
        let s = n.abs().to_string();
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        if n < 0 {
            format!("-{out}")
        } else {
            out
        }
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

fn per_sec(count: usize, d: Duration) -> Option<f64> {
    (d > Duration::ZERO && count > 0).then(|| count as f64 / d.as_secs_f64())
}

fn span(a: Option<Instant>, b: Option<Instant>) -> Duration {
    match (a, b) {
        (Some(a), Some(b)) => b.saturating_duration_since(a),
        _ => Duration::ZERO,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

// ---------------------------------------------------------------------------
// Scenarios

struct Bench {
    sizes: Sizes,
    rx: Arc<Receiver>,
    urls: Vec<String>,
    client: reqwest::Client,
    hz: f64,
    report: Report,
    capacity: Option<f64>,
}

fn tempdir() -> Result<tempfile::TempDir, String> {
    tempfile::Builder::new()
        .prefix("hookline-bench-")
        .tempdir()
        .map_err(|e| e.to_string())
}

fn file_size(dir: &Path) -> u64 {
    std::fs::metadata(dir.join("hookline.redb")).map_or(0, |m| m.len())
}

impl Bench {
    /// a. The receiver alone, posted to by this process's client.
    async fn scenario_capacity(&mut self) -> Result<(), String> {
        let n = self.sizes.receiver_requests;
        self.rx.reset(MODE_OK);
        let cpu = CpuMeter::start(None, self.hz);
        let next = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..CONCURRENCY {
            let (client, url, next) = (self.client.clone(), self.urls[0].clone(), next.clone());
            tasks.spawn(async move {
                let mut errors = 0usize;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    let r = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .header("webhook-id", format!("cap_{i}"))
                        .body(format!(r#"{{"ref": "T-{i}", "n": {i}}}"#))
                        .send()
                        .await;
                    match r {
                        Ok(r) if r.status() == 200 => {
                            let _ = r.bytes().await;
                        }
                        _ => errors += 1,
                    }
                }
                errors
            });
        }
        let mut errors = 0;
        while let Some(e) = tasks.join_next().await {
            errors += e.unwrap_or(1);
        }
        let elapsed = started.elapsed();
        let cpu = cpu.finish(None);
        let rate = per_sec(n - errors.min(n), elapsed);
        self.capacity = rate;
        self.report.add(
            "a. receiver capacity",
            "requests/s (reqwest, concurrency 64, 1 connection pool)",
            rate,
            "req/s",
        );
        self.report.note("a. receiver capacity", cpu_note(&cpu));
        self.report.detail(
            "a_receiver_capacity",
            json!({"requests": n, "errors": errors, "elapsed_s": round3(elapsed.as_secs_f64()),
                   "requests_per_s": rate, "cpu": cpu}),
        );
        Ok(())
    }

    /// b. Ingestion with one webhook and the receiver answering 200.
    async fn scenario_ingest(&mut self, batched: bool) -> Result<(), String> {
        let n = self.sizes.ingest_events;
        let dir = tempdir()?;
        let daemon = Daemon::start(dir.path()).await?;
        daemon.wait_ready(&self.client).await?;
        setup_routes(&self.client, &daemon.base, &self.urls[..1], json!({})).await?;
        self.rx.reset(MODE_OK);
        let c0 = commits(&self.client, &daemon.base).await;
        let cpu = CpuMeter::start(Some(daemon.pid), self.hz);
        let started = Instant::now();
        let load = if batched {
            ingest(&self.client, &daemon.base, n, BATCH, BATCH_CONCURRENCY).await
        } else {
            ingest(&self.client, &daemon.base, n, 1, CONCURRENCY).await
        };
        let expected = load.delivery_ids();
        let all = wait_arrivals(&self.rx, expected, arrival_cap(expected), IDLE_GIVE_UP).await;
        let cpu = cpu.finish(Some(daemon.pid));
        let writer = commit_delta(
            c0,
            commits(&self.client, &daemon.base).await,
            started.elapsed(),
        );
        let (unique, dups, first, last) = self.rx.summary();
        let (missing, unknown) = missing_and_unknown(&self.rx, &load);
        let events_acked: usize = if batched {
            load.acks.len() * BATCH
        } else {
            load.acks.len()
        }
        .min(n);
        let ack_rate = per_sec(events_acked, load.elapsed);
        let end = load.last_ack().max(last);
        let e2e = if all {
            per_sec(events_acked, span(Some(started), end))
        } else {
            None
        };
        let delivery_rate = per_sec(unique, span(first, last));
        let (hwm, _) = daemon.memory();
        let (warns, errors) = daemon.warn_error_lines();
        let (code, stop_time) = daemon.stop().await;
        let scenario = if batched {
            "b. ingest batched"
        } else {
            "b. ingest single"
        };
        let how = if batched {
            "batches of 100, 8 concurrent"
        } else {
            "single, concurrency 64"
        };
        if batched {
            self.report.target(
                scenario,
                &format!("events/s acknowledged ({how})"),
                ack_rate,
                "ev/s",
                20_000.0,
                true,
            );
            self.report.add(
                scenario,
                "events/s acknowledged and delivered (end to end)",
                e2e,
                "ev/s",
            );
        } else {
            self.report.target(
                scenario,
                &format!("events/s acknowledged ({how})"),
                ack_rate,
                "ev/s",
                11_000.0,
                true,
            );
            self.report.target(
                scenario,
                "events/s acknowledged and delivered (end to end, 1 webhook)",
                e2e,
                "ev/s",
                11_000.0,
                true,
            );
        }
        self.report.add(
            scenario,
            "deliveries/s while ingesting (first→last arrival)",
            delivery_rate,
            "dl/s",
        );
        self.report.note(
            scenario,
            format!(
                "{} events acked, {} request errors, {unique}/{expected} delivered, {missing} missing, {dups} duplicates, {unknown} unknown; daemon peak RSS {:.0} MB; {}; {}",
                events_acked, load.errors, mb(hwm), cpu_note(&cpu), commit_note(&writer)
            ),
        );
        self.report.detail(
            if batched { "b_ingest_batched" } else { "b_ingest_single" },
            json!({"events": n, "events_acked": events_acked, "request_errors": load.errors,
                   "first_error": load.first_error, "ack_elapsed_s": round3(load.elapsed.as_secs_f64()),
                   "events_per_s_acked": ack_rate, "events_per_s_end_to_end": e2e,
                   "deliveries_expected": expected, "deliveries_unique": unique, "duplicates": dups,
                   "missing": missing, "unknown": unknown, "all_arrived": all,
                   "deliveries_per_s_first_to_last": delivery_rate,
                   "daemon_vm_hwm_bytes": hwm, "data_file_bytes": file_size(dir.path()),
                   "daemon_warn_lines": warns, "daemon_error_lines": errors,
                   "daemon_exit_code": code, "daemon_stop_s": round3(stop_time.as_secs_f64()),
                   "cpu": cpu, "writer": writer}),
        );
        Ok(())
    }

    /// c. Pure delivery: a backlog built while the receiver holds its
    /// requests (64 in flight, the rest in the store), then released.
    async fn scenario_delivery(&mut self) -> Result<(), String> {
        let n = self.sizes.drain_events;
        let dir = tempdir()?;
        let daemon = Daemon::start(dir.path()).await?;
        daemon.wait_ready(&self.client).await?;
        setup_routes(
            &self.client,
            &daemon.base,
            &self.urls[..1],
            json!({"timeout": "5m"}),
        )
        .await?;
        self.rx.reset(MODE_HOLD);
        let load = ingest(&self.client, &daemon.base, n, BATCH, BATCH_CONCURRENCY).await;
        let expected = load.delivery_ids();
        // Let the queue fill its in-flight slots, then release: the held
        // requests are answered 503 (unrecorded) and retried 100 ms later.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let held = self.rx.held.load(Ordering::SeqCst);
        let c0 = commits(&self.client, &daemon.base).await;
        let cpu = CpuMeter::start(Some(daemon.pid), self.hz);
        let released = Instant::now();
        self.rx.mode.store(MODE_OK, Ordering::SeqCst);
        let all = wait_arrivals(&self.rx, expected, arrival_cap(expected), IDLE_GIVE_UP).await;
        let cpu = cpu.finish(Some(daemon.pid));
        let writer = commit_delta(
            c0,
            commits(&self.client, &daemon.base).await,
            released.elapsed(),
        );
        let (unique, dups, first, last) = self.rx.summary();
        let (missing, unknown) = missing_and_unknown(&self.rx, &load);
        let rate = per_sec(unique, span(first, last));
        let ratio = rate.zip(self.capacity).map(|(r, c)| r / c * 100.0);
        let (warns, errors) = daemon.warn_error_lines();
        let (code, _) = daemon.stop().await;
        let s = "c. delivery";
        self.report.add(
            s,
            &format!(
                "deliveries/s, 1 webhook, {} in flight, no ingestion (first→last arrival)",
                max_in_flight()
            ),
            rate,
            "dl/s",
        );
        self.report.target(
            s,
            "delivery rate / receiver capacity (a)",
            ratio,
            "%",
            50.0,
            true,
        );
        self.report.note(
            s,
            format!("{unique}/{expected} delivered, {missing} missing, {dups} duplicates, {unknown} unknown; {held} requests held before release; {}; {}", cpu_note(&cpu), commit_note(&writer)),
        );
        self.report.detail(
            "c_delivery",
            json!({"events": n, "request_errors": load.errors, "first_error": load.first_error,
                   "deliveries_expected": expected, "deliveries_unique": unique, "duplicates": dups,
                   "missing": missing, "unknown": unknown, "all_arrived": all, "held_before_release": held,
                   "release_to_first_arrival_ms": first.map(|f| ms(f.saturating_duration_since(released))),
                   "deliveries_per_s_first_to_last": rate, "percent_of_receiver_capacity": ratio,
                   "daemon_warn_lines": warns, "daemon_error_lines": errors, "daemon_exit_code": code,
                   "cpu": cpu, "writer": writer}),
        );
        Ok(())
    }

    /// d. Ack → arrival at a steady 1,000 events/s.
    async fn scenario_latency(&mut self) -> Result<(), String> {
        let n = self.sizes.latency_events;
        let dir = tempdir()?;
        let daemon = Daemon::start(dir.path()).await?;
        daemon.wait_ready(&self.client).await?;
        setup_routes(&self.client, &daemon.base, &self.urls[..1], json!({})).await?;
        self.rx.reset(MODE_OK);
        let cpu = CpuMeter::start(Some(daemon.pid), self.hz);
        let load = ingest_paced(&self.client, &daemon.base, n, LATENCY_RATE).await;
        let expected = load.delivery_ids();
        let all = wait_arrivals(&self.rx, expected, arrival_cap(expected), IDLE_GIVE_UP).await;
        let cpu = cpu.finish(Some(daemon.pid));
        let (unique, dups, _, _) = self.rx.summary();
        let (missing, unknown) = missing_and_unknown(&self.rx, &load);
        let (mut lat, mut before_ack, mut ack_lat) = (Vec::new(), 0usize, Vec::new());
        let mut req_lat = Vec::new();
        {
            let a = lock(&self.rx.arrivals);
            for ack in &load.acks {
                ack_lat.push(ack.acked.saturating_duration_since(ack.sent));
                for id in &ack.ids {
                    if let Some(at) = a.first.get(id.as_str()) {
                        if *at < ack.acked {
                            before_ack += 1;
                        }
                        // Arrival before the client saw the ack counts as 0.
                        lat.push(at.saturating_duration_since(ack.acked));
                        req_lat.push(at.saturating_duration_since(ack.sent));
                    }
                }
            }
        }
        lat.sort_unstable();
        ack_lat.sort_unstable();
        req_lat.sort_unstable();
        let p = |v: &[Duration], q: f64| percentile(v, q).map(ms);
        let achieved = per_sec(load.acks.len(), load.elapsed);
        let (warns, errors) = daemon.warn_error_lines();
        let (code, _) = daemon.stop().await;
        let s = "d. latency";
        self.report.add(s, "ack→arrival p50", p(&lat, 0.50), "ms");
        self.report
            .target(s, "ack→arrival p99", p(&lat, 0.99), "ms", 25.0, false);
        self.report
            .add(s, "ack→arrival max", lat.last().copied().map(ms), "ms");
        self.report
            .add(s, "request sent→arrival p50", p(&req_lat, 0.50), "ms");
        self.report
            .add(s, "request sent→arrival p99", p(&req_lat, 0.99), "ms");
        let max = req_lat.last().copied().map(ms);
        self.report.add(s, "request sent→arrival max", max, "ms");
        let p50 = p(&ack_lat, 0.50);
        self.report
            .add(s, "request sent→ack p50 (p99 in the note)", p50, "ms");
        self.report.note(
            s,
            format!(
                "{} events at {} ev/s achieved; request→ack p99 {} ms; {before_ack} arrived before the client saw the ack (counted as 0); {unique}/{expected} delivered, {missing} missing, {dups} duplicates; {}",
                load.acks.len(),
                achieved.map_or("n/a".into(), fmt_num),
                p(&ack_lat, 0.99).map_or("n/a".into(), fmt_num),
                cpu_note(&cpu)
            ),
        );
        self.report.detail(
            "d_latency",
            json!({"events": n, "target_rate_per_s": LATENCY_RATE, "achieved_rate_per_s": achieved,
                   "request_errors": load.errors, "first_error": load.first_error,
                   "ack_to_arrival_ms": {"p50": p(&lat, 0.5), "p90": p(&lat, 0.9), "p99": p(&lat, 0.99),
                                         "p999": p(&lat, 0.999), "max": lat.last().copied().map(ms)},
                   "request_to_arrival_ms": {"p50": p(&req_lat, 0.5), "p90": p(&req_lat, 0.9),
                                             "p99": p(&req_lat, 0.99), "p999": p(&req_lat, 0.999),
                                             "max": req_lat.last().copied().map(ms)},
                   "request_to_ack_ms": {"p50": p(&ack_lat, 0.5), "p99": p(&ack_lat, 0.99),
                                         "max": ack_lat.last().copied().map(ms)},
                   "arrived_before_ack_seen": before_ack,
                   "deliveries_expected": expected, "deliveries_unique": unique, "duplicates": dups,
                   "missing": missing, "unknown": unknown, "all_arrived": all,
                   "daemon_warn_lines": warns, "daemon_error_lines": errors, "daemon_exit_code": code,
                   "cpu": cpu}),
        );
        Ok(())
    }

    /// e. Every event to 10 webhooks (10 receiver ports).
    async fn scenario_fanout(&mut self) -> Result<(), String> {
        let n = self.sizes.fanout_events;
        let dir = tempdir()?;
        let daemon = Daemon::start(dir.path()).await?;
        daemon.wait_ready(&self.client).await?;
        setup_routes(
            &self.client,
            &daemon.base,
            &self.urls[..FANOUT_WEBHOOKS],
            json!({}),
        )
        .await?;
        self.rx.reset(MODE_OK);
        let c0 = commits(&self.client, &daemon.base).await;
        let cpu = CpuMeter::start(Some(daemon.pid), self.hz);
        let started = Instant::now();
        let load = ingest(&self.client, &daemon.base, n, BATCH, BATCH_CONCURRENCY).await;
        let expected = load.delivery_ids();
        let all = wait_arrivals(&self.rx, expected, arrival_cap(expected), IDLE_GIVE_UP).await;
        let cpu = cpu.finish(Some(daemon.pid));
        let writer = commit_delta(
            c0,
            commits(&self.client, &daemon.base).await,
            started.elapsed(),
        );
        let (unique, dups, first, last) = self.rx.summary();
        let (missing, unknown) = missing_and_unknown(&self.rx, &load);
        let rate = per_sec(unique, span(first, last));
        let e2e = if all {
            per_sec(unique, span(Some(started), load.last_ack().max(last)))
        } else {
            None
        };
        let ack_rate = per_sec(load.acks.len() * BATCH, load.elapsed);
        let (hwm, _) = daemon.memory();
        let (warns, errors) = daemon.warn_error_lines();
        let (code, _) = daemon.stop().await;
        let s = "e. fan-out x10";
        self.report.target(
            s,
            "deliveries/s (first→last arrival)",
            rate,
            "dl/s",
            30_000.0,
            true,
        );
        self.report.add(
            s,
            "deliveries/s end to end (first request→last arrival)",
            e2e,
            "dl/s",
        );
        self.report.add(
            s,
            "events/s acknowledged (batches of 100, 8 concurrent)",
            ack_rate,
            "ev/s",
        );
        self.report.note(
            s,
            format!("{unique}/{expected} delivered, {missing} missing, {dups} duplicates, {unknown} unknown; peak RSS {:.0} MB; {}; {}", mb(hwm), cpu_note(&cpu), commit_note(&writer)),
        );
        self.report.detail(
            "e_fanout",
            json!({"events": n, "webhooks": FANOUT_WEBHOOKS, "request_errors": load.errors,
                   "first_error": load.first_error, "events_per_s_acked": ack_rate,
                   "deliveries_expected": expected, "deliveries_unique": unique, "duplicates": dups,
                   "missing": missing, "unknown": unknown, "all_arrived": all,
                   "deliveries_per_s_first_to_last": rate, "deliveries_per_s_end_to_end": e2e,
                   "daemon_vm_hwm_bytes": hwm, "daemon_warn_lines": warns, "daemon_error_lines": errors,
                   "daemon_exit_code": code, "cpu": cpu, "writer": writer}),
        );
        Ok(())
    }

    /// f. Backlog. What happens, exactly:
    /// 1. daemon with 10 webhooks (one per receiver port, webhook `timeout`
    ///    5m), the receiver in HOLD mode: it accepts each request and does
    ///    not answer, so each webhook has 64 requests in flight and every
    ///    other delivery stays pending in the store, due now, with no attempt
    ///    counted (a 503 with Retry-After would count attempts and, after the
    ///    4 of our schedule, fail the deliveries);
    /// 2. backlog_deliveries / 10 events in batches of 1,000 (2 concurrent),
    ///    each to the 10 webhooks; peak RSS (VmHWM) and data file size;
    /// 3. SIGTERM (the held requests are abandoned; their deliveries stay
    ///    pending), receiver switched to 200;
    /// 4. restart on the same data file: spawn → `/readyz` 200, spawn →
    ///    first arrival, and the drain rate of the whole backlog (first →
    ///    last arrival; 10 webhooks × 64 in flight), capped at 6 minutes.
    async fn scenario_backlog(&mut self) -> Result<(), String> {
        let total = self.sizes.backlog_deliveries;
        let events = total / FANOUT_WEBHOOKS;
        let dir = tempdir()?;
        let daemon = Daemon::start(dir.path()).await?;
        daemon.wait_ready(&self.client).await?;
        setup_routes(
            &self.client,
            &daemon.base,
            &self.urls[..FANOUT_WEBHOOKS],
            json!({"timeout": "5m"}),
        )
        .await?;
        self.rx.reset(MODE_HOLD);
        let cpu = CpuMeter::start(Some(daemon.pid), self.hz);
        let load = ingest(&self.client, &daemon.base, events, 1000, 2).await;
        let cpu = cpu.finish(Some(daemon.pid));
        let expected = load.delivery_ids();
        let create_rate = per_sec(expected, load.elapsed);
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (hwm, rss) = daemon.memory();
        let size = file_size(dir.path());
        // One sparing look at the pending list: the newest pending delivery.
        let pending_probe = self
            .client
            .get(format!(
                "{}/api/v1/deliveries?status=pending&limit=1",
                daemon.base
            ))
            .bearer_auth(ADMIN)
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0);
        let pending_gauge = metric(&self.client, &daemon.base, "hookline_deliveries_pending").await;
        let held = self.rx.held.load(Ordering::SeqCst);
        let (warns1, errors1) = daemon.warn_error_lines();
        let (code1, stop1) = daemon.stop().await;
        let size_after_stop = file_size(dir.path());

        // Restart with the receiver answering 200.
        self.rx.reset(MODE_OK);
        let daemon = Daemon::start(dir.path()).await?;
        let spawned = daemon.spawned;
        let ready = daemon.wait_ready(&self.client).await?;
        let to_ready = ready.saturating_duration_since(spawned);
        let cpu2 = CpuMeter::start(Some(daemon.pid), self.hz);
        let cap = Duration::from_secs(360).min(arrival_cap(expected).max(Duration::from_secs(60)));
        let all = wait_arrivals(&self.rx, expected, cap, IDLE_GIVE_UP).await;
        let cpu2 = cpu2.finish(Some(daemon.pid));
        let (unique, dups, first, last) = self.rx.summary();
        let (missing, unknown) = missing_and_unknown(&self.rx, &load);
        let to_first = first.map(|f| f.saturating_duration_since(spawned));
        let drain = per_sec(unique, span(first, last));
        let (hwm2, _) = daemon.memory();
        let pending_after = metric(&self.client, &daemon.base, "hookline_deliveries_pending").await;
        let (warns2, errors2) = daemon.warn_error_lines();
        let size_drained = file_size(dir.path());
        let (code2, _) = daemon.stop().await;

        let s = "f. backlog";
        self.report.note(
            s,
            format!(
                "{} pending acked = {events} events x 10 webhooks (batches of 1,000; pending gauge {}), receiver holding requests (not answering; {held} held), then SIGTERM (stop took {:.1} s), receiver → 200, restart",
                fmt_num(expected as f64),
                pending_gauge.map_or("n/a".into(), fmt_num),
                stop1.as_secs_f64()
            ),
        );
        self.report.add(
            s,
            "deliveries created/s (while building the backlog)",
            create_rate,
            "dl/s",
        );
        self.report.target(
            s,
            "daemon peak RSS (VmHWM) with the backlog",
            Some(mb(hwm)),
            "MB",
            200.0,
            false,
        );
        self.report
            .add(s, "data file size with the backlog", Some(mb(size)), "MB");
        self.report.target(
            s,
            "restart: spawn → /readyz 200",
            Some(ms(to_ready)),
            "ms",
            2000.0,
            false,
        );
        self.report
            .add(s, "restart: spawn → first delivery", to_first.map(ms), "ms");
        self.report.add(
            s,
            "drain rate (first→last arrival, 10 webhooks)",
            drain,
            "dl/s",
        );
        self.report
            .add(s, "daemon peak RSS while draining", Some(mb(hwm2)), "MB");
        self.report.note(
            s,
            format!(
                "{unique}/{expected} delivered{}, {missing} missing, {dups} duplicates, {unknown} unknown; drain {}",
                if all { "" } else { " (capped or stalled)" },
                cpu_note(&cpu2)
            ),
        );
        self.report.detail(
            "f_backlog",
            json!({"method": "receiver holds requests unanswered (webhook timeout 5m); SIGTERM; receiver -> 200; restart on the same data file",
                   "events": events, "webhooks": FANOUT_WEBHOOKS, "batch_size": 1000, "batch_concurrency": 2,
                   "request_errors": load.errors, "first_error": load.first_error,
                   "deliveries_pending": expected, "create_elapsed_s": round3(load.elapsed.as_secs_f64()),
                   "deliveries_created_per_s": create_rate, "cpu_while_creating": cpu,
                   "daemon_vm_hwm_bytes": hwm, "daemon_vm_rss_bytes_after": rss,
                   "data_file_bytes": size, "data_file_bytes_after_stop": size_after_stop,
                   "data_file_bytes_after_drain": size_drained,
                   "pending_list_probe_status": pending_probe,
                   "pending_gauge_with_backlog": pending_gauge, "pending_gauge_after_drain": pending_after, "requests_held": held,
                   "first_daemon": {"warn_lines": warns1, "error_lines": errors1, "exit_code": code1,
                                    "stop_s": round3(stop1.as_secs_f64())},
                   "restart_to_ready_ms": ms(to_ready), "restart_to_first_delivery_ms": to_first.map(ms),
                   "drain_cap_s": cap.as_secs(), "all_arrived": all,
                   "deliveries_unique": unique, "duplicates": dups, "missing": missing, "unknown": unknown,
                   "drain_deliveries_per_s": drain, "drain_vm_hwm_bytes": hwm2, "cpu_while_draining": cpu2,
                   "second_daemon": {"warn_lines": warns2, "error_lines": errors2, "exit_code": code2}}),
        );
        Ok(())
    }

    /// g. Receiver answers 500 to every other request (global alternation).
    async fn scenario_storm(&mut self) -> Result<(), String> {
        let n = self.sizes.storm_events;
        let dir = tempdir()?;
        let daemon = Daemon::start(dir.path()).await?;
        daemon.wait_ready(&self.client).await?;
        setup_routes(&self.client, &daemon.base, &self.urls[..1], json!({})).await?;
        self.rx.reset(MODE_FAIL_HALF);
        let cpu = CpuMeter::start(Some(daemon.pid), self.hz);
        let load = ingest(&self.client, &daemon.base, n, 1, CONCURRENCY).await;
        let expected = load.delivery_ids();
        // Retries are ≤ 500 ms apart: 3 s without a new success ends it.
        let all = wait_arrivals(
            &self.rx,
            expected,
            arrival_cap(expected),
            Duration::from_secs(3),
        )
        .await;
        let cpu = cpu.finish(Some(daemon.pid));
        let (unique, dups, first, last) = self.rx.summary();
        let (missing, unknown) = missing_and_unknown(&self.rx, &load);
        let failed_answers = self.rx.failed.load(Ordering::SeqCst);
        let rate = per_sec(unique, span(first, last));
        let ack_rate = per_sec(load.acks.len(), load.elapsed);
        let (warns, errors) = daemon.warn_error_lines();
        let (code, _) = daemon.stop().await;
        let s = "g. retry storm";
        self.report.add(
            s,
            "successful deliveries/s (first→last success)",
            rate,
            "dl/s",
        );
        self.report.add(
            s,
            "events/s acknowledged meanwhile (single, concurrency 64)",
            ack_rate,
            "ev/s",
        );
        self.report.note(
            s,
            format!(
                "{unique}/{expected} succeeded, {missing} never succeeded (4 attempts used; ~1/16 expected with strict alternation), {failed_answers} answers 500, {dups} duplicates, {unknown} unknown; {}",
                cpu_note(&cpu)
            ),
        );
        self.report.detail(
            "g_retry_storm",
            json!({"events": n, "request_errors": load.errors, "first_error": load.first_error,
                   "events_per_s_acked": ack_rate, "deliveries_expected": expected,
                   "deliveries_succeeded": unique, "never_succeeded": missing, "answers_500": failed_answers,
                   "duplicates": dups, "unknown": unknown, "all_arrived": all,
                   "successful_deliveries_per_s": rate,
                   "daemon_warn_lines": warns, "daemon_error_lines": errors, "daemon_exit_code": code,
                   "cpu": cpu}),
        );
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Main

fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_string());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok());
    json!({
        "nproc": std::thread::available_parallelism().map(|n| n.get()).ok(),
        "model_name": model,
        "mem_total_kb": mem,
        "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").ok().map(|s| s.trim().to_string()),
    })
}

fn git(args: &[&str]) -> Option<String> {
    Command::new("git")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
}

fn build_daemon() -> Result<(), String> {
    if std::env::var_os("E2E_HOOKLINE_BIN").is_some() {
        return Ok(());
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("e2e: cargo build --release --bin hookline");
    let status = Command::new(cargo)
        .args(["build", "--release", "--bin", "hookline"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .status()
        .map_err(|e| format!("cargo build: {e}"))?;
    if !status.success() {
        return Err(format!("cargo build failed: {status}"));
    }
    if !hookline_binary().exists() {
        return Err(format!("{} not found", hookline_binary().display()));
    }
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    // cargo bench passes `--bench`; other arguments are ignored too.
    let only: String = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| "abcdefg".into());
    let sizes = if quick { Sizes::quick() } else { Sizes::full() };
    if let Err(e) = build_daemon() {
        eprintln!("e2e: {e}");
        std::process::exit(1);
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("e2e: runtime: {e}");
            std::process::exit(1);
        }
    };
    let started = Instant::now();
    let code = runtime.block_on(run(sizes, quick, &only));
    eprintln!("e2e: done in {:.1} s", started.elapsed().as_secs_f64());
    std::process::exit(code);
}

async fn run(sizes: Sizes, quick: bool, only: &str) -> i32 {
    let (rx, urls) = match start_receiver() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("e2e: {e}");
            return 1;
        }
    };
    let client = match reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(256)
        .timeout(Duration::from_secs(60))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("e2e: client: {e}");
            return 1;
        }
    };
    let mut bench = Bench {
        sizes,
        rx,
        urls,
        client,
        hz: clock_ticks(),
        report: Report::default(),
        capacity: None,
    };
    let started = Instant::now();
    let mut timings = serde_json::Map::new();
    // Run order: the backlog last (the longest).
    for key in ['a', 'b', 'B', 'c', 'd', 'e', 'g', 'f'] {
        if !only.contains(key.to_ascii_lowercase()) {
            continue;
        }
        eprintln!(
            "e2e: scenario {key} ({:.0} s so far)",
            started.elapsed().as_secs_f64()
        );
        let t = Instant::now();
        let result = match key {
            'a' => bench.scenario_capacity().await,
            'b' => bench.scenario_ingest(false).await,
            'B' => bench.scenario_ingest(true).await,
            'c' => bench.scenario_delivery().await,
            'd' => bench.scenario_latency().await,
            'e' => bench.scenario_fanout().await,
            'g' => bench.scenario_storm().await,
            _ => bench.scenario_backlog().await,
        };
        timings.insert(key.to_string(), json!(round3(t.elapsed().as_secs_f64())));
        if let Err(e) = result {
            eprintln!("e2e: scenario {key} failed: {e}");
            bench
                .report
                .note("error", format!("scenario {key} failed: {e}"));
        }
    }
    let order = |s: &str| match s.as_bytes() {
        [c, b'.', ..] => "abcdefg".find(char::from(*c)).unwrap_or(9),
        _ => 9,
    };
    bench.report.rows.sort_by_key(|r| order(r.scenario));
    bench.report.print();
    let total = started.elapsed();
    println!(
        "\n{} run, {:.1} s of scenarios; sizes: {}",
        if quick { "quick (1/50)" } else { "full" },
        total.as_secs_f64(),
        bench.sizes.json()
    );
    let out = json!({
        "mode": if quick { "quick" } else { "full" },
        "scenarios_run": only,
        "sizes": bench.sizes.json(),
        "machine": machine(),
        "git_commit": git(&["rev-parse", "HEAD"]),
        "git_worktree_dirty": git(&["status", "--porcelain"]).map(|s| !s.is_empty()),
        "daemon_config": config_text(Path::new("<tmp>")),
        "daemon_binary": hookline_binary().display().to_string(),
        "scenario_seconds": timings,
        "total_seconds": round3(total.as_secs_f64()),
        "table": bench.report.rows_json(),
        "details": bench.report.details,
    });
    let dir = target_dir().join("bench");
    let path = dir.join("e2e.json");
    let written = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&path, serde_json::to_vec_pretty(&out).unwrap_or_default()));
    match written {
        Ok(()) => println!("wrote {}", path.display()),
        Err(e) => eprintln!("e2e: cannot write {}: {e}", path.display()),
    }
    0
}
