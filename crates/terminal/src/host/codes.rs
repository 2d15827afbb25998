//! Field 39 response codes as data: category, the cashier's text in Chinese and English, and the
//! decline reason the terminal acts on; a row can be replaced, as acquirers differ.

use std::borrow::Cow;

/// The response code table's categories.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// Success.
    A,
    /// Failed, may retry.
    B,
    /// Failed, do not retry.
    C,
    /// Failed, the cashier acts (pick up the card).
    D,
    /// System fault, do not retry.
    E,
}

/// What a decline means to the terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeclineReason {
    /// Refer to the card issuer.
    CallIssuer,
    /// Merchant or terminal not registered.
    Merchant,
    /// Keep the card.
    PickUp,
    /// Declined by the issuer.
    Declined,
    /// Amount not allowed.
    InvalidAmount,
    /// Invalid or expired card.
    InvalidCard,
    /// The terminal is out of step (batch, keys): sign in again.
    SignInAgain,
    /// The original of a reversal/void/refund is unknown.
    OriginalNotFound,
    /// The host refused the message (format, duplicate).
    HostRejected,
    /// Insufficient funds or over the card's limit.
    InsufficientFunds,
    /// Wrong PIN.
    WrongPin,
    /// Host or issuer unavailable: try later.
    HostUnavailable,
    /// A code not in the table.
    Unknown,
}

/// One row of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseCode {
    /// The two characters of field 39.
    pub code: Cow<'static, str>,
    /// The category.
    pub category: Category,
    /// Cashier text, Chinese.
    pub zh: Cow<'static, str>,
    /// Cashier text, English.
    pub en: Cow<'static, str>,
    /// None for an approval.
    pub reason: Option<DeclineReason>,
}

/// What to show and do for a field 39 value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The category, None for a code not in the table.
    pub category: Option<Category>,
    /// Cashier text, Chinese.
    pub zh: Cow<'static, str>,
    /// Cashier text, English.
    pub en: Cow<'static, str>,
    /// None for an approval; [`DeclineReason::Unknown`] for a code not in the table.
    pub reason: Option<DeclineReason>,
}

impl Outcome {
    /// Whether the code approves the transaction.
    pub fn approved(&self) -> bool {
        self.category == Some(Category::A)
    }
}

/// The response codes one host link knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseTable {
    rows: Vec<ResponseCode>,
}

impl ResponseTable {
    /// The UnionPay table of the plan (§1.5).
    pub fn unionpay() -> Self {
        use Category::*;
        use DeclineReason::*;
        type Row = (&'static str, Category, &'static str, &'static str, Option<DeclineReason>);
        const ROWS: [Row; 25] = [
            ("00", A, "交易成功", "Approved", None),
            ("01", C, "交易失败，请联系发卡行", "Declined: call the card issuer", Some(CallIssuer)),
            ("03", C, "商户未登记", "Merchant not registered with the acquirer", Some(Merchant)),
            ("04", D, "没收卡，请联系收单行", "Keep the card and call the acquirer", Some(PickUp)),
            ("05", C, "交易失败，请联系发卡行", "Declined by the card issuer", Some(Declined)),
            ("07", D, "没收卡，请联系收单行", "Keep the card and call the acquirer", Some(PickUp)),
            ("12", C, "发卡行不支持的交易", "The card issuer does not support this transaction", Some(Declined)),
            ("13", B, "交易金额超限，请重试", "Amount not allowed", Some(InvalidAmount)),
            ("14", B, "无效卡号，请联系发卡行", "Invalid card", Some(InvalidCard)),
            ("22", C, "操作有误，请重试", "Terminal out of step: sign in again", Some(SignInAgain)),
            ("25", C, "未找到原交易", "Original transaction not found", Some(OriginalNotFound)),
            ("30", C, "格式错误请联系客服", "Message format error (call support)", Some(HostRejected)),
            ("33", C, "过期卡请换卡重试", "Card expired", Some(InvalidCard)),
            ("41", D, "没收卡", "Keep the card and call the acquirer", Some(PickUp)),
            ("43", D, "没收卡", "Keep the card and call the acquirer", Some(PickUp)),
            ("51", C, "余额不足", "Insufficient funds", Some(InsufficientFunds)),
            ("54", C, "过期卡请换卡重试", "Card expired", Some(InvalidCard)),
            ("55", B, "密码错误请重试", "Wrong PIN", Some(WrongPin)),
            ("61", C, "超出金额限制", "Over the card's limit", Some(InsufficientFunds)),
            ("77", C, "请重新签到", "Batch out of step: sign in again", Some(SignInAgain)),
            ("91", E, "交易失败，请稍后重试", "Card issuer unavailable: try later", Some(HostUnavailable)),
            ("94", C, "重复交易", "Duplicate transaction", Some(HostRejected)),
            ("96", E, "交易失败，请稍后重试", "Host fault: try later", Some(HostUnavailable)),
            ("97", C, "终端未登记", "Terminal not registered", Some(Merchant)),
            ("A0", E, "校验错，请重新签到", "Security check failed: sign in again", Some(SignInAgain)),
        ];
        let rows = ROWS
            .iter()
            .map(|&(code, category, zh, en, reason)| ResponseCode {
                code: Cow::Borrowed(code),
                category,
                zh: Cow::Borrowed(zh),
                en: Cow::Borrowed(en),
                reason,
            })
            .collect();
        ResponseTable { rows }
    }

    /// The row for `code`, if the table has one.
    pub fn get(&self, code: &str) -> Option<&ResponseCode> {
        self.rows.iter().find(|r| r.code == code)
    }

    /// Adds or replaces the row for `row.code`.
    pub fn set(&mut self, row: ResponseCode) {
        match self.rows.iter_mut().find(|r| r.code == row.code) {
            Some(existing) => *existing = row,
            None => self.rows.push(row),
        }
    }

    /// What to show for `code`; an unknown code is "交易失败" / "Transaction failed (code XX)".
    pub fn describe(&self, code: &str) -> Outcome {
        match self.get(code) {
            Some(r) => Outcome { category: Some(r.category), zh: r.zh.clone(), en: r.en.clone(), reason: r.reason },
            None => {
                // The code comes from the host: show only printable ASCII, at most 2 characters.
                let shown: String = code.chars().filter(|c| c.is_ascii_graphic()).take(2).collect();
                Outcome {
                    category: None,
                    zh: Cow::Borrowed("交易失败"),
                    en: Cow::Owned(format!("Transaction failed (code {shown})")),
                    reason: Some(DeclineReason::Unknown),
                }
            }
        }
    }
}

impl Default for ResponseTable {
    fn default() -> Self {
        ResponseTable::unionpay()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_codes_map_to_their_rows() {
        let t = ResponseTable::unionpay();
        let ok = t.describe("00");
        assert!(ok.approved());
        assert_eq!(ok.reason, None);
        let d = t.describe("51");
        assert_eq!((d.category, d.reason), (Some(Category::C), Some(DeclineReason::InsufficientFunds)));
        assert_eq!(d.zh, "余额不足");
        assert_eq!(t.describe("77").reason, Some(DeclineReason::SignInAgain));
        assert_eq!(t.describe("A0").category, Some(Category::E));
        for (code, reason) in
            [("04", DeclineReason::PickUp), ("07", DeclineReason::PickUp), ("54", DeclineReason::InvalidCard)]
        {
            assert_eq!(t.describe(code).reason, Some(reason), "{code}");
        }
    }

    #[test]
    fn every_test_host_decline_code_is_in_the_table() {
        // wire.md: the test host declines with these codes.
        let t = ResponseTable::unionpay();
        for code in
            ["01", "03", "04", "05", "12", "13", "14", "22", "25", "30", "33", "41", "43", "51", "54", "55", "61", "77"]
        {
            let row = t.get(code).unwrap_or_else(|| panic!("{code} missing"));
            assert!(row.reason.is_some(), "{code}");
        }
    }

    #[test]
    fn unknown_codes_say_transaction_failed_with_the_code() {
        let t = ResponseTable::unionpay();
        let u = t.describe("Q7");
        assert_eq!((u.category, u.reason), (None, Some(DeclineReason::Unknown)));
        assert_eq!(u.zh, "交易失败");
        assert_eq!(u.en, "Transaction failed (code Q7)");
        assert_eq!(t.describe("\u{7}\n").en, "Transaction failed (code )");
    }

    #[test]
    fn a_row_can_be_overridden() {
        let mut t = ResponseTable::unionpay();
        t.set(ResponseCode {
            code: "61".into(),
            category: Category::C,
            zh: "超出取款金额限制".into(),
            en: "Over the withdrawal limit".into(),
            reason: Some(DeclineReason::InsufficientFunds),
        });
        assert_eq!(t.describe("61").zh, "超出取款金额限制");
    }
}
