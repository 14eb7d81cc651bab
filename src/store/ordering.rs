//! Per-ticket ordering (POLICIES.md, `ordering: "per_ticket"`): the
//! deliveries of one ticket to such a webhook go one at a time, in creation
//! order, across retries and restarts.
//!
//! Two tables keep it, written in the same transactions as the deliveries
//! they order, so a crash can never leave a ticket with two deliveries in
//! flight or none:
//! - `TURNS`: (webhook, ticket) → the delivery whose turn it is. Only that
//!   one is in the due index (it may be waiting for a retry);
//! - `LINE`: (webhook, ticket, sequence) → the deliveries waiting behind it,
//!   pending but in no due index, so no queue ever reads them (a ticket with
//!   10,000 waiting costs the queues nothing).
//!
//! When the delivery whose turn it is ends (succeeded, failed, cancelled),
//! the first in line gets the turn and becomes due at once. Other tickets,
//! and deliveries without a ticket, never touch these tables.

use redb::{ReadableTable, TableDefinition, WriteTransaction};

use super::codec::{decode_delivery, encode_delivery};
use super::{StoreError, DELIVERIES, DUE, META};
use crate::model::{Delivery, DeliveryStatus};

/// (webhook id, ticket id) → id of the delivery whose turn it is.
pub(crate) const TURNS: TableDefinition<(&str, &str), &str> = TableDefinition::new("turns");
/// (webhook id, ticket id, sequence) → id of a delivery waiting its turn.
pub(crate) const LINE: TableDefinition<(&str, &str, u64), &str> = TableDefinition::new("line");
/// The last sequence number given to a delivery in line.
const LINE_SEQ_KEY: &str = "line_seq";

/// Places a new pending delivery of an ordered webhook: it takes the turn
/// when its ticket has none (`None`: it is due), else joins the end of the
/// line (`Some(its place)`).
pub(super) fn join(
    txn: &WriteTransaction,
    webhook: &str,
    ticket: &str,
    delivery: &str,
) -> Result<Option<u64>, StoreError> {
    let mut turns = txn.open_table(TURNS)?;
    if turns.get((webhook, ticket))?.is_none() {
        turns.insert((webhook, ticket), delivery)?;
        return Ok(None);
    }
    let mut meta = txn.open_table(META)?;
    let seq = meta.get(LINE_SEQ_KEY)?.map_or(0, |v| v.value()) + 1;
    meta.insert(LINE_SEQ_KEY, seq)?;
    txn.open_table(LINE)?
        .insert((webhook, ticket, seq), delivery)?;
    Ok(Some(seq))
}

/// Where an ended delivery stood in its ticket's line, taken off the record
/// before it is saved (so an ended delivery is written once) and handed to
/// [`leave`] in the same transaction.
#[derive(Debug)]
pub(super) struct LineExit {
    webhook: String,
    ticket: String,
    id: String,
    /// Its place while it was still waiting; `None` when it had the turn.
    waiting: Option<u64>,
}

impl LineExit {
    /// Clears `delivery`'s line fields; `None` for a delivery not in a line.
    pub(super) fn take(delivery: &mut Delivery) -> Option<LineExit> {
        let ticket = delivery.ticket_id.clone().filter(|_| delivery.in_line)?;
        delivery.in_line = false;
        Some(LineExit {
            webhook: delivery.webhook_id.clone(),
            ticket,
            id: delivery.id.clone(),
            waiting: delivery.line_seq.take(),
        })
    }
}

/// A delivery of an ordered webhook ended. If it had the turn, the first in
/// line gets it and becomes due at `now_ms`; that delivery is returned so its
/// queue can be woken. If it was still waiting (cancelled), it leaves the line.
pub(super) fn leave(
    txn: &WriteTransaction,
    exit: &LineExit,
    now_ms: u64,
) -> Result<Option<Delivery>, StoreError> {
    let (webhook, ticket) = (exit.webhook.as_str(), exit.ticket.as_str());
    if let Some(seq) = exit.waiting {
        txn.open_table(LINE)?.remove((webhook, ticket, seq))?;
        return Ok(None);
    }
    let mut turns = txn.open_table(TURNS)?;
    let holder = turns.get((webhook, ticket))?.map(|v| v.value().to_string());
    if holder.as_deref() != Some(exit.id.as_str()) {
        return Ok(None); // not its turn (a stale flag): nothing to hand on
    }
    let next = {
        let line = txn.open_table(LINE)?;
        let mut rows = line.range((webhook, ticket, 0u64)..=(webhook, ticket, u64::MAX))?;
        let first = rows
            .next()
            .transpose()?
            .map(|(k, v)| (k.value().2, v.value().to_string()));
        first
    };
    let Some((seq, next_id)) = next else {
        turns.remove((webhook, ticket))?;
        return Ok(None);
    };
    txn.open_table(LINE)?.remove((webhook, ticket, seq))?;
    turns.insert((webhook, ticket), next_id.as_str())?;
    drop(turns);
    give_turn(txn, &next_id, now_ms)
}

/// Makes the delivery `id` due at `now_ms` as the one whose turn it is.
fn give_turn(
    txn: &WriteTransaction,
    id: &str,
    now_ms: u64,
) -> Result<Option<Delivery>, StoreError> {
    let mut deliveries = txn.open_table(DELIVERIES)?;
    let found = deliveries.get(id)?.map(|v| decode_delivery(id, v.value()));
    let Some(mut next) = found.transpose()? else {
        return Ok(None); // pruned: the line simply moves on next time
    };
    next.line_seq = None;
    if next.status == DeliveryStatus::Pending && next.next_attempt_ms.is_none() {
        next.next_attempt_ms = Some(now_ms);
        txn.open_table(DUE)?
            .insert((next.webhook_id.as_str(), now_ms, next.id.as_str()), ())?;
    }
    deliveries.insert(next.id.as_str(), encode_delivery(&next)?.as_slice())?;
    Ok(Some(next))
}

/// Every delivery of `webhook` waiting in a line (the webhook is being
/// deleted): their ids, with the lines and turns removed.
pub(super) fn clear_webhook(
    txn: &WriteTransaction,
    webhook: &str,
) -> Result<Vec<String>, StoreError> {
    let (waiting, tickets) = {
        let line = txn.open_table(LINE)?;
        let rows = line.range((webhook, "", 0u64)..=(webhook, "\u{10ffff}", u64::MAX))?;
        let waiting: Vec<(String, u64, String)> = rows
            .map(|row| {
                row.map(|(k, v)| {
                    let (_, ticket, seq) = k.value();
                    (ticket.to_string(), seq, v.value().to_string())
                })
            })
            .collect::<Result<_, _>>()?;
        let turns = txn.open_table(TURNS)?;
        let rows = turns.range((webhook, "")..=(webhook, "\u{10ffff}"))?;
        let tickets: Vec<String> = rows
            .map(|row| row.map(|(k, _)| k.value().1.to_string()))
            .collect::<Result<_, _>>()?;
        (waiting, tickets)
    };
    let mut line = txn.open_table(LINE)?;
    for (ticket, seq, _) in &waiting {
        line.remove((webhook, ticket.as_str(), *seq))?;
    }
    let mut turns = txn.open_table(TURNS)?;
    for ticket in &tickets {
        turns.remove((webhook, ticket.as_str()))?;
    }
    Ok(waiting.into_iter().map(|(_, _, id)| id).collect())
}

/// How many deliveries wait in lines (pending, but in no due index).
/// (A file from before ordering has no line: none wait.)
pub(super) fn waiting_count(txn: &redb::ReadTransaction) -> Result<u64, redb::Error> {
    use redb::ReadableTableMetadata as _;
    match txn.open_table(LINE) {
        Ok(t) => Ok(t.len()?),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(0),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::model::{ContentType, DeliveryStatus, IncomingEvent, TargetsView};
    use crate::store::{AttemptRecord, NewDelivery, NextState, PreparedEvent, Store};

    /// Three events of ticket 7 to one ordered webhook; their delivery ids.
    async fn three_in_line(store: &Store) -> Vec<String> {
        let events = (0..3)
            .map(|n| PreparedEvent {
                event: IncomingEvent::parse(serde_json::json!(
                    {"id": format!("e{n}"), "type": "t", "ticket": {"id": 7}}
                ))
                .expect("event"),
                matched_rules: Vec::new(),
                actions: TargetsView::default(),
                deliveries: vec![NewDelivery {
                    webhook_id: "wh_o".into(),
                    schema_id: "sc_o".into(),
                    content_type: ContentType::Text,
                    body: Ok(b"hi".to_vec()),
                    webhook_enabled: true,
                    seen_in_window: false,
                    ordered: true,
                    about_itself: false,
                }],
            })
            .collect();
        let out = store.ingest(events, Duration::ZERO).await.expect("ingest");
        out.iter()
            .map(|o| o.evaluation.deliveries[0].id.clone().expect("id"))
            .collect()
    }

    fn due_ids(store: &Store) -> Vec<String> {
        store
            .due("wh_o", u64::MAX, 10)
            .expect("due")
            .into_iter()
            .map(|e| e.delivery_id)
            .collect()
    }

    #[actix_web::test]
    async fn only_the_first_is_due_and_each_end_hands_the_turn_on_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("h.redb")).expect("open");
        let ids = three_in_line(&store).await;
        assert_eq!(due_ids(&store), vec![ids[0].clone()]);
        assert_eq!(
            store.pending_count().expect("count"),
            3,
            "waiting ones are pending"
        );
        // The head's success and its cancellation race: whichever commits
        // first ends it, and the turn moves on exactly one place.
        let success = AttemptRecord {
            delivery_id: ids[0].clone(),
            started_ms: crate::model::now_millis(),
            duration_ms: 1,
            status_code: Some(200),
            error: None,
            response_body: String::new(),
            next: NextState::Succeeded,
            probe: false,
        };
        let (recorded, cancelled) = tokio::join!(
            store.record_attempt(success),
            store.cancel_delivery(ids[0].clone())
        );
        assert!(recorded.is_ok());
        let _ = cancelled; // a conflict when the success came first
        assert_eq!(due_ids(&store), vec![ids[1].clone()]);
        let (third, _) = store
            .delivery_with_body(&ids[2])
            .expect("read")
            .expect("kept");
        assert_eq!(third.status, DeliveryStatus::Pending);
        assert_eq!(third.next_attempt_ms, None, "still waiting");
        // Cancelling a waiting one takes it out of line; the turn is not moved.
        store.cancel_delivery(ids[2].clone()).await.expect("cancel");
        assert_eq!(due_ids(&store), vec![ids[1].clone()]);
        // A backup keeps the line: its copy sends the same one next.
        let copy = dir.path().join("copy.redb");
        store.backup_to(&copy).expect("backup");
        let restored = Store::open(&copy).expect("open copy");
        assert_eq!(due_ids(&restored), vec![ids[1].clone()]);
        assert_eq!(restored.pending_count().expect("count"), 1);
        restored.close();
        store.cancel_delivery(ids[1].clone()).await.expect("cancel");
        assert!(due_ids(&store).is_empty());
        assert_eq!(store.pending_count().expect("count"), 0);
        store.close();
    }
}
