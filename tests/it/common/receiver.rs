//! A webhook receiver for tests: a tiny blocking HTTP/1.1 server on
//! `127.0.0.1:<free port>` that records every request and answers as told.
//!
//! Self-contained (std only), so it can be copied into any test crate. One
//! thread accepts, one thread serves each connection; connections are
//! keep-alive (requests are read in a loop until EOF or `Connection: close`),
//! which is what a pooling client expects. Request bodies must carry a
//! `Content-Length` (chunked request bodies are not supported).
//!
//! ```ignore
//! let rx = Receiver::start(Behaviour::Sequence(vec![503, 200]));
//! // ... point a webhook at rx.url() and deliver ...
//! assert!(rx.wait_for(2, Duration::from_secs(5)));
//! assert_eq!(rx.requests()[1].header("webhook-id"), Some("dl_1"));
//! ```
//!
//! Every loop is bounded: socket reads time out every [`POLL`] to look at
//! the stop flag, delays sleep in [`POLL`] slices, and dropping the
//! [`Receiver`] stops and joins all its threads.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often blocked threads look at the stop flag.
pub const POLL: Duration = Duration::from_millis(20);
/// Largest request head accepted; a bigger one closes the connection.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// A client that does not read the answer for this long is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// One answer (or non-answer) of the receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    /// Extra response headers (`Retry-After`, `Location`, ...).
    /// `Content-Length` is always written by the receiver.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Wait this long after the request arrived before answering.
    pub delay: Duration,
    /// Close the connection instead of answering (after `delay`).
    pub close_without_answer: bool,
}

impl Reply {
    /// An empty answer with this status.
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            delay: Duration::ZERO,
            close_without_answer: false,
        }
    }

    /// No answer at all: the connection is closed once the request is read.
    pub fn close() -> Reply {
        Reply {
            close_without_answer: true,
            ..Reply::status(0)
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Reply {
        self.body = body.into();
        self
    }

    pub fn delay(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }
}

/// What the receiver answers, request after request (counted over all
/// connections in arrival order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Behaviour {
    /// Always this status, empty body.
    Fixed(u16),
    /// These statuses in turn; the last one repeats.
    Sequence(Vec<u16>),
    /// These replies in turn; the last one repeats.
    Replies(Vec<Reply>),
    /// Close every connection without answering.
    CloseWithoutAnswer,
}

impl Behaviour {
    /// The reply to the `index`-th request (0-based).
    fn reply(&self, index: usize) -> Reply {
        match self {
            Behaviour::Fixed(status) => Reply::status(*status),
            Behaviour::Sequence(statuses) => nth_or_last(statuses, index)
                .map_or_else(|| Reply::status(200), |s| Reply::status(*s)),
            Behaviour::Replies(replies) => nth_or_last(replies, index)
                .cloned()
                .unwrap_or_else(|| Reply::status(200)),
            Behaviour::CloseWithoutAnswer => Reply::close(),
        }
    }
}

fn nth_or_last<T>(items: &[T], index: usize) -> Option<&T> {
    items.get(index).or_else(|| items.last())
}

/// A request as it arrived.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// The request target as sent (`/hook?x=1`).
    pub path: String,
    /// Lower-case names; repeated headers are joined with `", "`.
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
    /// When the whole request had been read.
    pub arrived: Instant,
    /// Which connection it came on (0, 1, ... in accept order): tells
    /// keep-alive reuse from new connections.
    pub connection: usize,
}

impl Recorded {
    /// A header's value by name, any letter case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// State shared by the handle and the server threads.
struct Shared {
    requests: Mutex<Vec<Recorded>>,
    arrived: Condvar,
    behaviour: Mutex<(Behaviour, usize)>,
    stop: AtomicBool,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    connections: AtomicUsize,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

/// Locks ignoring poisoning: a panicking test thread must not hide the
/// recorded requests from the assertion that explains it.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running receiver; stops when dropped.
pub struct Receiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl Receiver {
    /// Starts listening on `127.0.0.1` at a free port.
    pub fn start(behaviour: Behaviour) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        Receiver::serve(listener, behaviour)
    }

    /// Starts listening on `addr` (a receiver that comes back on the port
    /// of one that was stopped).
    #[allow(dead_code)] // used by benches/e2e only
    pub fn start_on(addr: SocketAddr, behaviour: Behaviour) -> std::io::Result<Receiver> {
        Ok(Receiver::serve(TcpListener::bind(addr)?, behaviour))
    }

    fn serve(listener: TcpListener, behaviour: Behaviour) -> Receiver {
        let addr = listener.local_addr().expect("local addr");
        let shared = Arc::new(Shared {
            requests: Mutex::new(Vec::new()),
            arrived: Condvar::new(),
            behaviour: Mutex::new((behaviour, 0)),
            stop: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            connections: AtomicUsize::new(0),
            workers: Mutex::new(Vec::new()),
        });
        let for_thread = Arc::clone(&shared);
        let acceptor = std::thread::Builder::new()
            .name("receiver-accept".into())
            .spawn(move || accept_loop(&listener, &for_thread))
            .expect("spawn accept thread");
        Receiver {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    #[allow(dead_code)] // no test needs more than `url()` yet
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>/hook`.
    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// A copy of every request so far, in arrival order.
    /// How many requests arrived (cheaper than `requests().len()`).
    #[allow(dead_code)] // used by benches/e2e only
    pub fn count(&self) -> usize {
        lock(&self.shared.requests).len()
    }

    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.shared.requests).clone()
    }

    /// Waits until at least `n` requests arrived; `false` if `within` passed
    /// first. Wakes on each arrival, so it never sleeps longer than needed.
    pub fn wait_for(&self, n: usize, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        let mut requests = lock(&self.shared.requests);
        while requests.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            requests = self
                .shared
                .arrived
                .wait_timeout(requests, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }

    /// The most requests that were being handled (read, waiting out their
    /// delay, answering) at the same time.
    pub fn max_concurrent(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }

    /// How many connections were accepted.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Answers from now on as `behaviour` says, counting from its start.
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        *lock(&self.shared.behaviour) = (behaviour, 0);
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept(); it sees the flag and returns.
        let woke = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1)).is_ok();
        if let Some(acceptor) = self.acceptor.take() {
            if woke {
                let _ = acceptor.join();
            }
        }
        let workers = std::mem::take(&mut *lock(&self.shared.workers));
        for worker in workers {
            let _ = worker.join();
        }
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let connection = shared.connections.fetch_add(1, Ordering::SeqCst);
        let for_thread = Arc::clone(shared);
        let spawned = std::thread::Builder::new()
            .name(format!("receiver-conn-{connection}"))
            .spawn(move || serve_connection(stream, &for_thread, connection));
        if let Ok(handle) = spawned {
            let mut workers = lock(&shared.workers);
            workers.retain(|w| !w.is_finished());
            workers.push(handle);
        }
    }
}

/// Serves requests on one connection until EOF, an error, `Connection:
/// close`, a close-without-answer reply or the stop flag.
fn serve_connection(mut stream: TcpStream, shared: &Shared, connection: usize) {
    if stream.set_read_timeout(Some(POLL)).is_err()
        || stream.set_write_timeout(Some(WRITE_TIMEOUT)).is_err()
    {
        return;
    }
    let mut buffer = Vec::new();
    while let Some(parsed) = read_request(&mut stream, &mut buffer, shared) {
        let keep_alive = wants_keep_alive(&parsed.headers);
        let reply = next_reply(shared);
        let request = Recorded {
            method: parsed.method,
            path: parsed.path,
            headers: parsed.headers,
            body: parsed.body,
            arrived: Instant::now(),
            connection,
        };
        let answered = handle(&mut stream, shared, request, &reply);
        if !answered || !keep_alive {
            break;
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
}

/// Records the request and answers it; `false` if the connection must close.
fn handle(stream: &mut TcpStream, shared: &Shared, request: Recorded, reply: &Reply) -> bool {
    let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    shared.max_in_flight.fetch_max(now, Ordering::SeqCst);
    lock(&shared.requests).push(request);
    shared.arrived.notify_all();
    let answered = sleep_unless_stopped(reply.delay, shared)
        && !reply.close_without_answer
        && write_reply(stream, reply).is_ok();
    shared.in_flight.fetch_sub(1, Ordering::SeqCst);
    answered
}

fn next_reply(shared: &Shared) -> Reply {
    let mut state = lock(&shared.behaviour);
    let reply = state.0.reply(state.1);
    state.1 += 1;
    reply
}

/// Sleeps in [`POLL`] slices; `false` if the receiver is stopping.
fn sleep_unless_stopped(total: Duration, shared: &Shared) -> bool {
    let deadline = Instant::now() + total;
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            return false;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(POLL));
    }
}

/// A request as parsed, before it is recorded.
struct Parsed {
    method: String,
    path: String,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

/// Reads the next whole request from `stream`; `buffer` keeps bytes that
/// arrived after it (a pipelined next request). `None` on EOF, error,
/// oversized or malformed input, or stop.
fn read_request(stream: &mut TcpStream, buffer: &mut Vec<u8>, shared: &Shared) -> Option<Parsed> {
    let head_end = loop {
        if let Some(end) = find(buffer, b"\r\n\r\n") {
            break end;
        }
        if buffer.len() > MAX_HEAD_BYTES {
            return None;
        }
        read_more(stream, buffer, shared)?;
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let (method, path, headers) = parse_head(&head)?;
    let length = match headers.get("content-length") {
        Some(value) => value.trim().parse::<usize>().ok()?,
        None => 0,
    };
    let body_start = head_end + 4;
    while buffer.len() < body_start + length {
        read_more(stream, buffer, shared)?;
    }
    let body = buffer[body_start..body_start + length].to_vec();
    buffer.drain(..body_start + length);
    Some(Parsed {
        method,
        path,
        headers,
        body,
    })
}

/// Appends what the socket has; waits in [`POLL`] steps. `None` on EOF,
/// error or stop.
fn read_more(stream: &mut TcpStream, buffer: &mut Vec<u8>, shared: &Shared) -> Option<()> {
    let mut chunk = [0_u8; 16 * 1024];
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            return None;
        }
        match stream.read(&mut chunk) {
            Ok(0) => return None,
            Ok(n) => {
                buffer.extend_from_slice(&chunk[..n]);
                return Some(());
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
}

type Head = (String, String, BTreeMap<String, String>);

/// Request line and headers; `None` if malformed.
fn parse_head(head: &str) -> Option<Head> {
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_string();
    let path = request_line.next()?.to_string();
    if !request_line.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for line in lines {
        let (name, value) = line.split_once(':')?;
        let name = name.trim().to_ascii_lowercase();
        let value = value.trim().to_string();
        headers
            .entry(name)
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert(value);
    }
    Some((method, path, headers))
}

fn wants_keep_alive(headers: &BTreeMap<String, String>) -> bool {
    headers
        .get("connection")
        .is_none_or(|v| !v.to_ascii_lowercase().contains("close"))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn write_reply(stream: &mut TcpStream, reply: &Reply) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {} {}\r\n", reply.status, reason(reply.status));
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", reply.body.len()));
    stream.write_all(head.as_bytes())?;
    stream.write_all(&reply.body)?;
    stream.flush()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}
