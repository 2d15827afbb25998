//! Customer login by SMS code (P3): texts a one-time code to a number that has receipts and
//! checks a code given back, over the store's atomic rate limits. Both the JSON pull API and the
//! portal's pages log customers in through here.

use chrono::Utc;
use ereceipt_core::model::PhoneNumber;

use crate::domain::login_codes::{self, LoginOutcome};
use crate::infra::delivery::{LoginCode, Message};
use crate::infra::store::{Issued, Store};
use crate::services::delivery::Channels;

/// What customer login needs: the store, the key codes are hashed under, the SMS channel.
pub struct CustomerLogin<'a> {
    pub store: &'a Store,
    pub otp_key: &'a [u8],
    /// The delivery channels; `None` when delivery is misconfigured (no code can be sent).
    pub channels: Option<&'a Channels>,
}

/// Why a login code was not sent.
#[derive(Debug)]
#[non_exhaustive]
pub enum CodeRefused {
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
    /// What the visitor is told, in English and in Chinese (the store's or channel's detail is
    /// logged, not shown).
    pub fn text(&self) -> (String, String) {
        match self {
            CodeRefused::RateLimited(secs) => {
                (format!("too many codes; try again in {secs} s"), format!("验证码请求过于频繁，请 {secs} 秒后再试"))
            }
            CodeRefused::NoSms | CodeRefused::SmsFailed(_) => {
                ("the code could not be sent; try again later".into(), "验证码发送失败，请稍后再试".into())
            }
            CodeRefused::Store(_) | CodeRefused::Internal(_) => {
                ("temporarily unavailable; try again shortly".into(), "服务暂时不可用，请稍后再试".into())
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
// The phone number and the code stay out of the spans: they are what the login protects.
#[tracing::instrument(skip_all, fields(client = %client))]
pub async fn send_login_code(
    login: &CustomerLogin<'_>,
    phone: &PhoneNumber,
    client: std::net::IpAddr,
) -> Result<(), CodeRefused> {
    if login.store.receipts_for_phone(phone.as_str()).await?.is_empty() {
        return Ok(());
    }
    let code = login_codes::new_code().map_err(|e| CodeRefused::Internal(e.to_string()))?;
    let now = Utc::now().timestamp_millis();
    let hash = login_codes::code_hash(login.otp_key, phone.as_str(), &code);
    let code_id = match login.store.issue_code(phone.as_str(), &client.to_string(), &hash, now).await? {
        Issued::Code { code_id, .. } => code_id,
        Issued::RateLimited { retry_after_ms } => return Err(CodeRefused::RateLimited((retry_after_ms + 999) / 1000)),
    };
    let Some(channels) = login.channels else { return Err(CodeRefused::NoSms) };
    let link = format!("{}/pull", channels.portal_url.trim_end_matches('/'));
    let msg = Message::LoginCode(LoginCode {
        delivery_id: format!("login.{code_id}"),
        recipient: phone.to_string(),
        code,
        link,
    });
    let sent = channels.sms.send(&msg).await;
    sent.map(|_| ()).map_err(|e| CodeRefused::SmsFailed(e.to_string()))
}

/// Why a code did not log in: what kind of refusal (the web edge maps it to a status), a machine
/// code, and the message in each language.
#[derive(Debug)]
pub struct LoginRefused {
    pub kind: LoginRefusal,
    pub code: &'static str,
    pub en: String,
    pub zh: String,
}

/// The kinds of refusal, for the edge's status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginRefusal {
    /// Not the right code (malformed, wrong, expired, used, none asked for).
    BadCode,
    /// Too many wrong tries.
    Locked,
    /// The store failed.
    Unavailable,
}

impl LoginRefused {
    fn new(kind: LoginRefusal, code: &'static str, en: impl Into<String>, zh: impl Into<String>) -> Self {
        Self { kind, code, en: en.into(), zh: zh.into() }
    }
}

/// Checks a login code for `phone`: `Ok` uses it up.
#[tracing::instrument(skip_all)]
pub async fn check_login_code(login: &CustomerLogin<'_>, phone: &PhoneNumber, code: &str) -> Result<(), LoginRefused> {
    let code = code.trim();
    if !login_codes::is_well_formed(code) {
        return Err(LoginRefused::new(
            LoginRefusal::BadCode,
            "malformed",
            "the code is six digits",
            "验证码为六位数字",
        ));
    }
    let now = Utc::now().timestamp_millis();
    let hash = login_codes::code_hash(login.otp_key, phone.as_str(), code);
    let outcome = login.store.check_code(phone.as_str(), &hash, now).await.map_err(|e| {
        tracing::error!(error = %e, "checking a login code failed");
        LoginRefused::new(LoginRefusal::Unavailable, "storage", "temporarily unavailable", "服务暂时不可用")
    })?;
    match outcome {
        LoginOutcome::Ok => Ok(()),
        LoginOutcome::Wrong { tries_left } => Err(LoginRefused::new(
            LoginRefusal::BadCode,
            "wrong_code",
            format!("wrong code; {tries_left} tries left"),
            format!("验证码错误，还可尝试 {tries_left} 次"),
        )),
        LoginOutcome::Locked => Err(LoginRefused::new(
            LoginRefusal::Locked,
            "locked",
            "too many wrong tries; ask for a new code",
            "错误次数过多，请重新获取验证码",
        )),
        LoginOutcome::Expired => Err(LoginRefused::new(
            LoginRefusal::BadCode,
            "expired",
            "the code expired; ask for a new one",
            "验证码已过期，请重新获取",
        )),
        LoginOutcome::Used => {
            Err(LoginRefused::new(LoginRefusal::BadCode, "used", "the code was already used", "验证码已使用"))
        }
        _ => Err(LoginRefused::new(LoginRefusal::BadCode, "no_code", "ask for a code first", "请先获取验证码")),
    }
}
