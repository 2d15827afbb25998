//! Portal accounts for merchant staff and the acquirer: Argon2id passwords, TOTP (RFC 6238) as
//! the second factor with replay protection, TOTP secrets sealed at rest (the waits after
//! failures are `domain::limits`). Pure logic, no I/O.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use totp_rs::{Algorithm, TOTP};

/// Shortest password accepted when an administrator chooses one.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// TOTP time step, seconds (RFC 6238 default; what authenticator apps use).
const TOTP_STEP: u64 = 30;
/// Digits in a TOTP code.
const TOTP_DIGITS: usize = 6;
/// Bytes of a TOTP secret (160 bits, as RFC 4226 recommends).
const TOTP_SECRET_BYTES: usize = 20;

/// Who an account is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// Staff of one merchant: sees and exports that merchant's receipts only.
    Merchant { merchant_id: String },
    /// The acquirer: finds any receipt by RRN for chargeback retrieval.
    Acquirer,
}

impl Role {
    /// `merchant` or `acquirer`, as stored.
    pub fn name(&self) -> &'static str {
        match self {
            Role::Merchant { .. } => "merchant",
            Role::Acquirer => "acquirer",
        }
    }

    /// The merchant a merchant user sees; `None` for the acquirer.
    pub fn merchant_id(&self) -> Option<&str> {
        match self {
            Role::Merchant { merchant_id } => Some(merchant_id),
            Role::Acquirer => None,
        }
    }
}

/// Why an account operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AccountError {
    /// The operating system's random generator failed.
    #[error("the system random generator failed")]
    Random,
    /// Hashing or parsing a password hash failed.
    #[error("password hashing failed: {0}")]
    Hash(String),
    /// The password chosen is too short.
    #[error("the password must have at least {MIN_PASSWORD_CHARS} characters")]
    WeakPassword,
    /// A username outside `[a-z0-9._-]{3,64}`.
    #[error("usernames are 3 to 64 characters: lowercase letters, digits, '.', '_' or '-'")]
    BadUsername,
    /// A sealed TOTP secret that does not open with this platform's key.
    #[error("the stored second-factor secret does not open with this platform's totp.key")]
    Unseal,
    /// The TOTP parameters were refused by the TOTP library.
    #[error("TOTP: {0}")]
    Totp(String),
}

/// Checks a username's shape (they appear in logs and URLs).
pub fn check_username(name: &str) -> Result<(), AccountError> {
    let ok = (3..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(AccountError::BadUsername)
    }
}

fn random<const N: usize>() -> Result<[u8; N], AccountError> {
    let mut out = [0u8; N];
    SystemRandom::new().fill(&mut out).map_err(|_| AccountError::Random)?;
    Ok(out)
}

/// A random password for a new account: 20 characters from an alphabet without look-alikes
/// (about 115 bits).
pub fn generate_password() -> Result<String, AccountError> {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut out = String::new();
    while out.len() < 20 {
        for b in random::<32>()? {
            // 57 symbols: reject bytes at or above 4 * 57 = 228 so each is equally likely.
            if b < 228 && out.len() < 20 {
                out.push(char::from(ALPHABET[usize::from(b) % ALPHABET.len()]));
            }
        }
    }
    Ok(out)
}

/// The Argon2id PHC string of `password` (OWASP parameters: 19 MiB, 2 passes, 1 lane).
pub fn hash_password(password: &str) -> Result<String, AccountError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(AccountError::WeakPassword);
    }
    let salt = SaltString::encode_b64(&random::<16>()?).map_err(|e| AccountError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AccountError::Hash(e.to_string()))
}

/// Whether `password` matches the stored PHC string (constant time in the password).
pub fn verify_password(phc: &str, password: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// A hash of a password nobody has, checked when the username is unknown, so that the answer
/// takes as long as for a real account and does not tell which usernames exist.
pub fn dummy_hash() -> &'static str {
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$3ZKd8ZyNTjAZ5LK6gkqWVzKnqoRtXSKiwzWG2MGAh+4"
}

/// A fresh TOTP secret.
pub fn new_totp_secret() -> Result<Vec<u8>, AccountError> {
    Ok(random::<TOTP_SECRET_BYTES>()?.to_vec())
}

fn totp(secret: &[u8]) -> Result<TOTP, AccountError> {
    TOTP::new(Algorithm::SHA1, TOTP_DIGITS, 1, TOTP_STEP, secret.to_vec())
        .map_err(|e| AccountError::Totp(e.to_string()))
}

/// The secret in base32, as typed into an authenticator app.
pub fn totp_base32(secret: &[u8]) -> String {
    base32::encode(base32::Alphabet::Rfc4648 { padding: false }, secret)
}

/// The `otpauth://` URI an authenticator app scans (Google Authenticator key URI format).
pub fn totp_uri(secret: &[u8], issuer: &str, username: &str) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => char::from(b).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={TOTP_DIGITS}&period={TOTP_STEP}",
        enc(issuer),
        enc(username),
        totp_base32(secret),
        enc(issuer)
    )
}

/// The code for `secret` at Unix time `unix_seconds` (tests and the CLI use it).
pub fn totp_code(secret: &[u8], unix_seconds: u64) -> Result<String, AccountError> {
    Ok(totp(secret)?.generate(unix_seconds))
}

/// The time step `code` belongs to, if it is the code of the current step or of one step either
/// side (clock drift), and newer than `last_step` (each code works once).
pub fn check_totp(secret: &[u8], code: &str, unix_seconds: u64, last_step: i64) -> Result<Option<i64>, AccountError> {
    if code.len() != TOTP_DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    let t = totp(secret)?;
    let now_step = unix_seconds / TOTP_STEP;
    let mut found = None;
    for step in now_step.saturating_sub(1)..=now_step + 1 {
        let expected = t.generate(step * TOTP_STEP);
        if ereceipt_core::digest::constant_time_eq(expected.as_bytes(), code.as_bytes()) {
            found = i64::try_from(step).ok();
        }
    }
    Ok(found.filter(|&s| s > last_step))
}

fn seal_key(totp_key: &[u8]) -> Result<LessSafeKey, AccountError> {
    let derived = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, totp_key), b"ereceipt totp seal v1");
    let key = UnboundKey::new(&CHACHA20_POLY1305, derived.as_ref()).map_err(|_| AccountError::Unseal)?;
    Ok(LessSafeKey::new(key))
}

/// Seals a TOTP secret for storage: nonce ‖ ChaCha20-Poly1305(secret), bound to the username.
pub fn seal_secret(totp_key: &[u8], username: &str, secret: &[u8]) -> Result<Vec<u8>, AccountError> {
    let nonce = random::<NONCE_LEN>()?;
    let mut buf = secret.to_vec();
    seal_key(totp_key)?
        .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(username.as_bytes()), &mut buf)
        .map_err(|_| AccountError::Unseal)?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&buf);
    Ok(out)
}

/// Opens what [`seal_secret`] sealed for the same username.
pub fn open_secret(totp_key: &[u8], username: &str, sealed: &[u8]) -> Result<Vec<u8>, AccountError> {
    if sealed.len() < NONCE_LEN + aead::CHACHA20_POLY1305.tag_len() {
        return Err(AccountError::Unseal);
    }
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| AccountError::Unseal)?;
    let mut buf = body.to_vec();
    let plain = seal_key(totp_key)?
        .open_in_place(nonce, Aad::from(username.as_bytes()), &mut buf)
        .map_err(|_| AccountError::Unseal)?;
    Ok(plain.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_themselves() {
        let h = hash_password("correct horse battery").expect("hash");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify_password(&h, "correct horse battery"));
        assert!(!verify_password(&h, "correct horse batterz"));
        assert!(!verify_password("not a hash", "correct horse battery"));
        // Salted: the same password hashes differently each time.
        assert_ne!(h, hash_password("correct horse battery").expect("hash"));
        assert!(matches!(hash_password("short"), Err(AccountError::WeakPassword)));
        assert!(PasswordHash::new(dummy_hash()).is_ok());
    }

    #[test]
    fn generated_passwords_are_long_and_distinct() {
        let a = generate_password().expect("password");
        let b = generate_password().expect("password");
        assert_eq!(a.len(), 20);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric() && !b"0O1lI".contains(&c)), "{a}");
    }

    #[test]
    fn usernames_are_checked() {
        assert!(check_username("shop-1.alice").is_ok());
        for bad in ["ab", "Alice", "a b", "x/../y", "名字名字", &"a".repeat(65)] {
            assert!(check_username(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn totp_matches_rfc_6238_and_is_single_use() {
        // RFC 6238 appendix B, SHA-1 secret "12345678901234567890", T = 59 s: 94287082 (8 digits);
        // the 6-digit code is its last six digits.
        let secret = b"12345678901234567890";
        assert_eq!(totp_code(secret, 59).expect("code"), "287082");
        assert_eq!(totp_code(secret, 1_111_111_109).expect("code"), "081804");
        let now = 1_111_111_109;
        let step = check_totp(secret, "081804", now, 0).expect("check");
        assert_eq!(step, Some(1_111_111_109 / 30));
        // The same code again (its step already used) is refused.
        assert_eq!(check_totp(secret, "081804", now, step.unwrap_or_default()).expect("check"), None);
        // One step of drift either way is accepted, two are not.
        assert!(check_totp(secret, &totp_code(secret, now - 30).expect("c"), now, 0).expect("c").is_some());
        assert!(check_totp(secret, &totp_code(secret, now + 30).expect("c"), now, 0).expect("c").is_some());
        assert!(check_totp(secret, &totp_code(secret, now - 90).expect("c"), now, 0).expect("c").is_none());
        assert!(check_totp(secret, "12345", now, 0).expect("c").is_none());
        assert!(check_totp(secret, "abcdef", now, 0).expect("c").is_none());
    }

    #[test]
    fn totp_uri_names_issuer_account_and_secret() {
        let uri = totp_uri(b"12345678901234567890", "ereceipt platform", "shop.alice");
        assert_eq!(
            uri,
            "otpauth://totp/ereceipt%20platform:shop.alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=ereceipt%20platform&algorithm=SHA1&digits=6&period=30"
        );
    }

    #[test]
    fn sealed_secrets_open_only_with_the_key_and_username() {
        let key = [7u8; 32];
        let sealed = seal_secret(&key, "alice", b"secret bytes").expect("seal");
        assert_eq!(open_secret(&key, "alice", &sealed).expect("open"), b"secret bytes");
        assert!(open_secret(&key, "bob", &sealed).is_err());
        assert!(open_secret(&[8u8; 32], "alice", &sealed).is_err());
        let mut tampered = sealed.clone();
        if let Some(b) = tampered.last_mut() {
            *b ^= 1;
        }
        assert!(open_secret(&key, "alice", &tampered).is_err());
        assert!(open_secret(&key, "alice", &sealed[..10]).is_err());
    }
}
