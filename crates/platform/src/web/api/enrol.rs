//! Enrolment in the shape of EST (RFC 7030): `cacerts`, `simpleenroll` (authenticated by the
//! single-use token as a bearer credential) and `simplereenroll` (authenticated by the current
//! client certificate). Requests are a PKCS#10 CSR, base64 DER as EST sends it
//! (`application/pkcs10`), or PEM; answers are EST's base64 certs-only PKCS#7
//! (`application/pkcs7-mime; smime-type=certs-only`): the CA for `cacerts`, the issued
//! certificate for the two enrolments.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderName, StatusCode};
use axum::response::IntoResponse;
use axum::Extension;
use base64::Engine;
use bytes::Bytes;
use chrono::Utc;
use ereceipt_core::enrolment::est::{encode_certs_only, PKCS7_CERTS_ONLY};
use ereceipt_core::identity::pem_decode;

use super::schemas::ErrorBody;
use super::{bearer, ApiError};
use crate::infra::tls::ClientCert;
use crate::services::terminals;
use crate::web::state::SharedState;

/// A certs-only answer with the headers RFC 7030 §4.1.3 asks for.
fn certs_only(certs: &[&[u8]]) -> Result<impl IntoResponse, ApiError> {
    let body = encode_certs_only(certs)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    Ok((
        [(header::CONTENT_TYPE, PKCS7_CERTS_ONLY), (HeaderName::from_static("content-transfer-encoding"), "base64")],
        body,
    ))
}

/// The platform CA certificate
///
/// RFC 7030 §4.1.3: base64 certs-only PKCS#7 holding the CA (`Content-Transfer-Encoding: base64`).
#[utoipa::path(get, path = "/.well-known/est/cacerts", tag = "enrolment", responses(
    (status = 200, description = "base64 certs-only PKCS#7 holding the CA", body = String,
        content_type = "application/pkcs7-mime; smime-type=certs-only"),
))]
pub async fn cacerts(State(st): State<SharedState>) -> Result<impl IntoResponse, ApiError> {
    certs_only(&[&st.keys.ca.cert_der])
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

/// First enrolment
///
/// A PKCS#10 CSR (base64 DER as EST sends it, or PEM) with the enrolment token's secret as
/// bearer token; the token is used up.
#[utoipa::path(post, path = "/.well-known/est/simpleenroll", tag = "enrolment",
    security(("enrolmentToken" = [])),
    request_body(description = "PKCS#10 CSR, base64 DER or PEM", content(
        (String = "application/pkcs10"),
    )),
    responses(
        (status = 200, description = "base64 certs-only PKCS#7 holding the issued certificate", body = String,
            content_type = "application/pkcs7-mime; smime-type=certs-only"),
        (status = 400, description = "bad CSR", body = ErrorBody),
        (status = 401, description = "no token", body = ErrorBody),
        (status = 403, description = "token unknown, used or expired; terminal revoked", body = ErrorBody),
        (status = 413, description = "body too large", body = ErrorBody),
        (status = 503, description = "storage unavailable; retry", body = ErrorBody),
    ))]
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
    certs_only(&[&der])
}

/// Renewal
///
/// A PKCS#10 CSR for the terminal's next certificate, authenticated by its current one (mutual TLS).
#[utoipa::path(post, path = "/.well-known/est/simplereenroll", tag = "enrolment",
    security(("terminalCertificate" = [])),
    request_body(description = "PKCS#10 CSR, base64 DER or PEM", content(
        (String = "application/pkcs10"),
    )),
    responses(
        (status = 200, description = "base64 certs-only PKCS#7 holding the new certificate", body = String,
            content_type = "application/pkcs7-mime; smime-type=certs-only"),
        (status = 400, description = "bad CSR", body = ErrorBody),
        (status = 401, description = "no client certificate", body = ErrorBody),
        (status = 403, description = "not a POS certificate of this platform, or revoked", body = ErrorBody),
        (status = 413, description = "body too large", body = ErrorBody),
        (status = 503, description = "storage unavailable; retry", body = ErrorBody),
    ))]
pub async fn simple_reenroll(
    State(st): State<SharedState>,
    Extension(ClientCert(client)): Extension<ClientCert>,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let current = match client {
        Some(Ok(c)) => c,
        Some(Err(e)) => return Err(ApiError::new(StatusCode::FORBIDDEN, "not_pos_certificate", e)),
        None => {
            return Err(ApiError::unauthorized("re-enrolment needs the current certificate as TLS client certificate"))
        }
    };
    let csr = csr_der(&body)?;
    let der = terminals::reenrol(&st.store, &st.keys, &current, &csr, st.settings.certificate_days, Utc::now()).await?;
    st.metrics.enrolments.inc();
    tracing::info!(terminal = %current.terminal.terminal_id, "terminal certificate renewed");
    certs_only(&[&der])
}
