//! The `[cluster]` table (CLUSTER.md): several instances sharing the work
//! through NATS JetStream. Absent, hookline is the one-process, one-file
//! daemon it always was.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{de_duration_opt, ConfigError};

/// Settings of cluster mode, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterConfig {
    /// One or more `nats://host:port` addresses.
    pub nats_url: Vec<String>,
    /// A NATS credentials file (JWT and seed), when the server wants one.
    pub nats_creds: Option<PathBuf>,
    /// This instance's name: unique and stable across restarts (it names
    /// the partition claims).
    pub instance: String,
    pub stream: String,
    pub subject_prefix: String,
    /// The key-value bucket of the claims (its age limit is `lease`). The
    /// configuration lives in `<bucket>_config`, which has none: NATS 2.9
    /// has no per-key age, and configuration must never expire.
    pub bucket: String,
    pub partitions: u32,
    pub replicas: usize,
    pub lease: Duration,
}

impl ClusterConfig {
    /// The bucket holding webhooks, schemas and rule groups.
    pub fn config_bucket(&self) -> String {
        format!("{}_config", self.bucket)
    }
}

/// The table as written in the file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileCluster {
    nats_url: Option<String>,
    nats_creds: Option<PathBuf>,
    instance: Option<String>,
    stream: Option<String>,
    subject_prefix: Option<String>,
    bucket: Option<String>,
    partitions: Option<u32>,
    replicas: Option<usize>,
    #[serde(default, deserialize_with = "de_duration_opt")]
    lease: Option<Duration>,
}

impl FileCluster {
    /// The validated settings; CLUSTER.md's defaults for what is left out,
    /// except `instance`, which only the operator can choose.
    pub(super) fn into_config(self) -> Result<ClusterConfig, ConfigError> {
        let invalid = |key: &str, message: &str| ConfigError::Invalid {
            key: format!("cluster.{key}"),
            message: message.to_string(),
        };
        let nats_url: Vec<String> = self
            .nats_url
            .as_deref()
            .unwrap_or("nats://127.0.0.1:4222")
            .split(',')
            .map(|u| u.trim().to_string())
            .filter(|u| !u.is_empty())
            .collect();
        if nats_url.is_empty() {
            return Err(invalid("nats_url", "name at least one NATS server"));
        }
        let instance = self
            .instance
            .ok_or_else(|| invalid("instance", "required: a unique, stable name per instance"))?;
        let config = ClusterConfig {
            nats_url,
            nats_creds: self.nats_creds.filter(|p| !p.as_os_str().is_empty()),
            instance,
            stream: self.stream.unwrap_or_else(|| "HOOKLINE_EVENTS".into()),
            subject_prefix: self
                .subject_prefix
                .unwrap_or_else(|| "hookline.events".into()),
            bucket: self.bucket.unwrap_or_else(|| "hookline".into()),
            partitions: self.partitions.unwrap_or(16),
            replicas: self.replicas.unwrap_or(1),
            lease: self.lease.unwrap_or(Duration::from_secs(10)),
        };
        // NATS names: a name must not hold what separates subject tokens.
        if !is_name(&config.instance) {
            return Err(invalid("instance", NAME_RULE));
        }
        if !is_name(&config.stream) {
            return Err(invalid("stream", NAME_RULE));
        }
        if !is_name(&config.bucket) {
            return Err(invalid("bucket", NAME_RULE));
        }
        let prefix_ok = config
            .subject_prefix
            .split('.')
            .all(|token| !token.is_empty() && is_name(token));
        if !prefix_ok {
            return Err(invalid(
                "subject_prefix",
                "dot-separated tokens of letters, digits, - and _ (no wildcards)",
            ));
        }
        if !(1..=1024).contains(&config.partitions) {
            return Err(invalid("partitions", "must be from 1 to 1024"));
        }
        if !(1..=5).contains(&config.replicas) {
            return Err(invalid("replicas", "must be from 1 to 5"));
        }
        if config.lease < Duration::from_secs(1) {
            return Err(invalid("lease", "must be at least 1s"));
        }
        Ok(config)
    }
}

const NAME_RULE: &str = "1 to 64 letters, digits, - and _";

fn is_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ClusterConfig, ConfigError> {
        toml::from_str::<FileCluster>(text)
            .expect("toml")
            .into_config()
    }

    #[test]
    fn defaults_follow_cluster_md() {
        let c = parse("instance = \"hookline-a\"").expect("valid");
        assert_eq!(c.nats_url, vec!["nats://127.0.0.1:4222".to_string()]);
        assert_eq!(
            (c.stream.as_str(), c.subject_prefix.as_str()),
            ("HOOKLINE_EVENTS", "hookline.events")
        );
        assert_eq!(
            (c.bucket.as_str(), c.partitions, c.replicas),
            ("hookline", 16, 1)
        );
        assert_eq!(c.lease, Duration::from_secs(10));
        assert_eq!(c.config_bucket(), "hookline_config");
    }

    #[test]
    fn several_servers_are_comma_separated() {
        let c = parse("instance = \"a\"\nnats_url = \"nats://n1:4222, nats://n2:4222\"")
            .expect("valid");
        assert_eq!(c.nats_url, vec!["nats://n1:4222", "nats://n2:4222"]);
    }

    #[test]
    fn names_that_nats_would_misread_are_refused() {
        let bad = [
            ("instance = \"a.b\"", "cluster.instance"),
            ("instance = \"a\"\nstream = \"S*\"", "cluster.stream"),
            ("instance = \"a\"\nbucket = \"b c\"", "cluster.bucket"),
            (
                "instance = \"a\"\nsubject_prefix = \"x..y\"",
                "cluster.subject_prefix",
            ),
            (
                "instance = \"a\"\nsubject_prefix = \"x.>\"",
                "cluster.subject_prefix",
            ),
            ("instance = \"a\"\npartitions = 0", "cluster.partitions"),
            ("instance = \"a\"\nreplicas = 7", "cluster.replicas"),
            ("instance = \"a\"\nlease = \"200ms\"", "cluster.lease"),
            ("stream = \"S\"", "cluster.instance"),
        ];
        for (text, key) in bad {
            match parse(text) {
                Err(ConfigError::Invalid { key: k, .. }) => assert_eq!(k, key, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }
}
