//! Sessions in cookies: a fresh one at every login (the old one ends), stored hashed, looked up
//! by kind; and where a login may send the browser afterwards.

use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;

use super::cookies::{cookie, cookie_header};
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

/// A 303 to `to` (after a POST), with extra `Set-Cookie` headers.
pub(crate) fn see_other(to: &str, cookies: impl IntoIterator<Item = HeaderValue>) -> Response {
    let mut r = Redirect::to(to).into_response();
    for c in cookies {
        r.headers_mut().append(header::SET_COOKIE, c);
    }
    r
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

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/pull/receipts/T-1"), "/pull"), "/pull/receipts/T-1");
        for evil in ["//evil.example/", "https://evil.example/", "/\\evil.example", "evil", "/x?u=https://e"] {
            assert_eq!(safe_next(Some(evil), "/pull"), "/pull", "{evil}");
        }
        assert_eq!(safe_next(None, "/pull"), "/pull");
    }
}
