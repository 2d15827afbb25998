//! One-time login codes for pull delivery: six random digits sent by SMS, kept only as an HMAC,
//! valid ten minutes, single use, five wrong tries (how often they may be asked for and tried is
//! `domain::limits`). Pure logic, no I/O.

use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

/// How long a code is valid after it is issued.
pub const CODE_TTL_MS: i64 = 10 * 60 * 1000;
/// Wrong tries after which a code is locked for good (even the right code is then refused).
pub const MAX_FAILURES: i64 = 5;

/// Digits in a code.
const DIGITS: usize = 6;
/// 10^6: the number of distinct codes.
const CODE_SPACE: u32 = 1_000_000;
/// The largest multiple of [`CODE_SPACE`] that fits in a `u32`: random words at or above it are
/// drawn again, so every code is exactly equally likely.
const ACCEPT_BELOW: u32 = (u32::MAX / CODE_SPACE) * CODE_SPACE;

/// What checking a code against the newest code issued for the number gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginOutcome {
    /// The code matched; it is now used up and the customer is logged in.
    Ok,
    /// The code did not match; `tries_left` more wrong tries lock the code (0: locked now).
    Wrong { tries_left: i64 },
    /// The newest code is older than [`CODE_TTL_MS`].
    Expired,
    /// The newest code already logged someone in.
    Used,
    /// The newest code had [`MAX_FAILURES`] wrong tries.
    Locked,
    /// No code was ever issued for this number.
    NoCode,
    /// The number had its day's tries ([`crate::domain::limits::LOGINS_PER_NUMBER`]); nothing
    /// was compared, and the next try counts after `retry_after_ms`.
    TooManyTries { retry_after_ms: i64 },
}

/// Why a code could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OtpError {
    /// The operating system's random generator failed.
    #[error("the system random generator failed")]
    Random,
}

/// A fresh code: six decimal digits, uniformly distributed, from the system's CSPRNG.
pub fn new_code() -> Result<String, OtpError> {
    let rng = SystemRandom::new();
    loop {
        let mut word = [0u8; 4];
        rng.fill(&mut word).map_err(|_| OtpError::Random)?;
        let n = u32::from_le_bytes(word);
        if n < ACCEPT_BELOW {
            return Ok(format!("{:0width$}", n % CODE_SPACE, width = DIGITS));
        }
    }
}

/// Whether `code` has the shape of a code (six ASCII digits), before anything is looked up.
pub fn is_well_formed(code: &str) -> bool {
    code.len() == DIGITS && code.bytes().all(|b| b.is_ascii_digit())
}

/// What is stored for (and compared against) a code: HMAC-SHA256 under the server's `key` over
/// the phone number and the code, so a code is only good for the number it was sent to.
pub fn code_hash(key: &[u8], phone: &str, code: &str) -> [u8; 32] {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut ctx = hmac::Context::with_key(&key);
    // The separator keeps ("1", "23…") and ("12", "3…") apart.
    ctx.update(phone.as_bytes());
    ctx.update(&[0]);
    ctx.update(code.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.sign().as_ref());
    out
}

/// Compares two code hashes in time independent of where they differ.
pub fn hashes_match(a: &[u8; 32], b: &[u8; 32]) -> bool {
    ereceipt_core::digest::constant_time_eq(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits() {
        for _ in 0..1000 {
            let code = new_code().expect("code");
            assert!(is_well_formed(&code), "{code}");
        }
        assert!(!is_well_formed("12345"));
        assert!(!is_well_formed("1234567"));
        assert!(!is_well_formed("12345a"));
        assert!(!is_well_formed("１２３４５６"));
    }

    #[test]
    fn digits_are_roughly_uniform() {
        // 20 000 codes, 120 000 digits: each digit expected 12 000 times, σ ≈ 104.
        let mut counts = [0u32; 10];
        let mut leading = [0u32; 10];
        for _ in 0..20_000 {
            let code = new_code().expect("code");
            for (i, b) in code.bytes().enumerate() {
                counts[usize::from(b - b'0')] += 1;
                if i == 0 {
                    leading[usize::from(b - b'0')] += 1;
                }
            }
        }
        for (digit, &n) in counts.iter().enumerate() {
            assert!((11_400..=12_600).contains(&n), "digit {digit}: {n} of 120000");
        }
        // Leading zeros are kept (not dropped by formatting): ~2000 each.
        for (digit, &n) in leading.iter().enumerate() {
            assert!((1_600..=2_400).contains(&n), "leading {digit}: {n} of 20000");
        }
    }

    #[test]
    fn rejection_bound_is_a_multiple_of_the_code_space() {
        assert_eq!(ACCEPT_BELOW % CODE_SPACE, 0);
        assert!(u64::from(ACCEPT_BELOW) + u64::from(CODE_SPACE) > u64::from(u32::MAX));
    }

    #[test]
    fn the_hash_depends_on_key_phone_and_code() {
        let h = code_hash(b"key", "+8613800138000", "123456");
        assert_eq!(h, code_hash(b"key", "+8613800138000", "123456"));
        assert_ne!(h, code_hash(b"key", "+8613800138001", "123456"));
        assert_ne!(h, code_hash(b"key", "+8613800138000", "123457"));
        assert_ne!(h, code_hash(b"other key", "+8613800138000", "123456"));
        assert_ne!(code_hash(b"k", "1", "23"), code_hash(b"k", "12", "3"));
    }

    #[test]
    fn hashes_match_only_when_equal() {
        let a = code_hash(b"key", "+1", "000000");
        let mut b = a;
        assert!(hashes_match(&a, &b));
        b[31] ^= 1;
        assert!(!hashes_match(&a, &b));
        b = a;
        b[0] ^= 0x80;
        assert!(!hashes_match(&a, &b));
    }
}
