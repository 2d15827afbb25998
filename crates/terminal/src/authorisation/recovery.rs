//! What a crash or a dead link left open, finished: requests that never got an answer are
//! reversed (refunds advised again), reversals and advices not yet acknowledged are sent
//! again, at start and then until they are.

use std::time::Duration;

use super::advice::{resend_advice, AdviceOutcome};
use super::reversal::{reverse_authorisation, ReversalOutcome};
use crate::host::Authoriser;
use crate::outbox::{AuthorisationState, Outbox, OutboxError};
use crate::sale::{finish_late_refunds, Composer};

/// How often the loop tries again while a reversal waits, and when nothing does.
const RETRY_PENDING: Duration = Duration::from_secs(5);
const IDLE: Duration = Duration::from_secs(30);

/// What one recovery pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Acknowledged by the host in this pass.
    pub reversed: usize,
    /// Sent (or not even sent) and still not acknowledged: tried again later.
    pub pending: usize,
    /// Refund advices the host acknowledged (or refused) in this pass.
    pub advised: usize,
    /// Receipts made of refunds acknowledged late ([`recover_with_receipts`] only).
    pub late_receipts: usize,
}

/// One pass over the journal: every `requested` row asked before `stale_before_ms` (its answer
/// can no longer come: the process that asked is gone, or its timeout is long past) is reversed,
/// and every `reversing` row is sent again, oldest first. Rows of another authoriser are left to
/// the operator, as are approvals without a receipt (the alert on the page).
pub async fn recover(
    outbox: &Outbox,
    authoriser: &dyn Authoriser,
    stale_before_ms: i64,
    now_ms: impl Fn() -> i64,
) -> Result<Recovered, OutboxError> {
    let here = authoriser.info();
    let mut done = Recovered::default();
    for row in outbox.open_authorisations().await? {
        let due = match row.state {
            AuthorisationState::Requested => row.requested_at < stale_before_ms,
            AuthorisationState::Reversing | AuthorisationState::Advising => true,
            _ => false,
        };
        if !due || row.authoriser != here.name || row.simulated != here.simulator {
            continue;
        }
        // A refund is never reversed: its advice goes out again.
        if row.operation.is_advice() {
            match resend_advice(outbox, authoriser, &row.request_id, &now_ms).await {
                Ok(AdviceOutcome::Acknowledged(_) | AdviceOutcome::Declined(_)) => done.advised += 1,
                Ok(AdviceOutcome::Pending { .. }) => done.pending += 1,
                Err(super::ReversalError::Outbox(OutboxError::Authorisation(m))) => {
                    tracing::debug!(request = row.request_id, m, "no longer open")
                }
                Err(e) => {
                    tracing::warn!(request = row.request_id, error = %e, "advice not sent");
                    done.pending += 1;
                }
            }
            continue;
        }
        match reverse_authorisation(outbox, authoriser, &row.request_id, false, &now_ms).await {
            Ok(ReversalOutcome::Reversed(_)) => done.reversed += 1,
            Ok(ReversalOutcome::Pending { .. }) => done.pending += 1,
            // Changed meanwhile (answered, reversed by the operator): nothing left to do.
            Err(super::ReversalError::Outbox(OutboxError::Authorisation(m))) => {
                tracing::debug!(request = row.request_id, m, "no longer open")
            }
            Err(e) => {
                tracing::warn!(request = row.request_id, error = %e, "reversal not sent");
                done.pending += 1;
            }
        }
    }
    if done != Recovered::default() {
        tracing::info!(
            reversed = done.reversed,
            pending = done.pending,
            advised = done.advised,
            "reversals and advices sent"
        );
    }
    Ok(done)
}

/// [`recover`], then the receipt of every refund acknowledged late (in this pass or an earlier
/// one) made from the parts its journal row kept, and stored for upload.
pub async fn recover_with_receipts(
    outbox: &Outbox,
    authoriser: &dyn Authoriser,
    composer: Composer<'_>,
    stale_before_ms: i64,
    now_ms: impl Fn() -> i64,
) -> Result<Recovered, OutboxError> {
    let mut done = recover(outbox, authoriser, stale_before_ms, now_ms).await?;
    done.late_receipts = finish_late_refunds(outbox, composer, stale_before_ms).await?.len();
    Ok(done)
}

/// Runs [`recover`] at once and then for ever: every 5 s while a reversal waits, every 30 s
/// otherwise. A request counts as unanswered once `answer_grace` has passed since it was asked
/// (longer than the link's own timeout, so a request still waiting for its answer is never
/// reversed under it).
/// With a `composer`, each pass also makes the receipts of refunds acknowledged late
/// ([`recover_with_receipts`]).
pub async fn reversal_loop(
    outbox: Outbox,
    authoriser: std::sync::Arc<dyn Authoriser>,
    answer_grace: Duration,
    composer: Option<Composer<'_>>,
) {
    let grace_ms = i64::try_from(answer_grace.as_millis()).unwrap_or(i64::MAX);
    let now = || chrono::Utc::now().timestamp_millis();
    loop {
        let stale = now().saturating_sub(grace_ms);
        let pass = match composer {
            Some(c) => recover_with_receipts(&outbox, authoriser.as_ref(), c, stale, now).await,
            None => recover(&outbox, authoriser.as_ref(), stale, now).await,
        };
        let wait = match pass {
            Ok(r) if r.pending > 0 => RETRY_PENDING,
            Ok(_) => IDLE,
            Err(e) => {
                tracing::error!(error = %e, "the authorisation journal cannot be read");
                RETRY_PENDING
            }
        };
        tokio::time::sleep(wait).await;
    }
}
