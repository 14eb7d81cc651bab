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
//! - l. levels: ack → arrival at 50 % and 90 % of the daemon's own maximum,
//!   single requests to one webhook and fanned out to ten;
//! - k. cluster mode: the plain daemon against one and three instances
//!   over the machine's NATS (scenarios/cluster.rs);
//! - e. fan-out: each event to 10 webhooks (10 receiver ports, so 10 pools of
//!   keep-alive connections, like 10 real receivers), batches of 100;
//! - f. backlog: see `scenario_backlog` (scenarios/fanout.rs);
//! - s. scale: 10,000,000 pending (only with `--only s`, scenarios/scale.rs);
//! - w. grown file: single-event ingestion on a 2 GB file against fresh ones
//!   (only with `--only w`, scenarios/grown.rs);
//! - g. retry storm: the receiver answers 500 to every other request;
//! - h. outage: one of two receivers refuses connections for a while, with
//!   the breaker on (`h`) and off (`H`), see `scenarios/outage.rs`.
//!
//! Every ack is the daemon's `202`, sent after the event and its deliveries
//! are committed (fsync'd). Arrivals are matched to acks by the `webhook-id`
//! header (the delivery id); duplicates are allowed by the at-least-once
//! contract and are counted. The table goes to stdout, all figures to
//! `target/bench/e2e.json`. Every loop is bounded in count and time, and
//! everything talks to 127.0.0.1 only.
//!
//! Files: `sizes` (the full and `--quick` sizes), `receiver` (the actix-web
//! receiver), `daemon` (the daemon's config, start, readiness, `/metrics`
//! and admin setup), `load` (load generation and arrivals), `cpu` (CPU use
//! from /proc), `report` (the table and the JSON), `scenarios/` (a–g).
//!
//! The daemon harness is the tests' one, `tests/it/common` (`Daemon`: the
//! real binary spawned on a temporary directory, its stderr read by a
//! thread, SIGTERM and a bounded wait): the bench launches the release
//! binary through `Daemon::launch` with its own config text, keeping the
//! last 50 log lines. What is not shared, and why:
//! - the receiver: the tests' one (`common::receiver`) is a blocking
//!   thread-per-connection server that records every request in full, made
//!   to be inspected; the bench needs a fast async one (actix-web, 2
//!   workers, 10 ports, hold/fail modes) that records only the first
//!   arrival of each delivery id, or it would measure itself;
//! - HTTP to the daemon: the harness's helpers are blocking (reqwest
//!   `blocking`), the load generator is async (tokio, up to 1,000 requests
//!   outstanding), so readiness, `/metrics` and admin setup use the bench's
//!   async client.

#[allow(dead_code)] // the bench uses the harness's `Daemon`, not the rest
#[path = "../../tests/it/common/mod.rs"]
mod common;

mod cpu;
mod daemon;
mod load;
mod receiver;
mod report;
mod scenarios;
mod sizes;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::cpu::clock_ticks;
use crate::receiver::start_receiver;
use crate::report::{round3, Report};
use crate::scenarios::Bench;
use crate::sizes::Sizes;

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
    if !daemon::hookline_binary().exists() {
        return Err(format!("{} not found", daemon::hookline_binary().display()));
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
        .unwrap_or_else(|| "abcdefghklor".into());
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
    for key in [
        'a', 'b', 'B', 'c', 'o', 'r', 'd', 'l', 'k', 'e', 'g', 'h', 'H', 'f', 's', 'w',
    ] {
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
            'l' => bench.scenario_levels().await,
            'k' => bench.scenario_cluster().await,
            'e' => bench.scenario_fanout().await,
            'g' => bench.scenario_storm().await,
            'h' => bench.scenario_outage(true).await,
            'H' => bench.scenario_outage(false).await,
            'o' => bench.scenario_ordered().await,
            'r' => bench.scenario_realistic().await,
            'f' => bench.scenario_backlog().await,
            's' => bench.scenario_scale().await,
            _ => bench.scenario_grown().await,
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
        [c, b'.', ..] => "abcordlefghHsw".find(char::from(*c)).unwrap_or(14),
        _ => 14,
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
        "daemon_config": daemon::config_text(Path::new("<tmp>")),
        "daemon_binary": daemon::hookline_binary().display().to_string(),
        "scenario_seconds": timings,
        "total_seconds": round3(total.as_secs_f64()),
        "table": bench.report.rows_json(),
        "details": bench.report.details,
    });
    let dir = common::target_dir().join("bench");
    let path = dir.join("e2e.json");
    let written = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&path, serde_json::to_vec_pretty(&out).unwrap_or_default()));
    match written {
        Ok(()) => println!("wrote {}", path.display()),
        Err(e) => eprintln!("e2e: cannot write {}: {e}", path.display()),
    }
    0
}
