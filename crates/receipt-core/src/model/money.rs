//! Money: integer minor units with an ISO 4217 currency. Never floating point.
//! Every way an amount is written is made here ([`MoneyLayout`]), from the currency's exponent.

use std::fmt;
use std::str::FromStr;

use super::{Direction, ModelError};

/// (alphabetic code, numeric code, minor-unit exponent) for the currencies a terminal may use.
const CURRENCIES: &[(&str, u16, u8)] = &[
    ("CNY", 156, 2),
    ("HKD", 344, 2),
    ("MOP", 446, 2),
    ("TWD", 901, 2),
    ("USD", 840, 2),
    ("EUR", 978, 2),
    ("GBP", 826, 2),
    ("JPY", 392, 0),
    ("KRW", 410, 0),
    ("SGD", 702, 2),
    ("AUD", 36, 2),
    ("CAD", 124, 2),
    ("CHF", 756, 2),
    ("THB", 764, 2),
    ("MYR", 458, 2),
    ("RUB", 643, 2),
    ("INR", 356, 2),
    ("VND", 704, 0),
    ("KWD", 414, 3),
    ("BHD", 48, 3),
];

/// An ISO 4217 currency known to the terminal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Currency(usize);

impl Currency {
    /// Renminbi, the terminal's default (the first row of the table).
    pub const CNY: Currency = Currency(0);

    /// Every currency a terminal may use, in the table's order (CNY first).
    pub fn all() -> impl Iterator<Item = Currency> {
        (0..CURRENCIES.len()).map(Currency)
    }

    pub fn code(self) -> &'static str {
        CURRENCIES[self.0].0
    }
    pub fn numeric(self) -> u16 {
        CURRENCIES[self.0].1
    }
    /// Digits after the decimal point (2 for CNY, 0 for JPY).
    pub fn exponent(self) -> u8 {
        CURRENCIES[self.0].2
    }
    /// The symbol printed before the amount on a slip.
    pub fn symbol(self) -> &'static str {
        match self.code() {
            "CNY" | "JPY" => "¥",
            "USD" | "HKD" | "TWD" | "SGD" | "AUD" | "CAD" => "$",
            "EUR" => "€",
            "GBP" => "£",
            _ => "",
        }
    }
}

impl FromStr for Currency {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, ModelError> {
        CURRENCIES.iter().position(|c| c.0 == s).map(Self).ok_or(ModelError::Invalid {
            field: "currency",
            expected: "an ISO 4217 code such as CNY, HKD, USD, EUR, JPY",
        })
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A positive amount in minor units of a currency (fen for CNY).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Money {
    minor: u64,
    currency: Currency,
}

/// The largest amount a slip accepts: ISO 8583 field 4 holds 12 digits.
pub const MAX_MINOR: u64 = 999_999_999_999;

impl Money {
    pub fn new(minor: u64, currency: Currency) -> Result<Self, ModelError> {
        if minor == 0 || minor > MAX_MINOR {
            return Err(ModelError::Invalid {
                field: "amount_minor",
                expected: "a whole number of minor units from 1 to 999999999999",
            });
        }
        Ok(Self { minor, currency })
    }

    pub fn minor(self) -> u64 {
        self.minor
    }

    pub fn currency(self) -> Currency {
        self.currency
    }

    /// The amount as a decimal string without symbol, e.g. `1,234.50` (JPY: `1,500`).
    pub fn decimal(self) -> String {
        digits(self.currency, self.minor, true)
    }

    /// The amount written for `layout`.
    pub fn format(self, layout: MoneyLayout) -> String {
        self.format_signed(layout, Direction::Debit)
    }

    /// The amount written for `layout` with the sign of `direction`: given back (a void, a
    /// refund) it is negative, `RMB -128.50`, as UnionPay slips print it; charged or held it
    /// is written as [`Self::format`] writes it. The amount itself stays positive: the sign is
    /// presentation, the transaction's kind says which way the money went.
    pub fn format_signed(self, layout: MoneyLayout, direction: Direction) -> String {
        let sign = match direction {
            Direction::Credit => "-",
            Direction::Debit | Direction::Hold => "",
        };
        write(self.currency, self.minor, sign, layout)
    }
}

impl Currency {
    /// A signed sum in minor units written for `layout`, as [`Money::format_signed`] writes
    /// an amount: `-50.00 CNY`, `0.00 CNY`. For what is not one transaction's amount and may be
    /// zero or negative: a sale's net after its refunds, a batch's total.
    pub fn format_sum(self, minor: i64, layout: MoneyLayout) -> String {
        write(self, minor.unsigned_abs(), if minor < 0 { "-" } else { "" }, layout)
    }
}

/// A sum of amounts in one currency, as a settlement counts them: zero is a total (a batch
/// without refunds), and a net total is negative when more was given back than charged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Total {
    minor: i128,
    currency: Currency,
}

impl Total {
    pub fn zero(currency: Currency) -> Self {
        Self { minor: 0, currency }
    }

    /// `minor` units of `currency`, of either sign.
    pub fn new(minor: i128, currency: Currency) -> Self {
        Self { minor, currency }
    }

    pub fn minor(self) -> i128 {
        self.minor
    }

    pub fn currency(self) -> Currency {
        self.currency
    }

    /// This total with `minor` more units (fewer when negative).
    pub fn plus(self, minor: i128) -> Self {
        Self { minor: self.minor.saturating_add(minor), ..self }
    }

    /// The total written for `layout` as [`Money::format`] writes an amount, with a minus sign
    /// when negative: `RMB 1,234.50`, `RMB -50.00`, `RMB 0.00`.
    pub fn format(self, layout: MoneyLayout) -> String {
        let sign = if self.minor < 0 { "-" } else { "" };
        let magnitude = u64::try_from(self.minor.unsigned_abs()).unwrap_or(u64::MAX);
        write(self.currency, magnitude, sign, layout)
    }
}

/// The one place amounts become text: `minor` units of `currency` with `sign`, for `layout`.
fn write(currency: Currency, minor: u64, sign: &str, layout: MoneyLayout) -> String {
    let code = currency.code();
    match layout {
        MoneyLayout::CodeFirst => format!("{code} {sign}{}", digits(currency, minor, true)),
        MoneyLayout::CodeLast => format!("{sign}{} {code}", digits(currency, minor, true)),
        MoneyLayout::Message => format!("{code} {sign}{}", digits(currency, minor, false)),
        // Chinese slips print the renminbi as RMB, its customary Latin abbreviation.
        MoneyLayout::Slip => {
            format!("{} {sign}{}", if code == "CNY" { "RMB" } else { code }, digits(currency, minor, true))
        }
    }
}

/// The decimal digits of `minor` by the currency's exponent, with or without thousands
/// separators.
fn digits(currency: Currency, minor: u64, grouped: bool) -> String {
    let whole = |n: u64| if grouped { group(n) } else { n.to_string() };
    let e = u32::from(currency.exponent());
    if e == 0 {
        return whole(minor);
    }
    let unit = 10u64.pow(e);
    format!("{}.{:0width$}", whole(minor / unit), minor % unit, width = e as usize)
}

/// How an amount is written. One formatter ([`Money::format`]) serves every layout, so an
/// amount reads the same wherever it is shown and always has its currency's decimals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MoneyLayout {
    /// `CNY 1,234.50`: code first ([`Money`]'s `Display`, the command line).
    CodeFirst,
    /// `1,234.50 CNY`: the portal's tables and receipt pages, where amounts align on the right.
    CodeLast,
    /// `CNY 1234.50`: the messages to customers (SMS, MMS, email) write the amount as one token
    /// without separators, the form they have always had and that customers' mail rules match.
    Message,
    /// `RMB 1,234.50`: the printed slip.
    Slip,
}

impl Currency {
    /// Minor units of a decimal amount as people type it in this currency (`128.5` CNY is 12850,
    /// `1500` JPY is 1500; thousands separators `,` allowed): more fraction digits than the
    /// currency has, signs, exponents or anything else are refused. The inverse of
    /// [`Money::decimal`]; zero is allowed (search bounds).
    pub fn parse_minor(self, text: &str) -> Result<u64, ModelError> {
        let bad = || ModelError::Invalid {
            field: "amount",
            expected: "a decimal amount with at most the currency's minor-unit digits",
        };
        let plain: String = text.trim().chars().filter(|c| *c != ',').collect();
        let (whole, frac) = plain.split_once('.').unwrap_or((&plain, ""));
        let e = usize::from(self.exponent());
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if (whole.is_empty() && frac.is_empty()) || !digits(whole) || !digits(frac) || frac.len() > e {
            return Err(bad());
        }
        if plain.contains('.') && (e == 0 || frac.is_empty()) {
            return Err(bad());
        }
        let whole: u64 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| bad())? };
        let frac: u64 = if frac.is_empty() { 0 } else { format!("{frac:0<e$}").parse().map_err(|_| bad())? };
        whole.checked_mul(10u64.pow(e as u32)).and_then(|w| w.checked_add(frac)).ok_or_else(bad)
    }
}

fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.format(MoneyLayout::CodeFirst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_minor_units_by_exponent() {
        let cny: Currency = "CNY".parse().unwrap();
        assert_eq!(Money::new(12850, cny).unwrap().decimal(), "128.50");
        assert_eq!(Money::new(5, cny).unwrap().decimal(), "0.05");
        assert_eq!(Money::new(123456789, cny).unwrap().decimal(), "1,234,567.89");
        let jpy: Currency = "JPY".parse().unwrap();
        assert_eq!(Money::new(1500, jpy).unwrap().decimal(), "1,500");
        assert_eq!(cny.numeric(), 156);
    }

    #[test]
    fn totals_are_written_like_amounts_with_zero_and_a_sign() {
        let cny: Currency = "CNY".parse().unwrap();
        assert_eq!(Total::zero(cny).format(MoneyLayout::Slip), "RMB 0.00");
        assert_eq!(Total::new(-5000, cny).format(MoneyLayout::Slip), "RMB -50.00");
        assert_eq!(Total::new(123456789, cny).format(MoneyLayout::CodeLast), "1,234,567.89 CNY");
        let jpy: Currency = "JPY".parse().unwrap();
        assert_eq!(Total::new(-1500, jpy).plus(500).format(MoneyLayout::CodeFirst), "JPY -1,000");
        assert_eq!(Total::new(1_000_000, cny).format(MoneyLayout::Message), "CNY 10000.00");
    }

    #[test]
    fn typed_amounts_parse_by_the_currency_minor_unit() {
        let (cny, jpy, kwd): (Currency, Currency, Currency) =
            ("CNY".parse().unwrap(), "JPY".parse().unwrap(), "KWD".parse().unwrap());
        assert_eq!(cny.parse_minor("128.5").unwrap(), 12850);
        assert_eq!(cny.parse_minor("1,234.56").unwrap(), 123456);
        assert_eq!(cny.parse_minor(".05").unwrap(), 5);
        assert_eq!(cny.parse_minor("0").unwrap(), 0);
        assert_eq!(jpy.parse_minor("1500").unwrap(), 1500);
        assert_eq!(kwd.parse_minor("1.234").unwrap(), 1234);
        for (c, bad) in [(cny, "1.234"), (cny, "-1"), (cny, "1e3"), (cny, ""), (cny, "."), (cny, "1."), (jpy, "15.0")] {
            assert!(c.parse_minor(bad).is_err(), "{c} {bad:?}");
        }
        assert!(cny.parse_minor("99999999999999999999").is_err());
        let m = Money::new(cny.parse_minor("1,234,567.89").unwrap(), cny).unwrap();
        assert_eq!(m.decimal(), "1,234,567.89", "parse is the inverse of decimal");
    }

    #[test]
    fn every_layout_follows_the_currency_exponent() {
        let money = |minor, code: &str| Money::new(minor, code.parse().unwrap()).unwrap();
        let cases = [
            (money(174_355, "CNY"), "CNY 1,743.55", "1,743.55 CNY", "CNY 1743.55", "RMB 1,743.55"),
            (money(1_500, "JPY"), "JPY 1,500", "1,500 JPY", "JPY 1500", "JPY 1,500"),
            (money(50_000, "KRW"), "KRW 50,000", "50,000 KRW", "KRW 50000", "KRW 50,000"),
            (money(5, "USD"), "USD 0.05", "0.05 USD", "USD 0.05", "USD 0.05"),
            (money(1_234_567, "BHD"), "BHD 1,234.567", "1,234.567 BHD", "BHD 1234.567", "BHD 1,234.567"),
            (money(1_005, "BHD"), "BHD 1.005", "1.005 BHD", "BHD 1.005", "BHD 1.005"),
        ];
        for (m, first, last, message, slip) in cases {
            assert_eq!(m.to_string(), first);
            assert_eq!(m.format(MoneyLayout::CodeFirst), first);
            assert_eq!(m.format(MoneyLayout::CodeLast), last);
            assert_eq!(m.format(MoneyLayout::Message), message);
            assert_eq!(m.format(MoneyLayout::Slip), slip);
        }
    }

    #[test]
    fn money_given_back_is_written_negative_in_every_layout() {
        let m = Money::new(174_355, Currency::CNY).unwrap();
        let layouts = [MoneyLayout::CodeFirst, MoneyLayout::CodeLast, MoneyLayout::Message, MoneyLayout::Slip];
        let credit: Vec<_> = layouts.iter().map(|&l| m.format_signed(l, Direction::Credit)).collect();
        assert_eq!(credit, ["CNY -1,743.55", "-1,743.55 CNY", "CNY -1743.55", "RMB -1,743.55"]);
        for l in layouts {
            assert_eq!(m.format_signed(l, Direction::Debit), m.format(l));
            assert_eq!(m.format_signed(l, Direction::Hold), m.format(l), "a hold is not money given back");
        }
        let jpy = Money::new(1_500, "JPY".parse().unwrap()).unwrap();
        assert_eq!(jpy.format_signed(MoneyLayout::Slip, Direction::Credit), "JPY -1,500");
    }

    #[test]
    fn a_sum_may_be_zero_or_negative_and_reads_like_an_amount() {
        let cny = Currency::CNY;
        assert_eq!(cny.format_sum(0, MoneyLayout::CodeLast), "0.00 CNY");
        assert_eq!(cny.format_sum(-5_000, MoneyLayout::CodeLast), "-50.00 CNY");
        assert_eq!(cny.format_sum(123_456_789, MoneyLayout::CodeLast), "1,234,567.89 CNY");
        let m = Money::new(12_850, cny).unwrap();
        for l in [MoneyLayout::CodeFirst, MoneyLayout::CodeLast, MoneyLayout::Message, MoneyLayout::Slip] {
            assert_eq!(cny.format_sum(12_850, l), m.format(l));
            assert_eq!(cny.format_sum(-12_850, l), m.format_signed(l, Direction::Credit));
        }
        let jpy: Currency = "JPY".parse().unwrap();
        assert_eq!(jpy.format_sum(-1_500, MoneyLayout::CodeLast), "-1,500 JPY");
        assert_eq!(cny.format_sum(i64::MIN, MoneyLayout::CodeLast), "-92,233,720,368,547,758.08 CNY");
    }

    #[test]
    fn every_currency_is_listed_once_and_parses_back() {
        let all: Vec<Currency> = Currency::all().collect();
        assert_eq!(all.len(), CURRENCIES.len());
        assert_eq!(all[0], Currency::CNY);
        for c in all {
            assert_eq!(c.code().parse::<Currency>().ok(), Some(c));
        }
    }

    #[test]
    fn the_default_currency_is_renminbi() {
        assert_eq!((Currency::CNY.code(), Currency::CNY.numeric(), Currency::CNY.exponent()), ("CNY", 156, 2));
        assert_eq!("CNY".parse::<Currency>().ok(), Some(Currency::CNY));
    }

    #[test]
    fn refuses_zero_overflow_and_unknown_currency() {
        let cny: Currency = "CNY".parse().unwrap();
        assert!(Money::new(0, cny).is_err());
        assert!(Money::new(MAX_MINOR + 1, cny).is_err());
        assert!("XXX".parse::<Currency>().is_err());
        assert!("cny".parse::<Currency>().is_err());
    }
}
