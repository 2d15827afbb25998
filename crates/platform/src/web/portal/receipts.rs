//! One set of receipt handlers for every role: the detail page, the image (PNG, PDF, evidence)
//! and the retrieval bundle. The role's session extractor is the handler's type parameter (see
//! the routers in `portal`); what the viewer may see is their [`ReceiptScope`], and a receipt
//! outside it is "not found", whether it exists or not.

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use maud::{html, Markup};

use super::bundle::{self, BundleInput, Linked};
use super::guards::Signed;
use super::views::{self, urlencode, DeliveryDetail, DetailPage, DownloadQuery};
use super::{Ctx, Lang, PageError};
use crate::infra::store::{StoreError, StoredReceipt};
use crate::web::state::SharedState;
use crate::web::support::json::deliveries_json;
use crate::web::support::ReceiptScope;

/// A role's session extractor that names a [`Signed`] viewer.
pub(crate) trait Viewing: FromRequestParts<SharedState, Rejection = Response> + Into<Signed> {}
impl<T: FromRequestParts<SharedState, Rejection = Response> + Into<Signed>> Viewing for T {}

/// Where a scope's receipt pages live.
fn base(scope: &ReceiptScope) -> &'static str {
    match scope {
        ReceiptScope::Phone(_) => "/pull/receipts",
        ReceiptScope::Merchant(_) => "/merchant/receipts",
        ReceiptScope::Any => "/acquirer/receipts",
    }
}

/// How much of the deliveries a role sees, the links under the facts, and the heading: the
/// customer sees whom it was sent to and the shop's name, merchant staff the state only, the
/// acquirer everything and the retrieval bundle.
fn presentation(scope: &ReceiptScope, l: Lang, path: &str, r: &StoredReceipt) -> (DeliveryDetail, Markup, String) {
    match scope {
        ReceiptScope::Phone(_) => (
            DeliveryDetail::Full,
            html! { p { a href="/pull/receipts" { (l.t("All my receipts", "全部签购单")) } } },
            r.merchant_name.clone(),
        ),
        ReceiptScope::Merchant(_) => (
            DeliveryDetail::StateOnly,
            html! { p { a href="/merchant/receipts" { (l.t("Back to the search", "返回查询")) } } },
            r.receipt_id.clone(),
        ),
        ReceiptScope::Any => (DeliveryDetail::Full, bundle_links(l, path), r.receipt_id.clone()),
    }
}

fn bundle_links(l: Lang, path: &str) -> Markup {
    html! {
        p { a.button href={ (path) "/bundle.zip" } id="bundle" download { (l.t("Download retrieval bundle (ZIP)", "下载调单材料（ZIP）")) } }
        p.small { (l.t("Image, signed record, signature time series, chain proof, delivery history, verification and SHA-256 manifest.",
                        "包含图片、签名记录、签名时间序列、链式证明、发送记录、验证结果及 SHA-256 清单。")) }
        p { a href="/acquirer" { (l.t("New search", "重新查询")) } }
    }
}

/// `GET {base}/{id}`: the receipt, verified now, as the viewer's role shows it.
pub async fn detail<V: Viewing>(
    who: V,
    State(st): State<SharedState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let who: Signed = who.into();
    let path = format!("{}/{}", base(&who.scope), urlencode(&id));
    let ctx = ctx.at(&path);
    let Some(r) = who.scope.receipt(&st.store, &id).await? else { return Ok(views::not_found(&ctx, &who.viewer)) };
    let (detail, links, title) = presentation(&who.scope, ctx.lang, &path, &r);
    let family = who.scope.family(&st.store, &r).await?;
    let at = base(&who.scope);
    let lineage = views::lineage(ctx.lang, &r, &family, |x| format!("{at}/{}", urlencode(&x.receipt_id)));
    let extra = if matches!(who.scope, ReceiptScope::Any) {
        // The acquirer sees and sets the legal hold that keeps a disputed receipt.
        let hold = super::hold::section(&st, &ctx, &path, &r.receipt_id).await?;
        html! { (lineage) (links) (hold) }
    } else {
        html! { (lineage) (links) }
    };
    let page =
        DetailPage { ctx: &ctx, viewer: &who.viewer, image_url: format!("{path}/png"), detail, extra, title: &title };
    views::detail_page(&st, &r, page).await
}

/// `GET {base}/{id}/png[?download=1][&format=pdf|evidence]`: the stored image, a PDF of it, or
/// the platform's evidence file.
pub async fn image<V: Viewing>(
    who: V,
    State(st): State<SharedState>,
    Path(id): Path<String>,
    Query(q): Query<DownloadQuery>,
) -> Result<Response, PageError> {
    let who: Signed = who.into();
    if who.scope.receipt(&st.store, &id).await?.is_none() {
        return Ok(StatusCode::NOT_FOUND.into_response());
    }
    views::stored_image(&st, &id, &q).await
}

/// `GET {base}/{id}/bundle.zip`: the chargeback retrieval bundle (the acquirer's router mounts it).
pub async fn bundle<V: Viewing>(
    who: V,
    State(st): State<SharedState>,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let who: Signed = who.into();
    let Some(r) = who.scope.receipt(&st.store, &id).await? else { return Ok(StatusCode::NOT_FOUND.into_response()) };
    let zip = match bundle_of(&st, &r).await {
        Ok(z) => z,
        Err(response) => return Ok(response),
    };
    tracing::info!(receipt = %id, viewer = %who.name, "retrieval bundle downloaded");
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{id}-retrieval.zip\"")),
        ],
        zip,
    )
        .into_response())
}

/// The retrieval bundle of `r`, or the page that says why it cannot be made (503 when the
/// store failed, 500 when the evidence or the archive could not be made).
async fn bundle_of(st: &SharedState, r: &StoredReceipt) -> Result<Vec<u8>, Response> {
    let id = &r.receipt_id;
    let unavailable = |e: StoreError| PageError::from(e).into_response();
    let png = st.store.receipt_image(id).await.map_err(unavailable)?.unwrap_or_default();
    let verification = crate::services::verification::verify(&st.store, &st.keys.ca.cert_der, png.clone())
        .await
        .map_err(unavailable)?;
    let evidence = crate::services::verification::evidence_text(&st.keys, r).map_err(|e| {
        tracing::error!(receipt = %id, error = %e, "evidence failed");
        (StatusCode::INTERNAL_SERVER_ERROR, "the evidence cannot be made").into_response()
    })?;
    let deliveries = deliveries_json(st.store.deliveries_of(id).await.map_err(unavailable)?);
    let neighbours = match r.sequence {
        Some(seq) => st.store.chain_neighbours(&r.terminal_id, seq).await.map_err(unavailable)?,
        None => (Vec::new(), Vec::new()),
    };
    let family = st.store.family(r).await.map_err(unavailable)?;
    let mut linked = Vec::new();
    for member in family.original.iter().chain(family.children.iter()) {
        let png = st.store.receipt_image(&member.receipt_id).await.map_err(unavailable)?.unwrap_or_default();
        let evidence = crate::services::verification::evidence_text(&st.keys, member).map_err(|e| {
            tracing::error!(receipt = %member.receipt_id, error = %e, "evidence failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "the evidence cannot be made").into_response()
        })?;
        linked.push(Linked { receipt_id: member.receipt_id.clone(), png, record: member.record.clone(), evidence });
    }
    let input = BundleInput {
        receipt: r,
        png: &png,
        verification: &verification,
        evidence: &evidence,
        deliveries,
        neighbours,
        ack: &st.keys.ack,
        made_at: Utc::now().timestamp_millis(),
        family: &family,
        linked,
    };
    bundle::build(&input).map_err(|e| {
        tracing::error!(receipt = %id, error = %e, "retrieval bundle failed");
        (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response()
    })
}
