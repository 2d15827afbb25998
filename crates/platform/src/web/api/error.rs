//! The one HTTP error type: logs the detail, answers with a safe message and the right status.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use ereceipt_core::contract::ErrorBody;

use crate::infra::store::StoreError;
use crate::services::ingest::Refusal;
use crate::services::terminals::TerminalError;

/// An error answered as `{"error": code, "message": text}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into() }
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 429 with `Retry-After: secs`.
    pub fn rate_limited(secs: i64, message: impl Into<String>) -> Response {
        Self::retry_later(StatusCode::TOO_MANY_REQUESTS, "rate_limited", secs, message)
    }

    /// An error answer that tells the client when to try again (`Retry-After`).
    pub fn retry_later(status: StatusCode, code: &'static str, secs: i64, message: impl Into<String>) -> Response {
        let mut r = Self::new(status, code, message).into_response();
        crate::web::support::retry_after(&mut r, secs);
        r
    }
}

impl From<crate::web::support::PageError> for ApiError {
    fn from(e: crate::web::support::PageError) -> Self {
        match e {
            crate::web::support::PageError::Store(s) => s.into(),
            crate::web::support::PageError::Forbidden(f) => Self::new(StatusCode::FORBIDDEN, "forbidden", f.0),
            crate::web::support::PageError::Internal(what) => {
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", what)
            }
        }
    }
}

impl From<crate::services::staff::UserError> for ApiError {
    fn from(e: crate::services::staff::UserError) -> Self {
        use crate::domain::credentials::AccountError;
        use crate::services::staff::UserError;
        match e {
            UserError::Store(s) => s.into(),
            UserError::Invalid { .. } | UserError::Account(AccountError::WeakPassword) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", e.to_string())
            }
            other => Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(status = %self.status, code = self.code, message = %self.message, "request failed");
        } else {
            tracing::info!(status = %self.status, code = self.code, message = %self.message, "request refused");
        }
        // Server-side failures say little: the detail is in the log under the request id.
        let message =
            if self.status.is_server_error() { "internal error; see the platform log".into() } else { self.message };
        (self.status, Json(ErrorBody { error: self.code.to_owned(), message })).into_response()
    }
}

/// `e` and each error beneath it, `outer: inner: …`, skipping a cause its parent already quotes.
pub(crate) fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        cause = c.source();
    }
    text
}

impl From<crate::services::retention::HoldError> for ApiError {
    fn from(e: crate::services::retention::HoldError) -> Self {
        use crate::services::retention::HoldError;
        match e {
            HoldError::Store(s) => s.into(),
            HoldError::NotFound(_) => Self::not_found(e.to_string()),
            HoldError::BadReason => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", e.to_string()),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::TerminalExists(_) => Self::new(StatusCode::CONFLICT, "terminal_exists", e.to_string()),
            StoreError::AccountExists(_) => Self::new(StatusCode::CONFLICT, "account_exists", e.to_string()),
            StoreError::UnknownTerminal(_) => Self::not_found(e.to_string()),
            StoreError::TerminalRevoked(_) => Self::new(StatusCode::FORBIDDEN, "revoked", e.to_string()),
            StoreError::TokenUnknown | StoreError::TokenUsed | StoreError::TokenExpired => {
                Self::new(StatusCode::FORBIDDEN, "enrolment_token", e.to_string())
            }
            StoreError::BadCursor => Self::bad_request(e.to_string()),
            _ => Self::new(StatusCode::SERVICE_UNAVAILABLE, "storage", e.to_string()),
        }
    }
}

impl From<TerminalError> for ApiError {
    fn from(e: TerminalError) -> Self {
        match e {
            TerminalError::Store(s) => s.into(),
            TerminalError::Invalid { .. } => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", e.to_string()),
            TerminalError::Certificate(_) => Self::bad_request(e.to_string()),
            TerminalError::Revoked(_) => Self::new(StatusCode::FORBIDDEN, "revoked", e.to_string()),
            TerminalError::UnknownCertificate(_) => {
                Self::new(StatusCode::FORBIDDEN, "certificate_refused", e.to_string())
            }
            _ => Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
        }
    }
}

impl From<Refusal> for ApiError {
    fn from(e: Refusal) -> Self {
        let status = match &e {
            Refusal::NoClientCertificate => StatusCode::UNAUTHORIZED,
            Refusal::NotPos(_) | Refusal::CertificateRefused { .. } | Refusal::WrongTerminal { .. } => {
                StatusCode::FORBIDDEN
            }
            Refusal::SignerRevoked(_) | Refusal::SignerUnknown { .. } | Refusal::TestFeature { .. } => {
                StatusCode::FORBIDDEN
            }
            Refusal::Malformed(_) | Refusal::Open | Refusal::Inconsistent(_) => StatusCode::BAD_REQUEST,
            Refusal::NotAuthentic { .. } | Refusal::Unbound { .. } | Refusal::Unverifiable => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Refusal::Conflict(_) => StatusCode::CONFLICT,
            _ => StatusCode::SERVICE_UNAVAILABLE,
        };
        // A server-side failure's message goes to the log only, so it may carry the causes.
        let message = if status.is_server_error() { with_causes(&e) } else { e.to_string() };
        Self::new(status, e.reason(), message)
    }
}
