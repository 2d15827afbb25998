//! The settlement slip (结算单): what a terminal states when it closes a batch, per kind of
//! transaction and card brand, and what the acquirer's host answered.

use super::{BatchNo, Currency, Direction, LocalTime, ModelError, OperatorId, TerminalInfo, Total, TransactionType};
use crate::card::CardBrand;

/// The transaction kinds in the order a settlement slip lists them.
pub const SETTLEMENT_KINDS: [TransactionType; 5] = [
    TransactionType::Sale,
    TransactionType::Void,
    TransactionType::Refund,
    TransactionType::PreAuth,
    TransactionType::PreAuthCompletion,
];

/// Count and total of one kind of transaction with one card brand in one currency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettlementLine {
    pub kind: TransactionType,
    pub brand: CardBrand,
    pub currency: Currency,
    /// At least 1: a kind the batch did not have has no line.
    pub count: u64,
    /// The sum of the amounts in minor units, each positive (a void's amount too).
    pub total_minor: u64,
}

/// What the host answered to the settlement (0510): whether its totals matched the terminal's,
/// for domestic (UnionPay) and for foreign cards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostAnswer {
    pub domestic_balanced: bool,
    pub foreign_balanced: bool,
}

impl HostAnswer {
    pub fn balanced(self) -> bool {
        self.domestic_balanced && self.foreign_balanced
    }
}

/// A closed batch as the terminal signs it. Built only through [`SettlementSlip::new`], so its
/// lines are always in canonical order (kind, brand, currency), one per key, and never empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettlementSlip {
    pub terminal: TerminalInfo,
    pub batch: BatchNo,
    pub operator: OperatorId,
    /// The batch's first and last transaction, `None` for a batch without any.
    pub first: Option<LocalTime>,
    pub last: Option<LocalTime>,
    /// When the host answered, in UTC with the terminal's offset.
    pub settled_at: LocalTime,
    lines: Vec<SettlementLine>,
    pub host: HostAnswer,
}

/// What a slip is made from: everything but the lines' canonical order.
#[derive(Clone, Debug)]
pub struct SlipParts {
    pub terminal: TerminalInfo,
    pub batch: BatchNo,
    pub operator: OperatorId,
    pub first: Option<LocalTime>,
    pub last: Option<LocalTime>,
    pub settled_at: LocalTime,
    pub host: HostAnswer,
}

impl SettlementSlip {
    /// A slip of `lines` (in any order, keys unique, counts at least 1, a first time no later
    /// than the last).
    pub fn new(parts: SlipParts, mut lines: Vec<SettlementLine>) -> Result<Self, ModelError> {
        let invalid = |expected| ModelError::Invalid { field: "settlement", expected };
        if lines.iter().any(|l| l.count == 0 || l.total_minor == 0) {
            return Err(invalid("lines of at least one transaction and a positive total"));
        }
        lines.sort_by_key(line_key);
        if lines.windows(2).any(|w| line_key(&w[0]) == line_key(&w[1])) {
            return Err(invalid("one line per kind, card brand and currency"));
        }
        match (parts.first, parts.last) {
            (Some(a), Some(b)) if a.utc_seconds() > b.utc_seconds() => {
                return Err(invalid("a first transaction no later than the last"))
            }
            (Some(_), None) | (None, Some(_)) => {
                return Err(invalid("both a first and a last transaction, or neither"))
            }
            _ => {}
        }
        Ok(Self {
            terminal: parts.terminal,
            batch: parts.batch,
            operator: parts.operator,
            first: parts.first,
            last: parts.last,
            settled_at: parts.settled_at,
            lines,
            host: parts.host,
        })
    }

    /// The lines in canonical order.
    pub fn lines(&self) -> &[SettlementLine] {
        &self.lines
    }

    /// The currencies of the batch, in the currency table's order.
    pub fn currencies(&self) -> Vec<Currency> {
        let mut out: Vec<Currency> = Vec::new();
        for c in Currency::all() {
            if self.lines.iter().any(|l| l.currency == c) {
                out.push(c);
            }
        }
        out
    }

    /// Count and total of `kind` in `currency`, all brands together.
    pub fn kind_total(&self, kind: TransactionType, currency: Currency) -> (u64, Total) {
        self.lines
            .iter()
            .filter(|l| l.kind == kind && l.currency == currency)
            .fold((0, Total::zero(currency)), |(n, t), l| (n + l.count, t.plus(i128::from(l.total_minor))))
    }

    /// The net total in `currency`: sales and completions less voids and refunds
    /// (pre-authorisations hold money, they move none).
    pub fn net_total(&self, currency: Currency) -> Total {
        self.lines.iter().filter(|l| l.currency == currency).fold(Total::zero(currency), |t, l| {
            let minor = i128::from(l.total_minor);
            match l.kind.direction() {
                Direction::Debit => t.plus(minor),
                Direction::Credit => t.plus(-minor),
                Direction::Hold => t,
            }
        })
    }
}

fn line_key(l: &SettlementLine) -> (usize, usize, usize) {
    let kind = SETTLEMENT_KINDS.iter().position(|k| *k == l.kind).unwrap_or(usize::MAX);
    let brand = CardBrand::ALL.iter().position(|b| *b == l.brand).unwrap_or(usize::MAX);
    let currency = Currency::all().position(|c| c == l.currency).unwrap_or(usize::MAX);
    (kind, brand, currency)
}

/// Adds transactions up into lines: one `(kind, brand, amount)` at a time.
#[derive(Debug, Default)]
pub struct LineTally(Vec<SettlementLine>);

impl LineTally {
    pub fn add(&mut self, kind: TransactionType, brand: CardBrand, amount: super::Money) {
        let currency = amount.currency();
        match self.0.iter_mut().find(|l| l.kind == kind && l.brand == brand && l.currency == currency) {
            Some(l) => {
                l.count += 1;
                l.total_minor = l.total_minor.saturating_add(amount.minor());
            }
            None => self.0.push(SettlementLine { kind, brand, currency, count: 1, total_minor: amount.minor() }),
        }
    }

    /// The lines in canonical order (kind, brand, currency), as a slip lists them.
    pub fn into_lines(self) -> Vec<SettlementLine> {
        let mut lines = self.0;
        lines.sort_by_key(line_key);
        lines
    }
}
