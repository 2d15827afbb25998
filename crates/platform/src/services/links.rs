//! Receipt links: the link a receipt's messages carry (`BASE/r/ID?k=TOKEN`), whose token lets
//! whoever holds the message open that one receipt, and the percent-encoding of ids in paths.

use ereceipt_core::digest::constant_time_eq;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use ring::hmac;

/// What stays as it is in a path or query value: unreserved characters (RFC 3986) and `/`.
const PATH: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~').remove(b'/');

/// `s` percent-encoded for a URL path or query value (receipt ids, search values, `next`).
pub fn urlencode(s: &str) -> String {
    utf8_percent_encode(s, PATH).to_string()
}

/// What a message's link token says, after its MAC was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkToken {
    /// Made by this platform for this receipt, and not expired: opens the receipt.
    Valid,
    /// Made for this receipt but expired, or in the permanent format of earlier versions
    /// (which cannot be checked any more): the holder signs in with a code instead.
    Expired,
    /// Not a token of this receipt under this platform's link key.
    Invalid,
}

/// The token format: a version byte, the expiry day (u16, days since 1970-01-01 UTC), then 96
/// bits of HMAC-SHA-256 over both and the receipt id. 15 bytes, 20 characters of base64url.
const TOKEN_VERSION: u8 = 1;
const TAG_BYTES: usize = 12;
const TOKEN_BYTES: usize = 3 + TAG_BYTES;
/// Earlier versions' tokens: the bare 96-bit tag, 16 characters, valid for ever.
const LEGACY_TOKEN_CHARS: usize = 16;
const DAY_MS: i64 = 86_400_000;

/// The link put in a receipt's messages: `BASE/r/ID?k=TOKEN`. The token lets whoever holds the
/// message see that one receipt without logging in, until the end of the day (UTC) `expires_ms`
/// falls on; after that the link asks for the code login. Replacing `link.key` revokes every
/// link at once.
pub fn receipt_link(key: &[u8], base: &str, receipt_id: &str, expires_ms: i64) -> String {
    let day = u16::try_from(expires_ms.div_euclid(DAY_MS)).unwrap_or(if expires_ms < 0 { 0 } else { u16::MAX });
    format!("{}/r/{}?k={}", base.trim_end_matches('/'), urlencode(receipt_id), link_token(key, receipt_id, day))
}

fn tag(key: &[u8], receipt_id: &str, version: u8, day: u16) -> hmac::Tag {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(b"ereceipt receipt link\0");
    ctx.update(&[version]);
    ctx.update(&day.to_be_bytes());
    ctx.update(receipt_id.as_bytes());
    ctx.sign()
}

fn link_token(key: &[u8], receipt_id: &str, day: u16) -> String {
    let mut bytes = vec![TOKEN_VERSION];
    bytes.extend_from_slice(&day.to_be_bytes());
    bytes.extend_from_slice(&tag(key, receipt_id, TOKEN_VERSION, day).as_ref()[..TAG_BYTES]);
    base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes)
}

/// Checks `token` for `receipt_id` at `now_ms` (the MAC in constant time).
pub fn check_link_token(key: &[u8], receipt_id: &str, token: &str, now_ms: i64) -> LinkToken {
    if token.len() == LEGACY_TOKEN_CHARS && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return LinkToken::Expired;
    }
    let Ok(bytes) = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, token) else {
        return LinkToken::Invalid;
    };
    if bytes.len() != TOKEN_BYTES || bytes[0] != TOKEN_VERSION {
        return LinkToken::Invalid;
    }
    let day = u16::from_be_bytes([bytes[1], bytes[2]]);
    let expected = tag(key, receipt_id, TOKEN_VERSION, day);
    if !constant_time_eq(&expected.as_ref()[..TAG_BYTES], &bytes[3..]) {
        return LinkToken::Invalid;
    }
    if now_ms.div_euclid(DAY_MS) > i64::from(day) {
        LinkToken::Expired
    } else {
        LinkToken::Valid
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_780_000_000_000;
    const DAY: i64 = 86_400_000;

    fn token_of(link: &str) -> &str {
        link.split("?k=").nth(1).unwrap_or_default()
    }

    #[test]
    fn receipt_links_open_only_their_receipt_under_their_key() {
        let link = receipt_link(b"key", "https://r.example/", "T1-000001-000001", NOW + 90 * DAY);
        let token = token_of(&link);
        assert!(link.starts_with("https://r.example/r/T1-000001-000001?k="), "{link}");
        assert_eq!(token.len(), 20, "short enough for an SMS");
        assert_eq!(check_link_token(b"key", "T1-000001-000001", token, NOW), LinkToken::Valid);
        assert_eq!(check_link_token(b"key", "T1-000001-000002", token, NOW), LinkToken::Invalid);
        assert_eq!(check_link_token(b"other key", "T1-000001-000001", token, NOW), LinkToken::Invalid);
        assert_eq!(check_link_token(b"key", "T1-000001-000001", "", NOW), LinkToken::Invalid);
        assert_eq!(check_link_token(b"key", "T1-000001-000001", "!!not base64!!", NOW), LinkToken::Invalid);
    }

    /// Finding L11: a token used to open its receipt for ever.
    #[test]
    fn a_token_expires_at_the_end_of_its_day_and_its_expiry_cannot_be_moved() {
        let expires = NOW + 90 * DAY;
        let token = token_of(&receipt_link(b"key", "https://r.example", "T1", expires)).to_owned();
        let end_of_day = (expires.div_euclid(DAY) + 1) * DAY;
        assert_eq!(check_link_token(b"key", "T1", &token, end_of_day - 1), LinkToken::Valid);
        assert_eq!(check_link_token(b"key", "T1", &token, end_of_day), LinkToken::Expired);
        assert_eq!(check_link_token(b"key", "T1", &token, NOW + 3650 * DAY), LinkToken::Expired);

        // Pushing the expiry day forward breaks the MAC.
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut bytes = base64::Engine::decode(&engine, &token).unwrap();
        bytes[2] = bytes[2].wrapping_add(1);
        let moved = base64::Engine::encode(&engine, &bytes);
        assert_eq!(check_link_token(b"key", "T1", &moved, NOW), LinkToken::Invalid);
        // So does another version byte.
        bytes[2] = bytes[2].wrapping_sub(1);
        bytes[0] = 2;
        assert_eq!(check_link_token(b"key", "T1", &base64::Engine::encode(&engine, &bytes), NOW), LinkToken::Invalid);
    }

    #[test]
    fn tokens_of_earlier_versions_no_longer_open_a_receipt() {
        // The permanent 16-character format of earlier versions.
        assert_eq!(check_link_token(b"key", "T1", "AAAAAAAAAAAAAAAA", NOW), LinkToken::Expired);
    }

    #[test]
    fn ids_and_values_are_percent_encoded_but_slashes_and_unreserved_stay() {
        assert_eq!(urlencode("T1-000001_000001.~/x"), "T1-000001_000001.~/x");
        assert_eq!(urlencode("a b&c=d?e#f%"), "a%20b%26c%3Dd%3Fe%23f%25");
        assert_eq!(urlencode("海"), "%E6%B5%B7");
    }
}
