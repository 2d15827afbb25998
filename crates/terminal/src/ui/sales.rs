//! The sale as the page walks through it: amount, card and authorisation (in `card`),
//! signature, delivery choice, then the receipt composed and stored with its authorisation's
//! completion by `record_authorised_sale` (the CLI's `record_sale` path too).

use std::time::Instant;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use ereceipt_core::card::CardSummary;
use ereceipt_core::model::{LocalTime, Money, OperatorId};
use ereceipt_core::signature::Signature;
use serde::Deserialize;
use serde_json::{json, Value};

use super::delivery::{parse_delivery, DeliveryForm};
use super::error::UiError;
use super::refusal::{ask, journal_row};
use super::signing::{PadState, PointerBatch, SigningSession};
use super::{amount, status, Shared};
use crate::authorisation::{prepare, Asked};
use crate::host::Approval;
use crate::outbox::{AuthorisationState, Operation, OutboxError, ReceiptParts, Trace};
use crate::sale::{approved_transaction, record_authorised_sale, ApprovedRequest, Composer, SaleError};
use ereceipt_core::card::CapturedCard;

/// Sales open at once (a cashier has one; a forgotten tab should not grow memory). A full table
/// makes room by dropping the oldest sale that holds no authorisation, never an approved one.
pub(super) const MAX_OPEN_SALES: usize = 8;

/// One sale in progress. Holds no card number: only the masked summary the receipt keeps.
pub(crate) struct SaleSession {
    started: Instant,
    pub(super) amount: Money,
    /// What the cashier asked: a sale, a pre-authorisation, or a void, refund or completion
    /// (checked again against the journal when the card is read).
    pub(super) asked: Asked,
    /// The operation as last checked: its receipt's kind and original.
    pub(super) operation: Operation,
    /// Who started it: its receipt and journal row name them.
    pub(super) operator: OperatorId,
    /// The journalled request of this sale while it is asked and once approved, until the
    /// receipt is made: while set, the sale is never dropped to make room.
    pub(super) authorisation: Option<String>,
    pub(super) card: Option<Authorised>,
    /// A refund's card, read but not sent: its advice goes out at `complete`, after the
    /// signature. Memory only; wiped when taken, cancelled or the sale forgotten.
    pub(super) held: Option<HeldRefund>,
    /// A refund whose advice got no usable answer at `complete`: its journalled request. The
    /// receipt comes from the background pass once the host acknowledges the advice.
    pub(super) advice_pending: Option<String>,
    signing: SigningSession,
    pub(super) receipt_id: Option<String>,
    pub(super) completing: bool,
}

/// The card step's result: the approved card, with the trace its request was sent with.
#[derive(Clone)]
pub(super) struct Authorised {
    pub card: CardSummary,
    pub approval: Approval,
    pub time: LocalTime,
    /// Field 11 and the batch: the receipt's serial, voucher number and batch.
    pub trace: Trace,
}

impl SaleSession {
    /// An approval (or a request in flight) whose receipt is not made.
    pub(super) fn holds_authorisation(&self) -> bool {
        self.authorisation.is_some() && self.receipt_id.is_none()
    }

    /// How the refusal of a new sale names it.
    fn describe(&self) -> String {
        let amount = format!("{} {}", self.amount.currency().code(), self.amount.decimal());
        match (&self.card, &self.authorisation) {
            (Some(a), Some(request)) => format!(
                "{amount} on card {}, auth code {} (authorisation {request})",
                a.card.masked_pan.last4(),
                a.approval.auth_code.as_str()
            ),
            (_, Some(request)) => format!("{amount} being authorised (authorisation {request})"),
            _ => amount,
        }
    }
}

pub(super) fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

pub(super) fn with_sale<T>(
    st: &Shared,
    id: &str,
    f: impl FnOnce(&mut SaleSession) -> Result<T, UiError>,
) -> Result<T, UiError> {
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
        "operator": st.operator.lock().ok().and_then(|o| o.as_ref().map(|o| o.as_str().to_owned())),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartForm {
    /// The keypad's digits, in minor units (not for a void: it takes its original's).
    #[serde(default)]
    amount: Option<String>,
    /// `sale` (the default), `pre-auth`, `void`, `refund` or `completion`.
    #[serde(default)]
    operation: Option<String>,
    /// A void's original: its voucher number.
    #[serde(default)]
    voucher: Option<String>,
    /// A refund's original: its reference number and date.
    #[serde(default)]
    rrn: Option<String>,
    /// A refund's or completion's original date, YYYY-MM-DD.
    #[serde(default)]
    date: Option<String>,
    /// A completion's pre-authorisation code.
    #[serde(default)]
    auth_code: Option<String>,
}

/// What the form asks, each field checked and named when wrong.
fn asked(form: &StartForm, st: &Shared) -> Result<Asked, UiError> {
    let amount = || match &form.amount {
        Some(a) => amount::parse_amount(a, st.currency),
        None => Err(UiError::invalid("amount", "amount: key in the amount", "请输入金额")),
    };
    let text = |v: &Option<String>, field: &'static str, en: &'static str, zh: &'static str| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| UiError::invalid(field, en, zh))
    };
    let date = || -> Result<chrono::NaiveDate, UiError> {
        text(&form.date, "date", "date: the original's date on its slip (YYYY-MM-DD)", "请输入原交易日期")?
            .parse()
            .map_err(|_| {
                UiError::invalid(
                    "date",
                    "date: the original's date on its slip (YYYY-MM-DD)",
                    "原交易日期格式为 YYYY-MM-DD",
                )
            })
    };
    match form.operation.as_deref().unwrap_or("sale") {
        "sale" => Ok(Asked::Sale { amount: amount()? }),
        "pre-auth" => Ok(Asked::PreAuth { amount: amount()? }),
        "void" => {
            let v =
                text(&form.voucher, "voucher", "voucher: the voucher number on the slip to void", "请输入原凭证号")?;
            let voucher = v
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=999_999).contains(n))
                .ok_or_else(|| UiError::invalid("voucher", "voucher: up to 6 digits", "凭证号为最多 6 位数字"))?;
            Ok(Asked::Void { voucher })
        }
        "refund" => {
            let rrn = text(&form.rrn, "rrn", "rrn: the reference number on the sale's slip", "请输入原参考号")?;
            Ok(Asked::Refund {
                rrn: rrn.parse().map_err(|_| UiError::invalid("rrn", "rrn: 12 letters or digits", "参考号为 12 位"))?,
                date: date()?,
                amount: amount()?,
            })
        }
        "completion" => {
            let code = text(&form.auth_code, "auth_code", "auth_code: the pre-authorisation's code", "请输入原授权码")?;
            Ok(Asked::Completion {
                auth_code: code
                    .parse()
                    .map_err(|_| UiError::invalid("auth_code", "auth_code: 6 letters or digits", "授权码为 6 位"))?,
                date: date()?,
                amount: amount()?,
            })
        }
        _ => {
            Err(UiError::invalid("operation", "operation: sale, pre-auth, void, refund or completion", "交易类型无效"))
        }
    }
}

/// The page's view of an operation and its original.
pub(super) fn operation_view(op: &Operation) -> Value {
    let o = op.original.as_ref();
    json!({
        "kind": op.kind.code(),
        "kind_zh": op.kind.name_zh(),
        "original": o.map(|o| json!({
            "voucher": o.voucher.map(|v| format!("{:06}", v.value())),
            "rrn": o.rrn.as_ref().map(|r| r.as_str().to_owned()),
            "auth_code": o.auth_code.as_ref().map(|c| c.as_str().to_owned()),
            "date": o.date.to_string(),
        })),
    })
}

/// Starts a sale (or another operation) for the amount keyed in: the original of a void,
/// refund or completion is checked against the journal at once, and again at the card.
pub async fn start(State(st): State<Shared>, Json(form): Json<StartForm>) -> Result<Json<Value>, UiError> {
    let asked = asked(&form, &st)?;
    let operator = super::operator::current(&st)?;
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
    let (operation, amount) = prepare(&st.uploader.outbox, &asked).await.map_err(UiError::original)?;
    if st.sales.lock().map_err(|_| UiError::internal("sale table poisoned"))?.len() >= MAX_OPEN_SALES {
        forget_reversed(&st).await?;
    }
    let mut sales = st.sales.lock().map_err(|_| UiError::internal("sale table poisoned"))?;
    while sales.len() >= MAX_OPEN_SALES {
        let oldest = sales
            .iter()
            .filter(|(_, s)| !s.holds_authorisation())
            .min_by_key(|(_, s)| s.started)
            .map(|(k, _)| k.clone());
        let Some(k) = oldest else {
            let mut open: Vec<&SaleSession> = sales.values().collect();
            open.sort_by_key(|s| s.started);
            let named: Vec<String> = open.iter().map(|s| s.describe()).collect();
            return Err(UiError::new(
                StatusCode::CONFLICT,
                "open_approved_sales",
                format!(
                    "{} card sales are authorised and have no receipt yet: {}. Finish them (signature and \
                     delivery choice) or cancel them before starting another sale",
                    named.len(),
                    named.join("; ")
                ),
                format!("有 {} 笔已授权交易尚未生成签购单，请先完成或取消这些交易，再开始新交易", named.len()),
            ));
        };
        sales.remove(&k);
    }
    let signing = SigningSession::new(st.capture.clone());
    sales.insert(
        id.clone(),
        SaleSession {
            started: Instant::now(),
            amount,
            asked,
            operation: operation.clone(),
            operator,
            authorisation: None,
            card: None,
            held: None,
            advice_pending: None,
            signing,
            receipt_id: None,
            completing: false,
        },
    );
    Ok(Json(json!({"sale": id, "amount": amount.decimal(), "currency": amount.currency().code(),
        "symbol": amount.currency().symbol(), "operation": operation_view(&operation)})))
}

/// A batch of pointer events (or an empty poll); answers with the pad's state.
pub async fn signature(
    State(st): State<Shared>,
    Path(id): Path<String>,
    Json(batch): Json<PointerBatch>,
) -> Result<Json<PadState>, UiError> {
    with_sale(&st, &id, |s| {
        if s.card.is_none() && s.held.is_none() {
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
/// uploader take it. Completing twice gives the same receipt. A refund's advice goes out here,
/// its receipt parts kept first: acknowledged, its receipt is made as a sale's; without a
/// usable answer, 202 `advice_pending` (the receipt follows when the host acknowledges it).
pub async fn complete(
    State(st): State<Shared>,
    Path(id): Path<String>,
    Json(form): Json<DeliveryForm>,
) -> Result<(StatusCode, Json<Value>), UiError> {
    let choice = parse_delivery(&form)?;
    let taken = with_sale(&st, &id, |s| {
        if let Some(r) = &s.receipt_id {
            return Ok(Taken::Made(r.clone()));
        }
        if let Some(request_id) = &s.advice_pending {
            return Ok(Taken::Pending(request_id.clone()));
        }
        if s.completing {
            return Err(UiError::out_of_order("the receipt is being made", "正在生成签购单"));
        }
        let signed = |s: &mut SaleSession| {
            s.signing
                .signature(now_ms())
                .ok_or_else(|| UiError::out_of_order("the cardholder has not finished signing", "持卡人尚未完成签名"))
        };
        if s.held.is_some() {
            let signature = signed(s)?;
            let held = s.held.take().ok_or_else(|| UiError::internal("refund card gone"))?;
            let request_id = crate::outbox::new_request_id();
            s.completing = true;
            s.authorisation = Some(request_id.clone());
            return Ok(Taken::Advice {
                held,
                request_id,
                signature,
                asked: s.asked.clone(),
                operator: s.operator.clone(),
            });
        }
        let (Some(Authorised { card, approval, time, trace }), Some(request_id)) =
            (s.card.clone(), s.authorisation.clone())
        else {
            return Err(UiError::out_of_order("the card must be approved first", "请先刷卡并获得授权"));
        };
        let signature = signed(s)?;
        s.completing = true;
        let operator = s.operator.clone();
        let operation = s.operation.clone();
        Ok(Taken::Approved(Approved {
            amount: s.amount,
            operation,
            operator,
            card,
            approval,
            time,
            trace,
            signature,
            request_id,
        }))
    })?;
    let approved = match taken {
        Taken::Approved(parts) => parts,
        Taken::Made(receipt_id) => return Ok((StatusCode::OK, Json(json!({"receipt": receipt_id})))),
        Taken::Pending(request_id) => return Ok(advice_pending(&request_id)),
        Taken::Advice { held, request_id, signature, asked, operator } => {
            let parts = ReceiptParts {
                card: held.summary().clone(),
                signature: signature.clone(),
                delivery: Some(choice.to_string()),
            };
            let sent = send_advice(&st, &id, &request_id, (&asked, operator.clone()), held, &parts).await;
            match sent {
                Ok((Authorised { card, approval, time, trace }, operation, amount)) => {
                    Approved { amount, operation, operator, card, approval, time, trace, signature, request_id }
                }
                Err(e) => {
                    let pending = e.error == "advice_pending";
                    with_sale(&st, &id, |s| {
                        s.completing = false;
                        s.authorisation = None;
                        if pending {
                            s.advice_pending = Some(request_id.clone());
                        }
                        Ok(())
                    })?;
                    if pending {
                        // Sent again by the background pass, which makes the receipt.
                        st.upload_wake.notify_one();
                        return Ok(advice_pending(&request_id));
                    }
                    return Err(e);
                }
            }
        }
    };
    let made = make_receipt(&st, approved, choice.to_string()).await;
    with_sale(&st, &id, |s| {
        s.completing = false;
        match &made {
            Ok(r) => s.receipt_id = Some(r.clone()),
            // Reversed meanwhile: this sale can never have its receipt.
            Err(e) if e.error == "reversed" => s.authorisation = None,
            Err(_) => {}
        }
        Ok(())
    })?;
    let receipt_id = made?;
    st.upload_wake.notify_one();
    tracing::info!(receipt = %receipt_id, channel = choice.channel(), "sale recorded");
    let state = status::local_status(&st, &receipt_id).await?;
    Ok((StatusCode::OK, Json(json!({"receipt": receipt_id, "status": state}))))
}

/// 202: the refund was sent and not acknowledged yet; the receipt follows when it is.
fn advice_pending(request_id: &str) -> (StatusCode, Json<Value>) {
    (
        StatusCode::ACCEPTED,
        Json(json!({
            "state": "advice_pending",
            "authorisation": request_id,
            "message_en": "refund sent to the acquirer; the receipt follows when it acknowledges",
            "message_zh": "退货已发送至收单机构，确认后即生成签购单",
        })),
    )
}

/// What `complete` took from the sale under its lock.
enum Taken {
    /// The receipt is already made.
    Made(String),
    /// A refund whose advice is awaiting the host's acknowledgement.
    Pending(String),
    /// An approved, signed sale.
    Approved(Approved),
    /// A refund's held card and signature: its advice goes out now.
    Advice { held: HeldRefund, request_id: String, signature: Signature, asked: Asked, operator: OperatorId },
}

/// A refund's card kept in this process's memory only, from the swipe until the cardholder
/// has signed and chosen a delivery: the advice then goes out with the receipt parts kept
/// first (so a late acknowledgement still makes the receipt). Dropping it (the advice sent,
/// the sale cancelled or forgotten) wipes the card number and tracks.
pub(crate) struct HeldRefund {
    pub(super) captured: CapturedCard,
}

impl HeldRefund {
    /// The card as the slip prints it.
    pub(super) fn summary(&self) -> &CardSummary {
        &self.captured.summary
    }
}

/// A refund's advice sent: the host's codes and the trace it saw, or its refusal (202
/// `advice_pending` when no usable answer came: the receipt follows from the background pass).
pub(super) async fn send_advice(
    st: &Shared,
    id: &str,
    request_id: &str,
    (asked, operator): (&Asked, OperatorId),
    held: HeldRefund,
    parts: &ReceiptParts,
) -> Result<(Authorised, Operation, Money), UiError> {
    let (operation, amount) = prepare(&st.uploader.outbox, asked).await.map_err(UiError::original)?;
    let time = st.zone.local_time(Utc::now()).map_err(|e| UiError::internal(format!("clock: {e}")))?;
    let captured = held.captured;
    let journalled = journal_row(st, request_id, (amount, time), &captured, operator, &operation);
    let (summary, approval, trace) =
        ask(st, (id, &journalled), captured, Some(parts), "refund not acknowledged").await?;
    Ok((Authorised { card: summary, approval, time, trace }, operation, amount))
}

/// An approved, signed sale, taken for its receipt.
struct Approved {
    amount: Money,
    operation: Operation,
    operator: OperatorId,
    card: CardSummary,
    approval: Approval,
    time: LocalTime,
    trace: Trace,
    signature: Signature,
    /// Its journalled authorisation, completed with the receipt.
    request_id: String,
}

async fn make_receipt(st: &Shared, sale: Approved, delivery: String) -> Result<String, UiError> {
    let outbox = &st.uploader.outbox;
    // Serial, voucher number and batch are the trace the host saw (allocated when the request
    // was journalled); record_authorised_sale takes the same from the journal.
    let transaction = approved_transaction(ApprovedRequest {
        operation: &sale.operation,
        amount: sale.amount,
        time: sale.time,
        trace: sale.trace,
        approval: sale.approval,
        operator: sale.operator,
        card: sale.card,
        simulated: st.authoriser.info().simulator,
    })
    .map_err(UiError::internal)?;
    let composer = Composer { signer: &st.signer, fonts: &st.fonts, width: st.width };
    let receipt =
        record_authorised_sale(outbox, composer, transaction, sale.signature, Some(delivery), Some(&sale.request_id))
            .await
            .map_err(|e| match e {
                SaleError::Compose(c) => UiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "compose",
                    format!("the receipt could not be made: {c}"),
                    "签购单生成失败",
                ),
                SaleError::Outbox(OutboxError::Authorisation(m)) => UiError::new(
                    StatusCode::CONFLICT,
                    "reversed",
                    format!("no receipt was made: {m}"),
                    "该授权已被撤销，未生成签购单",
                ),
                other => UiError::internal(other),
            })?;
    Ok(receipt.record.id.to_string())
}

/// Drops sales whose authorisation is no longer open in the journal (the operator reversed it
/// with `ereceipt terminal authorisations reverse`): they can never have their receipt.
async fn forget_reversed(st: &Shared) -> Result<(), UiError> {
    let held: Vec<String> = {
        let sales = st.sales.lock().map_err(|_| UiError::internal("sale table poisoned"))?;
        sales.values().filter(|s| s.holds_authorisation()).filter_map(|s| s.authorisation.clone()).collect()
    };
    let mut gone = Vec::new();
    for request_id in held {
        let state = st.uploader.outbox.authorisation(&request_id).await.map_err(UiError::internal)?.map(|a| a.state);
        if !matches!(state, Some(AuthorisationState::Requested | AuthorisationState::Approved)) {
            gone.push(request_id);
        }
    }
    let mut sales = st.sales.lock().map_err(|_| UiError::internal("sale table poisoned"))?;
    sales.retain(|_, s| !(s.holds_authorisation() && s.authorisation.as_ref().is_some_and(|r| gone.contains(r))));
    Ok(())
}
