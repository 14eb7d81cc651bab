//! The daemon under test, through the tests' harness (`common::Daemon`):
//! the bench's config, the release binary, readiness, `/metrics` and the
//! admin setup of webhooks, a schema and a rule group.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::{self, Daemon, Launch};
use crate::report::round3;
use crate::sizes::{ADMIN, CONCURRENCY};

/// How the bench launches: the `listening on` line looked for every 2 ms,
/// the last 50 log lines kept (the warn and error lines are counted).
const LAUNCH: Launch = Launch {
    poll: Duration::from_millis(2),
    keep_lines: 50,
};

pub fn config_text(dir: &Path) -> String {
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

/// `max_in_flight_per_webhook` (see `config_text`); `E2E_MAX_IN_FLIGHT`
/// overrides it for experiments.
pub fn max_in_flight() -> usize {
    std::env::var("E2E_MAX_IN_FLIGHT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(CONCURRENCY)
}

/// `<target>/release/hookline`, or the build named by `E2E_HOOKLINE_BIN`
/// (e.g. an unstripped one for `perf`; nothing is built then).
pub fn hookline_binary() -> PathBuf {
    match std::env::var_os("E2E_HOOKLINE_BIN") {
        Some(bin) => PathBuf::from(bin),
        None => common::release_binary(),
    }
}

/// Writes the bench's config into `dir`, spawns `hookline serve` on it and
/// waits (≤ 30 s) for its `listening on http://ADDR` line. Blocks: nothing
/// else runs on the bench's runtime meanwhile.
pub fn start_daemon(dir: &Path) -> Result<Daemon, String> {
    start_daemon_with(dir, &config_text(dir))
}

/// [`start_daemon`] with a config text of the scenario's own.
pub fn start_daemon_with(dir: &Path, text: &str) -> Result<Daemon, String> {
    let config = common::write_config_text(dir, text);
    let mut command = Command::new(hookline_binary());
    // Every HOOKLINE_* variable (HOOKLINE_CONFIG included) would override
    // or reject the bench's configuration.
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("HOOKLINE_") {
            command.env_remove(key);
        }
    }
    command
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .stdin(Stdio::null());
    Daemon::launch(dir, command, LAUNCH)
        .map_err(|output| format!("daemon did not start:\n{output}"))
}

/// Polls `GET /readyz` every 2 ms (≤ 30 s); the instant of the first 200.
pub async fn wait_ready(daemon: &Daemon, client: &reqwest::Client) -> Result<Instant, String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    for _ in 0..15_000 {
        if Instant::now() > deadline {
            break;
        }
        if let Ok(r) = client.get(format!("{}/readyz", daemon.base)).send().await {
            if r.status() == 200 {
                return Ok(Instant::now());
            }
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Err("not ready within 30 s".into())
}

// ---------------------------------------------------------------------------
// /metrics

/// The text of `GET /metrics` (no token).
pub async fn metrics_text(client: &reqwest::Client, base: &str) -> Option<String> {
    client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()
}

/// The value of one series in `/metrics` text: a bare name, or a name with
/// its labels as written (`name{a="x",b="y"}`).
pub fn series_value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.split_whitespace().next() == Some(series))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// The value of an unlabelled metric from `GET /metrics` (no token).
pub async fn metric(client: &reqwest::Client, base: &str, name: &str) -> Option<f64> {
    series_value(&metrics_text(client, base).await?, name)
}

/// The daemon's group-commit counters from `/metrics`: (commits, seconds
/// spent committing, writes committed).
pub async fn commits(client: &reqwest::Client, base: &str) -> Option<(f64, f64, f64)> {
    Some((
        metric(client, base, "hookline_store_commit_seconds_count").await?,
        metric(client, base, "hookline_store_commit_seconds_sum").await?,
        metric(client, base, "hookline_store_commit_jobs_sum").await?,
    ))
}

/// What the writer did between two `commits` snapshots `wall` apart.
pub fn commit_delta(
    a: Option<(f64, f64, f64)>,
    b: Option<(f64, f64, f64)>,
    wall: Duration,
) -> Value {
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

pub fn commit_note(v: &Value) -> String {
    if v.is_null() {
        return "commits: n/a".into();
    }
    format!(
        "group commits: {}/s, {} ms each, {} writes each",
        v["commits_per_s"], v["mean_commit_ms"], v["mean_writes_per_commit"]
    )
}

// ---------------------------------------------------------------------------
// Admin setup

pub async fn admin_post(
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
pub async fn setup_routes(
    client: &reqwest::Client,
    base: &str,
    urls: &[String],
    extra: Value,
) -> Result<(), String> {
    let small = "{\"ref\": \"{{ticket:ref}}\", \"n\": {{ticket:id}}}";
    setup_routes_with(client, base, urls, extra, small).await
}

/// [`setup_routes`] with a JSON schema of its own.
pub async fn setup_routes_with(
    client: &reqwest::Client,
    base: &str,
    urls: &[String],
    extra: Value,
    content: &str,
) -> Result<(), String> {
    let schema = admin_post(
        client,
        base,
        "/api/v1/schemas",
        json!({"name": "bench", "content_type": "json", "content": content}),
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
