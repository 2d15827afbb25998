//! The portal (P3, P4): server-rendered HTML in Chinese and English for customers (one-time code
//! by SMS), merchant staff and the acquirer (password + TOTP). No script; forms and links only.
//!
//! Every page carries security headers; every form carries a CSRF token bound to a per-browser
//! cookie and to the session; every POST from another origin is refused. Sessions live in
//! `Secure; HttpOnly; SameSite=Strict` cookies, rotated at login, ended at logout or idle time.

mod acquirer;
mod bundle;
mod consumer;
mod merchant;
mod pdf;
mod picture;
mod staff;
mod views;

use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::Utc;
use ereceipt_core::encoding::constant_time_eq;
use maud::Markup;
use ring::hmac;

use crate::infra::keys::{random_secret, token_hash};
use crate::infra::store::StoreError;
use crate::state::SharedState;

pub(crate) use consumer::{CONSUMER_COOKIE, MAX_VERIFY_BYTES};

/// The per-browser cookie the CSRF tokens of forms are bound to.
const CSRF_COOKIE: &str = "ereceipt_csrf";
/// The language the visitor chose.
const LANG_COOKIE: &str = "ereceipt_lang";

/// The portal's pages.
pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/", get(views::home))
        .route("/lang", get(views::switch_language))
        .route("/static/portal.css", get(views::stylesheet))
        .route("/verify", get(consumer::verify_form).post(consumer::verify_upload))
        .route("/r/{id}", get(consumer::short_link))
        .route("/r/{id}/png", get(consumer::short_link_image))
        .route("/pull", get(consumer::start))
        .route("/pull/code", post(consumer::send_code))
        .route("/pull/login", post(consumer::login))
        .route("/pull/logout", post(consumer::logout))
        .route("/pull/receipts", get(consumer::list))
        .route("/pull/receipts/{id}", get(consumer::detail))
        .route("/pull/receipts/{id}/png", get(consumer::image))
        .route("/staff/login", get(staff::login_form).post(staff::login))
        .route("/staff/logout", post(staff::logout))
        .route("/merchant/receipts", get(merchant::search))
        .route("/merchant/receipts.csv", get(merchant::export_csv))
        .route("/merchant/receipts/{id}", get(merchant::detail))
        .route("/merchant/receipts/{id}/png", get(merchant::image))
        .route("/acquirer", get(acquirer::find))
        .route("/acquirer/receipts/{id}", get(acquirer::detail))
        .route("/acquirer/receipts/{id}/png", get(acquirer::image))
        .route("/acquirer/receipts/{id}/bundle.zip", get(acquirer::bundle))
        .layer(middleware::from_fn(security_headers))
}

/// The portal's content security policy: this origin's stylesheet and images, nothing else.
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

/// Headers on every portal response: no framing, no sniffing, no caching of receipts, a CSP that
/// allows only this origin's stylesheet and images, HSTS.
async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    let set = |h: &mut HeaderMap, name: HeaderName, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    // A page may carry its own, stricter or with one named exception (the check page's picture).
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        set(h, header::CONTENT_SECURITY_POLICY, CSP);
    }
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    // Not `no-referrer`: with it, browsers send `Origin: null` on form posts, which the CSRF
    // check would refuse.
    set(h, header::REFERRER_POLICY, "same-origin");
    set(h, header::STRICT_TRANSPORT_SECURITY, "max-age=31536000");
    set(h, HeaderName::from_static("cross-origin-opener-policy"), "same-origin");
    set(h, HeaderName::from_static("permissions-policy"), "camera=(), microphone=(), geolocation=()");
    if !h.contains_key(header::CACHE_CONTROL) {
        set(h, header::CACHE_CONTROL, "no-store");
    }
    res
}

/// The visitor's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lang {
    En,
    Zh,
}

impl Lang {
    /// The text in this language.
    pub(crate) fn t(self, en: &'static str, zh: &'static str) -> &'static str {
        match self {
            Lang::En => en,
            Lang::Zh => zh,
        }
    }

    /// From the language cookie, else the first language of `Accept-Language` we speak.
    fn of(headers: &HeaderMap) -> Lang {
        if let Some(v) = cookie(headers, LANG_COOKIE) {
            return if v == "zh" { Lang::Zh } else { Lang::En };
        }
        let accept = headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).unwrap_or("");
        for tag in accept.split(',') {
            let tag = tag.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
            if tag.starts_with("zh") {
                return Lang::Zh;
            }
            if tag.starts_with("en") {
                return Lang::En;
            }
        }
        Lang::Zh
    }
}

/// A cookie's value from the request.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|c| {
        let (k, v) = c.trim().split_once('=')?;
        (k == name && !v.is_empty()).then(|| v.to_owned())
    })
}

/// `Set-Cookie` for a session or CSRF cookie: only over HTTPS, never to script, never sent
/// along from another site.
pub(crate) fn cookie_header(name: &str, value: &str, max_age_s: i64) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!("{name}={value}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age={max_age_s}"))
        .ok()
}

/// What a page needs to know about the request: language, CSRF token, where it is.
pub(crate) struct Ctx {
    pub lang: Lang,
    /// The token forms on this page carry.
    pub csrf: String,
    /// A CSRF cookie to set (the browser had none).
    new_csrf_cookie: Option<String>,
    /// The path of this page (for the language switch to come back to).
    pub path: String,
}

impl Ctx {
    /// The context of a page request, creating the CSRF cookie if the browser has none.
    pub(crate) fn new(st: &SharedState, headers: &HeaderMap, path: &str) -> Ctx {
        let (csrf_cookie, new_csrf_cookie) = match cookie(headers, CSRF_COOKIE) {
            Some(c) => (c, None),
            None => {
                let c = random_secret().unwrap_or_default();
                (c.clone(), Some(c))
            }
        };
        let csrf = csrf_token(&st.keys.otp_key, &csrf_cookie, session_cookies(headers).as_deref());
        Ctx { lang: Lang::of(headers), csrf, new_csrf_cookie, path: path.to_owned() }
    }

    /// Renders `body` with `status`, setting the CSRF cookie when it is new.
    pub(crate) fn page(&self, status: StatusCode, body: Markup) -> Response {
        let mut r = (status, body.into_string()).into_response();
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
        if let Some(c) = &self.new_csrf_cookie {
            if let Some(v) = cookie_header(CSRF_COOKIE, c, 12 * 3600) {
                r.headers_mut().append(header::SET_COOKIE, v);
            }
        }
        r
    }
}

/// The session cookies the CSRF token is bound to (so a token of one session is useless in
/// another, and rotates at login).
fn session_cookies(headers: &HeaderMap) -> Option<String> {
    let c = cookie(headers, CONSUMER_COOKIE).unwrap_or_default();
    let s = cookie(headers, staff::STAFF_COOKIE).unwrap_or_default();
    (!c.is_empty() || !s.is_empty()).then(|| format!("{c}\0{s}"))
}

fn csrf_token(key: &[u8], csrf_cookie: &str, sessions: Option<&str>) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(b"ereceipt portal csrf\0");
    ctx.update(csrf_cookie.as_bytes());
    ctx.update(b"\0");
    ctx.update(sessions.unwrap_or("").as_bytes());
    hex::encode(ctx.sign().as_ref())
}

/// The link put in a receipt's messages: `BASE/r/ID?k=TOKEN`. The token (96 bits of an HMAC
/// under the platform's key) lets whoever holds the message see that one receipt without logging
/// in, as the person it was sent to; without it, `/r/ID` asks for the code login.
pub fn receipt_link(key: &[u8], base: &str, receipt_id: &str) -> String {
    format!("{}/r/{}?k={}", base.trim_end_matches('/'), views::urlencode(receipt_id), link_token(key, receipt_id))
}

fn link_token(key: &[u8], receipt_id: &str) -> String {
    let tag =
        hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), format!("ereceipt receipt link\0{receipt_id}").as_bytes());
    base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &tag.as_ref()[..12])
}

/// Whether `token` is the link token of `receipt_id` (constant time).
pub(crate) fn link_token_matches(key: &[u8], receipt_id: &str, token: &str) -> bool {
    let expected = link_token(key, receipt_id);
    constant_time_eq(expected.as_bytes(), token.as_bytes())
}

/// A form that carries nothing but its CSRF token (logout).
#[derive(serde::Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// Why a POST was refused before it was looked at.
#[derive(Debug)]
pub(crate) struct Forbidden(pub(crate) &'static str);

/// Whether the request's `Origin`, when the browser sends one, is this platform (the JSON pull
/// API and the portal's forms both refuse state changes from elsewhere).
pub(crate) fn origin_is_this_site(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else { return true };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    origin.to_str().ok() == Some(&format!("https://{host}"))
}

/// Checks a state-changing request: it must come from this origin (`Origin` and
/// `Sec-Fetch-Site`, when the browser sends them) and carry the form token of this browser and
/// session.
pub(crate) fn check_post(st: &SharedState, headers: &HeaderMap, form_token: &str) -> Result<(), Forbidden> {
    if !origin_is_this_site(headers) {
        return Err(Forbidden("request from another site refused"));
    }
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        if site != "same-origin" && site != "none" {
            return Err(Forbidden("request from another site refused"));
        }
    }
    let Some(csrf_cookie) = cookie(headers, CSRF_COOKIE) else {
        return Err(Forbidden("the form expired; reload the page and try again"));
    };
    let expected = csrf_token(&st.keys.otp_key, &csrf_cookie, session_cookies(headers).as_deref());
    if constant_time_eq(expected.as_bytes(), form_token.as_bytes()) {
        Ok(())
    } else {
        Err(Forbidden("the form expired; reload the page and try again"))
    }
}

impl IntoResponse for Forbidden {
    fn into_response(self) -> Response {
        (StatusCode::FORBIDDEN, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], self.0).into_response()
    }
}

/// A failure while rendering a page: the store failed (details logged, the visitor gets a plain
/// 503 page), or a POST was refused.
pub(crate) enum PageError {
    Store(StoreError),
    Forbidden(Forbidden),
    /// The server could not do its part (no randomness for a session).
    Internal(&'static str),
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        PageError::Store(e)
    }
}

impl From<Forbidden> for PageError {
    fn from(e: Forbidden) -> Self {
        PageError::Forbidden(e)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            PageError::Forbidden(f) => f.into_response(),
            PageError::Internal(what) => {
                tracing::error!(what, "portal page failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error; see the platform log").into_response()
            }
            PageError::Store(e) => {
                tracing::error!(error = %e, "portal page failed");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                    "服务暂时不可用 / temporarily unavailable; try again shortly",
                )
                    .into_response()
            }
        }
    }
}

/// A 303 to `to` (after a POST), with extra `Set-Cookie` headers.
pub(crate) fn see_other(to: &str, cookies: impl IntoIterator<Item = HeaderValue>) -> Response {
    let mut r = Redirect::to(to).into_response();
    for c in cookies {
        r.headers_mut().append(header::SET_COOKIE, c);
    }
    r
}

/// A new session for `subject`: the cookie header to set, stored hashed.
pub(crate) async fn new_session(
    st: &SharedState,
    cookie_name: &str,
    kind: &str,
    subject: &str,
    headers: &HeaderMap,
) -> Result<HeaderValue, PageError> {
    // Whatever session the browser had ends: a fresh one at every login (no fixation).
    if let Some(old) = cookie(headers, cookie_name) {
        st.store.end_session(&token_hash(&old)).await?;
    }
    let token = random_secret().ok_or(PageError::Internal("no randomness"))?;
    st.store.create_session(&token_hash(&token), kind, subject, Utc::now().timestamp_millis()).await?;
    cookie_header(cookie_name, &token, crate::infra::store::SESSION_MAX_MS / 1000)
        .ok_or(PageError::Internal("session cookie header"))
}

/// Ends the session in `cookie_name` and returns the header that deletes the cookie.
pub(crate) async fn end_session(
    st: &SharedState,
    cookie_name: &str,
    headers: &HeaderMap,
) -> Result<Vec<HeaderValue>, PageError> {
    if let Some(token) = cookie(headers, cookie_name) {
        st.store.end_session(&token_hash(&token)).await?;
    }
    Ok(cookie_header(cookie_name, "", 0).into_iter().collect())
}

/// The subject of the live session in `cookie_name` of `kind`, if any.
pub(crate) async fn session_subject(
    st: &SharedState,
    headers: &HeaderMap,
    cookie_name: &str,
    kind: &str,
) -> Result<Option<String>, StoreError> {
    let Some(token) = cookie(headers, cookie_name) else { return Ok(None) };
    st.store.session(&token_hash(&token), kind, Utc::now().timestamp_millis()).await
}

/// A local path to come back to after login: must start with one `/` (no other site).
pub(crate) fn safe_next(next: Option<&str>, default: &str) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') && !n.contains("://") => {
            n.to_owned()
        }
        _ => default.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            if let Ok(v) = HeaderValue::from_str(v) {
                h.append(*k, v);
            }
        }
        h
    }

    #[test]
    fn language_from_cookie_then_accept_language() {
        assert_eq!(Lang::of(&headers(&[("accept-language", "en-GB,en;q=0.9")])), Lang::En);
        assert_eq!(Lang::of(&headers(&[("accept-language", "zh-CN,zh;q=0.9,en;q=0.8")])), Lang::Zh);
        assert_eq!(Lang::of(&headers(&[("accept-language", "fr, en;q=0.5")])), Lang::En);
        assert_eq!(
            Lang::of(&headers(&[("accept-language", "en"), ("cookie", "a=b; ereceipt_lang=zh")])),
            Lang::Zh,
            "the visitor's choice wins"
        );
        assert_eq!(Lang::of(&headers(&[])), Lang::Zh);
    }

    #[test]
    fn csrf_tokens_bind_to_browser_and_session() {
        let k = b"key";
        let t = csrf_token(k, "browser-a", None);
        assert_eq!(t, csrf_token(k, "browser-a", None));
        assert_ne!(t, csrf_token(k, "browser-b", None));
        assert_ne!(t, csrf_token(k, "browser-a", Some("session\0")));
        assert_ne!(csrf_token(k, "browser-a", Some("s1\0")), csrf_token(k, "browser-a", Some("s2\0")));
        assert_ne!(t, csrf_token(b"other key", "browser-a", None));
    }

    #[test]
    fn receipt_links_open_only_their_receipt() {
        let link = receipt_link(b"key", "https://r.example/", "T1-000001-000001");
        let token = link.split("?k=").nth(1).unwrap_or_default();
        assert!(link.starts_with("https://r.example/r/T1-000001-000001?k="), "{link}");
        assert_eq!(token.len(), 16, "short enough for an SMS");
        assert!(link_token_matches(b"key", "T1-000001-000001", token));
        assert!(!link_token_matches(b"key", "T1-000001-000002", token));
        assert!(!link_token_matches(b"other key", "T1-000001-000001", token));
        assert!(!link_token_matches(b"key", "T1-000001-000001", ""));
    }

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/pull/receipts/T-1"), "/pull"), "/pull/receipts/T-1");
        for evil in ["//evil.example/", "https://evil.example/", "/\\evil.example", "evil", "/x?u=https://e"] {
            assert_eq!(safe_next(Some(evil), "/pull"), "/pull", "{evil}");
        }
        assert_eq!(safe_next(None, "/pull"), "/pull");
    }
}
