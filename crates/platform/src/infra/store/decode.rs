//! The store's edge for domain types: columns become `Money`, `LocalTime`, `DeliveryChoice` and
//! the delivery enums on the way out, and back on the way in. A stored value that does not
//! decode is a [`StoreError::Undecodable`] naming the column and the value, never a default.

use std::str::FromStr;

use ereceipt_core::model::{Currency, DeliveryChoice, LocalTime, Money};

use super::StoreError;
use crate::domain::delivery::UnknownName;

/// The amount of the columns `amount_minor` (minor units) and `currency` (ISO 4217 code).
pub(super) fn money(amount_minor: i64, currency: &str) -> Result<Money, StoreError> {
    let currency: Currency = currency.parse().map_err(|e| StoreError::undecodable("currency", currency, e))?;
    let minor = u64::try_from(amount_minor)
        .map_err(|_| StoreError::undecodable("amount_minor", amount_minor, "a positive amount"))?;
    Money::new(minor, currency).map_err(|e| StoreError::undecodable("amount_minor", amount_minor, e))
}

/// `amount_minor` of `m`, as stored.
pub(super) fn minor(m: Money) -> i64 {
    // Money holds at most 12 digits (ISO 8583 field 4), far inside i64.
    i64::try_from(m.minor()).unwrap_or(i64::MAX)
}

/// The transaction time of the columns `tx_time` (Unix ms, whole seconds: receipts carry seconds)
/// and `tx_offset_minutes`.
pub(super) fn local_time(tx_time: i64, offset_minutes: i32) -> Result<LocalTime, StoreError> {
    if tx_time.rem_euclid(1000) != 0 {
        return Err(StoreError::undecodable("tx_time", tx_time, "whole seconds in Unix milliseconds"));
    }
    let seconds = tx_time.div_euclid(1000);
    LocalTime::new(seconds, 0).map_err(|e| StoreError::undecodable("tx_time", tx_time, e))?;
    i16::try_from(offset_minutes)
        .ok()
        .and_then(|offset| LocalTime::new(seconds, offset).ok())
        .ok_or_else(|| StoreError::undecodable("tx_offset_minutes", offset_minutes, "a UTC offset within ±18 h"))
}

/// `tx_time` of `t`, as stored: Unix milliseconds.
pub(super) fn unix_ms(t: LocalTime) -> i64 {
    t.utc_seconds() * 1000
}

/// The delivery choice of the columns `delivery_channel` and `delivery_to` (both or neither).
pub(super) fn delivery_choice(
    channel: Option<String>,
    to: Option<String>,
) -> Result<Option<DeliveryChoice>, StoreError> {
    let (channel, to) = match (channel, to) {
        (None, None) => return Ok(None),
        (Some(channel), Some(to)) => (channel, to),
        (Some(channel), None) => {
            return Err(StoreError::undecodable("delivery_to", "NULL", format!("a recipient for {channel}")))
        }
        (None, Some(to)) => {
            return Err(StoreError::undecodable("delivery_channel", "NULL", format!("a channel for {to}")))
        }
    };
    let bad_to = |e| StoreError::undecodable("delivery_to", &to, e);
    // Exact names only: the parser of what terminals send also takes `mailto:` and capitals.
    let choice = match channel.as_str() {
        "email" => DeliveryChoice::Email(to.parse().map_err(bad_to)?),
        "sms" => DeliveryChoice::Sms(to.parse().map_err(bad_to)?),
        "mms" => DeliveryChoice::Mms(to.parse().map_err(bad_to)?),
        "pull" => DeliveryChoice::Pull(to.parse().map_err(bad_to)?),
        other => return Err(StoreError::undecodable("delivery_channel", other, "email, sms, mms or pull")),
    };
    Ok(Some(choice))
}

/// A stored name (channel, delivery state, history step) of `column`.
pub(super) fn named<T: FromStr>(column: &'static str, value: &str) -> Result<T, StoreError>
where
    T::Err: Into<UnknownName>,
{
    value.parse().map_err(|e: T::Err| StoreError::undecodable(column, value, format!("not a known {}", e.into().kind)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::delivery::{Channel, DeliveryState};

    /// The column and value an error names.
    fn named_in(e: StoreError) -> (&'static str, String) {
        match e {
            StoreError::Undecodable { column, value, .. } => (column, value),
            other => panic!("not an undecodable value: {other}"),
        }
    }

    #[test]
    fn amounts_decode_by_their_currency() {
        assert_eq!(money(50_000, "KRW").unwrap().to_string(), "KRW 50,000");
        assert_eq!(money(12_850, "CNY").unwrap().to_string(), "CNY 128.50");
        assert_eq!(money(1_005, "BHD").unwrap().to_string(), "BHD 1.005");
        assert_eq!(minor(money(1_005, "BHD").unwrap()), 1_005);
        assert_eq!(named_in(money(100, "XXX").unwrap_err()), ("currency", "XXX".into()));
        assert_eq!(named_in(money(100, "cny").unwrap_err()), ("currency", "cny".into()));
        assert_eq!(named_in(money(0, "CNY").unwrap_err()), ("amount_minor", "0".into()));
        assert_eq!(named_in(money(-5, "CNY").unwrap_err()), ("amount_minor", "-5".into()));
        assert_eq!(named_in(money(1_000_000_000_000, "JPY").unwrap_err()).0, "amount_minor");
    }

    #[test]
    fn times_decode_with_their_offset() {
        let t = local_time(1_764_050_591_000, 480).unwrap();
        assert_eq!(t.rfc3339(), "2025-11-25T14:03:11+08:00");
        assert_eq!(unix_ms(t), 1_764_050_591_000);
        let e = local_time(1_764_050_591_123, 480).unwrap_err();
        assert_eq!(named_in(e), ("tx_time", "1764050591123".into()), "receipts carry whole seconds");
        assert_eq!(named_in(local_time(1_000, 480).unwrap_err()).0, "tx_time", "1970 is no card sale");
        assert_eq!(named_in(local_time(1_764_050_591_000, 19 * 60).unwrap_err()), ("tx_offset_minutes", "1140".into()));
        assert_eq!(named_in(local_time(1_764_050_591_000, i32::MAX).unwrap_err()).0, "tx_offset_minutes");
    }

    #[test]
    fn delivery_choices_decode_exactly() {
        let some = |s: &str| Some(s.to_owned());
        assert_eq!(delivery_choice(None, None).unwrap(), None);
        let c = delivery_choice(some("pull"), some("+8613700137000")).unwrap().unwrap();
        assert_eq!(c.to_string(), "pull:+8613700137000");
        let c = delivery_choice(some("email"), some("li.na@example.com")).unwrap().unwrap();
        assert_eq!(Channel::pushing(&c), Some(Channel::Email));
        assert_eq!(
            named_in(delivery_choice(some("fax"), some("+861")).unwrap_err()),
            ("delivery_channel", "fax".into())
        );
        assert_eq!(named_in(delivery_choice(some("mailto"), some("a@b.cn")).unwrap_err()).0, "delivery_channel");
        assert_eq!(named_in(delivery_choice(some("sms"), some("12345")).unwrap_err()), ("delivery_to", "12345".into()));
        assert_eq!(named_in(delivery_choice(some("sms"), None).unwrap_err()).0, "delivery_to");
    }

    #[test]
    fn names_decode_or_say_which_column() {
        assert_eq!(named::<Channel>("channel", "mms").unwrap(), Channel::Mms);
        assert_eq!(named::<DeliveryState>("state", "delivered").unwrap(), DeliveryState::Delivered);
        let e = named::<DeliveryState>("state", "bounced").unwrap_err();
        assert_eq!(e.to_string(), "column state: stored value \"bounced\" does not decode: not a known delivery state");
    }
}
