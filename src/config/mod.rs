//! Configuration: built-in defaults, an optional TOML file and `HOOKLINE_*`
//! environment overrides, merged into one validated [`Config`].
//!
//! Nothing else in hookline reads the environment: `main` hands this module the
//! process environment once, and everything downstream receives a `Config`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub use cluster::ClusterConfig;
use values::{de_duration_list_opt, de_duration_opt, de_networks_opt};
pub use values::{format_duration, parse_duration};

mod cluster;
mod values;

/// Everything the daemon needs to know, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Address the HTTP API listens on.
    pub listen: SocketAddr,
    /// The one redb file that holds everything.
    pub data_file: PathBuf,
    /// Admin token given inline or read from `admin_token_file`; `None` means
    /// "generate one next to the data file on first start".
    pub admin_token: Option<String>,
    /// Where the admin token came from when it was read from a file.
    pub admin_token_file: Option<PathBuf>,
    /// Token for the ingest routes; `None` leaves them open.
    pub ingest_token: Option<String>,
    /// Largest accepted event body, in bytes.
    pub max_event_bytes: usize,
    /// A `tracing` filter directive such as `info` or `hookline=debug,info`.
    pub log: String,
    pub log_format: LogFormat,
    /// How long in-flight work may take to finish after SIGTERM.
    pub shutdown_grace: Duration,
    /// Longest time a request's body may take to arrive (a stalled body gets
    /// `408` instead of holding its connection forever).
    pub request_timeout: Duration,
    /// Open connections past which new ones only get the health routes
    /// (others answer `503` and are closed).
    pub max_connections: usize,
    /// Serve the admin screens at `/ui/`.
    pub ui_enabled: bool,
    /// Mark the UI's session cookie `Secure` (set it when a TLS proxy is in front).
    pub ui_secure_cookies: bool,
    /// A UI session ends after this long without use.
    pub ui_session_idle: Duration,
    pub delivery: DeliveryConfig,
    /// `[cluster]`: several instances over NATS JetStream (CLUSTER.md).
    pub cluster: Option<ClusterConfig>,
}

/// Settings of the `[delivery]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryConfig {
    pub timeout: Duration,
    pub max_in_flight_per_webhook: usize,
    pub retry_schedule: Vec<Duration>,
    pub retry_jitter: f64,
    pub dedup_window: Duration,
    pub retention: Duration,
    pub ca_file: Option<PathBuf>,
    pub breaker: BreakerConfig,
    /// Deny the built-in networks (POLICIES.md, *Target policy*).
    pub deny_builtin: bool,
    pub deny_networks: Vec<ipnet::IpNet>,
    /// When not empty, targets must be inside one of these.
    pub allow_networks: Vec<ipnet::IpNet>,
}

/// Settings of `[delivery.breaker]` (POLICIES.md, *Endpoint health*).
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerConfig {
    /// Failed attempts in a row that open the circuit; 0 turns the breaker off.
    pub failures: u32,
    pub failure_ratio: f64,
    pub min_attempts: u32,
    pub window: Duration,
    pub open_min: Duration,
    pub open_max: Duration,
    pub disable_after: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failures: 10,
            failure_ratio: 0.7,
            min_attempts: 20,
            window: Duration::from_secs(300),
            open_min: Duration::from_secs(30),
            open_max: Duration::from_secs(600),
            disable_after: Duration::from_secs(5 * 86_400),
        }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Why a configuration could not be loaded. Messages name the file, the line
/// and the key so an operator can fix the file without guessing.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}, line {line}{key}: {message}")]
    File {
        path: PathBuf,
        line: usize,
        key: String,
        message: String,
    },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8787)),
            data_file: PathBuf::from("hookline.redb"),
            admin_token: None,
            admin_token_file: None,
            ingest_token: None,
            max_event_bytes: 1024 * 1024,
            log: "info".to_string(),
            log_format: LogFormat::Text,
            shutdown_grace: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_connections: 4096,
            ui_enabled: true,
            ui_secure_cookies: false,
            ui_session_idle: Duration::from_secs(12 * 3600),
            delivery: DeliveryConfig::default(),
            cluster: None,
        }
    }
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        let schedule = [
            "10s", "30s", "1m", "2m", "5m", "10m", "20m", "30m", "1h", "2h", "4h", "8h", "12h",
        ];
        DeliveryConfig {
            timeout: Duration::from_secs(10),
            max_in_flight_per_webhook: 16,
            retry_schedule: schedule
                .iter()
                .filter_map(|s| humantime::parse_duration(s).ok())
                .collect(),
            retry_jitter: 0.1,
            dedup_window: Duration::from_secs(60),
            retention: Duration::from_secs(30 * 24 * 3600),
            ca_file: None,
            breaker: BreakerConfig::default(),
            deny_builtin: true,
            deny_networks: Vec::new(),
            allow_networks: Vec::new(),
        }
    }
}

/// The file's shape: every key optional, unknown keys refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    data_file: Option<PathBuf>,
    admin_token: Option<String>,
    admin_token_file: Option<PathBuf>,
    ingest_token: Option<String>,
    max_event_bytes: Option<u64>,
    log: Option<String>,
    log_format: Option<LogFormat>,
    #[serde(default, deserialize_with = "de_duration_opt")]
    shutdown_grace: Option<Duration>,
    #[serde(default, deserialize_with = "de_duration_opt")]
    request_timeout: Option<Duration>,
    max_connections: Option<u64>,
    ui_enabled: Option<bool>,
    ui_secure_cookies: Option<bool>,
    #[serde(default, deserialize_with = "de_duration_opt")]
    ui_session_idle: Option<Duration>,
    #[serde(default)]
    delivery: FileDelivery,
    cluster: Option<cluster::FileCluster>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDelivery {
    #[serde(default, deserialize_with = "de_duration_opt")]
    timeout: Option<Duration>,
    max_in_flight_per_webhook: Option<u64>,
    #[serde(default, deserialize_with = "de_duration_list_opt")]
    retry_schedule: Option<Vec<Duration>>,
    retry_jitter: Option<f64>,
    #[serde(default, deserialize_with = "de_duration_opt")]
    dedup_window: Option<Duration>,
    #[serde(default, deserialize_with = "de_duration_opt")]
    retention: Option<Duration>,
    ca_file: Option<PathBuf>,
    #[serde(default)]
    breaker: FileBreaker,
    deny_builtin: Option<bool>,
    #[serde(default, deserialize_with = "de_networks_opt")]
    deny_networks: Option<Vec<ipnet::IpNet>>,
    #[serde(default, deserialize_with = "de_networks_opt")]
    allow_networks: Option<Vec<ipnet::IpNet>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileBreaker {
    failures: Option<u32>,
    failure_ratio: Option<f64>,
    min_attempts: Option<u32>,
    #[serde(default, deserialize_with = "de_duration_opt")]
    window: Option<Duration>,
    #[serde(default, deserialize_with = "de_duration_opt")]
    open_min: Option<Duration>,
    #[serde(default, deserialize_with = "de_duration_opt")]
    open_max: Option<Duration>,
    #[serde(default, deserialize_with = "de_duration_opt")]
    disable_after: Option<Duration>,
}

/// Environment variables that override single top-level keys.
const ENV_KEYS: &[&str] = &[
    "listen",
    "data_file",
    "admin_token",
    "admin_token_file",
    "ingest_token",
    "max_event_bytes",
    "log",
    "log_format",
    "shutdown_grace",
    "request_timeout",
    "max_connections",
    "ui_enabled",
    "ui_secure_cookies",
    "ui_session_idle",
];

impl Config {
    /// Loads the configuration: defaults, then `file` (if any), then the
    /// `HOOKLINE_*` variables of `env`, then validation.
    pub fn load(
        file: Option<&Path>,
        env: &BTreeMap<String, String>,
    ) -> Result<Config, ConfigError> {
        let parsed = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
                parse_file(path, &text)?
            }
            None => FileConfig::default(),
        };
        let mut config = Config::default();
        config.apply_file(parsed)?;
        config.apply_env(env)?;
        config.validate()?;
        Ok(config)
    }

    fn apply_file(&mut self, f: FileConfig) -> Result<(), ConfigError> {
        if let Some(listen) = f.listen {
            self.listen = parse_listen("listen", &listen)?;
        }
        set(&mut self.data_file, f.data_file);
        self.admin_token = non_empty(f.admin_token);
        self.admin_token_file = f.admin_token_file.filter(|p| !p.as_os_str().is_empty());
        self.ingest_token = non_empty(f.ingest_token);
        if let Some(n) = f.max_event_bytes {
            self.max_event_bytes = usize::try_from(n).unwrap_or(usize::MAX);
        }
        set(&mut self.log, f.log);
        set(&mut self.log_format, f.log_format);
        set(&mut self.shutdown_grace, f.shutdown_grace);
        set(&mut self.request_timeout, f.request_timeout);
        if let Some(n) = f.max_connections {
            self.max_connections = usize::try_from(n).unwrap_or(usize::MAX);
        }
        set(&mut self.ui_enabled, f.ui_enabled);
        set(&mut self.ui_secure_cookies, f.ui_secure_cookies);
        set(&mut self.ui_session_idle, f.ui_session_idle);
        let d = &mut self.delivery;
        set(&mut d.timeout, f.delivery.timeout);
        if let Some(n) = f.delivery.max_in_flight_per_webhook {
            d.max_in_flight_per_webhook = usize::try_from(n).unwrap_or(usize::MAX);
        }
        set(&mut d.retry_schedule, f.delivery.retry_schedule);
        set(&mut d.retry_jitter, f.delivery.retry_jitter);
        set(&mut d.dedup_window, f.delivery.dedup_window);
        set(&mut d.retention, f.delivery.retention);
        d.ca_file = f.delivery.ca_file.filter(|p| !p.as_os_str().is_empty());
        set(&mut d.deny_builtin, f.delivery.deny_builtin);
        set(&mut d.deny_networks, f.delivery.deny_networks);
        set(&mut d.allow_networks, f.delivery.allow_networks);
        let (b, fb) = (&mut d.breaker, f.delivery.breaker);
        set(&mut b.failures, fb.failures);
        set(&mut b.failure_ratio, fb.failure_ratio);
        set(&mut b.min_attempts, fb.min_attempts);
        set(&mut b.window, fb.window);
        set(&mut b.open_min, fb.open_min);
        set(&mut b.open_max, fb.open_max);
        set(&mut b.disable_after, fb.disable_after);
        self.cluster = f
            .cluster
            .map(cluster::FileCluster::into_config)
            .transpose()?;
        Ok(())
    }

    fn apply_env(&mut self, env: &BTreeMap<String, String>) -> Result<(), ConfigError> {
        for (var, value) in env {
            let Some(key) = var.strip_prefix("HOOKLINE_") else {
                continue;
            };
            let key = key.to_ascii_lowercase();
            if key == "config" {
                continue; // the file path itself, read by the command line
            }
            if !ENV_KEYS.contains(&key.as_str()) {
                return Err(ConfigError::Env {
                    var: var.clone(),
                    message: format!(
                        "unknown setting; known: {}",
                        ENV_KEYS
                            .iter()
                            .map(|k| format!("HOOKLINE_{}", k.to_ascii_uppercase()))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            }
            self.apply_env_key(&key, value)
                .map_err(|message| ConfigError::Env {
                    var: var.clone(),
                    message,
                })?;
        }
        Ok(())
    }

    fn apply_env_key(&mut self, key: &str, value: &str) -> Result<(), String> {
        match key {
            "listen" => {
                self.listen = value
                    .parse()
                    .map_err(|e| format!("invalid address {value:?}: {e}"))?
            }
            "data_file" => self.data_file = PathBuf::from(value),
            "admin_token" => self.admin_token = non_empty(Some(value.to_string())),
            "admin_token_file" => {
                self.admin_token_file = Some(PathBuf::from(value)).filter(|_| !value.is_empty())
            }
            "ingest_token" => self.ingest_token = non_empty(Some(value.to_string())),
            "max_event_bytes" => {
                self.max_event_bytes = value
                    .trim()
                    .parse()
                    .map_err(|_| format!("expected a number of bytes, got {value:?}"))?
            }
            "log" => self.log = value.to_string(),
            "log_format" => {
                self.log_format = match value {
                    "text" => LogFormat::Text,
                    "json" => LogFormat::Json,
                    _ => return Err(format!("expected \"text\" or \"json\", got {value:?}")),
                }
            }
            "shutdown_grace" => self.shutdown_grace = parse_duration(value)?,
            "request_timeout" => self.request_timeout = parse_duration(value)?,
            "ui_enabled" => self.ui_enabled = parse_bool(value)?,
            "ui_secure_cookies" => self.ui_secure_cookies = parse_bool(value)?,
            "ui_session_idle" => self.ui_session_idle = parse_duration(value)?,
            "max_connections" => {
                self.max_connections = value
                    .parse()
                    .map_err(|_| format!("expected a number, got {value:?}"))?
            }
            _ => return Err("unknown setting".to_string()),
        }
        Ok(())
    }

    /// Checks the values that are each valid alone but wrong for hookline.
    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: &str| {
            Err(ConfigError::Invalid {
                key: key.to_string(),
                message: message.to_string(),
            })
        };
        if !(1..=1_000_000).contains(&self.max_connections) {
            return invalid("max_connections", "must be from 1 to 1000000");
        }
        if self.request_timeout < Duration::from_millis(100) {
            return invalid("request_timeout", "must be at least 100ms");
        }
        if self.admin_token.is_some() && self.admin_token_file.is_some() {
            return invalid(
                "admin_token",
                "set admin_token or admin_token_file, not both",
            );
        }
        if self.data_file.as_os_str().is_empty() {
            return invalid("data_file", "must not be empty");
        }
        if self.max_event_bytes < 1024 {
            return invalid("max_event_bytes", "must be at least 1024");
        }
        let d = &self.delivery;
        if d.timeout.is_zero() {
            return invalid("delivery.timeout", "must be longer than 0s");
        }
        if d.max_in_flight_per_webhook == 0 || d.max_in_flight_per_webhook > 1024 {
            return invalid(
                "delivery.max_in_flight_per_webhook",
                "must be between 1 and 1024",
            );
        }
        if d.retry_schedule.len() > 100 {
            return invalid("delivery.retry_schedule", "at most 100 delays");
        }
        let b = &d.breaker;
        if !(b.failure_ratio > 0.0 && b.failure_ratio <= 1.0) {
            return invalid(
                "delivery.breaker.failure_ratio",
                "must be above 0.0 and at most 1.0",
            );
        }
        if b.open_min.is_zero() || b.open_max < b.open_min {
            return invalid(
                "delivery.breaker.open_min",
                "must be above 0 and at most open_max",
            );
        }
        if b.window.is_zero() || b.disable_after.is_zero() {
            return invalid(
                "delivery.breaker.window",
                "window and disable_after must be above 0",
            );
        }
        if !(0.0..=1.0).contains(&d.retry_jitter) {
            return invalid("delivery.retry_jitter", "must be between 0.0 and 1.0");
        }
        if d.retention < Duration::from_secs(60) {
            return invalid("delivery.retention", "must be at least 1m");
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log) {
            return invalid("log", &format!("invalid filter {:?}: {e}", self.log));
        }
        Ok(())
    }

    /// Where the generated admin token is kept when none is configured.
    pub fn generated_token_path(&self) -> PathBuf {
        let mut name = self.data_file.as_os_str().to_owned();
        name.push(".admin-token");
        PathBuf::from(name)
    }
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|t| !t.is_empty())
}

fn parse_bool(value: &str) -> Result<bool, String> {
    match value.trim() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(format!("expected true or false, got {value:?}")),
    }
}

fn parse_listen(key: &str, value: &str) -> Result<SocketAddr, ConfigError> {
    value.parse().map_err(|e| ConfigError::Invalid {
        key: key.to_string(),
        message: format!("invalid address {value:?} ({e}); use e.g. \"127.0.0.1:8787\""),
    })
}

fn parse_file(path: &Path, text: &str) -> Result<FileConfig, ConfigError> {
    toml::from_str(text).map_err(|e| {
        let (line, key) = match e.span() {
            Some(span) => locate(text, span.start),
            None => (0, String::new()),
        };
        ConfigError::File {
            path: path.to_path_buf(),
            line,
            key: if key.is_empty() {
                String::new()
            } else {
                format!(", key `{key}`")
            },
            message: e.message().to_string(),
        }
    })
}

/// Finds the 1-based line of a byte offset and the dotted key written on it
/// (with its `[table]` prefix), so errors point at what the operator wrote.
fn locate(text: &str, offset: usize) -> (usize, String) {
    let before = text.get(..offset).unwrap_or(text);
    let line_no = before.matches('\n').count() + 1;
    let mut table = String::new();
    for line in before.lines() {
        let t = line.trim();
        if t.starts_with('[') && t.ends_with(']') {
            table = t.trim_matches(|c| c == '[' || c == ']').trim().to_string();
        }
    }
    let current = text.lines().nth(line_no - 1).unwrap_or("");
    let key = match current.split_once('=') {
        Some((k, _)) => k.trim().trim_matches('"').to_string(),
        None => return (line_no, String::new()),
    };
    let key = if table.is_empty() {
        key
    } else {
        format!("{table}.{key}")
    };
    (line_no, key)
}

#[cfg(test)]
mod tests;
