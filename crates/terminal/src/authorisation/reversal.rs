//! Reversing a journalled authorisation (security review L4): persisted as `reversing` before
//! the authoriser is asked, `reversed` (or `voided`) only once it acknowledged. The UI's cancel,
//! a missing or unusable answer, the retry loop and `ereceipt terminal authorisations reverse`
//! all come here.

use super::sign_in;
use crate::host::{Approval, AuthorisationError, Authoriser, ReversalRequest};
use crate::outbox::{AuthorisationRecord, Outbox, OutboxError};

/// How a reversal attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReversalOutcome {
    /// Acknowledged: the row is `reversed` or `voided`.
    Reversed(AuthorisationRecord),
    /// Not acknowledged (the acquirer could not be reached…): the row stays `reversing`, with
    /// this error, and the reversal must be sent again.
    Pending { record: AuthorisationRecord, error: String },
}

/// Why a reversal was not even tried. Nothing was changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReversalError {
    /// Unknown id, nothing to reverse (completed, declined, already reversed), or the outbox failed.
    #[error("{0}")]
    Outbox(#[from] OutboxError),
    /// The authorisation was asked of another authoriser; only that one can reverse it.
    #[error(
        "authorisation {request_id} was asked of {asked:?}, and this terminal's authoriser is {here:?}: \
         reverse it through that acquirer; nothing was changed"
    )]
    OtherAuthoriser { request_id: String, asked: String, here: String },
}

/// Reverses `request_id` through `authoriser`; `cancelled` makes an approved sale's reversal a
/// void (the cashier cancelled it). A `reversing` row is sent again.
pub async fn reverse_authorisation(
    outbox: &Outbox,
    authoriser: &dyn Authoriser,
    request_id: &str,
    cancelled: bool,
    now_ms: impl Fn() -> i64,
) -> Result<ReversalOutcome, ReversalError> {
    asked_of(outbox, authoriser, request_id).await?;
    let row = outbox.authorisation_reversing(request_id, cancelled, now_ms()).await?;
    let reason =
        row.reversal.ok_or_else(|| OutboxError::Corrupt(format!("reversing {request_id} without a reason")))?;
    let approval = match (&row.auth_code, &row.rrn) {
        (Some(auth_code), Some(rrn)) => Some(Approval { auth_code: auth_code.clone(), rrn: rrn.clone() }),
        _ => None,
    };
    let request = ReversalRequest {
        request_id,
        amount: row.amount,
        terminal_id: &row.terminal_id,
        merchant_id: &row.merchant_id,
        time: row.time,
        trace: row.trace,
        operator: row.operator.as_deref(),
        operation: &row.operation,
        approval,
        reason,
        attempt: row.reversal_attempts,
    };
    let mut answer = authoriser.reverse(request.clone()).await;
    // After a restart the link has no working keys yet: it signs in, and the reversal goes
    // out at once, before anything else.
    if let Err(AuthorisationError::SignInRequired(why)) = &answer {
        tracing::info!(request = request_id, why, "signing in to the host before the reversal");
        answer = match sign_in(outbox, authoriser, &row.terminal_id, &row.merchant_id, row.operator.as_deref()).await {
            Ok(()) => authoriser.reverse(request).await,
            Err(e) => Err(e),
        };
    }
    match answer {
        Ok(ack) => {
            let record = outbox.authorisation_reversed(request_id, &ack.reference, now_ms()).await?;
            tracing::info!(request = request_id, state = %record.state, "authorisation reversed");
            Ok(ReversalOutcome::Reversed(record))
        }
        Err(e) => {
            let error = e.to_string();
            outbox.authorisation_reversal_failed(request_id, &error, now_ms()).await?;
            tracing::warn!(request = request_id, error, "reversal not acknowledged; it must be sent again");
            let record =
                outbox.authorisation(request_id).await?.ok_or_else(|| OutboxError::NotFound(request_id.to_owned()))?;
            Ok(ReversalOutcome::Pending { record, error })
        }
    }
}

/// The journal row of `request_id`, which only the authoriser it was asked of may reverse or
/// advise again.
pub(super) async fn asked_of(
    outbox: &Outbox,
    authoriser: &dyn Authoriser,
    request_id: &str,
) -> Result<AuthorisationRecord, ReversalError> {
    let here = authoriser.info();
    let row = outbox.authorisation(request_id).await?.ok_or_else(|| OutboxError::NotFound(request_id.to_owned()))?;
    if row.authoriser != here.name || row.simulated != here.simulator {
        return Err(ReversalError::OtherAuthoriser {
            request_id: request_id.to_owned(),
            asked: row.authoriser,
            here: here.name,
        });
    }
    Ok(row)
}
