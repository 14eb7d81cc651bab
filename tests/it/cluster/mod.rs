//! Cluster mode (CLUSTER.md) against the machine's NATS server with
//! JetStream on 127.0.0.1:4222: three instances on one machine, each with
//! its own port and data file, sharing one stream of 8 partitions.
//!
//! Every test uses its own stream, subject prefix and buckets (named after
//! the process and a counter) and deletes them when it ends, so tests never
//! see each other's data. Without a NATS server the tests say so and pass,
//! unless `REQUIRE_NATS=1` (set by `.ci/run`, which checks the
//! server first) makes that a failure.

mod operations;
mod ordering;
mod outage;
mod sharing;
mod takeover;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::Value;

use crate::common::{eventually, Daemon, ADMIN};

/// The machine's NATS server.
pub const NATS: &str = "127.0.0.1:4222";

/// Whether the NATS server answers; `false` skips the test (or fails it
/// when `REQUIRE_NATS=1`).
pub fn nats_here() -> bool {
    let up = std::net::TcpStream::connect_timeout(
        &NATS.parse().expect("address"),
        Duration::from_secs(2),
    )
    .is_ok();
    if !up {
        assert!(
            std::env::var("REQUIRE_NATS").as_deref() != Ok("1"),
            "no NATS server answers on {NATS}; the cluster tests need one (README, Cluster mode)"
        );
        eprintln!("skipped: no NATS server on {NATS}");
    }
    up
}

/// The stream and bucket names of one test; deleted when dropped.
pub struct Scratch {
    pub stream: String,
    pub prefix: String,
    pub bucket: String,
    url: String,
}

impl Scratch {
    pub fn new() -> Scratch {
        Scratch::on(&format!("nats://{NATS}"))
    }

    /// Names on the NATS server at `url`.
    pub fn on(url: &str) -> Scratch {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let tag = format!(
            "{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        Scratch {
            stream: format!("HLT_{tag}"),
            prefix: format!("hlt.t{tag}"),
            bucket: format!("hlt_{tag}"),
            url: url.to_string(),
        }
    }

    /// The `[cluster]` table of instance `name` (with the test admin token).
    pub fn config(&self, name: &str, lease: &str) -> String {
        format!(
            "admin_token = {ADMIN:?}\n[cluster]\nnats_url = {:?}\ninstance = {name:?}\nstream = {:?}\nsubject_prefix = {:?}\nbucket = {:?}\npartitions = 8\nlease = {lease:?}\n",
            self.url, self.stream, self.prefix, self.bucket
        )
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let (url, stream, bucket) = (self.url.clone(), self.stream.clone(), self.bucket.clone());
        let cleanup = async move {
            let Ok(client) = async_nats::connect(url.as_str()).await else {
                return;
            };
            let js = async_nats::jetstream::new(client);
            let _ = js.delete_stream(&stream).await;
            let _ = js.delete_key_value(&bucket).await;
            let _ = js.delete_key_value(format!("{bucket}_config")).await;
        };
        if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            rt.block_on(async {
                let _ = tokio::time::timeout(Duration::from_secs(10), cleanup).await;
            });
        }
    }
}

/// Starts instance `name` on `dir`.
pub fn instance(dir: &Path, scratch: &Scratch, name: &str, lease: &str) -> Daemon {
    Daemon::start_in(dir, &scratch.config(name, lease))
}

/// Instances named `names`, each on a fresh directory (returned too, for
/// restarts on the same data file).
pub fn instances<const N: usize>(
    scratch: &Scratch,
    names: [&str; N],
    lease: &str,
) -> ([tempfile::TempDir; N], [Daemon; N]) {
    let dirs: [tempfile::TempDir; N] = std::array::from_fn(|_| tempfile::tempdir().expect("dir"));
    let daemons = std::array::from_fn(|i| instance(dirs[i].path(), scratch, names[i], lease));
    (dirs, daemons)
}

/// `GET /api/v1/cluster` of `d`.
pub fn view(d: &Daemon) -> Value {
    d.get("/api/v1/cluster").json
}

/// How many partitions each instance owns, as `d` sees it, sorted from most.
pub fn spread(d: &Daemon) -> Vec<usize> {
    let v = view(d);
    let mut by: std::collections::BTreeMap<String, usize> = Default::default();
    for p in v["partitions"].as_array().into_iter().flatten() {
        if let Some(o) = p["owner"].as_str() {
            *by.entry(o.to_string()).or_default() += 1;
        }
    }
    let mut counts: Vec<usize> = by.into_values().collect();
    counts.sort_unstable_by(|a, b| b.cmp(a));
    counts
}

/// Waits until every instance in `all` owns its share and `d` sees it.
pub fn settled(all: &[&Daemon], want: &[usize], within: Duration) -> bool {
    eventually(within, || {
        let owned: usize = all
            .iter()
            .map(|d| view(d)["owned"].as_array().map_or(0, Vec::len))
            .sum();
        owned == want.iter().sum::<usize>() && all.iter().all(|d| spread(d) == want)
    })
}

/// Waits (≤ 5 s) until every instance in `all` lists `n` rule groups: a
/// change reaches the others within about a second, and an event evaluated
/// before it arrived is evaluated without it.
pub fn groups_everywhere(all: &[&Daemon], n: usize) -> bool {
    let groups = |d: &Daemon| {
        d.get("/api/v1/rule-groups").json["items"]
            .as_array()
            .map_or(0, Vec::len)
    };
    eventually(Duration::from_secs(5), || {
        all.iter().all(|d| groups(d) == n)
    })
}

/// The 32-bit FNV-1a CLUSTER.md fixes, written again here so the test does
/// not take the daemon's word for it.
pub fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}
