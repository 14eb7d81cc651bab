//! The claims loop (CLUSTER.md, Owners): every `lease / 3` an instance
//! writes its heartbeat, renews each claim it holds by an update naming the
//! revision it holds (a claim it lost fails that update and its consumer
//! stops), looks at the bucket, and applies `balance::plan` with
//! compare-and-set creates and revision-checked deletes. A claim not renewed
//! for `lease` is removed by the bucket's age limit and another instance
//! creates it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use actix::Addr;
use async_nats::jetstream::kv;
use futures_util::TryStreamExt as _;
use tokio::sync::watch;

use super::balance::{self, Claims};
use super::consumer::ConsumerHandle;
use super::{partition, Cluster, PartitionView};
use crate::engine::RuleEngine;

/// The heartbeat key of an instance in the claims bucket.
fn heartbeat_key(instance: &str) -> String {
    format!("instance.{instance}")
}

/// The key in the configuration bucket (no age limit) naming the last owner
/// of a partition, so that a takeover is known as one after any restart.
fn last_owner_key(n: u32) -> String {
    format!("owner.{n}")
}

/// A partition this instance holds: the revision of its claim and the
/// consumer reading it.
struct Held {
    revision: u64,
    consumer: ConsumerHandle,
}

/// Stops the claims loop: `stop` releases every claim after the consumers
/// finished their batch, so the others take the partitions at once.
pub struct Running {
    stop: watch::Sender<bool>,
    done: tokio::task::JoinHandle<()>,
}

impl Running {
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.done.await;
    }
}

/// Starts the claims loop on the current arbiter, after `ready` (the
/// configuration watch has applied the bucket) turns true.
pub fn run_claims(
    cluster: Cluster,
    engine: Addr<RuleEngine>,
    mut ready: watch::Receiver<bool>,
) -> Running {
    let (stop, mut stopped) = watch::channel(false);
    let done = actix::spawn(async move {
        let _ = ready.wait_for(|r| *r).await;
        let mut held: BTreeMap<u32, Held> = BTreeMap::new();
        let tick = (cluster.config().lease / 3).max(Duration::from_millis(300));
        while !*stopped.borrow() {
            step(&cluster, &engine, &mut held).await;
            let _ = tokio::time::timeout(tick, stopped.changed()).await;
        }
        release_all(&cluster, held).await;
    });
    Running { stop, done }
}

/// One round: heartbeat, renew, look, plan, apply.
async fn step(cluster: &Cluster, engine: &Addr<RuleEngine>, held: &mut BTreeMap<u32, Held>) {
    let me = cluster.config().instance.clone();
    let claims = &cluster.inner.claims;
    let beat = claims.put(heartbeat_key(&me), me.clone().into()).await;
    renew(cluster, held).await;
    let Ok(look) = look(claims, &me, cluster.config().partitions).await else {
        if beat.is_ok() {
            tracing::warn!("cannot read the claims bucket; keeping what this instance holds");
        }
        publish_view(cluster, None, held, false).await;
        return;
    };
    let (instances, owners, mine) = &look;
    // Claims naming this instance that it does not hold: an earlier run's
    // (a restart within the lease) or one whose renewal answer was lost.
    // Taking them up by their revision beats waiting for them to expire.
    for (n, revision) in mine {
        if held.contains_key(n) {
            continue;
        }
        if let Ok(revision) = claims
            .update(partition::claim_key(*n), me.clone().into(), *revision)
            .await
        {
            start(cluster, engine, held, *n, revision);
            tracing::info!(partition = n, "claim of this instance taken up again");
        }
    }
    let plan = balance::plan(&Claims {
        me: &me,
        instances,
        owners,
        partitions: cluster.config().partitions,
    });
    for n in plan.release {
        if let Some(h) = held.remove(&n) {
            h.consumer.stop().await;
            let _ = claims
                .delete_expect_revision(partition::claim_key(n), Some(h.revision))
                .await;
            tracing::info!(partition = n, "partition released to even out the cluster");
        }
    }
    for n in plan.claim {
        let Ok(revision) = claims
            .create(partition::claim_key(n), me.clone().into())
            .await
        else {
            continue; // another instance was first
        };
        note_owner(cluster, n, &me).await;
        start(cluster, engine, held, n, revision);
        tracing::info!(partition = n, "partition claimed");
    }
    // What the others see now includes the claims just made.
    let mut owners = owners.clone();
    for n in held.keys() {
        owners.insert(*n, me.clone());
    }
    publish_view(cluster, Some((instances, &owners)), held, true).await;
}

/// Starts reading partition `n`, held at `revision`.
fn start(
    cluster: &Cluster,
    engine: &Addr<RuleEngine>,
    held: &mut BTreeMap<u32, Held>,
    n: u32,
    revision: u64,
) {
    let c = cluster.config();
    let consumer = ConsumerHandle::start(
        cluster.inner.stream.clone(),
        &c.stream,
        &c.subject_prefix,
        n,
        c.lease,
        engine.clone(),
    );
    held.insert(n, Held { revision, consumer });
}

/// Renews every held claim; a claim whose update fails is lost (expired and
/// maybe taken, or NATS is away): its consumer stops, since another owner
/// may read the partition now.
async fn renew(cluster: &Cluster, held: &mut BTreeMap<u32, Held>) {
    let me = &cluster.config().instance;
    let mut lost = Vec::new();
    for (n, h) in held.iter_mut() {
        match cluster
            .inner
            .claims
            .update(partition::claim_key(*n), me.clone().into(), h.revision)
            .await
        {
            Ok(revision) => h.revision = revision,
            Err(e) => {
                tracing::warn!(partition = n, error = %e, "claim not renewed; stopping the partition's consumer");
                lost.push(*n);
            }
        }
    }
    for n in lost {
        if let Some(h) = held.remove(&n) {
            h.consumer.stop().await;
        }
    }
}

/// The live instances, the unexpired claims (partition → owner) and the
/// revision of each claim naming this instance.
type Look = (BTreeSet<String>, BTreeMap<u32, String>, BTreeMap<u32, u64>);

/// The live instances and the unexpired claims.
async fn look(claims: &kv::Store, me: &str, partitions: u32) -> Result<Look, String> {
    let keys: Vec<String> = claims
        .keys()
        .await
        .map_err(|e| e.to_string())?
        .try_collect()
        .await
        .map_err(|e| e.to_string())?;
    let mut instances = BTreeSet::new();
    let mut owners = BTreeMap::new();
    let mut mine = BTreeMap::new();
    for key in keys {
        if let Some(name) = key.strip_prefix("instance.") {
            instances.insert(name.to_string());
        } else if let Some(n) = partition::claimed_partition(&key).filter(|n| *n < partitions) {
            if let Some(entry) = claims.entry(key).await.map_err(|e| e.to_string())? {
                if entry.operation == kv::Operation::Put {
                    let owner = String::from_utf8_lossy(&entry.value).into_owned();
                    if owner == me {
                        mine.insert(n, entry.revision);
                    }
                    owners.insert(n, owner);
                }
            }
        }
    }
    Ok((instances, owners, mine))
}

/// Records this instance as the partition's owner; counts a takeover when
/// another instance owned it last (its dedup keys are in that instance's
/// file, so a (webhook, schema, ticket) may fire once more in the window).
async fn note_owner(cluster: &Cluster, n: u32, me: &str) {
    let shared = &cluster.inner.shared;
    let last = shared.get(last_owner_key(n)).await.ok().flatten();
    if let Some(last) = last.filter(|l| l.as_ref() != me.as_bytes()) {
        crate::metrics::metrics().cluster_takeovers.inc();
        tracing::info!(partition = n, from = %String::from_utf8_lossy(&last), "partition taken over; its dedup window starts empty here");
    }
    let _ = shared.put(last_owner_key(n), me.to_string().into()).await;
}

/// Stops every consumer, then deletes the claims and the heartbeat.
async fn release_all(cluster: &Cluster, held: BTreeMap<u32, Held>) {
    let claims = &cluster.inner.claims;
    for (n, h) in held {
        h.consumer.stop().await;
        let _ = claims
            .delete_expect_revision(partition::claim_key(n), Some(h.revision))
            .await;
    }
    let _ = claims
        .delete(heartbeat_key(&cluster.config().instance))
        .await;
    let metrics = crate::metrics::metrics();
    metrics.cluster_partitions_owned.set(0);
    tracing::info!("cluster claims released");
}

/// Updates the view and the metrics.
async fn publish_view(
    cluster: &Cluster,
    seen: Option<(&BTreeSet<String>, &BTreeMap<u32, String>)>,
    held: &BTreeMap<u32, Held>,
    connected: bool,
) {
    let mut view = cluster.view();
    let lags = if connected {
        cluster.lags().await
    } else {
        BTreeMap::new()
    };
    if let Some((instances, owners)) = seen {
        view.instances = instances.iter().cloned().collect();
        view.partitions = (0..cluster.config().partitions)
            .map(|n| PartitionView {
                partition: n,
                owner: owners.get(&n).cloned(),
                lag: lags.get(&n).copied(),
            })
            .collect();
    }
    view.owned = held.keys().copied().collect();
    view.connected = connected;
    let metrics = crate::metrics::metrics();
    metrics
        .cluster_partitions_owned
        .set(i64::try_from(held.len()).unwrap_or(i64::MAX));
    for (n, lag) in &lags {
        metrics.cluster_lag(*n, *lag);
    }
    cluster.set_view(view);
}
