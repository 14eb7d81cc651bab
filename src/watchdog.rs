//! The systemd watchdog (`WatchdogSec=`): `WATCHDOG=1` is sent only when
//! the parts that do the work answered within the interval — the store
//! writer thread and the rule engine's thread — not merely while the main
//! runtime runs. A wedged writer or engine stops the pings and systemd
//! restarts the daemon.

use std::time::Duration;

use actix::Addr;

use crate::engine::{Ping, RuleEngine};
use crate::store::Store;

/// Which part did not answer in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Stuck {
    #[error("the store writer did not answer")]
    StoreWriter,
    #[error("the rule engine did not answer")]
    RuleEngine,
}

/// Asks the store writer and the rule engine, each within `within`.
pub async fn check(
    store: &Store,
    engine: &Addr<RuleEngine>,
    within: Duration,
) -> Result<(), Stuck> {
    let writer = actix_web::rt::time::timeout(within, store.ping_writer()).await;
    if !matches!(writer, Ok(Ok(()))) {
        return Err(Stuck::StoreWriter);
    }
    let engine = actix_web::rt::time::timeout(within, engine.send(Ping)).await;
    if !matches!(engine, Ok(Ok(()))) {
        return Err(Stuck::RuleEngine);
    }
    Ok(())
}

/// With `WatchdogSec=`, checks every half interval and pings systemd when
/// every part answered; a no-op outside systemd.
pub fn start(store: Store, engine: Addr<RuleEngine>) {
    let mut usec = 0;
    if !sd_notify::watchdog_enabled(false, &mut usec) || usec == 0 {
        return;
    }
    let every = Duration::from_micros(usec / 2);
    actix_web::rt::spawn(async move {
        let mut tick = actix_web::rt::time::interval(every);
        loop {
            tick.tick().await;
            match check(&store, &engine, every).await {
                Ok(()) => {
                    if let Err(e) = sd_notify::notify(false, &[sd_notify::NotifyState::Watchdog]) {
                        tracing::warn!(error = %e, "cannot notify systemd");
                    }
                }
                Err(stuck) => tracing::error!(%stuck, "watchdog: not pinging systemd"),
            }
        }
    });
}
