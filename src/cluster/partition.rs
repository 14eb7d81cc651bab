//! Which partition an event belongs to, and the NATS names derived from a
//! partition number (CLUSTER.md, Shape). Pure: no NATS here.

use crate::model::IncomingEvent;

/// 32-bit FNV-1a of `bytes`, the hash CLUSTER.md fixes so that a helpdesk
/// publishing to the stream itself computes the same partition.
pub fn fnv1a_32(bytes: &[u8]) -> u32 {
    const OFFSET: u32 = 0x811c_9dc5;
    const PRIME: u32 = 0x0100_0193;
    bytes
        .iter()
        .fold(OFFSET, |hash, b| (hash ^ u32::from(*b)).wrapping_mul(PRIME))
}

/// The partition of a ticket key (or, for an event without a ticket, of its
/// event id) among `partitions`.
pub fn partition_of_key(key: &str, partitions: u32) -> u32 {
    fnv1a_32(key.as_bytes()) % partitions.max(1)
}

/// The partition of an event: by its ticket, so that dedup and per-ticket
/// ordering stay inside one partition.
pub fn partition_of(event: &IncomingEvent, partitions: u32) -> u32 {
    partition_of_key(event.ticket_id.as_deref().unwrap_or(&event.id), partitions)
}

/// The subject events of partition `n` are published to.
pub fn subject(prefix: &str, n: u32) -> String {
    format!("{prefix}.p{n}")
}

/// The durable consumer that reads partition `n` of `stream`.
pub fn consumer_name(stream: &str, n: u32) -> String {
    format!("{stream}_p{n}")
}

/// The claim key of partition `n` in the claims bucket.
pub fn claim_key(n: u32) -> String {
    format!("partition.{n}")
}

/// The partition a claim key names, if it is one.
pub fn claimed_partition(key: &str) -> Option<u32> {
    key.strip_prefix("partition.")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_published_test_vectors() {
        // From the FNV reference (draft-eastlake-fnv): "", "a", "foobar".
        assert_eq!(fnv1a_32(b""), 0x811c_9dc5);
        assert_eq!(fnv1a_32(b"a"), 0xe40c_292c);
        assert_eq!(fnv1a_32(b"foobar"), 0xbf9c_f968);
    }

    fn event(body: serde_json::Value) -> IncomingEvent {
        IncomingEvent::parse(body).expect("valid event")
    }

    #[test]
    fn a_ticket_given_as_number_or_string_is_one_partition() {
        let a = event(serde_json::json!({"type": "t", "id": "e1", "ticket": {"id": 1234}}));
        let b = event(serde_json::json!({"type": "t", "id": "e2", "ticket": {"id": "1234"}}));
        assert_eq!(partition_of(&a, 16), partition_of(&b, 16));
        assert_eq!(partition_of(&a, 16), fnv1a_32(b"1234") % 16);
    }

    #[test]
    fn an_event_without_ticket_goes_by_its_id() {
        let e = event(serde_json::json!({"type": "t", "id": "evt-77"}));
        assert_eq!(partition_of(&e, 8), fnv1a_32(b"evt-77") % 8);
    }

    #[test]
    fn tickets_spread_over_every_partition() {
        let mut seen = [0u32; 8];
        for t in 0..800 {
            seen[partition_of_key(&t.to_string(), 8) as usize] += 1;
        }
        assert!(seen.iter().all(|n| (50..=150).contains(n)), "{seen:?}");
    }

    #[test]
    fn names_round_trip() {
        assert_eq!(subject("hookline.events", 3), "hookline.events.p3");
        assert_eq!(consumer_name("HOOKLINE_EVENTS", 3), "HOOKLINE_EVENTS_p3");
        assert_eq!(claimed_partition(&claim_key(11)), Some(11));
        assert_eq!(claimed_partition("instance.a"), None);
    }
}
