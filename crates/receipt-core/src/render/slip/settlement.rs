//! Lays out a settlement slip (结算单) on the sales slip's sheet: merchant and batch, the
//! period, per currency the count and total of each kind (and of each card brand within it),
//! the net total, the host's answer and the verification QR code.

use super::sheet::{Scale, Sheet};
use super::{QrModules, SlipWidth};
use crate::render::canvas::Canvas;
use crate::render::text::{Align, Fonts, RenderError};

/// Everything printed on a settlement slip, already formatted as text by the caller.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SettlementView {
    pub merchant_name: String,
    pub merchant_id: String,
    pub terminal_id: String,
    pub operator: String,
    pub batch: String,
    /// The first and last transaction's date and time, `None` for an empty batch.
    pub first: Option<String>,
    pub last: Option<String>,
    pub settled_at: String,
    /// One section per currency.
    pub sections: Vec<CurrencySection>,
    /// The host's answer, e.g. 对账平 / BALANCED.
    pub answer_zh: String,
    pub answer_en: String,
}

/// The totals of one currency.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CurrencySection {
    /// e.g. `CNY`.
    pub currency: String,
    pub kinds: Vec<KindRow>,
    /// e.g. `RMB 1,020.00`, `RMB -50.00`.
    pub net: String,
}

/// One kind of transaction: its own line, then one per card brand.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KindRow {
    /// e.g. `消费 SALE`.
    pub title: String,
    /// e.g. `2`.
    pub count: String,
    /// e.g. `RMB 1,020.00`.
    pub total: String,
    /// (brand, count, total), e.g. (`银联 UnionPay`, `2`, `RMB 1,020.00`).
    pub brands: Vec<(String, String, String)>,
}

/// The slip's heading, in both languages.
pub const SETTLEMENT_TITLE: [&str; 2] = ["结算单", "SETTLEMENT"];

/// Draws the settlement slip; bilevel, `width` pixels wide and a multiple of 64 pixels tall.
pub fn compose_settlement_slip(
    view: &SettlementView,
    fonts: &Fonts,
    width: SlipWidth,
    qr: &QrModules,
) -> Result<Canvas, RenderError> {
    let sc = Scale::for_width(width);
    let mut s = Sheet::new(fonts, width.pixels(), &sc);
    let (body, big) = (sc.body, sc.emphasis);

    s.centered(SETTLEMENT_TITLE[0], sc.title)?;
    s.centered(SETTLEMENT_TITLE[1], sc.subtitle)?;
    s.dashed_rule();
    s.label("商户名称 MERCHANT NAME")?;
    s.paragraph(&view.merchant_name, big, Align::Left)?;
    s.field("商户编号 MERCHANT NO.", &view.merchant_id, body)?;
    s.field("终端编号 TERMINAL NO.", &view.terminal_id, body)?;
    s.field("操作员号 OPERATOR NO.", &view.operator, body)?;
    s.field("批次号 BATCH NO.", &view.batch, big)?;
    if let (Some(first), Some(last)) = (&view.first, &view.last) {
        s.field("起始 FROM", first, body)?;
        s.field("截止 TO", last, body)?;
    } else {
        s.field("交易 TRANSACTIONS", "0", body)?;
    }
    s.field("结算时间 SETTLED AT", &view.settled_at, body)?;
    s.dashed_rule();

    for section in &view.sections {
        s.field("币种 CURRENCY", &section.currency, big)?;
        s.field("类型 TYPE", "笔数 COUNT / 金额 AMOUNT", sc.small)?;
        for kind in &section.kinds {
            s.field(&kind.title, &format!("{}  {}", kind.count, kind.total), body)?;
            for (brand, count, total) in &kind.brands {
                s.field(&format!("  {brand}"), &format!("{count}  {total}"), sc.small)?;
            }
        }
        s.field("净额 NET", &section.net, big)?;
        s.dashed_rule();
    }
    if view.sections.is_empty() {
        s.centered("无交易 NO TRANSACTIONS", body)?;
        s.dashed_rule();
    }

    s.centered(&view.answer_zh, big)?;
    s.centered(&view.answer_en, big)?;
    s.dashed_rule();
    s.y -= sc.rule_gap;
    s.qr(qr)?;
    s.centered("扫码验签 SCAN TO VERIFY", body)?;
    Ok(s.finish())
}
