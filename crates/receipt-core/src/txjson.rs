//! The transaction JSON a terminal (or `ereceipt receipt create`) takes as input, e.g.
//! `{"serial":"000123","batch":"000001","amount_minor":12850,"currency":"CNY","type":"SALE",
//!   "time":"2026-11-25T14:03:11+08:00","card":{"track2":";6222...=2912101...?"},
//!   "auth_code":"A1B2C3","rrn":"332914567890","operator":"01"}`.
//! Parsing captures the card (T1) and yields the PCI-safe transaction plus the sensitive
//! authorisation data, which the caller passes on and drops. `"authorisation"` says who approved
//! the codes given: `"host"` (the acquirer's host, the default) or `"simulated"`. `"type"` is
//! `SALE`, `VOID`, `REFUND`, `PRE-AUTH` or `PRE-AUTH COMPLETION`; a void, refund or completion
//! names its original: `"original":{"receipt_id":"POS00001-000001-000123","batch":"000001",
//! "voucher":"000123","rrn":"332914567890","auth_code":"A1B2C3","date":"2026-11-25"}` (only
//! the date is always required; a void needs all but the receipt id, a refund the RRN, a
//! completion the authorisation code).

use serde::Deserialize;

use crate::card::{self, CapturedCard, CardError, CardInput, CardPolicy};
use crate::model::{Authorisation, Currency, LocalTime, ModelError, Money, OriginalRef, Transaction, VoucherNo};

/// Why a transaction JSON cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TxError {
    /// Not JSON of the expected shape (missing field, wrong type, unknown field).
    #[error("transaction JSON: {0}")]
    Json(String),
    /// A field is present but not valid.
    #[error("transaction JSON: {0}")]
    Field(ModelError),
    /// The card data is refused.
    #[error("transaction JSON: card: {0}")]
    Card(CardError),
}

// The wrapped errors are shown in the message, so they are not also exposed as `source()`:
// a caller printing the whole chain would say every cause twice.
impl From<ModelError> for TxError {
    fn from(e: ModelError) -> Self {
        Self::Field(e)
    }
}

impl From<CardError> for TxError {
    fn from(e: CardError) -> Self {
        Self::Card(e)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TxJson {
    serial: String,
    batch: String,
    #[serde(default)]
    voucher: Option<String>,
    amount_minor: u64,
    currency: String,
    #[serde(rename = "type")]
    kind: String,
    time: String,
    card: CardInput,
    auth_code: String,
    rrn: String,
    operator: String,
    #[serde(default)]
    authorisation: Option<String>,
    #[serde(default)]
    original: Option<OriginalJson>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OriginalJson {
    #[serde(default)]
    receipt_id: Option<String>,
    #[serde(default)]
    batch: Option<String>,
    #[serde(default)]
    voucher: Option<String>,
    #[serde(default)]
    rrn: Option<String>,
    #[serde(default)]
    auth_code: Option<String>,
    date: String,
}

impl OriginalJson {
    /// The original, each part's error naming it as `original.<part>`.
    fn parse(&self) -> Result<OriginalRef, ModelError> {
        fn part<T: std::str::FromStr<Err = ModelError>>(
            v: &Option<String>,
            field: &'static str,
        ) -> Result<Option<T>, ModelError> {
            v.as_deref().map(|s| s.parse().map_err(|e: ModelError| e.of_field(field))).transpose()
        }
        Ok(OriginalRef {
            receipt_id: part(&self.receipt_id, "original.receipt_id")?,
            batch: part(&self.batch, "original.batch")?,
            voucher: part(&self.voucher, "original.voucher")?,
            rrn: part(&self.rrn, "original.rrn")?,
            auth_code: part(&self.auth_code, "original.auth_code")?,
            date: OriginalRef::parse_date(&self.date)?,
        })
    }
}

/// Parses a transaction JSON and captures its card under `policy`.
pub fn parse_transaction(json: &str, policy: &CardPolicy) -> Result<(Transaction, CapturedCard), TxError> {
    let tx: TxJson = serde_json::from_str(json).map_err(|e| TxError::Json(describe(&e)))?;
    let currency: Currency = tx.currency.parse()?;
    let time: LocalTime = tx.time.parse()?;
    let serial = tx.serial.parse()?;
    let authorisation = match tx.authorisation.as_deref() {
        None | Some("host") => Authorisation::Host,
        Some("simulated") => Authorisation::Simulated,
        Some(_) => {
            return Err(TxError::Field(ModelError::Invalid { field: "authorisation", expected: "host or simulated" }))
        }
    };
    let captured = card::capture(&tx.card, policy, time.local().date_naive())?;
    let transaction = Transaction {
        serial,
        batch: tx.batch.parse()?,
        voucher: match &tx.voucher {
            Some(v) => v.parse()?,
            None => VoucherNo::new(serial.value())?,
        },
        kind: tx.kind.parse()?,
        amount: Money::new(tx.amount_minor, currency)?,
        time,
        auth_code: tx.auth_code.parse()?,
        rrn: tx.rrn.parse()?,
        operator: tx.operator.parse()?,
        card: captured.summary.clone(),
        authorisation,
        original: tx.original.as_ref().map(OriginalJson::parse).transpose()?,
    };
    transaction.check_original()?;
    Ok((transaction, captured))
}

/// serde_json's message names the field and position; it never quotes string values except
/// for unknown variants, which our shape does not have.
fn describe(e: &serde_json::Error) -> String {
    e.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TX: &str = r#"{"serial":"000123","batch":"000001","amount_minor":12850,"currency":"CNY","type":"SALE","time":"2026-11-25T14:03:11+08:00","card":{"track2":";4111111111111111=29121011234567890?"},"auth_code":"A1B2C3","rrn":"332914567890","operator":"01"}"#;

    fn test_cards() -> CardPolicy {
        CardPolicy { accept_clear_tracks: true, allow_chip_fallback: false }
    }

    #[test]
    fn parses_the_documented_example() {
        let (t, captured) = parse_transaction(TX, &test_cards()).unwrap();
        assert_eq!(t.serial.to_string(), "000123");
        assert_eq!(t.voucher.to_string(), "000123");
        assert_eq!(t.amount.decimal(), "128.50");
        assert_eq!(t.card.masked_pan.last4(), "1111");
        assert!(!format!("{captured:?}").contains("4111111111111111"));
        assert_eq!(t.authorisation, Authorisation::Host, "codes given are the host's unless said otherwise");
        let simulated = TX.replace(r#""operator":"01""#, r#""operator":"01","authorisation":"simulated""#);
        assert_eq!(parse_transaction(&simulated, &test_cards()).unwrap().0.authorisation, Authorisation::Simulated);
        let bad = TX.replace(r#""operator":"01""#, r#""operator":"01","authorisation":"bank""#);
        assert!(parse_transaction(&bad, &test_cards()).unwrap_err().to_string().contains("authorisation"));
    }

    #[test]
    fn errors_name_the_field() {
        let missing = TX.replace(r#""rrn":"332914567890","#, "");
        let e = parse_transaction(&missing, &test_cards()).unwrap_err().to_string();
        assert!(e.contains("rrn"), "{e}");
        let bad = TX.replace("12850", "0");
        let e = parse_transaction(&bad, &test_cards()).unwrap_err().to_string();
        assert!(e.contains("amount_minor"), "{e}");
        let bad = TX.replace("CNY", "XYZ");
        assert!(parse_transaction(&bad, &test_cards()).unwrap_err().to_string().contains("currency"));
        let bad = TX.replace("+08:00", "");
        assert!(parse_transaction(&bad, &test_cards()).unwrap_err().to_string().contains("time"));
        let extra = TX.replace(r#""operator":"01""#, r#""operator":"01","tip":5"#);
        assert!(parse_transaction(&extra, &test_cards()).unwrap_err().to_string().contains("tip"));
    }

    fn with(kind: &str, original: &str) -> String {
        let tx = TX.replace(r#""type":"SALE""#, &format!(r#""type":"{kind}""#));
        if original.is_empty() {
            tx
        } else {
            tx.replace(r#""operator":"01""#, &format!(r#""operator":"01","original":{original}"#))
        }
    }

    #[test]
    fn voids_refunds_pre_auths_and_completions_parse_with_their_original() {
        let full = r#"{"receipt_id":"POS00001-000001-000042","batch":"000001","voucher":"000042","rrn":"332914500042","auth_code":"Z9Y8X7","date":"2026-11-24"}"#;
        let (t, _) = parse_transaction(&with("VOID", full), &test_cards()).unwrap();
        let o = t.original.unwrap();
        assert_eq!(t.kind, crate::model::TransactionType::Void);
        assert_eq!(o.summary(), "receipt POS00001-000001-000042 · batch 000001 · voucher 000042 · RRN 332914500042 · auth Z9Y8X7 · 2026-11-24");
        let (t, _) =
            parse_transaction(&with("REFUND", r#"{"rrn":"332914500042","date":"2026-11-24"}"#), &test_cards()).unwrap();
        assert_eq!(t.original.unwrap().summary(), "RRN 332914500042 · 2026-11-24");
        let completion = with("PRE-AUTH COMPLETION", r#"{"auth_code":"Z9Y8X7","date":"2026-11-24"}"#);
        assert!(parse_transaction(&completion, &test_cards()).unwrap().0.original.is_some());
        let (t, _) = parse_transaction(&with("PRE-AUTH", ""), &test_cards()).unwrap();
        assert_eq!((t.kind, t.original), (crate::model::TransactionType::PreAuth, None));
    }

    #[test]
    fn an_original_that_does_not_fit_the_kind_is_refused_naming_the_part() {
        let error = |kind: &str, original: &str| {
            parse_transaction(&with(kind, original), &test_cards()).unwrap_err().to_string()
        };
        let refund = r#"{"rrn":"332914500042","date":"2026-11-24"}"#;
        assert_eq!(
            error("REFUND", r#"{"date":"2026-11-24"}"#),
            "transaction JSON: original.rrn: required for a REFUND"
        );
        assert_eq!(error("REFUND", ""), "transaction JSON: original: required for a REFUND");
        assert_eq!(error("VOID", refund), "transaction JSON: original.batch: required for a VOID");
        assert_eq!(
            error("PRE-AUTH COMPLETION", refund),
            "transaction JSON: original.auth_code: required for a PRE-AUTH COMPLETION"
        );
        assert_eq!(error("SALE", refund), "transaction JSON: original: not allowed on a SALE");
        assert_eq!(error("PRE-AUTH", refund), "transaction JSON: original: not allowed on a PRE-AUTH");
        let bad = |original: &str| error("REFUND", original);
        assert!(
            bad(r#"{"rrn":"3329145","date":"2026-11-24"}"#).starts_with("transaction JSON: original.rrn is not valid")
        );
        assert!(bad(r#"{"rrn":"332914500042","date":"24/11/2026"}"#)
            .starts_with("transaction JSON: original.date is not valid"));
        assert!(bad(r#"{"rrn":"332914500042","batch":"1","date":"2026-11-24"}"#)
            .starts_with("transaction JSON: original.batch is not valid"));
        assert!(bad(r#"{"rrn":"332914500042","voucher":"x","date":"2026-11-24"}"#).contains("original.voucher"));
        assert!(bad(r#"{"rrn":"332914500042","auth_code":"A","date":"2026-11-24"}"#).contains("original.auth_code"));
        assert!(bad(r#"{"rrn":"332914500042","receipt_id":"X","date":"2026-11-24"}"#).contains("original.receipt_id"));
        assert!(bad(r#"{"rrn":"332914500042"}"#).contains("date"), "the date is required");
        assert!(
            bad(r#"{"rrn":"332914500042","date":"2026-11-24","amount":1}"#).contains("amount"),
            "unknown fields are refused"
        );
        assert!(error("PREAUTH", "").contains("PRE-AUTH COMPLETION"), "the error lists the types");
    }

    #[test]
    fn clear_tracks_need_test_card_mode_and_errors_hide_the_pan() {
        let e = parse_transaction(TX, &CardPolicy::default()).unwrap_err().to_string();
        assert!(!e.contains("4111111111111111"), "{e}");
        let bad = TX.replace("4111111111111111", "4111111111111112");
        let e = parse_transaction(&bad, &test_cards()).unwrap_err().to_string();
        assert!(!e.contains("411111111111111"), "{e}");
    }
}
