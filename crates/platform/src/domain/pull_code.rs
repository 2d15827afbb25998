//! The pull code a link-free receipt SMS carries: eight letters and digits that, with the phone
//! number the receipt went to, open that one receipt. Derived, not stored: an HMAC of the receipt
//! id and the number under the platform's link key, so every attempt of a delivery texts the
//! same code and nothing needs a table. Rotating the link key withdraws every code (and link).

use ring::hmac;

/// Letters and digits without 0/O, 1/I: what a customer reads off a handset and types in.
pub const ALPHABET: &[u8; 32] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
/// Eight characters of 32: 40 bits. Guessing is bounded by the per-number and per-network login
/// limits (20 wrong tries a day per number), and a guess must also name the receipt.
pub const LEN: usize = 8;

fn mac(key: &[u8], receipt_id: &str, phone: &str) -> [u8; 32] {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut ctx = hmac::Context::with_key(&key);
    // A label and separators: no other use of the key signs the same bytes.
    ctx.update(b"ereceipt pull code\0");
    ctx.update(receipt_id.as_bytes());
    ctx.update(&[0]);
    ctx.update(phone.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.sign().as_ref());
    out
}

/// The code of the receipt `receipt_id` delivered to `phone` (E.164).
pub fn pull_code(key: &[u8], receipt_id: &str, phone: &str) -> String {
    let m = mac(key, receipt_id, phone);
    // The first 40 bits, five at a time.
    let bits = m[..5].iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    (0..LEN).map(|i| char::from(ALPHABET[((bits >> (35 - 5 * i)) & 31) as usize])).collect()
}

/// The code as typed, upper-cased and without spaces; `None` if it cannot be a code.
pub fn normalise(given: &str) -> Option<String> {
    let code: String = given.chars().filter(|c| !c.is_whitespace() && *c != '-').collect::<String>().to_uppercase();
    (code.len() == LEN && code.bytes().all(|b| ALPHABET.contains(&b))).then_some(code)
}

/// Whether `given` is the code of `receipt_id` for `phone`, compared in constant time.
pub fn matches(key: &[u8], receipt_id: &str, phone: &str, given: &str) -> bool {
    let Some(given) = normalise(given) else { return false };
    let expected = pull_code(key, receipt_id, phone);
    ereceipt_core::digest::constant_time_eq(expected.as_bytes(), given.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"test link key";
    const RECEIPT: &str = "T0000501-000001-000001";
    const PHONE: &str = "+8613800138000";

    #[test]
    fn the_code_is_eight_unambiguous_characters_fixed_per_receipt_and_number() {
        let code = pull_code(KEY, RECEIPT, PHONE);
        assert_eq!(code.len(), LEN);
        assert!(code.bytes().all(|b| ALPHABET.contains(&b)), "{code}");
        assert!(!code.contains(['0', 'O', '1', 'I']), "{code}");
        assert_eq!(code, pull_code(KEY, RECEIPT, PHONE), "every attempt texts the same code");
        assert_ne!(code, pull_code(KEY, "T0000501-000001-000002", PHONE), "another receipt");
        assert_ne!(code, pull_code(KEY, RECEIPT, "+8613800138001"), "another number");
        assert_ne!(code, pull_code(b"rotated key", RECEIPT, PHONE), "a new key withdraws it");
    }

    #[test]
    fn a_code_matches_as_typed_only_for_its_receipt_and_number() {
        let code = pull_code(KEY, RECEIPT, PHONE);
        assert!(matches(KEY, RECEIPT, PHONE, &code));
        let typed = format!(" {}-{} ", code[..4].to_lowercase(), &code[4..]);
        assert!(matches(KEY, RECEIPT, PHONE, &typed), "lower case, a dash and spaces are fine: {typed}");
        assert!(!matches(KEY, "T0000501-000001-000002", PHONE, &code));
        assert!(!matches(KEY, RECEIPT, "+8613800138001", &code));
        assert!(!matches(KEY, RECEIPT, PHONE, &code[..7]));
        assert!(!matches(KEY, RECEIPT, PHONE, ""));
        assert_eq!(normalise("ABCD0FGH"), None, "0 is not in the alphabet");
    }
}
