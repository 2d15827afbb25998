//! The small fields a magnetic track carries besides the card number: expiry date, service
//! code and cardholder name, each checked by ISO/IEC 7813's rules.

use std::str::FromStr;

use super::brand::CardBrand;
use super::error::CardError;
use chrono::{Datelike, NaiveDate};

/// The last month a card is valid in; it is valid through that month's last day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ExpiryDate {
    year: u16,
    month: u8,
}

impl ExpiryDate {
    /// An expiry date from a full year and a month 1–12.
    pub fn new(year: u16, month: u8) -> Option<Self> {
        (1..=12).contains(&month).then_some(ExpiryDate { year, month })
    }

    /// Reads the `YYMM` of a track; years are 2000 + YY.
    pub fn from_yymm(yymm: &str) -> Option<Self> {
        if yymm.len() != 4 || !yymm.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let yy: u16 = yymm[..2].parse().ok()?;
        let mm: u8 = yymm[2..].parse().ok()?;
        ExpiryDate::new(2000 + yy, mm)
    }

    /// Full year, e.g. 2029.
    pub fn year(&self) -> u16 {
        self.year
    }

    /// Month, 1–12.
    pub fn month(&self) -> u8 {
        self.month
    }

    /// The track form, `YYMM`.
    pub fn to_yymm(&self) -> String {
        format!("{:02}{:02}", self.year % 100, self.month)
    }

    /// Whether the card can no longer be used on `date`: true once `date` is in a later month.
    pub fn is_expired_on(&self, date: NaiveDate) -> bool {
        let (year, month) = (date.year(), date.month());
        (year, month) > (i32::from(self.year), u32::from(self.month))
    }

    /// `Err(CardExpired)` when the card is expired on `date`.
    pub(crate) fn check_valid_on(&self, date: NaiveDate) -> Result<(), CardError> {
        if self.is_expired_on(date) {
            Err(CardError::CardExpired { year: self.year, month: self.month })
        } else {
            Ok(())
        }
    }
}

/// The three-digit ISO/IEC 7813 service code: interchange and technology, authorisation
/// processing, and allowed services / PIN requirements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ServiceCode([u8; 3]);

impl ServiceCode {
    /// The three digits.
    pub fn digits(&self) -> [u8; 3] {
        self.0
    }

    /// Whether the card has a chip (first digit 2 or 6): a swipe is then a fallback.
    pub fn is_chip_card(&self) -> bool {
        matches!(self.0[0], 2 | 6)
    }

    /// The code as text, e.g. `"101"`.
    pub fn as_string(&self) -> String {
        self.0.iter().map(|d| char::from(b'0' + d)).collect()
    }
}

impl FromStr for ServiceCode {
    type Err = CardError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = s.as_bytes();
        if bytes.len() != 3 || !bytes.iter().all(u8::is_ascii_digit) {
            return Err(CardError::InvalidServiceCode { reason: "not three digits" });
        }
        let digits = [bytes[0] - b'0', bytes[1] - b'0', bytes[2] - b'0'];
        if !matches!(digits[0], 1 | 2 | 5 | 6 | 7 | 9) {
            return Err(CardError::InvalidServiceCode { reason: "first digit must be 1, 2, 5, 6, 7 or 9" });
        }
        if !matches!(digits[1], 0 | 2 | 4) {
            return Err(CardError::InvalidServiceCode { reason: "second digit must be 0, 2 or 4" });
        }
        if digits[2] > 7 {
            return Err(CardError::InvalidServiceCode { reason: "third digit must be 0 to 7" });
        }
        Ok(ServiceCode(digits))
    }
}

/// Longest name ISO/IEC 7813 allows on track 1.
pub(crate) const MAX_NAME_LEN: usize = 26;

/// Whether `name` may stand in track 1's name field: at most 26 characters of the 6-bit
/// track 1 set (ASCII space to `_`), without the sentinels and the field separator.
/// Lower case is tolerated because some keyboard wedges send it.
pub(crate) fn is_valid_track1_name(name: &str) -> bool {
    name.len() <= MAX_NAME_LEN && name.bytes().all(|b| (0x20..=0x7e).contains(&b) && !matches!(b, b'^' | b'%' | b'?'))
}

/// A displayable cardholder name from track 1's `SURNAME/GIVEN.TITLE`, or `None` when the
/// card carries no name (blank, or only separators).
///
/// UnionPay cards carry the pinyin surname first and are shown that way (`ZHANG/SAN` →
/// `ZHANG SAN`), as Chinese names are written; other brands are shown given name first
/// (`HOGAN/PAUL` → `PAUL HOGAN`). A title after `.` is dropped; extra `/` become spaces.
pub fn display_cardholder_name(raw: &str, brand: CardBrand) -> Option<String> {
    let (surname, given) = match raw.split_once('/') {
        Some((surname, given)) => (surname, given),
        None => (raw, ""),
    };
    let given = given.split_once('.').map_or(given, |(given, _title)| given);
    let clean = |part: &str| -> String { part.replace('/', " ").split_whitespace().collect::<Vec<_>>().join(" ") };
    let (surname, given) = (clean(surname), clean(given));
    let parts: Vec<&str> = if brand == CardBrand::UnionPay {
        vec![surname.as_str(), given.as_str()]
    } else {
        vec![given.as_str(), surname.as_str()]
    };
    let name = parts.into_iter().filter(|p| !p.is_empty()).collect::<Vec<_>>().join(" ");
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn expiry_is_valid_through_the_end_of_its_month() {
        let expiry = ExpiryDate::from_yymm("2912").unwrap();
        assert_eq!((expiry.year(), expiry.month()), (2029, 12));
        assert!(!expiry.is_expired_on(date(2029, 12, 31)));
        assert!(expiry.is_expired_on(date(2030, 1, 1)));
        let feb = ExpiryDate::from_yymm("2402").unwrap();
        assert!(!feb.is_expired_on(date(2024, 2, 29)));
        assert!(feb.is_expired_on(date(2024, 3, 1)));
        assert!(!feb.is_expired_on(date(2023, 12, 31)));
        assert_eq!(feb.check_valid_on(date(2024, 3, 1)), Err(CardError::CardExpired { year: 2024, month: 2 }));
        assert_eq!(feb.to_yymm(), "2402");
    }

    #[test]
    fn expiry_needs_four_digits_and_a_real_month() {
        for bad in ["", "291", "29123", "2900", "2913", "29a2", "-912"] {
            assert_eq!(ExpiryDate::from_yymm(bad), None, "{bad}");
        }
        assert_eq!(ExpiryDate::from_yymm("0001"), ExpiryDate::new(2000, 1));
    }

    #[test]
    fn service_code_rules() {
        for good in ["101", "201", "120", "501", "601", "702", "901", "147"] {
            assert!(good.parse::<ServiceCode>().is_ok(), "{good}");
        }
        for bad in ["001", "301", "401", "801", "111", "131", "108", "10", "1011", "1a1"] {
            assert!(matches!(bad.parse::<ServiceCode>(), Err(CardError::InvalidServiceCode { .. })), "{bad}");
        }
        assert!("201".parse::<ServiceCode>().unwrap().is_chip_card());
        assert!("601".parse::<ServiceCode>().unwrap().is_chip_card());
        assert!(!"101".parse::<ServiceCode>().unwrap().is_chip_card());
        assert_eq!("226".parse::<ServiceCode>().unwrap().as_string(), "226");
    }

    #[test]
    fn names_become_displayable() {
        let visa = CardBrand::Visa;
        assert_eq!(display_cardholder_name("HOGAN/PAUL      ", visa).as_deref(), Some("PAUL HOGAN"));
        assert_eq!(display_cardholder_name("SMITH/JOHN Q.MR", visa).as_deref(), Some("JOHN Q SMITH"));
        assert_eq!(
            display_cardholder_name("TESTCARD/MC/NDCECOMMERCE", visa).as_deref(),
            Some("MC NDCECOMMERCE TESTCARD")
        );
        assert_eq!(display_cardholder_name("ZHANG/SAN", CardBrand::UnionPay).as_deref(), Some("ZHANG SAN"));
        assert_eq!(display_cardholder_name("RECIPIENT GIFT CARD", visa).as_deref(), Some("RECIPIENT GIFT CARD"));
        assert_eq!(display_cardholder_name("  /  ", visa), None);
        assert_eq!(display_cardholder_name("", visa), None);
    }

    #[test]
    fn track1_name_charset() {
        assert!(is_valid_track1_name("HOGAN/PAUL"));
        assert!(is_valid_track1_name(""));
        assert!(!is_valid_track1_name("A^B"));
        assert!(!is_valid_track1_name("张三"));
        assert!(!is_valid_track1_name(&"A".repeat(27)));
    }
}
