//! Sessions in cookies: a fresh one at every login (the old one ends), stored hashed, looked up
//! by kind; and where a login may send the browser afterwards.

use std::marker::PhantomData;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;

use super::cookies::{cookie, cookie_header, CUSTOMER_COOKIE};
use super::error::PageError;
use crate::infra::keys::{random_secret, token_hash};
use crate::infra::store::StoreError;
use crate::web::state::SharedState;

/// Sessions of customers (pull login).
pub(crate) const CUSTOMER: &str = "consumer";
/// Sessions of staff.
pub(crate) const STAFF: &str = "staff";

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

/// Where a role signs in and where its pages start (a file's request cannot come back to the
/// file after login, so staff are sent to their start page instead).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Door {
    pub(crate) login: &'static str,
    pub(crate) start: &'static str,
}

/// The customers' door.
pub(crate) const CUSTOMER_DOOR: Door = Door { login: "/pull", start: "/pull/receipts" };

/// How an edge answers a request that needs a session and has none: a redirect to the login
/// page for a portal page, a bare 401 for a file, a JSON 401 for the API.
pub(crate) trait SignedOut: Send + Sync + 'static {
    /// `here`: the request's path; `had_cookie`: a session cookie came, but its session ended.
    fn answer(door: Door, here: &str, had_cookie: bool) -> Response;
    /// The store failed while looking the session up.
    fn failed(e: StoreError) -> Response;
}

/// The customer signed in with a code, as an extractor: their phone number. `E` answers a
/// request without a live customer session. The JSON pull API and the portal share it.
pub(crate) struct Customer<E>(String, PhantomData<fn() -> E>);

impl<E> Customer<E> {
    /// The customer's phone number.
    pub(crate) fn phone(&self) -> &str {
        &self.0
    }
}

impl<E: SignedOut> FromRequestParts<SharedState> for Customer<E> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, st: &SharedState) -> Result<Self, Response> {
        let had_cookie = cookie(&parts.headers, CUSTOMER_COOKIE).is_some();
        match session_subject(st, &parts.headers, CUSTOMER_COOKIE, CUSTOMER).await {
            Ok(Some(phone)) => Ok(Customer(phone, PhantomData)),
            Ok(None) => Err(E::answer(CUSTOMER_DOOR, parts.uri.path(), had_cookie)),
            Err(e) => Err(E::failed(e)),
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

/// A local path to come back to after login or a language switch, else `default`.
///
/// Only the shape of a portal path is let through: `/` then `[A-Za-z0-9/_.-]`, and an optional
/// query of `[A-Za-z0-9/_.~=&%+-]`. An allow-list rather than a deny-list because browsers
/// delete tabs and newlines while parsing a URL (WHATWG), so `/\t/evil.example` is followed as
/// `//evil.example`; any control character, backslash, colon or non-ASCII byte is refused.
pub(crate) fn safe_next(next: Option<&str>, default: &str) -> String {
    match next {
        Some(n) if is_portal_path(n) => n.to_owned(),
        _ => default.to_owned(),
    }
}

/// Whether `n` looks like a path of this site (see [`safe_next`]).
fn is_portal_path(n: &str) -> bool {
    let (path, query) = match n.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (n, None),
    };
    let path_ok = |c: u8| c.is_ascii_alphanumeric() || b"/_.-".contains(&c);
    // `%` only in the query: an encoded byte there is never decoded into the path.
    let query_ok = |c: u8| c.is_ascii_alphanumeric() || b"/_.~=&%+-".contains(&c);
    path.starts_with('/')
        && !path.starts_with("//")
        && path.bytes().all(path_ok)
        && query.is_none_or(|q| q.bytes().all(query_ok))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/pull/receipts/T-1"), "/pull"), "/pull/receipts/T-1");
        for evil in ["//evil.example/", "https://evil.example/", "/\\evil.example", "evil", "/x?u=https://e"] {
            assert_eq!(safe_next(Some(evil), "/pull"), "/pull", "{evil}");
        }
        assert_eq!(safe_next(None, "/pull"), "/pull");
    }

    #[test]
    fn next_with_a_query_of_safe_characters_is_kept() {
        for ok in ["/ok?x=1", "/pull/receipts?page=2&sort=new", "/r/T-1.R-2?k=ab_c-d%2F~", "/"] {
            assert_eq!(safe_next(Some(ok), "/"), ok);
        }
    }

    #[test]
    fn whitespace_and_control_characters_cannot_smuggle_another_host() {
        // Browsers strip tab, CR and LF inside URLs, so each of these would become `//evil`.
        for evil in ["/\t/evil.example", "/\n/evil", "/\r/evil", "/\t\\evil", "\t//evil", "/ok\u{0}", "/ok?x=\t"] {
            assert_eq!(safe_next(Some(evil), "/"), "/", "{evil:?}");
        }
        for c in (0u8..0x20).chain([0x7f]) {
            let evil = format!("/{}/evil.example", c as char);
            assert_eq!(safe_next(Some(&evil), "/"), "/", "{evil:?}");
        }
    }

    #[test]
    fn encoded_or_non_ascii_paths_are_refused() {
        // A `%09` left encoded is harmless to a browser, but nothing in the portal needs it.
        for evil in
            ["/%09/evil", "/%2F%2Fevil", "/caf\u{e9}", "/\u{ff0f}\u{ff0f}evil", "/a b", "/x#frag", "/x:y", "/@evil"]
        {
            assert_eq!(safe_next(Some(evil), "/"), "/", "{evil:?}");
        }
    }
}
