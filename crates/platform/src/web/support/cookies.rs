//! Reading cookies and setting them the one safe way (`Secure; HttpOnly; SameSite=Strict`), and
//! the names of the cookies the platform sets. Every name has the `__Host-` prefix, so a
//! browser takes them only from this origin over HTTPS with `Path=/` and no `Domain`: a sibling
//! subdomain cannot plant a session or a CSRF cookie (login as the attacker).

use axum::http::{header, HeaderMap, HeaderValue};

/// The per-browser cookie the CSRF tokens of forms are bound to.
pub(crate) const CSRF_COOKIE: &str = "__Host-ereceipt_csrf";
/// The language the visitor chose.
pub(crate) const LANG_COOKIE: &str = "__Host-ereceipt_lang";
/// The customer's session (pull login; the JSON API and the portal share it).
pub(crate) const CUSTOMER_COOKIE: &str = "__Host-ereceipt_pull";
/// A staff member's session (merchant or acquirer).
pub(crate) const STAFF_COOKIE: &str = "__Host-ereceipt_staff";

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cookie_is_a_host_cookie_that_no_sibling_subdomain_can_set() {
        for name in [CSRF_COOKIE, LANG_COOKIE, CUSTOMER_COOKIE, STAFF_COOKIE] {
            assert!(name.starts_with("__Host-"), "{name}");
            let set = cookie_header(name, "v", 60).expect("a valid header");
            let set = set.to_str().expect("ascii");
            // What browsers require of a `__Host-` cookie, else they drop it.
            assert!(set.contains("; Secure") && set.contains("; Path=/;"), "{set}");
            assert!(!set.to_ascii_lowercase().contains("domain="), "{set}");
        }
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("ereceipt_pull=planted; __Host-ereceipt_pull=mine"));
        assert_eq!(cookie(&h, CUSTOMER_COOKIE).as_deref(), Some("mine"), "an unprefixed cookie is not read");
    }
}
