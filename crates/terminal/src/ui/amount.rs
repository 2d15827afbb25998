//! The amount keypad's value: the digits typed, read as whole minor units of the terminal's
//! currency (fen for CNY), never as a decimal or floating-point number.

use ereceipt_core::model::{Currency, Money, MAX_MINOR};

use super::error::UiError;

/// Reads the keypad's digits (`"12850"` is 128.50 CNY) as an amount.
pub fn parse_amount(digits: &str, currency: Currency) -> Result<Money, UiError> {
    let digits = digits.trim();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(UiError::invalid(
            "amount",
            "amount: enter the amount with the keypad digits only",
            "金额：请只用数字键输入金额",
        ));
    }
    let max_digits = MAX_MINOR.to_string().len();
    let significant = digits.trim_start_matches('0');
    let minor = if significant.len() > max_digits { None } else { significant.parse::<u64>().ok().or(Some(0)) };
    match minor.map(|m| Money::new(m, currency)) {
        Some(Ok(money)) => Ok(money),
        _ => {
            let largest = Money::new(MAX_MINOR, currency).map(|m| m.decimal()).unwrap_or_default();
            Err(UiError::invalid(
                "amount",
                format!("amount: must be more than zero and at most {largest} {currency}"),
                format!("金额：必须大于零且不超过 {largest} {currency}"),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cny() -> Currency {
        "CNY".parse().expect("CNY")
    }

    #[test]
    fn digits_are_minor_units() {
        let m = parse_amount("12850", cny()).expect("valid");
        assert_eq!((m.minor(), m.decimal()), (12850, "128.50".to_string()));
        assert_eq!(parse_amount("0001", cny()).expect("valid").decimal(), "0.01");
        let yen = parse_amount("500", "JPY".parse().expect("JPY")).expect("valid");
        assert_eq!(yen.decimal(), "500");
        assert_eq!(parse_amount("999999999999", cny()).expect("the largest").minor(), MAX_MINOR);
    }

    #[test]
    fn bad_amounts_name_the_field_and_the_limit() {
        for bad in ["0", "000", "1000000000000", "99999999999999999999999"] {
            let e = parse_amount(bad, cny()).expect_err(bad);
            assert_eq!(e.field, Some("amount"), "{bad}");
            assert!(
                e.message_en.contains("more than zero and at most 9,999,999,999.99 CNY"),
                "{bad}: {}",
                e.message_en
            );
            assert!(e.message_zh.contains("金额"), "{bad}");
        }
        for bad in ["", "12.50", "-5", "1e3", "１２"] {
            let e = parse_amount(bad, cny()).expect_err(bad);
            assert!(e.message_en.contains("digits only"), "{bad}: {}", e.message_en);
        }
    }
}
