//! What a refund's receipt is made of besides its journal row, kept with the row before the
//! refund's advice first goes out, so that a refund the host acknowledges only later (after
//! its session closed) still gets its receipt ([`crate::sale::finish_late_refunds`]).

use ereceipt_core::card::CardSummary;
use ereceipt_core::signature::Signature;
use serde::{Deserialize, Serialize};

use super::journal::{rows_where, AuthorisationRecord, NewAuthorisation};
use super::trace::Trace;
use super::{Outbox, OutboxError};

/// The card as the receipt prints it (brand, masked number, name, entry mode: never a full
/// number or a track), the cardholder's signature and the delivery choice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptParts {
    pub card: CardSummary,
    pub signature: Signature,
    /// `channel:address`, as the outbox stores a receipt's choice.
    pub delivery: Option<String>,
}

impl ReceiptParts {
    fn to_json(&self) -> Result<String, OutboxError> {
        serde_json::to_string(self).map_err(|e| OutboxError::Invalid(format!("receipt parts: {e}")))
    }
}

/// An acknowledged refund whose receipt is still to be made, with what it is made of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LateRefund {
    pub row: AuthorisationRecord,
    pub parts: ReceiptParts,
}

impl Outbox {
    /// [`Outbox::authorisation_requested`] that also keeps, in the same row and transaction,
    /// what a refund's receipt is made of when its advice is acknowledged only later
    /// ([`Outbox::late_refunds_due`]). Only a refund keeps them.
    pub async fn authorisation_requested_keeping(
        &self,
        a: &NewAuthorisation,
        parts: Option<&ReceiptParts>,
        now_ms: i64,
    ) -> Result<Trace, OutboxError> {
        let parts = match parts {
            Some(_) if !a.operation.is_advice() => {
                return Err(OutboxError::Invalid(format!(
                    "only a refund keeps its receipt's parts in the journal, not a {}",
                    a.operation.kind
                )))
            }
            Some(p) => Some(p.to_json()?),
            None => None,
        };
        self.requested_with(a, parts, now_ms).await
    }

    /// Refunds the host acknowledged that have no receipt yet and kept their receipt's parts:
    /// those acknowledged by an advice sent again (their session is over), and any other
    /// acknowledged before `stale_before_ms` (its session stopped before the receipt). A refund
    /// acknowledged at once is left to its own session meanwhile. Oldest first.
    pub async fn late_refunds_due(&self, stale_before_ms: i64) -> Result<Vec<LateRefund>, OutboxError> {
        let rows = rows_where(
            &self.pool,
            "state = 'approved' AND kind = 'REFUND' AND receipt_parts IS NOT NULL \
             AND (advice_attempts > 0 OR updated_at < ?1) ORDER BY requested_at, rowid",
            &[stale_before_ms],
        )
        .await?;
        let mut due = Vec::with_capacity(rows.len());
        for row in rows {
            let json: Option<String> =
                sqlx::query_scalar("SELECT receipt_parts FROM authorisations WHERE request_id = ?1")
                    .bind(&row.request_id)
                    .fetch_one(&self.pool)
                    .await?;
            // Completed or declined meanwhile: nothing left to make.
            let Some(json) = json else { continue };
            let parts = serde_json::from_str(&json)
                .map_err(|e| OutboxError::Corrupt(format!("receipt parts of refund {}: {e}", row.request_id)))?;
            due.push(LateRefund { row, parts });
        }
        Ok(due)
    }

    /// Whether refund `request_id` keeps its receipt's parts (its receipt can still be made).
    pub async fn keeps_receipt_parts(&self, request_id: &str) -> Result<bool, OutboxError> {
        let kept: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM authorisations WHERE request_id = ?1 AND receipt_parts IS NOT NULL")
                .bind(request_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(kept.is_some())
    }
}
