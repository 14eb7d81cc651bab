//! A Standard Webhooks verifier, written from the specification (not from
//! hookline's code) and checked against `tests/data/signing.json`: the
//! signature header holds space-separated `v1,<base64>` entries, and a
//! request verifies when any of them is the HMAC-SHA256 of
//! `"{id}.{timestamp}.{body}"` under the secret's key.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Whether `header` carries a valid signature of the message for `secret`.
pub fn verifies(secret: &str, id: &str, timestamp: &str, body: &[u8], header: &str) -> bool {
    let Some(key) = secret
        .strip_prefix("whsec_")
        .and_then(|k| base64::engine::general_purpose::STANDARD.decode(k).ok())
    else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&key) else {
        return false;
    };
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    let expected = mac.finalize().into_bytes();
    header.split(' ').any(|entry| {
        let Some(sig) = entry.strip_prefix("v1,") else {
            return false;
        };
        base64::engine::general_purpose::STANDARD
            .decode(sig)
            .is_ok_and(|s| s.as_slice() == expected.as_slice())
    })
}

/// Whether a recorded request verifies with `secret`.
pub fn request_verifies(secret: &str, req: &crate::common::receiver::Recorded) -> bool {
    let (Some(id), Some(ts), Some(sig)) = (
        req.header("webhook-id"),
        req.header("webhook-timestamp"),
        req.header("webhook-signature"),
    ) else {
        return false;
    };
    verifies(secret, id, ts, &req.body, sig)
}

#[test]
fn the_verifier_accepts_the_vectors_and_nothing_else() {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/signing.json"),
    )
    .expect("vectors");
    let vectors: serde_json::Value = serde_json::from_str(&text).expect("json");
    let cases = vectors["cases"].as_array().expect("cases");
    assert!(!cases.is_empty());
    for case in cases {
        let s = |k: &str| case[k].as_str().expect(k).to_string();
        let (secret, id, body, sig) = (s("secret"), s("id"), s("body"), s("signature"));
        let ts = case["timestamp"].to_string();
        assert!(verifies(&secret, &id, &ts, body.as_bytes(), &sig), "{id}");
        let two = format!("v1,AAAA {sig}");
        assert!(verifies(&secret, &id, &ts, body.as_bytes(), &two), "{id}");
        assert!(!verifies(&secret, &id, &ts, b"other", &sig), "{id}");
        assert!(
            !verifies(&secret, "msg_x", &ts, body.as_bytes(), &sig),
            "{id}"
        );
    }
}
