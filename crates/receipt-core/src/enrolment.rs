//! Online enrolment crypto (issuing the POS business certificate that T4 and T5 use): terminal key
//! pairs and certificate signing requests, CSR signing by the platform CA, the platform's TLS
//! server certificate, and the CRL.
//! The terminal's private key is generated on the terminal and never leaves it.

use chrono::{DateTime, Utc};
use rcgen::{
    CertificateRevocationListParams, CertificateSigningRequestParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, RevocationReason, RevokedCertParams,
    SanType, SerialNumber, PKCS_ECDSA_P256_SHA256, PKCS_ED25519,
};
use zeroize::Zeroizing;

use crate::identity::{offset_time, pos_certificate_params, random_serial, CertError, CertifiedKey, TerminalMode};
use crate::model::TerminalInfo;

pub mod est;

fn generate(e: impl std::fmt::Display) -> CertError {
    CertError::Generate(e.to_string())
}

/// A fresh Ed25519 key pair for a terminal, as PKCS#8 DER.
pub fn generate_key() -> Result<Zeroizing<Vec<u8>>, CertError> {
    let key = KeyPair::generate_for(&PKCS_ED25519).map_err(generate)?;
    Ok(Zeroizing::new(key.serialize_der()))
}

/// A PKCS#10 request (DER) proving possession of `key_pkcs8`. The platform ignores the subject
/// (it fills in the registered terminal's identity) but the signature proves the key.
pub fn create_csr(key_pkcs8: &[u8], label: &str) -> Result<Vec<u8>, CertError> {
    let key = KeyPair::from_pkcs8_der_and_sign_algo(&key_pkcs8.into(), &PKCS_ED25519)
        .map_err(|e| CertError::Key(e.to_string()))?;
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, label);
    let csr = params.serialize_request(&key).map_err(generate)?;
    Ok(csr.der().to_vec())
}

/// Signs a terminal's CSR with the CA: the certificate says who `info` is and in which `mode` it
/// was registered (never what the CSR claims) and carries the CSR's public key, which must be
/// Ed25519.
pub fn sign_csr(
    ca: &CertifiedKey,
    csr_der: &[u8],
    info: &TerminalInfo,
    mode: TerminalMode,
    now: DateTime<Utc>,
    validity_days: u32,
) -> Result<Vec<u8>, CertError> {
    let csr = check_csr(csr_der)?;
    let params = pos_certificate_params(info, mode, now, validity_days)?;
    let issuer = Issuer::from_ca_cert_der(&ca.cert_der.as_slice().into(), ca.rcgen_key()?).map_err(generate)?;
    let cert = params.signed_by(&csr.public_key, &issuer).map_err(generate)?;
    Ok(cert.der().to_vec())
}

/// Parses a CSR and checks its self-signature (proof of possession) and that its key is Ed25519.
pub fn check_csr(csr_der: &[u8]) -> Result<CertificateSigningRequestParams, CertError> {
    let csr = CertificateSigningRequestParams::from_der(&csr_der.into())
        .map_err(|e| CertError::Parse(format!("certificate signing request: {e}")))?;
    if csr.public_key.algorithm() != &PKCS_ED25519 {
        return Err(CertError::Key("the CSR's key is not Ed25519".into()));
    }
    Ok(csr)
}

/// The platform's TLS server certificate for `names` (DNS names or IP addresses), issued by the CA.
/// Its key is ECDSA P-256, not Ed25519 like the rest of the PKI: browsers (the portal's users)
/// do not sign TLS handshakes with Ed25519.
pub fn issue_server(
    ca: &CertifiedKey,
    names: &[String],
    now: DateTime<Utc>,
    validity_days: u32,
) -> Result<CertifiedKey, CertError> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(generate)?;
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, names.first().map_or("ereceipt platform", String::as_str));
    params.distinguished_name.push(DnType::OrganizationName, "ereceipt platform");
    params.subject_alt_names = names
        .iter()
        .map(|n| match n.parse::<std::net::IpAddr>() {
            Ok(ip) => Ok(SanType::IpAddress(ip)),
            Err(_) if is_dns_name(n) => n.clone().try_into().map(SanType::DnsName).map_err(generate),
            Err(_) => Err(CertError::Generate(format!("{n:?} is neither a DNS name nor an IP address"))),
        })
        .collect::<Result<_, _>>()?;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.not_before = offset_time(now - chrono::Duration::minutes(5))?;
    params.not_after = offset_time(now + chrono::Duration::days(i64::from(validity_days)))?;
    params.serial_number = Some(random_serial()?);
    let issuer = Issuer::from_ca_cert_der(&ca.cert_der.as_slice().into(), ca.rcgen_key()?).map_err(generate)?;
    let cert = params.signed_by(&key, &issuer).map_err(generate)?;
    Ok(CertifiedKey { cert_der: cert.der().to_vec(), key_pkcs8: Zeroizing::new(key.serialize_der()) })
}

fn is_dns_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 253
        && n.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
        })
}

/// One revoked certificate for the CRL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revoked {
    /// Serial number, hex (as [`crate::identity::PosCertificate::serial`]).
    pub serial_hex: String,
    pub revoked_at: DateTime<Utc>,
}

/// A CRL (DER) signed by the CA, valid from `now` for `validity_hours`.
pub fn crl(
    ca: &CertifiedKey,
    revoked: &[Revoked],
    crl_number: u64,
    now: DateTime<Utc>,
    validity_hours: u32,
) -> Result<Vec<u8>, CertError> {
    let revoked_certs = revoked
        .iter()
        .map(|r| {
            Ok(RevokedCertParams {
                serial_number: SerialNumber::from_slice(&unhex(&r.serial_hex)?),
                revocation_time: offset_time(r.revoked_at)?,
                reason_code: Some(RevocationReason::CessationOfOperation),
                invalidity_date: None,
            })
        })
        .collect::<Result<Vec<_>, CertError>>()?;
    let params = CertificateRevocationListParams {
        this_update: offset_time(now)?,
        next_update: offset_time(now + chrono::Duration::hours(i64::from(validity_hours.max(1))))?,
        crl_number: SerialNumber::from(crl_number),
        issuing_distribution_point: None,
        revoked_certs,
        key_identifier_method: KeyIdMethod::Sha256,
    };
    let issuer = Issuer::from_ca_cert_der(&ca.cert_der.as_slice().into(), ca.rcgen_key()?).map_err(generate)?;
    Ok(params.signed_by(&issuer).map_err(generate)?.der().to_vec())
}

/// An enrolment token as handed to the terminal's installer: a single-use secret and the SHA-256
/// of the platform CA, so the terminal can pin the CA on first contact (as `kubeadm join`).
#[derive(Clone, PartialEq, Eq)]
pub struct EnrolmentToken {
    /// 32 random bytes, hex.
    pub secret: String,
    /// SHA-256 of the CA certificate, hex.
    pub ca_fingerprint: String,
}

impl std::fmt::Debug for EnrolmentToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EnrolmentToken {{ secret: <redacted>, ca_fingerprint: {} }}", self.ca_fingerprint)
    }
}

const TOKEN_PREFIX: &str = "ert1";

impl std::fmt::Display for EnrolmentToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{TOKEN_PREFIX}.{}.{}", self.secret, self.ca_fingerprint)
    }
}

impl std::str::FromStr for EnrolmentToken {
    type Err = CertError;
    fn from_str(s: &str) -> Result<Self, CertError> {
        let bad = |why: &str| CertError::Parse(format!("enrolment token: {why}"));
        let mut parts = s.trim().split('.');
        if parts.next() != Some(TOKEN_PREFIX) {
            return Err(bad("does not start with ert1."));
        }
        let (Some(secret), Some(fp), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("expected ert1.SECRET.CA-FINGERPRINT"));
        };
        let is_hex64 = |x: &str| x.len() == 64 && x.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !is_hex64(secret) {
            return Err(bad("the secret is not 64 lowercase hex digits"));
        }
        if !is_hex64(fp) {
            return Err(bad("the CA fingerprint is not 64 lowercase hex digits"));
        }
        Ok(Self { secret: secret.to_owned(), ca_fingerprint: fp.to_owned() })
    }
}

fn unhex(s: &str) -> Result<Vec<u8>, CertError> {
    if !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(CertError::Parse(format!("serial {s:?} is not hex")));
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(generate)).collect()
}

#[cfg(test)]
mod tests;
