//! The settlement slip (结算单) of a settled batch: composed from the batch's receipts as the
//! outbox holds them, signed and watermarked by the terminal, and stored for upload.

use chrono::Utc;
use ereceipt_core::model::{
    BatchNo, HostAnswer, LineTally, LocalTime, OperatorId, ReceiptRecord, SettlementSlip, SlipParts,
};
use ereceipt_core::settlement::{compose_settlement, ComposedSettlement, SettlementError};

use crate::outbox::{NewSlip, Outbox, OutboxError};
use crate::sale::Composer;

/// Why no settlement slip was made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SlipError {
    /// The slip could not be composed (a receipt of another terminal, a font missing…).
    #[error("settlement slip: {0}")]
    Compose(#[from] SettlementError),
    /// A value of the batch does not fit the slip.
    #[error("settlement slip: {0}")]
    Model(#[from] ereceipt_core::model::ModelError),
    #[error("{0}")]
    Outbox(#[from] OutboxError),
}

/// What the slip states besides the batch's receipts.
pub struct SlipFacts<'a> {
    pub batch: u32,
    pub operator: &'a OperatorId,
    /// When the host answered, in the terminal's zone.
    pub settled_at: LocalTime,
    pub host: HostAnswer,
}

/// The slip of `records` (the receipts of one batch): per kind, card brand and currency, and
/// the batch's first and last transaction.
pub fn slip_of(
    records: &[ReceiptRecord],
    terminal: ereceipt_core::model::TerminalInfo,
    facts: &SlipFacts<'_>,
) -> Result<SettlementSlip, SlipError> {
    let mut tally = LineTally::default();
    for r in records {
        let t = &r.transaction;
        tally.add(t.kind, t.card.brand, t.amount);
    }
    let first = records.iter().map(|r| r.transaction.time).min_by_key(|t| t.utc_seconds());
    let last = records.iter().map(|r| r.transaction.time).max_by_key(|t| t.utc_seconds());
    let parts = SlipParts {
        terminal,
        batch: BatchNo::new(facts.batch)?,
        operator: facts.operator.clone(),
        first,
        last,
        settled_at: facts.settled_at,
        host: facts.host,
    };
    Ok(SettlementSlip::new(parts, tally.into_lines())?)
}

/// Composes the settlement slip of the settled batch `facts.batch` from its receipts and
/// stores it in the outbox, pending upload.
pub async fn record_settlement_slip(
    outbox: &Outbox,
    composer: Composer<'_>,
    facts: SlipFacts<'_>,
) -> Result<ComposedSettlement, SlipError> {
    let records = outbox.settlement_records(facts.batch).await?;
    let slip = slip_of(&records, composer.signer.certificate().terminal.clone(), &facts)?;
    let composed = compose_settlement(slip, composer.signer, composer.fonts, composer.width)?;
    outbox
        .store_slip(
            &NewSlip {
                batch: facts.batch,
                slip_hash: composed.hash,
                slip: composed.bytes.clone(),
                png: composed.png.clone(),
            },
            Utc::now().timestamp_millis(),
        )
        .await?;
    tracing::info!(batch = facts.batch, lines = composed.slip.lines().len(), "settlement slip stored");
    Ok(composed)
}
