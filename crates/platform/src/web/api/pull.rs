//! Pull delivery (P3), the JSON half: a customer asks for a one-time code by SMS, logs in with
//! it, and sees, downloads and (through `/api/v1/verify`) checks every receipt sent to that
//! number. Sessions are `Secure; HttpOnly; SameSite=Strict` cookies rotated at each login;
//! state-changing requests from a foreign origin are refused.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use ereceipt_core::model::PhoneNumber;
use serde::Deserialize;
use utoipa::ToSchema;

use super::query::{receipt_png, ReceiptView};
use super::schemas::{self, ErrorBody};
use super::ApiError;
use crate::infra::store::StoreError;
use crate::infra::tls::Peer;
use crate::services::customer_login::{check_login_code, open_with_pull_code, send_login_code, CodeRefused};
use crate::web::state::SharedState;
use crate::web::support::session::CUSTOMER as KIND;
use crate::web::support::CUSTOMER_COOKIE as COOKIE;
use crate::web::support::{Door, ReceiptScope, SignedOut};

/// Refuses a state-changing request whose `Origin` is not this platform (CSRF).
fn same_origin(headers: &HeaderMap) -> Result<(), ApiError> {
    if crate::web::support::origin_is_this_site(headers) {
        Ok(())
    } else {
        Err(ApiError::new(StatusCode::FORBIDDEN, "foreign_origin", "request from another site refused"))
    }
}

fn phone(s: &str) -> Result<PhoneNumber, ApiError> {
    s.parse().map_err(|e: ereceipt_core::model::ModelError| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", e.to_string())
    })
}

#[derive(Deserialize, ToSchema)]
pub struct CodeRequest {
    /// E.164.
    #[schema(example = "+8613800138000")]
    phone: String,
}

/// Send a one-time login code by SMS
///
/// Sent when the number has receipts. The answer — status, body, and the work behind it — is
/// the same either way, so the endpoint does not tell who has receipts.
#[utoipa::path(post, path = "/api/v1/pull/code", tag = "pull",
    request_body = CodeRequest,
    responses(
        (status = 202, description = "sent if the number has receipts", body = schemas::CodeSent),
        (status = 400, description = "not JSON of this shape", body = String, content_type = "text/plain"),
        (status = 403, description = "foreign origin", body = ErrorBody),
        (status = 415, description = "not application/json", body = String, content_type = "text/plain"),
        (status = 422, description = "not an E.164 number", body = ErrorBody),
        (status = 429, description = "too many codes for this number, client or network (Retry-After)",
            body = ErrorBody),
        (status = 503, description = "SMS is not configured, or storage is unavailable", body = ErrorBody),
    ))]
pub async fn request_code(
    State(st): State<SharedState>,
    Extension(Peer(peer)): Extension<Peer>,
    headers: HeaderMap,
    Json(req): Json<CodeRequest>,
) -> Result<Response, ApiError> {
    same_origin(&headers)?;
    let phone = phone(&req.phone)?;
    let client = crate::web::support::client_ip(&st, peer, &headers);
    match send_login_code(&st.customer_login(), &phone, client).await {
        Ok(()) => Ok((
            StatusCode::ACCEPTED,
            Json(serde_json::json!({"message": "if receipts were sent to this number, a code is on its way"})),
        )
            .into_response()),
        Err(CodeRefused::RateLimited(secs)) => {
            Ok(ApiError::rate_limited(secs, format!("too many codes; try again in {secs} s")))
        }
        Err(CodeRefused::NoSms) => {
            Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "no_sms", "SMS is not configured"))
        }
        Err(CodeRefused::Store(e)) => Err(e.into()),
        Err(CodeRefused::Internal(e)) => Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e)),
    }
}

#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    /// E.164, as the code was asked for.
    phone: String,
    /// The code from the SMS.
    #[schema(example = "042917")]
    code: String,
}

/// Log in with the code
///
/// Sets a `Secure; HttpOnly; SameSite=Strict` session cookie, a new one at every login.
#[utoipa::path(post, path = "/api/v1/pull/login", tag = "pull",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "logged in; Set-Cookie holds the session", body = schemas::LoggedIn),
        (status = 400, description = "not JSON of this shape", body = String, content_type = "text/plain"),
        (status = 401, description = "wrong (tries left), expired or used code", body = ErrorBody),
        (status = 403, description = "foreign origin", body = ErrorBody),
        (status = 415, description = "not application/json", body = String, content_type = "text/plain"),
        (status = 422, description = "not an E.164 number", body = ErrorBody),
        (status = 429, description = "locked after too many wrong tries, or too many from this network",
            body = ErrorBody),
        (status = 503, description = "storage unavailable; retry", body = ErrorBody),
    ))]
pub async fn login(
    State(st): State<SharedState>,
    Extension(Peer(peer)): Extension<Peer>,
    headers: HeaderMap,
    Json(req): Json<LoginRequest>,
) -> Result<Response, ApiError> {
    same_origin(&headers)?;
    let phone = phone(&req.phone)?;
    let client = crate::web::support::client_ip(&st, peer, &headers);
    if let Err(r) = check_login_code(&st.customer_login(), &phone, &req.code, client).await {
        return Err(ApiError::new(crate::web::support::login_status(r.kind), r.code, r.en));
    }
    // The same sessions as the portal's pages: a fresh one at every login, the old one ends.
    let session = crate::web::support::new_session(&st, COOKIE, KIND, phone.as_str(), &headers).await?;
    let mut r = Json(serde_json::json!({"phone": phone.as_str()})).into_response();
    r.headers_mut().insert(header::SET_COOKIE, session);
    Ok(r)
}

#[derive(Deserialize, ToSchema)]
pub struct PullCodeRequest {
    /// E.164, the number the SMS went to.
    #[schema(example = "+8613800138000")]
    phone: String,
    /// The receipt number from the SMS (单号).
    #[schema(example = "T0000501-000001-000001")]
    receipt_id: String,
    /// The pull code from the SMS (提取码), 8 letters and digits.
    #[schema(example = "K7M2QX9P")]
    code: String,
}

/// Open one receipt with the pull code of its SMS
///
/// A link-free SMS (carriers that refuse links) names the receipt and carries a pull code. With
/// the number it went to, the code opens that receipt only: the answer is the receipt's own
/// link (`/r/ID?k=TOKEN`, good to the end of the next day, UTC) and its image's; no session is
/// made, so the number's other receipts stay closed. Wrong codes count as wrong login codes do.
#[utoipa::path(post, path = "/api/v1/pull/receipt", tag = "pull",
    request_body = PullCodeRequest,
    responses(
        (status = 200, description = "the receipt's links", body = schemas::PullOpened),
        (status = 400, description = "not JSON of this shape", body = String, content_type = "text/plain"),
        (status = 401, description = "wrong or malformed code for this receipt and number", body = ErrorBody),
        (status = 403, description = "foreign origin", body = ErrorBody),
        (status = 415, description = "not application/json", body = String, content_type = "text/plain"),
        (status = 422, description = "not an E.164 number", body = ErrorBody),
        (status = 429, description = "too many wrong codes for this number, or tries from this network",
            body = ErrorBody),
        (status = 503, description = "storage unavailable; retry", body = ErrorBody),
    ))]
pub async fn open_receipt(
    State(st): State<SharedState>,
    Extension(Peer(peer)): Extension<Peer>,
    headers: HeaderMap,
    Json(req): Json<PullCodeRequest>,
) -> Result<Json<serde_json::Value>, ApiError> {
    same_origin(&headers)?;
    let phone = phone(&req.phone)?;
    let client = crate::web::support::client_ip(&st, peer, &headers);
    let link = open_with_pull_code(&st.customer_login(), &phone, &req.receipt_id, &req.code, client)
        .await
        .map_err(|r| ApiError::new(crate::web::support::login_status(r.kind), r.code, r.en))?;
    let image = link.replacen("?k=", "/png?k=", 1);
    Ok(Json(serde_json::json!({"receipt_id": req.receipt_id.trim(), "link": link, "image": image})))
}

/// A pull request without a live session: JSON 401.
pub(crate) struct NoSession;

impl SignedOut for NoSession {
    fn answer(_: Door, _: &str, had_cookie: bool) -> Response {
        let message = if had_cookie { "the session ended; log in again" } else { "log in with a code first" };
        ApiError::unauthorized(message).into_response()
    }
    fn failed(e: StoreError) -> Response {
        ApiError::from(e).into_response()
    }
}

/// The customer of a pull request.
type Customer = crate::web::support::Customer<NoSession>;

/// The receipts sent to the logged-in number
#[utoipa::path(get, path = "/api/v1/pull/receipts", tag = "pull",
    security(("pullSession" = [])),
    responses(
        (status = 200, description = "the receipts", body = schemas::PullReceipts),
        (status = 401, description = "not logged in, or the session ended", body = ErrorBody),
        (status = 503, description = "storage unavailable; retry", body = ErrorBody),
    ))]
pub async fn receipts(who: Customer, State(st): State<SharedState>) -> Result<Json<serde_json::Value>, ApiError> {
    let items: Vec<ReceiptView> =
        st.store.receipts_for_phone(who.phone()).await?.into_iter().map(ReceiptView::from).collect();
    Ok(Json(serde_json::json!({ "items": items })))
}

/// Download one of the logged-in number's receipts
///
/// Any other id is "not found", whether it exists or not.
#[utoipa::path(get, path = "/api/v1/pull/receipts/{id}/image", tag = "pull",
    security(("pullSession" = [])),
    params(("id" = String, Path, description = "Receipt id TERMINAL-BATCH-SERIAL")),
    responses(
        (status = 200, description = "PNG, as an attachment", body = schemas::Binary, content_type = "image/png"),
        (status = 401, description = "not logged in, or the session ended", body = ErrorBody),
        (status = 404, description = "not one of this number's receipts", body = ErrorBody),
        (status = 503, description = "storage unavailable; retry", body = ErrorBody),
    ))]
pub async fn image(
    who: Customer,
    State(st): State<SharedState>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let png = receipt_png(&st, &ReceiptScope::Phone(who.phone().to_owned()), &id).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/png".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{id}.png\"")),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        png,
    ))
}

/// End the session
#[utoipa::path(post, path = "/api/v1/pull/logout", tag = "pull",
    security(("pullSession" = [])),
    responses(
        (status = 204, description = "ended (also without a session); Set-Cookie clears it"),
        (status = 403, description = "foreign origin", body = ErrorBody),
        (status = 503, description = "storage unavailable; retry", body = ErrorBody),
    ))]
pub async fn logout(State(st): State<SharedState>, headers: HeaderMap) -> Result<Response, ApiError> {
    same_origin(&headers)?;
    let mut r = StatusCode::NO_CONTENT.into_response();
    for gone in crate::web::support::end_session(&st, COOKIE, &headers).await? {
        r.headers_mut().append(header::SET_COOKIE, gone);
    }
    Ok(r)
}
