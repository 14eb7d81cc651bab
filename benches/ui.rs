//! The admin screens' figures: the weight of each screen before data, and
//! the time to answer the webhook list with 1,000 webhooks and the overview
//! with 100,000 deliveries in the store. The real (bench-profile) binary on
//! loopback, a loopback receiver answering 200, requests with the admin
//! token as a bearer (UI.md allows it for scripts), so the time measured is
//! the daemon's: routing, store reads, rendering.
//!
//! `cargo bench --bench ui` (a few minutes on 2 cores) or `-- --quick`
//! (1/50 of the data, seconds). Figures go to stdout and
//! `target/bench/ui.json`; BENCHMARKS.md quotes them.

#[allow(dead_code)] // the bench uses the daemon harness and the receiver only
#[path = "../tests/it/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use serde_json::json;

use common::receiver::{Behaviour, Receiver};
use common::{eventually, Daemon, ADMIN};

/// Times to answer `path` `n` times in a row (milliseconds, sorted).
fn timings(client: &reqwest::blocking::Client, base: &str, path: &str, n: usize) -> Vec<f64> {
    let mut ms = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let resp = client
            .get(format!("{base}{path}"))
            .bearer_auth(ADMIN)
            .send()
            .and_then(|r| r.error_for_status())
            .and_then(|r| r.bytes());
        if let Err(e) = resp {
            eprintln!("ui bench: GET {path}: {e}");
            std::process::exit(1);
        }
        ms.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    ms
}

fn summary(ms: &[f64]) -> serde_json::Value {
    let at = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
    json!({"n": ms.len(), "min_ms": at(0.0), "median_ms": at(0.5), "p95_ms": at(0.95), "max_ms": at(1.0)})
}

fn size(client: &reqwest::blocking::Client, base: &str, path: &str) -> usize {
    client
        .get(format!("{base}{path}"))
        .bearer_auth(ADMIN)
        .send()
        .and_then(|r| r.bytes())
        .map_or(0, |b| b.len())
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (webhooks, deliveries) = if quick { (20, 2_000) } else { (1_000, 100_000) };
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client");
    let (_dir, d) = Daemon::start();

    // Page weight before data: each screen on an empty store, and the
    // embedded files every page loads once.
    let assets: usize = [
        "/ui/assets/style.css",
        "/ui/assets/app.js",
        "/ui/assets/icon.svg",
    ]
    .iter()
    .map(|p| size(&client, &d.base, p))
    .sum();
    let d_webhook = d.webhook("First");
    let d_schema = d.schema("First schema");
    let screens = [
        ("Overview", "/ui/".to_string()),
        ("Webhooks", "/ui/webhooks".into()),
        ("New Webhook", "/ui/webhooks/new".into()),
        ("Edit Webhook", format!("/ui/webhooks/{d_webhook}")),
        ("Test webhook", format!("/ui/webhooks/{d_webhook}/test")),
        ("Schemas", "/ui/schemas".into()),
        (
            "Schema Details (Slack)",
            "/ui/schemas/new?start=slack".into(),
        ),
        ("Edit schema", format!("/ui/schemas/{d_schema}")),
    ];
    let mut weights = serde_json::Map::new();
    println!("screen weight before data (HTML bytes; the embedded CSS, script and icon add {assets} bytes once):");
    for (name, path) in &screens {
        let bytes = size(&client, &d.base, path);
        println!("  {name:<24} {bytes:>7}");
        weights.insert((*name).into(), json!(bytes));
    }

    // 1,000 webhooks.
    let started = Instant::now();
    for i in 1..webhooks {
        d.webhook(&format!("Webhook {i:04}"));
    }
    eprintln!(
        "ui bench: {webhooks} webhooks in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let list = timings(&client, &d.base, "/ui/webhooks", 30);
    let list_bytes = size(&client, &d.base, "/ui/webhooks");

    // 100,000 deliveries, all delivered (the overview counts every one of
    // the last 24 hours).
    let rx = Receiver::start(Behaviour::Fixed(200));
    d.route(
        "Receiver",
        &rx.url(),
        json!({}),
        "{\"ref\": \"{{ticket:ref}}\"}",
    );
    let started = Instant::now();
    for batch in 0..deliveries / 1000 {
        let events: Vec<_> = (0..1000)
            .map(|i| {
                let n = batch * 1000 + i;
                json!({"id": format!("e-{n}"), "type": "ticket_updated", "ticket": {"id": n, "ref": format!("T-{n}")}})
            })
            .collect();
        let r = d.admin("POST", "/api/v1/events/batch", Some(json!(events)));
        assert_eq!(r.status, 202, "{}", r.text);
    }
    let drained = rx.wait_for(deliveries, Duration::from_secs(600));
    eprintln!(
        "ui bench: {deliveries} deliveries ingested and delivered in {:.1} s (all arrived: {drained})",
        started.elapsed().as_secs_f64()
    );
    // The last outcomes are committed a moment after their arrival.
    let committed = eventually(Duration::from_secs(60), || {
        d.get("/api/v1/deliveries?status=pending&limit=1").json["items"]
            .as_array()
            .is_some_and(Vec::is_empty)
    });
    assert!(committed, "deliveries still pending");
    let overview = timings(&client, &d.base, "/ui/", 30);
    let log = timings(&client, &d.base, "/ui/deliveries", 30);
    let failed_log = timings(&client, &d.base, "/ui/deliveries?status=failed", 10);
    let newest = d.get("/api/v1/deliveries?limit=1").json["items"][0]["id"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let one = timings(&client, &d.base, &format!("/ui/deliveries/{newest}"), 30);
    let rules = timings(&client, &d.base, "/ui/rules", 30);

    let out = json!({
        "mode": if quick { "quick" } else { "full" },
        "assets_bytes": assets,
        "screen_bytes_before_data": weights,
        "webhooks": webhooks,
        "webhook_list": summary(&list),
        "webhook_list_bytes": list_bytes,
        "deliveries": deliveries,
        "overview": summary(&overview),
        "delivery_log": summary(&log),
        "delivery_log_filter_matching_none": summary(&failed_log),
        "delivery_page": summary(&one),
        "rules": summary(&rules),
    });
    println!(
        "webhook list, {webhooks} webhooks ({list_bytes} bytes): {}",
        summary(&list)
    );
    println!("overview, {deliveries} deliveries: {}", summary(&overview));
    println!("delivery log, newest 50 of {deliveries}: {}", summary(&log));
    println!(
        "delivery log filtered to none of {deliveries} (the scan's bound): {}",
        summary(&failed_log)
    );
    println!("delivery page: {}", summary(&one));
    println!("event rules: {}", summary(&rules));
    let dir = common::target_dir().join("bench");
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("ui.json");
    match std::fs::write(&path, serde_json::to_vec_pretty(&out).unwrap_or_default()) {
        Ok(()) => println!("wrote {}", path.display()),
        Err(e) => eprintln!("ui bench: cannot write {}: {e}", path.display()),
    }
    drop(rx);
    d.stop();
}
