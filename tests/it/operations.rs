//! Operating the daemon: graceful shutdown, readiness, metrics, check and
//! backup.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::metric;
use crate::common::receiver::{Behaviour, Receiver, Reply};
use crate::common::{binary, eventually, fast_retries, write_config, Daemon, ADMIN};
use serde_json::json;

const BODY: &str = "{\"n\": {{ticket:id}}}";

#[test]
fn sigterm_finishes_in_flight_deliveries_and_exits_0() {
    let _exclusive = crate::common::exclusive(); // an upper bound on the shutdown time
    let receiver = Receiver::start(Behaviour::Replies(vec![
        Reply::status(200).delay(Duration::from_millis(800))
    ]));
    let dir = tempfile::tempdir().expect("tempdir");
    let config = fast_retries(3, "1h", "max_in_flight_per_webhook = 4");
    let d = Daemon::start_in(dir.path(), &config);
    d.route("W", &receiver.url(), json!({}), BODY);
    let ids: Vec<String> = (0..12)
        .flat_map(|i| d.send_event(&format!("e{i}"), i))
        .collect();
    assert!(
        receiver.wait_for(4, Duration::from_secs(10)),
        "4 requests in flight"
    );
    let stopping = Instant::now();
    assert_eq!(d.stop(), Some(0), "SIGTERM exits 0");
    let took = stopping.elapsed();
    eprintln!("shutdown with 4 requests in flight took {took:?}");
    assert!(
        took < Duration::from_secs(5),
        "bounded by the running requests, not the 10 s grace: {took:?}"
    );
    let arrived_before_stop = receiver.requests().len();

    let d = Daemon::start_in(dir.path(), &config);
    for id in &ids {
        assert!(
            d.wait_status(id, "succeeded", Duration::from_secs(30)),
            "{id}: {}",
            d.delivery(id)
        );
    }
    // The 4 that were in flight finished and were recorded before exit: only
    // the 8 not yet started are sent after the restart.
    assert_eq!(arrived_before_stop, 4);
    assert_eq!(
        receiver.requests().len(),
        12,
        "nothing sent twice, nothing lost"
    );
}

#[actix_web::test]
async fn readyz_follows_start_up_and_shutdown() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    use actix::Actor as _;
    use actix_web::{test, web, App};

    let dir = tempfile::tempdir().expect("tempdir");
    let config = Arc::new(hookline::config::Config::default());
    let store = hookline::store::Store::open(&dir.path().join("h.redb")).expect("open");
    let errors = hookline::engine::ConfigErrors::default();
    let engine = hookline::engine::RuleEngine::new(store.clone(), config.clone(), errors.clone())
        .expect("engine")
        .start();
    let client = hookline::delivery::HttpClient::new(None).expect("client");
    let settings = hookline::delivery::QueueSettings {
        timeout: Duration::from_secs(1),
        max_in_flight: 1,
        policy: Arc::new(hookline::delivery::RetryPolicy {
            schedule: vec![],
            jitter: 0.0,
        }),
        retention: Duration::from_secs(3600),
        breaker: Arc::new(hookline::delivery::health::BreakerPolicy::default()),
        state_changes: None,
    };
    let supervisor =
        hookline::delivery::supervisor(store.clone(), client.clone(), settings).start();
    let ready = Arc::new(AtomicBool::new(false));
    let admin = hookline::admin::Admin::new(
        store.clone(),
        engine.clone(),
        hookline::admin::DeliverySide {
            wake: supervisor.clone().recipient(),
            health: supervisor.recipient(),
        },
        client,
        config.clone(),
        errors,
    );
    let state = hookline::http::AppState {
        store: store.clone(),
        engine,
        admin,
        config,
        admin_token: ADMIN.into(),
        ready: ready.clone(),
        cluster: None,
    };
    let app = test::init_service(
        App::new()
            .app_data(web::Data::new(state))
            .configure(hookline::http::routes),
    )
    .await;
    let readyz = || test::TestRequest::get().uri("/readyz").to_request();
    assert_eq!(
        test::call_service(&app, readyz()).await.status().as_u16(),
        503,
        "starting"
    );
    ready.store(true, Ordering::Release);
    assert_eq!(
        test::call_service(&app, readyz()).await.status().as_u16(),
        200,
        "running"
    );
    ready.store(false, Ordering::Release);
    assert_eq!(
        test::call_service(&app, readyz()).await.status().as_u16(),
        503,
        "stopping"
    );
    let health =
        test::call_service(&app, test::TestRequest::get().uri("/healthz").to_request()).await;
    assert_eq!(
        health.status().as_u16(),
        200,
        "healthz stays 200 while the process runs"
    );
}

#[test]
fn metrics_are_named_and_count() {
    let receiver = Receiver::start(Behaviour::Sequence(vec![500, 200]));
    let (_dir, d) = {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = Daemon::start_in(dir.path(), &fast_retries(3, "20ms", ""));
        (dir, d)
    };
    d.route("W", &receiver.url(), json!({}), BODY);
    let first = d.send_event("e1", 1);
    d.send_event("e2", 1); // same ticket: suppressed by the dedup window
    d.send_event("e3", 2);
    assert!(d.wait_status(&first[0], "succeeded", Duration::from_secs(20)));
    let scrape = || d.request("GET", "/metrics", None, None, None).text;
    assert!(eventually(Duration::from_secs(20), || metric(
        &scrape(),
        "hookline_delivery_attempts_total{result=\"success\",webhook=\"W\"}"
    ) == Some(2.0)));
    let text = scrape();
    assert_eq!(metric(&text, "hookline_events_total"), Some(3.0), "{text}");
    assert_eq!(
        metric(&text, "hookline_deliveries_created_total"),
        Some(2.0)
    );
    assert_eq!(
        metric(
            &text,
            "hookline_deliveries_suppressed_total{reason=\"dedup_window\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(
            &text,
            "hookline_delivery_attempts_total{result=\"http_error\",webhook=\"W\"}"
        ),
        Some(1.0)
    );
    assert_eq!(metric(&text, "hookline_deliveries_pending"), Some(0.0));
    assert_eq!(
        metric(
            &text,
            "hookline_delivery_duration_seconds_count{webhook=\"W\"}"
        ),
        Some(3.0)
    );
    assert!(metric(&text, "hookline_store_commit_seconds_count").is_some_and(|n| n >= 3.0));
    assert!(text.contains("hookline_webhook_in_flight{webhook=\"W\"}"));
    assert!(text.contains("hookline_webhook_queue_ready{webhook=\"W\"}"));
    assert!(!text.contains(ADMIN));
}

#[test]
fn check_reports_a_good_file_and_refuses_a_broken_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = Daemon::start_in(dir.path(), &format!("admin_token = {ADMIN:?}"));
    let wh = d.webhook("W");
    let sc = d.schema("S");
    let g = d.post(
        "/api/v1/rule-groups",
        json!({"name": "G", "rules": [{"name": "a"}, {"name": "b",
        "actions": {"webhooks": [{"webhook_id": wh, "schema_id": sc}]}}]}),
    );
    assert_eq!(g.status, 201);
    d.send_event("e1", 1);
    let config = write_config(dir.path(), &format!("admin_token = {ADMIN:?}"));
    let run = || {
        Command::new(binary())
            .args(["check", "--config"])
            .arg(&config)
            .output()
            .expect("run check")
    };
    let busy = run();
    assert!(
        busy.status.success(),
        "{}",
        String::from_utf8_lossy(&busy.stderr)
    );
    assert!(String::from_utf8_lossy(&busy.stdout).contains("in use by a running hookline"));
    assert_eq!(d.stop(), Some(0));

    let out = run();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("format version 2, 1 webhooks, 1 schemas, 1 rule groups with 2 rules, 1 events, 1 deliveries (1 pending)"), "{stdout}");
    assert!(!stdout.contains(ADMIN));

    std::fs::write(
        &config,
        "listen = \"127.0.0.1:1\"\n[delivery]\ntimeout = \"forever\"\n",
    )
    .expect("write");
    let out = run();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("delivery.timeout"));
}

#[test]
fn backup_while_running_restores_to_an_identical_daemon() {
    let dir = tempfile::tempdir().expect("tempdir");
    let extra = format!(
        // No breaker: its state event would add an event while the copy is made.
        "listen = \"127.0.0.1:{}\"\nadmin_token = {ADMIN:?}\n[delivery]\nretry_schedule = [\"1h\"]\n[delivery.breaker]\nfailures = 0",
        crate::common::free_port()
    );
    let d = Daemon::start_in(dir.path(), &extra);
    d.route(
        "W",
        "http://127.0.0.1:9/down",
        json!({"auth": {"type": "bearer", "token": "t"}}),
        BODY,
    );
    for i in 0..50 {
        d.send_event(&format!("e{i}"), i);
    }
    let config = write_config(dir.path(), &extra);
    let dest = dir.path().join("copy.redb");
    let out = Command::new(binary())
        .args(["backup", "--config"])
        .arg(&config)
        .arg(&dest)
        .output()
        .expect("run backup");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("50 events"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let lists = |d: &Daemon| -> Vec<serde_json::Value> {
        [
            "webhooks",
            "schemas",
            "rule-groups",
            "deliveries?limit=1000",
        ]
        .iter()
        .map(|p| d.get(&format!("/api/v1/{p}")).json)
        .collect()
    };
    let original = lists(&d);
    assert_eq!(d.get("/api/v1/events/e7").status, 200);

    let restored_dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(&dest, restored_dir.path().join("hookline.redb")).expect("restore");
    let restored = Daemon::start_in(restored_dir.path(), &format!("admin_token = {ADMIN:?}"));
    let mut copy = lists(&restored);
    // Deliveries keep being attempted in the original; compare what is stable.
    let strip = |v: &mut serde_json::Value| {
        for item in v["items"].as_array_mut().into_iter().flatten() {
            for k in ["attempt_count", "last_attempt", "next_attempt_at"] {
                item.as_object_mut().map(|o| o.remove(k));
            }
        }
    };
    let mut original = original;
    strip(&mut original[3]);
    strip(&mut copy[3]);
    // So does the webhooks' health, which those attempts move.
    for list in [&mut original[0], &mut copy[0]] {
        for item in list["items"].as_array_mut().into_iter().flatten() {
            item.as_object_mut().map(|o| o.remove("health"));
        }
    }
    assert_eq!(original, copy);
    assert_eq!(
        restored.get("/api/v1/events/e7").json["evaluation"],
        d.get("/api/v1/events/e7").json["evaluation"]
    );
    assert_eq!(d.stop(), Some(0));

    // Offline: the file is copied directly.
    let offline = dir.path().join("offline.redb");
    let out = Command::new(binary())
        .args(["backup", "--config"])
        .arg(&config)
        .arg(&offline)
        .output()
        .expect("run backup");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again = Command::new(binary())
        .args(["backup", "--config"])
        .arg(&config)
        .arg(&offline)
        .output()
        .expect("run backup");
    assert!(
        !again.status.success(),
        "an existing file is never overwritten"
    );
}
