//! Certificates: the platform's root CA and the terminal's "POS business certificate" (an X.509
//! certificate binding an Ed25519 key to terminal id, merchant id, merchant name and location),
//! plus the terminal's signer. Used offline by `ereceipt ca` and online by enrolment.

use chrono::{DateTime, Utc};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SerialNumber, PKCS_ED25519,
};
use ring::signature::{Ed25519KeyPair, KeyPair as _, UnparsedPublicKey, ED25519};
use x509_parser::prelude::{FromDer, X509Certificate};
use zeroize::Zeroizing;

use crate::model::{Location, TerminalInfo};

mod checked;
mod mode;
pub use mode::TerminalMode;

/// OID of the X.520 organizationIdentifier attribute, which carries the merchant id.
const OID_ORGANIZATION_IDENTIFIER: &[u64] = &[2, 5, 4, 97];
/// Ed25519 public keys in SubjectPublicKeyInfo have this OID.
const OID_ED25519: &str = "1.3.101.112";

/// Why a certificate or key cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CertError {
    /// The bytes are not a DER X.509 certificate.
    #[error("not a readable X.509 certificate: {0}")]
    Parse(String),
    /// The PEM text holds no block of the expected kind.
    #[error("no PEM block labelled {0} found")]
    Pem(&'static str),
    /// The certificate lacks a POS business attribute or it is malformed.
    #[error("not a POS business certificate: {0}")]
    NotPos(String),
    /// The key is not an Ed25519 key or does not match the certificate.
    #[error("key problem: {0}")]
    Key(String),
    /// The certificate was not issued by the trusted CA.
    #[error("certificate {subject} was not issued by the trusted CA ({reason})")]
    UntrustedIssuer { subject: String, reason: String },
    /// The certificate was not valid at the time in question.
    #[error("certificate {subject} is not valid at {at} (valid {not_before} to {not_after})")]
    Expired { subject: String, at: String, not_before: String, not_after: String },
    /// A signature made with the certificate's key does not verify.
    #[error("signature does not verify with the key of {0}")]
    BadSignature(String),
    /// Certificate generation failed.
    #[error("cannot create certificate: {0}")]
    Generate(String),
}

/// A certificate and its private key (PKCS#8 DER, wiped from memory on drop).
pub struct CertifiedKey {
    pub cert_der: Vec<u8>,
    pub key_pkcs8: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for CertifiedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertifiedKey").field("cert_der", &self.cert_der.len()).finish_non_exhaustive()
    }
}

impl CertifiedKey {
    pub fn cert_pem(&self) -> String {
        pem_encode("CERTIFICATE", &self.cert_der)
    }
    pub fn key_pem(&self) -> Zeroizing<String> {
        Zeroizing::new(pem_encode("PRIVATE KEY", &self.key_pkcs8))
    }
    /// Loads a certificate PEM and a PKCS#8 private key PEM.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, CertError> {
        Ok(Self {
            cert_der: pem_decode(cert_pem, "CERTIFICATE")?,
            key_pkcs8: Zeroizing::new(pem_decode(key_pem, "PRIVATE KEY")?),
        })
    }
    pub(crate) fn rcgen_key(&self) -> Result<KeyPair, CertError> {
        KeyPair::from_pkcs8_der_and_sign_algo(&self.key_pkcs8.as_slice().into(), &PKCS_ED25519)
            .map_err(|e| CertError::Key(e.to_string()))
    }
}

pub fn pem_encode(label: &str, der: &[u8]) -> String {
    pem::encode_config(
        &pem::Pem::new(label, der.to_vec()),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

/// The first PEM block labelled `label` in `text`.
pub fn pem_decode(text: &str, label: &'static str) -> Result<Vec<u8>, CertError> {
    pem::parse_many(text)
        .map_err(|_| CertError::Pem(label))?
        .into_iter()
        .find(|p| p.tag() == label)
        .map(|p| p.into_contents())
        .ok_or(CertError::Pem(label))
}

pub(crate) fn offset_time(t: DateTime<Utc>) -> Result<time::OffsetDateTime, CertError> {
    time::OffsetDateTime::from_unix_timestamp(t.timestamp()).map_err(|e| CertError::Generate(e.to_string()))
}

pub(crate) fn random_serial() -> Result<SerialNumber, CertError> {
    let mut bytes = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| CertError::Generate("no randomness".into()))?;
    bytes[0] &= 0x7f; // positive INTEGER
    bytes[0] |= 0x10; // and always 16 bytes long
    Ok(SerialNumber::from_slice(&bytes))
}

/// Creates the platform's root CA: a fresh Ed25519 key and a self-signed certificate valid for
/// 20 years from `now`.
pub fn create_ca(common_name: &str, now: DateTime<Utc>) -> Result<CertifiedKey, CertError> {
    let key = KeyPair::generate_for(&PKCS_ED25519).map_err(|e| CertError::Generate(e.to_string()))?;
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, common_name);
    params.distinguished_name.push(DnType::OrganizationName, "ereceipt platform");
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    params.not_before = offset_time(now - chrono::Duration::minutes(5))?;
    params.not_after = offset_time(now + chrono::Duration::days(365 * 20))?;
    params.serial_number = Some(random_serial()?);
    let cert = params.self_signed(&key).map_err(|e| CertError::Generate(e.to_string()))?;
    Ok(CertifiedKey { cert_der: cert.der().to_vec(), key_pkcs8: Zeroizing::new(key.serialize_der()) })
}

/// The subject and extensions of a POS business certificate for `info`, registered in `mode`.
pub fn pos_certificate_params(
    info: &TerminalInfo,
    mode: TerminalMode,
    now: DateTime<Utc>,
    validity_days: u32,
) -> Result<CertificateParams, CertError> {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, info.terminal_id.as_str());
    dn.push(DnType::OrganizationName, info.merchant_name.as_str());
    dn.push(DnType::CustomDnType(OID_ORGANIZATION_IDENTIFIER.to_vec()), info.merchant_id.as_str());
    dn.push(DnType::LocalityName, info.location.to_string());
    params.distinguished_name = dn;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.not_before = offset_time(now - chrono::Duration::minutes(5))?;
    params.not_after = offset_time(now + chrono::Duration::days(i64::from(validity_days)))?;
    params.serial_number = Some(random_serial()?);
    params.custom_extensions.extend(mode::mode_extension(mode));
    Ok(params)
}

/// Issues a production terminal's identity: a fresh key pair and a POS business certificate
/// signed by the CA. (Online enrolment signs a CSR instead, so the private key never leaves the
/// terminal.)
pub fn issue_terminal(
    ca: &CertifiedKey,
    info: &TerminalInfo,
    now: DateTime<Utc>,
    validity_days: u32,
) -> Result<CertifiedKey, CertError> {
    issue_terminal_in(ca, info, TerminalMode::Production, now, validity_days)
}

/// [`issue_terminal`] for a terminal of `mode`, which its certificate then states.
pub fn issue_terminal_in(
    ca: &CertifiedKey,
    info: &TerminalInfo,
    mode: TerminalMode,
    now: DateTime<Utc>,
    validity_days: u32,
) -> Result<CertifiedKey, CertError> {
    let key = KeyPair::generate_for(&PKCS_ED25519).map_err(|e| CertError::Generate(e.to_string()))?;
    let params = pos_certificate_params(info, mode, now, validity_days)?;
    let issuer = Issuer::from_ca_cert_der(&ca.cert_der.as_slice().into(), ca.rcgen_key()?)
        .map_err(|e| CertError::Generate(e.to_string()))?;
    let cert = params.signed_by(&key, &issuer).map_err(|e| CertError::Generate(e.to_string()))?;
    Ok(CertifiedKey { cert_der: cert.der().to_vec(), key_pkcs8: Zeroizing::new(key.serialize_der()) })
}

/// A parsed POS business certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PosCertificate {
    pub der: Vec<u8>,
    pub terminal: TerminalInfo,
    /// Production or test, as the CA wrote it (from the platform's registration).
    pub mode: TerminalMode,
    pub public_key: [u8; 32],
    /// Serial number, hex.
    pub serial: String,
    pub subject: String,
    pub issuer: String,
    /// Validity, Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
}

fn parse_x509(der: &[u8]) -> Result<X509Certificate<'_>, CertError> {
    let (rest, cert) = X509Certificate::from_der(der).map_err(|e| CertError::Parse(e.to_string()))?;
    if !rest.is_empty() {
        return Err(CertError::Parse("trailing bytes after the certificate".into()));
    }
    Ok(cert)
}

impl PosCertificate {
    pub fn parse(der: &[u8]) -> Result<Self, CertError> {
        let cert = parse_x509(der)?;
        let subject = cert.subject();
        let attr = |oid: &str, name: &str| -> Result<String, CertError> {
            subject
                .iter_attributes()
                .find(|a| a.attr_type().to_id_string() == oid)
                .and_then(|a| a.as_str().ok())
                .map(str::to_owned)
                .ok_or_else(|| CertError::NotPos(format!("subject has no {name}")))
        };
        let bad = |e: crate::model::ModelError| CertError::NotPos(e.to_string());
        let terminal = TerminalInfo {
            terminal_id: attr("2.5.4.3", "common name (terminal id)")?.parse().map_err(bad)?,
            merchant_name: attr("2.5.4.10", "organization (merchant name)")?.parse().map_err(bad)?,
            merchant_id: attr("2.5.4.97", "organizationIdentifier (merchant id)")?.parse().map_err(bad)?,
            location: attr("2.5.4.7", "locality (location)")?.parse::<Location>().map_err(bad)?,
        };
        let spki = cert.public_key();
        if spki.algorithm.algorithm.to_id_string() != OID_ED25519 {
            return Err(CertError::Key("the certificate key is not Ed25519".into()));
        }
        let public_key: [u8; 32] = spki
            .subject_public_key
            .data
            .as_ref()
            .try_into()
            .map_err(|_| CertError::Key("Ed25519 key is not 32 bytes".into()))?;
        let mode = mode::mode_of(&cert)?;
        Ok(Self {
            der: der.to_vec(),
            terminal,
            mode,
            public_key,
            serial: hex(cert.raw_serial()),
            subject: subject.to_string(),
            issuer: cert.issuer().to_string(),
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
        })
    }

    /// Checks that the CA in `ca_der` signed this certificate and that it was valid at `at`
    /// (Unix seconds). Revocation is checked by the platform, which holds the CRL.
    pub fn verify_issued_by(&self, ca_der: &[u8], at: i64) -> Result<(), CertError> {
        self.verify_chain(ca_der)?;
        self.valid_at(at)
    }

    /// Checks that the CA in `ca_der` signed this certificate, whatever the time: verifiers
    /// judge expiry separately, at the time they trust (the platform's, or the signer's claim).
    /// A pair checked before in this process is not checked again ([`checked`]).
    pub fn verify_chain(&self, ca_der: &[u8]) -> Result<(), CertError> {
        let key = checked::key(ca_der, &self.der);
        if checked::known(&key) {
            return Ok(());
        }
        self.check_chain(ca_der)?;
        checked::remember(key);
        Ok(())
    }

    fn check_chain(&self, ca_der: &[u8]) -> Result<(), CertError> {
        let ca = parse_x509(ca_der)?;
        let cert = parse_x509(&self.der)?;
        let untrusted =
            |reason: &str| CertError::UntrustedIssuer { subject: self.subject.clone(), reason: reason.into() };
        if cert.issuer() != ca.subject() {
            return Err(untrusted("issuer name differs from the CA's name"));
        }
        if !ca.is_ca() {
            return Err(untrusted("the trust anchor is not a CA certificate"));
        }
        cert.verify_signature(Some(ca.public_key())).map_err(|_| untrusted("the CA's signature does not verify"))?;
        Ok(())
    }

    /// Checks that the certificate was valid at `at` (Unix seconds).
    pub fn valid_at(&self, at: i64) -> Result<(), CertError> {
        if at < self.not_before || at > self.not_after {
            let fmt = |t: i64| DateTime::from_timestamp(t, 0).map(|d| d.to_rfc3339()).unwrap_or_default();
            return Err(CertError::Expired {
                subject: self.subject.clone(),
                at: fmt(at),
                not_before: fmt(self.not_before),
                not_after: fmt(self.not_after),
            });
        }
        Ok(())
    }

    /// Verifies an Ed25519 signature made with this certificate's key.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), CertError> {
        UnparsedPublicKey::new(&ED25519, &self.public_key)
            .verify(message, signature)
            .map_err(|_| CertError::BadSignature(self.subject.clone()))
    }

    /// SHA-256 of the DER, hex: how operators and enrolment tokens name a certificate.
    pub fn fingerprint(&self) -> String {
        hex(&crate::digest::sha256(&self.der))
    }
}

/// Hex of a CA certificate's SHA-256 (for pinning).
pub fn fingerprint_der(der: &[u8]) -> String {
    hex(&crate::digest::sha256(der))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The terminal's signing key together with its certificate.
pub struct Signer {
    key: Ed25519KeyPair,
    cert: PosCertificate,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").field("subject", &self.cert.subject).finish_non_exhaustive()
    }
}

impl Signer {
    /// Pairs a PKCS#8 Ed25519 key with its POS certificate; refuses a key that does not match.
    pub fn new(identity: &CertifiedKey) -> Result<Self, CertError> {
        let cert = PosCertificate::parse(&identity.cert_der)?;
        let key = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&identity.key_pkcs8)
            .map_err(|e| CertError::Key(format!("not an Ed25519 PKCS#8 key ({e})")))?;
        if key.public_key().as_ref() != cert.public_key {
            return Err(CertError::Key("the private key does not belong to the certificate".into()));
        }
        Ok(Self { key, cert })
    }

    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        let mut out = [0u8; 64];
        out.copy_from_slice(self.key.sign(message).as_ref());
        out
    }

    pub fn certificate(&self) -> &PosCertificate {
        &self.cert
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> TerminalInfo {
        TerminalInfo {
            terminal_id: "POS00001".parse().unwrap(),
            merchant_id: "898440358120001".parse().unwrap(),
            merchant_name: "深圳湾咖啡".parse().unwrap(),
            location: "深圳市南山区科技园; geo:22.543100,113.936500".parse().unwrap(),
        }
    }

    #[test]
    fn issued_certificate_carries_the_terminal_and_chains_to_the_ca() {
        let now = Utc::now();
        let ca = create_ca("Test Root", now).unwrap();
        let t = issue_terminal(&ca, &info(), now, 730).unwrap();
        let cert = PosCertificate::parse(&t.cert_der).unwrap();
        assert_eq!(cert.terminal, info());
        cert.verify_issued_by(&ca.cert_der, now.timestamp()).unwrap();
        let signer = Signer::new(&t).unwrap();
        let sig = signer.sign(b"hello");
        cert.verify(b"hello", &sig).unwrap();
        assert!(cert.verify(b"hellO", &sig).is_err());
    }

    #[test]
    fn another_ca_expiry_and_wrong_key_are_refused() {
        let now = Utc::now();
        let ca = create_ca("Test Root", now).unwrap();
        let other = create_ca("Test Root", now).unwrap();
        let t = issue_terminal(&ca, &info(), now, 1).unwrap();
        let cert = PosCertificate::parse(&t.cert_der).unwrap();
        let e = cert.verify_issued_by(&other.cert_der, now.timestamp()).unwrap_err();
        assert!(matches!(e, CertError::UntrustedIssuer { .. }), "{e}");
        let later = now.timestamp() + 3 * 86_400;
        assert!(matches!(cert.verify_issued_by(&ca.cert_der, later), Err(CertError::Expired { .. })));
        let t2 = issue_terminal(&ca, &info(), now, 1).unwrap();
        let mixed = CertifiedKey { cert_der: t.cert_der.clone(), key_pkcs8: t2.key_pkcs8.clone() };
        assert!(matches!(Signer::new(&mixed), Err(CertError::Key(_))));
    }

    /// A chain once checked is remembered by both certificates' bytes: the same certificate
    /// under another CA, and a copy whose CA signature was altered, are still refused after it.
    #[test]
    fn a_remembered_chain_covers_exactly_those_bytes() {
        let now = Utc::now();
        let ca = create_ca("Test Root", now).unwrap();
        let other = create_ca("Test Root", now).unwrap();
        let t = issue_terminal(&ca, &info(), now, 30).unwrap();
        let cert = PosCertificate::parse(&t.cert_der).unwrap();
        cert.verify_chain(&ca.cert_der).unwrap();
        cert.verify_chain(&ca.cert_der).unwrap();
        assert!(checked::known(&checked::key(&ca.cert_der, &t.cert_der)));
        let e = cert.verify_chain(&other.cert_der).unwrap_err();
        assert!(matches!(e, CertError::UntrustedIssuer { .. }), "{e}");
        // The last octets of the DER are the CA's signature.
        let mut forged = t.cert_der.clone();
        let last = forged.len() - 1;
        forged[last] ^= 1;
        let forged = PosCertificate::parse(&forged).unwrap();
        let e = forged.verify_chain(&ca.cert_der).unwrap_err();
        assert!(matches!(e, CertError::UntrustedIssuer { .. }), "{e}");
        assert!(!checked::known(&checked::key(&ca.cert_der, &forged.der)));
    }

    #[test]
    fn pem_round_trip_and_garbage() {
        let ca = create_ca("Test Root", Utc::now()).unwrap();
        let back = CertifiedKey::from_pem(&ca.cert_pem(), &ca.key_pem()).unwrap();
        assert_eq!(back.cert_der, ca.cert_der);
        assert!(matches!(pem_decode("nonsense", "CERTIFICATE"), Err(CertError::Pem(_))));
        assert!(PosCertificate::parse(b"\x30\x03\x02\x01\x01").is_err());
        // A CA certificate is not a POS certificate.
        assert!(matches!(PosCertificate::parse(&ca.cert_der), Err(CertError::NotPos(_))));
    }
}
