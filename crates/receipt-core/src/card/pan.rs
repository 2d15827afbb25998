//! Card numbers: the full [`Pan`], which lives only in memory for authorisation, and the
//! [`MaskedPan`] (leading digits, last four, length) that is safe to print and store.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroize;

use super::brand::{brand_from_iin, CardBrand};
use super::error::CardError;

/// Shortest and longest card numbers accepted (ISO/IEC 7812 allows 8–19; payment cards use 12+).
pub const PAN_LENGTHS: std::ops::RangeInclusive<usize> = 12..=19;

/// Whether `digits` is a non-empty string of ASCII digits whose Luhn (mod 10) sum is valid.
pub fn luhn_valid(digits: &str) -> bool {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 {
                    doubled - 9
                } else {
                    doubled
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// A full primary account number. PCI DSS: it exists only in memory, is wiped when dropped,
/// has no `Display` or `Serialize`, and its `Debug` shows only the last four digits.
pub struct Pan(String);

/// Why a digit string is not a card number; the caller turns it into the error of its context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PanProblem {
    /// Not 12–19 ASCII digits.
    Shape,
    /// Fails the Luhn check.
    Luhn,
}

impl Pan {
    /// A card number from 12–19 digits that pass the Luhn check.
    pub(crate) fn from_digits(digits: &str) -> Result<Pan, PanProblem> {
        if !PAN_LENGTHS.contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PanProblem::Shape);
        }
        if !luhn_valid(digits) {
            return Err(PanProblem::Luhn);
        }
        Ok(Pan(digits.to_owned()))
    }

    /// The digits, for building the authorisation request only. Never log or store them.
    pub fn expose_digits(&self) -> &str {
        &self.0
    }

    /// Number of digits.
    #[allow(clippy::len_without_is_empty)] // a card number is never empty
    pub fn len(&self) -> u8 {
        // from_digits guarantees 12..=19 digits.
        u8::try_from(self.0.len()).unwrap_or(u8::MAX)
    }

    /// The brand from this card's IIN.
    pub fn brand(&self) -> CardBrand {
        brand_from_iin(&self.0)
    }

    /// The storable form: as many leading digits as [`kept_leading`] allows, the last four,
    /// the length.
    pub fn masked(&self) -> MaskedPan {
        MaskedPan::reduced(&self.0, &self.0[self.0.len() - 4..], self.len())
    }

    /// Constant-shape comparison of two card numbers, for checking that two tracks agree.
    pub(crate) fn same_as(&self, other: &Pan) -> bool {
        crate::digest::constant_time_eq(self.0.as_bytes(), other.0.as_bytes())
    }
}

impl fmt::Debug for Pan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pan({})", self.masked().for_receipt())
    }
}

impl Drop for Pan {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// Digits a masked card number hides, at least, whatever its length.
pub const MIN_HIDDEN_DIGITS: usize = 6;

/// How many leading digits a masked card number of `len` digits keeps: the six of the BIN from
/// 16 digits up (PCI DSS's first six and last four), fewer below, so that at least
/// [`MIN_HIDDEN_DIGITS`] stay hidden. First six and last four of a 12-digit number would hide
/// two digits, about ten candidates after the Luhn check (security review L1).
pub fn kept_leading(len: usize) -> usize {
    len.saturating_sub(4 + MIN_HIDDEN_DIGITS).min(6)
}

/// A card number reduced to what PCI DSS allows to keep: its leading digits (the BIN, or fewer
/// for numbers under 16 digits: [`kept_leading`]), the last four digits and the length. Printed on receipts through [`MaskedPan::for_receipt`], which
/// shows only the last four; stored through [`MaskedPan::stored_form`] / [`FromStr`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MaskedPan {
    bin: String,
    last4: String,
    len: u8,
}

impl MaskedPan {
    /// A masked card number from its parts, e.g. when decoding a stored record. `bin` may be
    /// one to six digits: records written before [`kept_leading`] kept six for every length,
    /// and they must decode as they were signed.
    pub fn new(bin: &str, last4: &str, len: u8) -> Result<Self, CardError> {
        if !(1..=6).contains(&bin.len()) || !bin.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CardError::InvalidMaskedPan { reason: "the leading digits are not 1 to 6 digits" });
        }
        if usize::from(len) < bin.len() + 4 + 2 {
            return Err(CardError::InvalidMaskedPan { reason: "fewer than 2 digits are hidden" });
        }
        if last4.len() != 4 || !last4.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CardError::InvalidMaskedPan { reason: "last four is not 4 digits" });
        }
        if !PAN_LENGTHS.contains(&usize::from(len)) {
            return Err(CardError::InvalidMaskedPan { reason: "length is not 12 to 19" });
        }
        Ok(MaskedPan { bin: bin.to_owned(), last4: last4.to_owned(), len })
    }

    /// The masked form of a card number of `len` digits that starts with `leading` (at least
    /// [`kept_leading`] digits of it) and ends with `last4`: keeps only what [`kept_leading`]
    /// allows. The caller has checked the shapes (digits, 12 to 19 long).
    pub(crate) fn reduced(leading: &str, last4: &str, len: u8) -> MaskedPan {
        let keep = kept_leading(usize::from(len)).min(leading.len());
        MaskedPan { bin: leading[..keep].to_owned(), last4: last4.to_owned(), len }
    }

    /// The leading digits kept (the BIN from 16 digits up, fewer below: [`kept_leading`]).
    pub fn bin(&self) -> &str {
        &self.bin
    }

    /// The last four digits.
    pub fn last4(&self) -> &str {
        &self.last4
    }

    /// Number of digits of the full card number.
    #[allow(clippy::len_without_is_empty)] // a card number is never empty
    pub fn len(&self) -> u8 {
        self.len
    }

    /// The brand from the kept leading digits.
    pub fn brand(&self) -> CardBrand {
        brand_from_iin(&self.bin)
    }

    /// The receipt form: a star for every hidden digit, then the last four, grouped by four
    /// from the right, e.g. `**** **** **** 3446` (16 digits) or `*** **** **** **** 3446` (19).
    pub fn for_receipt(&self) -> String {
        let hidden = usize::from(self.len).saturating_sub(4);
        let chars: Vec<char> = std::iter::repeat_n('*', hidden).chain(self.last4.chars()).collect();
        let mut out = String::with_capacity(chars.len() + 4);
        let first_group = chars.len() % 4;
        for (i, c) in chars.iter().enumerate() {
            if i > 0 && (i + 4 - first_group).is_multiple_of(4) {
                out.push(' ');
            }
            out.push(*c);
        }
        out
    }

    /// The storage form: the leading digits, a star per hidden digit, last four; as long as
    /// the card number, e.g. `622202*********3446` or `37828******0005`. [`FromStr`] reads it back.
    pub fn stored_form(&self) -> String {
        let hidden = usize::from(self.len).saturating_sub(self.bin.len() + 4);
        format!("{}{}{}", self.bin, "*".repeat(hidden), self.last4)
    }
}

impl FromStr for MaskedPan {
    type Err = CardError;

    /// Parses [`MaskedPan::stored_form`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let len = s.len();
        if !PAN_LENGTHS.contains(&len) || !s.is_ascii() {
            return Err(CardError::InvalidMaskedPan { reason: "not 12 to 19 characters" });
        }
        let leading = s.bytes().take_while(u8::is_ascii_digit).count().min(len - 4);
        let (bin, rest) = s.split_at(leading);
        let (stars, last4) = rest.split_at(len - 4 - leading);
        if stars.is_empty() || !stars.bytes().all(|b| b == b'*') {
            return Err(CardError::InvalidMaskedPan { reason: "the middle digits are not masked with '*'" });
        }
        let len = u8::try_from(len).map_err(|_| CardError::InvalidMaskedPan { reason: "not 12 to 19 characters" })?;
        MaskedPan::new(bin, last4, len)
    }
}

impl Serialize for MaskedPan {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.stored_form())
    }
}

impl<'de> Deserialize<'de> for MaskedPan {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let stored = String::deserialize(deserializer)?;
        stored.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const TEST_CARDS: [&str; 7] = [
        "4111111111111111",
        "5555555555554444",
        "378282246310005",
        "3530111333300000",
        "6011111111111117",
        "30569309025904",
        "6222020200112233446",
    ];

    #[test]
    fn luhn_accepts_test_cards_and_rejects_changes() {
        for pan in TEST_CARDS {
            assert!(luhn_valid(pan), "{pan}");
            let mut digits: Vec<u8> = pan.bytes().collect();
            let last = digits.len() - 1;
            digits[last] = if digits[last] == b'9' { b'0' } else { digits[last] + 1 };
            assert!(!luhn_valid(std::str::from_utf8(&digits).unwrap()), "{pan}");
        }
        assert!(!luhn_valid(""));
        assert!(!luhn_valid("4111 1111 1111 1111"));
        assert!(!luhn_valid("٤١١١"));
    }

    #[test]
    fn the_documented_unionpay_example_passes_luhn() {
        assert!(luhn_valid("6222020200112233446"));
    }

    #[test]
    fn pan_checks_shape_and_luhn() {
        assert!(Pan::from_digits("4111111111111111").is_ok());
        assert_eq!(Pan::from_digits("4111111111111112").err(), Some(PanProblem::Luhn));
        assert_eq!(Pan::from_digits("41111111111").err(), Some(PanProblem::Shape));
        assert_eq!(Pan::from_digits("41111111111111111111").err(), Some(PanProblem::Shape));
        assert_eq!(Pan::from_digits("411111111111111a").err(), Some(PanProblem::Shape));
    }

    #[test]
    fn pan_debug_never_shows_the_number() {
        for digits in TEST_CARDS {
            let pan = Pan::from_digits(digits).unwrap();
            let debug = format!("{pan:?} {pan:#?}");
            assert!(!debug.contains(digits), "{debug}");
            assert!(!debug.contains(&digits[..6]), "{debug}");
            assert!(debug.contains(&digits[digits.len() - 4..]));
        }
    }

    #[test]
    fn masked_forms() {
        let pan = Pan::from_digits("6222020200112233446").unwrap();
        let masked = pan.masked();
        assert_eq!(masked.bin(), "622202");
        assert_eq!(masked.last4(), "3446");
        assert_eq!(masked.len(), 19);
        assert_eq!(masked.stored_form(), "622202*********3446");
        assert_eq!(masked.for_receipt(), "*** **** **** **** 3446");
        assert_eq!(masked.brand(), CardBrand::UnionPay);

        let visa = Pan::from_digits("4111111111111111").unwrap().masked();
        assert_eq!(visa.for_receipt(), "**** **** **** 1111");
        assert_eq!(visa.stored_form(), "411111******1111");
        let amex = Pan::from_digits("378282246310005").unwrap().masked();
        assert_eq!(amex.for_receipt(), "*** **** **** 0005");
        assert_eq!(amex.stored_form(), "37828******0005", "15 digits: five leading, six hidden");
        assert_eq!(amex.brand(), CardBrand::AmericanExpress);
        let diners = Pan::from_digits("30569309025904").unwrap().masked();
        assert_eq!(diners.stored_form(), "3056******5904");
        assert_eq!(diners.brand(), CardBrand::DinersClub);
        // A record signed before the reduction kept six leading digits of a 12-digit number;
        // it still decodes and re-encodes byte for byte, as its signature needs.
        let twelve = MaskedPan::new("123456", "7890", 12).unwrap();
        assert_eq!(twelve.for_receipt(), "**** **** 7890");
        assert_eq!(twelve.stored_form(), "123456**7890");
        assert_eq!("123456**7890".parse::<MaskedPan>().unwrap(), twelve);
    }

    /// Security review L1: whatever its length, a masked number hides at least six digits
    /// (a million candidates, a hundred thousand after Luhn), and never more than the BIN and
    /// the last four are kept.
    #[test]
    fn every_length_hides_at_least_six_digits() {
        for len in PAN_LENGTHS {
            let digits: String = "6222020200112233446".chars().cycle().take(len - 1).collect();
            let check = (0..10).map(|d| format!("{digits}{d}")).find(|p| luhn_valid(p)).unwrap();
            let masked = Pan::from_digits(&check).unwrap().masked();
            let stored = masked.stored_form();
            let hidden = stored.bytes().filter(|b| *b == b'*').count();
            assert!(hidden >= MIN_HIDDEN_DIGITS, "{len} digits: {stored} hides {hidden}");
            assert_eq!(stored.len(), len);
            assert!(masked.bin().len() <= 6 && masked.last4().len() == 4, "{stored}");
            assert_eq!(stored.parse::<MaskedPan>().unwrap(), masked, "{stored} reads back");
        }
        assert_eq!(kept_leading(12), 2);
        assert_eq!(kept_leading(15), 5);
        assert_eq!(kept_leading(16), 6);
        assert_eq!(kept_leading(19), 6);
    }

    #[test]
    fn receipt_form_shows_at_most_four_digits() {
        for digits in TEST_CARDS {
            let receipt = Pan::from_digits(digits).unwrap().masked().for_receipt();
            assert_eq!(receipt.bytes().filter(u8::is_ascii_digit).count(), 4);
        }
    }

    #[test]
    fn stored_form_round_trips() {
        for digits in TEST_CARDS {
            let masked = Pan::from_digits(digits).unwrap().masked();
            let back: MaskedPan = masked.stored_form().parse().unwrap();
            assert_eq!(back, masked);
            let json = serde_json::to_string(&masked).unwrap();
            assert_eq!(json, format!("\"{}\"", masked.stored_form()));
            let from_json: MaskedPan = serde_json::from_str(&json).unwrap();
            assert_eq!(from_json, masked);
        }
    }

    #[test]
    fn bad_stored_forms_are_refused() {
        for bad in [
            "",
            "4111111111111111",
            "41111a******1111",
            "411111******111a",
            "411111*******1111111",
            "411111******1111 ",
            "银联11******1111",
        ] {
            assert!(bad.parse::<MaskedPan>().is_err(), "{bad}");
        }
        assert!(MaskedPan::new("", "1111", 16).is_err());
        assert!(MaskedPan::new("4111111", "1111", 16).is_err());
        assert!(MaskedPan::new("411111", "1111", 11).is_err());
        assert!(MaskedPan::new("41a111", "1111", 16).is_err());
        assert!("411111111111".parse::<MaskedPan>().is_err(), "nothing hidden");
        assert!(MaskedPan::new("411111", "111", 16).is_err());
        assert!(MaskedPan::new("411111", "1111", 11).is_err());
        assert!(MaskedPan::new("411111", "1111", 20).is_err());
    }
}
