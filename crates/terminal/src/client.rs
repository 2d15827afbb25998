//! The terminal's HTTPS client to the platform: CA discovery pinned by the enrolment token's
//! fingerprint, EST-shaped enrolment and renewal, and the mutual-TLS upload of envelopes.

use std::sync::Arc;
use std::time::Duration;

use ereceipt_core::contract::{ErrorBody, PlatformInfo, TerminalReceipt};
use ereceipt_core::enrolment::est::decode_certs_only;
use ereceipt_core::identity::{fingerprint_der, CertifiedKey};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// Why talking to the platform failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The platform could not be reached or the connection broke (retry later).
    #[error("platform unreachable: {0}")]
    Unreachable(String),
    /// The CA the platform presented is not the one the token pins.
    #[error("the platform's CA has fingerprint {got}, but the enrolment token pins {pinned}: refusing to trust it (wrong platform or an interception)")]
    PinMismatch { got: String, pinned: String },
    /// TLS could not be configured with these certificates.
    #[error("TLS setup: {0}")]
    Tls(String),
    /// The platform answered with an error.
    #[error("platform refused ({status}, {code}): {message}")]
    Refused { status: u16, code: String, message: String },
    /// The platform's answer was not what the protocol says.
    #[error("unexpected answer from the platform: {0}")]
    Protocol(String),
}

impl ClientError {
    /// True when the receipt itself was refused and retrying cannot help (it is parked, so
    /// later receipts go on): the platform's receipt-specific codes, and a 413 (the envelope is
    /// larger than the platform's body limit, answered by the HTTP layer with no code of ours).
    pub fn is_permanent(&self) -> bool {
        const RECEIPT_CODES: [&str; 10] = [
            "conflict",
            "not_authentic",
            "malformed",
            "inconsistent",
            "signer_revoked",
            "wrong_terminal",
            "unbound",
            "signer_unknown",
            "unverifiable",
            "test_feature",
        ];
        matches!(self, Self::Refused { status: 413, .. })
            || matches!(self, Self::Refused { code, .. } if RECEIPT_CODES.contains(&code.as_str()))
    }
}

fn unreachable(e: reqwest::Error) -> ClientError {
    // reqwest hides the cause chain in Display; the TLS alert (e.g. "certificate revoked") is in it.
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    ClientError::Unreachable(msg)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Accepts any server certificate: used only to download the CA certificate, which is then
/// checked against the fingerprint in the enrolment token before anything is trusted.
#[derive(Debug)]
struct AcceptForDiscovery(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptForDiscovery {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn http(config: ClientConfig) -> Result<reqwest::Client, ClientError> {
    reqwest::Client::builder()
        .use_preconfigured_tls(config)
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .pool_idle_timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| ClientError::Tls(e.to_string()))
}

fn tls_config(ca_der: &[u8], identity: Option<&CertifiedKey>) -> Result<ClientConfig, ClientError> {
    let tls = |e: &dyn std::fmt::Display| ClientError::Tls(e.to_string());
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from(ca_der.to_vec())).map_err(|e| tls(&e))?;
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls(&e))?
        .with_root_certificates(roots);
    let mut config = match identity {
        Some(id) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from(id.cert_der.clone())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(id.key_pkcs8.to_vec())),
            )
            .map_err(|e| tls(&e))?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

async fn refused(resp: reqwest::Response) -> ClientError {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    match serde_json::from_str::<ErrorBody>(&text) {
        Ok(b) => ClientError::Refused { status, code: b.error, message: b.message },
        Err(_) => ClientError::Refused { status, code: "http".into(), message: text.chars().take(200).collect() },
    }
}

/// Downloads the platform CA over an unauthenticated TLS connection and accepts it only if its
/// SHA-256 equals `pinned` (from the enrolment token).
pub async fn discover_ca(base: &str, pinned: &str) -> Result<Vec<u8>, ClientError> {
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Tls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptForDiscovery(provider())))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let resp = http(config)?.get(format!("{base}/.well-known/est/cacerts")).send().await.map_err(unreachable)?;
    if !resp.status().is_success() {
        return Err(refused(resp).await);
    }
    let body = resp.text().await.map_err(unreachable)?;
    let der = only_certificate("cacerts", &body)?;
    let got = fingerprint_der(&der);
    if got != pinned {
        return Err(ClientError::PinMismatch { got, pinned: pinned.into() });
    }
    Ok(der)
}

/// The one certificate of an EST certs-only answer (RFC 7030 §4.1.3, §4.2.3).
fn only_certificate(what: &str, body: &str) -> Result<Vec<u8>, ClientError> {
    let mut certs = decode_certs_only(body).map_err(|e| ClientError::Protocol(format!("{what}: {e}")))?;
    match (certs.pop(), certs.is_empty()) {
        (Some(der), true) => Ok(der),
        _ => Err(ClientError::Protocol(format!("{what}: expected one certificate in the answer"))),
    }
}

/// A client that trusts only the platform CA and, once enrolled, presents the terminal's
/// certificate.
#[derive(Clone)]
pub struct PlatformClient {
    base: String,
    http: reqwest::Client,
}

impl PlatformClient {
    pub fn new(base: &str, ca_der: &[u8], identity: Option<&CertifiedKey>) -> Result<Self, ClientError> {
        Ok(Self { base: base.trim_end_matches('/').to_owned(), http: http(tls_config(ca_der, identity)?)? })
    }

    pub async fn platform_info(&self) -> Result<PlatformInfo, ClientError> {
        let resp = self.http.get(format!("{}/api/v1/platform", self.base)).send().await.map_err(unreachable)?;
        if !resp.status().is_success() {
            return Err(refused(resp).await);
        }
        resp.json().await.map_err(|e| ClientError::Protocol(format!("platform info: {e}")))
    }

    async fn enroll_at(&self, path: &str, bearer: Option<&str>, csr_der: &[u8]) -> Result<Vec<u8>, ClientError> {
        use base64::Engine;
        let mut req = self
            .http
            .post(format!("{}/.well-known/est/{path}", self.base))
            .header("content-type", "application/pkcs10")
            .body(base64::engine::general_purpose::STANDARD.encode(csr_der));
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        let resp = req.send().await.map_err(unreachable)?;
        if !resp.status().is_success() {
            return Err(refused(resp).await);
        }
        let body = resp.text().await.map_err(unreachable)?;
        only_certificate(path, &body)
    }

    /// EST `simpleenroll` with the token's secret: returns the new certificate (DER).
    pub async fn simple_enroll(&self, secret: &str, csr_der: &[u8]) -> Result<Vec<u8>, ClientError> {
        self.enroll_at("simpleenroll", Some(secret), csr_der).await
    }

    /// EST `simplereenroll`, authenticated by this client's certificate.
    pub async fn simple_reenroll(&self, csr_der: &[u8]) -> Result<Vec<u8>, ClientError> {
        self.enroll_at("simplereenroll", None, csr_der).await
    }

    /// Uploads one envelope; returns the signed acknowledgement bytes.
    pub async fn upload(&self, envelope: Vec<u8>) -> Result<Vec<u8>, ClientError> {
        let resp = self
            .http
            .post(format!("{}/api/v1/receipts", self.base))
            .header("content-type", "application/cbor")
            .body(envelope)
            .send()
            .await
            .map_err(unreachable)?;
        if !resp.status().is_success() {
            return Err(refused(resp).await);
        }
        Ok(resp.bytes().await.map_err(unreachable)?.to_vec())
    }

    /// Uploads a settlement slip (its PNG, mutual TLS); returns the platform's reconciliation.
    pub async fn upload_settlement(
        &self,
        png: Vec<u8>,
    ) -> Result<ereceipt_core::contract::SettlementStored, ClientError> {
        let resp = self
            .http
            .post(format!("{}/api/v1/terminal/settlements", self.base))
            .header("content-type", "image/png")
            .body(png)
            .send()
            .await
            .map_err(unreachable)?;
        if !resp.status().is_success() {
            return Err(refused(resp).await);
        }
        resp.json().await.map_err(|e| ClientError::Protocol(format!("settlement answer: {e}")))
    }

    /// Where this enrolment's receipts continue (mutual TLS): its batch, the highest serial the
    /// platform holds there, and the head of the terminal's chain on the platform.
    pub async fn resume(&self) -> Result<ereceipt_core::contract::ResumePoint, ClientError> {
        let resp = self
            .http
            .get(format!("{}/api/v1/terminal/resume", self.base))
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .map_err(unreachable)?;
        if !resp.status().is_success() {
            return Err(refused(resp).await);
        }
        resp.json().await.map_err(|e| ClientError::Protocol(format!("resume point: {e}")))
    }

    /// The platform's view of one of this terminal's receipts: whether it is stored, and the
    /// state of each delivery to the customer (mutual TLS; `None` when the platform has no such
    /// receipt from this terminal).
    pub async fn receipt_deliveries(&self, receipt_id: &str) -> Result<Option<TerminalReceipt>, ClientError> {
        let resp = self
            .http
            .get(format!("{}/api/v1/terminal/receipts/{receipt_id}", self.base))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map_err(unreachable)?;
        if resp.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !resp.status().is_success() {
            return Err(refused(resp).await);
        }
        resp.json().await.map(Some).map_err(|e| ClientError::Protocol(format!("receipt deliveries: {e}")))
    }

    /// Resends one of this terminal's stored receipts to a new address (mutual TLS): one more
    /// delivery of the same receipt. `deliver` is a delivery choice (`sms:+86…`, `email:…`).
    pub async fn resend(
        &self,
        receipt_id: &str,
        deliver: &str,
    ) -> Result<ereceipt_core::contract::Resent, ClientError> {
        let resp = self
            .http
            .post(format!("{}/api/v1/terminal/receipts/{receipt_id}/deliveries", self.base))
            .json(&ereceipt_core::contract::Resend { deliver: deliver.to_owned() })
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .map_err(unreachable)?;
        if !resp.status().is_success() {
            return Err(refused(resp).await);
        }
        resp.json().await.map_err(|e| ClientError::Protocol(format!("resend: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::ClientError;

    fn refused(status: u16, code: &str) -> ClientError {
        ClientError::Refused { status, code: code.into(), message: String::new() }
    }

    #[test]
    fn receipt_specific_refusals_are_parked_and_the_rest_retried() {
        assert!(refused(413, "http").is_permanent(), "too large for the body limit: never fits");
        assert!(refused(422, "unverifiable").is_permanent(), "the verifier failed on this receipt");
        assert!(refused(409, "conflict").is_permanent());
        assert!(!refused(503, "unavailable").is_permanent(), "the platform's own trouble passes");
        assert!(!refused(401, "no_client_certificate").is_permanent());
        assert!(!ClientError::Unreachable("down".into()).is_permanent());
    }
}
