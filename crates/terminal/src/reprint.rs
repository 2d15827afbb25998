//! Reprint (重打印): a receipt the outbox holds shown again as a duplicate copy, a new image
//! under the 重打印凭证 / DUPLICATE banner over the same signed record, never a second receipt.
//!
//! The outbox keeps every receipt's canonical record for ever (the image only until the
//! acknowledgement), so a duplicate is composed from the record with the terminal's current
//! signer: the same record hash and QR claims, a watermark that says it is a duplicate. Nothing
//! is written: no outbox entry, no chain link, no trace, no journal row.

use ereceipt_core::compose::{compose_duplicate, ComposeError, ComposedReceipt};
use ereceipt_core::encoding::decode_record;
use ereceipt_core::identity::PosCertificate;
use ereceipt_core::model::{LocalTime, MoneyLayout, ReceiptRecord, TransactionType};

use crate::outbox::{Outbox, OutboxError, StoredRecord};
use crate::sale::Composer;

/// Which receipt to reprint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which<'a> {
    /// The receipt with this id (TERMINAL-BATCH-SERIAL), from any batch the outbox holds.
    Receipt(&'a str),
    /// The terminal's last receipt.
    Last,
}

/// Why no duplicate was made. Nothing was written either way.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReprintError {
    /// The outbox holds no receipt with this id.
    #[error("no receipt {0} on this terminal")]
    NotFound(String),
    /// The terminal has made no receipt yet.
    #[error("this terminal has made no receipt yet: there is nothing to reprint")]
    NoReceipt,
    /// The stored record does not decode (the outbox file was damaged or edited).
    #[error("the stored record of receipt {id} cannot be read: {detail}")]
    Record { id: String, detail: String },
    /// The terminal's certificate was renewed since the sale, and the current one cannot sign a
    /// duplicate that verifies: the duplicate's QR code and watermark are sealed by the current
    /// signer, and a verifier judges that signer at the sale's time (when it was not valid yet),
    /// or finds another terminal or merchant named. The key that signed the receipt is gone.
    #[error(
        "receipt {id} was signed under this terminal's earlier certificate {then}, and the current one \
         ({now}) {why}: a duplicate signed now would not verify. The receipt itself is intact on the \
         platform: resend it to the customer (重发) instead"
    )]
    Renewed { id: String, then: String, now: String, why: String },
    /// The duplicate could not be composed.
    #[error("the duplicate of receipt {id} cannot be composed: {source}")]
    Compose { id: String, source: ComposeError },
    /// The outbox could not be read.
    #[error("{0}")]
    Outbox(#[from] OutboxError),
}

/// The duplicate copy of receipt `which`, composed with the terminal's current signer, fonts and
/// slip width. Reads the outbox, writes nothing.
pub async fn reprint(
    outbox: &Outbox,
    composer: Composer<'_>,
    which: Which<'_>,
) -> Result<ComposedReceipt, ReprintError> {
    let stored = match which {
        Which::Receipt(id) => outbox.stored_record(id).await?.ok_or_else(|| ReprintError::NotFound(id.to_owned()))?,
        Which::Last => outbox.last_record().await?.ok_or(ReprintError::NoReceipt)?,
    };
    let record = record_of(&stored)?;
    if let Some(why) = signer_cannot_reprint(&record, composer.signer.certificate()) {
        let then = PosCertificate::parse(&record.certificate).map_or_else(|_| "(unreadable)".into(), |c| c.serial);
        let now = composer.signer.certificate().serial.clone();
        return Err(ReprintError::Renewed { id: stored.receipt_id, then, now, why });
    }
    compose_duplicate(record, composer.signer, composer.fonts, composer.width)
        .map_err(|source| ReprintError::Compose { id: stored.receipt_id, source })
}

fn record_of(stored: &StoredRecord) -> Result<ReceiptRecord, ReprintError> {
    decode_record(&stored.record)
        .map_err(|e| ReprintError::Record { id: stored.receipt_id.clone(), detail: e.to_string() })
}

/// Why `signer` cannot seal a duplicate of `record` that a verifier accepts, or `None` when it
/// can: it is the certificate that signed the receipt, or a renewal of it that names the same
/// terminal and merchant and was already valid at the sale's time (the verifier judges the
/// signer at the time the receipt claims).
pub fn signer_cannot_reprint(record: &ReceiptRecord, signer: &PosCertificate) -> Option<String> {
    if record.certificate == signer.der {
        return None;
    }
    let (then, now) = (&record.terminal, &signer.terminal);
    if then.terminal_id != now.terminal_id || then.merchant_id != now.merchant_id {
        return Some(format!("is for terminal {} of merchant {}", now.terminal_id, now.merchant_id));
    }
    if then.merchant_name != now.merchant_name {
        return Some(format!("names the merchant {:?}", now.merchant_name.to_string()));
    }
    let at = record.transaction.time.utc_seconds();
    if signer.valid_at(at).is_err() {
        let since = chrono::DateTime::from_timestamp(signer.not_before, 0).map(|d| d.to_rfc3339()).unwrap_or_default();
        return Some(format!("is valid only since {since}, after the sale at {}", record.transaction.time.rfc3339()));
    }
    None
}

/// How many receipts of the open batch the reprint screen lists.
pub const LISTED: i64 = 200;

/// One receipt as the reprint screen lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceiptLine {
    pub receipt_id: String,
    /// The terminal's time of the transaction.
    pub time: LocalTime,
    pub kind: TransactionType,
    /// Signed as the slip prints it: `RMB -128.50` for money given back.
    pub amount: String,
    /// The voucher number (凭证号).
    pub voucher: u32,
    pub batch: u32,
}

impl ReceiptLine {
    fn of(record: &ReceiptRecord) -> Self {
        let t = &record.transaction;
        ReceiptLine {
            receipt_id: record.id.to_string(),
            time: t.time,
            kind: t.kind,
            amount: t.amount.format_signed(MoneyLayout::Slip, t.kind.direction()),
            voucher: t.voucher.value(),
            batch: t.batch.value(),
        }
    }
}

/// What the reprint screen shows: the terminal's last receipt (whichever batch it is in), and
/// the open batch's receipts, newest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reprintable {
    pub open_batch: u32,
    pub last: Option<ReceiptLine>,
    pub batch: Vec<ReceiptLine>,
}

/// The receipts a cashier may reprint from the screen: the last one and the open batch's (at
/// most [`LISTED`]). Any older receipt is reprinted by its id.
pub async fn reprintable(outbox: &Outbox) -> Result<Reprintable, ReprintError> {
    let open_batch = outbox.open_batch().await?;
    let last = match outbox.last_record().await? {
        Some(stored) => Some(ReceiptLine::of(&record_of(&stored)?)),
        None => None,
    };
    let batch = outbox
        .batch_records(open_batch, LISTED)
        .await?
        .iter()
        .map(|stored| record_of(stored).map(|r| ReceiptLine::of(&r)))
        .collect::<Result<_, _>>()?;
    Ok(Reprintable { open_batch, last, batch })
}

#[cfg(test)]
mod tests;
