//! The one HTTP client every delivery shares, and a single attempt with it.
//!
//! Design points (BEHAVIOUR.md §5):
//! - Redirects are never followed: a `3xx` is an answer like any other (and a
//!   failed attempt), so a receiver cannot bounce signed bodies elsewhere.
//! - Keep-alive pooling: most webhooks go to few hosts, and a fresh TCP + TLS
//!   handshake per attempt would cost more than the request itself.
//! - Proxies: reqwest reads `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY`/`NO_PROXY`
//!   (and their lower-case forms) when the client is built. This is its
//!   default `auto_sys_proxy` behaviour (`hyper_util` `Matcher::from_system`),
//!   which does not depend on the `system-proxy` feature: that feature only
//!   adds the macOS/Windows system settings. `HTTP_PROXY` is ignored when
//!   `REQUEST_METHOD` is set (CGI safety, like curl).
//! - Trust: the platform's roots (rustls-platform-verifier; on Linux the
//!   system store, `SSL_CERT_FILE`/`SSL_CERT_DIR` honoured) plus every
//!   certificate of `ca_file`, for internal CAs.
//! - HTTP/1.1 only (reqwest's `http2` feature is off): webhooks are single
//!   small requests, and it keeps the dependency tree small.
//! - Target policy: every name is resolved by [`PolicyResolver`], which
//!   refuses it when any of its addresses is outside the policy; literal
//!   addresses are checked before the request (they are never resolved).
//!   With a proxy, the proxy makes the connection, so its address is the one
//!   checked (reqwest resolves only the proxy's name then).
//! - Mutual TLS: a webhook with a client certificate gets a client of its
//!   own ([`HttpClient::for_certificate`]), built when the webhook changes,
//!   so no other webhook's requests ever present that certificate.
//! - Every attempt is bounded as a whole by its timeout, and only the first
//!   4 KiB of an answer are read: a slow or huge receiver costs neither time
//!   nor memory.

use std::error::Error as StdError;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::time::Instant as Deadline;

use super::answer::{body_text, header_pairs, read_body_prefix, retry_after};
use super::policy::{Blocked, PolicyResolver, TargetPolicy};
use super::prepared::{Attempt, PreparedWebhook, Target};
use super::request::OutgoingRequest;
use crate::model::ClientCertificate;

/// How much of an answer body is kept.
pub const RESPONSE_BODY_LIMIT: usize = 4096;
/// Idle keep-alive connections are closed after this long.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// At most this many idle connections are kept per host; matches the
/// highest sensible `max_in_flight_per_webhook`.
const POOL_MAX_IDLE_PER_HOST: usize = 64;
/// Longest error reason kept: enough for any OS or TLS message.
const MAX_REASON_CHARS: usize = 200;

/// Building the client failed; the message names the `ca_file` when that
/// is the cause, so the operator knows which setting to fix.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("ca_file {}: {reason}", path.display())]
    CaFile { path: PathBuf, reason: String },
    #[error("cannot build the HTTP client: {0}")]
    Build(String),
}

/// Why an attempt got no HTTP answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// No complete answer within the attempt's timeout.
    Timeout,
    /// Refused or unreachable connection.
    Connect,
    /// The name did not resolve (reported as `connect: …`, counted apart).
    Dns,
    /// TLS handshake failed (certificate, protocol).
    Tls,
    /// The target policy refused the address: no connection was made.
    Blocked,
    /// Anything else: a reset or closed connection, a malformed answer, an
    /// unusable URL or header.
    Http,
}

impl ErrorClass {
    /// The prefix of the error text (`"connect"` in `"connect: …"`).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Timeout => "timeout",
            ErrorClass::Connect | ErrorClass::Dns => "connect",
            ErrorClass::Tls => "tls",
            ErrorClass::Blocked => "blocked",
            ErrorClass::Http => "http",
        }
    }
}

/// The outcome of one attempt, as recorded in the delivery's attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptResult {
    pub started_at: SystemTime,
    pub duration: Duration,
    /// The answer's status, `None` when none came.
    pub status_code: Option<u16>,
    /// `None` on any HTTP answer; else `"timeout"`, `"connect: <reason>"`,
    /// `"tls: <reason>"` or `"http: <reason>"`. Never holds credentials or
    /// the URL.
    pub error: Option<String>,
    pub error_class: Option<ErrorClass>,
    pub response_headers: Vec<(String, String)>,
    /// The first 4 KiB of the answer body, lossy UTF-8, cut on a char boundary.
    pub response_body: String,
    /// `Retry-After` of a `429`/`503` answer (delta-seconds or HTTP-date).
    pub retry_after: Option<Duration>,
}

impl AttemptResult {
    /// Success is a `2xx` answer, nothing else (not even a `3xx`).
    pub fn succeeded(&self) -> bool {
        self.status_code.is_some_and(|s| (200..300).contains(&s))
    }
}

/// The shared client: cheap to clone (one connection pool behind an `Arc`).
#[derive(Debug, Clone)]
pub struct HttpClient {
    inner: reqwest::Client,
    setup: Arc<Setup>,
}

/// What every client of the process is built with, kept to build the
/// clients of webhooks with a client certificate.
#[derive(Debug)]
struct Setup {
    roots: Vec<reqwest::Certificate>,
    policy: Arc<TargetPolicy>,
    /// A proxy is configured: literal addresses are the proxy's business.
    proxied: bool,
}

/// The proxy variables reqwest reads (POLICIES.md: with a proxy, the policy
/// applies to the proxy's address).
const PROXY_VARIABLES: &[&str] = &[
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
];

impl HttpClient {
    /// Builds the client with the built-in target policy; see
    /// [`HttpClient::with_policy`].
    pub fn new(ca_file: Option<&Path>) -> Result<HttpClient, ClientError> {
        HttpClient::with_policy(ca_file, TargetPolicy::new(true, &[], &[]))
    }

    /// Builds the client; `ca_file` adds every PEM certificate in it to the
    /// trusted roots (an empty path means none), `policy` decides which
    /// addresses may be reached. Proxies come from the environment as read
    /// now.
    pub fn with_policy(
        ca_file: Option<&Path>,
        policy: TargetPolicy,
    ) -> Result<HttpClient, ClientError> {
        let ca_file = ca_file.filter(|p| !p.as_os_str().is_empty());
        let roots = match ca_file {
            Some(path) => read_ca_file(path)?,
            None => Vec::new(),
        };
        let proxied = PROXY_VARIABLES
            .iter()
            .any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()));
        let setup = Arc::new(Setup {
            roots,
            policy: Arc::new(policy),
            proxied,
        });
        // With a ca_file, building fails mostly on its certificates (the TLS
        // verifier parses them only now).
        let inner = setup.builder().build().map_err(|e| match ca_file {
            Some(path) => ClientError::CaFile {
                path: path.to_path_buf(),
                reason: format!("not usable as trust roots ({})", root_cause(&e)),
            },
            None => ClientError::Build(root_cause(&e)),
        })?;
        Ok(HttpClient { inner, setup })
    }

    /// The target policy this client applies.
    pub fn policy(&self) -> &TargetPolicy {
        &self.setup.policy
    }

    /// A client of its own for a webhook with a client certificate: the
    /// same trust, policy and pooling, presenting `cert` when asked.
    pub fn for_certificate(&self, cert: &ClientCertificate) -> Result<reqwest::Client, String> {
        let pem = format!("{}\n{}", cert.cert_pem.trim_end(), cert.key_pem.trim_end());
        let identity = reqwest::Identity::from_pem(pem.as_bytes())
            .map_err(|e| format!("client certificate unusable: {}", root_cause(&e)))?;
        self.setup
            .builder()
            .identity(identity)
            .build()
            .map_err(|e| format!("client certificate unusable: {}", root_cause(&e)))
    }

    /// Sends one request as given. Connecting, the answer's head and the
    /// first 4 KiB of its body all share `timeout`. Never fails: every
    /// problem is described in the result.
    pub async fn send(&self, req: &OutgoingRequest, timeout: Duration) -> AttemptResult {
        self.send_presenting(req, timeout, None).await
    }

    /// [`HttpClient::send`] presenting `cert` when the receiver asks for a
    /// client certificate (the webhook test of a webhook that has one).
    pub async fn send_presenting(
        &self,
        req: &OutgoingRequest,
        timeout: Duration,
        cert: Option<&ClientCertificate>,
    ) -> AttemptResult {
        let client = match cert.map(|c| self.for_certificate(c)).transpose() {
            Ok(own) => own.unwrap_or_else(|| self.inner.clone()),
            Err(reason) => {
                return self
                    .run(&self.inner, Err(Failure::tls(reason)), timeout)
                    .await
            }
        };
        let request = self.prepare(&client, req);
        self.run(&client, request, timeout).await
    }

    /// Sends one attempt of a delivery with the webhook's prepared parts
    /// (and its own client, when it has a client certificate).
    pub async fn send_attempt(
        &self,
        webhook: &PreparedWebhook,
        attempt: Attempt<'_>,
    ) -> AttemptResult {
        let client = match webhook.own_client() {
            Ok(Some(own)) => own,
            Ok(None) => &self.inner,
            Err(reason) => {
                let failure = Failure::tls(reason.to_string());
                return self.run(&self.inner, Err(failure), webhook.timeout).await;
            }
        };
        let request = webhook.request(client, attempt).map_err(Failure::http);
        self.run(client, request, webhook.timeout).await
    }

    async fn run(
        &self,
        client: &reqwest::Client,
        request: Result<reqwest::Request, Failure>,
        timeout: Duration,
    ) -> AttemptResult {
        let started_at = SystemTime::now();
        let clock = Instant::now();
        let deadline = Deadline::now() + timeout;
        let request = request.and_then(|r| self.check_literal(r));
        let outcome = match request {
            Ok(request) => exchange(client, request, deadline).await,
            Err(failure) => Err(failure),
        };
        let duration = clock.elapsed();
        match outcome {
            Ok(answer) => AttemptResult {
                started_at,
                duration,
                status_code: Some(answer.status),
                error: None,
                error_class: None,
                response_headers: answer.headers,
                response_body: answer.body,
                retry_after: answer.retry_after,
            },
            Err(failure) => AttemptResult {
                started_at,
                duration,
                status_code: None,
                error: Some(failure.text()),
                error_class: Some(failure.class),
                response_headers: Vec::new(),
                response_body: String::new(),
                retry_after: None,
            },
        }
    }

    /// A literal address is never resolved, so the policy is asked here;
    /// with a proxy the request goes to the proxy instead.
    fn check_literal(&self, request: reqwest::Request) -> Result<reqwest::Request, Failure> {
        if self.setup.proxied {
            return Ok(request);
        }
        match self.setup.policy.check_literal(request.url()) {
            Some(Err(blocked)) => Err(Failure::blocked(&blocked)),
            _ => Ok(request),
        }
    }

    /// Turns the request into reqwest's. Checked here rather than by reqwest
    /// so the error names the bad part without echoing the URL or a header
    /// value, which may hold credentials.
    fn prepare(
        &self,
        client: &reqwest::Client,
        req: &OutgoingRequest,
    ) -> Result<reqwest::Request, Failure> {
        let headers = req.headers.iter().map(|(n, v)| (n.as_str(), v.as_str()));
        let target = Target::parse(&req.url, req.method, headers).map_err(Failure::http)?;
        client
            .request(target.method, target.url)
            .headers(target.headers)
            .body(req.body.clone())
            .build()
            .map_err(|e| Failure::http(root_cause(&e)))
    }
}

impl Setup {
    fn builder(&self) -> reqwest::ClientBuilder {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .pool_max_idle_per_host(POOL_MAX_IDLE_PER_HOST)
            .tcp_nodelay(true)
            .dns_resolver(Arc::new(PolicyResolver {
                policy: self.policy.clone(),
            }));
        if !self.roots.is_empty() {
            builder = builder.tls_certs_merge(self.roots.iter().cloned());
        }
        builder
    }
}

async fn exchange(
    client: &reqwest::Client,
    request: reqwest::Request,
    deadline: Deadline,
) -> Result<Answer, Failure> {
    let mut response = match tokio::time::timeout_at(deadline, client.execute(request)).await {
        Err(_elapsed) => return Err(Failure::timeout()),
        Ok(Err(e)) => return Err(classify(&e)),
        Ok(Ok(response)) => response,
    };
    let status = response.status().as_u16();
    let retry_after = match status {
        429 | 503 => retry_after(response.headers(), SystemTime::now()),
        _ => None,
    };
    let headers = header_pairs(response.headers());
    let body = read_body_prefix(&mut response, deadline).await;
    Ok(Answer {
        status,
        headers,
        body: body_text(&body),
        retry_after,
    })
}

/// What came back when an answer came.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
    retry_after: Option<Duration>,
}

/// Why no answer came.
struct Failure {
    class: ErrorClass,
    reason: String,
}

impl Failure {
    fn timeout() -> Failure {
        Failure {
            class: ErrorClass::Timeout,
            reason: String::new(),
        }
    }

    fn http(reason: String) -> Failure {
        Failure {
            class: ErrorClass::Http,
            reason,
        }
    }

    fn tls(reason: String) -> Failure {
        Failure {
            class: ErrorClass::Tls,
            reason,
        }
    }

    fn blocked(blocked: &Blocked) -> Failure {
        Failure {
            class: ErrorClass::Blocked,
            reason: blocked.0.clone(),
        }
    }

    fn text(&self) -> String {
        if self.reason.is_empty() {
            self.class.as_str().to_string()
        } else {
            format!("{}: {}", self.class.as_str(), self.reason)
        }
    }
}

/// Reads every PEM certificate of `path`; a file with none is an error, as
/// it surely is not what the operator meant.
fn read_ca_file(path: &Path) -> Result<Vec<reqwest::Certificate>, ClientError> {
    let fail = |reason: String| ClientError::CaFile {
        path: path.to_path_buf(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| fail(format!("cannot read: {e}")))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| fail(format!("not PEM certificates: {}", root_cause(&e))))?;
    if certs.is_empty() {
        return Err(fail("no PEM certificate in the file".to_string()));
    }
    Ok(certs)
}

/// Sorts a reqwest error into a class with a short reason. TLS is checked
/// first because reqwest reports handshake failures as connect errors too.
fn classify(err: &reqwest::Error) -> Failure {
    if let Some(blocked) = causes(err).find_map(|e| e.downcast_ref::<Blocked>()) {
        return Failure::blocked(blocked);
    }
    if let Some(tls) = find_rustls_error(err) {
        return Failure {
            class: ErrorClass::Tls,
            reason: shorten(&tls.to_string()),
        };
    }
    let class = if err.is_timeout() {
        ErrorClass::Timeout
    } else if err.is_connect() && causes(err).any(|e| e.to_string().starts_with("dns error")) {
        ErrorClass::Dns
    } else if err.is_connect() {
        ErrorClass::Connect
    } else {
        ErrorClass::Http
    };
    let reason = match class {
        ErrorClass::Timeout => String::new(),
        _ => root_cause(err),
    };
    Failure { class, reason }
}

/// The rustls error behind `err`, if any.
fn find_rustls_error<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    causes(err).find_map(|e| e.downcast_ref::<rustls::Error>())
}

/// `err` and its causes, outermost first. A wrapping `io::Error` hides the
/// error it wraps from `source()` (it reports that error's source instead),
/// and hyper nests them (`io::Error(io::Error(rustls::Error))`), so an
/// `io::Error` is opened with `get_ref()` instead.
fn causes<'a>(
    err: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(err), |&e| next_cause(e)).take(32) // a cyclic chain would be a bug elsewhere; stay bounded anyway
}

fn next_cause<'a>(e: &'a (dyn StdError + 'static)) -> Option<&'a (dyn StdError + 'static)> {
    match e
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
    {
        Some(inner) => Some(inner),
        None => e.source(),
    }
}

/// The innermost error's text (`Connection refused (os error 111)`): the
/// outer layers of reqwest's errors only repeat the URL, which must not be
/// shown (it may carry credentials), and say "error sending request".
fn root_cause(err: &(dyn StdError + 'static)) -> String {
    let last = causes(err).last().unwrap_or(err);
    shorten(&last.to_string())
}

fn shorten(text: &str) -> String {
    text.chars().take(MAX_REASON_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_is_2xx_only() {
        let mut r = AttemptResult {
            started_at: SystemTime::now(),
            duration: Duration::ZERO,
            status_code: Some(204),
            error: None,
            error_class: None,
            response_headers: Vec::new(),
            response_body: String::new(),
            retry_after: None,
        };
        assert!(r.succeeded());
        for code in [Some(199), Some(302), Some(500), None] {
            r.status_code = code;
            assert!(!r.succeeded(), "{code:?}");
        }
    }

    #[test]
    fn missing_ca_file_is_named() {
        let path = Path::new("/nonexistent/hookline-ca.pem");
        let err = HttpClient::new(Some(path)).expect_err("missing file");
        let text = err.to_string();
        assert!(text.contains("/nonexistent/hookline-ca.pem"), "{text}");
        assert!(text.contains("cannot read"), "{text}");
    }

    #[test]
    fn empty_ca_file_setting_means_none() {
        assert!(HttpClient::new(Some(Path::new(""))).is_ok());
    }
}
