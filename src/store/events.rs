//! Durable ingestion: an event, its evaluation, its rendered deliveries and its
//! dedup keys are written by one writer job, so they commit together or not
//! at all. Idempotency and deduplication are decided inside that job, where
//! the write transaction sees every earlier job of the same batch: two
//! concurrent posts of one event id, or two events for one ticket, can never
//! both pass.

use std::time::Duration;

use redb::{ReadableDatabase, ReadableTable, WriteTransaction};

use super::codec::{decode_delivery, decode_event, encode_delivery, encode_event};
use super::{Store, StoreError, BODIES, DEDUP, DEDUP_TIMES, DELIVERIES, DUE, EVENTS, EVENT_TIMES};
use crate::model::{
    format_millis, ContentType, Delivery, DeliveryRef, DeliveryStatus, EvaluationView,
    IncomingEvent, MatchedRuleView, StoredEvent, SuppressReason, Suppressed, TargetsView,
};

/// A (webhook, schema) pair that the rules fired, rendered and ready to store.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub webhook_id: String,
    pub schema_id: String,
    pub content_type: ContentType,
    /// The rendered body, or why it could not be rendered (empty when the
    /// pair was not rendered because it will be suppressed).
    pub body: Result<Vec<u8>, String>,
    pub webhook_enabled: bool,
    /// A state-change event about this very webhook: never delivered to it.
    pub about_itself: bool,
    /// The engine saw the dedup key within the window and did not render:
    /// the pair is suppressed even if the key expires before the commit,
    /// since there is no body to send.
    pub seen_in_window: bool,
    /// The webhook orders its deliveries per ticket.
    pub ordered: bool,
}

/// An evaluated event, ready for the writer.
#[derive(Debug, Clone)]
pub struct PreparedEvent {
    pub event: IncomingEvent,
    pub matched_rules: Vec<MatchedRuleView>,
    pub actions: TargetsView,
    pub deliveries: Vec<NewDelivery>,
}

/// What ingestion stored for one event.
#[derive(Debug, Clone)]
pub struct IngestOutcome {
    pub evaluation: EvaluationView,
    /// (webhook id, delivery id) of each pending delivery created: the
    /// delivery queues to wake.
    pub created: Vec<(String, String)>,
}

/// The dedup key of a (webhook, schema, ticket) combination: the first 8
/// bytes of the SHA-256 of `webhook␟schema`, then the ticket id. A handful of
/// pairs cannot collide in 64 bits, and the ticket stays in the clear so
/// keys keep the order of format 1's text keys: one pair's keys sit side by
/// side in the B-tree, so a batch of events dirties few pages (hashing the
/// whole key scattered them and made ingestion 2.5 times slower).
pub(super) fn dedup_key(webhook_id: &str, schema_id: &str, ticket_id: &str) -> super::DedupKey {
    use sha2::Digest as _;
    let pair = sha2::Sha256::digest(format!("{webhook_id}\u{1f}{schema_id}").as_bytes());
    let mut key = Vec::with_capacity(8 + ticket_id.len());
    key.extend_from_slice(&pair[..8]);
    key.extend_from_slice(ticket_id.as_bytes());
    key
}

/// The key of format 1's text key `webhook␟schema␟ticket` (the migration).
pub(super) fn dedup_key_of(text: &str) -> super::DedupKey {
    let mut parts = text.splitn(3, '\u{1f}');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(w), Some(s), Some(t)) => dedup_key(w, s, t),
        _ => dedup_key(text, "", ""),
    }
}

impl Store {
    /// Stores `events` in order in one transaction, after their fsync'd
    /// commit. All or nothing: a storage failure stores none of them.
    pub async fn ingest(
        &self,
        events: Vec<PreparedEvent>,
        dedup_window: Duration,
    ) -> Result<Vec<IngestOutcome>, StoreError> {
        let window_ms = u64::try_from(dedup_window.as_millis()).unwrap_or(u64::MAX);
        self.writer
            .write(move |txn| {
                let now = crate::model::now_millis();
                let mut tables = IngestTables::open(txn)?;
                let outcomes = events
                    .into_iter()
                    .map(|e| ingest_one(&mut tables, e, now, window_ms))
                    .collect::<Result<Vec<_>, _>>()?;
                let tally = std::mem::take(&mut tables.tally);
                drop(tables);
                tally.apply(txn, now)?;
                Ok(outcomes)
            })
            .await
    }

    /// A stored event and its evaluation.
    pub fn event(&self, id: &str) -> Result<Option<StoredEvent>, StoreError> {
        let txn = self.db.get()?.begin_read()?;
        let table = txn.open_table(EVENTS)?;
        let found = table.get(id)?;
        found.map(|v| decode_event(v.value())).transpose()
    }

    /// The `limit` newest events by time received, newest first, with ids.
    pub fn recent_events(&self, limit: usize) -> Result<Vec<(String, StoredEvent)>, StoreError> {
        let txn = self.db.get()?.begin_read()?;
        let times = txn.open_table(EVENT_TIMES)?;
        let events = txn.open_table(EVENTS)?;
        let mut found = Vec::new();
        for row in times.range::<(u64, &str)>(..)?.rev() {
            if found.len() >= limit {
                break;
            }
            let (key, _) = row?;
            let id = key.value().1.to_string();
            if let Some(v) = events.get(id.as_str())? {
                found.push((id, decode_event(v.value())?));
            }
        }
        Ok(found)
    }

    /// Whether the combination fired less than `window` ago, from a read
    /// transaction: lets the engine skip rendering what will be suppressed.
    /// The writer decides again inside its transaction (see
    /// [`NewDelivery::seen_in_window`]).
    pub fn recently_fired(
        &self,
        webhook_id: &str,
        schema_id: &str,
        ticket_id: &str,
        window: Duration,
    ) -> Result<bool, StoreError> {
        let txn = self.db.get()?.begin_read()?;
        let table = txn.open_table(DEDUP)?;
        let fired = table
            .get(dedup_key(webhook_id, schema_id, ticket_id).as_slice())?
            .map(|v| v.value());
        let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
        Ok(fired.is_some_and(|at| at.saturating_add(window_ms) > crate::model::now_millis()))
    }

    /// Removes dedup keys older than `window`, at most `limit` per call;
    /// returns how many went.
    pub async fn prune_dedup(&self, window: Duration, limit: usize) -> Result<usize, StoreError> {
        let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
        self.writer
            .write(move |txn| {
                let cutoff = crate::model::now_millis().saturating_sub(window_ms);
                let mut times = txn.open_table(DEDUP_TIMES)?;
                let mut dedup = txn.open_table(DEDUP)?;
                let expired: Vec<(u64, super::DedupKey)> = times
                    .range::<(u64, &[u8])>(..(cutoff, &[][..]))?
                    .take(limit)
                    .map(|row| row.map(|(k, _)| (k.value().0, k.value().1.to_vec())))
                    .collect::<Result<_, _>>()?;
                for (fired, key) in &expired {
                    times.remove((*fired, key.as_slice()))?;
                    let current = dedup.get(key.as_slice())?.map(|v| v.value());
                    if current == Some(*fired) {
                        dedup.remove(key.as_slice())?;
                    }
                }
                Ok(expired.len())
            })
            .await
    }
}

/// The tables ingestion writes, opened once per job: a batch of 1000 events
/// would otherwise open them thousands of times.
struct IngestTables<'t> {
    events: redb::Table<'t, &'static str, &'static [u8]>,
    event_times: redb::Table<'t, (u64, &'static str), ()>,
    deliveries: redb::Table<'t, &'static str, &'static [u8]>,
    bodies: redb::Table<'t, &'static str, &'static [u8]>,
    due: redb::Table<'t, (&'static str, u64, &'static str), ()>,
    dedup: redb::Table<'t, &'static [u8], u64>,
    dedup_times: redb::Table<'t, (u64, &'static [u8]), ()>,
    /// Deliveries that fail at once (their body could not be rendered).
    tally: super::tally::Tally,
    /// For the tables only some deliveries need (per-ticket ordering).
    txn: &'t WriteTransaction,
}

impl<'t> IngestTables<'t> {
    fn open(txn: &'t WriteTransaction) -> Result<Self, StoreError> {
        Ok(IngestTables {
            events: txn.open_table(EVENTS)?,
            event_times: txn.open_table(EVENT_TIMES)?,
            deliveries: txn.open_table(DELIVERIES)?,
            bodies: txn.open_table(BODIES)?,
            due: txn.open_table(DUE)?,
            dedup: txn.open_table(DEDUP)?,
            dedup_times: txn.open_table(DEDUP_TIMES)?,
            tally: super::tally::Tally::default(),
            txn,
        })
    }
}

fn ingest_one(
    t: &mut IngestTables<'_>,
    prepared: PreparedEvent,
    now: u64,
    window_ms: u64,
) -> Result<IngestOutcome, StoreError> {
    let known = t
        .events
        .get(prepared.event.id.as_str())?
        .map(|v| decode_event(v.value()));
    if let Some(stored) = known.transpose()? {
        let mut evaluation = stored.evaluation;
        evaluation.duplicate = true;
        return Ok(IngestOutcome {
            evaluation,
            created: Vec::new(),
        });
    }
    let PreparedEvent {
        event,
        matched_rules,
        actions,
        deliveries,
    } = prepared;
    let mut evaluation = EvaluationView::new(event.id.clone(), matched_rules, actions);
    let mut created = Vec::new();
    for candidate in deliveries {
        if let Some(reason) =
            suppression(t, &candidate, event.ticket_id.as_deref(), now, window_ms)?
        {
            evaluation.suppressed.push(Suppressed {
                webhook_id: candidate.webhook_id,
                schema_id: candidate.schema_id,
                reason,
            });
            continue;
        }
        if let Some(ticket) = &event.ticket_id {
            mark_fired(
                t,
                &dedup_key(&candidate.webhook_id, &candidate.schema_id, ticket),
                now,
            )?;
        }
        // The body moves into the writer's row: a 1 MiB body is never
        // copied inside the single writer thread.
        let (webhook_id, schema_id) = (candidate.webhook_id.clone(), candidate.schema_id.clone());
        let sendable = candidate.body.is_ok();
        let delivery_id = store_delivery(t, &event, candidate, now)?;
        evaluation.deliveries.push(DeliveryRef {
            id: Some(delivery_id.clone()),
            webhook_id: webhook_id.clone(),
            schema_id,
        });
        if sendable {
            created.push((webhook_id, delivery_id));
        }
    }
    let stored = StoredEvent {
        received_at: format_millis(now),
        event: event.body,
        evaluation: evaluation.clone(),
    };
    t.events
        .insert(event.id.as_str(), encode_event(&stored)?.as_slice())?;
    t.event_times.insert((now, event.id.as_str()), ())?;
    Ok(IngestOutcome {
        evaluation,
        created,
    })
}

fn stored_event(txn: &WriteTransaction, id: &str) -> Result<Option<StoredEvent>, StoreError> {
    let table = txn.open_table(EVENTS)?;
    let found = table.get(id)?;
    found.map(|v| decode_event(v.value())).transpose()
}

/// Disabled webhooks and combinations that fired within the window give no
/// delivery; a suppressed trigger does not extend the window.
fn suppression(
    t: &IngestTables<'_>,
    candidate: &NewDelivery,
    ticket_id: Option<&str>,
    now: u64,
    window_ms: u64,
) -> Result<Option<SuppressReason>, StoreError> {
    if candidate.about_itself {
        return Ok(Some(SuppressReason::SelfStateEvent));
    }
    if !candidate.webhook_enabled {
        return Ok(Some(SuppressReason::WebhookDisabled));
    }
    if candidate.seen_in_window {
        return Ok(Some(SuppressReason::DedupWindow));
    }
    let Some(ticket) = ticket_id else {
        return Ok(None);
    };
    let key = dedup_key(&candidate.webhook_id, &candidate.schema_id, ticket);
    let fired = t.dedup.get(key.as_slice())?.map(|v| v.value());
    Ok(match fired {
        Some(at) if at.saturating_add(window_ms) > now => Some(SuppressReason::DedupWindow),
        _ => None,
    })
}

fn mark_fired(t: &mut IngestTables<'_>, key: &[u8], now: u64) -> Result<(), StoreError> {
    t.dedup.insert(key, now)?;
    t.dedup_times.insert((now, key), ())?;
    Ok(())
}

/// Writes the delivery, its body, and (when it can be sent) its due entry.
fn store_delivery(
    t: &mut IngestTables<'_>,
    event: &IncomingEvent,
    candidate: NewDelivery,
    now: u64,
) -> Result<String, StoreError> {
    let id = crate::model::new_id("dl");
    let (status, error, body) = match candidate.body {
        Ok(body) => (DeliveryStatus::Pending, None, body),
        Err(e) => (
            DeliveryStatus::Failed,
            Some(format!("render: {e}")),
            Vec::new(),
        ),
    };
    let pending = status == DeliveryStatus::Pending;
    t.tally.ended(status);
    // An ordered webhook's delivery is due only when its ticket's turn is
    // free; otherwise it waits in line (pending, in no due index).
    let in_line = pending && candidate.ordered && event.ticket_id.is_some();
    let waiting = match &event.ticket_id {
        Some(ticket) if in_line => {
            super::ordering::join(t.txn, &candidate.webhook_id, ticket, &id)?
        }
        _ => None,
    };
    let due = pending && waiting.is_none();
    let delivery = Delivery {
        id: id.clone(),
        event_id: event.id.clone(),
        webhook_id: candidate.webhook_id,
        schema_id: candidate.schema_id,
        ticket_id: event.ticket_id.clone(),
        status,
        attempt_count: 0,
        retry_base: 0,
        next_attempt_ms: due.then_some(now),
        created_at: format_millis(now),
        triggered_at: format_millis(now),
        content_type: candidate.content_type,
        last_attempt: None,
        error,
        in_line,
        line_seq: waiting,
    };
    t.deliveries
        .insert(id.as_str(), encode_delivery(&delivery)?.as_slice())?;
    t.bodies.insert(id.as_str(), body.as_slice())?;
    if due {
        t.due
            .insert((delivery.webhook_id.as_str(), now, id.as_str()), ())?;
    }
    Ok(id)
}

/// Where retention pruning stands in the `event_times` index: the last
/// event it looked at. Events that must be kept (a pending delivery) are
/// stepped over, not looked at again until the next pass.
#[derive(Debug, Clone, Default)]
pub struct RetentionCursor {
    after: Option<(u64, String)>,
}

/// What one pruning commit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PruneBatch {
    /// Events removed.
    pub removed: usize,
    /// Events looked at (removed or kept).
    pub scanned: usize,
}

impl Store {
    /// Removes events older than `retention` with their deliveries, bodies
    /// and attempts, looking at most at `limit` events after `cursor`, and
    /// moves the cursor past them. An event with a pending delivery is kept
    /// whole (pending work is never pruned). The cursor goes back to the
    /// oldest event once a pass reaches the cutoff.
    pub async fn prune_retention(
        &self,
        retention: Duration,
        limit: usize,
        cursor: &mut RetentionCursor,
    ) -> Result<PruneBatch, StoreError> {
        let retention_ms = u64::try_from(retention.as_millis()).unwrap_or(u64::MAX);
        let after = cursor.after.clone();
        let (batch, last) = self
            .writer
            .write(move |txn| {
                let cutoff = crate::model::now_millis().saturating_sub(retention_ms);
                let old: Vec<(u64, String)> = {
                    let times = txn.open_table(EVENT_TIMES)?;
                    let range = match &after {
                        Some((at, id)) => times.range::<(u64, &str)>((
                            std::ops::Bound::Excluded((*at, id.as_str())),
                            std::ops::Bound::Excluded((cutoff, "")),
                        ))?,
                        None => times.range::<(u64, &str)>(..(cutoff, ""))?,
                    };
                    range
                        .take(limit)
                        .map(|row| row.map(|(k, _)| (k.value().0, k.value().1.to_string())))
                        .collect::<Result<_, _>>()?
                };
                let mut removed = 0;
                for (at, id) in &old {
                    if prune_event(txn, *at, id)? {
                        removed += 1;
                    }
                }
                let batch = PruneBatch {
                    removed,
                    scanned: old.len(),
                };
                Ok((batch, old.into_iter().last()))
            })
            .await?;
        cursor.after = if batch.scanned < limit { None } else { last };
        Ok(batch)
    }

    /// One retention sweep: pruning commits of `batch` events each, from
    /// `cursor` on, until the pass reaches the cutoff or `max_batches`
    /// commits were made (the next sweep goes on from the cursor). Returns
    /// how many events went.
    pub async fn sweep_retention(
        &self,
        retention: Duration,
        batch: usize,
        max_batches: usize,
        cursor: &mut RetentionCursor,
    ) -> Result<usize, StoreError> {
        let mut removed = 0;
        for _ in 0..max_batches {
            let done = self.prune_retention(retention, batch, cursor).await?;
            removed += done.removed;
            if done.scanned < batch {
                break;
            }
        }
        Ok(removed)
    }
}

/// Removes one event and everything of it, unless a delivery is pending.
fn prune_event(txn: &WriteTransaction, at: u64, id: &str) -> Result<bool, StoreError> {
    let Some(stored) = stored_event(txn, id)? else {
        txn.open_table(EVENT_TIMES)?.remove((at, id))?;
        return Ok(false);
    };
    let delivery_ids: Vec<String> = stored
        .evaluation
        .deliveries
        .iter()
        .filter_map(|d| d.id.clone())
        .collect();
    {
        let deliveries = txn.open_table(DELIVERIES)?;
        for did in &delivery_ids {
            if let Some(v) = deliveries.get(did.as_str())? {
                if decode_delivery(did, v.value())?.status == DeliveryStatus::Pending {
                    return Ok(false);
                }
            }
        }
    }
    let mut attempts = txn.open_table(super::ATTEMPTS)?;
    for did in &delivery_ids {
        txn.open_table(DELIVERIES)?.remove(did.as_str())?;
        txn.open_table(BODIES)?.remove(did.as_str())?;
        attempts.retain_in((did.as_str(), 0u32)..=(did.as_str(), u32::MAX), |_, _| {
            false
        })?;
    }
    txn.open_table(EVENTS)?.remove(id)?;
    txn.open_table(EVENT_TIMES)?.remove((at, id))?;
    Ok(true)
}
