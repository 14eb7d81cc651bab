//! One durable pull consumer per owned partition (CLUSTER.md, Work): it
//! reads the partition's events in stream order, puts each batch through
//! the rule engine (rules, render, this instance's redb commit) and acks the
//! messages only after that commit. A message redelivered after a crash is
//! an event id already stored, so it creates nothing twice.

use std::time::Duration;

use actix::Addr;
use async_nats::jetstream::{self, consumer::pull, AckKind};
use futures_util::StreamExt as _;
use tokio::sync::watch;

use super::partition;
use crate::engine::{Ingest, RuleEngine};
use crate::model::IncomingEvent;

/// Most events taken from the stream per commit.
const BATCH: usize = 500;
/// How long one fetch waits for messages: also how soon a stop is noticed.
const FETCH_WAIT: Duration = Duration::from_millis(500);
/// Least time JetStream waits for an ack before redelivering. It is the
/// lease otherwise: far above a commit, so redelivery is for a lost owner's
/// messages, which its successor then gets within about a lease.
const MIN_ACK_WAIT: Duration = Duration::from_secs(2);

/// A running consumer: dropping the handle does not stop it, `stop` does.
pub struct ConsumerHandle {
    stop: watch::Sender<bool>,
    done: tokio::task::JoinHandle<()>,
}

impl ConsumerHandle {
    /// Starts reading partition `n` on the current arbiter.
    pub fn start(
        stream: jetstream::stream::Stream,
        stream_name: &str,
        subject_prefix: &str,
        n: u32,
        lease: Duration,
        engine: Addr<RuleEngine>,
    ) -> ConsumerHandle {
        let (stop, stopped) = watch::channel(false);
        let name = partition::consumer_name(stream_name, n);
        let config = pull::Config {
            durable_name: Some(name.clone()),
            filter_subject: partition::subject(subject_prefix, n),
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            ack_wait: lease.max(MIN_ACK_WAIT),
            max_ack_pending: 20_000,
            ..Default::default()
        };
        let done = actix::spawn(run(stream, name, config, n, engine, stopped));
        ConsumerHandle { stop, done }
    }

    /// Stops after the batch in hand is committed and acked.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.done.await;
    }
}

async fn run(
    stream: jetstream::stream::Stream,
    name: String,
    config: pull::Config,
    n: u32,
    engine: Addr<RuleEngine>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut consumer = None;
    while !*stopped.borrow() {
        let Some(c) = consumer.as_ref() else {
            match stream.get_or_create_consumer(&name, config.clone()).await {
                Ok(c) => consumer = Some(c),
                Err(e) => {
                    tracing::warn!(partition = n, error = %e, "cannot open the partition's consumer; trying again");
                    pause(&mut stopped, Duration::from_secs(1)).await;
                }
            }
            continue;
        };
        let fetched = c
            .fetch()
            .max_messages(BATCH)
            .expires(FETCH_WAIT)
            .messages()
            .await;
        let mut batch = match fetched {
            Ok(batch) => batch,
            Err(e) => {
                tracing::warn!(partition = n, error = %e, "fetch failed; trying again");
                pause(&mut stopped, Duration::from_secs(1)).await;
                continue;
            }
        };
        let mut messages = Vec::new();
        while let Some(next) = batch.next().await {
            match next {
                Ok(m) => messages.push(m),
                Err(e) => {
                    tracing::debug!(partition = n, error = %e, "fetch ended early");
                    break;
                }
            }
        }
        if !messages.is_empty() {
            take(messages, n, &engine, &mut stopped).await;
        }
    }
    tracing::debug!(partition = n, "consumer stopped");
}

/// Commits one batch through the engine, then acks it; an event that can
/// never be stored (not an event at all) is terminated, not retried.
async fn take(
    messages: Vec<jetstream::Message>,
    n: u32,
    engine: &Addr<RuleEngine>,
    stopped: &mut watch::Receiver<bool>,
) {
    let mut events = Vec::with_capacity(messages.len());
    let mut keep = Vec::with_capacity(messages.len());
    for message in messages {
        match parse(&message) {
            Ok(event) => {
                events.push(event);
                keep.push(message);
            }
            Err(why) => {
                tracing::warn!(partition = n, subject = %message.subject, %why, "a message on the stream is not a valid event; dropped");
                let _ = message.ack_with(AckKind::Term).await;
            }
        }
    }
    if events.is_empty() {
        return;
    }
    let count = events.len();
    let mut first = Some(events);
    loop {
        // A retry (rare) parses the kept messages again rather than every
        // batch keeping a copy of its events for it.
        let batch = first
            .take()
            .unwrap_or_else(|| keep.iter().filter_map(|m| parse(m).ok()).collect());
        match engine.send(Ingest(batch)).await {
            Ok(Ok(_)) => break,
            Ok(Err(e)) => {
                tracing::warn!(partition = n, events = count, error = %e, "cannot store events from the stream; trying again")
            }
            Err(e) => {
                tracing::warn!(partition = n, error = %e, "rule engine unreachable; trying again")
            }
        }
        if *stopped.borrow() {
            // Not acked: JetStream hands them to the next owner.
            return;
        }
        pause(stopped, Duration::from_secs(1)).await;
    }
    for message in keep {
        if let Err(e) = message.ack().await {
            // Stored already: a redelivery finds the ids and adds nothing.
            tracing::debug!(partition = n, error = %e, "ack not sent");
        }
    }
    tracing::debug!(
        partition = n,
        events = count,
        "events from the stream stored and acked"
    );
}

/// The event a message carries (validated as `POST /events` would).
fn parse(message: &jetstream::Message) -> Result<IncomingEvent, String> {
    serde_json::from_slice::<serde_json::Value>(&message.payload)
        .map_err(|e| e.to_string())
        .and_then(|v| IncomingEvent::parse(v).map_err(|e| format!("{}: {}", e.field, e.message)))
}

/// Sleeps `d` or until a stop is asked.
async fn pause(stopped: &mut watch::Receiver<bool>, d: Duration) {
    let _ = tokio::time::timeout(d, stopped.changed()).await;
}
