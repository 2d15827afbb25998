//! When a failed upload is tried again: capped exponential backoff with jitter, so a fleet of
//! terminals coming back online does not hit the platform in lockstep.

use super::entry::EntryState;

/// The delay after the first failed attempt.
pub const BACKOFF_BASE_MS: i64 = 1_000;
/// No delay is longer than this, however many attempts failed.
pub const BACKOFF_CAP_MS: i64 = 5 * 60 * 1_000;

/// The delay before the next attempt after `attempts` failed ones, in milliseconds.
///
/// The base delay is 1 s after the first failure, doubling per failure, capped at 5 min (0 is
/// treated as 1). `jitter` in [0, 1) picks the delay uniformly in [base/2, base]: half is
/// guaranteed, half is random. Out-of-range or NaN jitter is clamped.
pub fn backoff_ms(attempts: u32, jitter: f64) -> i64 {
    // 2^19 s is far past the cap, so a bounded exponent cannot overflow and changes nothing.
    let exponent = attempts.saturating_sub(1).min(19);
    let base = (BACKOFF_BASE_MS << exponent).min(BACKOFF_CAP_MS);
    let jitter = if jitter.is_nan() { 0.0 } else { jitter.clamp(0.0, 1.0) };
    let half = base / 2;
    // The product is at most `base - half`, so the cast cannot truncate anything but the fraction.
    half + (jitter * (base - half) as f64) as i64
}

/// What a failed upload leaves: parked as refused when `permanent` (the platform refused it),
/// otherwise pending again after a jittered [`backoff_ms`] for `attempts` failures.
pub(super) fn after_failure(permanent: bool, attempts: u32, now_ms: i64) -> (EntryState, i64) {
    if permanent {
        (EntryState::Refused, now_ms)
    } else {
        (EntryState::Pending, now_ms.saturating_add(backoff_ms(attempts, rand::random::<f64>())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_failure_waits_between_half_a_second_and_a_second() {
        assert_eq!(backoff_ms(1, 0.0), 500);
        assert!((990..=1_000).contains(&backoff_ms(1, 0.999)));
        assert_eq!(backoff_ms(0, 0.0), backoff_ms(1, 0.0));
    }

    #[test]
    fn delay_doubles_per_failure_until_the_cap() {
        for attempts in 1..=9 {
            let base = 1_000i64 << (attempts - 1);
            let expected = base.min(BACKOFF_CAP_MS);
            assert_eq!(backoff_ms(attempts, 0.0), expected / 2, "attempts {attempts}");
            let high = backoff_ms(attempts, 0.999);
            assert!(high <= expected && high >= expected * 99 / 100, "attempts {attempts}: {high}");
        }
        assert!(backoff_ms(9, 0.0) > backoff_ms(8, 0.999));
    }

    #[test]
    fn delay_is_capped_at_five_minutes() {
        for attempts in [10, 11, 20, 64, u32::MAX] {
            assert_eq!(backoff_ms(attempts, 0.0), BACKOFF_CAP_MS / 2);
            let high = backoff_ms(attempts, 0.999);
            assert!((BACKOFF_CAP_MS * 99 / 100..=BACKOFF_CAP_MS).contains(&high), "{high}");
        }
    }

    #[test]
    fn jitter_out_of_range_is_clamped() {
        assert_eq!(backoff_ms(3, -1.0), 2_000);
        assert_eq!(backoff_ms(3, f64::NAN), 2_000);
        assert_eq!(backoff_ms(3, 7.0), 4_000);
    }
}
