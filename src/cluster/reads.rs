//! Reads that span partitions (CLUSTER.md, Reading the log): an event or a
//! delivery lives in the file of the instance that owned its partition
//! when it was stored. An instance that does not hold it asks the others
//! over NATS request-reply (core NATS, no stream) and takes the first that
//! has it; a retry or cancel goes the same way to the instance holding the
//! delivery.

use std::future::Future;
use std::time::Duration;

use futures_util::StreamExt as _;

use super::Cluster;

/// One read another instance may answer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "read", rename_all = "snake_case")]
pub enum Read {
    Event {
        id: String,
    },
    Delivery {
        id: String,
    },
    /// A page of the delivery log: the listing's query string as given.
    Deliveries {
        query: String,
    },
    /// Actions on a delivery, done by the instance whose file holds it; the
    /// answer is `{"status": …, "body": …}`, as that instance's route gave.
    Retry {
        id: String,
    },
    Cancel {
        id: String,
    },
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Asked {
    from: String,
    read: Read,
}

/// How long an instance waits for the others' answers.
const ASK_WAIT: Duration = Duration::from_secs(2);

impl Cluster {
    fn reads_subject(&self) -> String {
        format!("_hookline.{}.reads", self.inner.config.stream)
    }

    /// Answers the others' reads with `answer` (this instance's own file)
    /// for as long as the process runs; `None` is "not here".
    pub fn serve_reads<F, Fut>(&self, answer: F)
    where
        F: Fn(Read) -> Fut + 'static,
        Fut: Future<Output = Option<serde_json::Value>>,
    {
        let cluster = self.clone();
        actix::spawn(async move {
            loop {
                match cluster
                    .inner
                    .client
                    .subscribe(cluster.reads_subject())
                    .await
                {
                    Ok(mut asked) => {
                        while let Some(message) = asked.next().await {
                            let Some(reply) = message.reply.clone() else {
                                continue;
                            };
                            let Ok(request) = serde_json::from_slice::<Asked>(&message.payload)
                            else {
                                continue;
                            };
                            if request.from == cluster.inner.config.instance {
                                continue;
                            }
                            let body = match answer(request.read).await {
                                Some(v) => serde_json::to_vec(&v).unwrap_or_default(),
                                None => b"null".to_vec(),
                            };
                            let _ = cluster.inner.client.publish(reply, body.into()).await;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot answer the other instances' reads; trying again")
                    }
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }

    /// Asks the other instances; the first answer that has it, or `None`
    /// once all answered or `ASK_WAIT` passed.
    pub async fn ask(&self, read: Read) -> Option<serde_json::Value> {
        self.gather(read, true).await.pop()
    }

    /// Every other instance's answer that has something (those that answer
    /// within `ASK_WAIT`).
    pub async fn ask_all(&self, read: Read) -> Vec<serde_json::Value> {
        self.gather(read, false).await
    }

    async fn gather(&self, read: Read, first: bool) -> Vec<serde_json::Value> {
        let mut found = Vec::new();
        let others = self.view().instances.len().saturating_sub(1);
        if others == 0 || !self.connected() {
            return found;
        }
        let client = &self.inner.client;
        let inbox = client.new_inbox();
        let Ok(mut answers) = client.subscribe(inbox.clone()).await else {
            return found;
        };
        let asked = Asked {
            from: self.inner.config.instance.clone(),
            read,
        };
        let Ok(payload) = serde_json::to_vec(&asked) else {
            return found;
        };
        if client
            .publish_with_reply(self.reads_subject(), inbox, payload.into())
            .await
            .is_err()
        {
            return found;
        }
        let deadline = tokio::time::Instant::now() + ASK_WAIT;
        for _ in 0..others {
            let next = tokio::time::timeout_at(deadline, answers.next()).await;
            let Ok(Some(message)) = next else { break };
            match serde_json::from_slice::<serde_json::Value>(&message.payload) {
                Ok(serde_json::Value::Null) | Err(_) => continue,
                Ok(answer) => found.push(answer),
            }
            if first && !found.is_empty() {
                break;
            }
        }
        found
    }
}
