//! The one error answer of the UI's API: a status, a code, the field at fault if any, and the
//! message in English (the same words as the CLI) and Chinese for the cashier's screen.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// An error the page shows to the cashier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UiError {
    #[serde(skip)]
    pub status: StatusCode,
    /// A stable code the page may act on (`invalid`, `card`, `declined`, `not_found`, …).
    pub error: &'static str,
    /// The field at fault (`amount`, `phone number`, `email address`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'static str>,
    pub message_en: String,
    pub message_zh: String,
}

impl UiError {
    /// The terminal's own refusal of an original (not found, already voided, above what
    /// remains): the reason, as the journal check named it.
    pub(super) fn original(e: crate::outbox::OutboxError) -> Self {
        match e {
            crate::outbox::OutboxError::Original(m) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "original", m, "原交易不可用于此交易")
            }
            other => Self::internal(other),
        }
    }

    pub fn new(status: StatusCode, error: &'static str, en: impl Into<String>, zh: impl Into<String>) -> Self {
        Self { status, error, field: None, message_en: en.into(), message_zh: zh.into() }
    }

    /// A value the cashier or customer typed is not valid.
    pub fn invalid(field: &'static str, en: impl Into<String>, zh: impl Into<String>) -> Self {
        Self { field: Some(field), ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", en, zh) }
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no {what}; start a new sale"),
            "找不到该交易，请重新开始",
        )
    }

    /// A step taken out of order (signing before the card was approved, …).
    pub fn out_of_order(en: &str, zh: &str) -> Self {
        Self::new(StatusCode::CONFLICT, "out_of_order", en, zh)
    }

    /// The terminal itself failed (outbox, composition): detail logged, a plain message shown.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "terminal UI request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("the terminal could not complete this step: {detail}"),
            "终端处理失败，请重试或联系管理员",
        )
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self)).into_response()
    }
}
