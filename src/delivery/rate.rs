//! A webhook's `rate_limit` (POLICIES.md): a token bucket holding at most
//! `requests` tokens, refilled at `requests` per `per`. Pure: the queue
//! takes a token before each request and waits as long as it is told.

use std::time::Duration;

/// Tokens are counted in millionths so slow rates refill smoothly.
const SCALE: u64 = 1_000_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenBucket {
    capacity: u64,
    /// Scaled tokens added per millisecond… as (tokens × SCALE) / per_ms.
    per_ms: u64,
    tokens: u64,
    last_ms: u64,
}

impl TokenBucket {
    /// A full bucket of `requests` per `per` (at least 1 ms).
    pub fn new(requests: u32, per: Duration, now_ms: u64) -> TokenBucket {
        let capacity = u64::from(requests.max(1)) * SCALE;
        TokenBucket {
            capacity,
            per_ms: u64::try_from(per.as_millis()).unwrap_or(u64::MAX).max(1),
            tokens: capacity,
            last_ms: now_ms,
        }
    }

    fn refill(&mut self, now_ms: u64) {
        let elapsed = now_ms.saturating_sub(self.last_ms);
        if elapsed > 0 {
            let added = u128::from(elapsed) * u128::from(self.capacity) / u128::from(self.per_ms);
            self.tokens = self.capacity.min(
                self.tokens
                    .saturating_add(u64::try_from(added).unwrap_or(u64::MAX)),
            );
            self.last_ms = now_ms;
        }
    }

    /// Takes a token for a request now, or says how many milliseconds
    /// until one is there.
    pub fn take(&mut self, now_ms: u64) -> Result<(), u64> {
        self.refill(now_ms);
        if self.tokens >= SCALE {
            self.tokens -= SCALE;
            return Ok(());
        }
        let missing = u128::from(SCALE - self.tokens);
        let wait = (missing * u128::from(self.per_ms)).div_ceil(u128::from(self.capacity));
        Err(u64::try_from(wait).unwrap_or(u64::MAX).max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_requests_then_the_refill_rate() {
        let mut b = TokenBucket::new(10, Duration::from_secs(1), 0);
        for _ in 0..10 {
            assert_eq!(b.take(0), Ok(()));
        }
        assert_eq!(b.take(0), Err(100), "one token per 100 ms");
        assert_eq!(b.take(99), Err(1));
        assert_eq!(b.take(100), Ok(()));
        assert_eq!(b.take(10_000).map(|_| ()), Ok(()));
        let mut taken = 1;
        while b.take(10_000).is_ok() {
            taken += 1;
        }
        assert_eq!(taken, 10, "never more than the burst");
    }

    #[test]
    fn over_ten_seconds_the_rate_holds() {
        let mut b = TokenBucket::new(3, Duration::from_millis(700), 0);
        let (mut now, mut sent) = (0u64, 0u64);
        while now <= 10_000 {
            match b.take(now) {
                Ok(()) => sent += 1,
                Err(wait) => now += wait,
            }
        }
        // 3 at once, then 3 per 700 ms: 3 + 10,000 / 700 × 3 ≈ 45.
        assert!((44..=46).contains(&sent), "{sent}");
    }
}
