//! Where a receipt is: queued on the terminal (offline or waiting its turn), uploaded, or
//! delivered to the customer as the platform reports over mutual TLS; the outbox summary behind
//! the page's alerts for refused receipts and for authorisations without a receipt; and the
//! background uploader that drains the outbox while the UI runs.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use chrono::Utc;
use ereceipt_core::contract::DeliveryState;
use serde::Serialize;

use super::error::UiError;
use super::Shared;
use crate::outbox::{AuthorisationRecord, EntryState};

/// A receipt's state as the result screen shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ReceiptStatus {
    /// Stored on the terminal; not on the platform yet (offline, or retrying after an error).
    Queued { attempts: u32, last_error: Option<String> },
    /// The platform stored it and signed the acknowledgement; delivery is under way, or the
    /// customer chose to pull it.
    Uploaded { channel: Option<String>, delivery: Option<String> },
    /// The customer's server or handset accepted it (`sent` or `delivered` on the platform).
    Delivered { channel: String, delivery: String },
    /// The platform gave up delivering it.
    DeliveryFailed { channel: String },
    /// The platform refused the receipt itself.
    Refused { error: String },
}

/// The state from the outbox alone (no network).
pub(crate) async fn local_status(st: &Shared, id: &str) -> Result<ReceiptStatus, UiError> {
    let entry = st.uploader.outbox.entry(id).await.map_err(UiError::internal)?;
    let entry = entry.ok_or_else(|| UiError::not_found("such receipt"))?;
    // `channel:address` while pending; only `channel` once acknowledged (the address is dropped).
    let channel = entry.delivery.as_deref().map(|d| d.split_once(':').map_or(d, |(c, _)| c).to_owned());
    Ok(match entry.state {
        EntryState::Pending => ReceiptStatus::Queued { attempts: entry.attempts, last_error: entry.last_error },
        EntryState::Refused => ReceiptStatus::Refused { error: entry.last_error.unwrap_or_default() },
        EntryState::Acked => ReceiptStatus::Uploaded { channel, delivery: None },
    })
}

/// `GET /api/receipts/{id}`: the outbox state, and for uploaded receipts the platform's view.
pub async fn receipt(State(st): State<Shared>, Path(id): Path<String>) -> Result<Json<ReceiptStatus>, UiError> {
    let local = local_status(&st, &id).await?;
    let ReceiptStatus::Uploaded { channel, .. } = &local else { return Ok(Json(local)) };
    let view = match st.uploader.client().receipt_deliveries(&id).await {
        Ok(Some(view)) => view,
        Ok(None) => return Ok(Json(local)),
        Err(e) => {
            tracing::info!(receipt = %id, error = %e, "delivery state not available");
            return Ok(Json(local));
        }
    };
    let channel = view.channel.clone().or_else(|| channel.clone());
    let best = view
        .deliveries
        .iter()
        .find(|d| d.state == DeliveryState::Delivered)
        .or_else(|| view.deliveries.iter().find(|d| d.state == DeliveryState::Sent))
        .or_else(|| view.deliveries.iter().find(|d| d.state != DeliveryState::Failed))
        .or_else(|| view.deliveries.first());
    Ok(Json(match best {
        Some(d) if d.state.reached_peer() => {
            ReceiptStatus::Delivered { channel: d.channel.clone(), delivery: d.state.to_string() }
        }
        Some(d) if d.state == DeliveryState::Failed => ReceiptStatus::DeliveryFailed { channel: d.channel.clone() },
        Some(d) => ReceiptStatus::Uploaded { channel, delivery: Some(d.state.to_string()) },
        None => ReceiptStatus::Uploaded { channel, delivery: None },
    }))
}

/// How many refused receipts the outbox summary lists by id.
const REFUSED_LISTED: i64 = 5;

/// The outbox as the page's alert shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxSummary {
    pub pending: u64,
    /// Receipts the platform refused for good: not retried, and the customer does not get
    /// them from the platform, so the page keeps an alert up while there are any.
    pub refused: u64,
    /// The newest refused receipts, with the platform's reason.
    pub refused_receipts: Vec<RefusedReceipt>,
    /// Security review L4: journalled authorisations no open sale of this UI holds (a crash,
    /// a restart, a closed tab, an unanswered request) and not reversed yet: money may be held
    /// on the cardholder's account with no receipt. The page keeps an alert up for them.
    pub authorisations: Vec<OpenAuthorisation>,
}

/// One authorisation in [`OutboxSummary::authorisations`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OpenAuthorisation {
    /// The journal's request id, as `ereceipt terminal authorisations reverse` takes it.
    pub id: String,
    /// `requested` (no answer), `approved` (no receipt) or `reversing` (not acknowledged).
    pub state: String,
    /// Decimal, in `currency`.
    pub amount: String,
    pub currency: String,
    /// Brand and masked number, as the slip prints them.
    pub card: String,
    /// The terminal's time of the request (RFC 3339).
    pub time: String,
    pub auth_code: Option<String>,
    pub rrn: Option<String>,
    /// The last reversal attempt's error, if any.
    pub error: Option<String>,
}

impl From<AuthorisationRecord> for OpenAuthorisation {
    fn from(a: AuthorisationRecord) -> Self {
        let error = if a.state == crate::outbox::AuthorisationState::Reversing { a.answer.clone() } else { None };
        OpenAuthorisation {
            card: a.card(),
            state: a.state.to_string(),
            amount: a.amount.decimal(),
            currency: a.amount.currency().code().to_owned(),
            time: a.time.rfc3339(),
            auth_code: a.auth_code.map(|c| c.as_str().to_owned()),
            rrn: a.rrn.map(|r| r.as_str().to_owned()),
            error,
            id: a.request_id,
        }
    }
}

/// One refused receipt in [`OutboxSummary`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefusedReceipt {
    pub id: String,
    pub error: String,
}

/// `GET /api/outbox`: pending and refused counts, the newest refused receipts, and the
/// authorisations without a receipt.
pub async fn outbox(State(st): State<Shared>) -> Result<Json<OutboxSummary>, UiError> {
    let outbox = &st.uploader.outbox;
    let status = outbox.status().await.map_err(UiError::internal)?;
    let refused = outbox.refused(REFUSED_LISTED).await.map_err(UiError::internal)?;
    let open = outbox.open_authorisations().await.map_err(UiError::internal)?;
    // A sale in progress holds its own (being asked, or approved and being signed).
    let held: Vec<String> = {
        let sales = st.sales.lock().map_err(|_| UiError::internal("sale table poisoned"))?;
        sales.values().filter(|s| s.holds_authorisation()).filter_map(|s| s.authorisation.clone()).collect()
    };
    Ok(Json(OutboxSummary {
        pending: status.pending,
        refused: status.refused,
        refused_receipts: refused
            .into_iter()
            .map(|e| RefusedReceipt { id: e.receipt_id, error: e.last_error.unwrap_or_default() })
            .collect(),
        authorisations: open
            .into_iter()
            .filter(|a| !held.contains(&a.request_id))
            .map(OpenAuthorisation::from)
            .collect(),
    }))
}

/// `GET /api/receipts/{id}/image`: the receipt PNG as stored in the outbox.
pub async fn image(State(st): State<Shared>, Path(id): Path<String>) -> Result<impl IntoResponse, UiError> {
    let entry = st.uploader.outbox.entry(&id).await.map_err(UiError::internal)?;
    let png = entry.map(|e| e.png).filter(|p| !p.is_empty()).ok_or_else(|| UiError::not_found("such receipt image"))?;
    Ok(([(header::CONTENT_TYPE, "image/png")], png))
}

/// Drains the outbox (receipts, then settlement slips) whenever a sale or a settlement wakes
/// it, and retries pending ones when their backoff ends, until the task is aborted.
pub(crate) async fn upload_loop(st: Shared) {
    loop {
        match st.uploader.drain_due().await {
            Ok(r) if r.uploaded > 0 || r.last_error.is_some() => {
                tracing::info!(uploaded = r.uploaded, error = r.last_error.as_deref().unwrap_or(""), "outbox drained");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "upload step failed"),
        }
        let now = Utc::now().timestamp_millis();
        let wait_ms = match st.uploader.outbox.status().await {
            Ok(s) if s.pending > 0 => s.next_attempt_at.map_or(1_000, |t| (t - now).clamp(50, 30_000)),
            // Settlement slips go once every receipt is up: a failed one is retried when due.
            Ok(_) => match st.uploader.outbox.next_slip_attempt().await {
                Ok(Some(t)) => (t - now).clamp(50, 60_000),
                _ => 60_000,
            },
            Err(_) => 60_000,
        };
        let wait = Duration::from_millis(u64::try_from(wait_ms).unwrap_or(1_000));
        tokio::select! {
            () = st.upload_wake.notified() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
}
