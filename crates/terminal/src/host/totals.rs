//! Field 48 of a settlement (pure): a batch's totals as the host compares them.

use crate::outbox::{BatchTotals, Side};

/// A batch whose totals do not fit field 48.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("batch {batch:06}: its totals do not fit field 48 (at most 999 of each and 999999999999 in minor units)")]
pub struct TotalsTooLarge {
    pub batch: u32,
}

/// Field 48 of a settlement: for domestic (UnionPay) then foreign cards, debit amount n12,
/// debit count n3, credit amount n12, credit count n3 and the reconciliation code `code`
/// (`0` from the terminal; the host answers `1` balanced or `2` not): 62 digits.
pub(super) fn field48(t: &BatchTotals, code: char) -> Result<String, TotalsTooLarge> {
    let side = |s: &Side| -> Result<String, TotalsTooLarge> {
        if s.debit_minor > 999_999_999_999
            || s.credit_minor > 999_999_999_999
            || s.debit_count > 999
            || s.credit_count > 999
        {
            return Err(TotalsTooLarge { batch: t.batch });
        }
        Ok(format!("{:012}{:03}{:012}{:03}{code}", s.debit_minor, s.debit_count, s.credit_minor, s.credit_count))
    };
    Ok(format!("{}{}", side(&t.domestic)?, side(&t.foreign)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_48_is_62_digits_domestic_then_foreign_and_refuses_what_does_not_fit() {
        let mut t = BatchTotals { batch: 3, ..BatchTotals::default() };
        t.domestic = Side { debit_count: 2, debit_minor: 51_000, credit_count: 1, credit_minor: 5_000 };
        t.foreign = Side { debit_count: 1, debit_minor: 990, credit_count: 0, credit_minor: 0 };
        let f = field48(&t, '0').expect("fits");
        let want =
            ["000000051000", "002", "000000005000", "001", "0", "000000000990", "001", "000000000000", "000", "0"];
        assert_eq!(f, want.concat());
        assert_eq!(f.len(), 62);
        t.domestic.debit_count = 1_000;
        assert_eq!(field48(&t, '0'), Err(TotalsTooLarge { batch: 3 }));
    }
}
