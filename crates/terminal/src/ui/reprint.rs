//! The reprint screen's API (重打印 / 重发): the open batch's receipts with the last one first,
//! a receipt's duplicate copy (a new image over the same signed record), and its resend to a
//! new address by the platform. The work is the terminal's `reprint` and `resend` services.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use ereceipt_core::model::TimeLayout;
use serde::Serialize;

use super::delivery::{parse_delivery, DeliveryForm};
use super::error::UiError;
use super::Shared;
use crate::reprint::{reprint, reprintable, ReceiptLine, ReprintError, Which};
use crate::resend::{resend_receipt, ResendError, ResendOutcome};
use crate::sale::Composer;

/// One receipt of the list, as the screen shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ListedReceipt {
    pub id: String,
    /// The slip's time, `2026-11-25 14:03:11 +08:00`.
    pub time: String,
    /// The kind's code (`SALE`, `VOID`, …) and its Chinese name (消费, 消费撤销, …).
    pub kind: &'static str,
    pub kind_zh: &'static str,
    /// Signed as the slip prints it (`RMB -50.00` for money given back).
    pub amount: String,
    /// The voucher number (凭证号), six digits.
    pub voucher: String,
    pub batch: String,
}

impl From<&ReceiptLine> for ListedReceipt {
    fn from(l: &ReceiptLine) -> Self {
        ListedReceipt {
            id: l.receipt_id.clone(),
            time: l.time.format(TimeLayout::Page),
            kind: l.kind.code(),
            kind_zh: l.kind.name_zh(),
            amount: l.amount.clone(),
            voucher: format!("{:06}", l.voucher),
            batch: format!("{:06}", l.batch),
        }
    }
}

/// `GET /api/reprint`: the last receipt, and the open batch's receipts, newest first.
pub async fn list(State(st): State<Shared>) -> Result<Json<serde_json::Value>, UiError> {
    let r = reprintable(&st.uploader.outbox).await.map_err(UiError::internal)?;
    let receipts: Vec<ListedReceipt> = r.batch.iter().map(ListedReceipt::from).collect();
    Ok(Json(serde_json::json!({
        "open_batch": format!("{:06}", r.open_batch),
        "last": r.last.as_ref().map(ListedReceipt::from),
        "receipts": receipts,
    })))
}

/// `GET /api/reprint/{id}/image`: the duplicate copy of receipt `id` (PNG). Nothing is stored.
pub async fn image(State(st): State<Shared>, Path(id): Path<String>) -> Result<impl IntoResponse, UiError> {
    let composer = Composer { signer: &st.signer, fonts: &st.fonts, width: st.width };
    let dup = reprint(&st.uploader.outbox, composer, Which::Receipt(&id)).await.map_err(refusal)?;
    tracing::info!(receipt = %id, "duplicate copy shown");
    Ok(([(header::CONTENT_TYPE, "image/png")], dup.png))
}

fn refusal(e: ReprintError) -> UiError {
    match e {
        ReprintError::NotFound(id) => UiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no receipt {id} on this terminal"),
            format!("本终端没有签购单 {id}"),
        ),
        e @ ReprintError::Renewed { .. } => UiError::new(
            StatusCode::CONFLICT,
            "renewed",
            e.to_string(),
            "该签购单由本终端更新前的证书签名，现在无法生成可验证的重打印凭证；请改用重发",
        ),
        other => UiError::internal(other),
    }
}

/// `POST /api/reprint/{id}/resend` with `{"channel", "to"}`: one more delivery by the platform.
/// 200 `{"outcome": "queued", …}` or `{"outcome": "not_uploaded", …}`; 409 `limit`; 422 the
/// platform's refusal or an invalid address; 503 the platform unreachable.
pub async fn resend(
    State(st): State<Shared>,
    Path(id): Path<String>,
    Json(form): Json<DeliveryForm>,
) -> Result<Json<serde_json::Value>, UiError> {
    let choice = parse_delivery(&form)?;
    if choice.channel() == "pull" {
        return Err(UiError::invalid(
            "delivery channel",
            "a pull receipt is not sent: choose SMS, MMS or email",
            "自助下载不能重发：请选择短信、彩信或电子邮件",
        ));
    }
    match resend_receipt(&st.uploader, &id, &choice).await {
        Ok(ResendOutcome::Queued { channel, delivery_id }) => Ok(Json(serde_json::json!({
            "outcome": "queued", "channel": channel, "to": choice.recipient(), "delivery": delivery_id,
        }))),
        Ok(ResendOutcome::NotUploaded { state }) => {
            Ok(Json(serde_json::json!({"outcome": "not_uploaded", "state": state.to_string()})))
        }
        Err(ResendError::NotFound(id)) => Err(refusal(ReprintError::NotFound(id))),
        Err(ResendError::Limit(m)) => {
            Err(UiError::new(StatusCode::CONFLICT, "limit", m, "该签购单的发送次数已达上限，不能再发送"))
        }
        Err(ResendError::Refused(m)) => {
            Err(UiError::new(StatusCode::UNPROCESSABLE_ENTITY, "refused", m.clone(), format!("平台拒绝重发：{m}")))
        }
        Err(ResendError::Unavailable(m)) => Err(UiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            m.clone(),
            format!("暂时无法连接平台，请稍后重试（{m}）"),
        )),
        Err(other) => Err(UiError::internal(other)),
    }
}
