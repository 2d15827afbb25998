//! Receipt lineage: a void, a refund or a completion names its original (`OriginalRef` in the
//! record), and the platform links it to the receipt it holds, if the two agree. Pure rules: the
//! store resolves the original and its other children, then asks [`judge`] whether the link
//! holds, and keeps the answer with the child.
//!
//! What a link proves: the original is a receipt of the same merchant (the store never looks
//! beyond it), of the kind the child may follow, in the same currency, with the reference
//! numbers the child printed, and the amounts add up: a void takes back its original whole and
//! once, refunds never total more than the original less what is already given back, a
//! completion charges at most its pre-authorisation plus 15%, once (a voided completion gives the
//! hold back: `siblings` are the children not voided since). A child whose original is
//! not (yet) held is pending; a later upload of the original links it.

use ereceipt_core::model::{Currency, Direction, TransactionType};

/// A completion may charge up to this much more than its pre-authorisation (the terminal's
/// rule, `ereceipt_terminal::outbox::originals::completion_limit`, and UnionPay's).
pub const COMPLETION_TOLERANCE_PERCENT: u64 = 15;

/// What the store keeps about a child's link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// The original is held and agrees.
    Verified,
    /// The original is not held (yet): uploaded later, by another terminal, or never.
    Pending,
    /// The original is held and disagrees ([`Problem`] says how).
    Mismatch,
}

impl LinkState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Verified => "verified",
            Self::Pending => "pending",
            Self::Mismatch => "mismatch",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Verified, Self::Pending, Self::Mismatch].into_iter().find(|k| k.as_str() == s)
    }
}

/// How a child disagrees with its original.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// A void or refund of something else than a sale or completion; a completion of something
    /// else than a pre-authorisation.
    WrongKind,
    CurrencyDiffers,
    /// A void on another terminal or in another batch than its original.
    OtherTerminalOrBatch,
    /// The voucher (trace) number printed on the child is not the original's.
    VoucherDiffers,
    RrnDiffers,
    AuthCodeDiffers,
    DateDiffers,
    /// A void of another amount than its original's.
    AmountDiffers,
    /// The original is already voided (a second void, or a refund of a voided sale).
    AlreadyVoided,
    /// A void of a sale that was partly refunded already.
    AlreadyRefunded,
    /// The refunds would total more than the original less what was given back.
    OverRefunded,
    /// A second completion of one pre-authorisation.
    AlreadyCompleted,
    /// A completion above the pre-authorisation plus 15%.
    OverCompletionLimit,
}

const PROBLEMS: [(Problem, &str); 13] = [
    (Problem::WrongKind, "wrong_kind"),
    (Problem::CurrencyDiffers, "currency_differs"),
    (Problem::OtherTerminalOrBatch, "other_terminal_or_batch"),
    (Problem::VoucherDiffers, "voucher_differs"),
    (Problem::RrnDiffers, "rrn_differs"),
    (Problem::AuthCodeDiffers, "auth_code_differs"),
    (Problem::DateDiffers, "date_differs"),
    (Problem::AmountDiffers, "amount_differs"),
    (Problem::AlreadyVoided, "already_voided"),
    (Problem::AlreadyRefunded, "already_refunded"),
    (Problem::OverRefunded, "over_refunded"),
    (Problem::AlreadyCompleted, "already_completed"),
    (Problem::OverCompletionLimit, "over_completion_limit"),
];

impl Problem {
    /// The code the store keeps (`receipts.link_problem`) and the CSV export writes.
    pub fn code(self) -> &'static str {
        PROBLEMS.iter().find(|(p, _)| *p == self).map_or("", |(_, c)| c)
    }

    pub fn parse(code: &str) -> Option<Self> {
        PROBLEMS.iter().find(|(_, c)| *c == code).map(|(p, _)| *p)
    }

    /// What the portal says, in English and Chinese.
    pub fn describe(self) -> (&'static str, &'static str) {
        match self {
            Self::WrongKind => ("the original is not of a kind this receipt can follow", "原交易类型不符"),
            Self::CurrencyDiffers => ("the original is in another currency", "原交易币种不同"),
            Self::OtherTerminalOrBatch => {
                ("a void must be made on the original's terminal, in its batch", "撤销须在原终端、原批次内进行")
            }
            Self::VoucherDiffers => ("the original voucher number differs", "原凭证号不符"),
            Self::RrnDiffers => ("the original reference number differs", "原参考号不符"),
            Self::AuthCodeDiffers => ("the original authorisation code differs", "原授权码不符"),
            Self::DateDiffers => ("the original date differs", "原交易日期不符"),
            Self::AmountDiffers => ("a void must take back the original's whole amount", "撤销金额须等于原交易金额"),
            Self::AlreadyVoided => ("the original is already voided", "原交易已撤销"),
            Self::AlreadyRefunded => ("the original was already partly refunded", "原交易已有退货"),
            Self::OverRefunded => ("refunds would exceed what remains of the original", "退货总额超过原交易可退金额"),
            Self::AlreadyCompleted => ("the pre-authorisation is already completed", "预授权已完成"),
            Self::OverCompletionLimit => {
                ("the completion exceeds the pre-authorisation plus 15%", "完成金额超过预授权金额的115%")
            }
        }
    }
}

/// What a child's record says of its original (the record's `OriginalRef`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Named {
    pub receipt_id: Option<String>,
    pub batch: Option<i64>,
    pub voucher: Option<i64>,
    pub rrn: Option<String>,
    pub auth_code: Option<String>,
    /// `YYYY-MM-DD`, the original's local date.
    pub date: String,
}

/// A stored receipt as the rules see it: an original, a child, or a child's sibling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub receipt_id: String,
    pub kind: TransactionType,
    pub terminal_id: String,
    pub batch: i64,
    /// The voucher number (凭证号) the slip printed.
    pub voucher: i64,
    pub minor: u64,
    pub currency: Currency,
    pub rrn: String,
    pub auth_code: String,
    /// `YYYY-MM-DD` on the terminal's wall clock.
    pub local_date: String,
}

/// The verdict on one link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Judgement {
    pub state: LinkState,
    pub problem: Option<Problem>,
}

impl Judgement {
    const VERIFIED: Self = Self { state: LinkState::Verified, problem: None };
    const PENDING: Self = Self { state: LinkState::Pending, problem: None };
    fn mismatch(p: Problem) -> Self {
        Self { state: LinkState::Mismatch, problem: Some(p) }
    }
}

/// Whether `child` (a void, refund or completion naming `named`) links to `original`, whose
/// other children already linked (verified) are `siblings`. `None`: the original is not held.
pub fn judge(child: &Facts, named: &Named, original: Option<&Facts>, siblings: &[Facts]) -> Judgement {
    let Some(o) = original else { return Judgement::PENDING };
    match first_problem(child, named, o, siblings) {
        None => Judgement::VERIFIED,
        Some(p) => Judgement::mismatch(p),
    }
}

fn first_problem(child: &Facts, named: &Named, o: &Facts, siblings: &[Facts]) -> Option<Problem> {
    use TransactionType as T;
    let follows = match child.kind {
        T::Void | T::Refund => matches!(o.kind, T::Sale | T::PreAuthCompletion),
        T::PreAuthCompletion => o.kind == T::PreAuth,
        T::Sale | T::PreAuth => false,
    };
    if !follows {
        return Some(Problem::WrongKind);
    }
    if child.currency != o.currency {
        return Some(Problem::CurrencyDiffers);
    }
    let differs = |named: &Option<String>, actual: &str| named.as_deref().is_some_and(|n| n != actual);
    if differs(&named.rrn, &o.rrn) {
        return Some(Problem::RrnDiffers);
    }
    if differs(&named.auth_code, &o.auth_code) {
        return Some(Problem::AuthCodeDiffers);
    }
    if named.date != o.local_date {
        return Some(Problem::DateDiffers);
    }
    let count = |k: T| siblings.iter().filter(|s| s.kind == k).count();
    let given_back: u64 = siblings.iter().filter(|s| s.kind.direction() == Direction::Credit).map(|s| s.minor).sum();
    match child.kind {
        T::Void => {
            if child.terminal_id != o.terminal_id || named.batch.is_some_and(|b| b != o.batch) || child.batch != o.batch
            {
                return Some(Problem::OtherTerminalOrBatch);
            }
            if named.voucher.is_some_and(|v| v != o.voucher) {
                return Some(Problem::VoucherDiffers);
            }
            if child.minor != o.minor {
                return Some(Problem::AmountDiffers);
            }
            if count(T::Void) > 0 {
                return Some(Problem::AlreadyVoided);
            }
            if count(T::Refund) > 0 {
                return Some(Problem::AlreadyRefunded);
            }
        }
        T::Refund => {
            if count(T::Void) > 0 {
                return Some(Problem::AlreadyVoided);
            }
            if given_back.saturating_add(child.minor) > o.minor {
                return Some(Problem::OverRefunded);
            }
        }
        T::PreAuthCompletion => {
            if count(T::PreAuthCompletion) > 0 {
                return Some(Problem::AlreadyCompleted);
            }
            let limit = o.minor.saturating_mul(100 + COMPLETION_TOLERANCE_PERCENT) / 100;
            if child.minor > limit {
                return Some(Problem::OverCompletionLimit);
            }
        }
        T::Sale | T::PreAuth => return Some(Problem::WrongKind),
    }
    None
}

/// What a receipt adds to a merchant's turnover, in minor units: a sale or completion its
/// amount, a void or refund minus its amount, a pre-authorisation nothing (it only holds).
pub fn signed_minor(kind: TransactionType, minor: u64) -> i64 {
    let m = i64::try_from(minor).unwrap_or(i64::MAX);
    match kind.direction() {
        Direction::Debit => m,
        Direction::Credit => -m,
        Direction::Hold => 0,
    }
}

/// What is left of a sale or completion of `minor` once `given_back` (its verified voids and
/// refunds) is taken off; `None` for the other kinds, which have no net of their own.
pub fn net_minor(kind: TransactionType, minor: u64, given_back: u64) -> Option<i64> {
    (kind.direction() == Direction::Debit).then(|| signed_minor(kind, minor) - signed_minor(kind, given_back))
}

#[cfg(test)]
mod tests;
