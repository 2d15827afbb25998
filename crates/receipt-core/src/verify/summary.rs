//! What a verifier shows of a receipt and its signer: the fields of the signed QR claims as
//! text, the form `ereceipt verify --json` and the platform's verification pages print.

use serde::Serialize;

use crate::claims::ReceiptClaims;
use crate::model::OriginalRef;

/// The signer as its certificate names it.
#[derive(Clone, Debug, Serialize)]
pub struct SignerInfo {
    pub subject: String,
    pub issuer: String,
    pub serial: String,
}

/// The receipt fields a verifier shows (from the signed QR data).
#[derive(Clone, Debug, Serialize)]
pub struct ReceiptSummary {
    pub id: String,
    pub terminal_id: String,
    pub merchant_id: String,
    pub merchant_name: String,
    pub serial: String,
    pub batch: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub amount_minor: u64,
    pub currency: String,
    pub time: String,
    pub pan_masked: String,
    pub rrn: String,
    pub auth_code: String,
    pub record_hash: String,
    /// Who approved the sale: `host`, `simulated` (no payment was authorised) or `unstated`
    /// (a receipt made before receipts said so).
    pub authorisation: String,
    /// What a void, refund or completion refers to; left out (not `null`) for a sale or a
    /// pre-authorisation, whose reports are as they were.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original: Option<OriginalSummary>,
}

impl From<&ReceiptClaims> for ReceiptSummary {
    fn from(c: &ReceiptClaims) -> Self {
        Self {
            id: c.id.to_string(),
            terminal_id: c.terminal_id.to_string(),
            merchant_id: c.merchant_id.to_string(),
            merchant_name: c.merchant_name.to_string(),
            serial: c.serial.to_string(),
            batch: c.batch.to_string(),
            kind: c.kind.code().to_owned(),
            amount_minor: c.amount.minor(),
            currency: c.amount.currency().code().to_owned(),
            time: c.time.rfc3339(),
            pan_masked: format!("**** **** **** {}", c.pan_last4),
            rrn: c.rrn.to_string(),
            auth_code: c.auth_code.to_string(),
            record_hash: crate::identity::hex(&c.record_hash),
            authorisation: c.authorisation.word().to_owned(),
            original: c.original.as_ref().map(OriginalSummary::from),
        }
    }
}

/// The original a void, refund or completion names, as far as its receipt knows it.
#[derive(Clone, Debug, Serialize)]
pub struct OriginalSummary {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipt_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub voucher: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rrn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_code: Option<String>,
    /// The original's local date, `YYYY-MM-DD`.
    pub date: String,
    /// All of it on one line: `voucher 000123 · RRN 332914567890 · auth A1B2C3 · 2026-11-25`.
    pub summary: String,
}

impl From<&OriginalRef> for OriginalSummary {
    fn from(o: &OriginalRef) -> Self {
        Self {
            receipt_id: o.receipt_id.as_ref().map(ToString::to_string),
            batch: o.batch.map(|b| b.to_string()),
            voucher: o.voucher.map(|v| v.to_string()),
            rrn: o.rrn.as_ref().map(ToString::to_string),
            auth_code: o.auth_code.as_ref().map(ToString::to_string),
            date: o.date_text(),
            summary: o.summary(),
        }
    }
}
