//! `GET /api/v1/terminal/receipts/{id}`: a terminal reads the delivery state of one of its own
//! receipts over mutual TLS (its client certificate says which terminal it is);
//! `POST /api/v1/terminal/receipts/{id}/deliveries`: it resends one to a new address.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use ereceipt_core::contract::{DeliveryProgress, Resend, Resent, TerminalReceipt};
use ereceipt_core::model::DeliveryChoice;

use super::schemas::{self, ErrorBody};
use super::ApiError;
use crate::domain::delivery::Channel;
use crate::infra::store::{self, MAX_DELIVERIES_PER_RECEIPT};
use crate::infra::tls::ClientCert;
use crate::services::ingest;
use crate::web::state::SharedState;

fn utc(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms).map(|t| t.to_rfc3339()).unwrap_or_default()
}

/// A terminal reads the delivery state of one of its own receipts
///
/// The receipt's storage time, the customer's channel, and each delivery's state. Another
/// terminal's receipt is answered as not found, like an unknown id; recipients are not shown.
#[utoipa::path(get, path = "/api/v1/terminal/receipts/{id}", tag = "terminal",
    security(("terminalCertificate" = [])),
    params(("id" = String, Path, description = "Receipt id TERMINAL-BATCH-SERIAL")),
    responses(
        (status = 200, description = "stored; the customer's channel and each delivery's state",
            body = schemas::TerminalReceipt),
        (status = 401, description = "no client certificate", body = ErrorBody),
        (status = 403, description = "not a POS certificate of this platform, or revoked", body = ErrorBody),
        (status = 404, description = "no such receipt from this terminal", body = ErrorBody),
        (status = 503, description = "storage unavailable; retry", body = ErrorBody),
    ))]
pub async fn receipt(
    State(st): State<SharedState>,
    Extension(ClientCert(client)): Extension<ClientCert>,
    Path(id): Path<String>,
) -> Result<Json<TerminalReceipt>, ApiError> {
    let client = ingest::known_terminal(&st.store, client).await?;
    let not_found = || ApiError::not_found(format!("no receipt {id} from this terminal"));
    let r = st.store.receipt(&id).await?.ok_or_else(not_found)?;
    if r.terminal_id != client.terminal.terminal_id.as_str() {
        return Err(not_found());
    }
    let deliveries: Vec<_> = st
        .store
        .deliveries_of(&id)
        .await?
        .into_iter()
        .map(|(d, _)| DeliveryProgress {
            channel: d.channel.as_str().to_owned(),
            state: d.state,
            attempts: d.attempts,
            updated_at: utc(d.updated_at),
        })
        .collect();
    Ok(Json(TerminalReceipt {
        id: r.receipt_id,
        received_at: utc(r.received_at),
        channel: r.delivery.as_ref().map(|d| d.channel().to_owned()),
        deliveries,
    }))
}

/// A terminal resends one of its receipts to a new address
///
/// The cashier's resend: one more push delivery of the stored receipt (SMS, MMS or email), the
/// same signed image; not a second receipt. A receipt has at most 5 deliveries in all. The
/// new number's pull login lists the receipt too. Another terminal's receipt is answered as
/// not found, like an unknown id.
#[utoipa::path(post, path = "/api/v1/terminal/receipts/{id}/deliveries", tag = "terminal",
    security(("terminalCertificate" = [])),
    params(("id" = String, Path, description = "Receipt id TERMINAL-BATCH-SERIAL")),
    request_body = schemas::Resend,
    responses(
        (status = 202, description = "queued; the delivery workers send it", body = schemas::Resent),
        (status = 401, description = "no client certificate", body = ErrorBody),
        (status = 403, description = "not a POS certificate of this platform, or revoked", body = ErrorBody),
        (status = 404, description = "no such receipt from this terminal", body = ErrorBody),
        (status = 409, description = "the receipt has 5 deliveries already", body = ErrorBody),
        (status = 422, description = "not JSON of this shape, not a delivery choice, or a pull choice", body = ErrorBody),
        (status = 503, description = "storage unavailable; retry", body = ErrorBody),
    ))]
pub async fn resend(
    State(st): State<SharedState>,
    Extension(ClientCert(client)): Extension<ClientCert>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Resent>), ApiError> {
    let client = ingest::known_terminal(&st.store, client).await?;
    let invalid = |m: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", m);
    // Read after the certificate: a stranger learns nothing of what the body should be.
    let body: Resend = serde_json::from_slice(&body).map_err(|e| invalid(format!("body: {e}")))?;
    let choice: DeliveryChoice = body.deliver.parse().map_err(|e| invalid(format!("deliver: {e}")))?;
    let channel = Channel::pushing(&choice).ok_or_else(|| {
        invalid("deliver: a pull receipt is not sent; the customer finds it with a login code by SMS".into())
    })?;
    let not_found = || ApiError::not_found(format!("no receipt {id} from this terminal"));
    let r = st.store.receipt(&id).await?.ok_or_else(not_found)?;
    if r.terminal_id != client.terminal.terminal_id.as_str() {
        return Err(not_found());
    }
    let now = Utc::now().timestamp_millis();
    match st.store.resend(&id, channel, choice.recipient(), now).await? {
        store::Resend::Queued { delivery_id } => {
            st.deliveries_waiting.notify_waiters();
            tracing::info!(receipt = %id, channel = %channel, "receipt resent to a new address");
            Ok((StatusCode::ACCEPTED, Json(Resent { delivery_id, channel: channel.as_str().to_owned() })))
        }
        store::Resend::Limit => Err(ApiError::new(
            StatusCode::CONFLICT,
            "limit",
            format!("receipt {id} has {MAX_DELIVERIES_PER_RECEIPT} deliveries already: no more are sent"),
        )),
    }
}
