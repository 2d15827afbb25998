//! Who may talk to the touch UI: only its own page. Checks the Host (no DNS rebinding), the
//! Origin of state changes and a per-launch token, and sets the security headers on every answer.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ereceipt_core::digest::constant_time_eq;
use std::net::SocketAddr;
use std::sync::Arc;

/// The header the page sends the token in (GETs of images may use `?token=` instead).
pub const TOKEN_HEADER: &str = "x-ereceipt-ui-token";

/// The content security policy: everything from this server, no inline script or style, no
/// frames, no forms posting elsewhere, no plug-ins.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The per-launch secret and the host names this server answers to.
#[derive(Debug, Clone)]
pub struct Guard {
    token: String,
    hosts: Vec<String>,
}

/// Why a request was refused (said in the answer; the page never sees these in normal use).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The Host header names another server (a DNS-rebinding page, or a proxy).
    Host,
    /// A state change from another origin, or without an Origin header.
    Origin,
    /// The per-launch token is missing or wrong.
    Token,
}

impl Refused {
    fn message(self) -> &'static str {
        match self {
            Refused::Host => "this server answers only to its own address (Host header refused)",
            Refused::Origin => "requests from other origins are refused",
            Refused::Token => "missing or wrong UI token: open the address `ereceipt terminal ui` printed",
        }
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let status = if self == Refused::Host { StatusCode::MISDIRECTED_REQUEST } else { StatusCode::FORBIDDEN };
        tracing::warn!(reason = self.message(), "UI request refused");
        let body = serde_json::json!({"error": "refused", "message_en": self.message(),
            "message_zh": "请求被拒绝：请打开 ereceipt terminal ui 显示的地址"});
        (status, axum::Json(body)).into_response()
    }
}

impl Guard {
    /// A guard for a server bound to `addr`, with a fresh random token.
    pub fn new(addr: SocketAddr) -> Self {
        use rand::RngCore;
        let mut bytes = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut bytes);
        Self::with_token(addr, hex::encode(bytes))
    }

    pub(crate) fn with_token(addr: SocketAddr, token: String) -> Self {
        let port = addr.port();
        let mut hosts = vec![addr.to_string()];
        if addr.ip().is_loopback() {
            hosts.extend([format!("localhost:{port}"), format!("127.0.0.1:{port}"), format!("[::1]:{port}")]);
        }
        Self { token, hosts }
    }

    /// The token the page embeds and sends back.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Checks one request: Host always; for `/api/` also the token, and for anything but
    /// GET/HEAD the Origin (and `Sec-Fetch-Site` when the browser sends it).
    pub fn check(&self, method: &Method, path: &str, query: Option<&str>, headers: &HeaderMap) -> Result<(), Refused> {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).ok_or(Refused::Host)?;
        if !self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host)) {
            return Err(Refused::Host);
        }
        if !path.starts_with("/api/") {
            return Ok(());
        }
        let safe = method == Method::GET || method == Method::HEAD;
        if !safe {
            let origin = headers.get(header::ORIGIN).and_then(|h| h.to_str().ok()).ok_or(Refused::Origin)?;
            if !origin.eq_ignore_ascii_case(&format!("http://{host}")) {
                return Err(Refused::Origin);
            }
            if let Some(site) = headers.get("sec-fetch-site").and_then(|h| h.to_str().ok()) {
                if site != "same-origin" {
                    return Err(Refused::Origin);
                }
            }
        }
        let from_header = headers.get(TOKEN_HEADER).and_then(|h| h.to_str().ok());
        let from_query =
            if safe { query.and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("token="))) } else { None };
        match from_header.or(from_query) {
            // Constant time, so the token cannot be guessed byte by byte from timings.
            Some(t) if constant_time_eq(t.as_bytes(), self.token.as_bytes()) => Ok(()),
            _ => Err(Refused::Token),
        }
    }
}

/// The middleware: refuses what [`Guard::check`] refuses, and adds the security headers.
pub async fn protect(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    let checked = guard.check(request.method(), request.uri().path(), request.uri().query(), request.headers());
    let mut response = match checked {
        Ok(()) => next.run(request).await,
        Err(refused) => refused.into_response(),
    };
    let h = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    h.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    h.insert("cross-origin-resource-policy", HeaderValue::from_static("same-origin"));
    h.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=(), payment=(), usb=()"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> Guard {
        Guard::with_token("127.0.0.1:8080".parse().expect("address"), "secret-token".into())
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).expect("header value"));
        }
        h
    }

    const OK_POST: &[(&str, &str)] =
        &[("host", "127.0.0.1:8080"), ("origin", "http://127.0.0.1:8080"), (TOKEN_HEADER, "secret-token")];

    #[test]
    fn the_page_itself_is_let_in() {
        let g = guard();
        assert_eq!(g.check(&Method::POST, "/api/sales", None, &headers(OK_POST)), Ok(()));
        let localhost =
            headers(&[("host", "localhost:8080"), ("origin", "http://localhost:8080"), (TOKEN_HEADER, "secret-token")]);
        assert_eq!(g.check(&Method::POST, "/api/sales", None, &localhost), Ok(()));
        assert_eq!(g.check(&Method::GET, "/", None, &headers(&[("host", "127.0.0.1:8080")])), Ok(()));
        let image = headers(&[("host", "127.0.0.1:8080")]);
        assert_eq!(g.check(&Method::GET, "/api/receipts/X/image", Some("token=secret-token"), &image), Ok(()));
    }

    #[test]
    fn other_origins_and_missing_tokens_are_refused() {
        let g = guard();
        let foreign =
            headers(&[("host", "127.0.0.1:8080"), ("origin", "http://evil.example"), (TOKEN_HEADER, "secret-token")]);
        assert_eq!(g.check(&Method::POST, "/api/sales", None, &foreign), Err(Refused::Origin));
        let other_port =
            headers(&[("host", "127.0.0.1:8080"), ("origin", "http://127.0.0.1:9999"), (TOKEN_HEADER, "secret-token")]);
        assert_eq!(g.check(&Method::POST, "/api/sales", None, &other_port), Err(Refused::Origin));
        let no_origin = headers(&[("host", "127.0.0.1:8080"), (TOKEN_HEADER, "secret-token")]);
        assert_eq!(g.check(&Method::POST, "/api/sales", None, &no_origin), Err(Refused::Origin));
        let cross_site = headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080"),
            ("sec-fetch-site", "cross-site"),
            (TOKEN_HEADER, "secret-token"),
        ]);
        assert_eq!(g.check(&Method::POST, "/api/sales", None, &cross_site), Err(Refused::Origin));
        let no_token = headers(&[("host", "127.0.0.1:8080"), ("origin", "http://127.0.0.1:8080")]);
        assert_eq!(g.check(&Method::POST, "/api/sales", None, &no_token), Err(Refused::Token));
        let wrong =
            headers(&[("host", "127.0.0.1:8080"), ("origin", "http://127.0.0.1:8080"), (TOKEN_HEADER, "secret-tokeN")]);
        assert_eq!(g.check(&Method::POST, "/api/sales", None, &wrong), Err(Refused::Token));
        // A token in the query string is for GETs (image tags) only.
        assert_eq!(g.check(&Method::POST, "/api/sales", Some("token=secret-token"), &no_token), Err(Refused::Token));
        assert_eq!(
            g.check(&Method::GET, "/api/config", None, &headers(&[("host", "127.0.0.1:8080")])),
            Err(Refused::Token)
        );
    }

    #[test]
    fn a_rebinding_host_is_refused_even_for_the_page() {
        let g = guard();
        for host in ["evil.example:8080", "127.0.0.1:8081", ""] {
            let h = headers(&[("host", host), ("origin", &format!("http://{host}")), (TOKEN_HEADER, "secret-token")]);
            assert_eq!(g.check(&Method::GET, "/", None, &h), Err(Refused::Host), "{host}");
            assert_eq!(g.check(&Method::POST, "/api/sales", None, &h), Err(Refused::Host), "{host}");
        }
        assert_eq!(g.check(&Method::GET, "/", None, &HeaderMap::new()), Err(Refused::Host));
    }
}
