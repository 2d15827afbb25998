//! What the cashier asks for, turned into the operation the host is sent, after the terminal's
//! own checks of the original (原交易): a void only of a sale or completion of the open batch
//! with its receipt, for its whole amount, once; a refund never above what remains of a sale
//! this terminal knows; a completion only of this terminal's pre-authorisation, once, within
//! its amount plus the tolerance. Nothing is journalled or sent when a check fails.

use chrono::NaiveDate;
use ereceipt_core::model::{AuthCode, BatchNo, Money, OriginalRef, Rrn, TransactionType, VoucherNo};

use crate::outbox::{
    completion_limit, AuthorisationRecord, Operation, Outbox, OutboxError, COMPLETION_TOLERANCE_PERCENT,
};

/// What the cashier asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Asked {
    /// 消费: charge the amount.
    Sale { amount: Money },
    /// 预授权: hold the amount.
    PreAuth { amount: Money },
    /// 消费撤销: cancel the sale or completion with this voucher number (its whole amount).
    Void { voucher: u32 },
    /// 退货: give back `amount` of the sale with this reference number, made on `date`.
    Refund { rrn: Rrn, date: NaiveDate, amount: Money },
    /// 预授权完成: charge `amount` on the pre-authorisation with this code, made on `date`.
    Completion { auth_code: AuthCode, date: NaiveDate, amount: Money },
}

fn original(why: String) -> OutboxError {
    OutboxError::Original(why)
}

/// The original as the journal row of this terminal knows it.
fn reference(row: &AuthorisationRecord) -> Result<OriginalRef, OutboxError> {
    let corrupt = |e: &dyn std::fmt::Display| OutboxError::Corrupt(format!("authorisation {}: {e}", row.request_id));
    let (batch, voucher) = match row.trace {
        Some(t) => (
            Some(BatchNo::new(t.batch).map_err(|e| corrupt(&e))?),
            Some(VoucherNo::new(t.trace).map_err(|e| corrupt(&e))?),
        ),
        None => (None, None),
    };
    Ok(OriginalRef {
        receipt_id: row.receipt_id.as_deref().map(str::parse).transpose().map_err(|e| corrupt(&e))?,
        batch,
        voucher,
        rrn: row.rrn.clone(),
        auth_code: row.auth_code.clone(),
        date: row.time.local().date_naive(),
    })
}

fn same_currency(amount: Money, of: &AuthorisationRecord) -> Result<(), OutboxError> {
    if amount.currency() != of.amount.currency() {
        return Err(original(format!(
            "the original is in {}, not {}",
            of.amount.currency().code(),
            amount.currency().code()
        )));
    }
    Ok(())
}

/// Checks `asked` against this terminal's journal and returns the operation and its amount.
pub async fn prepare(outbox: &Outbox, asked: &Asked) -> Result<(Operation, Money), OutboxError> {
    match asked {
        Asked::Sale { amount } => Ok((Operation::sale(), *amount)),
        Asked::PreAuth { amount } => Ok((Operation::pre_auth(), *amount)),
        Asked::Void { voucher } => {
            let row = outbox.voidable(*voucher).await?;
            let operation = Operation {
                kind: TransactionType::Void,
                original: Some(reference(&row)?),
                voids: Some(row.operation.kind),
            };
            Ok((operation, row.amount))
        }
        Asked::Refund { rrn, date, amount } => {
            let reference = match outbox.refundable(rrn, *date).await? {
                Some(known) => {
                    same_currency(*amount, &known.original)?;
                    if known.remaining_minor == 0 {
                        return Err(original(format!(
                            "nothing remains refundable of the transaction with reference number {}: all of {} \
                             is refunded",
                            rrn.as_str(),
                            known.original.amount
                        )));
                    }
                    if amount.minor() > known.remaining_minor {
                        let remaining = Money::new(known.remaining_minor, amount.currency())
                            .map_err(|e| OutboxError::Corrupt(e.to_string()))?;
                        return Err(original(format!(
                            "a refund of {amount} is above what remains refundable of the transaction with \
                             reference number {}: {remaining} of {}",
                            rrn.as_str(),
                            known.original.amount
                        )));
                    }
                    reference(&known.original)?
                }
                // Made on another terminal, or before this outbox: the host and the platform
                // check it.
                None => OriginalRef {
                    receipt_id: None,
                    batch: None,
                    voucher: None,
                    rrn: Some(rrn.clone()),
                    auth_code: None,
                    date: *date,
                },
            };
            Ok((Operation { kind: TransactionType::Refund, original: Some(reference), voids: None }, *amount))
        }
        Asked::Completion { auth_code, date, amount } => {
            let row = outbox.completable(auth_code, *date).await?;
            same_currency(*amount, &row)?;
            let limit = completion_limit(row.amount.minor());
            if amount.minor() > limit {
                let limit = Money::new(limit, amount.currency()).map_err(|e| OutboxError::Corrupt(e.to_string()))?;
                return Err(original(format!(
                    "a completion of {amount} is above the pre-authorisation's {} plus \
                     {COMPLETION_TOLERANCE_PERCENT}% ({limit})",
                    row.amount
                )));
            }
            let operation =
                Operation { kind: TransactionType::PreAuthCompletion, original: Some(reference(&row)?), voids: None };
            Ok((operation, *amount))
        }
    }
}

#[cfg(test)]
mod tests;
