//! Per-client-address limits on the portal's expensive anonymous requests: staff sign-in
//! attempts (each costs an Argon2id hash; the account lockout alone does not stop one address
//! spraying many usernames) and image verification uploads. Kept in memory per process.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Sign-in attempts per client address per window.
pub const SIGN_IN: Limit = Limit { max: 30, window: Duration::from_secs(15 * 60) };
/// Verification uploads per client address per window.
pub const VERIFY: Limit = Limit { max: 60, window: Duration::from_secs(60) };

/// At most `max` requests within any `window`.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub max: usize,
    pub window: Duration,
}

/// A sliding-window counter per client address.
#[derive(Debug)]
pub struct ClientLimiter {
    limit: Limit,
    seen: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
}

impl ClientLimiter {
    pub fn new(limit: Limit) -> Self {
        Self { limit, seen: Mutex::new(HashMap::new()) }
    }

    /// Counts a request from `client` at `now`; `Err(seconds)` until the next one is allowed
    /// when the limit is reached (the refused request is not counted).
    pub fn check(&self, client: IpAddr, now: Instant) -> Result<(), u64> {
        let Ok(mut seen) = self.seen.lock() else { return Ok(()) };
        // Forget addresses that have been quiet for a whole window, so the map stays small.
        if seen.len() > 10_000 {
            seen.retain(|_, times| times.back().is_some_and(|t| now.duration_since(*t) < self.limit.window));
        }
        let times = seen.entry(client).or_default();
        while times.front().is_some_and(|t| now.duration_since(*t) >= self.limit.window) {
            times.pop_front();
        }
        if times.len() >= self.limit.max {
            let oldest = times.front().copied().unwrap_or(now);
            let wait = self.limit.window.saturating_sub(now.duration_since(oldest));
            return Err(wait.as_secs().max(1));
        }
        times.push_back(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_is_held_to_its_window_and_others_are_not() {
        let l = ClientLimiter::new(Limit { max: 3, window: Duration::from_secs(60) });
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().expect("ip"), "192.0.2.2".parse().expect("ip"));
        let t0 = Instant::now();
        for i in 0..3 {
            assert_eq!(l.check(a, t0 + Duration::from_secs(i)), Ok(()));
        }
        assert_eq!(l.check(a, t0 + Duration::from_secs(10)), Err(50), "until the first leaves the window");
        assert_eq!(l.check(b, t0 + Duration::from_secs(10)), Ok(()), "another address is not held");
        assert_eq!(l.check(a, t0 + Duration::from_secs(60)), Ok(()), "the window slid");
        assert!(l.check(a, t0 + Duration::from_secs(60)).is_err());
    }
}
