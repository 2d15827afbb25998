//! The original transaction a void, refund or completion refers to (原交易).
//! STUB for the terminal's work while record version 3 is built (h/record-v3 replaces it).

use chrono::NaiveDate;

use super::{AuthCode, BatchNo, ReceiptId, Rrn, VoucherNo};

/// What a receipt knows of its original: all of it for a void on the same terminal, the RRN
/// and date for a refund, the authorisation code and date for a completion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OriginalRef {
    pub receipt_id: Option<ReceiptId>,
    pub batch: Option<BatchNo>,
    pub voucher: Option<VoucherNo>,
    pub rrn: Option<Rrn>,
    pub auth_code: Option<AuthCode>,
    pub date: NaiveDate,
}
