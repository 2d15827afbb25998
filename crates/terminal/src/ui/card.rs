//! The card step of a sale: the swipe read, the request journalled, the authoriser asked and
//! its answer journalled (security review L4); a refund's card is held in memory instead and
//! its advice sent once the cardholder has signed (`send_advice`, from `complete`); and the
//! cashier's cancel, which voids an approved sale before it is forgotten.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use ereceipt_core::card::CardSummary;
use ereceipt_core::model::OperatorId;
use serde::Deserialize;
use serde_json::{json, Value};
use zeroize::Zeroizing;

use super::error::UiError;
use super::refusal::{ask, journal_row};
use super::sales::{now_ms, with_sale, Authorised, HeldRefund};
use super::{swipe, Shared};
use crate::authorisation::{prepare, reverse_authorisation, Asked, ReversalError, ReversalOutcome};
use crate::outbox::{new_request_id, Operation, OutboxError};

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
    let (asked_for, operator) = with_sale(&st, &id, |s| match (&s.card, &s.authorisation) {
        (Some(_), _) => Err(UiError::out_of_order("the card was already read for this sale", "本笔交易已读卡")),
        _ if s.held.is_some() => {
            Err(UiError::out_of_order("the card was already read for this sale", "本笔交易已读卡"))
        }
        (None, Some(_)) => Err(UiError::out_of_order("the card is being authorised", "正在授权，请稍候")),
        (None, None) => {
            s.authorisation = Some(request_id.clone());
            Ok((s.asked.clone(), s.operator.clone()))
        }
    })?;
    let asked = authorise_card(&st, &id, &request_id, (&asked_for, operator), form).await;
    let (outcome, view, operation) = match asked {
        Ok(done) => done,
        Err(e) => {
            // Declined, unanswered (journalled as such) or never asked: the sale may try again.
            with_sale(&st, &id, |s| {
                s.authorisation = None;
                Ok(())
            })?;
            return Err(e);
        }
    };
    with_sale(&st, &id, move |s| {
        s.operation = operation;
        match outcome {
            CardOutcome::Approved(authorised) => s.card = Some(authorised),
            // Nothing journalled yet: the advice goes out once the cardholder has signed.
            CardOutcome::Held(held) => {
                s.authorisation = None;
                s.held = Some(held);
            }
        }
        Ok(())
    })?;
    Ok(Json(view))
}

/// What the card step gave.
enum CardOutcome {
    /// Authorised by the host (a sale, void, pre-authorisation, completion).
    Approved(Authorised),
    /// A refund's card, read and checked but not sent: its advice goes at `complete`.
    Held(HeldRefund),
}

fn card_view(summary: &CardSummary) -> Value {
    json!({"brand": summary.brand.name(), "brand_zh": summary.brand.name_zh(),
           "number": summary.masked_pan.for_receipt(), "name": summary.cardholder_name})
}

/// Reads the card and has the authorisation service journal the request, ask the authoriser
/// and journal its answer (reversing at once what got no usable answer).
async fn authorise_card(
    st: &Shared,
    id: &str,
    request_id: &str,
    (asked, operator): (&Asked, OperatorId),
    form: CardForm,
) -> Result<(CardOutcome, Value, Operation), UiError> {
    // Checked again here, just before it is journalled: another tab may have voided or
    // refunded the same original since the sale started.
    let (operation, amount) = prepare(&st.uploader.outbox, asked).await.map_err(UiError::original)?;
    let time = st.zone.local_time(Utc::now()).map_err(|e| UiError::internal(format!("clock: {e}")))?;
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
    if operation.is_advice() {
        // The rule "signature before the advice": the refund's receipt parts must be kept with
        // its journal row before it goes out, so the card waits in memory for the signature.
        let view = json!({
            "card": card_view(&captured.summary),
            "advice": "after_signature",
            "authoriser": info,
            "operation": super::sales::operation_view(&operation),
        });
        return Ok((CardOutcome::Held(HeldRefund { captured }), view, operation));
    }
    // Security review L4: on record before the authoriser is asked, so no approval exists
    // without a row, whatever happens to this process afterwards.
    let journalled = journal_row(st, request_id, (amount, time), &captured, operator, &operation);
    let (summary, approval, trace) = ask(st, (id, &journalled), captured, None, "card not approved").await?;
    let view = json!({
        "card": card_view(&summary),
        "approval": {"auth_code": approval.auth_code.as_str(), "rrn": approval.rrn.as_str()},
        "trace": format!("{:06}", trace.trace),
        "authoriser": info,
        "operation": super::sales::operation_view(&operation),
    });
    Ok((CardOutcome::Approved(Authorised { card: summary, approval, time, trace }), view, operation))
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
