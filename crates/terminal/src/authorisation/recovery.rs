//! What a crash or a dead link left open, finished: requests that never got an answer are
//! reversed (refunds advised again), reversals and advices not yet acknowledged are sent
//! again, at start and then until they are.

use std::time::Duration;

use super::advice::{resend_advice, AdviceOutcome};
use super::reversal::{reverse_authorisation, ReversalOutcome};
use crate::host::Authoriser;
use crate::outbox::{AuthorisationState, Outbox, OutboxError};

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
        tracing::info!(reversed = done.reversed, pending = done.pending, "reversals sent");
    }
    Ok(done)
}

/// Runs [`recover`] at once and then for ever: every 5 s while a reversal waits, every 30 s
/// otherwise. A request counts as unanswered once `answer_grace` has passed since it was asked
/// (longer than the link's own timeout, so a request still waiting for its answer is never
/// reversed under it).
pub async fn reversal_loop(outbox: Outbox, authoriser: std::sync::Arc<dyn Authoriser>, answer_grace: Duration) {
    let grace_ms = i64::try_from(answer_grace.as_millis()).unwrap_or(i64::MAX);
    let now = || chrono::Utc::now().timestamp_millis();
    loop {
        let wait = match recover(&outbox, authoriser.as_ref(), now().saturating_sub(grace_ms), now).await {
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
