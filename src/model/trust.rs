//! What a security team asks of a webhook (POLICIES.md): rotating its
//! signing secret with a grace period, a client certificate for mutual TLS,
//! and per-ticket ordering. The checks are pure; the store and the delivery
//! side only apply them.

use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{format_millis, generate_signing_secret, FieldError, Webhook};

/// Old secrets kept during their grace periods; past this the oldest goes.
pub const MAX_PREVIOUS_SECRETS: usize = 10;
/// Longest grace period of a rotation.
pub const MAX_GRACE: Duration = Duration::from_secs(7 * 86_400);
/// Grace period when a rotation names none.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(86_400);

/// A replaced signing secret still used to sign until `expires_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviousSecret {
    pub secret: String,
    pub expires_ms: u64,
}

/// A previous secret as a client reads it: only when it stops being used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct PreviousSecretView {
    pub expires_at: String,
}

/// `ordering` of a webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Ordering {
    /// Deliveries go in any order, several at once.
    #[default]
    None,
    /// One ticket's deliveries go one at a time, in creation order.
    PerTicket,
}

impl Ordering {
    pub fn as_str(self) -> &'static str {
        match self {
            Ordering::None => "none",
            Ordering::PerTicket => "per_ticket",
        }
    }
}

/// A client certificate as stored: the PEM texts and what a read shows.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientCertificate {
    pub cert_pem: String,
    pub key_pem: String,
    pub subject: String,
    pub not_after: String,
}

/// Never the key, even in a debug line.
impl std::fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("subject", &self.subject)
            .field("not_after", &self.not_after)
            .field("key_pem", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// `client_certificate` as a client writes it. A read answer sent back
/// (`subject` and `not_after`, no PEM) keeps the stored certificate; an
/// omitted `key_pem` keeps the stored key.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientCertificateInput {
    #[serde(default)]
    pub cert_pem: Option<String>,
    #[serde(default)]
    pub key_pem: Option<String>,
    #[serde(default)]
    #[schema(ignore)]
    pub subject: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    #[schema(ignore)]
    pub not_after: Option<serde::de::IgnoredAny>,
}

/// `client_certificate` as a client reads it: never the key, nor the PEM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ClientCertificateView {
    pub subject: String,
    pub not_after: String,
}

impl From<&ClientCertificate> for ClientCertificateView {
    fn from(c: &ClientCertificate) -> Self {
        ClientCertificateView {
            subject: c.subject.clone(),
            not_after: c.not_after.clone(),
        }
    }
}

impl Webhook {
    /// Moves the current secret into the previous ones (expiring at
    /// `now_ms + grace`) and makes a new one, which is returned to be shown
    /// once. `None` when the webhook does not sign.
    pub fn rotate_secret(&mut self, grace: Duration, now_ms: u64) -> Option<String> {
        let current = self.signing_secret.take()?;
        let grace_ms = u64::try_from(grace.as_millis()).unwrap_or(u64::MAX);
        self.signing_previous.retain(|p| p.expires_ms > now_ms);
        self.signing_previous.insert(
            0,
            PreviousSecret {
                secret: current,
                expires_ms: now_ms.saturating_add(grace_ms),
            },
        );
        self.signing_previous.truncate(MAX_PREVIOUS_SECRETS);
        let fresh = generate_signing_secret();
        self.signing_secret = Some(fresh.clone());
        Some(fresh)
    }

    /// The secrets a request sent at `now_ms` is signed with, newest first:
    /// the current one and those still in their grace period.
    pub fn signing_secrets_at(&self, now_ms: u64) -> impl Iterator<Item = &str> {
        self.signing_secret.as_deref().into_iter().chain(
            self.signing_previous
                .iter()
                .filter(move |p| p.expires_ms > now_ms)
                .map(|p| p.secret.as_str()),
        )
    }

    /// The previous secrets still in use at `now_ms`, as a read shows them.
    pub fn previous_secrets_view(&self, now_ms: u64) -> Vec<PreviousSecretView> {
        self.signing_previous
            .iter()
            .filter(|p| p.expires_ms > now_ms)
            .map(|p| PreviousSecretView {
                expires_at: format_millis(p.expires_ms),
            })
            .collect()
    }
}

/// The grace period of `POST …/rotate-secret`: 0 s to 7 d, 24 h by default.
pub fn check_grace(text: Option<&str>) -> Result<Duration, FieldError> {
    let Some(text) = text else {
        return Ok(DEFAULT_GRACE);
    };
    let grace = crate::config::parse_duration(text).map_err(|e| FieldError::new("grace", e))?;
    if grace > MAX_GRACE {
        return Err(FieldError::new("grace", "from 0s to 7d"));
    }
    Ok(grace)
}

/// Applies the `client_certificate` member: absent keeps `previous`, `null`
/// removes, an object is checked (with the stored key when it omits one).
pub fn resolve_client_certificate(
    input: Option<Option<ClientCertificateInput>>,
    previous: Option<&ClientCertificate>,
) -> Result<Option<ClientCertificate>, FieldError> {
    let input = match input {
        None => return Ok(previous.cloned()),
        Some(None) => return Ok(None),
        Some(Some(input)) => input,
    };
    let cert_pem = match (input.cert_pem, previous) {
        (Some(c), _) => c,
        (None, Some(p)) if input.key_pem.is_none() => return Ok(Some(p.clone())),
        (None, Some(p)) => p.cert_pem.clone(),
        (None, None) => return Err(FieldError::new("client_certificate.cert_pem", "required")),
    };
    let key_pem = match (input.key_pem, previous) {
        (Some(k), _) => k,
        (None, Some(p)) => p.key_pem.clone(),
        (None, None) => return Err(FieldError::new("client_certificate.key_pem", "required")),
    };
    let (subject, not_after) = check_client_certificate(&cert_pem, &key_pem)?;
    Ok(Some(ClientCertificate {
        cert_pem,
        key_pem,
        subject,
        not_after,
    }))
}

/// Checks that `cert_pem` holds a certificate chain and `key_pem` the
/// private key of its first certificate; returns that certificate's subject
/// and expiry (RFC 3339).
pub fn check_client_certificate(
    cert_pem: &str,
    key_pem: &str,
) -> Result<(String, String), FieldError> {
    let cert_error = |m: &str| FieldError::new("client_certificate.cert_pem", m);
    let key_error = |m: &str| FieldError::new("client_certificate.key_pem", m);
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|_| cert_error("does not parse as PEM certificates"))?;
    let first = chain
        .first()
        .ok_or_else(|| cert_error("does not parse: no PEM certificate in it"))?;
    let (_, parsed) = x509_parser::parse_x509_certificate(first)
        .map_err(|_| cert_error("does not parse as an X.509 certificate"))?;
    let subject = parsed.subject().to_string();
    let not_after = parsed
        .validity()
        .not_after
        .to_datetime()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|_| key_error("does not parse as a PEM private key"))?;
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    match rustls::sign::CertifiedKey::from_der(chain, key, &provider) {
        Ok(_) => Ok((subject, not_after)),
        Err(rustls::Error::InconsistentKeys(_)) => Err(key_error("does not match the certificate")),
        Err(_) => Err(key_error("does not parse as a usable private key")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signing_webhook() -> Webhook {
        let mut w = crate::model::webhook::tests::plain_webhook();
        w.signing_secret = Some(generate_signing_secret());
        w
    }

    #[test]
    fn rotation_keeps_the_old_secret_until_its_grace_ends() {
        let mut w = signing_webhook();
        let old = w.signing_secret.clone();
        let new = w
            .rotate_secret(Duration::from_secs(60), 1_000)
            .expect("rotates");
        assert_eq!(w.signing_secret.as_deref(), Some(new.as_str()));
        let during: Vec<&str> = w.signing_secrets_at(30_000).collect();
        assert_eq!(during, vec![new.as_str(), old.as_deref().unwrap_or("")]);
        let after: Vec<&str> = w.signing_secrets_at(61_000).collect();
        assert_eq!(after, vec![new.as_str()]);
        assert!(w.previous_secrets_view(61_000).is_empty());
    }

    #[test]
    fn at_most_ten_previous_secrets_newest_first_each_with_its_expiry() {
        let mut w = signing_webhook();
        for i in 0..12u64 {
            w.rotate_secret(Duration::from_secs(3600), 1_000 + i)
                .expect("rotates");
        }
        assert_eq!(w.signing_previous.len(), MAX_PREVIOUS_SECRETS);
        let expiries: Vec<u64> = w.signing_previous.iter().map(|p| p.expires_ms).collect();
        assert_eq!(expiries[0], 3_600_000 + 1_011);
        assert!(expiries.windows(2).all(|p| p[0] > p[1]), "{expiries:?}");
    }

    #[test]
    fn a_webhook_without_a_secret_does_not_rotate() {
        let mut w = crate::model::webhook::tests::plain_webhook();
        assert_eq!(w.rotate_secret(DEFAULT_GRACE, 0), None);
        assert!(w.signing_previous.is_empty());
    }

    #[test]
    fn grace_bounds() {
        assert_eq!(check_grace(None), Ok(DEFAULT_GRACE));
        assert_eq!(check_grace(Some("0s")), Ok(Duration::ZERO));
        assert_eq!(check_grace(Some("7d")), Ok(MAX_GRACE));
        assert!(check_grace(Some("8d")).is_err());
        assert!(check_grace(Some("soon")).is_err());
    }

    #[test]
    fn certificates_that_do_not_parse_or_match_are_refused() {
        let a = rcgen::generate_simple_self_signed(vec!["client.test".into()]).expect("cert");
        let b = rcgen::generate_simple_self_signed(vec!["other.test".into()]).expect("cert");
        let (cert, key) = (a.cert.pem(), a.signing_key.serialize_pem());
        let (subject, not_after) = check_client_certificate(&cert, &key).expect("matches");
        assert!(subject.contains("CN="), "{subject}");
        assert!(not_after.starts_with("4096-"), "{not_after}");
        let field = |c: &str, k: &str| check_client_certificate(c, k).map_err(|e| e.field);
        assert_eq!(
            field("not a cert", &key),
            Err("client_certificate.cert_pem".into())
        );
        assert_eq!(
            field(&cert, "not a key"),
            Err("client_certificate.key_pem".into())
        );
        assert_eq!(
            field(&cert, &b.signing_key.serialize_pem()),
            Err("client_certificate.key_pem".into())
        );
    }

    #[test]
    fn an_omitted_key_keeps_the_stored_one_and_a_read_answer_keeps_all() {
        let a = rcgen::generate_simple_self_signed(vec!["client.test".into()]).expect("cert");
        let input = |cert: Option<String>, key: Option<String>| {
            Some(Some(ClientCertificateInput {
                cert_pem: cert,
                key_pem: key,
                subject: None,
                not_after: None,
            }))
        };
        let stored = resolve_client_certificate(
            input(Some(a.cert.pem()), Some(a.signing_key.serialize_pem())),
            None,
        )
        .expect("valid")
        .expect("some");
        let kept = resolve_client_certificate(input(Some(a.cert.pem()), None), Some(&stored))
            .expect("valid");
        assert_eq!(kept.as_ref(), Some(&stored));
        let echoed = resolve_client_certificate(input(None, None), Some(&stored)).expect("valid");
        assert_eq!(echoed.as_ref(), Some(&stored));
        assert_eq!(
            resolve_client_certificate(Some(None), Some(&stored)),
            Ok(None)
        );
        assert_eq!(
            resolve_client_certificate(None, Some(&stored)),
            Ok(Some(stored.clone()))
        );
        assert!(resolve_client_certificate(input(None, None), None).is_err());
    }
}
