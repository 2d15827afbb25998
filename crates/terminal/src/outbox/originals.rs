//! Finding the original of a void, a refund or a completion in this terminal's journal, and
//! what it still allows: the terminal's own check before anything is sent (the host and the
//! platform check again).

use chrono::NaiveDate;
use ereceipt_core::model::{AuthCode, Rrn, TransactionType};

use super::journal::{rows_where, AuthorisationRecord, AuthorisationState};
use super::{Outbox, OutboxError};

/// A completion may exceed its pre-authorisation by this much (UnionPay's common rule; the
/// host enforces its own).
pub const COMPLETION_TOLERANCE_PERCENT: u64 = 15;

/// States in which a void, refund or completion stands (or may stand at the host).
const LIVE: &str = "('requested', 'approved', 'completed', 'reversing', 'advising')";

/// A sale or completion of this terminal that a refund may give money back on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refundable {
    pub original: AuthorisationRecord,
    /// What is left after this terminal's refunds of it, in minor units.
    pub remaining_minor: u64,
}

fn original(why: String) -> OutboxError {
    OutboxError::Original(why)
}

fn date_of(row: &AuthorisationRecord) -> NaiveDate {
    row.time.local().date_naive()
}

impl Outbox {
    /// The receipt with voucher number `voucher` in the open batch, which a void may cancel: a
    /// sale or a completion with its receipt, not voided and not refunded. Anything else is
    /// [`OutboxError::Original`] naming why.
    pub async fn voidable(&self, voucher: u32) -> Result<AuthorisationRecord, OutboxError> {
        let batch = self.open_batch().await?;
        let rows = rows_where(&self.pool, "trace = ?1 ORDER BY batch DESC", &[i64::from(voucher)]).await?;
        let Some(row) = rows.iter().find(|r| r.trace.is_some_and(|t| t.batch == batch)).cloned() else {
            return Err(original(match rows.first().and_then(|r| r.trace) {
                Some(t) => format!(
                    "voucher {voucher:06} is in batch {:06}, which is settled (the open batch is {batch:06}): \
                     refund it instead",
                    t.batch
                ),
                None => format!("voucher {voucher:06} is not in the open batch {batch:06} of this terminal"),
            }));
        };
        if !matches!(row.operation.kind, TransactionType::Sale | TransactionType::PreAuthCompletion) {
            return Err(original(format!(
                "voucher {voucher:06} is a {}: a void cancels a sale or a completion",
                row.operation.kind
            )));
        }
        if row.state != AuthorisationState::Completed {
            return Err(original(format!("voucher {voucher:06} is {} and has no receipt: nothing to void", row.state)));
        }
        let receipt = row.receipt_id.clone().unwrap_or_default();
        let later = rows_where(
            &self.pool,
            &format!("original_receipt_id = ?1 AND kind = 'VOID' AND state IN {LIVE}"),
            std::slice::from_ref(&receipt),
        )
        .await?;
        if let Some(v) = later.first() {
            return Err(original(format!(
                "voucher {voucher:06} is already voided{}",
                v.trace.map(|t| format!(" (void voucher {:06})", t.trace)).unwrap_or_default()
            )));
        }
        if let Some(rrn) = &row.rrn {
            let refunds = rows_where(
                &self.pool,
                &format!("original_rrn = ?1 AND kind = 'REFUND' AND state IN {LIVE}"),
                &[rrn.as_str().to_owned()],
            )
            .await?;
            if !refunds.is_empty() {
                return Err(original(format!(
                    "voucher {voucher:06} has {} refund(s): a void cancels the whole amount; refund what remains instead",
                    refunds.len()
                )));
            }
        }
        Ok(row)
    }

    /// This terminal's sale or completion with reference number `rrn` made on `date`, with what
    /// remains refundable of it; `None` when this terminal does not know it (made on another
    /// terminal, or before this outbox), when only the host and the platform can check.
    pub async fn refundable(&self, rrn: &Rrn, date: NaiveDate) -> Result<Option<Refundable>, OutboxError> {
        let rows = rows_where(
            &self.pool,
            "rrn = ?1 AND kind IN ('SALE', 'PRE-AUTH COMPLETION') AND state = 'completed'",
            &[rrn.as_str().to_owned()],
        )
        .await?;
        let Some(row) = rows.into_iter().next() else { return Ok(None) };
        if date_of(&row) != date {
            return Err(original(format!(
                "the transaction with reference number {} was made on {}, not {date}",
                rrn.as_str(),
                date_of(&row)
            )));
        }
        let receipt = row.receipt_id.clone().unwrap_or_default();
        let voids = rows_where(
            &self.pool,
            &format!("original_receipt_id = ?1 AND kind = 'VOID' AND state IN {LIVE}"),
            std::slice::from_ref(&receipt),
        )
        .await?;
        if !voids.is_empty() {
            return Err(original(format!(
                "the transaction with reference number {} is voided: nothing is left to refund",
                rrn.as_str()
            )));
        }
        let refunds = rows_where(
            &self.pool,
            &format!("original_rrn = ?1 AND kind = 'REFUND' AND state IN {LIVE}"),
            &[rrn.as_str().to_owned()],
        )
        .await?;
        let refunded: u64 = refunds.iter().map(|r| r.amount.minor()).sum();
        Ok(Some(Refundable { remaining_minor: row.amount.minor().saturating_sub(refunded), original: row }))
    }

    /// This terminal's pre-authorisation with code `auth_code` made on `date`, not completed
    /// yet (or whose completion was voided), which a completion of at most its amount plus [`COMPLETION_TOLERANCE_PERCENT`] may
    /// take. Anything else is [`OutboxError::Original`] naming why.
    pub async fn completable(&self, auth_code: &AuthCode, date: NaiveDate) -> Result<AuthorisationRecord, OutboxError> {
        let code = auth_code.as_str();
        let rows =
            rows_where(&self.pool, "auth_code = ?1 AND kind = 'PRE-AUTH' AND state = 'completed'", &[code.to_owned()])
                .await?;
        let Some(row) = rows.into_iter().find(|r| date_of(r) == date) else {
            return Err(original(format!(
                "no pre-authorisation with authorisation code {code} on {date} on this terminal"
            )));
        };
        let day = date.format("%Y-%m-%d").to_string();
        let done = rows_where(
            &self.pool,
            &format!(
                "original_auth_code = ?1 AND original_date = ?2 AND kind = 'PRE-AUTH COMPLETION' AND state IN {LIVE}"
            ),
            &[code.to_owned(), day],
        )
        .await?;
        // A completion voided since (预授权完成撤销) gives the hold back: it no longer counts.
        let mut standing = None;
        for c in done {
            let receipt = c.receipt_id.clone().unwrap_or_default();
            let voided = !receipt.is_empty()
                && !rows_where(
                    &self.pool,
                    &format!("original_receipt_id = ?1 AND kind = 'VOID' AND state IN {LIVE}"),
                    std::slice::from_ref(&receipt),
                )
                .await?
                .is_empty();
            if !voided {
                standing = Some(c);
                break;
            }
        }
        if let Some(c) = standing {
            return Err(original(format!(
                "the pre-authorisation {code} of {date} is already completed{}",
                c.trace.map(|t| format!(" (voucher {:06})", t.trace)).unwrap_or_default()
            )));
        }
        Ok(row)
    }
}

/// The most a completion of a pre-authorisation of `minor` may charge.
pub fn completion_limit(minor: u64) -> u64 {
    minor.saturating_mul(100 + COMPLETION_TOLERANCE_PERCENT) / 100
}
