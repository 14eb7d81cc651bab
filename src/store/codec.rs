//! Format 2 of the records written most: deliveries and their attempts
//! (issue 16), and events (their JSON compressed, see [`encode_event`]).
//! For deliveries and attempts, a tag byte and then postcard — field values in order, integers
//! as varints, times as unix milliseconds, statuses as one byte, no member
//! names and no id the key already holds — instead of format 1's JSON.
//!
//! Reads take either format: a format-1 record is JSON and starts with `{`,
//! a format-2 record starts with [`TAG_V2`]. So a file is readable at every
//! point of its migration, and the migration is only an optimisation that
//! may stop and resume anywhere (`store::migrate`).

use serde::{Deserialize, Serialize};

use super::StoreError;
use crate::model::{format_millis, Attempt, AttemptSummary, ContentType, Delivery, DeliveryStatus};

/// The first byte of a format-2 record (a JSON record starts with `{`).
pub const TAG_V2: u8 = 2;

/// Whether `bytes` is a format-1 (JSON) record.
pub fn is_format1(bytes: &[u8]) -> bool {
    bytes.first() == Some(&b'{')
}

#[derive(Serialize, Deserialize)]
struct DeliveryV2 {
    event_id: String,
    webhook_id: String,
    schema_id: String,
    ticket_id: Option<String>,
    status: u8,
    attempt_count: u32,
    retry_base: u32,
    next_attempt_ms: Option<u64>,
    created_ms: u64,
    triggered_ms: u64,
    content_type: u8,
    last_attempt: Option<SummaryV2>,
    error: Option<String>,
    in_line: bool,
    line_seq: Option<u64>,
}

#[derive(Serialize, Deserialize)]
struct SummaryV2 {
    n: u32,
    started_ms: u64,
    duration_ms: u64,
    status_code: Option<u16>,
    error: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct AttemptV2 {
    summary: SummaryV2,
    response_body: String,
    probe: bool,
}

fn status_byte(s: DeliveryStatus) -> u8 {
    match s {
        DeliveryStatus::Pending => 0,
        DeliveryStatus::Succeeded => 1,
        DeliveryStatus::Failed => 2,
        DeliveryStatus::Cancelled => 3,
    }
}

fn status_of(b: u8) -> Result<DeliveryStatus, StoreError> {
    Ok(match b {
        0 => DeliveryStatus::Pending,
        1 => DeliveryStatus::Succeeded,
        2 => DeliveryStatus::Failed,
        3 => DeliveryStatus::Cancelled,
        other => return Err(corrupt(format!("delivery status {other}"))),
    })
}

fn content_byte(c: ContentType) -> u8 {
    match c {
        ContentType::Text => 0,
        ContentType::Json => 1,
        ContentType::Xml => 2,
    }
}

fn content_of(b: u8) -> Result<ContentType, StoreError> {
    Ok(match b {
        0 => ContentType::Text,
        1 => ContentType::Json,
        2 => ContentType::Xml,
        other => return Err(corrupt(format!("content type {other}"))),
    })
}

fn corrupt(what: String) -> StoreError {
    StoreError::Corrupt(format!("a record: {what}"))
}

/// A stored time (written by `format_millis`) as unix milliseconds.
fn millis(text: &str) -> Result<u64, StoreError> {
    humantime::parse_rfc3339_weak(text)
        .map(crate::model::millis_of)
        .map_err(|e| corrupt(format!("time {text:?}: {e}")))
}

fn tagged<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    let mut out = vec![TAG_V2];
    postcard::to_io(value, &mut out)
        .map_err(|e| StoreError::Unavailable(format!("encode: {e}")))?;
    Ok(out)
}

fn untagged<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, StoreError> {
    match bytes.split_first() {
        Some((&TAG_V2, rest)) => postcard::from_bytes(rest).map_err(|e| corrupt(e.to_string())),
        _ => Err(corrupt("neither JSON nor format 2".into())),
    }
}

fn summary_v2(s: &AttemptSummary) -> Result<SummaryV2, StoreError> {
    Ok(SummaryV2 {
        n: s.n,
        started_ms: millis(&s.started_at)?,
        duration_ms: s.duration_ms,
        status_code: s.status_code,
        error: s.error.clone(),
    })
}

fn summary_of(s: SummaryV2) -> AttemptSummary {
    AttemptSummary {
        n: s.n,
        started_at: format_millis(s.started_ms),
        duration_ms: s.duration_ms,
        status_code: s.status_code,
        error: s.error,
    }
}

/// A delivery in format 2 (its id is the key, not repeated here).
pub fn encode_delivery(d: &Delivery) -> Result<Vec<u8>, StoreError> {
    tagged(&DeliveryV2 {
        event_id: d.event_id.clone(),
        webhook_id: d.webhook_id.clone(),
        schema_id: d.schema_id.clone(),
        ticket_id: d.ticket_id.clone(),
        status: status_byte(d.status),
        attempt_count: d.attempt_count,
        retry_base: d.retry_base,
        next_attempt_ms: d.next_attempt_ms,
        created_ms: millis(&d.created_at)?,
        triggered_ms: millis(&d.triggered_at)?,
        content_type: content_byte(d.content_type),
        last_attempt: d.last_attempt.as_ref().map(summary_v2).transpose()?,
        error: d.error.clone(),
        in_line: d.in_line,
        line_seq: d.line_seq,
    })
}

/// The delivery stored under `id`, in either format.
pub fn decode_delivery(id: &str, bytes: &[u8]) -> Result<Delivery, StoreError> {
    if is_format1(bytes) {
        return super::decode(bytes);
    }
    let v: DeliveryV2 = untagged(bytes)?;
    Ok(Delivery {
        id: id.to_string(),
        event_id: v.event_id,
        webhook_id: v.webhook_id,
        schema_id: v.schema_id,
        ticket_id: v.ticket_id,
        status: status_of(v.status)?,
        attempt_count: v.attempt_count,
        retry_base: v.retry_base,
        next_attempt_ms: v.next_attempt_ms,
        created_at: format_millis(v.created_ms),
        triggered_at: format_millis(v.triggered_ms),
        content_type: content_of(v.content_type)?,
        last_attempt: v.last_attempt.map(summary_of),
        error: v.error,
        in_line: v.in_line,
        line_seq: v.line_seq,
    })
}

/// An attempt in format 2.
pub fn encode_attempt(a: &Attempt) -> Result<Vec<u8>, StoreError> {
    tagged(&AttemptV2 {
        summary: summary_v2(&a.summary)?,
        response_body: a.response_body.clone(),
        probe: a.probe,
    })
}

/// An attempt in either format.
pub fn decode_attempt(bytes: &[u8]) -> Result<Attempt, StoreError> {
    if is_format1(bytes) {
        return super::decode(bytes);
    }
    let v: AttemptV2 = untagged(bytes)?;
    Ok(Attempt {
        summary: summary_of(v.summary),
        response_body: v.response_body,
        probe: v.probe,
    })
}

/// The first byte of a format-2 event: its JSON, LZ4-compressed. The
/// evaluation repeats every delivery's ids and the event repeats its keys, so
/// an event with 10 deliveries shrinks to about a third.
pub const TAG_LZ4_JSON: u8 = 3;
/// Largest decompressed event accepted: the size is read from the record,
/// and a damaged one must not make hookline allocate gigabytes.
const MAX_EVENT_RECORD: usize = 64 * 1024 * 1024;

/// A stored event in format 2.
pub fn encode_event(event: &crate::model::StoredEvent) -> Result<Vec<u8>, StoreError> {
    let json =
        serde_json::to_vec(event).map_err(|e| StoreError::Unavailable(format!("encode: {e}")))?;
    let mut out = Vec::with_capacity(json.len() / 2 + 8);
    out.push(TAG_LZ4_JSON);
    out.extend_from_slice(&lz4_flex::compress_prepend_size(&json));
    Ok(out)
}

/// A stored event in either format.
pub fn decode_event(bytes: &[u8]) -> Result<crate::model::StoredEvent, StoreError> {
    if is_format1(bytes) {
        return super::decode(bytes);
    }
    let Some((&TAG_LZ4_JSON, rest)) = bytes.split_first() else {
        return Err(corrupt("an event neither JSON nor format 2".into()));
    };
    let size = rest
        .get(..4)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(u32::from_le_bytes)
        .ok_or_else(|| corrupt("an event without its size".into()))?;
    if size as usize > MAX_EVENT_RECORD {
        return Err(corrupt(format!("an event claiming {size} bytes")));
    }
    let json = lz4_flex::decompress_size_prepended(rest).map_err(|e| corrupt(e.to_string()))?;
    super::decode(&json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_round_trips_compressed_and_damage_is_corrupt() {
        let stored = crate::model::StoredEvent {
            received_at: format_millis(1_796_151_627_811),
            event: serde_json::json!({"id": "e1", "type": "t", "ticket": {"id": 1}}),
            evaluation: crate::model::EvaluationView::new(
                "e1".into(),
                Vec::new(),
                Default::default(),
            ),
        };
        let v2 = encode_event(&stored).expect("encode");
        assert_eq!(v2[0], TAG_LZ4_JSON);
        let back = decode_event(&v2).expect("decode");
        assert_eq!(
            serde_json::to_value(&back).ok(),
            serde_json::to_value(&stored).ok()
        );
        let v1 = serde_json::to_vec(&stored).expect("json");
        assert!(decode_event(&v1).is_ok());
        let mut huge = vec![TAG_LZ4_JSON];
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        for bad in [
            &b""[..],
            b"\x03",
            b"\x03\x01\x00",
            &huge,
            b"\x03\x10\x00\x00\x00garbage",
        ] {
            assert!(
                matches!(decode_event(bad), Err(StoreError::Corrupt(_))),
                "{bad:?}"
            );
        }
    }

    fn delivery() -> Delivery {
        Delivery {
            id: "dl_01M8SGDBEMPRTB0GMMS01GRCHA".into(),
            event_id: "fx-1".into(),
            webhook_id: "wh_01M8SGDBE0000000000000000A".into(),
            schema_id: "sc_01M8SGDBE0000000000000000B".into(),
            ticket_id: Some("1".into()),
            status: DeliveryStatus::Pending,
            attempt_count: 1,
            retry_base: 0,
            next_attempt_ms: Some(1_796_151_634_000),
            created_at: format_millis(1_796_151_627_811),
            triggered_at: format_millis(1_796_151_627_811),
            content_type: ContentType::Json,
            last_attempt: Some(AttemptSummary {
                n: 1,
                started_at: format_millis(1_796_151_627_900),
                duration_ms: 3,
                status_code: None,
                error: Some("connect: Connection refused (os error 111)".into()),
            }),
            error: None,
            in_line: true,
            line_seq: Some(7),
        }
    }

    #[test]
    fn a_delivery_round_trips_and_is_a_quarter_of_its_json() {
        let d = delivery();
        let v2 = encode_delivery(&d).expect("encode");
        assert_eq!(v2[0], TAG_V2);
        assert_eq!(decode_delivery(&d.id, &v2).expect("decode"), d);
        let v1 = serde_json::to_vec(&d).expect("json");
        assert!(is_format1(&v1));
        assert_eq!(decode_delivery(&d.id, &v1).expect("format 1"), d);
        assert!(
            v2.len() * 3 < v1.len(),
            "{} vs {} bytes",
            v2.len(),
            v1.len()
        );
    }

    #[test]
    fn an_attempt_round_trips_in_both_formats() {
        let a = Attempt {
            summary: delivery().last_attempt.expect("summary"),
            response_body: "<h1>busy</h1>".into(),
            probe: true,
        };
        let v2 = encode_attempt(&a).expect("encode");
        assert_eq!(decode_attempt(&v2).expect("decode"), a);
        let v1 = serde_json::to_vec(&a).expect("json");
        assert_eq!(decode_attempt(&v1).expect("format 1"), a);
    }

    #[test]
    fn damaged_records_are_corrupt_not_a_panic() {
        for bad in [
            &b""[..],
            b"\x02",
            b"\x02\xff\xff\xff",
            b"\x07abc",
            b"{not json",
        ] {
            assert!(matches!(
                decode_delivery("dl_x", bad),
                Err(StoreError::Corrupt(_))
            ));
            assert!(decode_attempt(bad).is_err());
        }
    }
}
