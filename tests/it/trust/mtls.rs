//! Mutual TLS: a loopback HTTPS receiver that demands a client certificate
//! from a test CA made here with `rcgen` accepts the webhook that has one and
//! rejects the one that does not; certificates that do not parse or keys
//! that do not match are refused on save; reads never show the PEM.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::json;

use crate::common::{Daemon, ADMIN};

/// A test CA and what it signed: the receiver's `localhost` certificate and
/// a client certificate, as PEM.
struct Pki {
    ca_pem: String,
    server: (CertificateDer<'static>, PrivateKeyDer<'static>),
    client_cert_pem: String,
    client_key_pem: String,
    ca_der: CertificateDer<'static>,
}

fn pki() -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "hookline test CA");
    let ca =
        CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("key")).expect("ca");
    let server_key = KeyPair::generate().expect("key");
    let server = CertificateParams::new(vec!["localhost".to_string()])
        .expect("params")
        .signed_by(&server_key, &ca)
        .expect("server cert");
    let client_key = KeyPair::generate().expect("key");
    let mut client_params = CertificateParams::new(Vec::<String>::new()).expect("params");
    client_params
        .distinguished_name
        .push(DnType::CommonName, "hookline-client");
    let client = client_params
        .signed_by(&client_key, &ca)
        .expect("client cert");
    Pki {
        ca_pem: ca.pem(),
        ca_der: ca.der().clone(),
        server: (
            server.der().clone(),
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der())),
        ),
        client_cert_pem: client.pem(),
        client_key_pem: client_key.serialize_pem(),
    }
}

/// What the receiver saw of one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    /// A request arrived from a client that presented a certificate.
    Request,
    /// The handshake or the read failed (no certificate, say).
    Rejected,
}

/// An HTTPS receiver on `127.0.0.1` requiring a client certificate signed
/// by the test CA; answers `200` and closes each connection. Stops when
/// dropped.
struct MtlsReceiver {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MtlsReceiver {
    fn start(pki: &Pki) -> MtlsReceiver {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(pki.ca_der.clone()).expect("ca root");
        let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
            .build()
            .expect("verifier");
        let config = rustls::ServerConfig::builder()
            .with_client_cert_verifier(verifier)
            .with_single_cert(vec![pki.server.0.clone()], pki.server.1.clone_key())
            .expect("server config");
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let (seen, stop) = (
            Arc::new(Mutex::new(Vec::new())),
            Arc::new(AtomicBool::new(false)),
        );
        let (seen2, stop2) = (seen.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                let tcp = match listener.accept() {
                    Ok((tcp, _)) => tcp,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(10));
                        continue;
                    }
                    Err(_) => continue,
                };
                let outcome = serve_one(tcp, &config);
                seen2.lock().expect("seen").push(outcome);
            }
        });
        MtlsReceiver {
            port,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("seen").clone()
    }

    fn wait_seen(&self, n: usize) -> bool {
        crate::common::eventually(Duration::from_secs(10), || self.seen().len() >= n)
    }
}

impl Drop for MtlsReceiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads one request head (the handshake happens on the first read) and
/// answers it; any failure before a whole head is a rejection.
fn serve_one(tcp: std::net::TcpStream, config: &Arc<rustls::ServerConfig>) -> Seen {
    let _ = tcp.set_nonblocking(false);
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(5)));
    let Ok(conn) = rustls::ServerConnection::new(Arc::clone(config)) else {
        return Seen::Rejected;
    };
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let (mut head, mut buf, deadline) = (
        Vec::new(),
        [0_u8; 4096],
        Instant::now() + Duration::from_secs(5),
    );
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match tls.read(&mut buf) {
            Ok(n) if n > 0 && Instant::now() < deadline && head.len() < 65_536 => {
                head.extend_from_slice(&buf[..n])
            }
            _ => return Seen::Rejected,
        }
    }
    if tls.conn.peer_certificates().is_none_or(|c| c.is_empty()) {
        return Seen::Rejected;
    }
    let answer = "HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: close\r\n\r\nmtls ok";
    let _ = tls.write_all(answer.as_bytes());
    tls.conn.send_close_notify();
    let _ = tls.flush();
    Seen::Request
}

#[test]
fn the_webhook_with_a_client_certificate_is_accepted_the_one_without_rejected() {
    let pki = pki();
    let rx = MtlsReceiver::start(&pki);
    let dir = tempfile::tempdir().expect("dir");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &pki.ca_pem).expect("write ca");
    let d = Daemon::start_in(
        dir.path(),
        &format!(
            "admin_token = {ADMIN:?}\n[delivery]\nca_file = {:?}\nretry_schedule = [\"1h\"]\n",
            ca.display().to_string()
        ),
    );
    let url = format!("https://localhost:{}/hook", rx.port);
    let cert = json!({"cert_pem": pki.client_cert_pem, "key_pem": pki.client_key_pem});
    let (with, _) = d.route(
        "With",
        &url,
        json!({"client_certificate": cert}),
        "{\"t\": 1}",
    );
    let view = d.get(&format!("/api/v1/webhooks/{with}"));
    assert_eq!(
        view.json["client_certificate"]["subject"], "CN=hookline-client",
        "{}",
        view.text
    );
    assert!(
        view.json["client_certificate"]["not_after"].is_string(),
        "{}",
        view.text
    );
    assert!(
        !view.text.contains("PRIVATE KEY") && !view.text.contains("BEGIN"),
        "{}",
        view.text
    );

    let ids = d.send_event("e1", 1);
    assert!(
        d.wait_status(&ids[0], "succeeded", Duration::from_secs(10)),
        "{}",
        d.delivery(&ids[0])
    );
    assert_eq!(rx.seen(), vec![Seen::Request]);
    let t = d.post(&format!("/api/v1/webhooks/{with}/test"), json!({}));
    assert_eq!(
        t.json["response"]["status"], 200,
        "the test presents it too: {}",
        t.text
    );

    // The same receiver without a certificate: the handshake is refused.
    let r = d.post("/api/v1/webhooks", json!({"name": "Without", "url": url}));
    let without = r.json["id"].as_str().expect("id").to_string();
    let t = d.post(&format!("/api/v1/webhooks/{without}/test"), json!({}));
    assert_eq!(t.status, 200, "{}", t.text);
    assert_eq!(t.json["response"], serde_json::Value::Null, "{}", t.text);
    assert!(rx.wait_seen(3));
    assert_eq!(rx.seen()[2], Seen::Rejected);

    // A PUT without key_pem keeps the stored key; null removes it.
    let mut body = view.json.clone();
    body["client_certificate"] = json!({"cert_pem": pki.client_cert_pem});
    let r = d.put(&format!("/api/v1/webhooks/{with}"), body.clone());
    assert_eq!(r.status, 200, "{}", r.text);
    let ids = d.send_event("e2", 2);
    assert!(d.wait_status(&ids[0], "succeeded", Duration::from_secs(10)));
    body["client_certificate"] = serde_json::Value::Null;
    let r = d.put(&format!("/api/v1/webhooks/{with}"), body);
    assert_eq!(
        r.json["client_certificate"],
        serde_json::Value::Null,
        "{}",
        r.text
    );
}

#[test]
fn a_certificate_that_does_not_parse_or_a_key_that_does_not_match_is_refused() {
    let (pki, other) = (pki(), pki());
    let dir = tempfile::tempdir().expect("dir");
    let d = Daemon::start_in(dir.path(), &format!("admin_token = {ADMIN:?}\n"));
    for (cert, key, field) in [
        (
            "garbage".to_string(),
            pki.client_key_pem.clone(),
            "client_certificate.cert_pem",
        ),
        (
            pki.client_cert_pem.clone(),
            "garbage".to_string(),
            "client_certificate.key_pem",
        ),
        (
            pki.client_cert_pem.clone(),
            other.client_key_pem.clone(),
            "client_certificate.key_pem",
        ),
    ] {
        let r = d.post(
            "/api/v1/webhooks",
            json!({"name": "M", "url": "https://localhost:9/", "client_certificate": {"cert_pem": cert, "key_pem": key}}),
        );
        assert_eq!(r.status, 400, "{}", r.text);
        assert_eq!(
            r.error(),
            ("validation_failed".into(), Some(field.into())),
            "{}",
            r.text
        );
        assert!(!r.text.contains("PRIVATE KEY"), "no key echoed: {}", r.text);
    }
}
