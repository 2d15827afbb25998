//! Pull delivery (P3), the JSON half: a customer asks for a one-time code by SMS, logs in with
//! it, and sees, downloads and (through `/api/v1/verify`) checks every receipt sent to that
//! number. Sessions are `Secure; HttpOnly; SameSite=Strict` cookies rotated at each login;
//! state-changing requests from a foreign origin are refused.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::Utc;
use ereceipt_core::model::PhoneNumber;
use serde::Deserialize;

use super::query::ReceiptView;
use super::ApiError;
use crate::domain::login_codes::{self, LoginOutcome};
use crate::infra::delivery::Outgoing;
use crate::infra::keys::token_hash;
use crate::infra::store::Issued;
use crate::infra::tls::Peer;
use crate::state::SharedState;

/// The customer's session cookie (the portal's pages use the same sessions).
pub(crate) const COOKIE: &str = "ereceipt_pull";
/// Sessions of customers.
pub(crate) const KIND: &str = "consumer";

/// Refuses a state-changing request whose `Origin` is not this platform (CSRF).
fn same_origin(headers: &HeaderMap) -> Result<(), ApiError> {
    if crate::web::portal::origin_is_this_site(headers) {
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

/// Why a login code was not sent.
#[derive(Debug)]
pub(crate) enum CodeRefused {
    /// Too many codes for this number or from this client; try again after this many seconds.
    RateLimited(i64),
    /// No SMS channel (not even the local outbox) is set up.
    NoSms,
    /// The SMS channel failed; the reason.
    SmsFailed(String),
    /// The store failed.
    Store(crate::infra::store::StoreError),
    /// Anything else (no randomness).
    Internal(String),
}

impl CodeRefused {
    /// The visitor's message in `lang`.
    pub(crate) fn message(&self, lang: crate::web::portal::Lang) -> String {
        match self {
            CodeRefused::RateLimited(secs) => match lang {
                crate::web::portal::Lang::En => format!("too many codes; try again in {secs} s"),
                crate::web::portal::Lang::Zh => format!("验证码请求过于频繁，请 {secs} 秒后再试"),
            },
            CodeRefused::NoSms | CodeRefused::SmsFailed(_) => {
                lang.t("the code could not be sent; try again later", "验证码发送失败，请稍后再试").to_owned()
            }
            CodeRefused::Store(_) | CodeRefused::Internal(_) => {
                lang.t("temporarily unavailable; try again shortly", "服务暂时不可用，请稍后再试").to_owned()
            }
        }
    }
}

impl From<crate::infra::store::StoreError> for CodeRefused {
    fn from(e: crate::infra::store::StoreError) -> Self {
        CodeRefused::Store(e)
    }
}

/// Texts a login code to `phone` when it has receipts; when it has none, does nothing and
/// reports success all the same, so the answer does not tell who has receipts.
pub(crate) async fn send_login_code(
    st: &SharedState,
    phone: &PhoneNumber,
    client: std::net::IpAddr,
) -> Result<(), CodeRefused> {
    if st.store.receipts_for_phone(phone.as_str()).await?.is_empty() {
        return Ok(());
    }
    let code = login_codes::new_code().map_err(|e| CodeRefused::Internal(e.to_string()))?;
    let now = Utc::now().timestamp_millis();
    let hash = login_codes::code_hash(&st.keys.otp_key, phone.as_str(), &code);
    let code_id = match st.store.issue_code(phone.as_str(), &client.to_string(), &hash, now).await? {
        Issued::Code { code_id, .. } => code_id,
        Issued::RateLimited { retry_after_ms } => return Err(CodeRefused::RateLimited((retry_after_ms + 999) / 1000)),
    };
    let Some(channels) = &st.channels else { return Err(CodeRefused::NoSms) };
    let link = format!("{}/pull", channels.portal_url.trim_end_matches('/'));
    let text = format!("【电子签购单】验证码 {code}，10分钟内有效。Receipt login code {code}, valid 10 min: {link}");
    let out = Outgoing {
        delivery_id: format!("login.{code_id}"),
        receipt_id: String::new(),
        merchant_name: String::new(),
        amount: String::new(),
        time_local: String::new(),
        link,
        png: Vec::new(),
        recipient: phone.to_string(),
    };
    let sent = match &channels.sms {
        Some(sms) => sms.send_text(&out.delivery_id, &out.recipient, &text).await,
        None => channels.local.sms(&out, &text, &Utc::now().to_rfc3339()),
    };
    sent.map(|_| ()).map_err(|e| CodeRefused::SmsFailed(e.to_string()))
}

/// Sends a login code when the number has receipts. The answer is the same either way, so the
/// endpoint does not tell who has receipts.
pub async fn request_code(
    State(st): State<SharedState>,
    Extension(Peer(peer)): Extension<Peer>,
    headers: HeaderMap,
    Json(req): Json<CodeRequest>,
) -> Result<Response, ApiError> {
    same_origin(&headers)?;
    let phone = phone(&req.phone)?;
    match send_login_code(&st, &phone, peer.ip()).await {
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
        Err(CodeRefused::SmsFailed(e)) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "sms_failed",
            format!("the code could not be sent: {e}"),
        )),
        Err(CodeRefused::Store(e)) => Err(e.into()),
        Err(CodeRefused::Internal(e)) => Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e)),
    }
}

#[derive(Deserialize)]
pub struct LoginRequest {
    phone: String,
    code: String,
}

/// Why a code did not log in: HTTP status, machine code, and the message in each language.
pub(crate) struct LoginRefused {
    pub status: StatusCode,
    pub code: &'static str,
    pub en: String,
    pub zh: String,
}

impl LoginRefused {
    fn new(status: StatusCode, code: &'static str, en: impl Into<String>, zh: impl Into<String>) -> Self {
        Self { status, code, en: en.into(), zh: zh.into() }
    }
}

/// Checks a login code for `phone`: `Ok` uses it up.
pub(crate) async fn check_login_code(st: &SharedState, phone: &PhoneNumber, code: &str) -> Result<(), LoginRefused> {
    let code = code.trim();
    if !login_codes::is_well_formed(code) {
        return Err(LoginRefused::new(
            StatusCode::UNAUTHORIZED,
            "malformed",
            "the code is six digits",
            "验证码为六位数字",
        ));
    }
    let now = Utc::now().timestamp_millis();
    let hash = login_codes::code_hash(&st.keys.otp_key, phone.as_str(), code);
    let outcome = st.store.check_code(phone.as_str(), &hash, now).await.map_err(|e| {
        tracing::error!(error = %e, "checking a login code failed");
        LoginRefused::new(StatusCode::SERVICE_UNAVAILABLE, "storage", "temporarily unavailable", "服务暂时不可用")
    })?;
    match outcome {
        LoginOutcome::Ok => Ok(()),
        LoginOutcome::Wrong { tries_left } => Err(LoginRefused::new(
            StatusCode::UNAUTHORIZED,
            "wrong_code",
            format!("wrong code; {tries_left} tries left"),
            format!("验证码错误，还可尝试 {tries_left} 次"),
        )),
        LoginOutcome::Locked => Err(LoginRefused::new(
            StatusCode::TOO_MANY_REQUESTS,
            "locked",
            "too many wrong tries; ask for a new code",
            "错误次数过多，请重新获取验证码",
        )),
        LoginOutcome::Expired => Err(LoginRefused::new(
            StatusCode::UNAUTHORIZED,
            "expired",
            "the code expired; ask for a new one",
            "验证码已过期，请重新获取",
        )),
        LoginOutcome::Used => {
            Err(LoginRefused::new(StatusCode::UNAUTHORIZED, "used", "the code was already used", "验证码已使用"))
        }
        _ => Err(LoginRefused::new(StatusCode::UNAUTHORIZED, "no_code", "ask for a code first", "请先获取验证码")),
    }
}

pub async fn login(
    State(st): State<SharedState>,
    headers: HeaderMap,
    Json(req): Json<LoginRequest>,
) -> Result<Response, ApiError> {
    same_origin(&headers)?;
    let phone = phone(&req.phone)?;
    if let Err(r) = check_login_code(&st, &phone, &req.code).await {
        return Err(ApiError::new(r.status, r.code, r.en));
    }
    // The same sessions as the portal's pages: a fresh one at every login, the old one ends.
    let session = crate::web::portal::new_session(&st, COOKIE, KIND, phone.as_str(), &headers).await?;
    let mut r = Json(serde_json::json!({"phone": phone.as_str()})).into_response();
    r.headers_mut().insert(header::SET_COOKIE, session);
    Ok(r)
}

fn cookie(headers: &HeaderMap) -> Option<String> {
    crate::web::portal::cookie(headers, COOKIE)
}

async fn customer(st: &SharedState, headers: &HeaderMap) -> Result<String, ApiError> {
    let token = cookie(headers).ok_or_else(|| ApiError::unauthorized("log in with a code first"))?;
    st.store
        .session(&token_hash(&token), KIND, Utc::now().timestamp_millis())
        .await?
        .ok_or_else(|| ApiError::unauthorized("the session ended; log in again"))
}

pub async fn receipts(State(st): State<SharedState>, headers: HeaderMap) -> Result<Json<serde_json::Value>, ApiError> {
    let phone = customer(&st, &headers).await?;
    let items: Vec<ReceiptView> =
        st.store.receipts_for_phone(&phone).await?.into_iter().map(ReceiptView::from).collect();
    Ok(Json(serde_json::json!({ "items": items })))
}

/// The image of one of the customer's receipts; any other id is "not found", whether it
/// exists or not.
pub async fn image(
    State(st): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let phone = customer(&st, &headers).await?;
    let mine = st.store.receipt(&id).await?.filter(|r| r.delivery.as_ref().is_some_and(|(_, to)| *to == phone));
    if mine.is_none() {
        return Err(ApiError::not_found(format!("no receipt {id}")));
    }
    let png = st.store.receipt_image(&id).await?.ok_or_else(|| ApiError::not_found(format!("no receipt {id}")))?;
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
    for gone in crate::web::portal::end_session(&st, COOKIE, &headers).await? {
        r.headers_mut().append(header::SET_COOKIE, gone);
    }
    Ok(r)
}
