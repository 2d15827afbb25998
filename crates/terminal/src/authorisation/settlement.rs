//! Settlement (结算): the open batch's totals to the host (0500), its answer recorded and the
//! batch closed. Nothing may be pending at the host first: a request without an answer, an
//! approval without its receipt, a reversal or a refund's advice not acknowledged.

use ereceipt_core::model::{Currency, MerchantId, OperatorId, TerminalId};

use super::sign_in;
use crate::host::{AuthorisationError, Authoriser, SettlementAnswer, SettlementRequest};
use crate::outbox::{BatchTotals, Outbox, OutboxError, SettlementRecord};

/// Why a batch was not settled. Nothing was closed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettleError {
    /// Requests of the batch are still open at the host.
    #[error("batch {batch:06} cannot be settled while {open} authorisation(s) are open (see ereceipt terminal authorisations): they are finished or reversed first")]
    Open { batch: u32, open: usize },
    /// The host did not take the settlement.
    #[error("the host did not settle batch {batch:06}: {error}")]
    Host { batch: u32, error: AuthorisationError },
    #[error("{0}")]
    Outbox(#[from] OutboxError),
}

/// What a settlement did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    pub totals: BatchTotals,
    pub answer: SettlementAnswer,
    /// The batch the next request goes in.
    pub next_batch: u32,
}

/// Who settles, and where.
pub struct Till<'a> {
    pub operator: &'a OperatorId,
    pub terminal_id: &'a TerminalId,
    pub merchant_id: &'a MerchantId,
    pub currency: Currency,
}

/// Settles the open batch with `authoriser` (signing in first when the link needs it).
pub async fn settle(
    outbox: &Outbox,
    authoriser: &dyn Authoriser,
    till: Till<'_>,
    now_ms: impl Fn() -> i64,
) -> Result<Settled, SettleError> {
    let batch = outbox.open_batch().await?;
    let open = outbox.open_authorisations().await?.len();
    if open > 0 {
        return Err(SettleError::Open { batch, open });
    }
    let totals = outbox.batch_totals(batch).await?;
    let trace = outbox.allocate_trace().await?;
    // A counter at the batch's last trace hands out the next batch's first: settle that one.
    let totals = if trace.batch == batch { totals } else { outbox.batch_totals(trace.batch).await? };
    let request = SettlementRequest {
        trace,
        totals: &totals,
        currency: till.currency,
        operator: till.operator,
        terminal_id: till.terminal_id,
        merchant_id: till.merchant_id,
    };
    let mut answer = authoriser.settle(request).await;
    if let Err(AuthorisationError::SignInRequired(_)) = &answer {
        let signed =
            sign_in(outbox, authoriser, till.terminal_id, till.merchant_id, Some(till.operator.as_str())).await;
        answer = match signed {
            Ok(()) => authoriser.settle(request).await,
            Err(e) => Err(e),
        };
    }
    let answer = answer.map_err(|error| SettleError::Host { batch: trace.batch, error })?;
    let record = SettlementRecord {
        batch: trace.batch,
        trace: trace.trace,
        totals: answer.sent.clone(),
        answer: answer.answer.clone(),
        domestic_balanced: answer.domestic_balanced,
        foreign_balanced: answer.foreign_balanced,
        settled_at: now_ms(),
    };
    outbox.settled(&record, till.operator.as_str(), &authoriser.info().name).await?;
    tracing::info!(
        batch = trace.batch,
        balanced = answer.domestic_balanced && answer.foreign_balanced,
        "batch settled"
    );
    Ok(Settled { totals, answer, next_batch: outbox.open_batch().await? })
}
