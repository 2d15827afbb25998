//! Enrolment in the shape of EST (RFC 7030): `cacerts`, `simpleenroll` (authenticated by the
//! single-use token as a bearer credential) and `simplereenroll` (authenticated by the current
//! client certificate). Requests are a PKCS#10 CSR, base64 DER as EST sends it, or PEM;
//! responses are a PEM certificate chain (leaf, then CA) rather than EST's PKCS#7.

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::IntoResponse;
use axum::Extension;
use base64::Engine;
use bytes::Bytes;
use chrono::Utc;
use ereceipt_core::identity::{pem_decode, pem_encode};

use super::{bearer, ApiError};
use crate::infra::tls::ClientCert;
use crate::services::terminals;
use crate::web::state::SharedState;

const PEM_CHAIN: &str = "application/pem-certificate-chain";

pub async fn cacerts(State(st): State<SharedState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, PEM_CHAIN)], pem_encode("CERTIFICATE", &st.keys.ca.cert_der))
}

fn csr_der(body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let text = std::str::from_utf8(body).map_err(|_| ApiError::bad_request("CSR must be base64 DER or PEM"))?;
    if text.contains("-----BEGIN") {
        return pem_decode(text, "CERTIFICATE REQUEST").map_err(|e| ApiError::bad_request(e.to_string()));
    }
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|e| ApiError::bad_request(format!("CSR is not base64: {e}")))
}

fn chain(st: &SharedState, leaf: &[u8]) -> impl IntoResponse {
    let body = format!("{}{}", pem_encode("CERTIFICATE", leaf), pem_encode("CERTIFICATE", &st.keys.ca.cert_der));
    ([(header::CONTENT_TYPE, PEM_CHAIN)], body)
}

pub async fn simple_enroll(
    State(st): State<SharedState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let secret =
        bearer(&headers).ok_or_else(|| ApiError::unauthorized("Authorization: Bearer ENROLMENT-SECRET required"))?;
    let csr = csr_der(&body)?;
    let der = terminals::enrol(&st.store, &st.keys, secret, &csr, st.settings.certificate_days, Utc::now()).await?;
    st.metrics.enrolments.inc();
    tracing::info!("terminal enrolled");
    Ok(chain(&st, &der))
}

pub async fn simple_reenroll(
    State(st): State<SharedState>,
    Extension(ClientCert(client)): Extension<ClientCert>,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let current = match client {
        Some(Ok(c)) => c,
        Some(Err(e)) => return Err(ApiError::new(axum::http::StatusCode::FORBIDDEN, "not_pos_certificate", e)),
        None => {
            return Err(ApiError::unauthorized("re-enrolment needs the current certificate as TLS client certificate"))
        }
    };
    let csr = csr_der(&body)?;
    let der = terminals::reenrol(&st.store, &st.keys, &current, &csr, st.settings.certificate_days, Utc::now()).await?;
    st.metrics.enrolments.inc();
    tracing::info!(terminal = %current.terminal.terminal_id, "terminal certificate renewed");
    Ok(chain(&st, &der))
}
