//! The acquirer's pages (P4): find any receipt by RRN (and narrow by date, terminal, amount, card
//! last 4) for chargeback retrieval, view it with its full delivery history, and download the
//! retrieval bundle (the receipt pages are `portal::receipts`, shared with the other roles).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;

use super::guards::{Acquirer, ToLogin};
use super::merchant::{portal_offset, search_form, SearchForm};
use super::staff::viewer;
use super::views::{self, urlencode};
use super::{Ctx, PageError};
use crate::web::state::SharedState;

/// `GET /acquirer?rrn=…`: the search, across every merchant.
pub async fn find(
    who: Acquirer<ToLogin>,
    State(st): State<SharedState>,
    ctx: Ctx,
    Query(f): Query<SearchForm>,
) -> Result<Response, PageError> {
    let l = ctx.lang;
    let asked = f.asks_something();
    let (status, results) = if !asked {
        (
            StatusCode::OK,
            html! { p.small { (l.t("Enter the RRN of the disputed sale.", "请输入争议交易的检索参考号（RRN）。")) } },
        )
    } else {
        match f.to_query(None, portal_offset(&st), l) {
            Err(e) => (StatusCode::UNPROCESSABLE_ENTITY, views::notice("error", Some(&e))),
            Ok(q) => {
                let page = st.store.search(&q).await?;
                let qs = f.query_string();
                (
                    StatusCode::OK,
                    html! {
                        (views::receipt_table(l, &page.items, |r| format!("/acquirer/receipts/{}", urlencode(&r.receipt_id))))
                        @if let Some(c) = &page.next_cursor {
                            div.pager { a href={ "/acquirer?" (qs) "&cursor=" (urlencode(c)) } id="next-page" { (l.t("Next page", "下一页")) } }
                        }
                    },
                )
            }
        }
    };
    let body = html! { (search_form(l, "/acquirer", &f, None)) (results) };
    let title = l.t("Chargeback retrieval", "调单查询");
    Ok(ctx.page(status, views::layout(&ctx, &viewer(&who.account), title, body)))
}
