//! The card-transaction record (T1): what the sale was, as the slip prints it.

use std::fmt;
use std::str::FromStr;

use super::{AuthCode, BatchNo, LocalTime, ModelError, Money, OperatorId, Rrn, Stan, VoucherNo};
use crate::card::CardSummary;

/// The kinds of card transaction a slip is printed for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransactionType {
    Sale,
    Void,
    Refund,
    PreAuth,
    PreAuthCompletion,
}

/// Which way a transaction moves the cardholder's money.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Charged: a sale, a completion.
    Debit,
    /// Given back: a void, a refund.
    Credit,
    /// Held, not charged: a pre-authorisation.
    Hold,
}

impl TransactionType {
    /// The code used in transaction JSON and in the canonical record.
    pub fn code(self) -> &'static str {
        match self {
            Self::Sale => "SALE",
            Self::Void => "VOID",
            Self::Refund => "REFUND",
            Self::PreAuth => "PRE-AUTH",
            Self::PreAuthCompletion => "PRE-AUTH COMPLETION",
        }
    }

    /// The title printed on UnionPay slips.
    pub fn name_zh(self) -> &'static str {
        match self {
            Self::Sale => "消费",
            Self::Void => "消费撤销",
            Self::Refund => "退货",
            Self::PreAuth => "预授权",
            Self::PreAuthCompletion => "预授权完成",
        }
    }

    /// Which way the amount moves: what the slip's sign and the platform's net follow.
    pub fn direction(self) -> Direction {
        match self {
            Self::Sale | Self::PreAuthCompletion => Direction::Debit,
            Self::Void | Self::Refund => Direction::Credit,
            Self::PreAuth => Direction::Hold,
        }
    }

    /// A void, a refund and a completion name their original.
    pub fn needs_original(self) -> bool {
        matches!(self, Self::Void | Self::Refund | Self::PreAuthCompletion)
    }
}

impl FromStr for TransactionType {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, ModelError> {
        [Self::Sale, Self::Void, Self::Refund, Self::PreAuth, Self::PreAuthCompletion]
            .into_iter()
            .find(|t| t.code() == s)
            .ok_or(ModelError::Invalid {
                field: "type",
                expected: "SALE, VOID, REFUND, PRE-AUTH or PRE-AUTH COMPLETION",
            })
    }
}

impl fmt::Display for TransactionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Who approved the sale: what the slip's authorisation code and RRN are worth. Signed in the
/// record (and in the QR claims), so a simulated approval cannot pass for a real one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Authorisation {
    /// The acquirer's host approved it (the codes are the host's).
    Host,
    /// A simulator approved it (demo and test terminals): no payment was authorised.
    Simulated,
    /// Not stated: a record of version 1, made before records said so. This build never makes
    /// one; the platform refuses it from production terminals.
    Unstated,
}

impl Authorisation {
    /// The code in the canonical record and the QR claims; `None` for [`Self::Unstated`],
    /// which is the field's absence.
    pub fn code(self) -> Option<&'static str> {
        match self {
            Self::Host => Some("HOST"),
            Self::Simulated => Some("SIMULATED"),
            Self::Unstated => None,
        }
    }

    /// Parses a stated code (`HOST` or `SIMULATED`).
    pub fn from_code(code: &str) -> Option<Self> {
        [Self::Host, Self::Simulated].into_iter().find(|a| a.code() == Some(code))
    }

    /// How verifiers and the API name it: `host`, `simulated` or `unstated`.
    pub fn word(self) -> &'static str {
        match self {
            Self::Host => "host",
            Self::Simulated => "simulated",
            Self::Unstated => "unstated",
        }
    }
}

/// What simulated slips print and verifiers say of them.
pub const SIMULATED_NOTICE: &str = "SIMULATED, NOT AUTHORISED";
/// The notice in Chinese, printed above the English one.
pub const SIMULATED_NOTICE_ZH: &str = "模拟交易 未经授权";

/// One card transaction, without any sensitive card data: the card appears only as the
/// PCI-safe summary (brand, BIN + last 4, name, entry mode).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transaction {
    pub serial: Stan,
    pub batch: BatchNo,
    pub voucher: VoucherNo,
    pub kind: TransactionType,
    pub amount: Money,
    pub time: LocalTime,
    pub auth_code: AuthCode,
    pub rrn: Rrn,
    pub operator: OperatorId,
    pub card: CardSummary,
    /// Who approved it.
    pub authorisation: Authorisation,
    /// What a void, refund or completion refers to; `None` for a sale and a pre-authorisation
    /// (and for the VOID, REFUND and COMPLETION records of versions 1 and 2, made before
    /// receipts named their original). See [`Transaction::check_original`].
    pub original: Option<super::OriginalRef>,
}

impl Transaction {
    /// Whether the original fits the kind: none on a sale or a pre-authorisation; a void names
    /// its original's batch, voucher, RRN and authorisation code, a refund its RRN, a completion
    /// the pre-authorisation's code. The error names the missing (or forbidden) part.
    pub fn check_original(&self) -> Result<(), ModelError> {
        super::original::check(self.kind, self.original.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [TransactionType; 5] = [
        TransactionType::Sale,
        TransactionType::Void,
        TransactionType::Refund,
        TransactionType::PreAuth,
        TransactionType::PreAuthCompletion,
    ];

    #[test]
    fn every_kind_parses_from_its_code_and_is_named_in_both_languages() {
        let named: Vec<_> = ALL.iter().map(|k| (k.code(), k.name_zh())).collect();
        assert_eq!(
            named,
            [
                ("SALE", "消费"),
                ("VOID", "消费撤销"),
                ("REFUND", "退货"),
                ("PRE-AUTH", "预授权"),
                ("PRE-AUTH COMPLETION", "预授权完成")
            ]
        );
        for k in ALL {
            assert_eq!(k.code().parse::<TransactionType>().ok(), Some(k));
        }
        let e = "PREAUTH".parse::<TransactionType>().unwrap_err().to_string();
        for k in ALL {
            assert!(e.contains(k.code()), "{e}");
        }
    }

    #[test]
    fn voids_and_refunds_give_back_a_pre_authorisation_holds() {
        let d: Vec<_> = ALL.iter().map(|k| (k.direction(), k.needs_original())).collect();
        use Direction::{Credit, Debit, Hold};
        assert_eq!(d, [(Debit, false), (Credit, true), (Credit, true), (Hold, false), (Debit, true)]);
    }
}
