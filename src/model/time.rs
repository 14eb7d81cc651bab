//! Time and id helpers shared by every resource: sortable ids, the RFC 3339
//! text the API writes, and Unix milliseconds as the store keeps them.

use std::time::{Duration, SystemTime};

/// A new sortable id with its type prefix (`wh_01JDV…`): ULIDs sort by creation
/// time, so "newest first" and retention are range scans.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", ulid::Ulid::new())
}

/// Now, as the RFC 3339 UTC text the API writes (`2026-11-29T12:00:00.123Z`).
pub fn now_rfc3339() -> String {
    format_time(SystemTime::now())
}

pub fn format_time(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// Whether `s` is an RFC 3339 time such as `2026-11-29T12:00:00Z`.
pub(super) fn parse_rfc3339(s: &str) -> bool {
    ::time::OffsetDateTime::parse(s, &::time::format_description::well_known::Rfc3339).is_ok()
}

/// Unix milliseconds now.
pub fn now_millis() -> u64 {
    millis_of(SystemTime::now())
}

pub fn millis_of(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Unix milliseconds as RFC 3339 UTC text.
pub fn format_millis(ms: u64) -> String {
    format_time(SystemTime::UNIX_EPOCH + Duration::from_millis(ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_creation() {
        let a = new_id("wh");
        std::thread::sleep(Duration::from_millis(2));
        let b = new_id("wh");
        assert!(a.starts_with("wh_") && a < b, "{a} {b}");
    }
}
