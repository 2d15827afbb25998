//! The acquirer's pages (P4): find any receipt by RRN (and narrow by date, terminal, amount, card
//! last 4) for chargeback retrieval, view it with its full delivery history, and download the
//! retrieval bundle.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use maud::html;

use super::bundle::{self, BundleInput};
use super::merchant::{portal_offset, search_form, SearchForm};
use super::staff::{signed_in, to_login, viewer};
use super::views::{self, urlencode, DeliveryDetail, DetailPage, DownloadQuery};
use super::{Ctx, PageError};
use crate::domain::credentials::Role;
use crate::infra::store::AccountRow;
use crate::web::state::SharedState;
use crate::web::support::json::deliveries_json;

/// The signed-in acquirer, or the response that sends a visitor away.
async fn acquirer(
    st: &SharedState,
    headers: &HeaderMap,
    path: &str,
) -> Result<Result<AccountRow, Response>, PageError> {
    let Some(account) = signed_in(st, headers).await? else { return Ok(Err(to_login(path))) };
    match account.role {
        Role::Acquirer => Ok(Ok(account)),
        Role::Merchant { .. } => Ok(Err(StatusCode::FORBIDDEN.into_response())),
    }
}

/// `GET /acquirer?rrn=…`: the search, across every merchant.
pub async fn find(
    State(st): State<SharedState>,
    headers: HeaderMap,
    Query(f): Query<SearchForm>,
) -> Result<Response, PageError> {
    let account = match acquirer(&st, &headers, "/acquirer").await? {
        Ok(a) => a,
        Err(r) => return Ok(r),
    };
    let ctx = Ctx::new(&st, &headers, "/acquirer");
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
    Ok(ctx.page(status, views::layout(&ctx, &viewer(&account), title, body)))
}

/// `GET /acquirer/receipts/{id}`.
pub async fn detail(
    State(st): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let path = format!("/acquirer/receipts/{}", urlencode(&id));
    let account = match acquirer(&st, &headers, &path).await? {
        Ok(a) => a,
        Err(r) => return Ok(r),
    };
    let ctx = Ctx::new(&st, &headers, &path);
    let Some(r) = st.store.receipt(&id).await? else { return Ok(views::not_found(&ctx, &viewer(&account))) };
    let l = ctx.lang;
    let extra = html! {
        p { a.button href={ (path) "/bundle.zip" } id="bundle" download { (l.t("Download retrieval bundle (ZIP)", "下载调单材料（ZIP）")) } }
        p.small { (l.t("Image, signed record, signature time series, chain proof, delivery history, verification and SHA-256 manifest.",
                        "包含图片、签名记录、签名时间序列、链式证明、发送记录、验证结果及 SHA-256 清单。")) }
        p { a href="/acquirer" { (l.t("New search", "重新查询")) } }
    };
    let page = DetailPage {
        ctx: &ctx,
        viewer: &viewer(&account),
        image_url: format!("{path}/png"),
        detail: DeliveryDetail::Full,
        extra,
        title: &r.receipt_id,
    };
    views::detail_page(&st, &r, page).await
}

/// `GET /acquirer/receipts/{id}/png`.
pub async fn image(
    State(st): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<DownloadQuery>,
) -> Result<Response, PageError> {
    if let Err(r) = acquirer(&st, &headers, "/acquirer").await? {
        return Ok(r);
    }
    views::stored_image(&st, &id, &q).await
}

/// `GET /acquirer/receipts/{id}/bundle.zip`.
pub async fn bundle(
    State(st): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let account = match acquirer(&st, &headers, "/acquirer").await? {
        Ok(a) => a,
        Err(r) => return Ok(r),
    };
    let Some(r) = st.store.receipt(&id).await? else { return Ok(StatusCode::NOT_FOUND.into_response()) };
    let png = st.store.receipt_image(&id).await?.unwrap_or_default();
    let verification = crate::services::verification::verify(&st.store, &st.keys.ca.cert_der, png.clone()).await?;
    let evidence = match crate::services::verification::evidence_text(&st.keys, &r) {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(receipt = %id, error = %e, "evidence failed");
            return Ok((StatusCode::INTERNAL_SERVER_ERROR, "the evidence cannot be made").into_response());
        }
    };
    let deliveries = deliveries_json(st.store.deliveries_of(&id).await?);
    let neighbours = match r.sequence {
        Some(seq) => st.store.chain_neighbours(&r.terminal_id, seq).await?,
        None => (Vec::new(), Vec::new()),
    };
    let input = BundleInput {
        receipt: &r,
        png: &png,
        verification: &verification,
        evidence: &evidence,
        deliveries,
        neighbours,
        ack_public_key: st.keys.ack.public_key(),
        made_at: Utc::now().timestamp_millis(),
    };
    let zip = match bundle::build(&input) {
        Ok(z) => z,
        Err(e) => {
            tracing::error!(receipt = %id, error = %e, "retrieval bundle failed");
            return Ok((StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response());
        }
    };
    tracing::info!(receipt = %id, acquirer = %account.username, "retrieval bundle downloaded");
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{id}-retrieval.zip\"")),
        ],
        zip,
    )
        .into_response())
}
