//! The receipt's domain types. Each can only hold a valid value (parse, don't validate).

mod delivery;
mod ids;
mod money;
mod original;
mod receipt;
mod settlement;
mod terminal;
mod time;
mod transaction;

pub use delivery::{DeliveryChoice, Email, PhoneNumber};
pub use ids::{AuthCode, BatchNo, MerchantId, OperatorId, ReceiptId, Rrn, Stan, TerminalId, VoucherNo};
pub use money::{Currency, Money, MoneyLayout, Total, MAX_MINOR};
pub use original::OriginalRef;
pub use receipt::{ChainLink, ReceiptRecord};
pub use settlement::{HostAnswer, LineTally, SettlementLine, SettlementSlip, SlipParts, SETTLEMENT_KINDS};
pub use terminal::{Location, MerchantName, TerminalInfo};
pub use time::{LocalTime, TimeLayout};
pub use transaction::{Authorisation, Direction, Transaction, TransactionType, SIMULATED_NOTICE, SIMULATED_NOTICE_ZH};

/// A value that does not fit its field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// A `field` holds something that is not the `expected` shape. The offending value is never
    /// kept: a card number keyed into the wrong field must not reach logs, the CLI or the API.
    #[error("{field} is not valid (expected {expected})")]
    Invalid { field: &'static str, expected: &'static str },
    /// A transaction of `kind` (its code) lacks `field`, which that kind must name (a refund
    /// without its original's RRN).
    #[error("{field}: required for a {kind}")]
    Missing { field: &'static str, kind: &'static str },
    /// A transaction of `kind` carries `field`, which that kind may not have (a sale with an
    /// original).
    #[error("{field}: not allowed on a {kind}")]
    NotAllowed { field: &'static str, kind: &'static str },
}

impl ModelError {
    /// The same error said of `field`, the part of a larger value it was found in (an
    /// original's `original.rrn` rather than the transaction's own `rrn`).
    pub fn of_field(self, field: &'static str) -> Self {
        match self {
            Self::Invalid { expected, .. } => Self::Invalid { field, expected },
            other => other,
        }
    }
}
