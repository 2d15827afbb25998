//! `GET /api/v1/terminal/resume`: after enrolment (or when its outbox was lost) a terminal asks,
//! over mutual TLS, which batch its receipts carry and where the platform's copy of its hash
//! chain ends, so its next receipt id is new and its next link continues the chain.

use axum::extract::State;
use axum::{Extension, Json};
use ereceipt_core::contract::ResumePoint;

use super::schemas::{self, ErrorBody};
use super::ApiError;
use crate::infra::tls::ClientCert;
use crate::services::ingest;
use crate::services::terminals;
use crate::web::state::SharedState;

/// Where this enrolment's receipts continue
///
/// The resume point of the enrolment the client certificate belongs to: its batch, the highest
/// serial the platform holds there, and the head of the terminal's hash chain.
#[utoipa::path(get, path = "/api/v1/terminal/resume", tag = "terminal",
    security(("terminalCertificate" = [])),
    responses(
        (status = 200, description = "the resume point", body = schemas::ResumePoint),
        (status = 401, description = "no client certificate", body = ErrorBody),
        (status = 403, description = "the client certificate is not a POS certificate, not issued by this \
            platform, or revoked", body = ErrorBody),
        (status = 503, description = "storage unavailable; retry", body = ErrorBody),
    ))]
pub async fn resume(
    State(st): State<SharedState>,
    Extension(ClientCert(client)): Extension<ClientCert>,
) -> Result<Json<ResumePoint>, ApiError> {
    let client = ingest::known_terminal(&st.store, client).await?;
    let point = terminals::resume(&st.store, &client).await?;
    tracing::info!(terminal = %client.terminal.terminal_id, batch = point.batch, last_serial = point.last_serial,
        head = point.head.as_ref().map(|h| h.sequence), "terminal resume point");
    Ok(Json(point))
}
