//! The authorisation of a card payment as a service over the journal and the acquirer link:
//! journal, ask, journal the answer, and reverse at once what got no usable answer. The touch
//! UI and the CLI call this; [`recovery`] finds and finishes what a crash left open.

mod advice;
mod operations;
mod recovery;
mod reversal;
mod settlement;

use ereceipt_core::card::{AuthorisationData, CardSummary};
use ereceipt_core::model::{MerchantId, OperatorId, TerminalId};

use crate::host::{Approval, AuthorisationError, AuthorisationRequest, Authoriser, SignInRequest};
use crate::outbox::{NewAuthorisation, Outbox, OutboxError, ReceiptParts, Trace};

pub use advice::{resend_advice, AdviceOutcome};
pub use operations::{prepare, Asked};
pub use recovery::{recover, recover_with_receipts, reversal_loop, Recovered};
pub use reversal::{reverse_authorisation, ReversalError, ReversalOutcome};
pub use settlement::{settle, SettleError, Settled, Till};

/// Why a payment was not approved, as the cashier must hear it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// Declined by the issuer or acquirer (the journal says so; nothing is held).
    #[error("{0}")]
    Declined(AuthorisationError),
    /// Never sent (the host cannot be reached): nothing is held; the sale may be tried again.
    #[error("{0}")]
    NotSent(AuthorisationError),
    /// Sent, and no usable answer came: a reversal went out. `reversal` says whether the host
    /// acknowledged it already, or it is kept to be sent again.
    #[error("{error}; {}", match reversal { Some(e) => format!("its reversal is not acknowledged yet ({e}) and will be sent again"), None => "it was reversed".to_owned() })]
    NoAnswer { error: AuthorisationError, request_id: String, reversal: Option<String> },
    /// A refund's advice was sent and no usable answer came: it is kept `advising` and sent
    /// again until the host acknowledges it (a refund is never reversed); its receipt can be
    /// made once it is.
    #[error("{error}; the refund is kept and sent again until the host acknowledges it (authorisation {request_id})")]
    AdvicePending { error: AuthorisationError, request_id: String },
    /// An earlier reversal is still not acknowledged: the host must have it before a new
    /// payment (UnionPay's rule), and it could not be sent now.
    #[error("authorisation {request_id} is still being reversed and the acquirer has not acknowledged it ({error}): no new payment until it has")]
    ReversalPending { request_id: String, error: String },
    /// The journal could not be written or read: nothing was sent.
    #[error("{0}")]
    Outbox(#[from] OutboxError),
}

/// What the service needs besides the card: the request as journalled.
pub struct Payment<'a> {
    pub journalled: &'a NewAuthorisation,
    pub card: &'a CardSummary,
    pub card_data: &'a AuthorisationData,
    /// A refund's receipt parts (the card as printed, the signature, the delivery choice), kept
    /// with its journal row before the advice first goes out, so that its receipt can be made
    /// when the host acknowledges the advice only later ([`recover_with_receipts`]). `None`:
    /// the caller makes the receipt itself or not at all.
    pub receipt_parts: Option<&'a ReceiptParts>,
}

/// Sends every reversal still waiting, then journals the request (allocating its trace), asks
/// the host (signing in first when the link needs it) and journals the answer. A request that
/// was sent and got no usable answer is reversed before this returns.
pub async fn authorise(
    outbox: &Outbox,
    authoriser: &dyn Authoriser,
    payment: Payment<'_>,
    now_ms: impl Fn() -> i64,
) -> Result<(Approval, Trace), Refusal> {
    pending_reversals_first(outbox, authoriser, &now_ms).await?;
    let a = payment.journalled;
    let trace = outbox.authorisation_requested_keeping(a, payment.receipt_parts, now_ms()).await?;
    let request = |trace| AuthorisationRequest {
        amount: a.amount,
        card: payment.card,
        card_data: payment.card_data,
        terminal_id: &a.terminal_id,
        merchant_id: &a.merchant_id,
        time: a.time,
        trace,
        operator: &a.operator,
        operation: &a.operation,
    };
    let mut answer = authoriser.authorise(request(trace)).await;
    if let Err(AuthorisationError::SignInRequired(why)) = &answer {
        tracing::info!(request = a.request_id, why, "signing in to the host");
        answer = match sign_in(outbox, authoriser, &a.terminal_id, &a.merchant_id, Some(a.operator.as_str())).await {
            Ok(()) => authoriser.authorise(request(trace)).await,
            // The payment itself was never sent, whatever went wrong with the sign-in.
            Err(e) => Err(AuthorisationError::NotSent(format!("signing in to the host failed: {e}"))),
        };
    }
    let id = a.request_id.as_str();
    match answer {
        Ok(approval) => {
            outbox.authorisation_approved(id, &approval.auth_code, &approval.rrn, now_ms()).await?;
            Ok((approval, trace))
        }
        Err(e @ AuthorisationError::Declined { .. }) => {
            outbox.authorisation_declined(id, &e.to_string(), now_ms()).await?;
            Err(Refusal::Declined(e))
        }
        // Nothing left the terminal (a failed sign-in included).
        Err(e @ (AuthorisationError::NotSent(_) | AuthorisationError::SignInRequired(_))) => {
            outbox.authorisation_failed(id, &e.to_string(), now_ms()).await?;
            Err(Refusal::NotSent(e))
        }
        Err(error) if a.operation.is_advice() => {
            outbox.authorisation_advice_unanswered(id, &error.to_string(), now_ms()).await?;
            tracing::warn!(request = id, error = %error, "refund advice without a usable answer: sent again later");
            Err(Refusal::AdvicePending { error, request_id: id.to_owned() })
        }
        Err(error) => {
            if let AuthorisationError::BadAnswer(why) = &error {
                outbox.authorisation_unreadable(id, why, now_ms()).await?;
            }
            tracing::warn!(request = id, error = %error, "no usable answer: reversing");
            let reversal = match reverse_authorisation(outbox, authoriser, id, false, &now_ms).await {
                Ok(ReversalOutcome::Reversed(_)) => None,
                Ok(ReversalOutcome::Pending { error, .. }) => Some(error),
                Err(e) => Some(e.to_string()),
            };
            Err(Refusal::NoAnswer { error, request_id: id.to_owned(), reversal })
        }
    }
}

/// UnionPay's rule: a reversal not yet acknowledged goes to the host before any new request.
async fn pending_reversals_first(
    outbox: &Outbox,
    authoriser: &dyn Authoriser,
    now_ms: &impl Fn() -> i64,
) -> Result<(), Refusal> {
    let here = authoriser.info();
    for row in outbox.open_authorisations().await? {
        if row.state != crate::outbox::AuthorisationState::Reversing || row.authoriser != here.name {
            continue;
        }
        match reverse_authorisation(outbox, authoriser, &row.request_id, false, now_ms).await {
            Ok(ReversalOutcome::Reversed(_)) => {}
            Ok(ReversalOutcome::Pending { error, .. }) => {
                return Err(Refusal::ReversalPending { request_id: row.request_id, error })
            }
            Err(e) => return Err(Refusal::ReversalPending { request_id: row.request_id, error: e.to_string() }),
        }
    }
    Ok(())
}

/// Signs the link in with a trace of its own. The operator is the request's, or `01` for a
/// reversal journalled before operators were (the host only needs one).
pub(crate) async fn sign_in(
    outbox: &Outbox,
    authoriser: &dyn Authoriser,
    terminal_id: &TerminalId,
    merchant_id: &MerchantId,
    operator: Option<&str>,
) -> Result<(), AuthorisationError> {
    let operator: OperatorId =
        operator.unwrap_or("01").parse().map_err(|e| AuthorisationError::NotSent(format!("sign-in: operator: {e}")))?;
    let trace = outbox.allocate_trace().await.map_err(|e| AuthorisationError::NotSent(format!("sign-in: {e}")))?;
    let answer = authoriser.sign_in(SignInRequest { trace, operator: &operator, terminal_id, merchant_id }).await?;
    if let Some(batch) = answer.host_batch.filter(|b| *b != trace.batch) {
        // The receipt ids follow the terminal's own batch, which never goes back; settlement
        // (a later step) is where the two meet.
        tracing::info!(host_batch = batch, terminal_batch = trace.batch, "the host names another batch");
    }
    tracing::info!(trace = trace.trace, "signed in to the host");
    Ok(())
}
