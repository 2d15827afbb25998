//! How often anonymous visitors may do the expensive or guessable things (ask for a login code,
//! try a code, sign in as staff, verify an image), and whose count an attempt goes to: a phone
//! number, an IPv4 address, or an IPv6 /64 (one subscriber's whole prefix, so rotating through
//! it gains nothing). Pure rules; the store counts them atomically, shared by every process.

use std::net::IpAddr;

/// At most `max` events per `scope` and subject within a fixed window of `window_ms` that starts
/// at the first event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// What is counted, as stored (`rate_counters.scope`).
    pub scope: &'static str,
    pub max: i64,
    pub window_ms: i64,
}

const MINUTE: i64 = 60 * 1000;
const DAY: i64 = 24 * 60 * MINUTE;

/// Login-code requests per phone number, whatever the number has: an SMS costs money and
/// annoys the owner, and counting numbers without receipts too keeps the answers alike.
pub const CODES_PER_NUMBER: Limit = Limit { scope: "code.number", max: 3, window_ms: 15 * MINUTE };
/// Login-code requests per network: one client must not spray codes over many numbers.
pub const CODES_PER_NETWORK: Limit = Limit { scope: "code.network", max: 20, window_ms: 15 * MINUTE };
/// Code logins tried per phone number that did not succeed, over a day (a success starts the
/// count again). With six-digit codes, 20 tries a day give an attacker a 1 in 50 000 chance a
/// day; NIST SP 800-63B §5.2.2 allows at most 100 consecutive failures.
pub const LOGINS_PER_NUMBER: Limit = Limit { scope: "login.number", max: 20, window_ms: DAY };
/// Code logins tried per network, over all numbers.
pub const LOGINS_PER_NETWORK: Limit = Limit { scope: "login.network", max: 60, window_ms: 15 * MINUTE };
/// Staff sign-in attempts per network (each costs an Argon2id hash; an account's own delays do
/// not stop one network spraying many usernames).
pub const SIGN_INS_PER_NETWORK: Limit = Limit { scope: "staff.network", max: 30, window_ms: 15 * MINUTE };
/// Public verification uploads per network.
pub const VERIFIES_PER_NETWORK: Limit = Limit { scope: "verify.network", max: 60, window_ms: MINUTE };

/// `[delivery.limits]`: texts (receipt SMS and MMS, login codes) to one number, counted together
/// in each window (carriers' defaults for verification codes, e.g. Baidu Cloud SMS: 3 a minute,
/// 10 an hour, 50 a day per number and signature; every text here has the same signature).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SendLimits {
    pub per_minute: i64,
    pub per_hour: i64,
    pub per_day: i64,
}

impl Default for SendLimits {
    fn default() -> Self {
        SendLimits { per_minute: 3, per_hour: 10, per_day: 50 }
    }
}

impl SendLimits {
    /// The three windows, shortest first, with how each is named in a held-back step.
    pub fn limits(&self) -> [(Limit, &'static str); 3] {
        [
            (Limit { scope: "send.minute", max: self.per_minute, window_ms: MINUTE }, "per minute"),
            (Limit { scope: "send.hour", max: self.per_hour, window_ms: 60 * MINUTE }, "per hour"),
            (Limit { scope: "send.day", max: self.per_day, window_ms: DAY }, "per day"),
        ]
    }

    /// Each at least 1.
    pub fn check(&self) -> Result<(), String> {
        for (limit, name) in self.limits() {
            if limit.max < 1 {
                return Err(format!("delivery.limits: {} = {} is below 1", name.replace(' ', "_"), limit.max));
            }
        }
        Ok(())
    }
}

/// A phone number as a delivery's history names it: country code and first digits, the last 4
/// ("+86138…1234"), so the history does not spell the number out.
pub fn masked_number(number: &str) -> String {
    let chars: Vec<char> = number.chars().collect();
    if chars.len() <= 8 {
        return number.to_string();
    }
    let head: String = chars[..6].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

/// Whose count a request from `ip` goes to: the IPv4 address itself (also when it arrives
/// mapped into IPv6), or the IPv6 address's /64 prefix.
pub fn network_of(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// Staff sign-in failures at one account that are answered at once; after that each failure
/// makes the account wait before the next attempt is even looked at.
pub const FREE_SIGN_IN_FAILURES: i64 = 5;
/// The longest such wait.
pub const MAX_SIGN_IN_DELAY_MS: i64 = 15 * MINUTE;
/// Consecutive failures after which an account takes no more attempts until an administrator
/// unlocks or resets it (NIST SP 800-63B §5.2.2: at most 100). With the delays, reaching it takes
/// an attacker about 21 hours of steady trying.
pub const MAX_SIGN_IN_FAILURES: i64 = 100;

/// How long an account waits after its `failures`-th consecutive failure before it takes the
/// next attempt: nothing for the first few, then 1 s, 2 s, 4 s … up to 15 minutes; for ever
/// (`None`) at [`MAX_SIGN_IN_FAILURES`].
pub fn sign_in_delay_ms(failures: i64) -> Option<i64> {
    if failures >= MAX_SIGN_IN_FAILURES {
        return None;
    }
    if failures < FREE_SIGN_IN_FAILURES {
        return Some(0);
    }
    let doublings = u32::try_from(failures - FREE_SIGN_IN_FAILURES).unwrap_or(u32::MAX).min(20);
    Some((1000_i64 << doublings).min(MAX_SIGN_IN_DELAY_MS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_counts_per_slash_64_and_ipv4_per_address() {
        let n = |s: &str| network_of(s.parse().expect("ip"));
        assert_eq!(n("2001:db8:1:2:aaaa::1"), n("2001:db8:1:2:ffff:ffff:ffff:ffff"));
        assert_eq!(n("2001:db8:1:2::1"), "2001:db8:1:2::/64");
        assert_ne!(n("2001:db8:1:2::1"), n("2001:db8:1:3::1"));
        assert_eq!(n("192.0.2.7"), "192.0.2.7");
        assert_eq!(n("::ffff:192.0.2.7"), "192.0.2.7", "IPv4 mapped into IPv6 is the IPv4 address");
        assert_ne!(n("192.0.2.7"), n("192.0.2.8"));
    }

    #[test]
    fn send_limits_default_to_3_10_50_and_numbers_are_masked_in_history() {
        let l = SendLimits::default().limits();
        assert_eq!(l.map(|(l, _)| (l.max, l.window_ms)), [(3, MINUTE), (10, 60 * MINUTE), (50, DAY)]);
        assert!(SendLimits { per_hour: 0, ..SendLimits::default() }.check().is_err());
        assert_eq!(masked_number("+8613800131234"), "+86138…1234");
        assert_eq!(masked_number("+4412"), "+4412");
    }

    #[test]
    fn sign_in_delays_grow_to_a_cap_then_stop_at_the_hard_limit() {
        let delays: Vec<_> = (0..12).map(sign_in_delay_ms).collect();
        assert_eq!(delays, [0, 0, 0, 0, 0, 1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 64_000].map(Some),);
        assert_eq!(sign_in_delay_ms(40), Some(MAX_SIGN_IN_DELAY_MS));
        assert_eq!(sign_in_delay_ms(MAX_SIGN_IN_FAILURES - 1), Some(MAX_SIGN_IN_DELAY_MS));
        assert_eq!(sign_in_delay_ms(MAX_SIGN_IN_FAILURES), None);
        // Reaching the hard limit takes most of a day of steady trying.
        let total: i64 = (0..MAX_SIGN_IN_FAILURES).filter_map(sign_in_delay_ms).sum();
        assert!(total > 20 * 60 * MINUTE, "{total}");
    }
}
