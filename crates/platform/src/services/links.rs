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

/// The link put in a receipt's messages: `BASE/r/ID?k=TOKEN`. The token (96 bits of an HMAC
/// under the platform's key) lets whoever holds the message see that one receipt without logging
/// in, as the person it was sent to; without it, `/r/ID` asks for the code login.
pub fn receipt_link(key: &[u8], base: &str, receipt_id: &str) -> String {
    format!("{}/r/{}?k={}", base.trim_end_matches('/'), urlencode(receipt_id), link_token(key, receipt_id))
}

fn link_token(key: &[u8], receipt_id: &str) -> String {
    let tag =
        hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), format!("ereceipt receipt link\0{receipt_id}").as_bytes());
    base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &tag.as_ref()[..12])
}

/// Whether `token` is the link token of `receipt_id` (constant time).
pub fn link_token_matches(key: &[u8], receipt_id: &str, token: &str) -> bool {
    let expected = link_token(key, receipt_id);
    constant_time_eq(expected.as_bytes(), token.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipt_links_open_only_their_receipt() {
        let link = receipt_link(b"key", "https://r.example/", "T1-000001-000001");
        let token = link.split("?k=").nth(1).unwrap_or_default();
        assert!(link.starts_with("https://r.example/r/T1-000001-000001?k="), "{link}");
        assert_eq!(token.len(), 16, "short enough for an SMS");
        assert!(link_token_matches(b"key", "T1-000001-000001", token));
        assert!(!link_token_matches(b"key", "T1-000001-000002", token));
        assert!(!link_token_matches(b"other key", "T1-000001-000001", token));
        assert!(!link_token_matches(b"key", "T1-000001-000001", ""));
    }

    #[test]
    fn ids_and_values_are_percent_encoded_but_slashes_and_unreserved_stay() {
        assert_eq!(urlencode("T1-000001_000001.~/x"), "T1-000001_000001.~/x");
        assert_eq!(urlencode("a b&c=d?e#f%"), "a%20b%26c%3Dd%3Fe%23f%25");
        assert_eq!(urlencode("海"), "%E6%B5%B7");
    }
}
