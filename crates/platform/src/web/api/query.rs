//! The query API (P1): a receipt's record, image and evidence by id, search with keyset paging,
//! and verification of an image (public: whoever holds a receipt may check it).

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use bytes::Bytes;
use chrono::DateTime;
use serde::{Deserialize, Serialize};

use super::{ApiError, QueryClient};
use crate::infra::store::{ReceiptQuery, StoredReceipt};
use crate::services::verification::gate::Busy;
use crate::web::state::SharedState;
use crate::web::support::json::{deliveries_json, rfc3339};
use crate::web::support::{busy_status, ReceiptScope};

/// Search parameters; times are RFC 3339, amounts minor units.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    merchant_id: Option<String>,
    terminal_id: Option<String>,
    from: Option<String>,
    to: Option<String>,
    min_amount: Option<i64>,
    max_amount: Option<i64>,
    currency: Option<String>,
    serial: Option<i64>,
    rrn: Option<String>,
    last4: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

/// One receipt as the API shows it.
#[derive(Debug, Serialize)]
pub(crate) struct ReceiptView {
    id: String,
    terminal_id: String,
    merchant_id: String,
    merchant_name: String,
    batch: i64,
    serial: i64,
    amount_minor: i64,
    currency: String,
    /// Local time of the sale with the terminal's offset.
    time: String,
    rrn: String,
    auth_code: String,
    card: String,
    card_brand: String,
    sequence: Option<i64>,
    record_hash: String,
    received_at: String,
    image: String,
    record: String,
}

impl From<StoredReceipt> for ReceiptView {
    fn from(r: StoredReceipt) -> Self {
        Self {
            image: format!("/api/v1/receipts/{}/image", r.receipt_id),
            record: format!("/api/v1/receipts/{}/record", r.receipt_id),
            time: r.time.rfc3339(),
            received_at: rfc3339(r.received_at, 0),
            record_hash: hex::encode(r.record_hash),
            id: r.receipt_id,
            terminal_id: r.terminal_id,
            merchant_id: r.merchant_id,
            merchant_name: r.merchant_name,
            batch: r.batch,
            serial: r.serial,
            amount_minor: i64::try_from(r.amount.minor()).unwrap_or(i64::MAX),
            currency: r.amount.currency().code().to_owned(),
            rrn: r.rrn,
            auth_code: r.auth_code,
            card: r.card_masked,
            card_brand: r.card_brand,
            sequence: r.sequence,
        }
    }
}

fn parse_time(field: &str, v: Option<&str>) -> Result<Option<i64>, ApiError> {
    v.map(|s| {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.timestamp_millis())
            .map_err(|e| ApiError::bad_request(format!("{field}: not an RFC 3339 time ({e})")))
    })
    .transpose()
}

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

/// One receipt, with its delivery choice and every delivery's state and history.
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

pub async fn record(
    _: QueryClient,
    State(st): State<SharedState>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let r = st.store.receipt(&id).await?.ok_or_else(|| ApiError::not_found(format!("no receipt {id}")))?;
    Ok(([(header::CONTENT_TYPE, "application/cbor")], r.record))
}

/// The platform's evidence that it stored a receipt (see `ereceipt_core::evidence`).
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

/// Same JSON as `ereceipt verify --json` plus `platform` (whether the platform holds this
/// receipt), with the signer judged at the platform's stored time.
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
