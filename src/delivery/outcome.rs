//! What an attempt's outcome means: the retry state machine, in one pure
//! function. The queue applies the decision and the store persists it;
//! neither decides anything itself. The endpoint policies of POLICIES.md
//! plug in beside [`decide`].

use std::time::Duration;

use super::schedule::retry_delay;
use crate::store::NextState;

/// The retry schedule and its jitter (BEHAVIOUR.md §5).
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub schedule: Vec<Duration>,
    pub jitter: f64,
}

/// The facts of one finished attempt that the decision depends on.
#[derive(Debug, Clone, Copy)]
pub struct Finished {
    /// A `2xx` arrived.
    pub succeeded: bool,
    /// Failed attempts counted against the schedule, this one included
    /// (attempts since the last manual retry).
    pub failed_attempts: u32,
    /// `Retry-After` of a `429`/`503` answer.
    pub retry_after: Option<Duration>,
    /// When the attempt ended (unix ms): the next one is timed from here.
    pub ended_ms: u64,
}

/// Succeeded after a `2xx`; otherwise retry after the schedule's next delay
/// (or a longer `Retry-After`), or failed once the schedule is used up.
pub fn decide(policy: &RetryPolicy, attempt: Finished, rng: &mut impl rand::Rng) -> NextState {
    if attempt.succeeded {
        return NextState::Succeeded;
    }
    let delay = retry_delay(
        &policy.schedule,
        attempt.failed_attempts,
        policy.jitter,
        attempt.retry_after,
        rng,
    );
    match delay {
        Some(d) => NextState::RetryAt(
            attempt
                .ended_ms
                .saturating_add(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        ),
        None => NextState::Failed,
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            schedule: vec![Duration::from_secs(10), Duration::from_secs(30)],
            jitter: 0.0,
        }
    }

    fn failed(n: u32) -> Finished {
        Finished {
            succeeded: false,
            failed_attempts: n,
            retry_after: None,
            ended_ms: 1_000,
        }
    }

    fn rng() -> StdRng {
        StdRng::seed_from_u64(1)
    }

    #[test]
    fn a_success_ends_the_delivery_whatever_the_count() {
        let attempt = Finished {
            succeeded: true,
            ..failed(99)
        };
        assert_eq!(decide(&policy(), attempt, &mut rng()), NextState::Succeeded);
    }

    #[test]
    fn failures_walk_the_schedule_from_the_attempts_end() {
        assert_eq!(
            decide(&policy(), failed(1), &mut rng()),
            NextState::RetryAt(11_000)
        );
        assert_eq!(
            decide(&policy(), failed(2), &mut rng()),
            NextState::RetryAt(31_000)
        );
        assert_eq!(decide(&policy(), failed(3), &mut rng()), NextState::Failed);
    }

    #[test]
    fn a_longer_retry_after_wins_a_shorter_one_does_not() {
        let longer = Finished {
            retry_after: Some(Duration::from_secs(60)),
            ..failed(1)
        };
        assert_eq!(
            decide(&policy(), longer, &mut rng()),
            NextState::RetryAt(61_000)
        );
        let shorter = Finished {
            retry_after: Some(Duration::from_secs(1)),
            ..failed(1)
        };
        assert_eq!(
            decide(&policy(), shorter, &mut rng()),
            NextState::RetryAt(11_000)
        );
    }

    #[test]
    fn retry_after_does_not_extend_a_used_up_schedule() {
        let attempt = Finished {
            retry_after: Some(Duration::from_secs(60)),
            ..failed(3)
        };
        assert_eq!(decide(&policy(), attempt, &mut rng()), NextState::Failed);
    }

    #[test]
    fn jitter_stays_within_its_band() {
        let policy = RetryPolicy {
            jitter: 0.5,
            ..policy()
        };
        let mut rng = rng();
        for _ in 0..200 {
            match decide(&policy, failed(1), &mut rng) {
                NextState::RetryAt(at) => assert!((6_000..=16_000).contains(&at), "{at}"),
                other => panic!("{other:?}"),
            }
        }
    }
}
