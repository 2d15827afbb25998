//! Customer login by SMS code (P3): texts a one-time code to a number that has receipts and
//! checks a code given back, under limits per number and per network that the store counts for
//! every process. Both the JSON pull API and the portal's pages log customers in through here.
//!
//! Asking for a code does the same work and gives the same answer whether or not the number has
//! receipts (M3): the limits are counted first, whatever the outcome; a code is stored either
//! way; only the text is skipped, and it is sent in the background, so neither its time nor its
//! failure shows in the answer.

use std::net::IpAddr;
use std::sync::Arc;

use chrono::Utc;
use ereceipt_core::model::PhoneNumber;

use crate::domain::limits::{network_of, CODES_PER_NETWORK, CODES_PER_NUMBER, LOGINS_PER_NETWORK, LOGINS_PER_NUMBER};
use crate::domain::login_codes::{self, LoginOutcome};
use crate::infra::delivery::{LoginCode, Message};
use crate::infra::store::{Counted, Store};
use crate::services::delivery::{attempt_limit, Channels};

/// Login texts on their way at once; beyond that a text is dropped (and logged) rather than
/// queued without bound. The limits per number and network keep honest use far below it.
pub const TEXTS_IN_FLIGHT: usize = 64;

/// Sends login codes by SMS in the background, at most [`TEXTS_IN_FLIGHT`] at a time.
///
/// Not the delivery queue: its rows belong to a stored receipt (`deliveries.receipt_id`), it
/// would keep the code in clear in the database (only an HMAC is kept), and its retries run for
/// hours while a code is good for ten minutes. A text lost to a crash is asked for again.
pub struct CodeTexts {
    channels: Arc<Channels>,
    in_flight: Arc<tokio::sync::Semaphore>,
}

impl CodeTexts {
    pub fn new(channels: Arc<Channels>) -> Self {
        Self { channels, in_flight: Arc::new(tokio::sync::Semaphore::new(TEXTS_IN_FLIGHT)) }
    }

    /// Hands `msg` to the SMS channel without waiting for it; the outcome is only logged.
    fn send_later(&self, msg: Message) {
        let Ok(permit) = self.in_flight.clone().try_acquire_owned() else {
            tracing::error!("too many login texts on their way; one was dropped");
            return;
        };
        let channels = self.channels.clone();
        tokio::spawn(async move {
            let limit = attempt_limit(channels.lease);
            match tokio::time::timeout(limit, channels.sms.send(&msg)).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "a login code could not be texted"),
                Err(_) => tracing::error!(seconds = limit.as_secs(), "texting a login code timed out"),
            }
            drop(permit);
        });
    }
}

/// What customer login needs: the store, the key codes are hashed under, the SMS sender.
pub struct CustomerLogin<'a> {
    pub store: &'a Store,
    pub otp_key: &'a [u8],
    /// The key of receipt links and pull codes (`link.key`).
    pub link_key: &'a [u8],
    /// The login texts; `None` when delivery is misconfigured (no code can be sent).
    pub texts: Option<&'a CodeTexts>,
}

/// Why a login code was not sent.
#[derive(Debug)]
#[non_exhaustive]
pub enum CodeRefused {
    /// Too many codes for this number or from this network; try again after this many seconds.
    RateLimited(i64),
    /// No SMS channel (not even the local outbox) is set up.
    NoSms,
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
            CodeRefused::NoSms => {
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

/// Whole seconds until `retry_after_ms` has passed.
fn seconds(retry_after_ms: i64) -> i64 {
    (retry_after_ms + 999) / 1000
}

/// Counts a request against `limits` in turn (the first one refused stops the count).
async fn within(
    store: &Store,
    limits: &[(crate::domain::limits::Limit, &str)],
    now: i64,
) -> Result<Result<(), i64>, crate::infra::store::StoreError> {
    for (limit, subject) in limits {
        if let Counted::Limited { retry_after_ms } = store.count_event(*limit, subject, now).await? {
            return Ok(Err(seconds(retry_after_ms)));
        }
    }
    Ok(Ok(()))
}

/// Texts a login code to `phone` when it has receipts; when it has none, does the same work
/// without the text and reports success all the same, so the answer does not tell who has
/// receipts. Counts the request per network and per number first, whatever follows.
// The phone number and the code stay out of the spans: they are what the login protects.
#[tracing::instrument(skip_all, fields(client = %client))]
pub async fn send_login_code(
    login: &CustomerLogin<'_>,
    phone: &PhoneNumber,
    client: IpAddr,
) -> Result<(), CodeRefused> {
    // A setting, the same for every number: safe to tell.
    let Some(texts) = login.texts else { return Err(CodeRefused::NoSms) };
    let now = Utc::now().timestamp_millis();
    let network = network_of(client);
    let limits = [(CODES_PER_NETWORK, network.as_str()), (CODES_PER_NUMBER, phone.as_str())];
    if let Err(secs) = within(login.store, &limits, now).await? {
        return Err(CodeRefused::RateLimited(secs));
    }
    // The number's texts of every kind (`delivery.limits`): a code held back is refused as any
    // other limit is, so the visitor learns when to ask again.
    let sends = texts.channels.send_limits.limits().map(|(limit, _)| (limit, phone.as_str()));
    if let Err(secs) = within(login.store, &sends, now).await? {
        return Err(CodeRefused::RateLimited(secs));
    }
    let has_receipts = login.store.has_receipts_for_phone(phone.as_str()).await?;
    let code = login_codes::new_code().map_err(|e| CodeRefused::Internal(e.to_string()))?;
    let hash = login_codes::code_hash(login.otp_key, phone.as_str(), &code);
    let code_id = login.store.issue_code(phone.as_str(), &network, &hash, now).await?;
    if has_receipts {
        let link = format!("{}/pull", texts.channels.portal_url.trim_end_matches('/'));
        texts.send_later(Message::LoginCode(LoginCode {
            delivery_id: format!("login.{code_id}"),
            recipient: phone.to_string(),
            code,
            link,
        }));
    }
    Ok(())
}

/// How long the link a pull code opens lasts: to the end of the next day (UTC).
const PULL_LINK_MS: i64 = 86_400_000;

/// Opens the receipt `receipt_id` for whoever has the pull code its SMS carried to `phone`:
/// `Ok` with the receipt's own link path (`/r/ID?k=TOKEN`), which shows that one receipt and
/// never the number's others. Every try counts against the client's network and, like a code
/// login, against the number's daily cap (a right code starts that count again).
#[tracing::instrument(skip_all, fields(client = %client))]
pub async fn open_with_pull_code(
    login: &CustomerLogin<'_>,
    phone: &PhoneNumber,
    receipt_id: &str,
    code: &str,
    client: IpAddr,
) -> Result<String, LoginRefused> {
    let unavailable = |e| storage_refused("pull code", e);
    let now = Utc::now().timestamp_millis();
    network_try(login.store, client, now).await?;
    let receipt_id = receipt_id.trim();
    if crate::domain::pull_code::normalise(code).is_none() || receipt_id.is_empty() || receipt_id.len() > 64 {
        return Err(LoginRefused::new(
            LoginRefusal::BadCode,
            "malformed",
            "the pull code is 8 letters and digits, with the receipt number from the same SMS",
            "提取码为 8 位字母和数字，需与同一短信中的单号一起填写",
        ));
    }
    let counted = login.store.count_event(LOGINS_PER_NUMBER, phone.as_str(), now).await.map_err(unavailable)?;
    if let Counted::Limited { retry_after_ms } = counted {
        let hours = (retry_after_ms + 3_599_999) / 3_600_000;
        return Err(LoginRefused::new(
            LoginRefusal::Locked,
            "too_many_tries",
            format!("too many wrong codes for this number; try again in {hours} h"),
            format!("该号码验证码错误次数过多，请 {hours} 小时后再试"),
        ));
    }
    if !crate::domain::pull_code::matches(login.link_key, receipt_id, phone.as_str(), code) {
        return Err(LoginRefused::new(
            LoginRefusal::BadCode,
            "wrong_code",
            "wrong pull code for this receipt and number",
            "提取码与单号或手机号不符",
        ));
    }
    login.store.reset_count(LOGINS_PER_NUMBER, phone.as_str()).await.map_err(unavailable)?;
    Ok(crate::services::links::receipt_link(login.link_key, "", receipt_id, now + PULL_LINK_MS))
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

/// The refusal when the store fails while checking a `what` (logged; the visitor is told only
/// that it is unavailable).
fn storage_refused(what: &str, e: crate::infra::store::StoreError) -> LoginRefused {
    tracing::error!(error = %e, "checking a {what} failed");
    LoginRefused::new(LoginRefusal::Unavailable, "storage", "temporarily unavailable", "服务暂时不可用")
}

/// Counts one login try against `client`'s network, refusing it past the limit.
async fn network_try(store: &Store, client: IpAddr, now: i64) -> Result<(), LoginRefused> {
    let network = network_of(client);
    let counted = within(store, &[(LOGINS_PER_NETWORK, network.as_str())], now).await;
    if let Err(secs) = counted.map_err(|e| storage_refused("login try", e))? {
        return Err(LoginRefused::new(
            LoginRefusal::Locked,
            "rate_limited",
            format!("too many login attempts from this address; try again in {secs} s"),
            format!("此地址登录尝试过多，请 {secs} 秒后再试"),
        ));
    }
    Ok(())
}

/// Checks a login code for `phone` from `client`: `Ok` uses it up. Every try counts against the
/// client's network first, and the store counts it against the number's daily cap.
#[tracing::instrument(skip_all, fields(client = %client))]
pub async fn check_login_code(
    login: &CustomerLogin<'_>,
    phone: &PhoneNumber,
    code: &str,
    client: IpAddr,
) -> Result<(), LoginRefused> {
    let unavailable = |e| storage_refused("login code", e);
    let now = Utc::now().timestamp_millis();
    network_try(login.store, client, now).await?;
    let code = code.trim();
    if !login_codes::is_well_formed(code) {
        return Err(LoginRefused::new(
            LoginRefusal::BadCode,
            "malformed",
            "the code is six digits",
            "验证码为六位数字",
        ));
    }
    let hash = login_codes::code_hash(login.otp_key, phone.as_str(), code);
    let outcome = login.store.check_code(phone.as_str(), &hash, now).await.map_err(unavailable)?;
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
        LoginOutcome::TooManyTries { retry_after_ms } => {
            let hours = (retry_after_ms + 3_599_999) / 3_600_000;
            Err(LoginRefused::new(
                LoginRefusal::Locked,
                "too_many_tries",
                format!("too many wrong codes for this number; try again in {hours} h"),
                format!("该号码验证码错误次数过多，请 {hours} 小时后再试"),
            ))
        }
        LoginOutcome::Used => {
            Err(LoginRefused::new(LoginRefusal::BadCode, "used", "the code was already used", "验证码已使用"))
        }
        _ => Err(LoginRefused::new(LoginRefusal::BadCode, "no_code", "ask for a code first", "请先获取验证码")),
    }
}

#[cfg(test)]
mod tests;
