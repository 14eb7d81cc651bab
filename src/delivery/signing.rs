//! Standard Webhooks signatures (`Webhook-Signature: v1,<base64>`).
//!
//! A receiver recomputes the HMAC over `"{id}.{timestamp}.{body}"` with the
//! shared secret; the id and timestamp are inside the signed text so a
//! captured request cannot be replayed under another id or much later.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::model::signing_key;

/// The `Webhook-Signature` value for one attempt, or `None` when `secret` is
/// not a `whsec_<base64>` secret (the model refuses those, so a stored
/// webhook always signs).
pub fn sign(secret: &str, msg_id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    signing_key(secret).map(|key| sign_with_key(&key, msg_id, timestamp, body))
}

/// The signature with an already decoded key (a prepared webhook decodes
/// its secret once, not per attempt).
pub fn sign_with_key(key: &[u8], msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC takes keys of any length: `new_from_slice` cannot fail for it.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// A webhook's signing keys, decoded, with their expiry (unix ms), newest
/// first: the current one (never expiring) and those of a rotation's grace.
/// A prepared webhook keeps them and skips expired ones per attempt, so a
/// grace period ends on time without the webhook changing.
pub fn signing_keys(webhook: &crate::model::Webhook) -> Vec<(Vec<u8>, u64)> {
    let current = webhook.signing_secret.iter().map(|s| (s, u64::MAX));
    let previous = webhook
        .signing_previous
        .iter()
        .map(|p| (&p.secret, p.expires_ms));
    current
        .chain(previous)
        .filter_map(|(secret, expires)| signing_key(secret).map(|key| (key, expires)))
        .collect()
}

/// The `Webhook-Signature` value signed with every key still valid at
/// `now_ms`, newest first and space-separated (`v1,<new> v1,<old>`), so a
/// receiver that knows any one of the secrets verifies it. Keys come as
/// (key, expiry in unix ms); the current key never expires.
pub fn sign_with_keys(
    keys: &[(Vec<u8>, u64)],
    now_ms: u64,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Option<String> {
    let mut valid = keys.iter().filter(|(_, expires)| *expires > now_ms);
    let first = valid.next()?;
    let mut header = sign_with_key(&first.0, msg_id, timestamp, body);
    for (key, _) in valid {
        header.push(' ');
        header.push_str(&sign_with_key(key, msg_id, timestamp, body));
    }
    Some(header)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Vectors {
        cases: Vec<Case>,
    }

    #[derive(serde::Deserialize)]
    struct Case {
        secret: String,
        id: String,
        timestamp: i64,
        body: String,
        signature: String,
    }

    #[test]
    fn standard_webhooks_vector() {
        let text = include_str!("../../tests/data/signing.json");
        let vectors: Vectors = serde_json::from_str(text).expect("vector file parses");
        assert!(!vectors.cases.is_empty());
        for case in vectors.cases {
            let got = sign(&case.secret, &case.id, case.timestamp, case.body.as_bytes());
            assert_eq!(got.as_deref(), Some(case.signature.as_str()), "{}", case.id);
        }
    }

    #[test]
    fn body_and_timestamp_change_the_signature() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let a = sign(secret, "msg_1", 1, b"{}");
        assert_ne!(a, sign(secret, "msg_1", 2, b"{}"));
        assert_ne!(a, sign(secret, "msg_1", 1, b"{ }"));
        assert_ne!(a, sign(secret, "msg_2", 1, b"{}"));
    }

    #[test]
    fn not_a_secret_gives_none() {
        assert_eq!(sign("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "m", 1, b""), None);
        assert_eq!(sign("whsec_!!notbase64", "m", 1, b""), None);
    }
}
