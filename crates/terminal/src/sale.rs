//! A sale on the terminal (T1-T6): the captured transaction and signature become a composed,
//! chained receipt stored durably in the outbox before any upload is tried.

use chrono::Utc;
use ereceipt_core::card::CardSummary;
use ereceipt_core::compose::{build_record, compose_receipt, ComposeError, ComposedReceipt, Sale};
use ereceipt_core::identity::Signer;
use ereceipt_core::model::{
    Authorisation, BatchNo, ChainLink, LocalTime, Money, OperatorId, Stan, Transaction, VoucherNo,
};
use ereceipt_core::render::slip::{Fonts, SlipWidth};
use ereceipt_core::signature::Signature;

use crate::host::Approval;
use crate::outbox::{NewEntry, Operation, Outbox, OutboxError, Trace};

/// Why a sale could not be recorded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SaleError {
    /// The receipt could not be composed (signature rejected, certificate not valid…).
    #[error("{0}")]
    Compose(ComposeError),
    /// The outbox could not store it.
    #[error("outbox: {0}")]
    Outbox(OutboxError),
    /// The serial or batch counter produced a value the model refuses.
    #[error("serial number: {0}")]
    Serial(String),
}

impl From<ComposeError> for SaleError {
    fn from(e: ComposeError) -> Self {
        Self::Compose(e)
    }
}
impl From<OutboxError> for SaleError {
    fn from(e: OutboxError) -> Self {
        Self::Outbox(e)
    }
}

/// An approved journalled request, as its receipt records it.
pub struct ApprovedRequest<'a> {
    pub operation: &'a Operation,
    pub amount: Money,
    /// The terminal's time when it asked.
    pub time: LocalTime,
    /// The trace the host saw: the receipt's serial, voucher number and batch.
    pub trace: Trace,
    pub approval: Approval,
    pub operator: OperatorId,
    pub card: CardSummary,
    /// A simulator approved it (signed into the record, printed on the slip).
    pub simulated: bool,
}

/// The transaction of `r`'s receipt: its kind and original, its trace as serial and voucher.
pub fn approved_transaction(r: ApprovedRequest<'_>) -> Result<Transaction, SaleError> {
    let serial = |e: ereceipt_core::model::ModelError| SaleError::Serial(e.to_string());
    Ok(Transaction {
        serial: Stan::new(r.trace.trace).map_err(serial)?,
        batch: BatchNo::new(r.trace.batch).map_err(serial)?,
        voucher: VoucherNo::new(r.trace.trace).map_err(serial)?,
        kind: r.operation.kind,
        amount: r.amount,
        time: r.time,
        auth_code: r.approval.auth_code,
        rrn: r.approval.rrn,
        operator: r.operator,
        card: r.card,
        authorisation: if r.simulated { Authorisation::Simulated } else { Authorisation::Host },
        original: r.operation.original.clone(),
    })
}

/// What a receipt is composed with: the terminal's signing identity and the slip's fonts and width.
#[derive(Clone, Copy)]
pub struct Composer<'a> {
    pub signer: &'a Signer,
    pub fonts: &'a Fonts,
    pub width: SlipWidth,
}

/// Composes the receipt of `transaction` as the next link of the terminal's chain, with the
/// terminal's own batch and serial number (they replace the ones given: the receipt id is
/// `TERMINAL-BATCH-SERIAL` and only the outbox knows which are free), and stores it in the outbox.
pub async fn record_sale(
    outbox: &Outbox,
    signer: &Signer,
    fonts: &Fonts,
    width: SlipWidth,
    transaction: Transaction,
    signature: Signature,
    delivery: Option<String>,
) -> Result<ComposedReceipt, SaleError> {
    record_authorised_sale(outbox, Composer { signer, fonts, width }, transaction, signature, delivery, None).await
}

/// [`record_sale`] of a sale whose approval the outbox journalled as `authorisation`: the
/// receipt is stored and the authorisation marked completed in one transaction, and neither
/// happens if the authorisation is no longer approved (reversed meanwhile).
pub async fn record_authorised_sale(
    outbox: &Outbox,
    composer: Composer<'_>,
    transaction: Transaction,
    signature: Signature,
    delivery: Option<String>,
    authorisation: Option<&str>,
) -> Result<ComposedReceipt, SaleError> {
    let _turn = outbox.chain_turn().await;
    // Another process may take the link between `next_link` and the store: take the next one.
    let mut tries = 0;
    loop {
        tries += 1;
        match compose_and_store(
            outbox,
            composer,
            transaction.clone(),
            signature.clone(),
            delivery.clone(),
            authorisation,
        )
        .await
        {
            Err(SaleError::Outbox(OutboxError::Conflict(why))) if tries < 3 => {
                tracing::warn!(why, "the chain link was taken by another process: composing on the next one");
            }
            done => return done,
        }
    }
}

/// One try of [`record_authorised_sale`]: the next link, the receipt composed on it, stored.
async fn compose_and_store(
    outbox: &Outbox,
    composer: Composer<'_>,
    mut transaction: Transaction,
    signature: Signature,
    delivery: Option<String>,
    authorisation: Option<&str>,
) -> Result<ComposedReceipt, SaleError> {
    let link = outbox.next_link().await?;
    // A journalled request carries the trace the host saw: the receipt's serial, voucher and
    // batch are that one (rows from before the host link have none, and take the chain's).
    let journalled = match authorisation {
        Some(id) => outbox.authorisation(id).await?.and_then(|row| row.trace),
        None => None,
    };
    let (batch, serial) = journalled.map_or((link.batch, link.serial), |t| (t.batch, t.trace));
    transaction.serial = Stan::new(serial).map_err(|e| SaleError::Serial(e.to_string()))?;
    transaction.batch = BatchNo::new(batch).map_err(|e| SaleError::Serial(e.to_string()))?;
    if journalled.is_some() {
        transaction.voucher = VoucherNo::new(serial).map_err(|e| SaleError::Serial(e.to_string()))?;
    }
    let chain = Some(ChainLink { sequence: link.sequence, previous: link.previous });
    let record = build_record(Sale { transaction, signature, chain }, composer.signer)?;
    let receipt = compose_receipt(record, composer.signer, composer.fonts, composer.width)?;
    outbox
        .store_sale(
            &NewEntry {
                receipt_id: receipt.record.id.to_string(),
                sequence: link.sequence,
                record_hash: receipt.record_hash,
                record: receipt.record_bytes.clone(),
                png: receipt.png.clone(),
                batch,
                serial,
                delivery,
            },
            authorisation,
            Utc::now().timestamp_millis(),
        )
        .await?;
    Ok(receipt)
}

/// Makes the receipt of every refund the host acknowledged late (see
/// [`Outbox::late_refunds_due`]) from its journal row and the parts kept with it, stores it in
/// the outbox (pending upload, with the customer's delivery choice) and marks the refund
/// completed, in one transaction each. Returns the receipts made; a refund whose receipt cannot
/// be made is logged and left for the next pass.
pub async fn finish_late_refunds(
    outbox: &Outbox,
    composer: Composer<'_>,
    stale_before_ms: i64,
) -> Result<Vec<ComposedReceipt>, OutboxError> {
    let mut made = Vec::new();
    for late in outbox.late_refunds_due(stale_before_ms).await? {
        let id = late.row.request_id.clone();
        match late_receipt(outbox, composer, late).await {
            Ok(receipt) => {
                tracing::info!(request = id, receipt = %receipt.record.id, "receipt of a refund acknowledged late");
                made.push(receipt);
            }
            Err(e) => {
                tracing::warn!(request = id, error = %e, "the receipt of a refund acknowledged late is not made yet")
            }
        }
    }
    Ok(made)
}

async fn late_receipt(
    outbox: &Outbox,
    composer: Composer<'_>,
    late: crate::outbox::LateRefund,
) -> Result<ComposedReceipt, SaleError> {
    let row = &late.row;
    let corrupt = |what: &str| SaleError::Outbox(OutboxError::Corrupt(format!("refund {}: {what}", row.request_id)));
    let (Some(auth_code), Some(rrn)) = (row.auth_code.clone(), row.rrn.clone()) else {
        return Err(corrupt("acknowledged without an auth code and RRN"));
    };
    let trace = row.trace.ok_or_else(|| corrupt("without a trace"))?;
    let operator: OperatorId =
        row.operator.as_deref().unwrap_or("01").parse().map_err(|_| corrupt("its operator is not valid"))?;
    let transaction = approved_transaction(ApprovedRequest {
        operation: &row.operation,
        amount: row.amount,
        time: row.time,
        trace,
        approval: Approval { auth_code, rrn },
        operator,
        card: late.parts.card,
        simulated: row.simulated,
    })?;
    record_authorised_sale(
        outbox,
        composer,
        transaction,
        late.parts.signature,
        late.parts.delivery,
        Some(&row.request_id),
    )
    .await
}

#[cfg(test)]
mod tests;
