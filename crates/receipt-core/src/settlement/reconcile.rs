//! Reconciliation: a settlement slip's counts and totals per kind, card brand and currency
//! against the receipts a platform holds of the same terminal and batch, and the receipts the
//! terminal's hash chain shows to be missing. Pure: the caller reads the receipts.

use crate::card::CardBrand;
use crate::contract::{Difference, DifferenceIssue, MissingPlace, MissingReceipt, Reconciliation};
use crate::model::{
    Currency, Money, MoneyLayout, ReceiptId, SettlementSlip, Stan, Total, TransactionType, SETTLEMENT_KINDS,
};

/// One receipt the platform holds of the slip's batch, as reconciliation needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeldReceipt {
    pub kind: TransactionType,
    pub brand: CardBrand,
    pub amount: Money,
    /// Its trace number (the serial of its id).
    pub serial: u32,
    /// Its position in the terminal's hash chain, if it is chained.
    pub sequence: Option<u64>,
}

/// Compares `slip` with `held`, the receipts held of its batch. `next_held` is the lowest
/// sequence number the platform holds of the terminal after the batch's last held receipt (a
/// receipt of a later batch), if any: it bounds how many receipts can be missing after it.
pub fn reconcile(slip: &SettlementSlip, held: &[HeldReceipt], next_held: Option<u64>) -> Reconciliation {
    let mut currencies: Vec<Currency> = slip.currencies();
    for h in held {
        if !currencies.contains(&h.amount.currency()) {
            currencies.push(h.amount.currency());
        }
    }
    let mut differences = Vec::new();
    for &currency in &currencies {
        for kind in SETTLEMENT_KINDS {
            for brand in CardBrand::ALL {
                if let Some(d) = difference(slip, held, kind, brand, currency) {
                    differences.push(d);
                }
            }
        }
    }
    let slip_count: u64 = slip.lines().iter().map(|l| l.count).sum();
    let missing = missing_receipts(slip, held, slip_count, next_held);
    Reconciliation { balanced: differences.is_empty() && missing.is_empty(), differences, missing }
}

/// The difference of one kind, brand and currency, if there is one.
fn difference(
    slip: &SettlementSlip,
    held: &[HeldReceipt],
    kind: TransactionType,
    brand: CardBrand,
    currency: Currency,
) -> Option<Difference> {
    let (slip_count, slip_total) = slip
        .lines()
        .iter()
        .filter(|l| l.kind == kind && l.brand == brand && l.currency == currency)
        .fold((0u64, Total::zero(currency)), |(n, t), l| (n + l.count, t.plus(i128::from(l.total_minor))));
    let (platform_count, platform_total) = held
        .iter()
        .filter(|h| h.kind == kind && h.brand == brand && h.amount.currency() == currency)
        .fold((0u64, Total::zero(currency)), |(n, t), h| (n + 1, t.plus(h.amount.minor().into())));
    if slip_count == platform_count && slip_total == platform_total {
        return None;
    }
    let issue = if slip_count > platform_count {
        DifferenceIssue::MissingReceipts
    } else if slip_count < platform_count {
        DifferenceIssue::ExtraReceipts
    } else {
        DifferenceIssue::TotalDiffers
    };
    let what = match issue {
        DifferenceIssue::MissingReceipts => format!("{} receipt(s) missing", slip_count - platform_count),
        DifferenceIssue::ExtraReceipts => format!("{} receipt(s) not on the slip", platform_count - slip_count),
        DifferenceIssue::TotalDiffers => "total differs".to_owned(),
    };
    let minor = |t: Total| u64::try_from(t.minor()).unwrap_or(0);
    Some(Difference {
        kind: kind.code().to_owned(),
        brand: brand.code().to_owned(),
        currency: currency.code().to_owned(),
        issue,
        slip_count,
        slip_minor: minor(slip_total),
        platform_count,
        platform_minor: minor(platform_total),
        text: format!(
            "{} {}: {what} (slip {slip_count} × {}, platform {platform_count} × {})",
            kind.code(),
            brand.name(),
            slip_total.format(MoneyLayout::CodeFirst),
            platform_total.format(MoneyLayout::CodeFirst)
        ),
    })
}

/// The receipts of the batch the chain shows missing. A batch is a run of the terminal's chain
/// (its receipts are chained in the order they were made, and the batch advances only at
/// settlement), so a sequence number between two held receipts of the batch is certainly one of
/// its receipts. The slip's receipts beyond those are, in the chain's order, the sequence numbers
/// right after the batch's last held receipt, up to the next receipt held of a later batch; they
/// are named as such (`AfterLast`), since a receipt missing before the batch's first held one
/// would look the same. An id is derived only where the neighbours' trace numbers advance exactly
/// as their sequence numbers do (a declined or reversed transaction uses a trace number too).
fn missing_receipts(
    slip: &SettlementSlip,
    held: &[HeldReceipt],
    slip_count: u64,
    next_held: Option<u64>,
) -> Vec<MissingReceipt> {
    let mut chained: Vec<(u64, u32)> = held.iter().filter_map(|h| h.sequence.map(|s| (s, h.serial))).collect();
    chained.sort_unstable();
    chained.dedup_by_key(|c| c.0);
    let id = |serial: Option<u32>| {
        serial
            .and_then(|s| Stan::new(s).ok())
            .map(|s| ReceiptId::derive(&slip.terminal.terminal_id, slip.batch, s).to_string())
    };
    let mut out = Vec::new();
    for pair in chained.windows(2) {
        let ((s1, t1), (s2, t2)) = (pair[0], pair[1]);
        let contiguous = u64::from(t2.saturating_sub(t1)) == s2 - s1;
        for s in s1 + 1..s2 {
            let serial = contiguous.then(|| u32::try_from(s - s1).ok().map(|d| t1 + d)).flatten();
            out.push(MissingReceipt { sequence: s, receipt_id: id(serial), place: MissingPlace::Between });
        }
    }
    let accounted = held.len() as u64 + out.len() as u64;
    if let (Some(&(last, _)), true) = (chained.last(), slip_count > accounted) {
        let room = next_held.map_or(u64::MAX, |n| n.saturating_sub(last + 1));
        // After the last one no later neighbour vouches for the trace numbers: named by the
        // sequence only.
        for d in 1..=(slip_count - accounted).min(room) {
            out.push(MissingReceipt { sequence: last + d, receipt_id: None, place: MissingPlace::AfterLast });
        }
    }
    out
}
