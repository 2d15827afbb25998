//! The settlement slip (结算单) of a settled batch: composed from the batch's receipts as the
//! outbox holds them, signed and watermarked by the terminal, and stored for upload; and the
//! closing of a batch (settlement with the host, then its slip) the CLI and the UI share.

use chrono::Utc;
use ereceipt_core::model::{
    BatchNo, HostAnswer, LineTally, LocalTime, OperatorId, ReceiptRecord, SettlementLine, SettlementSlip, SlipParts,
};
use ereceipt_core::settlement::{compose_settlement, ComposedSettlement, SettlementError};

use crate::authorisation::{settle, SettleError, Settled, Till};
use crate::host::Authoriser;
use crate::outbox::{AuthorisationRecord, NewSlip, Outbox, OutboxError};
use crate::sale::Composer;
use crate::settings::TerminalZone;

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

/// The open batch as the settlement screen previews it: its number, the lines its slip will
/// print (the terminal's own totals) and what must be finished before it can be settled.
#[derive(Debug, Clone)]
pub struct BatchPreview {
    pub batch: u32,
    /// Per kind, card brand and currency, in the slip's order.
    pub lines: Vec<SettlementLine>,
    /// Authorisations without a receipt or not acknowledged: settling is refused while any are.
    pub open_authorisations: Vec<AuthorisationRecord>,
}

/// The open batch and the lines of its slip-to-be.
pub async fn preview_open_batch(outbox: &Outbox) -> Result<BatchPreview, OutboxError> {
    let batch = outbox.open_batch().await?;
    let records = outbox.settlement_records(batch).await?;
    let mut tally = LineTally::default();
    for r in &records {
        tally.add(r.transaction.kind, r.transaction.card.brand, r.transaction.amount);
    }
    Ok(BatchPreview { batch, lines: tally.into_lines(), open_authorisations: outbox.open_authorisations().await? })
}

/// Why a batch was not closed with its slip.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CloseError {
    /// Not settled: nothing was closed (open authorisations, the host unavailable…).
    #[error("{0}")]
    Settle(#[from] SettleError),
    /// Settled with the host, but the slip was not made.
    #[error("batch {batch:06} is settled, but its settlement slip was not made: {source}")]
    Slip { batch: u32, source: SlipError },
}

/// A closed batch: the host's settlement and the signed slip queued for upload.
pub struct Closed {
    pub settled: Settled,
    pub slip: ComposedSettlement,
}

impl Closed {
    /// Both card groups balanced at the host.
    pub fn balanced(&self) -> bool {
        self.settled.answer.domestic_balanced && self.settled.answer.foreign_balanced
    }
}

/// 结算: settles the open batch with the host (refused while authorisations are open), then
/// composes, signs and stores its settlement slip for upload. The CLI's `terminal settle` and
/// the touch UI's settlement screen both close batches through this.
pub async fn close_batch(
    outbox: &Outbox,
    authoriser: &dyn Authoriser,
    till: Till<'_>,
    composer: Composer<'_>,
    zone: TerminalZone,
) -> Result<Closed, CloseError> {
    let operator = till.operator;
    let settled = settle(outbox, authoriser, till, || Utc::now().timestamp_millis()).await?;
    let batch = settled.totals.batch;
    let slip_error = |source: SlipError| CloseError::Slip { batch, source };
    let facts = SlipFacts {
        batch,
        operator,
        settled_at: zone.local_time(Utc::now()).map_err(|e| slip_error(e.into()))?,
        host: HostAnswer {
            domestic_balanced: settled.answer.domestic_balanced,
            foreign_balanced: settled.answer.foreign_balanced,
        },
    };
    let slip = record_settlement_slip(outbox, composer, facts).await.map_err(slip_error)?;
    Ok(Closed { settled, slip })
}
