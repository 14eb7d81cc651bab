//! Server-side sessions and the sign-in throttle. Both keep their state in
//! memory (a restart signs everyone out, which is the safe direction) and
//! take the time as an argument, so their rules are tested without waiting.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::RngCore;

/// Sessions kept at most; past it the least recently used is dropped.
const MAX_SESSIONS: usize = 10_000;
/// Failed sign-ins from one address within [`THROTTLE_WINDOW`] before it
/// is refused (`429`) for the window.
pub const MAX_FAILURES: u32 = 10;
pub const THROTTLE_WINDOW: Duration = Duration::from_secs(60);
/// Addresses tracked at most by the throttle (old entries are dropped first).
const MAX_TRACKED_ADDRESSES: usize = 100_000;

/// 256 random bits, URL-safe base64 (a session id or a form token).
pub fn random_token() -> String {
    use base64::Engine as _;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// What a signed-in browser has on the server.
#[derive(Debug, Clone)]
pub struct Session {
    /// The form token every POST of this session must carry.
    pub csrf: String,
    last_used: Instant,
    /// A message for the next page shown (after a redirect).
    flash: Option<String>,
}

/// All sessions, by id.
pub struct Sessions {
    idle: Duration,
    map: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// Sessions that end after `idle` without use.
    pub fn new(idle: Duration) -> Sessions {
        Sessions {
            idle,
            map: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        // A panic while holding the lock cannot leave a map half-changed in
        // a way that matters here: every change is a single insert/remove.
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts a session; returns its id (the cookie's value).
    pub fn start(&self, now: Instant) -> String {
        let id = random_token();
        let mut map = self.lock();
        map.retain(|_, s| now.saturating_duration_since(s.last_used) < self.idle);
        if map.len() >= MAX_SESSIONS {
            if let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| s.last_used)
                .map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        map.insert(
            id.clone(),
            Session {
                csrf: random_token(),
                last_used: now,
                flash: None,
            },
        );
        id
    }

    /// The session `id` if it is live, marking it used now. An expired one
    /// is removed.
    pub fn touch(&self, id: &str, now: Instant) -> Option<Session> {
        let mut map = self.lock();
        let session = map.get_mut(id)?;
        if now.saturating_duration_since(session.last_used) >= self.idle {
            map.remove(id);
            return None;
        }
        session.last_used = now;
        Some(session.clone())
    }

    /// Ends the session `id`.
    pub fn end(&self, id: &str) {
        self.lock().remove(id);
    }

    /// Leaves `message` for the next page of session `id`.
    pub fn set_flash(&self, id: &str, message: String) {
        if let Some(s) = self.lock().get_mut(id) {
            s.flash = Some(message);
        }
    }

    /// Takes the message left for this page, if any.
    pub fn take_flash(&self, id: &str) -> Option<String> {
        self.lock().get_mut(id).and_then(|s| s.flash.take())
    }
}

/// Failed sign-ins per address.
#[derive(Default)]
pub struct Throttle {
    map: Mutex<HashMap<IpAddr, Failures>>,
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    since: Instant,
    count: u32,
    /// Set once the limit was passed: refused until then.
    blocked_until: Option<Instant>,
}

impl Throttle {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Failures>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// True while `addr` is refused.
    pub fn is_blocked(&self, addr: IpAddr, now: Instant) -> bool {
        self.lock()
            .get(&addr)
            .and_then(|f| f.blocked_until)
            .is_some_and(|until| now < until)
    }

    /// Counts a failed sign-in; true when this one passed the limit (the
    /// address is refused for the next [`THROTTLE_WINDOW`]).
    pub fn failed(&self, addr: IpAddr, now: Instant) -> bool {
        let mut map = self.lock();
        if map.len() >= MAX_TRACKED_ADDRESSES {
            map.retain(|_, f| {
                now.saturating_duration_since(f.since) < THROTTLE_WINDOW
                    || f.blocked_until.is_some_and(|u| now < u)
            });
        }
        let entry = map.entry(addr).or_insert(Failures {
            since: now,
            count: 0,
            blocked_until: None,
        });
        if entry.blocked_until.is_some_and(|u| now >= u)
            || (entry.blocked_until.is_none()
                && now.saturating_duration_since(entry.since) >= THROTTLE_WINDOW)
        {
            *entry = Failures {
                since: now,
                count: 0,
                blocked_until: None,
            };
        }
        entry.count += 1;
        if entry.count > MAX_FAILURES && entry.blocked_until.is_none() {
            entry.blocked_until = Some(now + THROTTLE_WINDOW);
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_ends_after_its_idle_time_and_use_extends_it() {
        let sessions = Sessions::new(Duration::from_secs(100));
        let t0 = Instant::now();
        let id = sessions.start(t0);
        assert!(id.len() >= 43, "256 bits in base64");
        assert!(sessions.touch(&id, t0 + Duration::from_secs(99)).is_some());
        assert!(sessions.touch(&id, t0 + Duration::from_secs(198)).is_some());
        assert!(sessions.touch(&id, t0 + Duration::from_secs(298)).is_none());
        assert!(sessions.touch(&id, t0).is_none(), "removed once expired");
    }

    #[test]
    fn ending_a_session_forgets_it_and_tokens_differ() {
        let sessions = Sessions::new(Duration::from_secs(100));
        let now = Instant::now();
        let a = sessions.start(now);
        let b = sessions.start(now);
        assert_ne!(a, b);
        let (sa, sb) = (sessions.touch(&a, now), sessions.touch(&b, now));
        assert_ne!(sa.map(|s| s.csrf), sb.map(|s| s.csrf));
        sessions.end(&a);
        assert!(sessions.touch(&a, now).is_none());
        assert!(sessions.touch(&b, now).is_some());
    }

    #[test]
    fn a_flash_is_shown_once() {
        let sessions = Sessions::new(Duration::from_secs(100));
        let id = sessions.start(Instant::now());
        sessions.set_flash(&id, "Saved.".into());
        assert_eq!(sessions.take_flash(&id).as_deref(), Some("Saved."));
        assert_eq!(sessions.take_flash(&id), None);
    }

    #[test]
    fn eleven_failures_in_a_minute_block_for_the_next_minute() {
        let throttle = Throttle::default();
        let addr: IpAddr = [127, 0, 0, 1].into();
        let other: IpAddr = [127, 0, 0, 2].into();
        let t0 = Instant::now();
        for i in 0..MAX_FAILURES {
            assert!(!throttle.failed(addr, t0 + Duration::from_secs(u64::from(i))));
        }
        assert!(!throttle.is_blocked(addr, t0 + Duration::from_secs(10)));
        assert!(throttle.failed(addr, t0 + Duration::from_secs(10)));
        assert!(throttle.is_blocked(addr, t0 + Duration::from_secs(69)));
        assert!(!throttle.is_blocked(other, t0 + Duration::from_secs(11)));
        assert!(!throttle.is_blocked(addr, t0 + Duration::from_secs(71)));
    }

    #[test]
    fn failures_spread_over_more_than_a_minute_do_not_block() {
        let throttle = Throttle::default();
        let addr: IpAddr = [10, 0, 0, 1].into();
        let t0 = Instant::now();
        for i in 0..30u64 {
            assert!(!throttle.failed(addr, t0 + Duration::from_secs(i * 7)));
        }
        assert!(!throttle.is_blocked(addr, t0 + Duration::from_secs(211)));
    }
}
