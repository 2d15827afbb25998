//! `POST /api/v1/receipts`: a terminal uploads one HPKE envelope over mTLS and gets the signed
//! acknowledgement (201 when newly stored, 200 when it was already stored).

use std::time::Instant;

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::Utc;

use super::schemas::{self, ErrorBody};
use super::ApiError;
use crate::infra::store;
use crate::infra::tls::ClientCert;
use crate::services::ingest::{self, Refusal};
use crate::web::state::SharedState;

struct InFlight(prometheus_client::metrics::gauge::Gauge);
impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Upload one receipt
///
/// A CBOR HPKE envelope `{1: terminal id, 2: receipt id, 3: enc, 4: ciphertext}` sealed to the
/// platform's HPKE key, over mutual TLS with the terminal's certificate; the answer is the
/// platform-signed acknowledgement.
#[utoipa::path(post, path = "/api/v1/receipts", tag = "terminal",
    security(("terminalCertificate" = [])),
    request_body(description = "the sealed envelope", content((schemas::Binary = "application/cbor"))),
    responses(
        (status = 201, description = "stored; the body is the platform-signed acknowledgement", body = schemas::Binary,
            content_type = "application/cbor"),
        (status = 200, description = "already stored; the same acknowledgement", body = schemas::Binary,
            content_type = "application/cbor"),
        (status = 400, description = "malformed or unopenable envelope, inconsistent record", body = ErrorBody),
        (status = 401, description = "no client certificate", body = ErrorBody),
        (status = 403, description = "certificate unknown or revoked, wrong terminal, signer revoked or unknown, \
            a test feature from a production terminal", body = ErrorBody),
        (status = 409, description = "a different receipt is stored under this id", body = ErrorBody),
        (status = 413, description = "body too large", body = String, content_type = "text/plain"),
        (status = 422, description = "image not authentic, not bound to the record, or unverifiable", body = ErrorBody),
        (status = 503, description = "storage unavailable; retry", body = ErrorBody),
    ))]
pub async fn upload(
    State(st): State<SharedState>,
    PosClient(client): PosClient,
    body: Bytes,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    st.metrics.in_flight.inc();
    let _in_flight = InFlight(st.metrics.in_flight.clone());
    let terminal = Some(client.terminal.terminal_id.to_string());
    let result = async {
        let worker = st.clone();
        let now = Utc::now();
        let opened = tokio::task::spawn_blocking(move || ingest::open_and_verify(&worker.keys, &client, &body, now))
            .await
            .map_err(Refusal::from)??;
        ingest::store(&st.store, &st.keys, opened, now).await
    }
    .await;
    st.metrics.latency.observe(started.elapsed().as_secs_f64());
    match result {
        Ok(accepted) => {
            let status = if accepted.created {
                st.metrics.ingested.inc();
                if accepted.delivery_queued {
                    st.deliveries_waiting.notify_waiters();
                }
                StatusCode::CREATED
            } else {
                st.metrics.duplicates.inc();
                StatusCode::OK
            };
            Ok((status, [(header::CONTENT_TYPE, "application/cbor")], accepted.ack).into_response())
        }
        Err(refusal) => {
            st.metrics.refuse(refusal.reason());
            tracing::warn!(terminal = terminal.as_deref().unwrap_or("-"), reason = refusal.reason(), detail = %refusal, "upload refused");
            // Kept for the operator (GET /api/v1/admin/refusals): receipts the terminal parks.
            if let Refusal::Conflict(receipt_id) | Refusal::TestFeature { receipt_id, .. } = &refusal {
                let note = store::Refusal {
                    at: Utc::now().timestamp_millis(),
                    terminal_id: terminal.clone().unwrap_or_default(),
                    receipt_id: receipt_id.clone(),
                    reason: refusal.to_string(),
                };
                if let Err(e) = st.store.record_refusal(&note).await {
                    tracing::error!(error = %e, "could not record the refusal");
                }
            }
            Err(refusal.into())
        }
    }
}

/// The uploading terminal's certificate, checked (present, a POS certificate, known and not
/// revoked) from the request's head, so that a client without one is refused before any of its
/// body is read.
pub struct PosClient(std::sync::Arc<ereceipt_core::identity::PosCertificate>);

impl FromRequestParts<SharedState> for PosClient {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, st: &SharedState) -> Result<Self, ApiError> {
        let checked = async {
            let client = match parts.extensions.get::<ClientCert>().and_then(|c| c.0.clone()) {
                None => return Err(Refusal::NoClientCertificate),
                Some(Err(e)) => return Err(Refusal::NotPos(e)),
                Some(Ok(c)) => c,
            };
            ingest::check_client(&st.store, &client).await?;
            Ok(client)
        };
        checked.await.map(PosClient).map_err(|refusal| {
            st.metrics.refuse(refusal.reason());
            tracing::warn!(reason = refusal.reason(), detail = %refusal, "upload refused");
            refusal.into()
        })
    }
}
