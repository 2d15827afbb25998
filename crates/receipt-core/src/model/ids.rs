//! Identifiers that appear on a sales slip: terminal and merchant ids (ISO 8583 fields 41/42),
//! trace/batch/voucher numbers, authorisation code, RRN, operator, and the receipt id.

use std::fmt;
use std::str::FromStr;

use super::ModelError;

fn check(field: &'static str, ok: bool, expected: &'static str) -> Result<(), ModelError> {
    if ok {
        Ok(())
    } else {
        Err(ModelError::Invalid { field, expected })
    }
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $field:literal, $expected:literal, $valid:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = ModelError;
            fn from_str(s: &str) -> Result<Self, ModelError> {
                let valid: fn(&str) -> bool = $valid;
                check($field, valid(s), $expected)?;
                Ok(Self(s.to_owned()))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

fn ans(s: &str, len: std::ops::RangeInclusive<usize>) -> bool {
    len.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

string_id!(
    /// Card acceptor terminal id, ISO 8583 field 41: exactly 8 letters or digits.
    TerminalId, "terminal id", "8 letters or digits (ISO 8583 field 41)", |s| ans(s, 8..=8)
);
string_id!(
    /// Card acceptor (merchant) id, ISO 8583 field 42: exactly 15 digits.
    MerchantId, "merchant id", "15 digits (ISO 8583 field 42)",
    |s| s.len() == 15 && s.bytes().all(|b| b.is_ascii_digit())
);
string_id!(
    /// Authorisation code from the issuer, ISO 8583 field 38: 6 letters or digits.
    AuthCode, "auth_code", "6 letters or digits (ISO 8583 field 38)", |s| ans(s, 6..=6)
);
string_id!(
    /// Retrieval reference number, ISO 8583 field 37: 12 letters or digits. Chargeback
    /// retrieval requests name the RRN.
    Rrn, "rrn", "12 letters or digits (ISO 8583 field 37)", |s| ans(s, 12..=12)
);
string_id!(
    /// The cashier/operator number keyed in at the terminal: 1 to 4 letters or digits.
    OperatorId, "operator", "1 to 4 letters or digits", |s| ans(s, 1..=4)
);

macro_rules! six_digits {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(u32);

        impl $name {
            pub fn new(n: u32) -> Result<Self, ModelError> {
                if n <= 999_999 {
                    Ok(Self(n))
                } else {
                    Err(ModelError::Invalid { field: $field, expected: "6 digits" })
                }
            }
            pub fn value(self) -> u32 {
                self.0
            }
        }

        impl FromStr for $name {
            type Err = ModelError;
            fn from_str(s: &str) -> Result<Self, ModelError> {
                check($field, s.len() == 6 && s.bytes().all(|b| b.is_ascii_digit()), "6 digits")?;
                s.parse::<u32>().map(Self).map_err(|_| ModelError::Invalid {
                    field: $field,
                    expected: "6 digits",
                })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:06}", self.0)
            }
        }
    };
}

six_digits!(
    /// System trace audit number (STAN, ISO 8583 field 11): the transaction serial number.
    Stan, "serial"
);
six_digits!(
    /// Settlement batch number; with the terminal id and STAN it names one sale uniquely.
    BatchNo, "batch"
);
six_digits!(
    /// Voucher number printed on the slip (凭证号); by convention equal to the STAN.
    VoucherNo, "voucher"
);

/// The receipt id: terminal id, batch and serial, so a retried sale can never make a second
/// receipt (the id is also the idempotency key of uploads). Form: `TTTTTTTT-BBBBBB-SSSSSS`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReceiptId(String);

impl ReceiptId {
    pub fn derive(terminal: &TerminalId, batch: BatchNo, serial: Stan) -> Self {
        Self(format!("{terminal}-{batch}-{serial}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for ReceiptId {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, ModelError> {
        let bad = || ModelError::Invalid {
            field: "receipt id",
            expected: "TERMINAL-BATCH-SERIAL, e.g. POS00001-000001-000123",
        };
        let mut parts = s.split('-');
        let (Some(t), Some(b), Some(n), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(bad());
        };
        let terminal: TerminalId = t.parse().map_err(|_| bad())?;
        let batch: BatchNo = b.parse().map_err(|_| bad())?;
        let serial: Stan = n.parse().map_err(|_| bad())?;
        Ok(Self::derive(&terminal, batch, serial))
    }
}

impl fmt::Display for ReceiptId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_accept_the_documented_shapes() {
        assert!("POS00001".parse::<TerminalId>().is_ok());
        assert!("POS0001".parse::<TerminalId>().is_err());
        assert!("POS-0001".parse::<TerminalId>().is_err());
        assert!("898440358120001".parse::<MerchantId>().is_ok());
        assert!("89844035812000A".parse::<MerchantId>().is_err());
        assert!("332914567890".parse::<Rrn>().is_ok());
        assert!("33291456789".parse::<Rrn>().is_err());
        assert!("000123".parse::<Stan>().is_ok());
        assert!("123".parse::<Stan>().is_err());
        assert!("+00123".parse::<Stan>().is_err());
    }

    #[test]
    fn receipt_id_round_trips_and_names_the_sale() {
        let id = ReceiptId::derive(&"POS00001".parse().unwrap(), BatchNo::new(1).unwrap(), Stan::new(123).unwrap());
        assert_eq!(id.as_str(), "POS00001-000001-000123");
        assert_eq!(id.as_str().parse::<ReceiptId>().unwrap(), id);
        assert!("POS00001-000001".parse::<ReceiptId>().is_err());
    }

    #[test]
    fn error_names_the_field() {
        let e = "12".parse::<MerchantId>().unwrap_err().to_string();
        assert!(e.contains("merchant id") && e.contains("15 digits"), "{e}");
    }

    #[test]
    fn errors_name_the_field_and_shape_never_the_value() {
        // A card number keyed into the RRN field must not travel on in the error (L2).
        let pan = "4111111111111111";
        let e = format!("rrn {pan}").parse::<Rrn>().expect_err("not an rrn");
        let text = e.to_string();
        assert!(!text.contains(pan) && !text.contains("41111"), "{text}");
        assert!(!format!("{e:?}").contains(pan), "{e:?}");
        assert!(text.starts_with("rrn is not valid (expected "), "{text}");
        for e in
            [pan.parse::<AuthCode>().map(drop), pan.parse::<OperatorId>().map(drop), pan.parse::<ReceiptId>().map(drop)]
        {
            let text = e.expect_err("refused").to_string();
            assert!(!text.contains(pan), "{text}");
        }
    }
}
