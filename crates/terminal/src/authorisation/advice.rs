//! A refund's advice (ISO 8583 0220) sent again until the host acknowledges it: a refund gives
//! money back and is never reversed, so a sending without a usable answer leaves it `advising`
//! and the same message goes out again (counted and persisted before each sending).

use super::reversal::ReversalError;
use super::sign_in;
use crate::host::{AdviceRequest, AuthorisationError, Authoriser};
use crate::outbox::{AuthorisationRecord, AuthorisationState, Outbox, OutboxError};

/// How one more sending of an advice ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdviceOutcome {
    /// The host acknowledged it: the row is `approved`, and its receipt may be made.
    Acknowledged(AuthorisationRecord),
    /// The host refused it (the row is `declined`): nothing was refunded.
    Declined(AuthorisationRecord),
    /// Still no usable answer: the row stays `advising`, with this error.
    Pending { record: AuthorisationRecord, error: String },
}

/// Sends the refund `request_id` again through `authoriser`. A `requested` refund (its process
/// stopped before the answer) becomes `advising` first.
pub async fn resend_advice(
    outbox: &Outbox,
    authoriser: &dyn Authoriser,
    request_id: &str,
    now_ms: impl Fn() -> i64,
) -> Result<AdviceOutcome, ReversalError> {
    let row = super::reversal::asked_of(outbox, authoriser, request_id).await?;
    if row.state == AuthorisationState::Requested {
        outbox.authorisation_advice_unanswered(request_id, "no answer before the terminal stopped", now_ms()).await?;
    }
    let row = outbox.authorisation_advice_resending(request_id, now_ms()).await?;
    let trace = row.trace.ok_or_else(|| OutboxError::Corrupt(format!("refund {request_id} without a trace")))?;
    let advice = AdviceRequest {
        request_id,
        amount: row.amount,
        terminal_id: &row.terminal_id,
        merchant_id: &row.merchant_id,
        time: row.time,
        trace,
        operator: row.operator.as_deref(),
        operation: &row.operation,
        attempt: row.advice_attempts,
    };
    let mut answer = authoriser.advise_again(advice.clone()).await;
    if let Err(AuthorisationError::SignInRequired(why)) = &answer {
        tracing::info!(request = request_id, why, "signing in to the host before the advice");
        answer = match sign_in(outbox, authoriser, &row.terminal_id, &row.merchant_id, row.operator.as_deref()).await {
            Ok(()) => authoriser.advise_again(advice).await,
            Err(e) => Err(e),
        };
    }
    let reread = || async {
        outbox.authorisation(request_id).await?.ok_or_else(|| OutboxError::NotFound(request_id.to_owned()))
    };
    match answer {
        Ok(approval) => {
            outbox.authorisation_approved(request_id, &approval.auth_code, &approval.rrn, now_ms()).await?;
            tracing::info!(request = request_id, "refund advice acknowledged");
            Ok(AdviceOutcome::Acknowledged(reread().await?))
        }
        Err(e @ AuthorisationError::Declined { .. }) => {
            outbox.authorisation_declined(request_id, &e.to_string(), now_ms()).await?;
            Ok(AdviceOutcome::Declined(reread().await?))
        }
        Err(e) => {
            let error = e.to_string();
            outbox.authorisation_advice_failed(request_id, &error, now_ms()).await?;
            tracing::warn!(request = request_id, error, "refund advice not acknowledged; it is sent again");
            Ok(AdviceOutcome::Pending { record: reread().await?, error })
        }
    }
}
