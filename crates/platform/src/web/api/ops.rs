//! Operations endpoints: health, readiness, metrics, the CRL, the OpenAPI document and the
//! platform's public keys.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::{Extension, Json};
use chrono::Utc;
use ereceipt_core::contract::{PlatformInfo, HPKE_SUITE};

use super::openapi::OpenApiJson;
use super::schemas::{self, ErrorBody};
use super::{ApiError, QueryClient};
use crate::web::state::SharedState;

/// Liveness
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "`ok`", body = String, content_type = "text/plain")))]
pub async fn health() -> &'static str {
    "ok\n"
}

/// Readiness (database reachable)
#[utoipa::path(get, path = "/readyz", tag = "operations", responses(
    (status = 200, description = "`ready`", body = String, content_type = "text/plain"),
    (status = 503, description = "database unreachable", body = ErrorBody),
))]
pub async fn ready(State(st): State<SharedState>) -> Result<&'static str, ApiError> {
    st.store
        .ping()
        .await
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", format!("database: {e}")))?;
    Ok("ready\n")
}

/// Prometheus/OpenMetrics text
///
/// For the operator only (the query token): counts of uploads, refusals and deliveries are not
/// for the internet.
#[utoipa::path(get, path = "/metrics", tag = "operations", security(("queryToken" = [])), responses(
    (status = 200, description = "metrics in the OpenMetrics text format", body = String,
        content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8"),
    (status = 401, description = "no or wrong query token", body = ErrorBody),
))]
pub async fn metrics(_: QueryClient, State(st): State<SharedState>) -> impl IntoResponse {
    if let Ok(n) = st.store.deliveries_pending().await {
        st.metrics.deliveries_pending.set(n);
    }
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], st.metrics.render())
}

/// Certificate revocation list of the platform CA (DER)
#[utoipa::path(get, path = "/crl", tag = "operations", responses(
    (status = 200, description = "the CRL, DER (RFC 5280)", body = schemas::Binary, content_type = "application/pkix-crl"),
    (status = 500, description = "the CRL could not be signed or read", body = ErrorBody),
    (status = 503, description = "storage unavailable; retry", body = ErrorBody),
))]
pub async fn crl(State(st): State<SharedState>) -> Result<impl IntoResponse, ApiError> {
    let der = st.crl.current(&st.store, &st.keys, Utc::now()).await?;
    Ok(([(header::CONTENT_TYPE, "application/pkix-crl")], der))
}

/// This document (OpenAPI 3.1)
///
/// Generated from the handlers when the platform starts.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "operations", responses(
    (status = 200, description = "the OpenAPI document", body = Object, content_type = "application/json"),
))]
pub async fn openapi(Extension(OpenApiJson(doc)): Extension<OpenApiJson>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], doc)
}

/// Public keys a terminal needs
///
/// What a terminal needs after enrolment: the HPKE key to seal uploads to, the key to check
/// acknowledgements with, and the CA fingerprint.
#[utoipa::path(get, path = "/api/v1/platform", tag = "operations",
    responses((status = 200, description = "the platform's public keys", body = schemas::PlatformInfo)))]
pub async fn platform_info(State(st): State<SharedState>) -> Json<PlatformInfo> {
    Json(PlatformInfo {
        ca_fingerprint: st.keys.ca_fingerprint(),
        hpke_public_key: hex::encode(st.keys.hpke.public_bytes()),
        hpke_suite: Some(HPKE_SUITE.into()),
        ack_public_key: hex::encode(st.keys.ack.public_key()),
        max_upload_bytes: u64::try_from(st.settings.max_upload_bytes).ok(),
    })
}
