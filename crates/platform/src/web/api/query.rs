//! The query API (P1): a receipt's record, image and evidence by id, search with keyset paging,
//! and verification of an image (public: whoever holds a receipt may check it).

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use bytes::Bytes;
use chrono::DateTime;
use serde::Deserialize;
use utoipa::IntoParams;

pub(crate) use super::schemas::ReceiptView;
use super::schemas::{self, ErrorBody};
use super::{ApiError, QueryClient};
use crate::infra::store::ReceiptQuery;
use crate::services::verification::gate::Busy;
use crate::web::state::SharedState;
use crate::web::support::json::deliveries_json;
use crate::web::support::{busy_status, ReceiptScope};

/// Search parameters; times are RFC 3339, amounts minor units.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    merchant_id: Option<String>,
    terminal_id: Option<String>,
    /// RFC 3339, inclusive.
    #[param(format = DateTime)]
    from: Option<String>,
    /// RFC 3339, exclusive.
    #[param(format = DateTime)]
    to: Option<String>,
    /// Minor units, inclusive.
    min_amount: Option<i64>,
    /// Minor units, inclusive.
    max_amount: Option<i64>,
    /// ISO 4217, e.g. `HKD`.
    currency: Option<String>,
    serial: Option<i64>,
    /// Retrieval reference number.
    rrn: Option<String>,
    /// The card's last four digits.
    #[param(pattern = "^[0-9]{4}$")]
    last4: Option<String>,
    /// 1 to 200, 50 unless told.
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

fn parse_time(field: &str, v: Option<&str>) -> Result<Option<i64>, ApiError> {
    v.map(|s| {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.timestamp_millis())
            .map_err(|e| ApiError::bad_request(format!("{field}: not an RFC 3339 time ({e})")))
    })
    .transpose()
}

/// Search receipts
///
/// Newest first, keyset paging.
#[utoipa::path(get, path = "/api/v1/receipts", tag = "query",
    security(("queryToken" = [])),
    params(SearchParams),
    responses(
        (status = 200, description = "a page", body = schemas::ReceiptPage),
        (status = 400, description = "bad parameter", body = ErrorBody),
        (status = 401, description = "no or wrong query token", body = ErrorBody),
        (status = 503, description = "storage unavailable; retry", body = ErrorBody),
    ))]
pub async fn search(
    _: QueryClient,
    State(st): State<SharedState>,
    Query(p): Query<SearchParams>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if let Some(l4) = &p.last4 {
        if l4.len() != 4 || !l4.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ApiError::bad_request("last4: four digits"));
        }
    }
    let q = ReceiptQuery {
        merchant_id: p.merchant_id,
        terminal_id: p.terminal_id,
        from: parse_time("from", p.from.as_deref())?,
        to: parse_time("to", p.to.as_deref())?,
        min_amount: p.min_amount,
        max_amount: p.max_amount,
        currency: p.currency,
        amount_bands: Vec::new(),
        serial: p.serial,
        rrn: p.rrn,
        card_last4: p.last4,
        limit: p.limit.unwrap_or(0),
        cursor: p.cursor,
    };
    let page = st.store.search(&q).await?;
    let items: Vec<ReceiptView> = page.items.into_iter().map(ReceiptView::from).collect();
    Ok(Json(serde_json::json!({ "items": items, "next_cursor": page.next_cursor })))
}

/// One receipt
///
/// With its delivery choice and every delivery's state and history.
#[utoipa::path(get, path = "/api/v1/receipts/{id}", tag = "query",
    security(("queryToken" = [])),
    params(("id" = String, Path, description = "Receipt id TERMINAL-BATCH-SERIAL")),
    responses(
        (status = 200, description = "the receipt", body = schemas::ReceiptDetail),
        (status = 401, description = "no or wrong query token", body = ErrorBody),
        (status = 404, description = "unknown id", body = ErrorBody),
        (status = 503, description = "storage unavailable; retry", body = ErrorBody),
    ))]
pub async fn receipt(
    _: QueryClient,
    State(st): State<SharedState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let r = st.store.receipt(&id).await?.ok_or_else(|| ApiError::not_found(format!("no receipt {id}")))?;
    let delivery = r.delivery.as_ref().map(|d| d.to_string());
    let deliveries = deliveries_json(st.store.deliveries_of(&id).await?);
    let mut view = serde_json::to_value(ReceiptView::from(r))
        .map_err(|e| ApiError::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    if let Some(obj) = view.as_object_mut() {
        obj.insert("delivery".into(), serde_json::json!(delivery));
        obj.insert("deliveries".into(), serde_json::json!(deliveries));
    }
    Ok(Json(view))
}

/// The watermarked receipt image
#[utoipa::path(get, path = "/api/v1/receipts/{id}/image", tag = "query",
    security(("queryToken" = [])),
    params(("id" = String, Path, description = "Receipt id TERMINAL-BATCH-SERIAL")),
    responses(
        (status = 200, description = "PNG", body = schemas::Binary, content_type = "image/png"),
        (status = 401, description = "no or wrong query token", body = ErrorBody),
        (status = 404, description = "unknown id", body = ErrorBody),
        (status = 503, description = "storage unavailable; retry", body = ErrorBody),
    ))]
pub async fn image(
    _: QueryClient,
    State(st): State<SharedState>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let png = receipt_png(&st, &ReceiptScope::Any, &id).await?;
    Ok(([(header::CONTENT_TYPE, "image/png")], png))
}

/// The stored image of receipt `id` if it is within `scope`; "not found" otherwise, whether it
/// exists or not. The admin API and the customer's pull API both serve images through it.
pub(crate) async fn receipt_png(st: &SharedState, scope: &ReceiptScope, id: &str) -> Result<Vec<u8>, ApiError> {
    let missing = || ApiError::not_found(format!("no receipt {id}"));
    scope.receipt(&st.store, id).await?.ok_or_else(missing)?;
    st.store.receipt_image(id).await?.ok_or_else(missing)
}

/// The canonical CBOR record
#[utoipa::path(get, path = "/api/v1/receipts/{id}/record", tag = "query",
    security(("queryToken" = [])),
    params(("id" = String, Path, description = "Receipt id TERMINAL-BATCH-SERIAL")),
    responses(
        (status = 200, description = "CBOR", body = schemas::Binary, content_type = "application/cbor"),
        (status = 401, description = "no or wrong query token", body = ErrorBody),
        (status = 404, description = "unknown id", body = ErrorBody),
        (status = 503, description = "storage unavailable; retry", body = ErrorBody),
    ))]
pub async fn record(
    _: QueryClient,
    State(st): State<SharedState>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let r = st.store.receipt(&id).await?.ok_or_else(|| ApiError::not_found(format!("no receipt {id}")))?;
    Ok(([(header::CONTENT_TYPE, "application/cbor")], r.record))
}

/// The platform's evidence file
///
/// Its signed acknowledgement (receipt id, record hash, stored-at time) and the CA-issued
/// evidence certificate of its key, for `ereceipt verify --evidence` (see `ereceipt_core::evidence`).
#[utoipa::path(get, path = "/api/v1/receipts/{id}/evidence", tag = "query",
    security(("queryToken" = [])),
    params(("id" = String, Path, description = "Receipt id TERMINAL-BATCH-SERIAL")),
    responses(
        (status = 200, description = "evidence file (text, format `ereceipt-evidence: 1`)", body = String,
            content_type = "text/plain; charset=utf-8"),
        (status = 401, description = "no or wrong query token", body = ErrorBody),
        (status = 404, description = "unknown id", body = ErrorBody),
        (status = 503, description = "storage unavailable; retry", body = ErrorBody),
    ))]
pub async fn evidence(
    _: QueryClient,
    State(st): State<SharedState>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let r = st.store.receipt(&id).await?.ok_or_else(|| ApiError::not_found(format!("no receipt {id}")))?;
    let text = crate::services::verification::evidence_text(&st.keys, &r)
        .map_err(|e| ApiError::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text))
}

/// Verify a receipt image (PNG or JPEG); public
///
/// The verdict of `ereceipt verify --json` with the signer judged at the time the platform
/// stored the receipt (a revoked signer is authentic only for receipts stored before the
/// revocation), plus `platform`: whether the platform holds this receipt (same id and record
/// hash), when it stored it, and whether the file is a faithful copy of the stored original. A
/// few verifications run at once per client address and per core in total; more per network
/// in a while are refused.
#[utoipa::path(post, path = "/api/v1/verify", tag = "verification",
    request_body(description = "the image file", content(
        (schemas::Binary = "application/octet-stream"), (schemas::Binary = "image/png"), (schemas::Binary = "image/jpeg"),
    )),
    responses(
        (status = 200, description = "the verification", body = schemas::Verification),
        (status = 413, description = "too large", body = String, content_type = "text/plain"),
        (status = 429, description = "this client or network already runs its share of verifications (Retry-After)",
            body = ErrorBody),
        (status = 503, description = "the platform runs as many verifications as it allows (Retry-After), or \
            storage is unavailable", body = ErrorBody),
    ))]
pub async fn verify(
    State(st): State<SharedState>,
    axum::Extension(crate::infra::tls::Peer(peer)): axum::Extension<crate::infra::tls::Peer>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Result<axum::response::Response, ApiError> {
    let client = crate::web::support::client_ip(&st, peer, &headers);
    let limit = crate::domain::limits::VERIFIES_PER_NETWORK;
    if let Some(secs) = crate::web::support::network_limited(&st, limit, client).await? {
        return Ok(ApiError::rate_limited(
            secs,
            format!("too many verifications from this address; try again in {secs} s"),
        ));
    }
    let _permit = match st.verify_gate.try_enter(client) {
        Ok(p) => p,
        Err(busy) => return Ok(busy_response(busy)),
    };
    Ok(Json(crate::services::verification::verify(&st.store, &st.keys.ca.cert_der, body.to_vec()).await?)
        .into_response())
}

/// 429 (this client) or 503 (the platform) with `Retry-After: 1`: verifications take
/// milliseconds, so a slot frees soon.
fn busy_response(busy: Busy) -> axum::response::Response {
    let code = if matches!(busy, Busy::Client(_)) { "rate_limited" } else { "busy" };
    ApiError::retry_later(busy_status(&busy), code, 1, format!("{busy}; try again in 1 s"))
}
