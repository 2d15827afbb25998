//! The sale as the page walks through it: amount, card and authorisation, signature, delivery
//! choice, then the receipt composed and stored by `record_sale` (the CLI's path too).

use std::time::Instant;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use ereceipt_core::card::CardSummary;
use ereceipt_core::model::{Authorisation, BatchNo, LocalTime, Money, Stan, Transaction, TransactionType, VoucherNo};
use ereceipt_core::signature::Signature;
use serde::Deserialize;
use serde_json::{json, Value};
use zeroize::Zeroizing;

use super::authorise::{Approval, AuthorisationError, AuthorisationRequest};
use super::delivery::{parse_delivery, DeliveryForm};
use super::error::UiError;
use super::signing::{PadState, PointerBatch, SigningSession};
use super::{amount, status, swipe, Shared};
use crate::sale::record_sale;

/// Sales open at once (a cashier has one; a forgotten tab should not grow memory).
pub(super) const MAX_OPEN_SALES: usize = 8;

/// One sale in progress. Holds no card number: only the masked summary the receipt keeps.
pub(crate) struct SaleSession {
    started: Instant,
    amount: Money,
    card: Option<(CardSummary, Approval, LocalTime)>,
    signing: SigningSession,
    receipt_id: Option<String>,
    completing: bool,
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

fn with_sale<T>(st: &Shared, id: &str, f: impl FnOnce(&mut SaleSession) -> Result<T, UiError>) -> Result<T, UiError> {
    let mut sales = st.sales.lock().map_err(|_| UiError::internal("sale table poisoned"))?;
    let sale = sales.get_mut(id).ok_or_else(|| UiError::not_found("such sale"))?;
    f(sale)
}

/// What the page needs to know about this terminal.
pub async fn config(State(st): State<Shared>) -> Json<Value> {
    let t = &st.terminal;
    Json(json!({
        "demo": st.demo,
        "terminal_id": t.terminal_id.as_str(),
        "merchant_id": t.merchant_id.as_str(),
        "merchant_name": t.merchant_name.to_string(),
        "currency": st.currency.code(),
        "exponent": st.currency.exponent(),
        "symbol": st.currency.symbol(),
        "idle_ms": st.capture.idle_ms,
        "authoriser": st.authoriser.info(),
        "test_cards": st.policy.accept_clear_tracks,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartForm {
    /// The keypad's digits, in minor units.
    amount: String,
}

/// Starts a sale for the amount keyed in.
pub async fn start(State(st): State<Shared>, Json(form): Json<StartForm>) -> Result<Json<Value>, UiError> {
    let amount = amount::parse_amount(&form.amount, st.currency)?;
    // Before any card is authorised: an outbox that does not know where its receipt ids and
    // chain continue (it was lost) would make receipts the platform refuses as duplicates.
    if let Err(e) = st.uploader.ensure_resume().await {
        return Err(UiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_resume_point",
            format!("the terminal must reach the platform once before its next sale, to learn where its receipt numbers continue: {e}"),
            "终端需先连接平台，获取签购单编号的续接点后才能交易",
        ));
    }
    let id = {
        use rand::RngCore;
        let mut b = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut b);
        hex::encode(b)
    };
    let mut sales = st.sales.lock().map_err(|_| UiError::internal("sale table poisoned"))?;
    while sales.len() >= MAX_OPEN_SALES {
        let oldest = sales.iter().min_by_key(|(_, s)| s.started).map(|(k, _)| k.clone());
        match oldest {
            Some(k) => sales.remove(&k),
            None => break,
        };
    }
    let signing = SigningSession::new(st.capture.clone());
    sales.insert(
        id.clone(),
        SaleSession { started: Instant::now(), amount, card: None, signing, receipt_id: None, completing: false },
    );
    Ok(Json(json!({"sale": id, "amount": amount.decimal(), "currency": amount.currency().code(),
        "symbol": amount.currency().symbol()})))
}

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
    let amount = with_sale(&st, &id, |s| match s.card {
        Some(_) => Err(UiError::out_of_order("the card was already read for this sale", "本笔交易已读卡")),
        None => Ok(s.amount),
    })?;
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
    let request = AuthorisationRequest {
        amount,
        card: &captured.summary,
        card_data: &captured.authorisation,
        terminal_id: &st.terminal.terminal_id,
        merchant_id: &st.terminal.merchant_id,
        time,
    };
    let approval = st.authoriser.authorise(request).await.map_err(|e| match &e {
        AuthorisationError::Declined { .. } => {
            UiError::new(StatusCode::UNPROCESSABLE_ENTITY, "declined", e.to_string(), "交易被拒绝")
        }
        _ => {
            UiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", e.to_string(), "无法连接收单机构，请稍后重试")
        }
    })?;
    let summary = captured.summary.clone();
    drop(captured); // the card number and tracks are wiped here
    let view = json!({
        "card": {"brand": summary.brand.name(), "brand_zh": summary.brand.name_zh(),
                 "number": summary.masked_pan.for_receipt(), "name": summary.cardholder_name},
        "approval": {"auth_code": approval.auth_code.as_str(), "rrn": approval.rrn.as_str()},
        "authoriser": st.authoriser.info(),
    });
    with_sale(&st, &id, |s| {
        s.card = Some((summary, approval, time));
        Ok(())
    })?;
    Ok(Json(view))
}

/// A batch of pointer events (or an empty poll); answers with the pad's state.
pub async fn signature(
    State(st): State<Shared>,
    Path(id): Path<String>,
    Json(batch): Json<PointerBatch>,
) -> Result<Json<PadState>, UiError> {
    with_sale(&st, &id, |s| {
        if s.card.is_none() {
            return Err(UiError::out_of_order("the card must be approved before signing", "请先刷卡并获得授权"));
        }
        s.signing.apply(&batch, now_ms()).map(Json)
    })
}

/// Clear (or "sign again"): the signature is discarded.
pub async fn clear_signature(State(st): State<Shared>, Path(id): Path<String>) -> Result<Json<PadState>, UiError> {
    with_sale(&st, &id, |s| {
        if s.receipt_id.is_some() || s.completing {
            return Err(UiError::out_of_order("the receipt is already made", "签购单已生成"));
        }
        s.signing.clear();
        Ok(Json(s.signing.poll(now_ms())))
    })
}

/// Checks a delivery choice as the customer types it.
pub async fn validate_delivery(Json(form): Json<DeliveryForm>) -> Result<Json<Value>, UiError> {
    let choice = parse_delivery(&form)?;
    Ok(Json(json!({"choice": choice.to_string(), "channel": choice.channel(), "to": choice.recipient()})))
}

/// The customer's choice made: compose, sign, watermark and store the receipt, then let the
/// uploader take it. Completing twice gives the same receipt.
pub async fn complete(
    State(st): State<Shared>,
    Path(id): Path<String>,
    Json(form): Json<DeliveryForm>,
) -> Result<Json<Value>, UiError> {
    let choice = parse_delivery(&form)?;
    let taken = with_sale(&st, &id, |s| {
        if let Some(r) = &s.receipt_id {
            return Ok(Err(r.clone()));
        }
        if s.completing {
            return Err(UiError::out_of_order("the receipt is being made", "正在生成签购单"));
        }
        let Some((card, approval, time)) = s.card.clone() else {
            return Err(UiError::out_of_order("the card must be approved first", "请先刷卡并获得授权"));
        };
        let signature: Signature = s
            .signing
            .signature(now_ms())
            .ok_or_else(|| UiError::out_of_order("the cardholder has not finished signing", "持卡人尚未完成签名"))?;
        s.completing = true;
        Ok(Ok((s.amount, card, approval, time, signature)))
    })?;
    let (amount, card, approval, time, signature) = match taken {
        Ok(parts) => parts,
        Err(receipt_id) => return Ok(Json(json!({"receipt": receipt_id}))),
    };
    let made = make_receipt(&st, amount, card, approval, time, signature, choice.to_string()).await;
    with_sale(&st, &id, |s| {
        s.completing = false;
        if let Ok(r) = &made {
            s.receipt_id = Some(r.clone());
        }
        Ok(())
    })?;
    let receipt_id = made?;
    st.upload_wake.notify_one();
    tracing::info!(receipt = %receipt_id, channel = choice.channel(), "sale recorded");
    let state = status::local_status(&st, &receipt_id).await?;
    Ok(Json(json!({"receipt": receipt_id, "status": state})))
}

async fn make_receipt(
    st: &Shared,
    amount: Money,
    card: CardSummary,
    approval: Approval,
    time: LocalTime,
    signature: Signature,
    delivery: String,
) -> Result<String, UiError> {
    let outbox = &st.uploader.outbox;
    // The voucher number is the serial by convention; record_sale assigns the same batch and
    // serial (the outbox's, continuing from the platform's resume point).
    let link = outbox.next_link().await.map_err(UiError::internal)?;
    let serial = link.serial;
    let stan = Stan::new(serial).map_err(UiError::internal)?;
    let transaction = Transaction {
        serial: stan,
        batch: BatchNo::new(link.batch).map_err(UiError::internal)?,
        voucher: VoucherNo::new(serial).map_err(UiError::internal)?,
        kind: TransactionType::Sale,
        amount,
        time,
        auth_code: approval.auth_code,
        rrn: approval.rrn,
        operator: st.operator.clone(),
        card,
        // Signed into the record, printed on the slip: a simulator's approval is no payment.
        authorisation: if st.authoriser.info().simulator { Authorisation::Simulated } else { Authorisation::Host },
    };
    let receipt = record_sale(outbox, &st.signer, &st.fonts, st.width, transaction, signature, Some(delivery))
        .await
        .map_err(|e| match e {
            crate::sale::SaleError::Compose(c) => UiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "compose",
                format!("the receipt could not be made: {c}"),
                "签购单生成失败",
            ),
            other => UiError::internal(other),
        })?;
    Ok(receipt.record.id.to_string())
}
