//! The card step of a sale: the swipe read, the request journalled, the authoriser asked and
//! its answer journalled (security review L4); and the cashier's cancel, which voids an
//! approved sale before it is forgotten.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use ereceipt_core::card::CardSummary;
use ereceipt_core::model::{LocalTime, Money};
use serde::Deserialize;
use serde_json::{json, Value};
use zeroize::Zeroizing;

use super::authorise::{Approval, AuthorisationError, AuthorisationRequest};
use super::error::UiError;
use super::reversal::{reverse_authorisation, ReversalError, ReversalOutcome};
use super::sales::{now_ms, with_sale};
use super::{swipe, Shared};
use crate::outbox::{new_request_id, NewAuthorisation, OutboxError};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardForm {
    /// What the reader typed (keyboard wedge or MagTek output).
    #[serde(default)]
    swipe: Option<String>,
    /// The demo's test-card button.
    #[serde(default)]
    test_card: bool,
}

/// Reads the card and asks the authoriser; only the masked summary and the codes are kept.
pub async fn card(
    State(st): State<Shared>,
    Path(id): Path<String>,
    Json(form): Json<CardForm>,
) -> Result<Json<Value>, UiError> {
    let request_id = new_request_id();
    // Claimed under the lock: a second card for the same sale is refused while this one is asked.
    let amount = with_sale(&st, &id, |s| match (&s.card, &s.authorisation) {
        (Some(_), _) => Err(UiError::out_of_order("the card was already read for this sale", "本笔交易已读卡")),
        (None, Some(_)) => Err(UiError::out_of_order("the card is being authorised", "正在授权，请稍候")),
        (None, None) => {
            s.authorisation = Some(request_id.clone());
            Ok(s.amount)
        }
    })?;
    let asked = authorise_card(&st, &id, &request_id, amount, form).await;
    with_sale(&st, &id, |s| {
        match &asked {
            Ok((summary, approval, time, _)) => s.card = Some((summary.clone(), approval.clone(), *time)),
            // Declined, unanswered (journalled as such) or never asked: the sale may try again.
            Err(_) => s.authorisation = None,
        }
        Ok(())
    })?;
    let (_, _, _, view) = asked?;
    Ok(Json(view))
}

/// Reads the card, journals the request, asks the authoriser and journals its answer.
async fn authorise_card(
    st: &Shared,
    id: &str,
    request_id: &str,
    amount: Money,
    form: CardForm,
) -> Result<(CardSummary, Approval, LocalTime, Value), UiError> {
    let offset = chrono::Local::now().offset().local_minus_utc() / 60;
    let time = LocalTime::new(Utc::now().timestamp(), i16::try_from(offset).unwrap_or(0))
        .map_err(|e| UiError::internal(format!("clock: {e}")))?;
    let date = time.local().date_naive();
    let raw = match (form.swipe, form.test_card) {
        (Some(s), false) => Zeroizing::new(s),
        (None, true) if st.demo => swipe::test_card_swipe(date),
        (None, true) => {
            return Err(UiError::new(
                StatusCode::FORBIDDEN,
                "not_demo",
                "the test card exists only in demo mode",
                "测试卡仅在演示模式下可用",
            ))
        }
        _ => return Err(UiError::invalid("card", "card: swipe the card", "请刷卡")),
    };
    let captured = swipe::read_card(raw, &st.policy, date)?;
    let info = st.authoriser.info();
    let outbox = &st.uploader.outbox;
    // Security review L4: on record before the authoriser is asked, so no approval exists
    // without a row, whatever happens to this process afterwards.
    let journalled = NewAuthorisation {
        request_id: request_id.to_owned(),
        amount,
        masked_pan: captured.summary.masked_pan.clone(),
        time,
        terminal_id: st.terminal.terminal_id.clone(),
        merchant_id: st.terminal.merchant_id.clone(),
        authoriser: info.name.clone(),
        simulated: info.simulator,
    };
    outbox.authorisation_requested(&journalled, now_ms()).await.map_err(UiError::internal)?;
    let request = AuthorisationRequest {
        amount,
        card: &captured.summary,
        card_data: &captured.authorisation,
        terminal_id: &st.terminal.terminal_id,
        merchant_id: &st.terminal.merchant_id,
        time,
    };
    let answer = st.authoriser.authorise(request).await;
    let summary = captured.summary.clone();
    drop(captured); // the card number and tracks are wiped here
    let approval = match answer {
        Ok(approval) => approval,
        Err(e @ AuthorisationError::Declined { .. }) => {
            if let Err(j) = outbox.authorisation_declined(request_id, &e.to_string(), now_ms()).await {
                tracing::error!(sale = id, request = request_id, error = %j, "the decline could not be journalled");
            }
            return Err(UiError::new(StatusCode::UNPROCESSABLE_ENTITY, "declined", e.to_string(), "交易被拒绝"));
        }
        Err(e) => {
            // No answer: the journal keeps the request as unanswered, shown until reversed.
            tracing::warn!(sale = id, request = request_id, error = %e, "authorisation unanswered");
            return Err(UiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                e.to_string(),
                "无法连接收单机构，请稍后重试",
            ));
        }
    };
    outbox.authorisation_approved(request_id, &approval.auth_code, &approval.rrn, now_ms()).await.map_err(|e| {
        match e {
            // Reversed (by the operator) while the answer was awaited.
            OutboxError::Authorisation(m) => {
                UiError::new(StatusCode::CONFLICT, "reversed", m, "该授权已被撤销，请重新交易")
            }
            other => UiError::internal(other),
        }
    })?;
    let view = json!({
        "card": {"brand": summary.brand.name(), "brand_zh": summary.brand.name_zh(),
                 "number": summary.masked_pan.for_receipt(), "name": summary.cardholder_name},
        "approval": {"auth_code": approval.auth_code.as_str(), "rrn": approval.rrn.as_str()},
        "authoriser": info,
    });
    Ok((summary, approval, time, view))
}

/// `POST /api/sales/{id}/cancel`: the cashier abandons the sale. An approved one is voided
/// first (journalled as reversing, then voided once the authoriser acknowledged); a sale whose
/// receipt is made, or whose card is being asked, cannot be cancelled here.
pub async fn cancel(State(st): State<Shared>, Path(id): Path<String>) -> Result<Json<Value>, UiError> {
    let request_id = {
        let mut sales = st.sales.lock().map_err(|_| UiError::internal("sale table poisoned"))?;
        let sale = sales.get(&id).ok_or_else(|| UiError::not_found("such sale"))?;
        if sale.receipt_id.is_some() || sale.completing {
            return Err(UiError::out_of_order("the receipt is already made", "签购单已生成"));
        }
        if sale.authorisation.is_some() && sale.card.is_none() {
            return Err(UiError::out_of_order("the card is being authorised", "正在授权，请稍候"));
        }
        let request_id = sale.authorisation.clone();
        sales.remove(&id);
        request_id
    };
    let Some(request_id) = request_id else { return Ok(Json(json!({"cancelled": true}))) };
    match reverse_authorisation(&st.uploader.outbox, st.authoriser.as_ref(), &request_id, true, now_ms).await {
        Ok(ReversalOutcome::Reversed(record)) => {
            Ok(Json(json!({"cancelled": true, "authorisation": request_id, "state": record.state.as_str()})))
        }
        Ok(ReversalOutcome::Pending { error, .. }) => Err(UiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "void_pending",
            format!(
                "the sale is cancelled, but the acquirer has not acknowledged its void ({error}); it is kept \
                 as authorisation {request_id} and must be sent again: ereceipt terminal authorisations reverse {request_id}"
            ),
            "交易已取消，但收单机构尚未确认撤销，请通知管理员重新发送撤销",
        )),
        Err(ReversalError::Outbox(OutboxError::Authorisation(m))) => {
            Err(UiError::new(StatusCode::CONFLICT, "not_reversible", m, "该授权无法撤销"))
        }
        Err(e) => Err(UiError::internal(e)),
    }
}
