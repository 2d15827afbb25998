//! What the portal's pages are made of: the layout, the home page, the language switch, and the
//! receipt list, detail and verification blocks the three roles share.

use axum::extract::Query;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use ereceipt_core::model::{
    Authorisation, Currency, LocalTime, Money, MoneyLayout, TimeLayout, TransactionType, SIMULATED_NOTICE,
    SIMULATED_NOTICE_ZH,
};
use ereceipt_core::verify::{Verdict, Verification};
use maud::{html, Markup, DOCTYPE};
use serde::Deserialize;

use super::{cookie_header, Ctx, Lang, PageError};
use crate::domain::delivery::{Channel, DeliveryState, DeliveryStep};
use crate::domain::lineage::LinkState;
use crate::infra::store::{DeliveryEvent, DeliveryRow, Family, StoredReceipt};
use crate::web::state::SharedState;
use crate::web::support::cookies::LANG_COOKIE;
use crate::web::support::safe_next;

const CSS: &str = include_str!("portal.css");

/// Who is looking, for the header (logout form) and for what the pages show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Viewer {
    Anonymous,
    /// A customer logged in with a code; the phone number.
    Customer(String),
    /// Staff; username and what they are.
    Staff(String, &'static str),
}

/// The page frame: header with the product name, the language switch and logout, then `body`.
pub(crate) fn layout(ctx: &Ctx, viewer: &Viewer, title: &str, body: Markup) -> Markup {
    let l = ctx.lang;
    let (switch_to, switch_label) = match l {
        Lang::Zh => ("en", "English"),
        Lang::En => ("zh", "中文"),
    };
    html! {
        (DOCTYPE)
        html lang=(if l == Lang::Zh { "zh-CN" } else { "en" }) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (l.t("e-Receipt", "电子签购单")) }
                link rel="stylesheet" href="/static/portal.css";
            }
            body {
                header.top {
                    a.brand href="/" { (l.t("e-Receipt", "电子签购单")) }
                    nav {
                        @match viewer {
                            Viewer::Customer(phone) => {
                                span.who { (phone) }
                                (logout_form(ctx, "/pull/logout"))
                            }
                            Viewer::Staff(name, _) => {
                                span.who { (name) }
                                (logout_form(ctx, "/staff/logout"))
                            }
                            Viewer::Anonymous => {}
                        }
                        a.lang href={ "/lang?to=" (switch_to) "&back=" (urlencode(&ctx.path)) } lang=(switch_to) { (switch_label) }
                    }
                }
                main { h1 { (title) } (body) }
            }
        }
    }
}

fn logout_form(ctx: &Ctx, action: &str) -> Markup {
    html! {
        form.inline method="post" action=(action) {
            input type="hidden" name="csrf" value=(ctx.csrf);
            button.link type="submit" id="logout" { (ctx.lang.t("Log out", "退出")) }
        }
    }
}

/// A form's hidden CSRF field.
pub(crate) fn csrf_field(ctx: &Ctx) -> Markup {
    html! { input type="hidden" name="csrf" value=(ctx.csrf); }
}

/// An error or notice line.
pub(crate) fn notice(kind: &str, text: Option<&str>) -> Markup {
    html! { @if let Some(t) = text { p class={ "notice " (kind) } role="alert" { (t) } } }
}

pub(crate) use crate::services::links::urlencode;

/// `GET /`: where customers and staff start.
pub async fn home(ctx: Ctx) -> Response {
    let l = ctx.lang;
    let body = html! {
        section.cards {
            a.card href="/pull" {
                h2 { (l.t("My receipts", "我的签购单")) }
                p { (l.t("Log in with the code we text to your phone.", "使用短信验证码登录查看。")) }
            }
            a.card href="/verify" {
                h2 { (l.t("Check a receipt", "验证签购单")) }
                p { (l.t("Upload a receipt image to see whether it is authentic.", "上传签购单图片，验证真伪。")) }
            }
            a.card href="/staff/login" {
                h2 { (l.t("Merchant and acquirer staff", "商户与收单机构")) }
                p { (l.t("Sign in with password and authenticator code.", "使用密码和动态口令登录。")) }
            }
        }
    };
    ctx.page(StatusCode::OK, layout(&ctx, &Viewer::Anonymous, l.t("Welcome", "欢迎使用"), body))
}

#[derive(Deserialize)]
pub struct LangQuery {
    to: String,
    back: Option<String>,
}

/// `GET /lang?to=zh&back=/path`: remembers the language and goes back.
pub async fn switch_language(Query(q): Query<LangQuery>) -> Response {
    let lang = if q.to == "zh" { "zh" } else { "en" };
    super::see_other(&safe_next(q.back.as_deref(), "/"), cookie_header(LANG_COOKIE, lang, 365 * 86400))
}

/// `GET /static/portal.css`.
pub async fn stylesheet() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")], CSS)
}

/// An amount as every portal page writes it, in either language: `1,234.50 CNY` (the code
/// after the digits, so that amounts line up in a column).
pub(crate) fn money(m: Money) -> String {
    m.format(MoneyLayout::CodeLast)
}

/// A receipt's amount with the sign of its kind: a void or refund is written negative.
pub(crate) fn signed_money(r: &StoredReceipt) -> String {
    r.amount.format_signed(MoneyLayout::CodeLast, r.kind.direction())
}

/// A sum that may be zero or negative (a net), in the layout of [`money`].
pub(crate) fn sum(minor: i64, currency: Currency) -> String {
    currency.format_sum(minor, MoneyLayout::CodeLast)
}

/// The transaction's kind as the portal names it.
pub(crate) fn kind_name(l: Lang, k: TransactionType) -> &'static str {
    match l {
        Lang::Zh => k.name_zh(),
        Lang::En => match k {
            TransactionType::Sale => "Sale",
            TransactionType::Void => "Void",
            TransactionType::Refund => "Refund",
            TransactionType::PreAuth => "Pre-authorisation",
            TransactionType::PreAuthCompletion => "Completion",
        },
    }
}

/// What a sale's or completion's voids and refunds left of it, when something was given back.
fn net_after_returns(r: &StoredReceipt) -> Option<i64> {
    (r.given_back_minor > 0).then(|| r.net_minor()).flatten()
}

/// The sale's time as the terminal showed it, as every portal page and the CSV export write it:
/// `2026-11-26 10:15:00 +08:00`.
pub(crate) fn local_time(t: LocalTime) -> String {
    t.format(TimeLayout::Page)
}

/// An instant (Unix ms: a delivery step, the end of a lock), in UTC, in the layout of
/// [`local_time`].
pub(crate) fn instant(ms: i64) -> String {
    LocalTime::new(ms.div_euclid(1000), 0).map(local_time).unwrap_or_else(|_| ms.to_string())
}

/// A table of receipts; each row links to `link(receipt)`.
pub(crate) fn receipt_table(l: Lang, items: &[StoredReceipt], link: impl Fn(&StoredReceipt) -> String) -> Markup {
    html! {
        @if items.is_empty() {
            p.empty { (l.t("No receipts.", "没有签购单。")) }
        } @else {
            div.scroll {
                table.receipts {
                    thead { tr {
                        th { (l.t("Time", "时间")) }
                        th { (l.t("Type", "类型")) }
                        th { (l.t("Merchant", "商户")) }
                        th.num { (l.t("Amount", "金额")) }
                        th { (l.t("Card", "卡号")) }
                        th { (l.t("Terminal / serial", "终端 / 凭证号")) }
                        th { "RRN" }
                    } }
                    tbody {
                        @for r in items {
                            tr {
                                td data-label=(l.t("Time", "时间")) { a href=(link(r)) { (local_time(r.time)) } }
                                td data-label=(l.t("Type", "类型")) { (kind_name(l, r.kind)) }
                                td data-label=(l.t("Merchant", "商户")) { (r.merchant_name) }
                                td.num data-label=(l.t("Amount", "金额")) {
                                    strong { (signed_money(r)) }
                                    @if let Some(net) = net_after_returns(r) {
                                        br; span.small.net { (l.t("net ", "净额 ")) (sum(net, r.amount.currency())) }
                                    }
                                }
                                td data-label=(l.t("Card", "卡号")) { (r.card_masked) }
                                td data-label=(l.t("Terminal / serial", "终端 / 凭证号")) { (r.terminal_id) " / " (format!("{:06}", r.serial)) }
                                td data-label="RRN" { (r.rrn) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A receipt's links: the original a void, refund or completion names (and whether the
/// platform could check it), the voids, refunds and completions that name this one, and what is
/// left of a sale once they are taken off. Each linked receipt links to `link(receipt)`.
pub(crate) fn lineage(l: Lang, r: &StoredReceipt, family: &Family, link: impl Fn(&StoredReceipt) -> String) -> Markup {
    if r.link.is_none() && family.children.is_empty() {
        return html! {};
    }
    html! {
        section.lineage id="lineage" {
            h2 { (l.t("Linked receipts", "关联交易")) }
            @if let Some(k) = &r.link {
                p id="link-state" data-state=(k.state.as_str()) data-problem=(k.problem.map_or("", |p| p.code())) {
                    @match k.state {
                        LinkState::Verified => { (l.t("Checked against its original: same merchant, amounts consistent.", "已与原交易核对：同一商户，金额相符。")) }
                        LinkState::Pending => { (l.t("Its original is not on record at the platform (yet): the link will be checked when it arrives.", "平台尚未收到原交易，收到后将核对关联。")) }
                        LinkState::Mismatch => {
                            strong { (l.t("Does not match its original: ", "与原交易不符：")) }
                            (k.problem.map_or("", |p| { let (en, zh) = p.describe(); l.t(en, zh) }))
                        }
                    }
                }
                @if let Some(o) = &family.original {
                    p { (l.t("Original: ", "原交易：")) a.original href=(link(o)) { (kind_name(l, o.kind)) " " (local_time(o.time)) " " (signed_money(o)) } " " code { (o.receipt_id) } }
                }
            }
            @if !family.children.is_empty() {
                table.receipts.children {
                    thead { tr {
                        th { (l.t("Time", "时间")) }
                        th { (l.t("Type", "类型")) }
                        th.num { (l.t("Amount", "金额")) }
                        th { (l.t("Link", "关联")) }
                    } }
                    tbody {
                        @for c in &family.children {
                            tr data-receipt=(c.receipt_id) {
                                td data-label=(l.t("Time", "时间")) { a href=(link(c)) { (local_time(c.time)) } }
                                td data-label=(l.t("Type", "类型")) { (kind_name(l, c.kind)) }
                                td.num data-label=(l.t("Amount", "金额")) { (signed_money(c)) }
                                td data-label=(l.t("Link", "关联")) { (link_state_name(l, c)) }
                            }
                        }
                    }
                }
            }
            @if let Some(net) = r.net_minor().filter(|_| !family.children.is_empty() || r.given_back_minor > 0) {
                p.net id="net" data-minor=(net) { strong { (l.t("Net: ", "净额：")) (sum(net, r.amount.currency())) } }
            }
        }
    }
}

pub(crate) fn link_state_name(l: Lang, c: &StoredReceipt) -> String {
    match c.link.as_ref() {
        Some(k) if k.state == LinkState::Mismatch => {
            let why = k.problem.map_or("", |p| {
                let (en, zh) = p.describe();
                l.t(en, zh)
            });
            format!("{}{why}", l.t("mismatch: ", "不符："))
        }
        Some(k) if k.state == LinkState::Pending => l.t("pending", "待核对").to_owned(),
        _ => l.t("verified", "已核对").to_owned(),
    }
}

/// What a role may see of deliveries.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeliveryDetail {
    /// Channel and state, not the customer's address (merchants).
    StateOnly,
    /// Everything, with the peer's answers (the customer's own receipt, the acquirer).
    Full,
}

/// One receipt: its image, its facts, the verification verdict and its deliveries.
pub(crate) fn receipt_detail(
    l: Lang,
    r: &StoredReceipt,
    image_url: &str,
    verification: &Verification,
    deliveries: &[(DeliveryRow, Vec<DeliveryEvent>)],
    detail: DeliveryDetail,
    extra: Markup,
) -> Markup {
    html! {
        (verdict(l, verification))
        div.detail {
            figure.slip {
                img src=(image_url) alt=(l.t("Receipt image", "签购单图片")) width="360";
                figcaption {
                    a.button href={ (image_url) (if image_url.contains('?') { "&" } else { "?" }) "download=1" } id="download" download { (l.t("Download PNG", "下载 PNG")) }
                    " "
                    a.button.secondary href={ (image_url) (if image_url.contains('?') { "&" } else { "?" }) "download=1&format=pdf" } id="download-pdf" download { "PDF" }
                    " "
                    a.button.secondary href={ (image_url) (if image_url.contains('?') { "&" } else { "?" }) "download=1&format=evidence" } id="download-evidence" download { (l.t("Evidence", "存证")) }
                    p.small { (l.t("The PNG is the signed original that verifies; the PDF is for printing and filing.", "PNG 为可验证的签名原件；PDF 便于打印和存档。")) }
                    p.small { (l.t("The evidence file is the platform's signed statement of when it stored this receipt: `ereceipt verify RECEIPT.png --trust ca.pem --evidence FILE` then judges the signer at that time.",
                                   "存证文件是平台签名的入库时间证明：用 `ereceipt verify RECEIPT.png --trust ca.pem --evidence FILE` 验证时，将按该时间判断签名证书。")) }
                }
            }
            div.facts {
                dl {
                    dt { (l.t("Merchant", "商户")) } dd { (r.merchant_name) " (" (r.merchant_id) ")" }
                    dt { (l.t("Type", "类型")) } dd.kind { (kind_name(l, r.kind)) }
                    dt { (l.t("Amount", "金额")) } dd.amount { (signed_money(r)) }
                    dt { (l.t("Time", "时间")) } dd { (local_time(r.time)) }
                    dt { (l.t("Card", "卡号")) } dd { (r.card_masked) " " (r.card_brand) }
                    dt { (l.t("Terminal", "终端")) } dd { (r.terminal_id) }
                    dt { (l.t("Batch / serial", "批次号 / 凭证号")) } dd { (format!("{:06} / {:06}", r.batch, r.serial)) }
                    dt { "RRN" } dd.rrn { (r.rrn) }
                    dt { (l.t("Authorisation code", "授权码")) } dd { (r.auth_code) }
                    dt { (l.t("Receipt id", "签购单编号")) } dd { code { (r.receipt_id) } }
                }
                @if !deliveries.is_empty() {
                    h2 { (l.t("Delivery", "发送")) }
                    ul.deliveries {
                        @for (d, events) in deliveries {
                            li {
                                strong { (channel_name(l, d.channel)) }
                                @if detail == DeliveryDetail::Full { " → " (d.recipient) }
                                " · " span class={ "state " (d.state.as_str()) } { (state_name(l, d.state)) }
                                @if detail == DeliveryDetail::Full {
                                    ul.history {
                                        @for e in events {
                                            li { (instant(e.at)) " " (step_name(l, e.state)) @if !e.answer.is_empty() { " — " (e.answer) } }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                (extra)
            }
        }
    }
}

/// Whether the platform holds the receipt that was checked.
pub(crate) fn platform_record(l: Lang, p: &crate::services::verification::PlatformRecord) -> Markup {
    html! {
        p.small id="platform-record" data-holds=(p.holds) data-faithful=(p.faithful_copy.map_or("unknown", |f| if f { "yes" } else { "no" })) {
            @match (p.holds, p.faithful_copy, &p.stored_at) {
                (true, Some(true), Some(at)) => { (l.t("On record at the platform: stored at ", "平台已存档：入库时间 ")) (at) (l.t("; this file is a faithful copy of the stored original.", "；此文件与存档原件一致。")) }
                (true, _, Some(at)) => { (l.t("On record at the platform: stored at ", "平台已存档：入库时间 ")) (at) (l.t("; this file is NOT a faithful copy of the stored original (other pixels).", "；此文件与存档原件不一致（像素不同）。")) }
                _ => { (l.t("Unknown to the platform: it never received this receipt.", "平台未收到过这张签购单。")) }
            }
        }
    }
}

/// The verdict box.
pub(crate) fn verdict(l: Lang, v: &Verification) -> Markup {
    let (class, text) = match v.verdict {
        Verdict::Authentic => {
            ("ok", l.t("Authentic: signed by the terminal and unaltered", "真实：终端签名，未被篡改"))
        }
        Verdict::Tampered => ("bad", l.t("Tampered: the image or its data was altered", "已篡改：图片或数据被修改")),
        Verdict::Unverifiable => ("warn", l.t("Cannot be verified", "无法验证")),
        Verdict::Unconfirmed => (
            "warn",
            l.t(
                "Unconfirmed: its signer was revoked and nothing dates it before that",
                "未确认：签名证书已吊销，无法证明其签于吊销之前",
            ),
        ),
    };
    html! {
        div class={ "verdict " (class) } id="verdict" data-verdict=(format!("{:?}", v.verdict).to_lowercase()) {
            strong { (text) }
            @if let Some(s) = &v.signer { p.small { (l.t("Signer: ", "签名者：")) (s.subject) } }
            @if v.verdict != Verdict::Authentic { p.small { (v.reason) } }
            @if v.claims.as_ref().is_some_and(|c| c.authorisation == Authorisation::Simulated) {
                p id="simulated" {
                    strong { (SIMULATED_NOTICE_ZH) " / " (SIMULATED_NOTICE) }
                    " " (l.t("A simulator approved this sale, not the acquirer: it records no real payment.",
                             "此交易由模拟器批准，并非收单机构授权，不代表真实付款。"))
                }
            }
        }
    }
}

/// The receipt with its verdict drawn on it (from [`super::picture`]); phones save it with a
/// long press, so the page does not carry the picture twice for a download link.
pub(crate) fn verdict_picture(l: Lang, data_url: &str) -> Markup {
    html! {
        figure.slip id="verdict-picture" {
            img src=(data_url) alt=(l.t("The receipt with its verdict: altered areas outlined in red",
                                        "签购单及验证结果：被改动处以红框标出"));
        }
    }
}

fn channel_name(l: Lang, c: Channel) -> &'static str {
    match c {
        Channel::Sms => l.t("SMS", "短信"),
        Channel::Mms => l.t("MMS", "彩信"),
        Channel::Email => l.t("Email", "电子邮件"),
    }
}

fn state_name(l: Lang, s: DeliveryState) -> &'static str {
    match s {
        DeliveryState::Queued => l.t("queued", "排队中"),
        DeliveryState::Sending => l.t("sending", "发送中"),
        DeliveryState::Sent => l.t("sent", "已发送"),
        DeliveryState::Delivered => l.t("delivered", "已送达"),
        DeliveryState::Failed => l.t("failed", "失败"),
    }
}

fn step_name(l: Lang, s: DeliveryStep) -> &'static str {
    match s {
        DeliveryStep::Queued => l.t("queued", "排队中"),
        DeliveryStep::Interrupted => l.t("interrupted, resumed", "中断后继续"),
        DeliveryStep::Sent => l.t("sent", "已发送"),
        DeliveryStep::Retry => l.t("will retry", "将重试"),
        DeliveryStep::Failed => l.t("failed", "失败"),
        DeliveryStep::Delivered => l.t("delivered", "已送达"),
        DeliveryStep::Report => l.t("report", "状态报告"),
        DeliveryStep::Held => l.t("not sent yet", "暂缓发送"),
    }
}

/// A plain page for "not found", "not yours" alike (never tells which).
pub(crate) fn not_found(ctx: &Ctx, viewer: &Viewer) -> Response {
    let l = ctx.lang;
    let body = html! { p { (l.t("There is no such receipt among yours.", "您的签购单中没有这一张。")) } };
    ctx.page(StatusCode::NOT_FOUND, layout(ctx, viewer, l.t("Not found", "未找到"), body))
}

/// How a receipt page shows one receipt to one viewer.
pub(crate) struct DetailPage<'a> {
    pub ctx: &'a Ctx,
    pub viewer: &'a Viewer,
    /// Where its image is served for this viewer.
    pub image_url: String,
    pub detail: DeliveryDetail,
    /// Links under the facts (back, bundle…).
    pub extra: Markup,
    /// The page heading.
    pub title: &'a str,
}

/// The receipt page of `r` (already checked to be the viewer's): its stored image verified
/// now, its deliveries, its facts.
pub(crate) async fn detail_page(
    st: &SharedState,
    r: &StoredReceipt,
    page: DetailPage<'_>,
) -> Result<Response, PageError> {
    let png = st.store.receipt_image(&r.receipt_id).await?.unwrap_or_default();
    let verification = crate::services::verification::verify(&st.store, &st.keys.ca.cert_der, png).await?.verification;
    let deliveries = st.store.deliveries_of(&r.receipt_id).await?;
    let l = page.ctx.lang;
    let body = receipt_detail(l, r, &page.image_url, &verification, &deliveries, page.detail, page.extra);
    Ok(page.ctx.page(StatusCode::OK, layout(page.ctx, page.viewer, page.title, body)))
}

/// The stored image of `id` (already checked to be the viewer's) as PNG, or as PDF when
/// `?format=pdf`; 404 if there is none.
pub(crate) async fn stored_image(st: &SharedState, id: &str, q: &DownloadQuery) -> Result<Response, PageError> {
    if q.format.as_deref() == Some("evidence") {
        return evidence_download(st, id, q.wanted()).await;
    }
    let Some(png) = st.store.receipt_image(id).await? else { return Ok(StatusCode::NOT_FOUND.into_response()) };
    if q.format.as_deref() != Some("pdf") {
        return Ok(png_response(id, png, q.wanted()));
    }
    let title = format!("Receipt {id}");
    match tokio::task::spawn_blocking(move || super::pdf::receipt_pdf(&png, &title)).await {
        Ok(Ok(pdf)) => {
            let disposition = if q.wanted() { "attachment" } else { "inline" };
            Ok((
                [
                    (header::CONTENT_TYPE, "application/pdf".to_owned()),
                    (header::CONTENT_DISPOSITION, format!("{disposition}; filename=\"{id}.pdf\"")),
                ],
                pdf,
            )
                .into_response())
        }
        Ok(Err(e)) => {
            tracing::error!(receipt = %id, error = %e, "PDF failed");
            Ok((StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response())
        }
        Err(e) => Ok((StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response()),
    }
}

/// The evidence file of `id` (already checked to be the viewer's).
async fn evidence_download(st: &SharedState, id: &str, download: bool) -> Result<Response, PageError> {
    let Some(r) = st.store.receipt(id).await? else { return Ok(StatusCode::NOT_FOUND.into_response()) };
    match crate::services::verification::evidence_text(&st.keys, &r) {
        Ok(text) => {
            let disposition = if download { "attachment" } else { "inline" };
            Ok((
                [
                    (header::CONTENT_TYPE, "text/plain; charset=utf-8".to_owned()),
                    (header::CONTENT_DISPOSITION, format!("{disposition}; filename=\"{id}.evidence.txt\"")),
                ],
                text,
            )
                .into_response())
        }
        Err(e) => {
            tracing::error!(receipt = %id, error = %e, "evidence failed");
            Ok((StatusCode::INTERNAL_SERVER_ERROR, "the evidence cannot be made").into_response())
        }
    }
}

/// A stored PNG as a response: inline, or as a download with `?download=1`.
pub(crate) fn png_response(id: &str, png: Vec<u8>, download: bool) -> Response {
    let disposition =
        if download { format!("attachment; filename=\"{id}.png\"") } else { format!("inline; filename=\"{id}.png\"") };
    ([(header::CONTENT_TYPE, "image/png".to_owned()), (header::CONTENT_DISPOSITION, disposition)], png).into_response()
}

#[derive(Deserialize, Default)]
pub struct DownloadQuery {
    /// `1`: as an attachment.
    pub download: Option<String>,
    /// `pdf`: a one-page PDF instead of the PNG; `evidence`: the platform's evidence file.
    pub format: Option<String>,
    /// The link token of `/r/{id}` (checked there).
    pub k: Option<String>,
}

impl DownloadQuery {
    pub(crate) fn wanted(&self) -> bool {
        self.download.as_deref().is_some_and(|d| d == "1")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_uses_the_currency_exponent() {
        let money_of = |minor, code: &str| money(Money::new(minor, code.parse().unwrap()).unwrap());
        assert_eq!(money_of(12850, "CNY"), "128.50 CNY");
        assert_eq!(money_of(1234567, "CNY"), "12,345.67 CNY");
        assert_eq!(money_of(500, "JPY"), "500 JPY");
        assert_eq!(money_of(50_000, "KRW"), "50,000 KRW");
        assert_eq!(money_of(1_234_567, "BHD"), "1,234.567 BHD");
    }

    #[test]
    fn local_time_keeps_the_terminal_offset() {
        let t = LocalTime::new(1_764_000_000, 480).unwrap();
        assert_eq!(local_time(t), "2025-11-25 00:00:00 +08:00");
        assert_eq!(local_time(t.in_utc()), "2025-11-24 16:00:00 +00:00");
        assert_eq!(instant(1_764_000_000_999), "2025-11-24 16:00:00 +00:00");
    }

    #[test]
    fn markup_escapes_what_visitors_typed() {
        let r = notice("error", Some("<script>alert(1)</script>")).into_string();
        assert!(!r.contains("<script>"), "{r}");
        assert!(r.contains("&lt;script&gt;"), "{r}");
    }

    /// Through the router as a browser sends it: `%09` arrives as a tab, which browsers would
    /// drop from `Location`, turning `/\t/evil.example` into `//evil.example`.
    #[tokio::test]
    async fn language_switch_never_leaves_the_site() {
        use axum::body::Body;
        use axum::http::Request;
        use tower::ServiceExt;
        let app = axum::Router::new()
            .route("/lang", axum::routing::get(switch_language))
            .layer(axum::middleware::from_fn(super::super::security_headers));
        for (back, to) in [
            ("/%09/evil.example", "/"),
            ("/%0A/evil.example", "/"),
            ("%2F%2Fevil.example", "/"),
            ("https://evil.example", "/"),
            ("/merchant/receipts?page=2", "/merchant/receipts?page=2"),
        ] {
            let req = Request::get(format!("/lang?to=en&back={back}")).body(Body::empty()).expect("request");
            let res = app.clone().oneshot(req).await.expect("answer");
            assert_eq!(res.status(), StatusCode::SEE_OTHER, "{back}");
            let location = res.headers().get(header::LOCATION).and_then(|v| v.to_str().ok());
            assert_eq!(location, Some(to), "{back}");
        }
    }
}
