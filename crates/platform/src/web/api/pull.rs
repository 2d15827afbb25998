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

use super::query::{receipt_png, ReceiptView};
use super::ApiError;
use crate::infra::store::StoreError;
use crate::infra::tls::Peer;
use crate::services::customer_login::{check_login_code, send_login_code, CodeRefused};
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

#[derive(Deserialize)]
pub struct CodeRequest {
    phone: String,
}

/// Sends a login code when the number has receipts. The answer — status, body, and the work
/// behind it — is the same either way, so the endpoint does not tell who has receipts (M3).
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

#[derive(Deserialize)]
pub struct LoginRequest {
    phone: String,
    code: String,
}

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

pub async fn receipts(who: Customer, State(st): State<SharedState>) -> Result<Json<serde_json::Value>, ApiError> {
    let items: Vec<ReceiptView> =
        st.store.receipts_for_phone(who.phone()).await?.into_iter().map(ReceiptView::from).collect();
    Ok(Json(serde_json::json!({ "items": items })))
}

/// The image of one of the customer's receipts; any other id is "not found", whether it
/// exists or not.
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

pub async fn logout(State(st): State<SharedState>, headers: HeaderMap) -> Result<Response, ApiError> {
    same_origin(&headers)?;
    let mut r = StatusCode::NO_CONTENT.into_response();
    for gone in crate::web::support::end_session(&st, COOKIE, &headers).await? {
        r.headers_mut().append(header::SET_COOKIE, gone);
    }
    Ok(r)
}
