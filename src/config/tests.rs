//! Unit tests of configuration loading.
use super::*;

fn load_text(text: &str) -> Result<Config, ConfigError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("hookline.toml");
    std::fs::write(&path, text).expect("write config");
    Config::load(Some(&path), &BTreeMap::new())
}

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn defaults_without_file() {
    let c = Config::load(None, &BTreeMap::new()).expect("defaults load");
    assert_eq!(c.listen.to_string(), "127.0.0.1:8787");
    assert_eq!(c.data_file, PathBuf::from("hookline.redb"));
    assert_eq!(c.delivery.retry_schedule.len(), 13);
    assert_eq!(
        c.delivery.retry_schedule[12],
        Duration::from_secs(12 * 3600)
    );
    assert_eq!(c.delivery.dedup_window, Duration::from_secs(60));
    assert_eq!(c.max_event_bytes, 1_048_576);
    assert_eq!(c.admin_token, None);
}

#[test]
fn full_file_parses() {
    let c = load_text(
        r#"
listen = "127.0.0.1:9000"
data_file = "/var/lib/hookline/h.redb"
admin_token = "adm"
ingest_token = ""
max_event_bytes = 2048
log = "hookline=debug,info"
log_format = "json"
shutdown_grace = "3s"

[delivery]
timeout = "250ms"
max_in_flight_per_webhook = 4
retry_schedule = ["1s", "2s"]
retry_jitter = 0.0
dedup_window = "5m"
retention = "7d"
ca_file = ""
"#,
    )
    .expect("valid config");
    assert_eq!(c.listen.port(), 9000);
    assert_eq!(c.admin_token.as_deref(), Some("adm"));
    assert_eq!(c.ingest_token, None, "empty ingest token means open");
    assert_eq!(c.log_format, LogFormat::Json);
    assert_eq!(c.shutdown_grace, Duration::from_secs(3));
    assert_eq!(c.delivery.timeout, Duration::from_millis(250));
    assert_eq!(
        c.delivery.retry_schedule,
        vec![Duration::from_secs(1), Duration::from_secs(2)]
    );
    assert_eq!(c.delivery.retention, Duration::from_secs(7 * 86400));
    assert_eq!(c.delivery.ca_file, None);
}

#[test]
fn unknown_key_names_key_and_line() {
    let err = load_text("listen = \"127.0.0.1:1\"\n\n[delivery]\ntimeuot = \"1s\"\n")
        .expect_err("unknown key must fail")
        .to_string();
    assert!(err.contains("line 4"), "{err}");
    assert!(err.contains("delivery.timeuot"), "{err}");
}

#[test]
fn bad_duration_names_key_and_line() {
    let err = load_text("[delivery]\ntimeout = \"ten seconds\"\n")
        .expect_err("bad duration must fail")
        .to_string();
    assert!(err.contains("line 2"), "{err}");
    assert!(err.contains("delivery.timeout"), "{err}");
    assert!(err.contains("invalid duration"), "{err}");
}

#[test]
fn wrong_type_names_key() {
    let err = load_text("max_event_bytes = \"big\"\n")
        .expect_err("string for a number must fail")
        .to_string();
    assert!(
        err.contains("line 1") && err.contains("max_event_bytes"),
        "{err}"
    );
}

#[test]
fn bad_listen_address() {
    let err = load_text("listen = \"nowhere\"\n")
        .expect_err("bad address")
        .to_string();
    assert!(err.contains("listen"), "{err}");
}

#[test]
fn out_of_range_values_are_refused() {
    for (text, key) in [
        ("[delivery]\nretry_jitter = 1.5\n", "delivery.retry_jitter"),
        (
            "[delivery]\nmax_in_flight_per_webhook = 0\n",
            "delivery.max_in_flight",
        ),
        ("[delivery]\ntimeout = \"0s\"\n", "delivery.timeout"),
        ("max_event_bytes = 10\n", "max_event_bytes"),
        ("log = \"[[[\"\n", "log"),
        (
            "admin_token = \"a\"\nadmin_token_file = \"/x\"\n",
            "admin_token",
        ),
    ] {
        let err = load_text(text).expect_err(text).to_string();
        assert!(err.contains(key), "{text}: {err}");
    }
}

#[test]
fn env_overrides_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("c.toml");
    std::fs::write(&path, "listen = \"127.0.0.1:1\"\nlog = \"warn\"\n").expect("write");
    let c = Config::load(
        Some(&path),
        &env(&[
            ("HOOKLINE_LISTEN", "127.0.0.1:2"),
            ("HOOKLINE_DATA_FILE", "/tmp/x.redb"),
            ("HOOKLINE_ADMIN_TOKEN", "s3cret"),
            ("HOOKLINE_INGEST_TOKEN", "ing"),
            ("HOOKLINE_CONFIG", "ignored here"),
            ("PATH", "/bin"),
        ]),
    )
    .expect("env applies");
    assert_eq!(c.listen.port(), 2);
    assert_eq!(c.log, "warn");
    assert_eq!(c.data_file, PathBuf::from("/tmp/x.redb"));
    assert_eq!(c.admin_token.as_deref(), Some("s3cret"));
    assert_eq!(c.ingest_token.as_deref(), Some("ing"));
}

#[test]
fn bad_or_unknown_env_is_named() {
    let err = Config::load(None, &env(&[("HOOKLINE_LISTEN", "x")]))
        .expect_err("bad env")
        .to_string();
    assert!(err.contains("HOOKLINE_LISTEN"), "{err}");
    let err = Config::load(None, &env(&[("HOOKLINE_LISTN", "x")]))
        .expect_err("unknown env")
        .to_string();
    assert!(err.contains("HOOKLINE_LISTN"), "{err}");
}

#[test]
fn missing_file_is_an_error() {
    let err = Config::load(Some(Path::new("/nonexistent/h.toml")), &BTreeMap::new())
        .expect_err("missing file");
    assert!(err.to_string().contains("/nonexistent/h.toml"));
}

#[test]
fn generated_token_path_sits_beside_data_file() {
    let c = Config {
        data_file: PathBuf::from("/var/lib/hookline/hookline.redb"),
        ..Config::default()
    };
    assert_eq!(
        c.generated_token_path(),
        PathBuf::from("/var/lib/hookline/hookline.redb.admin-token")
    );
}

#[test]
fn target_policy_networks_parse_and_a_bad_one_is_named() {
    let c = load_text(
        "[delivery]\ndeny_builtin = false\ndeny_networks = [\"10.20.0.0/16\", \"::1\"]\nallow_networks = [\"10.0.0.0/8\"]\n",
    )
    .expect("valid");
    assert!(!c.delivery.deny_builtin);
    let shown: Vec<String> = c
        .delivery
        .deny_networks
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert_eq!(shown, vec!["10.20.0.0/16", "::1/128"]);
    assert_eq!(c.delivery.allow_networks.len(), 1);
    let err = load_text("[delivery]\ndeny_networks = [\"10.0.0.0/33\"]\n").expect_err("bad");
    let text = err.to_string();
    assert!(
        text.contains("deny_networks") && text.contains("10.0.0.0/33"),
        "{text}"
    );
}
