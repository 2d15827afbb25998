//! Amount filters as people type them: "from 12.50 to 100" means the amount as printed on the
//! receipt, in the receipt's own currency. With a currency chosen the bounds follow its minor
//! unit exactly; without one, each currency gets the bounds in its own minor unit.

use std::collections::BTreeMap;

use ereceipt_core::model::{Currency, Money};

/// Amount bounds for the receipts of some currencies, in their minor units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmountBand {
    /// The currencies these bounds are in (all of one exponent).
    pub currencies: Vec<Currency>,
    /// At least this many minor units.
    pub min: Option<i64>,
    /// At most this many minor units.
    pub max: Option<i64>,
}

/// Why a typed amount bound was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// More decimals than the chosen currency has, or not a plain decimal number.
    #[error("{currency} amounts have {} (example: {example})", decimals(*exponent))]
    NotInCurrency {
        /// The chosen currency's code.
        currency: &'static str,
        /// Its minor-unit exponent.
        exponent: u8,
        /// An amount written as that currency expects.
        example: String,
    },
    /// Not a decimal number with at most the decimals any currency has.
    #[error("amounts are decimal numbers with {} (example: {example})", decimals(*exponent))]
    NotAnAmount {
        /// The most decimals any currency has.
        exponent: u8,
        /// An amount written so.
        example: String,
    },
}

fn decimals(exponent: u8) -> String {
    match exponent {
        0 => "no decimals".to_owned(),
        1 => "at most 1 decimal".to_owned(),
        e => format!("at most {e} decimals"),
    }
}

/// `12.50` written with the exponent of `c` (`12` for yen, `12.500` for dinars).
fn example(c: Currency) -> String {
    let unit = 10u64.pow(u32::from(c.exponent()));
    Money::new(12 * unit + unit / 2, c).map(|m| m.decimal()).unwrap_or_default()
}

/// The currency with the most decimals: a bound typed without a currency is read in its unit.
fn finest() -> Currency {
    Currency::all().max_by_key(|c| c.exponent()).unwrap_or(Currency::CNY)
}

/// Minor units of `text` in `currency`, or why not.
pub fn parse_in(currency: Currency, text: &str) -> Result<i64, AmountError> {
    let refused = || AmountError::NotInCurrency {
        currency: currency.code(),
        exponent: currency.exponent(),
        example: example(currency),
    };
    let minor = currency.parse_minor(text).map_err(|_| refused())?;
    i64::try_from(minor).map_err(|_| refused())
}

/// An amount typed without a currency, in the minor unit of the currency with the most
/// decimals (thousandths), for [`bands_for_any_currency`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnyAmount(i64);

/// `text` as an amount in no particular currency, or why not.
pub fn parse_any(text: &str) -> Result<AnyAmount, AmountError> {
    let fine = finest();
    fine.parse_minor(text)
        .ok()
        .and_then(|v| i64::try_from(v).ok())
        .map(AnyAmount)
        .ok_or_else(|| AmountError::NotAnAmount { exponent: fine.exponent(), example: example(Currency::CNY) })
}

/// The bands for `min`..=`max` typed without a currency: one per minor-unit exponent, each
/// bound rounded inwards to that unit (from 12.5 finds 13 yen, not 12).
pub fn bands_for_any_currency(min: Option<AnyAmount>, max: Option<AnyAmount>) -> Vec<AmountBand> {
    let fine = finest();
    let (min, max) = (min.map(|a| a.0), max.map(|a| a.0));
    if min.is_none() && max.is_none() {
        return Vec::new();
    }
    let mut by_exponent: BTreeMap<u8, Vec<Currency>> = BTreeMap::new();
    for c in Currency::all() {
        by_exponent.entry(c.exponent()).or_default().push(c);
    }
    by_exponent
        .into_iter()
        .map(|(exponent, currencies)| {
            let scale = 10i64.pow(u32::from(fine.exponent() - exponent));
            AmountBand {
                currencies,
                min: min.map(|v| v.div_euclid(scale) + i64::from(v.rem_euclid(scale) != 0)),
                max: max.map(|v| v.div_euclid(scale)),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn currency(code: &str) -> Currency {
        code.parse().unwrap()
    }

    #[test]
    fn a_chosen_currency_takes_its_own_decimals_only() {
        assert_eq!(parse_in(currency("JPY"), "500"), Ok(500));
        assert_eq!(parse_in(currency("USD"), "12.34"), Ok(1234));
        assert_eq!(parse_in(currency("BHD"), "12.345"), Ok(12_345));
        assert_eq!(parse_in(currency("CNY"), "1,234.5"), Ok(123_450));
        let e = parse_in(currency("USD"), "12.345").unwrap_err();
        assert_eq!(e.to_string(), "USD amounts have at most 2 decimals (example: 12.50)");
        let e = parse_in(currency("JPY"), "12.5").unwrap_err();
        assert_eq!(e.to_string(), "JPY amounts have no decimals (example: 12)");
        assert!(parse_in(currency("KRW"), "-1").is_err());
        assert!(parse_in(currency("KRW"), "1e3").is_err());
    }

    #[test]
    fn without_a_currency_each_exponent_gets_its_own_bounds() {
        let bands_of = |min: Option<&str>, max: Option<&str>| {
            bands_for_any_currency(min.map(|s| parse_any(s).unwrap()), max.map(|s| parse_any(s).unwrap()))
        };
        let bands = bands_of(Some("12.5"), Some("100"));
        let of = |code: &str| bands.iter().find(|b| b.currencies.contains(&currency(code))).cloned().unwrap();
        assert_eq!((of("JPY").min, of("JPY").max), (Some(13), Some(100)), "rounded inwards to whole yen");
        assert_eq!((of("KRW").min, of("VND").max), (Some(13), Some(100)));
        assert_eq!((of("CNY").min, of("USD").max), (Some(1_250), Some(10_000)));
        assert_eq!((of("BHD").min, of("KWD").max), (Some(12_500), Some(100_000)));
        assert_eq!(bands.iter().map(|b| b.currencies.len()).sum::<usize>(), Currency::all().count());

        let bands = bands_of(Some("500"), Some("500"));
        let jpy = bands.iter().find(|b| b.currencies.contains(&currency("JPY"))).unwrap();
        assert_eq!((jpy.min, jpy.max), (Some(500), Some(500)), "500 yen is 500 yen");
        let cny = bands.iter().find(|b| b.currencies.contains(&Currency::CNY)).unwrap();
        assert_eq!((cny.min, cny.max), (Some(50_000), Some(50_000)), "and 500.00 yuan");

        let bands = bands_of(None, Some("0.005"));
        let cny = bands.iter().find(|b| b.currencies.contains(&Currency::CNY)).unwrap();
        assert_eq!(cny.max, Some(0), "no fen amount is at most half a fen");
        assert_eq!(bands_of(None, None), Vec::new());
        let e = parse_any("1.2345").unwrap_err();
        assert_eq!(e.to_string(), "amounts are decimal numbers with at most 3 decimals (example: 12.50)");
    }
}
