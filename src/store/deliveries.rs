//! Deliveries after creation: the due index the queues read, attempt
//! outcomes, manual retry and cancel, listings, and cancelling a deleted
//! webhook's backlog.
//!
//! A delivery stays in the due index while it is in flight: if the daemon
//! dies between sending and recording, the next start sends it again (at
//! least once). Recording an outcome moves or removes its due entry in the
//! same transaction that stores the attempt.

use redb::{ReadableDatabase, ReadableTable, WriteTransaction};

use super::codec::{decode_attempt, decode_delivery, encode_attempt, encode_delivery};
use super::{Store, StoreError, ATTEMPTS, BODIES, DELIVERIES, DUE};
use crate::model::{format_millis, Attempt, AttemptSummary, Delivery, DeliveryStatus};

/// A delivery whose time has come, as the queue sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueEntry {
    pub due_ms: u64,
    pub delivery_id: String,
}

/// A delivery with everything stored about it.
#[derive(Debug, Clone)]
pub struct DeliveryDetail {
    pub delivery: Delivery,
    pub body: Vec<u8>,
    pub attempts: Vec<Attempt>,
}

/// What becomes of a pending delivery after an attempt. Decided by
/// `delivery::decide` (the one place that says what an outcome means); the
/// store only persists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextState {
    Succeeded,
    /// Pending, next attempt at this unix ms.
    RetryAt(u64),
    /// The schedule is used up.
    Failed,
}

/// The outcome of one attempt, to be recorded.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub delivery_id: String,
    pub started_ms: u64,
    pub duration_ms: u64,
    pub status_code: Option<u16>,
    pub error: Option<String>,
    pub response_body: String,
    /// Applied only while the delivery is still pending (a delivery cancelled
    /// while its request ran keeps its status).
    pub next: NextState,
    /// The probe of an open circuit: recorded as an attempt, but a failed
    /// probe does not count against the delivery's schedule.
    pub probe: bool,
}

/// A webhook's health to store with a batch of its outcomes.
pub type HealthRecord = (String, crate::model::Health);

/// Filters of `GET /api/v1/deliveries`.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    pub status: Option<DeliveryStatus>,
    pub webhook_id: Option<String>,
    pub event_id: Option<String>,
    pub ticket_id: Option<String>,
}

impl DeliveryFilter {
    fn accepts(&self, d: &Delivery) -> bool {
        self.status.is_none_or(|s| s == d.status)
            && self.webhook_id.as_ref().is_none_or(|w| *w == d.webhook_id)
            && self.event_id.as_ref().is_none_or(|e| *e == d.event_id)
            && self
                .ticket_id
                .as_ref()
                .is_none_or(|t| d.ticket_id.as_ref() == Some(t))
    }
}

/// Most records one listing looks at before it answers with a cursor, so a
/// rare filter over a large history cannot make one request scan it all.
const MAX_SCANNED_PER_PAGE: usize = 100_000;

impl Store {
    /// Up to `limit` due entries of `webhook_id` with a due time ≤ `now_ms`,
    /// earliest first.
    pub fn due(
        &self,
        webhook_id: &str,
        now_ms: u64,
        limit: usize,
    ) -> Result<Vec<DueEntry>, StoreError> {
        let txn = self.db.get()?.begin_read()?;
        let table = txn.open_table(DUE)?;
        let mut out = Vec::new();
        for row in table
            .range((webhook_id, 0u64, "")..=(webhook_id, now_ms, "\u{10ffff}"))?
            .take(limit)
        {
            let (key, _) = row?;
            let (_, due_ms, id) = key.value();
            out.push(DueEntry {
                due_ms,
                delivery_id: id.to_string(),
            });
        }
        Ok(out)
    }

    /// The earliest due time of `webhook_id` after `after_ms`, if any.
    pub fn next_due_after(
        &self,
        webhook_id: &str,
        after_ms: u64,
    ) -> Result<Option<u64>, StoreError> {
        let txn = self.db.get()?.begin_read()?;
        let table = txn.open_table(DUE)?;
        let mut range = table.range(
            (webhook_id, after_ms.saturating_add(1), "")..=(webhook_id, u64::MAX, "\u{10ffff}"),
        )?;
        match range.next() {
            Some(row) => Ok(Some(row?.0.value().1)),
            None => Ok(None),
        }
    }

    /// How many deliveries are pending, in all.
    pub fn pending_count(&self) -> Result<u64, StoreError> {
        use redb::ReadableTableMetadata as _;
        let txn = self.db.get()?.begin_read()?;
        // Deliveries waiting for their ticket's turn are pending too.
        Ok(txn.open_table(DUE)?.len()? + super::ordering::waiting_count(&txn)?)
    }

    /// A delivery and its body.
    pub fn delivery_with_body(&self, id: &str) -> Result<Option<(Delivery, Vec<u8>)>, StoreError> {
        let txn = self.db.get()?.begin_read()?;
        let Some(delivery) = txn
            .open_table(DELIVERIES)?
            .get(id)?
            .map(|v| decode_delivery(id, v.value()))
            .transpose()?
        else {
            return Ok(None);
        };
        let body = txn
            .open_table(BODIES)?
            .get(id)?
            .map(|v| v.value().to_vec())
            .unwrap_or_default();
        Ok(Some((delivery, body)))
    }

    /// A delivery, its body and every attempt, for the detail view.
    pub fn delivery_detail(&self, id: &str) -> Result<Option<DeliveryDetail>, StoreError> {
        let Some((delivery, body)) = self.delivery_with_body(id)? else {
            return Ok(None);
        };
        let txn = self.db.get()?.begin_read()?;
        let table = txn.open_table(ATTEMPTS)?;
        let mut attempts = Vec::new();
        for row in table.range((id, 0u32)..=(id, u32::MAX))? {
            attempts.push(decode_attempt(row?.1.value())?);
        }
        Ok(Some(DeliveryDetail {
            delivery,
            body,
            attempts,
        }))
    }

    /// Deliveries newest first, starting after the cursor `before` (a
    /// delivery id). Returns the page and the cursor of the next one.
    pub fn list_deliveries(
        &self,
        filter: &DeliveryFilter,
        limit: usize,
        before: Option<&str>,
    ) -> Result<(Vec<Delivery>, Option<String>), StoreError> {
        self.list_deliveries_scanning(filter, limit, before, MAX_SCANNED_PER_PAGE)
    }

    /// Like [`Store::list_deliveries`], reading at most `max_scanned`
    /// deliveries for the page (a filter that matches few returns a short
    /// page and the cursor to go on from).
    pub fn list_deliveries_scanning(
        &self,
        filter: &DeliveryFilter,
        limit: usize,
        before: Option<&str>,
        max_scanned: usize,
    ) -> Result<(Vec<Delivery>, Option<String>), StoreError> {
        let txn = self.db.get()?.begin_read()?;
        let table = txn.open_table(DELIVERIES)?;
        let range = match before {
            Some(cursor) => table.range::<&str>(..cursor)?,
            None => table.range::<&str>(..)?,
        };
        let mut items = Vec::new();
        for (scanned, row) in range.rev().enumerate() {
            let (key, value) = row?;
            let delivery = decode_delivery(key.value(), value.value())?;
            let accepted = filter.accepts(&delivery);
            if accepted {
                items.push(delivery);
            }
            if items.len() == limit || scanned + 1 >= max_scanned {
                return Ok((items, Some(key.value().to_string())));
            }
        }
        Ok((items, None))
    }

    /// Stores attempts and moves each delivery on as its record says. A
    /// delivery that is no longer pending (cancelled while in flight) keeps
    /// its status. One writer job for many outcomes of one queue.
    pub async fn record_attempts(
        &self,
        records: Vec<AttemptRecord>,
    ) -> Result<Vec<Delivery>, StoreError> {
        self.record_attempts_taken(move || records).await
    }

    /// Like [`Store::record_attempts`], but the records are taken by `take`
    /// when the writer gets to the job, not when it is queued: outcomes that
    /// arrive while the job waits for its turn still go into it, so each
    /// waits for at most the commit running now and its own.
    pub async fn record_attempts_taken<F>(&self, take: F) -> Result<Vec<Delivery>, StoreError>
    where
        F: FnOnce() -> Vec<AttemptRecord> + Send + 'static,
    {
        self.record_outcomes_taken(move || (take(), None)).await
    }

    /// Like [`Store::record_attempts_taken`], with the webhook's health as it
    /// stands after these outcomes, written in the same transaction.
    pub async fn record_outcomes_taken<F>(&self, take: F) -> Result<Vec<Delivery>, StoreError>
    where
        F: FnOnce() -> (Vec<AttemptRecord>, Option<HealthRecord>) + Send + 'static,
    {
        self.writer
            .write(move |txn| {
                let (records, health) = take();
                let mut deliveries = txn.open_table(DELIVERIES)?;
                let mut attempts = txn.open_table(ATTEMPTS)?;
                let mut due = txn.open_table(DUE)?;
                let mut out = Vec::with_capacity(records.len());
                let mut tally = super::tally::Tally::default();
                let mut exits = Vec::new();
                for record in records {
                    let found = deliveries
                        .get(record.delivery_id.as_str())?
                        .map(|v| decode_delivery(&record.delivery_id, v.value()));
                    let Some(mut delivery) = found.transpose()? else {
                        continue; // pruned or never existed: nothing to record
                    };
                    apply_attempt(&mut attempts, &mut due, &mut delivery, record, &mut tally)?;
                    if delivery.status != DeliveryStatus::Pending {
                        exits.extend(super::ordering::LineExit::take(&mut delivery));
                    }
                    deliveries
                        .insert(delivery.id.as_str(), encode_delivery(&delivery)?.as_slice())?;
                    out.push(delivery);
                }
                drop((deliveries, attempts, due));
                let now = crate::model::now_millis();
                // Ended deliveries hand their ticket's turn on; the next in
                // line is returned after the recorded ones, so the queue
                // schedules it.
                for exit in &exits {
                    out.extend(super::ordering::leave(txn, exit, now)?);
                }
                tally.apply(txn, now)?;
                if let Some((webhook, health)) = health {
                    super::health::save_health(txn, &webhook, &health)?;
                }
                Ok(out)
            })
            .await
    }

    /// One attempt; see [`Store::record_attempts`].
    pub async fn record_attempt(&self, record: AttemptRecord) -> Result<Delivery, StoreError> {
        let id = record.delivery_id.clone();
        self.record_attempts(vec![record])
            .await?
            .pop()
            .ok_or_else(|| {
                tracing::debug!(delivery = %id, "attempt for a delivery that is gone");
                StoreError::NotFound
            })
    }

    /// `POST /deliveries/{id}/cancel`: a pending delivery becomes cancelled.
    pub async fn cancel_delivery(&self, id: String) -> Result<Delivery, StoreError> {
        self.writer
            .write(move |txn| {
                let mut delivery = load(txn, &id)?;
                if delivery.status != DeliveryStatus::Pending {
                    return Err(StoreError::Conflict(format!(
                        "only a pending delivery can be cancelled; this one is {}",
                        delivery.status.as_str()
                    )));
                }
                reschedule(txn, &mut delivery, DeliveryStatus::Cancelled, None)?;
                let exit = super::ordering::LineExit::take(&mut delivery);
                save(txn, &delivery)?;
                if let Some(exit) = exit {
                    super::ordering::leave(txn, &exit, crate::model::now_millis())?;
                }
                Ok(delivery)
            })
            .await
    }

    /// `POST /deliveries/{id}/retry`: a finished delivery is sent again now,
    /// with a fresh set of retries.
    pub async fn retry_delivery(&self, id: String) -> Result<Delivery, StoreError> {
        self.writer
            .write(move |txn| {
                let mut delivery = load(txn, &id)?;
                if delivery.status == DeliveryStatus::Pending {
                    return Err(StoreError::Conflict("the delivery is still pending".into()));
                }
                if delivery.error.is_some() {
                    return Err(StoreError::Conflict(
                        "the body of this delivery could not be rendered; there is nothing to send"
                            .into(),
                    ));
                }
                // No queue would ever send it: it would stay pending for good.
                if txn
                    .open_table(super::WEBHOOKS)?
                    .get(delivery.webhook_id.as_str())?
                    .is_none()
                {
                    return Err(StoreError::Conflict(
                        "its webhook was deleted; there is nowhere to send it".into(),
                    ));
                }
                delivery.retry_base = delivery.attempt_count;
                reschedule(
                    txn,
                    &mut delivery,
                    DeliveryStatus::Pending,
                    Some(crate::model::now_millis()),
                )?;
                save(txn, &delivery)?;
                Ok(delivery)
            })
            .await
    }
}

/// Cancels every pending delivery of a webhook (it is being deleted). Reads
/// everything before its first write (the writer's contract): a due entry
/// whose delivery is missing is dropped rather than failing half-way.
pub(super) fn cancel_all_of_webhook(
    txn: &WriteTransaction,
    webhook_id: &str,
) -> Result<usize, StoreError> {
    let keys: Vec<(u64, String)> = {
        let due = txn.open_table(DUE)?;
        let rows = due.range((webhook_id, 0u64, "")..=(webhook_id, u64::MAX, "\u{10ffff}"))?;
        rows.map(|row| row.map(|(k, _)| (k.value().1, k.value().2.to_string())))
            .collect::<Result<_, _>>()?
    };
    let waiting = super::ordering::clear_webhook(txn, webhook_id)?;
    let mut found = Vec::with_capacity(keys.len() + waiting.len());
    {
        let deliveries = txn.open_table(DELIVERIES)?;
        let ids = keys.iter().map(|(_, id)| id).chain(waiting.iter());
        for id in ids {
            if let Some(v) = deliveries.get(id.as_str())? {
                found.push(decode_delivery(id, v.value())?);
            }
        }
    }
    let mut due = txn.open_table(DUE)?;
    for (at, id) in &keys {
        due.remove((webhook_id, *at, id.as_str()))?;
    }
    drop(due);
    for mut delivery in found.iter().cloned() {
        delivery.next_attempt_ms = None; // its due entry went above
        delivery.status = DeliveryStatus::Cancelled;
        (delivery.in_line, delivery.line_seq) = (false, None); // the lines went too
        save(txn, &delivery)?;
    }
    Ok(found.len())
}

type DueTable<'t> = redb::Table<'t, (&'static str, u64, &'static str), ()>;
type AttemptTable<'t> = redb::Table<'t, (&'static str, u32), &'static [u8]>;

/// Stores the attempt row and moves the delivery's status and due entry.
fn apply_attempt(
    attempts: &mut AttemptTable<'_>,
    due: &mut DueTable<'_>,
    delivery: &mut Delivery,
    record: AttemptRecord,
    tally: &mut super::tally::Tally,
) -> Result<(), StoreError> {
    delivery.attempt_count += 1;
    let succeeded = matches!(record.next, NextState::Succeeded);
    let summary = AttemptSummary {
        n: delivery.attempt_count,
        started_at: format_millis(record.started_ms),
        duration_ms: record.duration_ms,
        status_code: record.status_code,
        error: record.error,
    };
    let attempt = Attempt {
        summary: summary.clone(),
        response_body: record.response_body,
        probe: record.probe,
    };
    attempts.insert(
        (delivery.id.as_str(), delivery.attempt_count),
        encode_attempt(&attempt)?.as_slice(),
    )?;
    delivery.last_attempt = Some(summary);
    if delivery.status != DeliveryStatus::Pending {
        return Ok(());
    }
    if record.probe && !succeeded {
        // Waiting behind an open circuit uses up no retries.
        delivery.retry_base += 1;
    }
    let (status, next) = match record.next {
        NextState::Succeeded => (DeliveryStatus::Succeeded, None),
        NextState::RetryAt(at) => (DeliveryStatus::Pending, Some(at)),
        NextState::Failed => (DeliveryStatus::Failed, None),
    };
    tally.ended(status);
    move_due(due, delivery, status, next)
}

fn load(txn: &WriteTransaction, id: &str) -> Result<Delivery, StoreError> {
    let table = txn.open_table(DELIVERIES)?;
    let found = table.get(id)?;
    match found {
        Some(v) => decode_delivery(id, v.value()),
        None => Err(StoreError::NotFound),
    }
}

pub(super) fn save(txn: &WriteTransaction, delivery: &Delivery) -> Result<(), StoreError> {
    txn.open_table(DELIVERIES)?
        .insert(delivery.id.as_str(), encode_delivery(delivery)?.as_slice())?;
    Ok(())
}

/// Sets status and next attempt, keeping the due index in step: only
/// pending deliveries are in it, under their next attempt time.
pub(super) fn reschedule(
    txn: &WriteTransaction,
    delivery: &mut Delivery,
    status: DeliveryStatus,
    next_ms: Option<u64>,
) -> Result<(), StoreError> {
    move_due(&mut txn.open_table(DUE)?, delivery, status, next_ms)
}

fn move_due(
    due: &mut DueTable<'_>,
    delivery: &mut Delivery,
    status: DeliveryStatus,
    next_ms: Option<u64>,
) -> Result<(), StoreError> {
    if let Some(old) = delivery.next_attempt_ms {
        due.remove((delivery.webhook_id.as_str(), old, delivery.id.as_str()))?;
    }
    delivery.status = status;
    delivery.next_attempt_ms = if status == DeliveryStatus::Pending {
        next_ms
    } else {
        None
    };
    if let Some(at) = delivery.next_attempt_ms {
        due.insert((delivery.webhook_id.as_str(), at, delivery.id.as_str()), ())?;
    }
    Ok(())
}
