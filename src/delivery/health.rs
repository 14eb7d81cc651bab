//! Endpoint health (POLICIES.md, *Endpoint health*): what an attempt's
//! outcome means for the webhook as a whole, in pure functions beside
//! [`super::decide`] (which says what it means for the delivery). The queue
//! asks [`gate`] before it starts a request and [`observe`] after each
//! answer, and stores the [`Health`] it gets back with the attempt.

use std::collections::VecDeque;
use std::time::Duration;

pub use crate::model::{Health, HealthState};

/// `[delivery.breaker]`: the thresholds and periods of the breaker.
pub use crate::config::BreakerConfig as BreakerPolicy;

/// Longest pause a `Retry-After` can ask for.
pub const MAX_PAUSE: Duration = Duration::from_secs(12 * 3600);
/// Attempts remembered for the failure ratio (the newest, within `window`).
const RECENT: usize = 512;

/// What an answer means for the webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observed {
    Success,
    Failure,
    /// `410 Gone`: the receiver says the endpoint is no more.
    Gone,
    /// `429`/`503` with `Retry-After`: pause the whole webhook until then;
    /// not a failure for the breaker.
    RetryAfter(Duration),
    /// The target policy refused the address: nothing reached the receiver,
    /// so it says nothing about the receiver's health.
    Blocked,
}

/// A change of state worth telling (logged at warn, counted, ingested).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateChange {
    pub previous: HealthState,
    pub state: HealthState,
    pub reason: String,
}

/// What the queue may do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Send as usual.
    Flow,
    /// Send nothing before this time (unix ms); wake then.
    HoldUntil(u64),
    /// Send one request, the probe, and nothing else until it is answered.
    Probe,
    /// Send nothing (disabled by its health).
    Closed,
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// May the queue start requests now?
pub fn gate(health: &Health, now_ms: u64) -> Gate {
    if health.state == HealthState::Disabled {
        return Gate::Closed;
    }
    if let Some(until) = health.paused_until_ms.filter(|&u| u > now_ms) {
        return Gate::HoldUntil(until);
    }
    match (health.state, health.open_until_ms) {
        (HealthState::Open, Some(until)) if until > now_ms => Gate::HoldUntil(until),
        (HealthState::Open, _) => Gate::Probe,
        _ => Gate::Flow,
    }
}

/// The webhook's health after an answer at `now_ms`. `probe` is true when
/// the attempt was the probe of an open circuit. Takes the health by value:
/// the queue calls this for every answer, and its window of recent
/// attempts is not copied each time.
pub fn observe(
    policy: &BreakerPolicy,
    health: Health,
    seen: Observed,
    now_ms: u64,
    probe: bool,
) -> (Health, Option<StateChange>) {
    let mut h = health;
    let before = h.state;
    let window_ms = ms(policy.window);
    let change = |h: &mut Health, state: HealthState, reason: String| -> Option<StateChange> {
        let previous = h.state;
        h.state = state;
        (previous != state).then_some(StateChange {
            previous,
            state,
            reason,
        })
    };
    let told = match seen {
        Observed::Blocked => None,
        Observed::RetryAfter(wait) => {
            h.paused_until_ms = Some(now_ms.saturating_add(ms(wait.min(MAX_PAUSE))));
            None
        }
        Observed::Success => {
            h.failures_in_a_row = 0;
            h.last_success_ms = Some(now_ms);
            h.first_failure_ms = None;
            h.open_until_ms = None;
            h.paused_until_ms = None;
            if before == HealthState::Open {
                // A later outage starts again from the shortest period.
                h.open_period_ms = 0;
            }
            h.recent.push_back((now_ms, true));
            change(&mut h, HealthState::Healthy, "a request succeeded".into())
        }
        Observed::Gone => {
            h.failures_in_a_row += 1;
            h.last_failure_ms = Some(now_ms);
            h.open_until_ms = None;
            h.disabled_reason = Some("the receiver answered 410 Gone".into());
            change(
                &mut h,
                HealthState::Disabled,
                "the receiver answered 410 Gone".into(),
            )
        }
        Observed::Failure => {
            h.failures_in_a_row += 1;
            h.last_failure_ms = Some(now_ms);
            h.first_failure_ms.get_or_insert(now_ms);
            h.recent.push_back((now_ms, false));
            prune(&mut h.recent, now_ms, window_ms);
            let since = h.first_failure_ms.unwrap_or(now_ms);
            if policy.failures == 0 {
                change(&mut h, HealthState::Failing, "a request failed".into())
            } else if now_ms.saturating_sub(since) >= ms(policy.disable_after) {
                let reason = format!("no success since {}", crate::model::format_millis(since));
                h.open_until_ms = None;
                h.disabled_reason = Some(reason.clone());
                change(&mut h, HealthState::Disabled, reason)
            } else if probe {
                reopen(policy, &mut h, now_ms);
                None // open before and after: not a change
            } else if before == HealthState::Open {
                // A request started before the circuit opened: counted, but
                // it does not push the probe further away.
                None
            } else if let Some(reason) = trips(policy, &h) {
                reopen(policy, &mut h, now_ms);
                change(&mut h, HealthState::Open, reason)
            } else {
                change(&mut h, HealthState::Failing, "a request failed".into())
            }
        }
    };
    prune(&mut h.recent, now_ms, window_ms);
    (h, told)
}

/// Why the breaker opens now, if it does.
fn trips(policy: &BreakerPolicy, h: &Health) -> Option<String> {
    if h.failures_in_a_row >= u64::from(policy.failures) {
        return Some(format!("{} requests in a row failed", h.failures_in_a_row));
    }
    let made = h.recent.len();
    let failed = h.recent.iter().filter(|(_, ok)| !ok).count();
    if made >= policy.min_attempts as usize
        && made > 0
        && failed as f64 / made as f64 >= policy.failure_ratio
    {
        return Some(format!("{failed} of the last {made} requests failed"));
    }
    None
}

/// Opens (or reopens) the circuit: the first period is `open_min`, each
/// reopening doubles it, up to `open_max`.
fn reopen(policy: &BreakerPolicy, h: &mut Health, now_ms: u64) {
    let period = if h.open_period_ms == 0 {
        ms(policy.open_min)
    } else {
        h.open_period_ms.saturating_mul(2).min(ms(policy.open_max))
    };
    h.open_period_ms = period.max(1);
    h.open_until_ms = Some(now_ms.saturating_add(h.open_period_ms));
}

fn prune(recent: &mut VecDeque<(u64, bool)>, now_ms: u64, window_ms: u64) {
    while recent
        .front()
        .is_some_and(|(at, _)| now_ms.saturating_sub(*at) > window_ms)
        || recent.len() > RECENT
    {
        recent.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> BreakerPolicy {
        BreakerPolicy {
            failures: 3,
            failure_ratio: 0.5,
            min_attempts: 6,
            window: Duration::from_secs(60),
            open_min: Duration::from_secs(10),
            open_max: Duration::from_secs(35),
            disable_after: Duration::from_secs(3600),
        }
    }

    fn run(h: &Health, steps: &[(Observed, u64)]) -> (Health, Vec<StateChange>) {
        let mut h = h.clone();
        let mut changes = Vec::new();
        for &(seen, at) in steps {
            let probe = gate(&h, at) == Gate::Probe;
            let (next, change) = observe(&policy(), h, seen, at, probe);
            h = next;
            changes.extend(change);
        }
        (h, changes)
    }

    #[test]
    fn failures_in_a_row_open_the_circuit_for_open_min() {
        let (h, changes) = run(
            &Health::default(),
            &[(Observed::Failure, 1_000), (Observed::Failure, 2_000)],
        );
        assert_eq!(h.state, HealthState::Failing);
        assert_eq!(gate(&h, 2_000), Gate::Flow);
        let (h, more) = run(&h, &[(Observed::Failure, 3_000)]);
        assert_eq!(
            (h.state, h.open_until_ms),
            (HealthState::Open, Some(13_000))
        );
        assert_eq!(gate(&h, 12_999), Gate::HoldUntil(13_000));
        assert_eq!(gate(&h, 13_000), Gate::Probe);
        assert_eq!(
            changes.len() + more.len(),
            2,
            "healthy→failing, failing→open"
        );
        assert_eq!(more[0].reason, "3 requests in a row failed");
    }

    #[test]
    fn a_failed_probe_doubles_the_period_up_to_open_max_and_a_good_one_closes() {
        let open = run(
            &Health::default(),
            &[
                (Observed::Failure, 0),
                (Observed::Failure, 0),
                (Observed::Failure, 0),
            ],
        )
        .0;
        let (h, changes) = run(&open, &[(Observed::Failure, 10_000)]);
        assert_eq!(
            (h.state, h.open_until_ms),
            (HealthState::Open, Some(30_000)),
            "20 s"
        );
        assert!(changes.is_empty(), "still open: no change to tell");
        let (h, _) = run(&h, &[(Observed::Failure, 30_000)]);
        assert_eq!(h.open_until_ms, Some(65_000), "40 s capped at 35 s");
        let (h, changes) = run(&h, &[(Observed::Success, 65_000)]);
        assert_eq!(
            (h.state, h.open_until_ms, h.failures_in_a_row),
            (HealthState::Healthy, None, 0)
        );
        assert_eq!(gate(&h, 65_000), Gate::Flow);
        assert_eq!(changes[0].previous, HealthState::Open);
        let reopened = run(
            &h,
            &[
                (Observed::Failure, 70_000),
                (Observed::Failure, 70_000),
                (Observed::Failure, 70_000),
            ],
        )
        .0;
        assert_eq!(
            reopened.open_until_ms,
            Some(80_000),
            "a new outage starts at open_min again"
        );
    }

    #[test]
    fn the_failure_ratio_opens_it_once_enough_attempts_were_made() {
        let mut steps = Vec::new();
        for i in 0..6u64 {
            steps.push((
                if i % 2 == 0 {
                    Observed::Failure
                } else {
                    Observed::Success
                },
                i * 1_000,
            ));
        }
        let (h, _) = run(&Health::default(), &steps[..5]);
        assert_ne!(
            h.state,
            HealthState::Open,
            "5 attempts: fewer than min_attempts"
        );
        let (h, changes) = run(
            &Health::default(),
            &[&steps[..], &[(Observed::Failure, 6_000)]].concat(),
        );
        assert_eq!(h.state, HealthState::Open, "4 of 7 failed >= 0.5");
        assert!(
            changes
                .last()
                .is_some_and(|c| c.reason == "4 of the last 7 requests failed"),
            "{changes:?}"
        );
    }

    #[test]
    fn requests_that_were_running_when_it_opened_do_not_delay_the_probe() {
        let open = run(
            &Health::default(),
            &[
                (Observed::Failure, 0),
                (Observed::Failure, 0),
                (Observed::Failure, 0),
            ],
        )
        .0;
        let (h, changes) = observe(&policy(), open, Observed::Failure, 500, false);
        assert_eq!(
            (h.state, h.open_until_ms, h.failures_in_a_row),
            (HealthState::Open, Some(10_000), 4)
        );
        assert!(changes.is_none());
    }

    #[test]
    fn retry_after_pauses_without_counting_as_a_failure() {
        let (h, changes) = run(
            &Health::default(),
            &[(Observed::RetryAfter(Duration::from_secs(30)), 1_000)],
        );
        assert_eq!((h.state, h.failures_in_a_row), (HealthState::Healthy, 0));
        assert!(changes.is_empty());
        assert_eq!(gate(&h, 30_999), Gate::HoldUntil(31_000));
        assert_eq!(gate(&h, 31_000), Gate::Flow);
        let (h, _) = run(
            &h,
            &[(Observed::RetryAfter(Duration::from_secs(86_400)), 0)],
        );
        assert_eq!(h.paused_until_ms, Some(12 * 3600 * 1000), "capped at 12 h");
    }

    #[test]
    fn gone_disables_at_once_and_so_does_a_long_run_without_success() {
        let (h, changes) = run(&Health::default(), &[(Observed::Gone, 5)]);
        assert_eq!(
            (h.state, gate(&h, 5)),
            (HealthState::Disabled, Gate::Closed)
        );
        assert_eq!(changes[0].reason, "the receiver answered 410 Gone");
        let (h, changes) = run(
            &Health::default(),
            &[(Observed::Failure, 0), (Observed::Failure, 3_600_000)],
        );
        assert_eq!(h.state, HealthState::Disabled);
        assert!(h
            .disabled_reason
            .as_deref()
            .is_some_and(|r| r.starts_with("no success since 1970-01-01T00:00:00")));
        assert_eq!(changes.last().map(|c| c.state), Some(HealthState::Disabled));
    }

    #[test]
    fn failures_zero_turns_the_breaker_off() {
        let off = BreakerPolicy {
            failures: 0,
            ..policy()
        };
        let mut h = Health::default();
        for i in 0..100 {
            h = observe(&off, h, Observed::Failure, i, false).0;
        }
        assert_eq!((h.state, gate(&h, 100)), (HealthState::Failing, Gate::Flow));
    }

    #[test]
    fn the_window_forgets_old_attempts() {
        let (h, _) = run(
            &Health::default(),
            &[(Observed::Success, 0), (Observed::Success, 1_000)],
        );
        let (h, _) = run(&h, &[(Observed::Success, 120_000)]);
        assert_eq!(h.recent.len(), 1);
    }
}
