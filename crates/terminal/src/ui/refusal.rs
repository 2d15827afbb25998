//! The journal row of a card request and the cashier's words for a refusal, shared by the
//! card step and a refund's advice at `complete`.

use axum::http::StatusCode;
use ereceipt_core::card::{CapturedCard, CardSummary};
use ereceipt_core::model::{LocalTime, Money, OperatorId};

use super::error::UiError;
use super::Shared;
use crate::authorisation::{self, Payment, Refusal};
use crate::host::Approval;
use crate::host::AuthorisationError;
use crate::outbox::{NewAuthorisation, Operation, OutboxError, ReceiptParts, Trace};

/// The journal row of a request, on record before the authoriser is asked.
pub(super) fn journal_row(
    st: &Shared,
    request_id: &str,
    (amount, time): (Money, LocalTime),
    captured: &CapturedCard,
    operator: OperatorId,
    operation: &Operation,
) -> NewAuthorisation {
    let info = st.authoriser.info();
    NewAuthorisation {
        request_id: request_id.to_owned(),
        amount,
        masked_pan: captured.summary.masked_pan.clone(),
        time,
        terminal_id: st.terminal.terminal_id.clone(),
        merchant_id: st.terminal.merchant_id.clone(),
        authoriser: info.name,
        simulated: info.simulator,
        operator,
        operation: operation.clone(),
    }
}

/// Asks the authoriser for `journalled` with the card read, wipes the card right after, and
/// gives the card as the slip prints it with the host's codes and trace, or the cashier's words
/// for the refusal (logged as `refused`, e.g. "card not approved").
pub(super) async fn ask(
    st: &Shared,
    (sale, journalled): (&str, &NewAuthorisation),
    captured: CapturedCard,
    receipt_parts: Option<&ReceiptParts>,
    refused_as: &'static str,
) -> Result<(CardSummary, Approval, Trace), UiError> {
    let payment = Payment { journalled, card: &captured.summary, card_data: &captured.authorisation, receipt_parts };
    let now_ms = || chrono::Utc::now().timestamp_millis();
    let answer = authorisation::authorise(&st.uploader.outbox, st.authoriser.as_ref(), payment, now_ms).await;
    let summary = captured.summary.clone();
    drop(captured); // the card number and tracks are wiped here
    let (approval, trace) = answer.map_err(|refusal| {
        tracing::warn!(sale, request = journalled.request_id, error = %refusal, "{refused_as}");
        refused(refusal)
    })?;
    Ok((summary, approval, trace))
}

/// The cashier's words for a refusal, in both languages.
pub(super) fn refused(refusal: Refusal) -> UiError {
    match refusal {
        Refusal::Declined(AuthorisationError::Declined { code, message, message_zh }) => UiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "declined",
            format!("declined ({code}): {message}"),
            format!("交易被拒绝（{code}）：{message_zh}"),
        ),
        Refusal::Declined(e) => UiError::new(StatusCode::UNPROCESSABLE_ENTITY, "declined", e.to_string(), "交易被拒绝"),
        Refusal::NotSent(e) => UiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            format!("{e}; nothing was charged: try again"),
            "无法连接收单机构，未扣款，请稍后重试",
        ),
        e @ Refusal::NoAnswer { reversal: None, .. } => UiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_answer_reversed",
            format!("{e}: nothing was charged; try again"),
            "收单机构无应答，已自动冲正，未扣款，请重试",
        ),
        e @ Refusal::NoAnswer { .. } => UiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_answer_reversing",
            e.to_string(),
            "收单机构无应答，冲正尚未确认，将自动重发冲正",
        ),
        e @ Refusal::AdvicePending { .. } => UiError::new(
            StatusCode::ACCEPTED,
            "advice_pending",
            e.to_string(),
            "退货已发送，收单机构尚未确认，将自动重发",
        ),
        e @ Refusal::ReversalPending { .. } => UiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "reversal_pending",
            e.to_string(),
            "有一笔冲正尚未被收单机构确认，确认前不能交易",
        ),
        Refusal::Outbox(OutboxError::Original(m)) => {
            UiError::new(StatusCode::UNPROCESSABLE_ENTITY, "original", m, "原交易不可用于此交易")
        }
        // Reversed (by the operator) while the answer was awaited.
        Refusal::Outbox(OutboxError::Authorisation(m)) => {
            UiError::new(StatusCode::CONFLICT, "reversed", m, "该授权已被撤销，请重新交易")
        }
        Refusal::Outbox(e) => UiError::internal(e),
    }
}
