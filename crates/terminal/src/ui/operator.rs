//! The cashier's sign-in (签到) with an operator number, and sign-out (签退): the host is told
//! (ISO 8583 0800 with the operator in field 63, which also fetches fresh working keys), and
//! every sale started afterwards is that operator's, on its receipt and in the journal.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use ereceipt_core::model::OperatorId;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::UiError;
use super::Shared;
use crate::authorisation::sign_in as host_sign_in;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignInForm {
    /// 1 to 4 letters or digits, as the acquirer assigned them.
    operator: String,
}

/// `POST /api/operator`: signs the operator in to the host, then to this UI.
pub async fn sign_in(State(st): State<Shared>, Json(form): Json<SignInForm>) -> Result<Json<Value>, UiError> {
    let operator: OperatorId = form.operator.trim().parse().map_err(|_| {
        UiError::invalid(
            "operator",
            format!("the operator number {:?} is not 1 to 4 letters or digits", form.operator),
            "操作员号应为1至4位字母或数字",
        )
    })?;
    let t = &st.terminal;
    host_sign_in(&st.uploader.outbox, st.authoriser.as_ref(), &t.terminal_id, &t.merchant_id, Some(operator.as_str()))
        .await
        .map_err(|e| {
            tracing::warn!(operator = operator.as_str(), error = %e, "sign-in refused");
            UiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "sign_in_failed",
                format!("operator {} could not sign in to the acquirer: {e}", operator.as_str()),
                "签到失败，请检查与收单机构的连接后重试",
            )
        })?;
    tracing::info!(operator = operator.as_str(), "operator signed in");
    *st.operator.lock().map_err(|_| UiError::internal("operator poisoned"))? = Some(operator.clone());
    Ok(Json(json!({"operator": operator.as_str()})))
}

/// `DELETE /api/operator`: signs out; no new sale until someone signs in. Sales already
/// started stay their operator's.
pub async fn sign_out(State(st): State<Shared>) -> Result<Json<Value>, UiError> {
    let was = st.operator.lock().map_err(|_| UiError::internal("operator poisoned"))?.take();
    tracing::info!(operator = was.as_ref().map(OperatorId::as_str), "operator signed out");
    Ok(Json(json!({"operator": null})))
}

/// The operator signed in now, or the refusal to start a sale without one.
pub(super) fn current(st: &Shared) -> Result<OperatorId, UiError> {
    st.operator.lock().map_err(|_| UiError::internal("operator poisoned"))?.clone().ok_or_else(|| {
        UiError::new(
            StatusCode::CONFLICT,
            "sign_in_required",
            "no operator is signed in: sign in with your operator number first",
            "请先签到（输入操作员号）",
        )
    })
}
