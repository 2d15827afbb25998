//! Reading cookies and setting them the one safe way (`Secure; HttpOnly; SameSite=Strict`), and
//! the names of the cookies the platform sets.

use axum::http::{header, HeaderMap, HeaderValue};

/// The per-browser cookie the CSRF tokens of forms are bound to.
pub(crate) const CSRF_COOKIE: &str = "ereceipt_csrf";
/// The language the visitor chose.
pub(crate) const LANG_COOKIE: &str = "ereceipt_lang";
/// The customer's session (pull login; the JSON API and the portal share it).
pub(crate) const CUSTOMER_COOKIE: &str = "ereceipt_pull";
/// A staff member's session (merchant or acquirer).
pub(crate) const STAFF_COOKIE: &str = "ereceipt_staff";

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
