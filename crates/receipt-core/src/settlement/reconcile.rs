//! Reconciliation: a settlement slip's counts and totals per kind and currency against the
//! receipts a platform holds of the same terminal and batch. Pure: the caller reads them.

use crate::contract::{Difference, DifferenceIssue, Reconciliation};
use crate::model::{Currency, Money, MoneyLayout, SettlementSlip, Total, TransactionType, SETTLEMENT_KINDS};

/// Compares `slip` with `held`, the kind and amount of each receipt held of its batch.
pub fn reconcile(slip: &SettlementSlip, held: &[(TransactionType, Money)]) -> Reconciliation {
    let mut currencies: Vec<Currency> = slip.currencies();
    for (_, m) in held {
        if !currencies.contains(&m.currency()) {
            currencies.push(m.currency());
        }
    }
    let mut differences = Vec::new();
    for &currency in &currencies {
        for kind in SETTLEMENT_KINDS {
            let (slip_count, slip_total) = slip.kind_total(kind, currency);
            let platform = held.iter().filter(|(k, m)| *k == kind && m.currency() == currency);
            let (platform_count, platform_total) =
                platform.fold((0u64, Total::zero(currency)), |(n, t), (_, m)| (n + 1, t.plus(m.minor().into())));
            if slip_count == platform_count && slip_total == platform_total {
                continue;
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
                DifferenceIssue::ExtraReceipts => {
                    format!("{} receipt(s) not on the slip", platform_count - slip_count)
                }
                DifferenceIssue::TotalDiffers => "total differs".to_owned(),
            };
            let minor = |t: Total| u64::try_from(t.minor()).unwrap_or(0);
            differences.push(Difference {
                kind: kind.code().to_owned(),
                currency: currency.code().to_owned(),
                issue,
                slip_count,
                slip_minor: minor(slip_total),
                platform_count,
                platform_minor: minor(platform_total),
                text: format!(
                    "{}: {what} (slip {slip_count} × {}, platform {platform_count} × {})",
                    kind.code(),
                    slip_total.format(MoneyLayout::CodeFirst),
                    platform_total.format(MoneyLayout::CodeFirst)
                ),
            });
        }
    }
    Reconciliation { balanced: differences.is_empty(), differences }
}
