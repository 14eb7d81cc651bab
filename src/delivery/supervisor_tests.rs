//! The supervisor tested by its messages, with queues replaced by a probe
//! actor that records what it is told (the `QueueSpawner` makes that
//! possible: the supervisor never names the real queue).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;

use super::*;
use crate::delivery::messages::{QueueHandle, QueueStart};
use crate::delivery::RetryPolicy;
use crate::model::{Auth, Method};

/// Records every message a "queue" gets, as `"<webhook id> <message>"`.
struct Probe {
    id: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Probe {
    fn note(&self, what: &str) {
        if let Ok(mut l) = self.log.lock() {
            l.push(format!("{} {what}", self.id));
        }
    }
}

impl Actor for Probe {
    type Context = Context<Self>;
}

impl Handler<Wake> for Probe {
    type Result = ();
    fn handle(&mut self, _: Wake, _: &mut Context<Self>) {
        self.note("wake");
    }
}

impl Handler<UpdateWebhook> for Probe {
    type Result = ();
    fn handle(&mut self, msg: UpdateWebhook, _: &mut Context<Self>) {
        self.note(&format!("update {}", msg.0.name));
    }
}

impl Handler<Stop> for Probe {
    type Result = ();
    fn handle(&mut self, _: Stop, ctx: &mut Context<Self>) {
        self.note("stop");
        ctx.stop();
    }
}

impl Handler<crate::delivery::HealthReset> for Probe {
    type Result = ();
    fn handle(&mut self, _: crate::delivery::HealthReset, _: &mut Context<Self>) {
        self.note("health reset");
    }
}

impl Handler<InFlight> for Probe {
    type Result = usize;
    fn handle(&mut self, _: InFlight, _: &mut Context<Self>) -> usize {
        0
    }
}

fn webhook(id: &str, name: &str, enabled: bool) -> Webhook {
    Webhook {
        id: id.into(),
        name: name.into(),
        url: "http://127.0.0.1:9/".into(),
        method: Method::Post,
        auth: Auth::None,
        headers: Default::default(),
        signing_secret: None,
        enabled,
        timeout: None,
        rate_limit: None,
        retry_schedule: None,
        signing_previous: Vec::new(),
        client_certificate: None,
        ordering: Default::default(),
        created_at: String::new(),
        updated_at: String::new(),
    }
}

struct Setup {
    supervisor: Addr<RetrySupervisor>,
    log: Arc<Mutex<Vec<String>>>,
    started: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("h.redb")).expect("open");
    let log: Arc<Mutex<Vec<String>>> = Arc::default();
    let started: Arc<Mutex<Vec<String>>> = Arc::default();
    let (spawn_log, spawn_started) = (log.clone(), started.clone());
    let spawn: QueueSpawner = Arc::new(move |start: QueueStart| {
        if let Ok(mut s) = spawn_started.lock() {
            s.push(start.webhook.id.clone());
        }
        let probe = Probe {
            id: start.webhook.id.clone(),
            log: spawn_log.clone(),
        };
        let addr = Probe::start_in_arbiter(&start.arbiter, move |_| probe);
        QueueHandle {
            health: addr.clone().recipient(),
            wake: addr.clone().recipient(),
            update: addr.clone().recipient(),
            stop: addr.clone().recipient(),
            in_flight: addr.recipient(),
        }
    });
    let settings = QueueSettings {
        timeout: Duration::from_secs(1),
        max_in_flight: 1,
        policy: Arc::new(RetryPolicy {
            schedule: vec![],
            jitter: 0.0,
        }),
        retention: Duration::from_secs(3600),
        breaker: Arc::new(crate::delivery::health::BreakerPolicy::default()),
        state_changes: None,
    };
    let client = HttpClient::new(None).expect("client");
    let supervisor = RetrySupervisor::new(store, client, settings, spawn).start();
    Setup {
        supervisor,
        log,
        started,
        _dir: dir,
    }
}

/// Polls `log` until it holds `entry` (bounded: 2 s).
async fn saw(log: &Arc<Mutex<Vec<String>>>, entry: &str) -> bool {
    for _ in 0..200 {
        if log.lock().is_ok_and(|l| l.iter().any(|e| e == entry)) {
            return true;
        }
        actix_web::rt::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

#[actix_web::test]
async fn queues_follow_the_webhook_list() {
    let s = setup();
    s.supervisor
        .send(SyncWebhooks(vec![
            webhook("wh_a", "a", true),
            webhook("wh_b", "b", false),
        ]))
        .await
        .expect("sync");
    assert_eq!(
        *s.started.lock().expect("lock"),
        vec!["wh_a".to_string()],
        "only enabled ones start"
    );
    s.supervisor
        .send(SyncWebhooks(vec![webhook("wh_a", "renamed", true)]))
        .await
        .expect("sync");
    assert!(
        saw(&s.log, "wh_a update renamed").await,
        "a running queue is updated, not restarted"
    );
    assert_eq!(s.started.lock().expect("lock").len(), 1);
    s.supervisor.send(SyncWebhooks(vec![])).await.expect("sync");
    assert!(
        saw(&s.log, "wh_a stop").await,
        "a deleted webhook's queue stops"
    );
}

#[actix_web::test]
async fn new_deliveries_a_manual_retry_and_a_due_time_wake_the_queue() {
    let s = setup();
    s.supervisor
        .send(SyncWebhooks(vec![webhook("wh_a", "a", true)]))
        .await
        .expect("sync");
    s.supervisor
        .do_send(DeliveriesCreated(vec![("wh_a".into(), "dl_1".into())]));
    assert!(saw(&s.log, "wh_a wake").await);
    s.log.lock().expect("lock").clear();
    s.supervisor.do_send(DeliveryDue {
        webhook_id: "wh_a".into(),
    });
    assert!(saw(&s.log, "wh_a wake").await);
    s.log.lock().expect("lock").clear();
    s.supervisor.do_send(Schedule {
        webhook_id: "wh_a".into(),
        at_ms: crate::model::now_millis() + 50,
    });
    assert!(
        saw(&s.log, "wh_a wake").await,
        "the timer wakes it at its due time"
    );
}

#[actix_web::test]
async fn after_drain_no_queue_starts_again() {
    let s = setup();
    s.supervisor
        .send(SyncWebhooks(vec![webhook("wh_a", "a", true)]))
        .await
        .expect("sync");
    let left = s
        .supervisor
        .send(Drain {
            grace: Duration::from_secs(1),
        })
        .await
        .expect("drain");
    assert_eq!(left, 0);
    assert!(saw(&s.log, "wh_a stop").await);
    s.supervisor
        .send(SyncWebhooks(vec![webhook("wh_b", "b", true)]))
        .await
        .expect("sync");
    assert_eq!(
        s.started.lock().expect("lock").len(),
        1,
        "shutdown starts nothing"
    );
}
