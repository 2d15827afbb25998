//! Cross-site request forgery: a state-changing request must come from this origin and carry a
//! form token bound (HMAC under the platform's key) to this browser's cookie and its sessions.

use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use ereceipt_core::digest::constant_time_eq;
use ring::hmac;

use super::cookies::{cookie, CSRF_COOKIE, CUSTOMER_COOKIE, STAFF_COOKIE};
use crate::web::state::SharedState;

/// The session cookies the CSRF token is bound to (so a token of one session is useless in
/// another, and rotates at login).
pub(crate) fn session_cookies(headers: &HeaderMap) -> Option<String> {
    let c = cookie(headers, CUSTOMER_COOKIE).unwrap_or_default();
    let s = cookie(headers, STAFF_COOKIE).unwrap_or_default();
    (!c.is_empty() || !s.is_empty()).then(|| format!("{c}\0{s}"))
}

pub(crate) fn csrf_token(key: &[u8], csrf_cookie: &str, sessions: Option<&str>) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(b"ereceipt portal csrf\0");
    ctx.update(csrf_cookie.as_bytes());
    ctx.update(b"\0");
    ctx.update(sessions.unwrap_or("").as_bytes());
    hex::encode(ctx.sign().as_ref())
}

/// A form posted from one of this platform's pages: the origin and `Sec-Fetch-Site` are
/// checked before the body is read, then the form, then its `csrf` token. The extractor that
/// replaces a `check_post` call at the top of every POST handler; refusals are 403 as before.
pub(crate) struct CsrfForm<T>(pub(crate) T);

/// A form with nothing in it but its token (logout).
#[derive(serde::Deserialize)]
pub(crate) struct NoFields {}

#[derive(serde::Deserialize)]
struct WithToken<T> {
    #[serde(default)]
    csrf: String,
    #[serde(flatten)]
    form: T,
}

impl<T: serde::de::DeserializeOwned + Send> FromRequest<SharedState> for CsrfForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, st: &SharedState) -> Result<Self, Response> {
        check_site(req.headers()).map_err(IntoResponse::into_response)?;
        let headers = req.headers().clone();
        let Form(f) = Form::<WithToken<T>>::from_request(req, st).await.map_err(IntoResponse::into_response)?;
        check_token(st, &headers, &f.csrf).map_err(IntoResponse::into_response)?;
        Ok(CsrfForm(f.form))
    }
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
/// session. For the one form that is not urlencoded (the multipart verification upload);
/// the others use [`CsrfForm`].
pub(crate) fn check_post(st: &SharedState, headers: &HeaderMap, form_token: &str) -> Result<(), Forbidden> {
    check_site(headers)?;
    check_token(st, headers, form_token)
}

/// The request comes from this site, as far as the browser says.
fn check_site(headers: &HeaderMap) -> Result<(), Forbidden> {
    if !origin_is_this_site(headers) {
        return Err(Forbidden("request from another site refused"));
    }
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        if site != "same-origin" && site != "none" {
            return Err(Forbidden("request from another site refused"));
        }
    }
    Ok(())
}

/// The form token is the one this browser and session were given.
fn check_token(st: &SharedState, headers: &HeaderMap, form_token: &str) -> Result<(), Forbidden> {
    let Some(csrf_cookie) = cookie(headers, CSRF_COOKIE) else {
        return Err(Forbidden("the form expired; reload the page and try again"));
    };
    let expected = csrf_token(&st.keys.csrf_key, &csrf_cookie, session_cookies(headers).as_deref());
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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[derive(serde::Deserialize)]
    struct Login {
        phone: String,
        #[serde(default)]
        next: String,
    }

    async fn form<T: serde::de::DeserializeOwned>(body: &'static str) -> Option<WithToken<T>> {
        let req = Request::post("/")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(axum::body::Body::from(body))
            .ok()?;
        Form::<WithToken<T>>::from_request(req, &()).await.ok().map(|Form(f)| f)
    }

    #[tokio::test]
    async fn the_token_is_taken_out_and_the_handler_gets_the_rest_of_the_form() {
        let f = form::<Login>("phone=%2B8613800138000&csrf=abc&next=%2Fpull").await.expect("form");
        assert_eq!((f.csrf.as_str(), f.form.phone.as_str(), f.form.next.as_str()), ("abc", "+8613800138000", "/pull"));
        let f = form::<Login>("phone=1").await.expect("a missing token is empty, refused by the check");
        assert_eq!((f.csrf.as_str(), f.form.next.as_str()), ("", ""));
        assert!(form::<NoFields>("csrf=abc&extra=1").await.is_some_and(|f| f.csrf == "abc"));
        assert!(form::<Login>("csrf=abc").await.is_none(), "a form without its fields is still refused");
    }
}
