//! The delivery client against a real (test) receiver on 127.0.0.1.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::common::receiver::{Behaviour, Receiver, Reply};
use bytes::Bytes;
use hookline::delivery::{build_request, sign, ErrorClass, HttpClient, OutgoingRequest};
use hookline::model::{Auth, ContentType, Method, Webhook};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const TIMEOUT: Duration = Duration::from_secs(5);

fn webhook(url: &str) -> Webhook {
    Webhook {
        id: "wh_1".into(),
        name: "Test Webhook".into(),
        url: url.into(),
        method: Method::Post,
        auth: Auth::None,
        headers: BTreeMap::new(),
        signing_secret: None,
        enabled: true,
        timeout: None,
        rate_limit: None,
        retry_schedule: None,
        signing_previous: Vec::new(),
        client_certificate: None,
        ordering: Default::default(),
        created_at: String::new(),
        updated_at: String::new(),
    }
}

fn request(webhook: &Webhook, body: &'static str) -> OutgoingRequest {
    let triggered = UNIX_EPOCH + Duration::from_secs(1_795_953_600);
    build_request(
        webhook,
        "dl_01TEST",
        triggered,
        ContentType::Json,
        Bytes::from_static(body.as_bytes()),
        SystemTime::now(),
    )
}

fn client() -> HttpClient {
    HttpClient::new(None).expect("client builds")
}

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

#[tokio::test]
async fn success_carries_every_header() {
    let rx = Receiver::start(Behaviour::Fixed(200));
    let mut wh = webhook(&rx.url());
    wh.signing_secret = Some(SECRET.into());
    wh.headers.insert("X-Source".into(), "helpdesk".into());
    wh.headers.insert("X-Tenant".into(), "acme".into());
    let req = request(&wh, r#"{"ref":"T-1"}"#);

    let result = client().send(&req, TIMEOUT).await;

    assert!(result.succeeded(), "{result:?}");
    assert_eq!(result.status_code, Some(200));
    assert_eq!(result.error, None);
    assert_eq!(result.error_class, None);
    let got = &rx.requests()[0];
    assert_eq!((got.method.as_str(), got.path.as_str()), ("POST", "/hook"));
    assert_eq!(got.body_text(), r#"{"ref":"T-1"}"#);
    assert_eq!(got.header("content-type"), Some("application/json"));
    assert_eq!(got.header("accept"), Some("application/json"));
    let agent = format!("hookline/{}", env!("CARGO_PKG_VERSION"));
    assert_eq!(got.header("user-agent"), Some(agent.as_str()));
    assert_eq!(got.header("triggered-at"), Some("2026-11-29T12:00:00Z"));
    assert_eq!(got.header("webhook-id"), Some("dl_01TEST"));
    assert_eq!(got.header("x-source"), Some("helpdesk"));
    assert_eq!(got.header("x-tenant"), Some("acme"));
    assert_eq!(got.header("authorization"), None);
    let stamp: i64 = got
        .header("webhook-timestamp")
        .and_then(|t| t.parse().ok())
        .expect("numeric timestamp");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    assert!(stamp.abs_diff(now as i64) < 60, "{stamp} vs {now}");
    let expected = sign(SECRET, "dl_01TEST", stamp, &got.body);
    assert_eq!(got.header("webhook-signature"), expected.as_deref());
}

#[tokio::test]
async fn basic_and_bearer_auth_on_the_wire() {
    let rx = Receiver::start(Behaviour::Fixed(204));
    let client = client();
    let mut wh = webhook(&rx.url());
    wh.auth = Auth::Basic {
        username: "user".into(),
        password: "pass".into(),
    };
    assert!(client.send(&request(&wh, "{}"), TIMEOUT).await.succeeded());
    wh.auth = Auth::Bearer {
        token: "tok-123".into(),
    };
    assert!(client.send(&request(&wh, "{}"), TIMEOUT).await.succeeded());

    let got = rx.requests();
    assert_eq!(got[0].header("authorization"), Some("Basic dXNlcjpwYXNz"));
    assert_eq!(got[1].header("authorization"), Some("Bearer tok-123"));
    assert_eq!(got[0].header("webhook-signature"), None);
}

#[tokio::test]
async fn put_and_patch_use_their_method() {
    let rx = Receiver::start(Behaviour::Fixed(200));
    let client = client();
    let mut wh = webhook(&rx.url());
    for method in [Method::Put, Method::Patch] {
        wh.method = method;
        assert!(client.send(&request(&wh, "{}"), TIMEOUT).await.succeeded());
    }
    let methods: Vec<String> = rx.requests().into_iter().map(|r| r.method).collect();
    assert_eq!(methods, ["PUT", "PATCH"]);
}

#[tokio::test]
async fn server_error_is_recorded_with_its_body() {
    let reply = Reply::status(500)
        .header("X-Trace", "abc")
        .body("database on fire");
    let rx = Receiver::start(Behaviour::Replies(vec![reply]));
    let result = client()
        .send(&request(&webhook(&rx.url()), "{}"), TIMEOUT)
        .await;
    assert!(!result.succeeded());
    assert_eq!(result.status_code, Some(500));
    assert_eq!(result.error, None);
    assert_eq!(result.response_body, "database on fire");
    assert!(result
        .response_headers
        .contains(&("x-trace".to_string(), "abc".to_string())));
    assert_eq!(result.retry_after, None);
}

#[tokio::test]
async fn redirect_is_an_answer_not_followed() {
    let elsewhere = Receiver::start(Behaviour::Fixed(200));
    let reply = Reply::status(302).header("Location", &elsewhere.url());
    let rx = Receiver::start(Behaviour::Replies(vec![reply]));
    let result = client()
        .send(&request(&webhook(&rx.url()), "{}"), TIMEOUT)
        .await;
    assert_eq!(result.status_code, Some(302));
    assert!(!result.succeeded());
    assert_eq!(rx.requests().len(), 1);
    assert!(!elsewhere.wait_for(1, Duration::from_millis(200)));
}

#[tokio::test]
#[allow(clippy::await_holding_lock)] // a test-wide guard, taken on entry: no deadlock
async fn slow_receiver_times_out() {
    let _exclusive = crate::common::exclusive(); // an upper bound on elapsed time
    let reply = Reply::status(200).delay(Duration::from_secs(10));
    let rx = Receiver::start(Behaviour::Replies(vec![reply]));
    let timeout = Duration::from_millis(300);
    let result = client()
        .send(&request(&webhook(&rx.url()), "{}"), timeout)
        .await;
    assert_eq!(result.error_class, Some(ErrorClass::Timeout));
    assert_eq!(result.error.as_deref(), Some("timeout"));
    assert_eq!(result.status_code, None);
    assert!(result.duration >= timeout, "{:?}", result.duration);
    assert!(
        result.duration < Duration::from_secs(2),
        "{:?}",
        result.duration
    );
    assert_eq!(rx.requests().len(), 1);
}

#[tokio::test]
async fn refused_connection_is_a_connect_error() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    // Credentials in the URL must not leak into the error text.
    let url = format!("http://user:hunter2@127.0.0.1:{port}/hook");
    let result = client().send(&request(&webhook(&url), "{}"), TIMEOUT).await;
    assert_eq!(result.error_class, Some(ErrorClass::Connect), "{result:?}");
    let error = result.error.expect("an error");
    assert!(error.starts_with("connect: "), "{error}");
    assert!(
        !error.contains("hunter2") && !error.contains("127.0.0.1"),
        "{error}"
    );
    assert!(result.duration < TIMEOUT);
}

#[tokio::test]
async fn closed_without_answer_is_an_http_error() {
    let rx = Receiver::start(Behaviour::CloseWithoutAnswer);
    let result = client()
        .send(&request(&webhook(&rx.url()), "{}"), TIMEOUT)
        .await;
    assert_eq!(result.error_class, Some(ErrorClass::Http), "{result:?}");
    let error = result.error.unwrap_or_default();
    assert!(error.starts_with("http: "), "{error}");
}

#[tokio::test]
async fn huge_answer_is_cut_at_4_kib() {
    let reply = Reply::status(200).body(vec![b'x'; 1024 * 1024]);
    let rx = Receiver::start(Behaviour::Replies(vec![reply]));
    let result = client()
        .send(&request(&webhook(&rx.url()), "{}"), TIMEOUT)
        .await;
    assert!(result.succeeded(), "{result:?}");
    assert_eq!(result.response_body.len(), 4096);
}

#[tokio::test]
async fn retry_after_is_read_on_429_and_503_only() {
    let rx = Receiver::start(Behaviour::Replies(vec![
        Reply::status(429).header("Retry-After", "120"),
        Reply::status(503).header("Retry-After", "Fri, 31 Dec 9999 23:59:59 GMT"),
        Reply::status(500).header("Retry-After", "120"),
    ]));
    let client = client();
    let req = request(&webhook(&rx.url()), "{}");
    let first = client.send(&req, TIMEOUT).await;
    assert_eq!(first.status_code, Some(429));
    assert_eq!(first.retry_after, Some(Duration::from_secs(120)));
    let second = client.send(&req, TIMEOUT).await;
    assert_eq!(second.status_code, Some(503));
    assert!(second.retry_after > Some(Duration::from_secs(86400 * 365)));
    let third = client.send(&req, TIMEOUT).await;
    assert_eq!(third.status_code, Some(500));
    assert_eq!(third.retry_after, None);
}

#[tokio::test]
async fn connections_are_kept_alive() {
    let rx = Receiver::start(Behaviour::Fixed(200));
    let client = client();
    let req = request(&webhook(&rx.url()), "{}");
    for _ in 0..3 {
        assert!(client.send(&req, TIMEOUT).await.succeeded());
    }
    assert_eq!(rx.connections(), 1);
    assert!(rx.requests().iter().all(|r| r.connection == 0));
}

#[tokio::test]
async fn receiver_counts_concurrent_requests() {
    let reply = Reply::status(200).delay(Duration::from_millis(300));
    let rx = Receiver::start(Behaviour::Replies(vec![reply]));
    let client = client();
    let req = request(&webhook(&rx.url()), "{}");
    let (a, b, c) = tokio::join!(
        client.send(&req, TIMEOUT),
        client.send(&req, TIMEOUT),
        client.send(&req, TIMEOUT)
    );
    assert!(a.succeeded() && b.succeeded() && c.succeeded());
    assert_eq!(rx.max_concurrent(), 3);
}

#[test]
fn garbage_ca_file_is_a_clear_error() {
    let dir = std::env::temp_dir().join(format!("hookline-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let cases = [
        (
            "plain.pem",
            "this is not a certificate\n",
            "no PEM certificate",
        ),
        (
            "armoured.pem",
            "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
            "not PEM certificates",
        ),
        (
            "not-x509.pem",
            "-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n",
            "not usable as trust roots",
        ),
    ];
    for (name, content, reason) in cases {
        let path = dir.join(name);
        std::fs::write(&path, content).expect("write");
        let err = HttpClient::new(Some(&path)).expect_err(name).to_string();
        assert!(err.starts_with("ca_file "), "{err}");
        assert!(err.contains(&*path.to_string_lossy()), "{err}");
        assert!(err.contains(reason), "{err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn tls_trusts_the_ca_file_and_only_then() {
    let server = tls_server(2);
    let url = format!("https://localhost:{}/hook", server);
    let req = request(&webhook(&url), "{}");

    let untrusted = client().send(&req, TIMEOUT).await;
    assert_eq!(
        untrusted.error_class,
        Some(ErrorClass::Tls),
        "{untrusted:?}"
    );
    let error = untrusted.error.unwrap_or_default();
    assert!(
        error.starts_with("tls: ") && error.contains("UnknownIssuer"),
        "{error}"
    );

    let trusting = HttpClient::new(Some(&data("ca.pem"))).expect("ca file loads");
    let trusted = trusting.send(&req, TIMEOUT).await;
    assert_eq!(trusted.status_code, Some(200), "{trusted:?}");
    assert_eq!(trusted.response_body, "tls ok");
}

/// A one-thread HTTPS server with the test CA's `localhost` certificate that
/// answers `200 tls ok` to each of `connections` connections, then stops.
fn tls_server(connections: usize) -> u16 {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(data("server.pem"))
        .expect("server.pem")
        .collect::<Result<_, _>>()
        .expect("server.pem parses");
    let key = PrivateKeyDer::from_pem_file(data("server.key")).expect("server.key");
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server config");
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(connections) {
            let Ok(tcp) = stream else { continue };
            let _ = tcp.set_read_timeout(Some(Duration::from_secs(5)));
            let Ok(conn) = rustls::ServerConnection::new(Arc::clone(&config)) else {
                continue;
            };
            let mut tls = rustls::StreamOwned::new(conn, tcp);
            let mut buf = [0_u8; 4096];
            if matches!(tls.read(&mut buf), Ok(n) if n > 0) {
                let answer =
                    "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\ntls ok";
                let _ = tls.write_all(answer.as_bytes());
                tls.conn.send_close_notify();
                let _ = tls.flush();
            }
        }
    });
    port
}

#[tokio::test]
async fn receiver_sequence_repeats_its_last_status() {
    let rx = Receiver::start(Behaviour::Sequence(vec![503, 500, 200]));
    let client = client();
    let req = request(&webhook(&rx.url()), "{}");
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(client.send(&req, TIMEOUT).await.status_code);
    }
    assert_eq!(statuses, [Some(503), Some(500), Some(200), Some(200)]);
    assert!(rx.wait_for(4, Duration::from_secs(1)));
    assert!(!rx.wait_for(5, Duration::from_millis(50)));
    rx.set_behaviour(Behaviour::Fixed(418));
    assert_eq!(client.send(&req, TIMEOUT).await.status_code, Some(418));
}
