//! Card brands and how to tell them from the issuer identification number (IIN), the leading
//! digits of the card number. Names in English and as printed on Chinese sales slips.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The payment network a card belongs to, as far as its IIN tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CardBrand {
    /// China UnionPay (银联): IIN 62 and 81.
    UnionPay,
    /// Visa: IIN 4.
    Visa,
    /// Mastercard: IIN 51–55 and 2221–2720.
    Mastercard,
    /// American Express: IIN 34 and 37.
    AmericanExpress,
    /// JCB: IIN 3528–3589.
    Jcb,
    /// Discover: IIN 6011, 644–649 and 65.
    Discover,
    /// Diners Club International: IIN 300–305, 36, 38–39.
    DinersClub,
    /// None of the above.
    Unknown,
}

impl CardBrand {
    /// Every brand, for iteration in tests and settings screens.
    pub const ALL: [CardBrand; 8] = [
        CardBrand::UnionPay,
        CardBrand::Visa,
        CardBrand::Mastercard,
        CardBrand::AmericanExpress,
        CardBrand::Jcb,
        CardBrand::Discover,
        CardBrand::DinersClub,
        CardBrand::Unknown,
    ];

    /// English name, as printed on an English receipt.
    pub fn name(&self) -> &'static str {
        match self {
            CardBrand::UnionPay => "UnionPay",
            CardBrand::Visa => "Visa",
            CardBrand::Mastercard => "Mastercard",
            CardBrand::AmericanExpress => "American Express",
            CardBrand::Jcb => "JCB",
            CardBrand::Discover => "Discover",
            CardBrand::DinersClub => "Diners Club",
            CardBrand::Unknown => "Card",
        }
    }

    /// Chinese name, as printed on Chinese sales slips (Visa and JCB keep their Latin marks).
    pub fn name_zh(&self) -> &'static str {
        match self {
            CardBrand::UnionPay => "银联",
            CardBrand::Visa => "VISA",
            CardBrand::Mastercard => "万事达",
            CardBrand::AmericanExpress => "美国运通",
            CardBrand::Jcb => "JCB",
            CardBrand::Discover => "发现",
            CardBrand::DinersClub => "大来",
            CardBrand::Unknown => "其他",
        }
    }

    /// Stable lower-case id for storage and JSON; never changes once released.
    pub fn code(&self) -> &'static str {
        match self {
            CardBrand::UnionPay => "unionpay",
            CardBrand::Visa => "visa",
            CardBrand::Mastercard => "mastercard",
            CardBrand::AmericanExpress => "amex",
            CardBrand::Jcb => "jcb",
            CardBrand::Discover => "discover",
            CardBrand::DinersClub => "diners",
            CardBrand::Unknown => "unknown",
        }
    }

    /// The brand with this storage id.
    pub fn from_code(code: &str) -> Option<Self> {
        CardBrand::ALL.into_iter().find(|brand| brand.code() == code)
    }
}

impl Serialize for CardBrand {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for CardBrand {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = String::deserialize(deserializer)?;
        CardBrand::from_code(&code).ok_or_else(|| serde::de::Error::custom("unknown card brand"))
    }
}

/// The brand of a card from its leading digits. Only the first six digits are looked at, so
/// a BIN (as kept in [`super::MaskedPan`]) is enough.
///
/// Overlap between UnionPay and Discover: Discover lists 622126–622925 among its ranges, but
/// those are UnionPay-issued cards that Discover's network accepts by agreement (for instance
/// 622202 is an ICBC UnionPay debit BIN). For a Chinese point of sale the brand that matters is
/// the issuer's, so the whole of 62 is UnionPay here; Discover keeps 6011, 644–649 and 65.
pub fn brand_from_iin(pan_digits: &str) -> CardBrand {
    let prefix = |n: usize| -> Option<u32> {
        let head = pan_digits.get(..n)?;
        if head.bytes().all(|b| b.is_ascii_digit()) {
            head.parse().ok()
        } else {
            None
        }
    };
    let in_range = |n: usize, low: u32, high: u32| prefix(n).is_some_and(|p| (low..=high).contains(&p));

    if in_range(2, 62, 62) || in_range(2, 81, 81) {
        CardBrand::UnionPay
    } else if in_range(1, 4, 4) {
        CardBrand::Visa
    } else if in_range(2, 51, 55) || in_range(4, 2221, 2720) {
        CardBrand::Mastercard
    } else if in_range(2, 34, 34) || in_range(2, 37, 37) {
        CardBrand::AmericanExpress
    } else if in_range(4, 3528, 3589) {
        CardBrand::Jcb
    } else if in_range(4, 6011, 6011) || in_range(3, 644, 649) || in_range(2, 65, 65) {
        CardBrand::Discover
    } else if in_range(3, 300, 305) || in_range(2, 36, 36) || in_range(2, 38, 39) {
        CardBrand::DinersClub
    } else {
        CardBrand::Unknown
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn test_cards_get_their_brand() {
        let cases = [
            ("6222020200112233446", CardBrand::UnionPay),
            ("8171999927660000", CardBrand::UnionPay),
            ("4111111111111111", CardBrand::Visa),
            ("5555555555554444", CardBrand::Mastercard),
            ("2223000010007612", CardBrand::Mastercard),
            ("2720990000000000", CardBrand::Mastercard),
            ("378282246310005", CardBrand::AmericanExpress),
            ("341111111111111", CardBrand::AmericanExpress),
            ("3530111333300000", CardBrand::Jcb),
            ("6011111111111117", CardBrand::Discover),
            ("6445644564456445", CardBrand::Discover),
            ("6500000000000002", CardBrand::Discover),
            ("30569309025904", CardBrand::DinersClub),
            ("36000000000008", CardBrand::DinersClub),
            ("38520000023237", CardBrand::DinersClub),
        ];
        for (pan, brand) in cases {
            assert_eq!(brand_from_iin(pan), brand, "{pan}");
        }
    }

    #[test]
    fn range_edges() {
        assert_eq!(brand_from_iin("2220999999999999"), CardBrand::Unknown);
        assert_eq!(brand_from_iin("2721000000000000"), CardBrand::Unknown);
        assert_eq!(brand_from_iin("3527999999999999"), CardBrand::Unknown);
        assert_eq!(brand_from_iin("3590000000000000"), CardBrand::Unknown);
        assert_eq!(brand_from_iin("6439999999999999"), CardBrand::Unknown);
        assert_eq!(brand_from_iin("6010999999999999"), CardBrand::Unknown);
        assert_eq!(brand_from_iin("3060000000000000"), CardBrand::Unknown);
        assert_eq!(brand_from_iin("5600000000000000"), CardBrand::Unknown);
        assert_eq!(brand_from_iin("1234567890123456"), CardBrand::Unknown);
    }

    #[test]
    fn discover_co_branded_range_is_unionpay() {
        // Documented choice: 622126–622925 stays UnionPay (see brand_from_iin).
        assert_eq!(brand_from_iin("622126"), CardBrand::UnionPay);
        assert_eq!(brand_from_iin("622925"), CardBrand::UnionPay);
        assert_eq!(brand_from_iin("622202"), CardBrand::UnionPay);
    }

    #[test]
    fn short_or_odd_input_is_unknown_not_a_panic() {
        assert_eq!(brand_from_iin(""), CardBrand::Unknown);
        assert_eq!(brand_from_iin("4"), CardBrand::Visa);
        assert_eq!(brand_from_iin("35"), CardBrand::Unknown);
        assert_eq!(brand_from_iin("6x11"), CardBrand::Unknown);
        assert_eq!(brand_from_iin("银联卡"), CardBrand::Unknown);
    }

    #[test]
    fn codes_round_trip_and_are_unique() {
        for brand in CardBrand::ALL {
            assert_eq!(CardBrand::from_code(brand.code()), Some(brand));
            let json = serde_json::to_string(&brand).unwrap();
            assert_eq!(json, format!("\"{}\"", brand.code()));
            let back: CardBrand = serde_json::from_str(&json).unwrap();
            assert_eq!(back, brand);
        }
        assert_eq!(CardBrand::from_code("UnionPay"), None);
        assert_eq!(CardBrand::UnionPay.name(), "UnionPay");
        assert_eq!(CardBrand::UnionPay.name_zh(), "银联");
    }
}
