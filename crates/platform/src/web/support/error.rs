//! A page that failed, and the `Retry-After` answers both edges give when the platform is busy.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::csrf::Forbidden;
use crate::infra::store::StoreError;
use crate::services::customer_login::LoginRefusal;
use crate::services::verification::gate::Busy;

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

/// Sets `Retry-After` on any answer, JSON or page.
pub(crate) fn retry_after(response: &mut Response, secs: i64) {
    if let Ok(v) = axum::http::HeaderValue::from_str(&secs.to_string()) {
        response.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
    }
}

/// The status of a refusal by the verification gate: 429 when this client has its share, 503
/// when the platform is full.
pub(crate) fn busy_status(busy: &Busy) -> StatusCode {
    match busy {
        Busy::Client(_) => StatusCode::TOO_MANY_REQUESTS,
        Busy::Platform(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// The status of a refused login code, for the JSON API and the portal's page alike.
pub(crate) fn login_status(kind: LoginRefusal) -> StatusCode {
    match kind {
        LoginRefusal::BadCode => StatusCode::UNAUTHORIZED,
        LoginRefusal::Locked => StatusCode::TOO_MANY_REQUESTS,
        LoginRefusal::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    }
}
