//! Merchant staff's pages (P4): search their own merchant's receipts (date, terminal, amount,
//! serial, RRN, card last 4), view, download, and export the matches as CSV. Any other merchant's
//! receipt is "not found", whatever the id or URL.

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{FixedOffset, NaiveDate, TimeZone};
use ereceipt_core::model::Currency;
use maud::{html, Markup};
use serde::{Deserialize, Serialize};

use super::guards::{Merchant, ToLogin, ToStart};
use super::staff::viewer;
use super::views::{self, urlencode};
use super::{Ctx, Lang, PageError};
use crate::domain::amounts::{self, AmountBand, AmountError};
use crate::domain::delivery::DeliveryState;
use crate::infra::store::{ReceiptQuery, StoredReceipt};
use crate::web::state::SharedState;

/// Rows in one page of results.
const PAGE: i64 = 50;
/// Receipts per database round trip of a CSV export, which streams every match.
const EXPORT_PAGE: i64 = 200;

/// The search form as typed (kept as text to show it back).
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct SearchForm {
    pub from: String,
    pub to: String,
    pub terminal: String,
    pub min: String,
    pub max: String,
    /// The currency of `min` and `max` (and of the receipts shown); empty: any.
    pub currency: String,
    pub serial: String,
    pub rrn: String,
    pub last4: String,
    #[serde(skip_serializing)]
    pub cursor: String,
}

impl SearchForm {
    /// The form as a query string (without the cursor).
    pub(crate) fn query_string(&self) -> String {
        let pairs = [
            ("from", &self.from),
            ("to", &self.to),
            ("terminal", &self.terminal),
            ("min", &self.min),
            ("max", &self.max),
            ("currency", &self.currency),
            ("serial", &self.serial),
            ("rrn", &self.rrn),
            ("last4", &self.last4),
        ];
        pairs
            .iter()
            .filter(|(_, v)| !v.trim().is_empty())
            .map(|(k, v)| format!("{k}={}", urlencode(v.trim())))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// Whether any criterion is filled in.
    pub(crate) fn asks_something(&self) -> bool {
        !self.query_string().is_empty()
    }

    /// The store query for `merchant_id`, or what is wrong with the form.
    pub(crate) fn to_query(
        &self,
        merchant_id: Option<&str>,
        offset: FixedOffset,
        l: Lang,
    ) -> Result<ReceiptQuery, String> {
        let text = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
        let day = |field: &str, s: &str, plus_days: i64| -> Result<Option<i64>, String> {
            let Some(s) = text(s) else { return Ok(None) };
            let d = NaiveDate::parse_from_str(&s, "%Y-%m-%d").map_err(|_| bad(l, field, "YYYY-MM-DD"))?;
            let start = d
                .checked_add_days(chrono::Days::new(u64::try_from(plus_days).unwrap_or(0)))
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .and_then(|t| offset.from_local_datetime(&t).single())
                .ok_or_else(|| bad(l, field, "YYYY-MM-DD"))?;
            Ok(Some(start.timestamp_millis()))
        };
        let serial = match text(&self.serial) {
            Some(s) => Some(s.parse::<i64>().map_err(|_| bad(l, "serial", "123456"))?),
            None => None,
        };
        let (currency, min_amount, max_amount, amount_bands) = self.amounts(l)?;
        let last4 = text(&self.last4);
        if let Some(l4) = &last4 {
            if l4.len() != 4 || !l4.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad(l, "last 4", "1234"));
            }
        }
        Ok(ReceiptQuery {
            merchant_id: merchant_id.map(str::to_owned),
            terminal_id: text(&self.terminal),
            from: day("from", &self.from, 0)?,
            to: day("to", &self.to, 1)?,
            min_amount,
            max_amount,
            currency: currency.map(|c| c.code().to_owned()),
            amount_bands,
            serial,
            rrn: text(&self.rrn),
            card_last4: last4,
            limit: PAGE,
            cursor: text(&self.cursor),
        })
    }
}

impl SearchForm {
    /// The currency chosen and the amount bounds: in that currency's minor unit when one is
    /// chosen, otherwise as bands that read the typed amount in each receipt's own currency.
    #[allow(clippy::type_complexity)]
    fn amounts(&self, l: Lang) -> Result<(Option<Currency>, Option<i64>, Option<i64>, Vec<AmountBand>), String> {
        let text = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
        let (min, max) = (text(&self.min), text(&self.max));
        let Some(code) = text(&self.currency) else {
            let bound = |field: &str, s: Option<String>| {
                s.map(|s| amounts::parse_any(&s).map_err(|e| amount_refused(l, field, &e))).transpose()
            };
            let bands = amounts::bands_for_any_currency(bound("min", min)?, bound("max", max)?);
            return Ok((None, None, None, bands));
        };
        let currency: Currency = code.parse().map_err(|_| bad(l, "currency", "CNY"))?;
        let bound = |field: &str, s: Option<String>| {
            s.map(|s| amounts::parse_in(currency, &s).map_err(|e| amount_refused(l, field, &e))).transpose()
        };
        Ok((Some(currency), bound("min", min)?, bound("max", max)?, Vec::new()))
    }
}

/// What is wrong with the amount bound `field`, in the page's language.
fn amount_refused(l: Lang, field: &str, e: &AmountError) -> String {
    match (l, e) {
        (Lang::En, e) => format!("{field}: {e}"),
        (Lang::Zh, AmountError::NotInCurrency { currency, exponent: 0, example }) => {
            format!("{field}：{currency} 金额没有小数（例如 {example}）")
        }
        (Lang::Zh, AmountError::NotInCurrency { currency, exponent, example }) => {
            format!("{field}：{currency} 金额最多 {exponent} 位小数（例如 {example}）")
        }
        (Lang::Zh, AmountError::NotAnAmount { exponent, example }) => {
            format!("{field}：金额为最多 {exponent} 位小数的数字（例如 {example}）")
        }
    }
}

fn bad(l: Lang, field: &str, example: &str) -> String {
    match l {
        Lang::En => format!("{field}: not understood (example: {example})"),
        Lang::Zh => format!("{field}：格式不正确（例如 {example}）"),
    }
}

/// The portal's offset for the dates of search forms.
pub(crate) fn portal_offset(st: &SharedState) -> FixedOffset {
    st.settings.portal_utc_offset
}

pub(crate) fn search_form(l: Lang, action: &str, f: &SearchForm, csv: Option<&str>) -> Markup {
    let field = |name: &'static str, label: &'static str, value: &str, kind: &'static str, extra: &'static str| {
        html! { label { (label) input type=(kind) name=(name) id={ "f-" (name) } value=(value) placeholder=(extra); } }
    };
    html! {
        form.search method="get" action=(action) {
            (field("from", l.t("From (day)", "起始日期"), &f.from, "date", ""))
            (field("to", l.t("To (day)", "截止日期"), &f.to, "date", ""))
            (field("terminal", l.t("Terminal", "终端号"), &f.terminal, "text", ""))
            (field("min", l.t("Amount from", "最小金额"), &f.min, "text", "0.00"))
            (field("max", l.t("Amount to", "最大金额"), &f.max, "text", "0.00"))
            label { (l.t("Currency", "币种"))
                select name="currency" id="f-currency" {
                    option value="" selected[f.currency.is_empty()] { (l.t("Any", "全部")) }
                    @for c in Currency::all() {
                        option value=(c.code()) selected[f.currency.trim() == c.code()] { (c.code()) }
                    }
                }
            }
            (field("serial", l.t("Serial", "凭证号"), &f.serial, "text", ""))
            (field("rrn", "RRN", &f.rrn, "text", ""))
            (field("last4", l.t("Card last 4", "卡号后四位"), &f.last4, "text", ""))
            div.actions {
                button type="submit" id="search" { (l.t("Search", "查询")) }
                @if let Some(csv) = csv { a.button.secondary href=(csv) id="export" download { (l.t("Export CSV", "导出 CSV")) } }
            }
        }
    }
}

/// `GET /merchant/receipts`: search form and one page of results.
pub async fn search(
    who: Merchant<ToLogin>,
    State(st): State<SharedState>,
    ctx: Ctx,
    Query(f): Query<SearchForm>,
) -> Result<Response, PageError> {
    let l = ctx.lang;
    let qs = f.query_string();
    let csv = format!("/merchant/receipts.csv?{qs}");
    let (status, results) = match f.to_query(Some(&who.merchant_id), portal_offset(&st), l) {
        Err(e) => (StatusCode::UNPROCESSABLE_ENTITY, views::notice("error", Some(&e))),
        Ok(q) => {
            let page = st.store.search(&q).await?;
            let table =
                views::receipt_table(l, &page.items, |r| format!("/merchant/receipts/{}", urlencode(&r.receipt_id)));
            (
                StatusCode::OK,
                html! {
                    (table)
                    div.pager {
                        @if !f.cursor.is_empty() { a href={ "/merchant/receipts?" (qs) } { (l.t("First page", "第一页")) } }
                        @if let Some(c) = &page.next_cursor {
                            a href={ "/merchant/receipts?" (qs) "&cursor=" (urlencode(c)) } id="next-page" { (l.t("Next page", "下一页")) }
                        }
                    }
                },
            )
        }
    };
    let body = html! {
        p.nav { a href="/merchant/batches" id="batches-link" { (l.t("Batches", "结算批次")) } }
        (search_form(l, "/merchant/receipts", &f, Some(&csv))) (results)
    };
    let title = l.t("Receipts", "签购单查询");
    Ok(ctx.page(status, views::layout(&ctx, &viewer(&who.account), title, body)))
}

/// A CSV cell: quoted, and defused when a spreadsheet would read it as a formula.
fn cell(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{s}") } else { s.to_owned() };
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// The CSV's first line, after a byte order mark so spreadsheets read Chinese right.
const CSV_HEADER: &str = "\u{feff}receipt_id,time_local,time_utc,terminal_id,batch,serial,amount,currency,amount_minor,card,card_brand,rrn,auth_code,delivery_channel,delivery_state,type,signed_amount_minor,original_receipt_id,link_state,link_problem,net_minor\r\n";

/// The CSV lines of `items`, with their delivery channel and state.
fn csv_rows(items: &[StoredReceipt], deliveries: &[Option<(&str, Option<DeliveryState>)>]) -> String {
    let mut out = String::new();
    for (r, d) in items.iter().zip(deliveries.iter().chain(std::iter::repeat(&None))) {
        let (channel, state) = d.unwrap_or_default();
        let row = [
            cell(&r.receipt_id),
            cell(&views::local_time(r.time)),
            cell(&views::local_time(r.time.in_utc())),
            cell(&r.terminal_id),
            r.batch.to_string(),
            r.serial.to_string(),
            cell(&r.amount.decimal()),
            cell(r.amount.currency().code()),
            r.amount.minor().to_string(),
            cell(&r.card_masked),
            cell(&r.card_brand),
            cell(&r.rrn),
            cell(&r.auth_code),
            cell(channel),
            cell(state.map_or("", DeliveryState::as_str)),
            cell(r.kind.code()),
            r.signed_minor().to_string(),
            cell(original_of(r).unwrap_or_default()),
            cell(r.link.as_ref().map_or("", |k| k.state.as_str())),
            cell(r.link.as_ref().and_then(|k| k.problem).map_or("", |p| p.code())),
            r.net_minor().map(|n| n.to_string()).unwrap_or_default(),
        ];
        out.push_str(&row.join(","));
        out.push_str("\r\n");
    }
    out
}

/// The original a receipt is linked to, or the one its record names while the platform does
/// not hold it.
fn original_of(r: &StoredReceipt) -> Option<&str> {
    let k = r.link.as_ref()?;
    k.linked_to.as_deref().or(k.named.receipt_id.as_deref())
}

/// `GET /merchant/receipts.csv`: every match of the search, streamed a page at a time.
pub async fn export_csv(
    who: Merchant<ToStart>,
    State(st): State<SharedState>,
    headers: HeaderMap,
    Query(f): Query<SearchForm>,
) -> Result<Response, PageError> {
    let merchant_id = who.merchant_id;
    let l = Lang::of(&headers);
    let mut q = match f.to_query(Some(&merchant_id), portal_offset(&st), l) {
        Ok(q) => q,
        Err(e) => return Ok((StatusCode::UNPROCESSABLE_ENTITY, e).into_response()),
    };
    q.limit = EXPORT_PAGE;
    q.cursor = None;
    // The first page before the answer starts, so a failing store is a proper error page.
    let first = export_page(&st, &q).await?;
    let name = format!("receipts-{merchant_id}-{}.csv", chrono::Utc::now().format("%Y%m%d-%H%M%S"));
    let pages = futures_util::stream::unfold(Some((st, q, first)), |state| async move {
        let (st, mut q, (chunk, next)) = state?;
        let rest = match next {
            None => None,
            Some(cursor) => {
                q.cursor = Some(cursor);
                match export_page(&st, &q).await {
                    Ok(page) => Some((st, q, page)),
                    Err(e) => {
                        // The download stops short (the browser marks it failed); the log says why.
                        tracing::error!(error = %e, "CSV export failed midway");
                        None
                    }
                }
            }
        };
        Some((Ok::<_, std::io::Error>(bytes::Bytes::from(chunk)), rest))
    });
    let header_line =
        futures_util::stream::once(async { Ok::<_, std::io::Error>(bytes::Bytes::from_static(CSV_HEADER.as_bytes())) });
    let body = futures_util::StreamExt::chain(header_line, pages);
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        axum::body::Body::from_stream(body),
    )
        .into_response())
}

/// One page of the export as CSV lines, and the cursor of the next page.
async fn export_page(
    st: &SharedState,
    q: &ReceiptQuery,
) -> Result<(String, Option<String>), crate::infra::store::StoreError> {
    let page = st.store.search(q).await?;
    let ids: Vec<String> = page.items.iter().map(|r| r.receipt_id.clone()).collect();
    let states = st.store.delivery_states(&ids).await?;
    let deliveries: Vec<_> = ids.iter().map(|id| states.get(id).copied()).collect();
    Ok((csv_rows(&page.items, &deliveries), page.next_cursor))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(min: &str, max: &str, currency: &str, l: Lang) -> Result<ReceiptQuery, String> {
        let f = SearchForm { min: min.into(), max: max.into(), currency: currency.into(), ..SearchForm::default() };
        f.to_query(Some("M-1"), FixedOffset::east_opt(0).expect("offset"), l)
    }

    #[test]
    fn amounts_follow_the_chosen_currency() {
        let q = query("500", "500", "JPY", Lang::En).expect("yen");
        assert_eq!((q.min_amount, q.max_amount, q.currency.as_deref()), (Some(500), Some(500), Some("JPY")));
        assert!(q.amount_bands.is_empty());
        let q = query("12.5", "1,234.56", "CNY", Lang::En).expect("yuan");
        assert_eq!((q.min_amount, q.max_amount), (Some(1250), Some(123_456)));
        let q = query("", "12.345", "BHD", Lang::En).expect("dinar");
        assert_eq!(q.max_amount, Some(12_345));
        assert_eq!(query("", "", "USD", Lang::En).expect("a currency alone").currency.as_deref(), Some("USD"));

        let e = query("12.345", "", "USD", Lang::En).expect_err("three decimals in dollars");
        assert_eq!(e, "min: USD amounts have at most 2 decimals (example: 12.50)");
        let e = query("", "12.5", "JPY", Lang::Zh).expect_err("decimals in yen");
        assert_eq!(e, "max：JPY 金额没有小数（例如 12）");
        for bad in ["-1", "1e3", "abc", "99999999999999999999", "."] {
            assert!(query(bad, "", "CNY", Lang::En).is_err(), "{bad}");
        }
        assert!(query("1", "", "XXX", Lang::En).is_err_and(|e| e.contains("currency")));
    }

    #[test]
    fn without_a_currency_amounts_are_read_in_each_receipts_own() {
        let q = query("500", "500", "", Lang::En).expect("any currency");
        assert_eq!((q.min_amount, q.max_amount, q.currency), (None, None, None));
        let jpy: Currency = "JPY".parse().expect("JPY");
        let band = q.amount_bands.iter().find(|b| b.currencies.contains(&jpy)).expect("a yen band");
        assert_eq!((band.min, band.max), (Some(500), Some(500)));
        assert!(query("", "", "", Lang::En).expect("no amount").amount_bands.is_empty());
        let e = query("1.2345", "", "", Lang::En).expect_err("too fine for any currency");
        assert!(e.starts_with("min: amounts are decimal numbers with at most 3 decimals"), "{e}");
    }

    #[test]
    fn dates_are_days_in_the_portal_offset() {
        let f = SearchForm { from: "2026-11-26".into(), to: "2026-11-26".into(), ..SearchForm::default() };
        let offset = FixedOffset::east_opt(8 * 3600).expect("offset");
        let q = f.to_query(Some("M-1"), offset, Lang::En).expect("query");
        // 2026-11-26 00:00 +08:00 is 2026-11-25 16:00 UTC; `to` is the whole day.
        assert_eq!(q.from, Some(1_795_622_400_000));
        assert_eq!(q.to, Some(1_795_622_400_000 + 86_400_000));
        assert_eq!(q.merchant_id.as_deref(), Some("M-1"));
        let bad = SearchForm { from: "26/11/2026".into(), ..SearchForm::default() };
        assert!(bad.to_query(None, offset, Lang::En).is_err_and(|e| e.contains("from")));
        let bad = SearchForm { last4: "12a4".into(), ..SearchForm::default() };
        assert!(bad.to_query(None, offset, Lang::En).is_err_and(|e| e.contains("last 4")));
    }

    #[test]
    fn csv_cells_are_quoted_and_defused() {
        assert_eq!(cell("plain"), "\"plain\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(cell("-1+1"), "\"'-1+1\"");
    }
}
