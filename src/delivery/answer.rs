//! Reading a receiver's answer: `Retry-After`, the headers, and at most the
//! first 4 KiB of the body, cut on a character boundary.

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};
use tokio::time::Instant as Deadline;

use super::client::RESPONSE_BODY_LIMIT;

/// `Retry-After` as a wait from `now`: delta-seconds or an HTTP-date (a date
/// in the past means now). Unparsable values are ignored.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = httpdate::parse_http_date(text).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

pub(super) fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_string(), value)
        })
        .collect()
}

/// Pulls body chunks until 4 KiB are in hand, the body ends, it fails or the
/// deadline passes, whichever is first. The answer's status is already known
/// then, so a slow or broken body only shortens what is kept: a `2xx` stays a
/// success. The rest of the body is never read (dropping the response closes
/// the connection); hyper reads at most one transport buffer ahead.
pub(super) async fn read_body_prefix(
    response: &mut reqwest::Response,
    deadline: Deadline,
) -> Vec<u8> {
    let mut kept = Vec::new();
    while kept.len() < RESPONSE_BODY_LIMIT {
        let chunk = match tokio::time::timeout_at(deadline, response.chunk()).await {
            Ok(Ok(Some(chunk))) => chunk,
            _ => break,
        };
        let room = RESPONSE_BODY_LIMIT - kept.len();
        kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
    }
    kept
}

/// The kept bytes as text of at most [`RESPONSE_BODY_LIMIT`] bytes: a
/// character cut by the limit is dropped, other invalid UTF-8 becomes U+FFFD.
pub fn body_text(bytes: &[u8]) -> String {
    let bytes = &bytes[..bytes.len().min(RESPONSE_BODY_LIMIT)];
    let bytes = without_cut_char(bytes);
    let mut text = String::from_utf8_lossy(bytes).into_owned();
    // Replacement characters are longer than the bytes they replace.
    text.truncate(text.floor_char_boundary(RESPONSE_BODY_LIMIT));
    text
}

/// Drops a trailing incomplete UTF-8 sequence (at most 3 bytes).
fn without_cut_char(bytes: &[u8]) -> &[u8] {
    let is_continuation = |b: u8| b & 0b1100_0000 == 0b1000_0000;
    let tail_start = bytes.len().saturating_sub(3);
    let Some(lead) = (tail_start..bytes.len())
        .rev()
        .find(|&i| !is_continuation(bytes[i]))
    else {
        return bytes;
    };
    match std::str::from_utf8(&bytes[lead..]) {
        Err(e) if e.error_len().is_none() => &bytes[..lead],
        _ => bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(
            RETRY_AFTER,
            reqwest::header::HeaderValue::from_str(value).expect("valid"),
        );
        map
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(
            retry_after(&headers(" 120 "), now),
            Some(Duration::from_secs(120))
        );
        // 784111777 is Sun, 06 Nov 1994 08:49:37 GMT.
        let later = "Sun, 06 Nov 1994 08:50:37 GMT";
        assert_eq!(
            retry_after(&headers(later), now),
            Some(Duration::from_secs(60))
        );
        let earlier = "Sun, 06 Nov 1994 08:48:37 GMT";
        assert_eq!(retry_after(&headers(earlier), now), Some(Duration::ZERO));
        assert_eq!(retry_after(&headers("soon"), now), None);
        assert_eq!(retry_after(&headers("-5"), now), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn body_text_is_bounded_and_whole_chars() {
        assert_eq!(body_text(b"ok"), "ok");
        let long = "é".repeat(3000); // 6000 bytes
        assert_eq!(body_text(long.as_bytes()).len(), 4096);
        let mut odd = "a".repeat(4095).into_bytes();
        odd.extend_from_slice("€".as_bytes()); // cut after its first byte
        assert_eq!(body_text(&odd), "a".repeat(4095));
        let invalid = vec![0xff_u8; 5000];
        let text = body_text(&invalid);
        assert!(text.len() <= 4096 && text.chars().all(|c| c == '\u{fffd}'));
        assert_eq!(body_text(&[b'a', 0xff, b'b']), "a\u{fffd}b");
    }
}
