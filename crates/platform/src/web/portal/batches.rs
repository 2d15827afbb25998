//! Settled batches (issue 13): merchant staff list their merchant's settlement slips (结算单)
//! with the platform's reconciliation of each, and open one batch beside its receipts; the
//! acquirer opens any merchant's. Another merchant's batch is "not found", as a receipt is.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ereceipt_core::card::CardBrand;
use ereceipt_core::contract::{Difference, DifferenceIssue, MissingPlace, MissingReceipt, Reconciliation};
use ereceipt_core::model::{Currency, MoneyLayout, TransactionType};
use maud::{html, Markup};

use super::guards::{Merchant, Signed, ToLogin};
use super::receipts::Viewing;
use super::staff::viewer;
use super::views::{self, urlencode, DownloadQuery, Viewer};
use super::{Ctx, Lang, PageError};
use crate::infra::store::StoredReceipt;
use crate::services::settlement::{self, SettledBatch};
use crate::web::state::SharedState;
use crate::web::support::ReceiptScope;

/// Batches listed on one page.
const LIST: i64 = 100;

/// Which merchant's batches a scope may open (`Some(None)`: any merchant's), and where its
/// batch and receipt pages live; a customer opens none.
fn reach(scope: &ReceiptScope) -> Option<(Option<&str>, &'static str, &'static str)> {
    match scope {
        ReceiptScope::Merchant(id) => Some((Some(id.as_str()), "/merchant/batches", "/merchant/receipts")),
        ReceiptScope::Any => Some((None, "/acquirer/batches", "/acquirer/receipts")),
        ReceiptScope::Phone(_) => None,
    }
}

/// `T0000001-000001`: how a batch is named in pages and `data-batch`.
fn batch_name(terminal_id: &str, batch: i64) -> String {
    format!("{terminal_id}-{batch:06}")
}

/// The number of differences the list shows: each kind, brand and currency that differs, or
/// the receipts the chain shows missing when the counts agree all the same.
fn difference_count(r: &Reconciliation) -> usize {
    if r.differences.is_empty() {
        r.missing.len()
    } else {
        r.differences.len()
    }
}

fn reconciliation_word(l: Lang, r: &Reconciliation) -> String {
    if r.balanced {
        l.t("Balanced", "平账").to_owned()
    } else {
        let n = difference_count(r);
        match l {
            Lang::En if n == 1 => "1 difference".to_owned(),
            Lang::En => format!("{n} differences"),
            Lang::Zh => format!("{n} 处差异"),
        }
    }
}

/// The slip's receipts and net per currency, e.g. `3 · net 120.00 CNY`.
fn counts_and_net(l: Lang, b: &SettledBatch) -> Markup {
    let count: u64 = b.slip.lines().iter().map(|x| x.count).sum();
    html! {
        (count) " " (l.t("receipt(s)", "笔"))
        @for c in b.slip.currencies() {
            br; span.small.net { (l.t("net ", "净额 ")) (b.slip.net_total(c).format(MoneyLayout::CodeLast)) }
        }
    }
}

/// `GET /merchant/batches`: the merchant's settled batches, newest first.
pub async fn list(who: Merchant<ToLogin>, State(st): State<SharedState>, ctx: Ctx) -> Result<Response, PageError> {
    let l = ctx.lang;
    let batches = settlement::merchant_batches(&st.store, &who.merchant_id, LIST).await?;
    let body = html! {
        p.nav { a href="/merchant/receipts" { (l.t("Receipts", "签购单查询")) } }
        @if batches.is_empty() {
            p.empty { (l.t("No settled batches.", "没有已结算的批次。")) }
        } @else {
            div.scroll { table.receipts id="batches" {
                thead { tr {
                    th { (l.t("Terminal", "终端")) }
                    th { (l.t("Batch", "批次号")) }
                    th { (l.t("Settled at", "结算时间")) }
                    th.num { (l.t("Receipts / net", "笔数 / 净额")) }
                    th { (l.t("Host", "主机对账")) }
                    th { (l.t("Reconciliation", "平台核对")) }
                } }
                tbody {
                    @for b in &batches {
                        @let name = batch_name(&b.row.terminal_id, b.row.batch);
                        tr data-batch=(name) {
                            td data-label=(l.t("Terminal", "终端")) { (b.row.terminal_id) }
                            td data-label=(l.t("Batch", "批次号")) {
                                a href={ "/merchant/batches/" (urlencode(&b.row.terminal_id)) "/" (format!("{:06}", b.row.batch)) } { (format!("{:06}", b.row.batch)) }
                            }
                            td data-label=(l.t("Settled at", "结算时间")) { (views::local_time(b.slip.settled_at)) }
                            td.num data-label=(l.t("Receipts / net", "笔数 / 净额")) { (counts_and_net(l, b)) }
                            td data-label=(l.t("Host", "主机对账")) {
                                (if b.row.host_balanced { l.t("balanced", "对账平") } else { l.t("not balanced", "对账不平") })
                            }
                            td.reconciliation data-label=(l.t("Reconciliation", "平台核对")) { (reconciliation_word(l, &b.reconciliation)) }
                        }
                    }
                }
            } }
        }
    };
    let title = l.t("Settled batches", "结算批次");
    Ok(ctx.page(StatusCode::OK, views::layout(&ctx, &viewer(&who.account), title, body)))
}

/// A batch number in a path: six digits or the number itself.
fn batch_number(s: &str) -> Option<u32> {
    s.parse::<u32>().ok().filter(|n| *n <= 999_999)
}

/// The batch a viewer may open, or `None` (not found, not theirs, or a customer).
async fn opened(
    st: &SharedState,
    who: &Signed,
    terminal: &str,
    batch: &str,
) -> Result<Option<(SettledBatch, Vec<StoredReceipt>)>, PageError> {
    let (Some((merchant, _, _)), Some(batch)) = (reach(&who.scope), batch_number(batch)) else { return Ok(None) };
    Ok(settlement::batch(&st.store, merchant, terminal, batch).await?)
}

fn not_found(ctx: &Ctx, viewer: &Viewer) -> Response {
    let l = ctx.lang;
    let body = html! { p { (l.t("There is no such batch among yours.", "您的结算批次中没有这一批。")) } };
    ctx.page(StatusCode::NOT_FOUND, views::layout(ctx, viewer, l.t("Not found", "未找到"), body))
}

/// `GET {base}/{terminal}/{batch}`: the slip, its reconciliation, the batch's receipts and the
/// slip's own lines.
pub async fn detail<V: Viewing>(
    who: V,
    State(st): State<SharedState>,
    ctx: Ctx,
    Path((terminal, batch)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let who: Signed = who.into();
    let Some((b, receipts)) = opened(&st, &who, &terminal, &batch).await? else {
        return Ok(not_found(&ctx, &who.viewer));
    };
    let Some((_, base, receipt_base)) = reach(&who.scope) else { return Ok(not_found(&ctx, &who.viewer)) };
    let l = ctx.lang;
    let name = batch_name(&b.row.terminal_id, b.row.batch);
    let path = format!("{base}/{}/{:06}", urlencode(&b.row.terminal_id), b.row.batch);
    let body = html! {
        @if base == "/merchant/batches" { p.nav { a href="/merchant/batches" { (l.t("All batches", "全部批次")) } } }
        p { (l.t("Settled at", "结算时间")) " " (views::local_time(b.slip.settled_at)) " · "
            (l.t("host", "主机")) " " (if b.row.host_balanced { l.t("balanced", "对账平") } else { l.t("not balanced", "对账不平") }) }
        (reconciliation_section(l, &b.reconciliation))
        h2 { (l.t("Receipts of the batch", "本批次签购单")) }
        (batch_receipts(l, &receipts, receipt_base))
        h2 { (l.t("The slip's lines", "结算单明细")) }
        (slip_lines(l, &b))
        h2 { (l.t("Settlement slip", "结算单")) }
        // In the receipts' figure, so the 576-px slip fits a phone's width.
        figure.slip { img id="slip" src={ (path) "/png" } alt=(format!("{} {name}", l.t("Settlement slip", "结算单"))); }
    };
    let title = format!("{} {name}", l.t("Batch", "批次"));
    let ctx = ctx.at(&path);
    Ok(ctx.page(StatusCode::OK, views::layout(&ctx, &who.viewer, &title, body)))
}

/// `GET {base}/{terminal}/{batch}/png[?download=1]`: the stored slip image.
pub async fn image<V: Viewing>(
    who: V,
    State(st): State<SharedState>,
    Path((terminal, batch)): Path<(String, String)>,
    Query(q): Query<DownloadQuery>,
) -> Result<Response, PageError> {
    let who: Signed = who.into();
    let Some((b, _)) = opened(&st, &who, &terminal, &batch).await? else {
        return Ok(StatusCode::NOT_FOUND.into_response());
    };
    let name = format!("settlement-{}", batch_name(&b.row.terminal_id, b.row.batch));
    Ok(views::png_response(&name, b.row.png, q.wanted()))
}

fn kind_of(l: Lang, code: &str) -> String {
    code.parse::<TransactionType>().map_or_else(|_| code.to_owned(), |k| views::kind_name(l, k).to_owned())
}

fn brand_of(l: Lang, code: &str) -> &'static str {
    match CardBrand::from_code(code) {
        Some(b) if l == Lang::Zh => b.name_zh(),
        Some(b) => b.name(),
        None => "",
    }
}

fn amount(minor: u64, currency: &str) -> String {
    match currency.parse::<Currency>() {
        Ok(c) => views::sum(i64::try_from(minor).unwrap_or(i64::MAX), c),
        Err(_) => format!("{minor} {currency}"),
    }
}

/// One difference in words: what, then the slip's and the platform's counts and totals.
fn difference_words(l: Lang, d: &Difference) -> Markup {
    let (code, what) = match d.issue {
        DifferenceIssue::MissingReceipts => {
            ("missing_receipts", l.t("receipts missing on the platform", "平台缺少签购单"))
        }
        DifferenceIssue::ExtraReceipts => {
            ("extra_receipts", l.t("receipts the slip does not count", "结算单未计入的签购单"))
        }
        DifferenceIssue::TotalDiffers => ("total_differs", l.t("the totals differ", "金额不符")),
    };
    html! {
        li data-kind=(d.kind) data-brand=(d.brand) data-currency=(d.currency) data-issue=(code) {
            strong { (kind_of(l, &d.kind)) " " (brand_of(l, &d.brand)) " " (d.currency) } ": " (what) ". "
            (l.t("Slip", "结算单")) " " (d.slip_count) " × " (amount(d.slip_minor, &d.currency)) ", "
            (l.t("platform", "平台")) " " (d.platform_count) " × " (amount(d.platform_minor, &d.currency)) "."
        }
    }
}

fn missing_words(l: Lang, m: &MissingReceipt) -> Markup {
    html! {
        li.missing data-sequence=(m.sequence) data-receipt=[m.receipt_id.as_deref()] {
            (l.t("Missing: receipt no. ", "缺少：链序号 ")) (m.sequence) (l.t(" in the terminal's chain", " 的签购单"))
            @if let Some(id) = &m.receipt_id { " (" (id) ")" }
            @match m.place {
                MissingPlace::Between => { ", " (l.t("between two receipts of this batch.", "位于本批次两张签购单之间。")) }
                MissingPlace::AfterLast => { ", " (l.t("after the last receipt held of this batch (the slip counts more).", "位于本批次已收到的最后一张之后（结算单笔数更多）。")) }
            }
        }
    }
}

fn reconciliation_section(l: Lang, r: &Reconciliation) -> Markup {
    html! {
        section id="reconciliation" data-balanced=(r.balanced) {
            h2 { (l.t("Reconciliation", "平台核对")) }
            @if r.balanced {
                p.ok { (l.t("Balanced", "平账")) ": " (l.t("the slip's counts and totals match the receipts held.", "结算单的笔数和金额与平台收到的签购单一致。")) }
            } @else {
                p.error { (reconciliation_word(l, r)) }
                ul {
                    @for d in &r.differences { (difference_words(l, d)) }
                    @for m in &r.missing { (missing_words(l, m)) }
                }
            }
        }
    }
}

fn batch_receipts(l: Lang, receipts: &[StoredReceipt], receipt_base: &str) -> Markup {
    html! {
        div.scroll { table.receipts id="batch-receipts" {
            thead { tr {
                th { (l.t("Receipt", "签购单")) }
                th { (l.t("Type", "类型")) }
                th.num { (l.t("Amount", "金额")) }
                th { (l.t("Card", "卡号")) }
                th { (l.t("Link", "关联")) }
            } }
            tbody {
                @for r in receipts {
                    tr data-receipt=(r.receipt_id) {
                        td data-label=(l.t("Receipt", "签购单")) { a href={ (receipt_base) "/" (urlencode(&r.receipt_id)) } { (r.receipt_id) } }
                        td data-label=(l.t("Type", "类型")) { (views::kind_name(l, r.kind)) }
                        td.num data-label=(l.t("Amount", "金额")) { (views::signed_money(r)) }
                        td data-label=(l.t("Card", "卡号")) { (r.card_masked) }
                        td data-label=(l.t("Link", "关联")) {
                            @if r.link.is_some() { (views::link_state_name(l, r)) } @else { "—" }
                        }
                    }
                }
            }
        } }
    }
}

fn slip_lines(l: Lang, b: &SettledBatch) -> Markup {
    html! {
        div.scroll { table.receipts id="slip-lines" {
            thead { tr {
                th { (l.t("Type", "类型")) }
                th { (l.t("Card brand", "卡组织")) }
                th.num { (l.t("Count", "笔数")) }
                th.num { (l.t("Total", "金额")) }
            } }
            tbody {
                @for x in b.slip.lines() {
                    tr data-kind=(x.kind.code()) data-brand=(x.brand.code()) {
                        td { (views::kind_name(l, x.kind)) }
                        td { (if l == Lang::Zh { x.brand.name_zh() } else { x.brand.name() }) }
                        td.num { (x.count) }
                        td.num { (amount(x.total_minor, x.currency.code())) }
                    }
                }
            }
        } }
    }
}
