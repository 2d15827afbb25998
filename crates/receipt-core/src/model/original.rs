//! The original transaction a void, refund or completion refers to (原交易), and which parts of
//! it each kind must name: what UnionPay slips print as 原凭证号, 原参考号, 原授权码 and 原交易日期.

use chrono::NaiveDate;

use super::{AuthCode, BatchNo, ModelError, ReceiptId, Rrn, TransactionType, VoucherNo};

/// What a receipt knows of its original: all of it for a void on the same terminal, the RRN
/// and date for a refund, the authorisation code and date for a completion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OriginalRef {
    /// The original receipt, when the terminal holds it.
    pub receipt_id: Option<ReceiptId>,
    pub batch: Option<BatchNo>,
    /// 原凭证号.
    pub voucher: Option<VoucherNo>,
    /// 原参考号.
    pub rrn: Option<Rrn>,
    /// 原授权码.
    pub auth_code: Option<AuthCode>,
    /// 原交易日期: the original's local date.
    pub date: NaiveDate,
}

/// How records, QR claims and transaction JSON write the date.
const DATE_FORMAT: &str = "%Y-%m-%d";

impl OriginalRef {
    /// The date as records, QR claims and transaction JSON write it: `YYYY-MM-DD`.
    pub fn date_text(&self) -> String {
        self.date.format(DATE_FORMAT).to_string()
    }

    /// The date as slips print it: `2026/11/24`, the date of their `DATE/TIME` line.
    pub fn slip_date(&self) -> String {
        self.date.format("%Y/%m/%d").to_string()
    }

    /// Parses a date written as [`Self::date_text`] writes it, and only so (one text per date,
    /// so a record re-encodes to its own bytes).
    pub fn parse_date(text: &str) -> Result<NaiveDate, ModelError> {
        NaiveDate::parse_from_str(text, DATE_FORMAT)
            .ok()
            .filter(|d| d.format(DATE_FORMAT).to_string() == text)
            .ok_or(ModelError::Invalid { field: "original.date", expected: "a date YYYY-MM-DD" })
    }

    /// One line naming the parts present, as verifiers and the command line show it:
    /// `voucher 000123 · RRN 332914567890 · auth A1B2C3 · 2026-11-25` (plus the batch and the
    /// receipt id when known).
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if let Some(r) = &self.receipt_id {
            parts.push(format!("receipt {r}"));
        }
        if let Some(b) = self.batch {
            parts.push(format!("batch {b}"));
        }
        if let Some(v) = self.voucher {
            parts.push(format!("voucher {v}"));
        }
        if let Some(r) = &self.rrn {
            parts.push(format!("RRN {r}"));
        }
        if let Some(a) = &self.auth_code {
            parts.push(format!("auth {a}"));
        }
        parts.push(self.date_text());
        parts.join(" · ")
    }
}

/// The rule of [`super::Transaction::check_original`]: a sale and a pre-authorisation name no
/// original; a void names the original's batch, voucher, RRN and authorisation code (the
/// terminal holds it); a refund its RRN; a completion the pre-authorisation's code.
pub(super) fn check(kind: TransactionType, original: Option<&OriginalRef>) -> Result<(), ModelError> {
    let missing = |field| ModelError::Missing { field, kind: kind.code() };
    let Some(o) = original else {
        return if kind.needs_original() { Err(missing("original")) } else { Ok(()) };
    };
    if !kind.needs_original() {
        return Err(ModelError::NotAllowed { field: "original", kind: kind.code() });
    }
    let needs: &[(&'static str, bool)] = match kind {
        TransactionType::Void => &[
            ("original.batch", o.batch.is_some()),
            ("original.voucher", o.voucher.is_some()),
            ("original.rrn", o.rrn.is_some()),
            ("original.auth_code", o.auth_code.is_some()),
        ],
        TransactionType::Refund => &[("original.rrn", o.rrn.is_some())],
        TransactionType::PreAuthCompletion => &[("original.auth_code", o.auth_code.is_some())],
        TransactionType::Sale | TransactionType::PreAuth => &[],
    };
    match needs.iter().find(|(_, present)| !present) {
        Some((field, _)) => Err(missing(field)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TransactionType::{PreAuth, PreAuthCompletion, Refund, Sale, Void};

    fn full() -> OriginalRef {
        OriginalRef {
            receipt_id: Some("POS00001-000001-000123".parse().unwrap()),
            batch: Some("000001".parse().unwrap()),
            voucher: Some("000123".parse().unwrap()),
            rrn: Some("332914567890".parse().unwrap()),
            auth_code: Some("A1B2C3".parse().unwrap()),
            date: NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
        }
    }

    fn only(rrn: bool, auth: bool) -> OriginalRef {
        OriginalRef {
            receipt_id: None,
            batch: None,
            voucher: None,
            rrn: full().rrn.filter(|_| rrn),
            auth_code: full().auth_code.filter(|_| auth),
            date: full().date,
        }
    }

    fn error(kind: TransactionType, o: Option<&OriginalRef>) -> String {
        check(kind, o).expect_err("refused").to_string()
    }

    #[test]
    fn a_sale_and_a_pre_authorisation_name_no_original() {
        assert!(check(Sale, None).is_ok());
        assert!(check(PreAuth, None).is_ok());
        assert_eq!(error(Sale, Some(&full())), "original: not allowed on a SALE");
        assert_eq!(error(PreAuth, Some(&only(false, false))), "original: not allowed on a PRE-AUTH");
    }

    #[test]
    fn a_void_refund_or_completion_without_an_original_is_refused() {
        assert_eq!(error(Void, None), "original: required for a VOID");
        assert_eq!(error(Refund, None), "original: required for a REFUND");
        assert_eq!(error(PreAuthCompletion, None), "original: required for a PRE-AUTH COMPLETION");
    }

    #[test]
    fn a_void_names_batch_voucher_rrn_and_auth_code() {
        assert!(check(Void, Some(&full())).is_ok());
        let without_id = OriginalRef { receipt_id: None, ..full() };
        assert!(check(Void, Some(&without_id)).is_ok(), "the receipt id is optional");
        type Strip = fn(&mut OriginalRef);
        let cases: [(&str, Strip); 4] = [
            ("original.batch", |o| o.batch = None),
            ("original.voucher", |o| o.voucher = None),
            ("original.rrn", |o| o.rrn = None),
            ("original.auth_code", |o| o.auth_code = None),
        ];
        for (field, strip) in cases {
            let mut o = full();
            strip(&mut o);
            assert_eq!(error(Void, Some(&o)), format!("{field}: required for a VOID"));
        }
    }

    #[test]
    fn a_refund_names_the_rrn_and_a_completion_the_auth_code() {
        assert!(check(Refund, Some(&only(true, false))).is_ok());
        assert!(check(Refund, Some(&full())).is_ok());
        assert_eq!(error(Refund, Some(&only(false, true))), "original.rrn: required for a REFUND");
        assert!(check(PreAuthCompletion, Some(&only(false, true))).is_ok());
        assert!(check(PreAuthCompletion, Some(&full())).is_ok());
        assert_eq!(
            error(PreAuthCompletion, Some(&only(true, false))),
            "original.auth_code: required for a PRE-AUTH COMPLETION"
        );
    }

    #[test]
    fn the_summary_names_the_parts_present() {
        assert_eq!(
            full().summary(),
            "receipt POS00001-000001-000123 · batch 000001 · voucher 000123 · RRN 332914567890 · auth A1B2C3 · 2026-11-25"
        );
        assert_eq!(only(true, false).summary(), "RRN 332914567890 · 2026-11-25");
    }

    #[test]
    fn the_date_has_one_text() {
        assert_eq!(full().date_text(), "2026-11-25");
        assert_eq!(OriginalRef::parse_date("2026-11-25").unwrap(), full().date);
        for bad in ["2026-11-5", "2026-02-30", "26-11-25", "2026/11/25", "+2026-11-25", " 2026-11-25", ""] {
            let e = OriginalRef::parse_date(bad).unwrap_err().to_string();
            assert!(e.starts_with("original.date is not valid"), "{bad:?}: {e}");
        }
    }
}
