//! The settlement screen's API (结算): the open batch as its slip will print it, its closing
//! with the host (the terminal's `slip::close_batch`, as the CLI's `terminal settle`), the
//! slip's image, and its upload state with the platform's reconciliation once uploaded.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use ereceipt_core::contract::Reconciliation;
use ereceipt_core::model::{Money, MoneyLayout, SettlementLine};
use serde::Serialize;

use super::error::UiError;
use super::Shared;
use crate::authorisation::{SettleError, Till};
use crate::outbox::EntryState;
use crate::sale::Composer;
use crate::slip::{close_batch, preview_open_batch, CloseError};

/// One line of the batch: a kind, card brand and currency with its count and total.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    /// The kind's code (`SALE`, `VOID`, …) and its Chinese name (消费, 消费撤销, …).
    pub kind: &'static str,
    pub kind_zh: &'static str,
    pub brand: &'static str,
    pub brand_zh: &'static str,
    pub currency: &'static str,
    pub count: u64,
    /// As the slip prints it, `RMB 1,234.50`.
    pub total: String,
}

impl From<&SettlementLine> for Line {
    fn from(l: &SettlementLine) -> Self {
        let total = Money::new(l.total_minor, l.currency)
            .map_or_else(|_| l.currency.format_sum(0, MoneyLayout::Slip), |m| m.format(MoneyLayout::Slip));
        Line {
            kind: l.kind.code(),
            kind_zh: l.kind.name_zh(),
            brand: l.brand.name(),
            brand_zh: l.brand.name_zh(),
            currency: l.currency.code(),
            count: l.count,
            total,
        }
    }
}

/// `GET /api/settlement`: the open batch, the lines its slip will print, and how many
/// authorisations must be finished before it can be settled.
pub async fn preview(State(st): State<Shared>) -> Result<Json<serde_json::Value>, UiError> {
    let p = preview_open_batch(&st.uploader.outbox).await.map_err(UiError::internal)?;
    let lines: Vec<Line> = p.lines.iter().map(Line::from).collect();
    Ok(Json(serde_json::json!({
        "batch": format!("{:06}", p.batch),
        "lines": lines,
        "open_authorisations": p.open_authorisations.len(),
    })))
}

/// `POST /api/settlement`: settles the open batch as the signed-in operator and stores its
/// slip for upload. 200 with the host's comparison; 409 `sign_in_required` or
/// `open_authorisations`; 503 `host_unavailable`.
pub async fn settle(State(st): State<Shared>) -> Result<Json<serde_json::Value>, UiError> {
    let operator = super::operator::current(&st)?;
    let till = Till {
        operator: &operator,
        terminal_id: &st.terminal.terminal_id,
        merchant_id: &st.terminal.merchant_id,
        currency: st.currency,
    };
    let composer = Composer { signer: &st.signer, fonts: &st.fonts, width: st.width };
    let closed =
        close_batch(&st.uploader.outbox, st.authoriser.as_ref(), till, composer, st.zone).await.map_err(refusal)?;
    st.upload_wake.notify_one();
    let done = &closed.settled;
    let lines: Vec<Line> = closed.slip.slip.lines().iter().map(Line::from).collect();
    tracing::info!(batch = done.totals.batch, balanced = closed.balanced(), "batch settled from the touch UI");
    Ok(Json(serde_json::json!({
        "batch": format!("{:06}", done.totals.batch),
        "balanced": closed.balanced(),
        "domestic_balanced": done.answer.domestic_balanced,
        "foreign_balanced": done.answer.foreign_balanced,
        "next_batch": format!("{:06}", done.next_batch),
        "lines": lines,
    })))
}

fn refusal(e: CloseError) -> UiError {
    match e {
        CloseError::Settle(e @ SettleError::Open { .. }) => {
            UiError::new(StatusCode::CONFLICT, "open_authorisations", e.to_string(), open_zh(&e))
        }
        CloseError::Settle(e @ SettleError::Host { .. }) => UiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "host_unavailable",
            e.to_string(),
            "收单机构未完成结算，批次未关闭，请检查连接后重试",
        ),
        other => UiError::internal(other),
    }
}

fn open_zh(e: &SettleError) -> String {
    match e {
        SettleError::Open { batch, open } => {
            format!("批次 {batch:06} 尚有 {open} 笔授权未完成，须先完成或冲正后才能结算")
        }
        _ => String::new(),
    }
}

/// A settlement slip's upload state, as the screen shows it.
#[derive(Debug, Clone, Serialize)]
pub struct SlipStatus {
    pub batch: String,
    /// `queued`, `uploaded` or `refused`.
    pub state: &'static str,
    /// The platform's reconciliation once uploaded.
    pub reconciliation: Option<Reconciliation>,
    /// The last upload error while queued, the platform's reason once refused.
    pub error: Option<String>,
}

fn batch_of(batch: &str) -> Result<u32, UiError> {
    batch.parse().map_err(|_| UiError::invalid("batch", format!("{batch:?} is not a batch number"), "批次号应为数字"))
}

/// `GET /api/settlements/{batch}`: the slip's upload state and the platform's reconciliation.
pub async fn status(State(st): State<Shared>, Path(batch): Path<String>) -> Result<Json<SlipStatus>, UiError> {
    let batch = batch_of(&batch)?;
    let slip = st.uploader.outbox.slip(batch).await.map_err(UiError::internal)?;
    let slip = slip.ok_or_else(|| no_slip(batch))?;
    let reconciliation = match slip.reconciliation.as_deref() {
        Some(json) => Some(serde_json::from_str::<Reconciliation>(json).map_err(UiError::internal)?),
        None => None,
    };
    let state = match slip.state {
        EntryState::Pending => "queued",
        EntryState::Acked => "uploaded",
        EntryState::Refused => "refused",
    };
    Ok(Json(SlipStatus { batch: format!("{batch:06}"), state, reconciliation, error: slip.last_error }))
}

/// `GET /api/settlements/{batch}/image`: the signed settlement slip (PNG) as stored.
pub async fn image(State(st): State<Shared>, Path(batch): Path<String>) -> Result<impl IntoResponse, UiError> {
    let batch = batch_of(&batch)?;
    let slip = st.uploader.outbox.slip(batch).await.map_err(UiError::internal)?;
    let png = slip.map(|s| s.png).ok_or_else(|| no_slip(batch))?;
    Ok(([(header::CONTENT_TYPE, "image/png")], png))
}

fn no_slip(batch: u32) -> UiError {
    UiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("batch {batch:06} has no settlement slip on this terminal"),
        format!("本终端没有批次 {batch:06} 的结算单"),
    )
}
