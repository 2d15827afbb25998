//! The portal (P3, P4): server-rendered HTML in Chinese and English for customers (one-time code
//! by SMS), merchant staff and the acquirer (password + TOTP). No script; forms and links only.
//!
//! Every page carries security headers; every form carries a CSRF token bound to a per-browser
//! cookie and to the session; every POST from another origin is refused. Sessions live in
//! `Secure; HttpOnly; SameSite=Strict` cookies, rotated at login, ended at logout or idle time.

mod acquirer;
mod batches;
mod bundle;
mod consumer;
mod enrol;
mod guards;
mod hold;
mod merchant;
mod pdf;
mod picture;
mod pull_code;
mod receipts;
mod staff;
mod views;

use std::convert::Infallible;

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::Markup;

use crate::infra::keys::random_secret;
use crate::web::state::SharedState;
pub(crate) use crate::web::support::{
    check_post, cookie, cookie_header, end_session, new_session, see_other, session_subject, CsrfForm, Lang, PageError,
    CSRF_COOKIE,
};
use crate::web::support::{csrf_token, session_cookies, Customer};
use guards::{Acquirer, Merchant, Refused, ToLogin, ToStart};

pub(crate) use consumer::MAX_VERIFY_BYTES;

/// The portal's pages: the public ones, then one router per role. A role's guard is its session
/// extractor, named in each handler's type (a page without a session goes to the login page and
/// back; a file to the login page and then the role's start page; a customer's image is 401).
pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/", get(views::home))
        .route("/lang", get(views::switch_language))
        .route("/static/portal.css", get(views::stylesheet))
        .route("/verify", get(consumer::verify_form).post(consumer::verify_upload))
        .route("/r/{id}", get(consumer::short_link))
        .route("/r/{id}/png", get(consumer::short_link_image))
        .route("/staff/login", get(staff::login_form).post(staff::login))
        .route("/staff/logout", post(staff::logout))
        .route("/staff/enrol", get(enrol::enrol_form).post(enrol::enrol))
        .merge(pull_routes())
        .merge(merchant_routes())
        .merge(acquirer_routes())
        .layer(middleware::from_fn(security_headers))
}

/// The customer's pages (code login, then their own receipts).
fn pull_routes() -> Router<SharedState> {
    Router::new()
        .route("/pull", get(consumer::start))
        .route("/pull/code", post(consumer::send_code))
        .route("/pull/login", post(consumer::login))
        .route("/pull/logout", post(consumer::logout))
        .route("/pull/receipt", get(pull_code::start).post(pull_code::open))
        .route("/pull/receipts", get(consumer::list))
        .route("/pull/receipts/{id}", get(receipts::detail::<Customer<ToLogin>>))
        .route("/pull/receipts/{id}/png", get(receipts::image::<Customer<Refused>>))
}

/// Merchant staff's pages (their merchant's receipts and settled batches).
fn merchant_routes() -> Router<SharedState> {
    Router::new()
        .route("/merchant/receipts", get(merchant::search))
        .route("/merchant/receipts.csv", get(merchant::export_csv))
        .route("/merchant/receipts/{id}", get(receipts::detail::<Merchant<ToLogin>>))
        .route("/merchant/receipts/{id}/png", get(receipts::image::<Merchant<ToStart>>))
        .route("/merchant/batches", get(batches::list))
        .route("/merchant/batches/{terminal}/{batch}", get(batches::detail::<Merchant<ToLogin>>))
        .route("/merchant/batches/{terminal}/{batch}/png", get(batches::image::<Merchant<ToStart>>))
}

/// The acquirer's pages (every receipt, the retrieval bundle, legal holds, any settled batch).
fn acquirer_routes() -> Router<SharedState> {
    Router::new()
        .route("/acquirer", get(acquirer::find))
        .route("/acquirer/receipts/{id}", get(receipts::detail::<Acquirer<ToLogin>>))
        .route("/acquirer/receipts/{id}/png", get(receipts::image::<Acquirer<ToStart>>))
        .route("/acquirer/receipts/{id}/bundle.zip", get(receipts::bundle::<Acquirer<ToStart>>))
        .route("/acquirer/receipts/{id}/hold", post(hold::place))
        .route("/acquirer/receipts/{id}/release", post(hold::release))
        .route("/acquirer/batches/{terminal}/{batch}", get(batches::detail::<Acquirer<ToLogin>>))
        .route("/acquirer/batches/{terminal}/{batch}/png", get(batches::image::<Acquirer<ToStart>>))
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

/// What a page needs to know about the request: language, CSRF token, where it is. An
/// extractor (the path is the request's; [`Ctx::at`] names another, e.g. the form a POST
/// answers with).
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
    fn new(st: &SharedState, headers: &HeaderMap, path: &str) -> Ctx {
        let (csrf_cookie, new_csrf_cookie) = match cookie(headers, CSRF_COOKIE) {
            Some(c) => (c, None),
            None => {
                let c = random_secret().unwrap_or_default();
                (c.clone(), Some(c))
            }
        };
        let csrf = csrf_token(&st.keys.csrf_key, &csrf_cookie, session_cookies(headers).as_deref());
        Ctx { lang: Lang::of(headers), csrf, new_csrf_cookie, path: path.to_owned() }
    }

    /// The same context for the page at `path` (the language switch comes back there).
    pub(crate) fn at(mut self, path: &str) -> Ctx {
        path.clone_into(&mut self.path);
        self
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

impl FromRequestParts<SharedState> for Ctx {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, st: &SharedState) -> Result<Self, Infallible> {
        Ok(Ctx::new(st, &parts.headers, parts.uri.path()))
    }
}
