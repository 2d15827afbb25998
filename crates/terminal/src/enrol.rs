//! Online enrolment from the terminal's side: pin the platform CA by the token's fingerprint,
//! make a key pair locally (the private key never leaves the device), send a CSR, check and save
//! what comes back; and renewal with the current certificate before it expires.

use chrono::{DateTime, Utc};
use ereceipt_core::enrolment::{create_csr, generate_key, EnrolmentToken};
use ereceipt_core::identity::{CertError, PosCertificate};

use crate::client::{discover_ca, ClientError, PlatformClient};
use crate::device::{Device, DeviceError, PlatformLink};

/// Why enrolment or renewal failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnrolError {
    /// The token is malformed.
    #[error("{0}")]
    Token(CertError),
    /// The directory already holds an enrolled terminal.
    #[error("{0} already holds an enrolled terminal; use another --data-dir")]
    AlreadyEnrolled(String),
    /// Talking to the platform failed.
    #[error("{0}")]
    Client(ClientError),
    /// The certificate or keys are not right.
    #[error("{0}")]
    Certificate(String),
    /// The data directory.
    #[error("{0}")]
    Device(DeviceError),
}

impl From<ClientError> for EnrolError {
    fn from(e: ClientError) -> Self {
        Self::Client(e)
    }
}
impl From<DeviceError> for EnrolError {
    fn from(e: DeviceError) -> Self {
        Self::Device(e)
    }
}
fn cert_err(e: CertError) -> EnrolError {
    EnrolError::Certificate(e.to_string())
}

/// Enrols a new terminal in `device` with the platform at `url`.
pub async fn enrol(device: &Device, url: &str, token: &str, now: DateTime<Utc>) -> Result<PosCertificate, EnrolError> {
    let token: EnrolmentToken = token.parse().map_err(EnrolError::Token)?;
    if device.is_enrolled() {
        return Err(EnrolError::AlreadyEnrolled(device.dir.display().to_string()));
    }
    let url = url.trim_end_matches('/');
    let ca_der = discover_ca(url, &token.ca_fingerprint).await?;
    let key = generate_key().map_err(cert_err)?;
    let csr = create_csr(&key, "ereceipt terminal").map_err(cert_err)?;
    let client = PlatformClient::new(url, &ca_der, None)?;
    let cert_der = client.simple_enroll(&token.secret, &csr).await?;
    let cert = check_issued(&cert_der, &key, &ca_der, now)?;
    let info = client.platform_info().await?;
    if info.ca_fingerprint != token.ca_fingerprint {
        return Err(ClientError::PinMismatch { got: info.ca_fingerprint, pinned: token.ca_fingerprint }.into());
    }
    device.save_enrolment(&key, &cert_der, &ca_der, &PlatformLink { url: url.to_owned(), info })?;
    // Before the first sale: where this enrolment's receipts continue (a new batch, the
    // platform's chain head). Enrolment itself has succeeded either way; without the point the
    // first sale fetches it (Uploader::ensure_resume) instead of reusing receipt ids.
    match crate::sync::Uploader::open(device).await {
        Ok(uploader) => uploader.outbox.close().await,
        Err(e) => tracing::warn!(error = %e, "enrolled, but the resume point is not stored yet"),
    }
    Ok(cert)
}

/// The certificate must be the CA's, valid now, and for our key.
fn check_issued(
    cert_der: &[u8],
    key_pkcs8: &[u8],
    ca_der: &[u8],
    now: DateTime<Utc>,
) -> Result<PosCertificate, EnrolError> {
    let cert = PosCertificate::parse(cert_der).map_err(cert_err)?;
    cert.verify_issued_by(ca_der, now.timestamp()).map_err(cert_err)?;
    let signer = ereceipt_core::identity::Signer::new(&ereceipt_core::identity::CertifiedKey {
        cert_der: cert_der.to_vec(),
        key_pkcs8: zeroize::Zeroizing::new(key_pkcs8.to_vec()),
    })
    .map_err(cert_err)?;
    let probe = signer.sign(b"ereceipt enrolment key check");
    cert.verify(b"ereceipt enrolment key check", &probe)
        .map_err(|_| EnrolError::Certificate("the issued certificate is not for this terminal's key".into()))?;
    Ok(cert)
}

/// True when the certificate has less than a third of its lifetime (or 30 days) left.
pub fn renewal_due(cert: &PosCertificate, now: DateTime<Utc>) -> bool {
    let life = cert.not_after - cert.not_before;
    let left = cert.not_after - now.timestamp();
    left < (life / 3).min(30 * 86_400)
}

/// Renews the terminal's certificate with a fresh key, authenticated by the current one.
pub async fn renew(device: &Device, now: DateTime<Utc>) -> Result<PosCertificate, EnrolError> {
    let link = device.platform()?;
    let ca_der = device.ca_der()?;
    let current = device.identity()?;
    let client = PlatformClient::new(&link.url, &ca_der, Some(&current))?;
    let key = generate_key().map_err(cert_err)?;
    let csr = create_csr(&key, "ereceipt terminal").map_err(cert_err)?;
    let cert_der = client.simple_reenroll(&csr).await?;
    let cert = check_issued(&cert_der, &key, &ca_der, now)?;
    device.save_renewal(&key, &cert_der)?;
    Ok(cert)
}
