//! Cluster mode (CLUSTER.md): the only part of hookline that knows NATS.
//!
//! - `partition`: which partition an event belongs to (pure);
//! - `balance`: which partitions an instance should claim or release (pure);
//! - `ingress`: publishing accepted events to the stream;
//! - `claims`: the lease loop (heartbeat, claims, renewal, rebalancing), which
//!   starts and stops
//! - `consumer`: one durable pull consumer per owned partition, feeding the
//!   rule engine and acking after the redb commit;
//! - `pages`: merging several instances' delivery-log pages (pure);
//! - `reads`: request-reply for the events and deliveries another
//!   instance's file holds;
//! - `shared_config`: webhooks, schemas and rule groups in the bucket,
//!   written with compare-and-set and watched by every instance.
//!
//! The loops run on the arbiter that starts them (the daemon's main one,
//! which only accepts connections and waits for signals); the HTTP workers
//! only publish through the client, which is cheap to clone.

mod balance;
mod claims;
mod consumer;
mod ingress;
pub mod pages;
pub mod partition;
mod reads;
mod shared_config;

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use async_nats::jetstream::{self, kv, stream};

use actix::Addr;
use tokio::sync::watch;

use crate::config::ClusterConfig;
use crate::engine::RuleEngine;
use crate::store::Store;

use claims::run_claims;
pub use claims::Running;
pub use ingress::Queued;
pub use reads::Read;
use shared_config::watch_config;
pub use shared_config::{ConfigShare, ShareError};

/// Why cluster mode could not do something.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot connect to NATS at {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: async_nats::ConnectError,
    },
    #[error("NATS is not reachable now")]
    Disconnected,
    #[error("JetStream: {0}")]
    JetStream(String),
    #[error("{0}")]
    Mismatch(String),
}

impl ClusterError {
    fn js(what: &str, e: impl std::fmt::Display) -> ClusterError {
        ClusterError::JetStream(format!("{what}: {e}"))
    }
}

/// One owner as `GET /api/v1/cluster` shows it.
#[derive(Debug, Clone, Default, serde::Serialize, utoipa::ToSchema)]
pub struct PartitionView {
    pub partition: u32,
    /// The instance holding the claim; `null` while nobody does.
    pub owner: Option<String>,
    /// Messages of the partition not yet acknowledged by its owner.
    pub lag: Option<u64>,
}

/// What the claims loop last saw, for the API, the UI and the metrics.
#[derive(Debug, Clone, Default, serde::Serialize, utoipa::ToSchema)]
pub struct ClusterView {
    pub instance: String,
    /// Instances with an unexpired heartbeat, this one included.
    pub instances: Vec<String>,
    pub partitions: Vec<PartitionView>,
    /// Partitions this instance reads now.
    pub owned: Vec<u32>,
    /// Whether NATS answered the last look.
    pub connected: bool,
}

/// The connection and the JetStream objects of one instance. Cheap to clone.
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

struct Inner {
    config: ClusterConfig,
    client: async_nats::Client,
    js: jetstream::Context,
    stream: stream::Stream,
    claims: kv::Store,
    shared: kv::Store,
    /// The one share of this process: its revisions are what the next
    /// compare-and-set names, so the admin and the watch must use the same.
    share: ConfigShare,
    view: RwLock<ClusterView>,
}

/// Longest wait for one JetStream answer: an ingest request fails with
/// `503` after this rather than hanging while NATS is away.
const JS_TIMEOUT: Duration = Duration::from_secs(3);

impl Cluster {
    /// Connects and makes sure the stream and both buckets exist with the
    /// configured shape (created when missing).
    pub async fn connect(config: &ClusterConfig) -> Result<Cluster, ClusterError> {
        let url = config.nats_url.join(",");
        let mut options = async_nats::ConnectOptions::new()
            .name(format!("hookline {}", config.instance))
            .connection_timeout(JS_TIMEOUT)
            .request_timeout(Some(JS_TIMEOUT))
            .max_reconnects(None);
        if let Some(creds) = &config.nats_creds {
            options = options
                .credentials_file(creds)
                .await
                .map_err(|e| ClusterError::Mismatch(format!("cluster.nats_creds: {e}")))?;
        }
        // The first connection must succeed within the timeout: a daemon
        // that cannot reach NATS at start says so and exits.
        let client = tokio::time::timeout(
            JS_TIMEOUT * 2,
            async_nats::ConnectOptions::connect(options, url.as_str()),
        )
        .await
        .map_err(|_| ClusterError::Disconnected)?
        .map_err(|source| ClusterError::Connect { url, source })?;
        let js = jetstream::ContextBuilder::new()
            .timeout(JS_TIMEOUT)
            .build(client.clone());
        let stream = ensure_stream(&js, config).await?;
        let claims = ensure_bucket(&js, &config.bucket, config.lease, 1, config.replicas).await?;
        let shared = ensure_bucket(
            &js,
            &config.config_bucket(),
            Duration::ZERO,
            5,
            config.replicas,
        )
        .await?;
        let view = ClusterView {
            instance: config.instance.clone(),
            ..ClusterView::default()
        };
        Ok(Cluster {
            inner: Arc::new(Inner {
                config: config.clone(),
                client,
                js,
                stream,
                claims,
                share: ConfigShare::new(shared.clone()),
                shared,
                view: RwLock::new(view),
            }),
        })
    }

    pub fn config(&self) -> &ClusterConfig {
        &self.inner.config
    }

    /// Whether the client is connected now.
    pub fn connected(&self) -> bool {
        self.inner.client.connection_state() == async_nats::connection::State::Connected
    }

    /// The configuration share of this process.
    pub fn share(&self) -> ConfigShare {
        self.inner.share.clone()
    }

    /// Starts the configuration watch and, once it has applied the bucket,
    /// the claims loop, both on the current arbiter.
    pub fn start(&self, store: Store, engine: Addr<RuleEngine>) -> Running {
        let (ready, applied) = watch::channel(false);
        watch_config(self.share(), store, engine.clone(), ready);
        run_claims(self.clone(), engine, applied)
    }

    /// `hookline check`: connects and says whether the stream exists and
    /// fits; creates nothing.
    pub fn probe(config: &ClusterConfig) -> Result<String, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime.block_on(async {
            let url = config.nats_url.join(",");
            let client = tokio::time::timeout(JS_TIMEOUT, async_nats::connect(url.as_str()))
                .await
                .map_err(|_| {
                    format!("cluster: NATS at {url} did not answer within {JS_TIMEOUT:?}")
                })?
                .map_err(|e| format!("cluster: cannot connect to NATS at {url}: {e}"))?;
            let js = jetstream::new(client);
            let stream = match js.get_stream(&config.stream).await {
                Ok(mut s) => match s.info().await {
                    Ok(info)
                        if info.config.description.as_deref()
                            == Some(describe(config.partitions).as_str()) =>
                    {
                        format!(
                            "stream {} ({} partitions, {} messages waiting)",
                            config.stream, config.partitions, info.state.messages
                        )
                    }
                    Ok(info) => {
                        return Err(format!(
                            "cluster: stream {} was made as {:?}, but cluster.partitions is {}",
                            config.stream,
                            info.config.description.clone().unwrap_or_default(),
                            config.partitions
                        ))
                    }
                    Err(e) => return Err(format!("cluster: stream {}: {e}", config.stream)),
                },
                Err(_) => format!(
                    "stream {} does not exist yet; serve will create it",
                    config.stream
                ),
            };
            Ok(format!(
                "cluster: connected to {url} as {}; {stream}",
                config.instance
            ))
        })
    }

    /// What the claims loop last saw.
    pub fn view(&self) -> ClusterView {
        self.inner
            .view
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_view(&self, view: ClusterView) {
        *self
            .inner
            .view
            .write()
            .unwrap_or_else(PoisonError::into_inner) = view;
    }

    /// Messages of each partition not yet acked by its owner (consumers that
    /// do not exist yet are left out).
    async fn lags(&self) -> BTreeMap<u32, u64> {
        let mut lags = BTreeMap::new();
        for n in 0..self.inner.config.partitions {
            let name = partition::consumer_name(&self.inner.config.stream, n);
            if let Ok(info) = self.inner.stream.clone().consumer_info(&name).await {
                lags.insert(n, info.num_pending + info.num_ack_pending as u64);
            }
        }
        lags
    }
}

/// The stream's description records its partition count: a stream made for
/// another count would send tickets to the wrong owners.
fn describe(partitions: u32) -> String {
    format!("hookline events, {partitions} partitions")
}

async fn ensure_stream(
    js: &jetstream::Context,
    config: &ClusterConfig,
) -> Result<stream::Stream, ClusterError> {
    let wanted = stream::Config {
        name: config.stream.clone(),
        subjects: vec![format!("{}.*", config.subject_prefix)],
        // Each partition's consumer takes its own subject, and an acked
        // event is removed: the stream holds only what is not yet stored.
        retention: stream::RetentionPolicy::WorkQueue,
        storage: stream::StorageType::File,
        num_replicas: config.replicas,
        duplicate_window: Duration::from_secs(120),
        description: Some(describe(config.partitions)),
        ..Default::default()
    };
    let mut stream = js
        .get_or_create_stream(wanted)
        .await
        .map_err(|e| ClusterError::js(&format!("stream {}", config.stream), e))?;
    let info = stream
        .info()
        .await
        .map_err(|e| ClusterError::js(&format!("stream {}", config.stream), e))?;
    let found = info.config.description.clone().unwrap_or_default();
    if found != describe(config.partitions) {
        return Err(ClusterError::Mismatch(format!(
            "stream {} was made as {found:?}, but cluster.partitions is {}; the count is fixed when the stream is created",
            config.stream, config.partitions
        )));
    }
    Ok(stream)
}

async fn ensure_bucket(
    js: &jetstream::Context,
    bucket: &str,
    max_age: Duration,
    history: i64,
    replicas: usize,
) -> Result<kv::Store, ClusterError> {
    match js.get_key_value(bucket).await {
        Ok(store) => {
            let status = store
                .status()
                .await
                .map_err(|e| ClusterError::js(&format!("bucket {bucket}"), e))?;
            if status.max_age() != max_age {
                return Err(ClusterError::Mismatch(format!(
                    "bucket {bucket} has an age limit of {:?}, hookline needs {max_age:?} (cluster.lease); delete the bucket or set lease to match",
                    status.max_age()
                )));
            }
            Ok(store)
        }
        // Made as a plain stream with the key-value conventions, because
        // `create_key_value` first asks for the account's info, whose NATS
        // 2.9 answer this client version does not parse.
        Err(_) => {
            let stream = stream::Config {
                name: format!("KV_{bucket}"),
                subjects: vec![format!("$KV.{bucket}.>")],
                max_messages_per_subject: history,
                max_age,
                storage: stream::StorageType::File,
                num_replicas: replicas,
                discard: stream::DiscardPolicy::New,
                allow_rollup: true,
                deny_delete: true,
                allow_direct: true,
                ..Default::default()
            };
            js.create_stream(stream)
                .await
                .map_err(|e| ClusterError::js(&format!("bucket {bucket}"), e))?;
            js.get_key_value(bucket)
                .await
                .map_err(|e| ClusterError::js(&format!("bucket {bucket}"), e))
        }
    }
}
