//! The `hookline` binary: command line, start-up order and shutdown.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use actix::Actor as _;
use base64::Engine as _;
use clap::{Parser, Subcommand};
use hookline::config::format_duration;
use hookline::config::{Config, LogFormat};
use hookline::delivery::{Drain, HttpClient, QueueSettings, RetryPolicy, RetrySupervisor};
use hookline::engine::{ConfigChanged, ConfigErrors, Connect, RuleEngine, Sinks};
use hookline::store::OpenError;
use hookline::store::Store;

/// glibc's allocator cost about a sixth of the daemon's CPU under load
/// (perf, fan-out benchmark); mimalloc's thread-local free lists do not.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "hookline",
    version,
    about = "Sends a ticketing system's outgoing webhooks"
)]
struct Cli {
    /// TOML configuration file (built-in defaults when absent).
    #[arg(long, global = true, env = "HOOKLINE_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon.
    Serve,
    /// Validate the configuration and the data file, print what `serve` would do.
    Check,
    /// Write a consistent copy of the data file to DEST (also while the daemon runs).
    Backup {
        /// The new file to write.
        dest: PathBuf,
    },
    /// Rewrite the data file without its free space (stop the daemon first).
    Compact,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The one place that reads the environment; `Config` gets it as a map.
    let env: BTreeMap<String, String> = std::env::vars()
        .filter(|(k, _)| k.starts_with("HOOKLINE_"))
        .collect();
    let config = match Config::load(cli.config.as_deref(), &env) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("hookline: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Serve => serve(config),
        Command::Check => check(&config),
        Command::Backup { dest } => backup(&config, &dest),
        Command::Compact => compact(&config),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("hookline: {message}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::new(&config.log);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    // A panic is a bug, but one below the routes costs only its connection
    // (actix-http 3.20.0 unwrapped a header name of 64 KiB, now patched in
    // vendor/actix-http): log it as one line, not a multi-line backtrace.
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let thread = std::thread::current().name().unwrap_or("?").to_string();
        tracing::error!(%thread, %at, message = %what, "panic; the work of that thread or connection was dropped");
    }));
}

fn serve(config: Config) -> Result<(), String> {
    init_logging(&config);
    // A format-1 file is migrated here, before anything is served; its
    // progress goes to the log and to systemd's status line.
    let store = Store::open_with(&config.data_file, &mut |p| {
        hookline::store::log_migration(p);
        let status = format!(
            "migrating the data file: {} {}/{}",
            p.table, p.done, p.total
        );
        notify_systemd(&[sd_notify::NotifyState::Status(&status)]);
    })
    .map_err(|e| e.to_string())?;
    let admin_token = admin_token(&config)?;
    let config = Arc::new(config);
    let system = actix_web::rt::System::new();
    let outcome = system.block_on(run(store.clone(), config, admin_token));
    store.close();
    tracing::info!("stopped");
    outcome
}

/// Start-up in order (rules, delivery, HTTP), then wait for SIGTERM/SIGINT
/// and shut down in the reverse order.
async fn run(store: Store, config: Arc<Config>, admin_token: String) -> Result<(), String> {
    let started = std::time::Instant::now();
    let errors = ConfigErrors::default();
    let cluster = match &config.cluster {
        Some(c) => Some(
            hookline::cluster::Cluster::connect(c)
                .await
                .map_err(|e| format!("cluster mode: {e}"))?,
        ),
        None => None,
    };
    let engine = RuleEngine::new(store.clone(), config.clone(), errors.clone())
        .map_err(|e| format!("cannot load the stored configuration: {e}"))?;
    // Its own thread: evaluation and rendering never stall the HTTP workers.
    let engine = RuleEngine::start_in_arbiter(&actix::Arbiter::new().handle(), |_| engine);
    let (supervisor, client) = start_delivery(&store, &config, engine.clone().recipient())?;
    engine.do_send(Connect(Sinks {
        created: supervisor.clone().recipient(),
        webhooks: supervisor.clone().recipient(),
    }));
    // The first configuration change: the engine hands the webhooks to the
    // supervisor, which starts their queues (the due index is the truth).
    match engine.send(ConfigChanged).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(format!("cannot load the stored configuration: {e}")),
        Err(e) => return Err(format!("rule engine did not start: {e}")),
    }
    let ready = Arc::new(AtomicBool::new(false));
    let claims = cluster
        .as_ref()
        .map(|c| c.start(store.clone(), engine.clone()));
    let mut admin = hookline::admin::Admin::new(
        store.clone(),
        engine.clone(),
        hookline::admin::DeliverySide {
            wake: supervisor.clone().recipient(),
            health: supervisor.clone().recipient(),
        },
        client,
        config.clone(),
        errors,
    );
    if let Some(c) = &cluster {
        admin = admin.with_share(c.share());
        c.serve_reads(hookline::http::local_reads(admin.clone()));
    }
    let state = hookline::http::AppState {
        store: store.clone(),
        engine: engine.clone(),
        admin,
        config: config.clone(),
        admin_token,
        ready: ready.clone(),
        cluster,
    };
    let ui = config
        .ui_enabled
        .then(|| hookline::ui::UiState::new(config.ui_session_idle, config.ui_secure_cookies));
    let mount = move |cfg: &mut actix_web::web::ServiceConfig| {
        if let Some(ui) = &ui {
            hookline::ui::mount(ui.clone())(cfg);
        }
    };
    let (server, addrs) = hookline::http::start(state, mount)
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let handle = server.handle();
    let serving = actix_web::rt::spawn(server);
    ready.store(true, Ordering::Release);
    for addr in addrs {
        tracing::info!("listening on http://{addr}");
    }
    tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, "ready");
    notify_systemd(&[sd_notify::NotifyState::Ready]);
    hookline::watchdog::start(store.clone(), engine);

    let signal = shutdown_signal().await;
    let stopping = std::time::Instant::now();
    tracing::info!(signal, "shutting down");
    // Keep answering through the grace period: readyz 503, new events
    // `503 unavailable`, while running attempts finish and are recorded.
    ready.store(false, Ordering::Release);
    notify_systemd(&[sd_notify::NotifyState::Stopping]);
    if let Some(claims) = claims {
        // The partitions go to the others now, not after the lease.
        claims.stop().await;
    }
    let left = supervisor
        .send(Drain {
            grace: config.shutdown_grace,
        })
        .await
        .unwrap_or(0);
    if left > 0 {
        tracing::warn!(in_flight = left, "attempts still running after the grace period stay pending and are sent after the next start");
    }
    // Then the listener: requests still running get what is left of the
    // grace period (at least a second), in all one grace period.
    let rest = config
        .shutdown_grace
        .saturating_sub(stopping.elapsed())
        .max(std::time::Duration::from_secs(1));
    if actix_web::rt::time::timeout(rest, handle.stop(true))
        .await
        .is_err()
    {
        handle.stop(false).await;
    }
    let _ = serving.await;
    tracing::info!(
        elapsed_ms = stopping.elapsed().as_millis() as u64,
        "shutdown complete"
    );
    Ok(())
}

/// Waits for SIGTERM or SIGINT; names the one that came.
async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot listen for signals; stop with SIGKILL");
        std::future::pending::<()>().await;
        return "none";
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}

/// Tells systemd (`Type=notify`) about readiness and shutdown; a no-op
/// outside systemd.
fn notify_systemd(state: &[sd_notify::NotifyState]) {
    if let Err(e) = sd_notify::notify(false, state) {
        tracing::warn!(error = %e, "cannot notify systemd");
    }
}

/// Starts the delivery side on an arbiter of its own: the supervisor, which
/// starts one queue per enabled webhook once the engine hands it the list;
/// they pick up every pending delivery from the due index (the truth after
/// any restart or crash).
fn start_delivery(
    store: &Store,
    config: &Config,
    state_changes: actix::Recipient<hookline::delivery::WebhookStateChanged>,
) -> Result<(actix::Addr<RetrySupervisor>, HttpClient), String> {
    let policy = hookline::delivery::policy::TargetPolicy::of(&config.delivery);
    let client = HttpClient::with_policy(config.delivery.ca_file.as_deref(), policy)
        .map_err(|e| e.to_string())?;
    let settings = QueueSettings {
        timeout: config.delivery.timeout,
        max_in_flight: config.delivery.max_in_flight_per_webhook,
        retention: config.delivery.retention,
        policy: Arc::new(RetryPolicy {
            schedule: config.delivery.retry_schedule.clone(),
            jitter: config.delivery.retry_jitter,
        }),
        breaker: Arc::new(config.delivery.breaker.clone()),
        state_changes: Some(state_changes),
    };
    let (store, sup_client) = (store.clone(), client.clone());
    let supervisor =
        RetrySupervisor::start_in_arbiter(&actix::Arbiter::new().handle(), move |_| {
            hookline::delivery::supervisor(store, sup_client, settings)
        });
    Ok((supervisor, client))
}

/// The admin token: configured inline, read from `admin_token_file`, or made
/// on first start and kept beside the data file (mode 0600). The token itself
/// is never logged, only where it is.
fn admin_token(config: &Config) -> Result<String, String> {
    if let Some(token) = existing_admin_token(config)? {
        return Ok(token);
    }
    let path = config.generated_token_path();
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    write_private(&path, &token)
        .map_err(|e| format!("cannot write the admin token to {}: {e}", path.display()))?;
    tracing::info!(path = %path.display(), "generated an admin token");
    Ok(token)
}

/// The admin token if one is configured or was generated before.
fn existing_admin_token(config: &Config) -> Result<Option<String>, String> {
    if let Some(token) = &config.admin_token {
        return Ok(Some(token.clone()));
    }
    if let Some(path) = &config.admin_token_file {
        return read_token(path).map(Some);
    }
    let path = config.generated_token_path();
    if path.exists() {
        return read_token(&path).map(Some);
    }
    Ok(None)
}

fn read_token(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read admin token file {}: {e}", path.display()))?;
    let token = text.trim().to_string();
    if token.is_empty() {
        return Err(format!("admin token file {} is empty", path.display()));
    }
    Ok(token)
}

fn write_private(path: &Path, token: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(token.as_bytes())?;
    file.sync_all()
}

/// `hookline check`: validates the configuration (already done by `main`)
/// and the data file, and prints what `serve` would do. No secret is printed.
fn check(config: &Config) -> Result<(), String> {
    println!("config: ok");
    println!("listen: {}", config.listen);
    println!("data_file: {}", config.data_file.display());
    let token_source = match (&config.admin_token, &config.admin_token_file) {
        (Some(_), _) => "set in the configuration".to_string(),
        (None, Some(p)) => format!("read from {}", p.display()),
        (None, None) => format!("generated into {}", config.generated_token_path().display()),
    };
    println!("admin_token: {token_source}");
    println!(
        "ingest_token: {}",
        if config.ingest_token.is_some() {
            "required"
        } else {
            "not set (ingest routes are open)"
        }
    );
    let d = &config.delivery;
    println!(
        "delivery: timeout {}, {} in flight per webhook, {} retries over {}, dedup window {}, retention {}",
        format_duration(d.timeout),
        d.max_in_flight_per_webhook,
        d.retry_schedule.len(),
        format_duration(d.retry_schedule.iter().sum()),
        format_duration(d.dedup_window),
        format_duration(d.retention)
    );
    if let Some(ca) = &d.ca_file {
        HttpClient::new(Some(ca)).map_err(|e| e.to_string())?;
        println!("ca_file: {} (ok)", ca.display());
    }
    if let Some(c) = &config.cluster {
        println!("{}", hookline::cluster::Cluster::probe(c)?);
    }
    if !config.data_file.exists() {
        println!("data file: does not exist yet; serve will create it");
        return Ok(());
    }
    match Store::inspect(&config.data_file) {
        Ok(i) => {
            if i.format_version > hookline::store::FORMAT_VERSION {
                return Err(format!(
                    "data file has format version {}, newer than this hookline ({})",
                    i.format_version,
                    hookline::store::FORMAT_VERSION
                ));
            }
            println!(
                "data file: format version {}, {} webhooks, {} schemas, {} rule groups with {} rules, {} events, {} deliveries ({} pending)",
                i.format_version, i.webhooks, i.schemas, i.rule_groups, i.rules, i.events, i.deliveries, i.pending
            );
            if i.format_version < hookline::store::FORMAT_VERSION {
                println!(
                    "data file: migration due: format {} is converted to {} when serve (or compact) next opens it, in resumable commits",
                    i.format_version.max(1),
                    hookline::store::FORMAT_VERSION
                );
            }
            report_uncompilable(i);
        }
        Err(OpenError::Locked(_)) => {
            println!("data file: in use by a running hookline (not inspected)")
        }
        Err(e) => return Err(e.to_string()),
    }
    Ok(())
}

/// Lists stored objects that do not compile (serve leaves them out).
fn report_uncompilable(i: hookline::store::Inspection) {
    let found = hookline::engine::uncompilable(&i.rule_group_list, i.schema_list, &i.webhook_list);
    if found.is_empty() {
        println!("stored objects: all compile");
    }
    for f in &found {
        println!(
            "stored {} {} ({:?}) does not compile and is left out: {}",
            f.kind, f.id, f.name, f.error
        );
    }
}

/// `hookline backup DEST`: a consistent copy of the data file. With no
/// daemon running the file is copied directly; while one runs, the copy is
/// fetched from it (`GET /api/v1/backup`), since only one process may open
/// the file.
fn backup(config: &Config, dest: &Path) -> Result<(), String> {
    if dest.exists() {
        return Err(format!(
            "{} already exists; choose a new file",
            dest.display()
        ));
    }
    match Store::open(&config.data_file) {
        Ok(store) => {
            let copied = store.backup_to(dest).map_err(|e| e.to_string());
            store.close();
            copied?;
        }
        Err(OpenError::Locked(_)) => fetch_backup(config, dest)?,
        Err(e) => return Err(e.to_string()),
    }
    let i = Store::inspect(dest).map_err(|e| format!("the copy does not open: {e}"))?;
    println!(
        "backup written to {}: {} webhooks, {} schemas, {} rule groups, {} events, {} deliveries ({} pending)",
        dest.display(), i.webhooks, i.schemas, i.rule_groups, i.events, i.deliveries, i.pending
    );
    Ok(())
}

/// `hookline compact`: offline only, since a running daemon holds the file.
fn compact(config: &Config) -> Result<(), String> {
    match Store::compact_file(&config.data_file) {
        Ok((before, after)) => {
            println!(
                "compacted {}: {before} → {after} bytes",
                config.data_file.display()
            );
            Ok(())
        }
        Err(OpenError::Locked(path)) => Err(format!(
            "{} is in use by a running hookline; stop it first (systemctl stop hookline), then compact",
            path.display()
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// Streams `GET /api/v1/backup` of the running daemon into `dest`.
fn fetch_backup(config: &Config, dest: &Path) -> Result<(), String> {
    let token = existing_admin_token(config)?
        .ok_or("the daemon runs but no admin token is configured or generated")?;
    let mut addr = config.listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let url = format!("http://{addr}/api/v1/backup");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let mut resp = reqwest::Client::new()
            .get(&url)
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| format!("cannot reach the daemon at {url}: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("the daemon refused the backup: {}", resp.status()));
        }
        let mut out =
            std::fs::File::create_new(dest).map_err(|e| format!("{}: {e}", dest.display()))?;
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| format!("backup interrupted: {e}"))?
        {
            out.write_all(&chunk)
                .map_err(|e| format!("{}: {e}", dest.display()))?;
        }
        out.sync_all()
            .map_err(|e| format!("{}: {e}", dest.display()))
    })
}
