//! What a journalled request asks of the host: a sale, a pre-authorisation, or a void, refund
//! or completion of an original (原交易), which the request names as the host and the receipt
//! need it.

use ereceipt_core::model::{OriginalRef, TransactionType};

use super::OutboxError;

/// One request's operation and the original it refers to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    pub kind: TransactionType,
    /// Set exactly for a void, a refund and a completion.
    pub original: Option<OriginalRef>,
    /// What a void voids: a sale or a completion (the host's message differs).
    pub voids: Option<TransactionType>,
}

impl Operation {
    /// A plain sale.
    pub fn sale() -> Self {
        Self { kind: TransactionType::Sale, original: None, voids: None }
    }

    /// A pre-authorisation: money held, not charged.
    pub fn pre_auth() -> Self {
        Self { kind: TransactionType::PreAuth, original: None, voids: None }
    }

    /// A refund is an advice: sent again until acknowledged, never reversed.
    pub fn is_advice(&self) -> bool {
        self.kind == TransactionType::Refund
    }

    /// Refuses an operation whose original is missing, or missing what the host needs to find
    /// it, before anything is journalled or sent.
    pub fn check(&self) -> Result<(), OutboxError> {
        let kind = self.kind;
        let invalid = |why: &str| Err(OutboxError::Invalid(format!("a {kind} {why}")));
        match (kind, &self.original) {
            (TransactionType::Sale | TransactionType::PreAuth, Some(_)) => invalid("has no original transaction"),
            (TransactionType::Sale | TransactionType::PreAuth, None) => {
                if self.voids.is_some() {
                    return invalid("voids nothing");
                }
                Ok(())
            }
            (_, None) => invalid("needs its original transaction"),
            (TransactionType::Void, Some(o)) => {
                if o.receipt_id.is_none() || o.batch.is_none() || o.voucher.is_none() {
                    return invalid("needs the original's receipt, batch and voucher number");
                }
                if o.rrn.is_none() || o.auth_code.is_none() {
                    return invalid("needs the original's reference number and authorisation code");
                }
                match self.voids {
                    Some(TransactionType::Sale | TransactionType::PreAuthCompletion) => Ok(()),
                    _ => invalid("voids a sale or a completion"),
                }
            }
            (TransactionType::Refund, Some(o)) if o.rrn.is_none() => invalid("needs the original's reference number"),
            (TransactionType::PreAuthCompletion, Some(o)) if o.auth_code.is_none() => {
                invalid("needs the pre-authorisation's authorisation code")
            }
            (_, Some(_)) if self.voids.is_some() => invalid("voids nothing"),
            (_, Some(_)) => Ok(()),
        }
    }
}
