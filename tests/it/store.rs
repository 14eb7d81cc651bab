//! The store directly: group commit, all-or-nothing ingestion, dedup pruning.

use std::sync::atomic::Ordering;
use std::time::Duration;

use hookline::model::{ContentType, IncomingEvent, TargetsView};
use hookline::store::{NewDelivery, PreparedEvent, Store};
use serde_json::json;

fn prepared(id: &str, ticket: u64) -> PreparedEvent {
    let event = IncomingEvent::parse(json!({"id": id, "type": "t", "ticket": {"id": ticket}}))
        .expect("valid event");
    PreparedEvent {
        event,
        matched_rules: Vec::new(),
        actions: TargetsView::default(),
        deliveries: vec![NewDelivery {
            webhook_id: "wh_a".into(),
            schema_id: "sc_a".into(),
            content_type: ContentType::Text,
            body: Ok(b"hello".to_vec()),
            webhook_enabled: true,
            seen_in_window: false,
            ordered: false,
            about_itself: false,
        }],
    }
}

#[actix_web::test]
async fn concurrent_writes_share_commits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("h.redb")).expect("open");
    let before = store.writer_stats().commits.load(Ordering::Relaxed);
    let writes = (0..400)
        .map(|i| store.ingest(vec![prepared(&format!("e{i}"), i)], Duration::from_secs(60)));
    let results = futures_util::future::join_all(writes).await;
    assert!(results.iter().all(Result::is_ok));
    let commits = store.writer_stats().commits.load(Ordering::Relaxed) - before;
    assert!(
        commits < 400,
        "400 concurrent writes took {commits} commits: no grouping"
    );
    for i in 0..400 {
        assert!(
            store.event(&format!("e{i}")).expect("read").is_some(),
            "e{i} acknowledged but missing"
        );
    }
    store.close();
}

#[actix_web::test]
async fn expired_dedup_keys_are_pruned() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("h.redb")).expect("open");
    let window = Duration::from_millis(50);
    store
        .ingest(vec![prepared("a", 1)], window)
        .await
        .expect("ingest");
    assert!(store
        .recently_fired("wh_a", "sc_a", "1", Duration::from_secs(60))
        .expect("read"));
    assert_eq!(
        store
            .prune_dedup(Duration::from_secs(60), 100)
            .await
            .expect("prune"),
        0,
        "not yet expired"
    );
    std::thread::sleep(Duration::from_millis(60));
    assert_eq!(store.prune_dedup(window, 100).await.expect("prune"), 1);
    assert!(
        !store
            .recently_fired("wh_a", "sc_a", "1", Duration::from_secs(3600))
            .expect("read"),
        "key removed"
    );
    let again = store
        .ingest(vec![prepared("b", 1)], window)
        .await
        .expect("ingest");
    assert_eq!(again[0].evaluation.deliveries.len(), 1);
    store.close();
}

#[actix_web::test]
async fn writes_after_close_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("h.redb")).expect("open");
    let other = store.clone();
    store.close();
    let err = other
        .ingest(vec![prepared("late", 1)], Duration::from_secs(1))
        .await
        .expect_err("closed");
    assert!(matches!(err, hookline::store::StoreError::Closed), "{err}");
}

#[actix_web::test]
async fn retention_prunes_finished_events_but_never_pending_ones() {
    use hookline::store::{AttemptRecord, NextState, RetentionCursor};
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("h.redb")).expect("open");
    let window = Duration::from_secs(60);
    let done = store
        .ingest(vec![prepared("done", 1)], window)
        .await
        .expect("ingest");
    let pending = store
        .ingest(vec![prepared("pending", 2)], window)
        .await
        .expect("ingest");
    let done_id = done[0].evaluation.deliveries[0].id.clone().expect("id");
    let record = AttemptRecord {
        delivery_id: done_id.clone(),
        started_ms: hookline::model::now_millis(),
        duration_ms: 1,
        status_code: Some(200),
        error: None,
        response_body: String::new(),
        next: NextState::Succeeded,
        probe: false,
    };
    store.record_attempt(record).await.expect("record");
    let mut cursor = RetentionCursor::default();
    assert_eq!(
        store
            .prune_retention(Duration::from_secs(3600), 100, &mut cursor)
            .await
            .expect("prune")
            .removed,
        0,
        "nothing is old yet"
    );
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(
        store
            .prune_retention(Duration::from_millis(10), 100, &mut cursor)
            .await
            .expect("prune")
            .removed,
        1
    );
    assert!(store.event("done").expect("read").is_none());
    assert!(
        store.delivery_detail(&done_id).expect("read").is_none(),
        "its delivery and attempts went too"
    );
    assert!(
        store.event("pending").expect("read").is_some(),
        "pending work is never pruned"
    );
    let pending_id = pending[0].evaluation.deliveries[0].id.clone().expect("id");
    assert!(store.delivery_detail(&pending_id).expect("read").is_some());
    store.close();
}

#[actix_web::test]
async fn a_pair_the_engine_saw_in_the_window_is_never_stored_without_a_body() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("h.redb")).expect("open");
    // The engine's read saw the key, then it expired before this commit.
    let mut event = prepared("late", 7);
    event.deliveries[0].seen_in_window = true;
    event.deliveries[0].body = Ok(Vec::new());
    let out = store
        .ingest(vec![event], Duration::from_secs(60))
        .await
        .expect("ingest");
    assert!(
        out[0].evaluation.deliveries.is_empty(),
        "no delivery with an unrendered body"
    );
    assert_eq!(out[0].evaluation.suppressed.len(), 1);
    assert!(
        !store
            .recently_fired("wh_a", "sc_a", "7", Duration::from_secs(60))
            .expect("read"),
        "no key set"
    );
    store.close();
}

/// Defect 1 of issue 10: pruning scanned from the oldest event every time and
/// stopped once a batch removed fewer than it looked at, so old events that
/// must be kept (pending deliveries) in front of prunable ones stopped it
/// for good. A sweep now steps over them with a cursor.
#[actix_web::test]
async fn retention_steps_over_old_events_it_must_keep() {
    use hookline::store::RetentionCursor;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("h.redb")).expect("open");
    let window = Duration::from_secs(60);
    // 25 old events with a pending delivery each, then 7 finished ones
    // (no delivery at all), all older than the retention.
    for i in 0..25 {
        store
            .ingest(vec![prepared(&format!("pending-{i}"), i)], window)
            .await
            .expect("ingest");
    }
    for i in 0..7 {
        let mut finished = prepared(&format!("finished-{i}"), 100 + i);
        finished.deliveries.clear();
        store.ingest(vec![finished], window).await.expect("ingest");
    }
    std::thread::sleep(Duration::from_millis(20));
    let retention = Duration::from_millis(10);
    let mut cursor = RetentionCursor::default();
    // Batches of 10: the first two hold only events that must stay.
    let removed = store
        .sweep_retention(retention, 10, 100, &mut cursor)
        .await
        .expect("sweep");
    assert_eq!(removed, 7, "every finished event behind the kept ones went");
    for i in 0..7 {
        assert!(store
            .event(&format!("finished-{i}"))
            .expect("read")
            .is_none());
    }
    for i in 0..25 {
        assert!(store
            .event(&format!("pending-{i}"))
            .expect("read")
            .is_some());
    }
    // A sweep bounded to one commit goes on where the last one stopped.
    for i in 0..7 {
        let mut finished = prepared(&format!("later-{i}"), 200 + i);
        finished.deliveries.clear();
        store.ingest(vec![finished], window).await.expect("ingest");
    }
    std::thread::sleep(Duration::from_millis(20));
    let mut cursor = RetentionCursor::default();
    let mut removed = 0;
    for _ in 0..4 {
        removed += store
            .sweep_retention(retention, 10, 1, &mut cursor)
            .await
            .expect("sweep");
    }
    assert_eq!(
        removed, 7,
        "four one-commit sweeps reach past 25 kept events"
    );
    store.close();
}
