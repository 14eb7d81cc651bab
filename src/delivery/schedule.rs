//! When to try again after a failed attempt (BEHAVIOUR.md §5).

use std::time::Duration;

/// Longest `Retry-After` that is honoured: a receiver asking for more is
/// either broken or hostile, and the schedule's own delays apply instead.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(12 * 60 * 60);

/// The wait after the `failed_attempts`-th failed attempt (1 after the first
/// try), or `None` when the schedule is used up and the delivery has failed
/// for good. `failed_attempts == 0` means nothing failed yet: no wait.
///
/// The delay is `schedule[n-1]` spread uniformly by ±`jitter` (a fraction,
/// clamped to 0..=1), so deliveries that failed together do not retry in
/// lock-step. A `retry_after` (only pass it for `429`/`503`) replaces that
/// delay, without jitter, when it is longer and at most [`MAX_RETRY_AFTER`].
pub fn retry_delay(
    schedule: &[Duration],
    failed_attempts: u32,
    jitter: f64,
    retry_after: Option<Duration>,
    rng: &mut impl rand::Rng,
) -> Option<Duration> {
    let Some(index) = (failed_attempts as usize).checked_sub(1) else {
        return Some(Duration::ZERO);
    };
    let delay = spread(*schedule.get(index)?, jitter, rng);
    match retry_after {
        Some(asked) if asked > delay && asked <= MAX_RETRY_AFTER => Some(asked),
        _ => Some(delay),
    }
}

/// `base` times a uniform factor in `[1 - jitter, 1 + jitter]`.
fn spread(base: Duration, jitter: f64, rng: &mut impl rand::Rng) -> Duration {
    let jitter = if jitter.is_finite() {
        jitter.clamp(0.0, 1.0)
    } else {
        0.0
    };
    if jitter == 0.0 || base.is_zero() {
        return base;
    }
    let factor = 1.0 + rng.random_range(-jitter..=jitter);
    base.mul_f64(factor)
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    /// The default schedule of BEHAVIOUR.md §5.
    fn default_schedule() -> Vec<Duration> {
        [
            10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 28800, 43200,
        ]
        .into_iter()
        .map(secs)
        .collect()
    }

    fn rng() -> StdRng {
        StdRng::seed_from_u64(7)
    }

    #[test]
    fn each_attempt_takes_its_delay_without_jitter() {
        let schedule = default_schedule();
        for (i, expected) in schedule.iter().enumerate() {
            let n = u32::try_from(i + 1).expect("small");
            assert_eq!(
                retry_delay(&schedule, n, 0.0, None, &mut rng()),
                Some(*expected),
                "attempt {n}"
            );
        }
    }

    #[test]
    fn past_the_schedule_is_final() {
        let schedule = default_schedule();
        assert_eq!(retry_delay(&schedule, 14, 0.1, None, &mut rng()), None);
        assert_eq!(
            retry_delay(&schedule, 99, 0.1, Some(secs(5)), &mut rng()),
            None
        );
        assert_eq!(retry_delay(&[], 1, 0.1, None, &mut rng()), None);
    }

    #[test]
    fn nothing_failed_means_no_wait() {
        let delay = retry_delay(&default_schedule(), 0, 0.1, None, &mut rng());
        assert_eq!(delay, Some(Duration::ZERO));
    }

    #[test]
    fn jitter_stays_within_bounds_and_spreads() {
        let schedule = default_schedule();
        let mut rng = rng();
        for (i, base) in schedule.iter().enumerate() {
            let n = u32::try_from(i + 1).expect("small");
            let (low, high) = (base.mul_f64(0.9), base.mul_f64(1.1));
            let mut seen = std::collections::BTreeSet::new();
            for _ in 0..200 {
                let d = retry_delay(&schedule, n, 0.1, None, &mut rng).expect("in schedule");
                assert!(d >= low && d <= high, "attempt {n}: {d:?}");
                seen.insert(d);
            }
            assert!(seen.len() > 100, "attempt {n} is not spread");
        }
    }

    #[test]
    fn odd_jitter_values_are_tamed() {
        let schedule = [secs(10)];
        for jitter in [f64::NAN, f64::INFINITY, -0.5] {
            let d = retry_delay(&schedule, 1, jitter, None, &mut rng());
            assert_eq!(d, Some(secs(10)), "{jitter}");
        }
        for _ in 0..100 {
            let d = retry_delay(&schedule, 1, 5.0, None, &mut rng()).expect("in schedule");
            assert!(d <= secs(20), "{d:?}");
        }
    }

    #[test]
    fn longer_retry_after_replaces_the_delay() {
        let d = retry_delay(&default_schedule(), 1, 0.1, Some(secs(120)), &mut rng());
        assert_eq!(d, Some(secs(120)));
    }

    #[test]
    fn shorter_retry_after_is_ignored() {
        let d = retry_delay(&default_schedule(), 4, 0.0, Some(secs(5)), &mut rng());
        assert_eq!(d, Some(secs(120)));
    }

    #[test]
    fn retry_after_over_twelve_hours_is_ignored() {
        let schedule = default_schedule();
        let too_long = MAX_RETRY_AFTER + secs(1);
        let d = retry_delay(&schedule, 1, 0.0, Some(too_long), &mut rng());
        assert_eq!(d, Some(secs(10)));
        let exactly = retry_delay(&schedule, 1, 0.0, Some(MAX_RETRY_AFTER), &mut rng());
        assert_eq!(exactly, Some(MAX_RETRY_AFTER));
    }
}
