//! Lays out a UnionPay-style sales slip (签购单) at thermal-printer width: bilingual field
//! titles, large amount, the cardholder's signature and a verification QR code, all bilevel.

use crate::render::canvas::Canvas;
use crate::render::text::Align;
pub use crate::render::text::{Fonts, RenderError, DEFAULT_FONT_PATHS};

mod settlement;
mod sheet;
pub use settlement::{compose_settlement_slip, CurrencySection, KindRow, SettlementView, SETTLEMENT_TITLE};
use sheet::{Scale, Sheet};

/// Paper width of the slip in printer dots (203 dpi).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SlipWidth {
    /// 80 mm paper, 576 dots.
    #[default]
    W576,
    /// 58 mm paper, 384 dots.
    W384,
}

impl SlipWidth {
    /// Width in pixels.
    pub fn pixels(self) -> u32 {
        match self {
            SlipWidth::W576 => 576,
            SlipWidth::W384 => 384,
        }
    }
}

/// Everything printed on a slip, already formatted as text by the caller.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SlipView {
    /// Up to 40 characters, Chinese or Latin.
    pub merchant_name: String,
    pub merchant_id: String,
    pub terminal_id: String,
    pub operator: String,
    /// Address; long text wraps.
    pub location: String,
    /// Masked, e.g. `**** **** **** 3446`.
    pub card_number: String,
    pub card_brand_zh: String,
    pub card_brand_en: String,
    pub entry_mode_zh: String,
    pub entry_mode_en: String,
    pub cardholder: Option<String>,
    pub kind_zh: String,
    pub kind_en: String,
    pub batch: String,
    pub voucher: String,
    pub trace: String,
    pub rrn: String,
    pub auth_code: String,
    /// e.g. `2026/11/25 14:03:11 UTC+08:00`.
    pub date_time: String,
    /// The original's parts a void, refund or completion prints (原凭证号, 原参考号, 原授权码,
    /// 原交易日期), each `None` when the receipt does not know it or has no original.
    pub original_voucher: Option<String>,
    pub original_rrn: Option<String>,
    pub original_auth_code: Option<String>,
    /// e.g. `2026/11/24`.
    pub original_date: Option<String>,
    /// e.g. `RMB 128.50`, or `RMB -128.50` for money given back (a void, a refund).
    pub amount: String,
    /// The amount is held, not charged (a pre-authorisation): titled 预授权金额 PRE-AUTH AMOUNT.
    pub hold: bool,
    pub receipt_id: String,
    /// Which copy this is, e.g. 持卡人存根 / CARDHOLDER COPY.
    pub copy_zh: String,
    pub copy_en: String,
    /// Lines printed large under the heading and again above the amount, e.g. a simulated
    /// sale's 模拟交易 未经授权 / SIMULATED, NOT AUTHORISED. Empty on a real sale's slip.
    pub notice: Vec<String>,
    /// A reprint: the banner 重打印凭证 / DUPLICATE is printed large under the heading.
    pub duplicate: bool,
}

/// The banner of a reprint, in both languages.
pub const DUPLICATE_BANNER: [&str; 2] = ["重打印凭证", "DUPLICATE"];

/// A QR code symbol as a module matrix, without its quiet zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QrModules {
    /// Modules per side.
    pub size: usize,
    /// `size * size` modules, row-major, `true` = dark.
    pub dark: Vec<bool>,
}

/// Draws the slip. `signature` is called once with the signature box size and must return a
/// canvas of that size (ink is any pixel below 128; anything outside the box is clipped).
/// The result is bilevel, `width` pixels wide and a multiple of 64 pixels tall.
pub fn compose_slip(
    view: &SlipView,
    fonts: &Fonts,
    width: SlipWidth,
    signature: &dyn Fn(u32, u32) -> Canvas,
    qr: &QrModules,
) -> Result<Canvas, RenderError> {
    let sc = Scale::for_width(width);
    let mut s = Sheet::new(fonts, width.pixels(), &sc);
    let (body, big) = (sc.body, sc.emphasis);

    s.centered("银联POS签购单", sc.title)?;
    s.centered("UnionPay POS SALES SLIP", sc.subtitle)?;
    s.centered(&bilingual(&view.copy_zh, &view.copy_en), body)?;
    s.dashed_rule();
    if view.duplicate {
        for line in DUPLICATE_BANNER {
            s.centered(line, big)?;
        }
        s.dashed_rule();
    }
    if !view.notice.is_empty() {
        for line in &view.notice {
            s.centered(line, big)?;
        }
        s.dashed_rule();
    }

    s.label("商户名称 MERCHANT NAME")?;
    s.paragraph(&view.merchant_name, big, Align::Left)?;
    s.field("商户编号 MERCHANT NO.", &view.merchant_id, body)?;
    s.field("终端编号 TERMINAL NO.", &view.terminal_id, body)?;
    s.field("操作员号 OPERATOR NO.", &view.operator, body)?;
    s.label("地址 LOCATION")?;
    s.paragraph(&view.location, body, Align::Left)?;
    s.dashed_rule();

    s.field("卡号 CARD NO.", &bilingual(&view.entry_mode_zh, &view.entry_mode_en), body)?;
    s.paragraph(&view.card_number, big, Align::Left)?;
    s.field("发卡行 CARD TYPE", &bilingual(&view.card_brand_zh, &view.card_brand_en), body)?;
    if let Some(holder) = &view.cardholder {
        s.field("持卡人 CARDHOLDER", holder, body)?;
    }
    for f in transaction_fields(view) {
        s.field(f.title, &f.value, if f.emphasis { big } else { body })?;
    }
    s.dashed_rule();

    // The amount must stay on one line: shrink huge amounts rather than wrap them.
    let mut amount = sc.amount;
    while amount.size > big.size && fonts.measure_styled(&view.amount, amount)? > s.content_width() {
        amount.size -= 2;
    }
    for line in &view.notice {
        s.centered(line, big)?;
    }
    s.field(amount_title(view), &view.amount, amount)?;
    s.field("备注 REFERENCE", &view.receipt_id, body)?;
    s.label("持卡人签名 CARDHOLDER SIGNATURE")?;
    s.signature(signature)?;
    s.paragraph("本人确认以上交易，同意将其记入本卡账户", sc.small, Align::Left)?;
    s.paragraph("I ACKNOWLEDGE SATISFACTORY RECEIPT OF RELATIVE GOODS/SERVICES", sc.small, Align::Left)?;
    s.dashed_rule();
    // The quiet zone is blank anyway: no need for the rule's own gap as well.
    s.y -= sc.rule_gap;
    s.qr(qr)?;
    s.centered("扫码验签 SCAN TO VERIFY", body)?;
    Ok(s.finish())
}

/// A line of the slip: a title on the left, its value on the right.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlipField {
    pub title: &'static str,
    pub value: String,
    /// Printed large (the transaction type).
    pub emphasis: bool,
}

/// The transaction's lines as the slip prints them, in order: the type, batch, voucher, trace,
/// RRN and authorisation code, then the parts of the original present (原凭证号 ORIG VOUCHER,
/// 原参考号 ORIG RRN, 原授权码 ORIG AUTH CODE, 原交易日期 ORIG DATE), then the date and time.
pub fn transaction_fields(view: &SlipView) -> Vec<SlipField> {
    let field = |title, value: &str| SlipField { title, value: value.to_owned(), emphasis: false };
    let mut fields = vec![
        SlipField { title: "交易类型 TRANS TYPE", value: bilingual(&view.kind_zh, &view.kind_en), emphasis: true },
        field("批次号 BATCH NO.", &view.batch),
        field("凭证号 VOUCHER NO.", &view.voucher),
        field("流水号 TRACE NO.", &view.trace),
        field("参考号 REF. NO.", &view.rrn),
        field("授权码 AUTH NO.", &view.auth_code),
    ];
    let original = [
        ("原凭证号 ORIG VOUCHER", &view.original_voucher),
        ("原参考号 ORIG RRN", &view.original_rrn),
        ("原授权码 ORIG AUTH CODE", &view.original_auth_code),
        ("原交易日期 ORIG DATE", &view.original_date),
    ];
    fields.extend(original.into_iter().filter_map(|(title, v)| v.as_deref().map(|v| field(title, v))));
    fields.push(field("日期时间 DATE/TIME", &view.date_time));
    fields
}

/// The title of the amount: 金额 AMOUNT, or 预授权金额 PRE-AUTH AMOUNT for a hold.
pub fn amount_title(view: &SlipView) -> &'static str {
    if view.hold {
        "预授权金额 PRE-AUTH AMOUNT"
    } else {
        "金额 AMOUNT"
    }
}

/// "中文 English", or just one of them when the other is empty.
fn bilingual(zh: &str, en: &str) -> String {
    match (zh.is_empty(), en.is_empty()) {
        (false, false) => format!("{zh} {en}"),
        (true, _) => en.to_string(),
        (false, true) => zh.to_string(),
    }
}

#[cfg(test)]
mod tests;
