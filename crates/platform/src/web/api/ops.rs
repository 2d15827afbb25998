//! Operations endpoints: health, readiness, metrics, the CRL, the OpenAPI document and the
//! platform's public keys.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use chrono::Utc;
use ereceipt_core::contract::{PlatformInfo, HPKE_SUITE};

use super::{ApiError, QueryClient};
use crate::web::state::SharedState;

pub async fn health() -> &'static str {
    "ok\n"
}

pub async fn ready(State(st): State<SharedState>) -> Result<&'static str, ApiError> {
    st.store
        .ping()
        .await
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", format!("database: {e}")))?;
    Ok("ready\n")
}

/// Prometheus metrics, for the operator only (the admin token): counts of uploads, refusals
/// and deliveries are not for the internet.
pub async fn metrics(_: QueryClient, State(st): State<SharedState>) -> impl IntoResponse {
    if let Ok(n) = st.store.deliveries_pending().await {
        st.metrics.deliveries_pending.set(n);
    }
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], st.metrics.render())
}

pub async fn crl(State(st): State<SharedState>) -> Result<impl IntoResponse, ApiError> {
    let der = st.crl.current(&st.store, &st.keys, Utc::now()).await?;
    Ok(([(header::CONTENT_TYPE, "application/pkix-crl")], der))
}

pub async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], include_str!("openapi.json"))
}

/// What a terminal needs after enrolment: the keys to seal uploads to and to check acks with.
pub async fn platform_info(State(st): State<SharedState>) -> Json<PlatformInfo> {
    Json(PlatformInfo {
        ca_fingerprint: st.keys.ca_fingerprint(),
        hpke_public_key: hex::encode(st.keys.hpke.public_bytes()),
        hpke_suite: Some(HPKE_SUITE.into()),
        ack_public_key: hex::encode(st.keys.ack.public_key()),
        max_upload_bytes: u64::try_from(st.settings.max_upload_bytes).ok(),
    })
}
