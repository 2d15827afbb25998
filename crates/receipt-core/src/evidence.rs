//! The platform's evidence that it stored a receipt: its signed acknowledgement (receipt id,
//! record hash, the platform's own time) with the certificate its CA issued for the
//! acknowledgement key, so the CA certificate alone suffices to check it offline.
//!
//! The file is text, version 1:
//!
//! ```text
//! ereceipt-evidence: 1
//! receipt: POS00001-000001-000123            (informative; the signed block decides)
//! record-sha256: 6f1e…
//! stored-at: 2026-12-01T10:15:02.113Z
//! -----BEGIN ERECEIPT ACKNOWLEDGEMENT-----   the acknowledgement as the terminal got it
//! …                                            (CBOR {1: body, 2: Ed25519 signature})
//! -----END ERECEIPT ACKNOWLEDGEMENT-----
//! -----BEGIN CERTIFICATE-----                the "evidence" certificate: issued by the CA,
//! …                                            Ed25519 key, extended key usage timeStamping
//! -----END CERTIFICATE-----
//! ```

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyUsagePurpose,
    PublicKeyData, SignatureAlgorithm, PKCS_ED25519,
};
use x509_parser::prelude::X509Certificate;

use crate::identity::{hex, pem_encode, random_serial, CertError, CertifiedKey};
use crate::upload::{verify_ack, Acknowledgement};

/// The first line of every evidence file; the number is the format version.
pub const EVIDENCE_HEADER: &str = "ereceipt-evidence: 1";
/// PEM label of the signed acknowledgement.
pub const ACK_LABEL: &str = "ERECEIPT ACKNOWLEDGEMENT";
/// Evidence files larger than this are refused (a real one is about 1.5 KB).
pub const MAX_EVIDENCE_BYTES: usize = 16 * 1024;
/// The common name of the evidence certificate.
const EVIDENCE_CN: &str = "ereceipt platform acknowledgement key";
const OID_ED25519: &str = "1.3.101.112";

/// Why evidence cannot be made or trusted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum EvidenceError {
    /// Not an evidence file of a version this build reads, or its blocks are damaged.
    #[error("not an ereceipt evidence file: {0}")]
    Format(String),
    /// The evidence certificate is not one the trusted CA issued for acknowledgements.
    #[error("the evidence certificate is not trusted: {0}")]
    Certificate(String),
    /// The acknowledgement does not verify with the certificate's key.
    #[error("the acknowledgement does not verify: {0}")]
    Acknowledgement(String),
}

/// An Ed25519 public key as rcgen wants it for the subject of a certificate.
struct Ed25519Public([u8; 32]);

impl PublicKeyData for Ed25519Public {
    fn der_bytes(&self) -> &[u8] {
        &self.0
    }
    fn algorithm(&self) -> &'static SignatureAlgorithm {
        &PKCS_ED25519
    }
}

fn parse(der: &[u8]) -> Result<X509Certificate<'_>, String> {
    match x509_parser::parse_x509_certificate(der) {
        Ok(([], c)) => Ok(c),
        Ok(_) => Err("trailing bytes after the certificate".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// Issues the evidence certificate for the platform's acknowledgement key. It is valid as long
/// as the CA is, from the CA's own start: acknowledgements signed before the certificate was
/// made (by an earlier version of the platform) are covered too, since the key is the same.
pub fn issue_certificate(ca: &CertifiedKey, ack_public_key: [u8; 32]) -> Result<Vec<u8>, CertError> {
    let gen = |e: rcgen::Error| CertError::Generate(e.to_string());
    let ca_cert = parse(&ca.cert_der).map_err(CertError::Parse)?;
    let at = |t: i64| time::OffsetDateTime::from_unix_timestamp(t).map_err(|e| CertError::Generate(e.to_string()));
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, EVIDENCE_CN);
    params.distinguished_name.push(DnType::OrganizationName, "ereceipt platform");
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::TimeStamping];
    params.not_before = at(ca_cert.validity().not_before.timestamp())?;
    params.not_after = at(ca_cert.validity().not_after.timestamp())?;
    params.serial_number = Some(random_serial()?);
    let issuer = Issuer::from_ca_cert_der(&ca.cert_der.as_slice().into(), ca.rcgen_key()?).map_err(gen)?;
    let cert = params.signed_by(&Ed25519Public(ack_public_key), &issuer).map_err(gen)?;
    Ok(cert.der().to_vec())
}

/// Checks that `ca_der` issued `cert_der` as an evidence certificate; returns its Ed25519 key
/// and validity (Unix seconds).
pub fn check_certificate(cert_der: &[u8], ca_der: &[u8]) -> Result<([u8; 32], i64, i64), EvidenceError> {
    let bad = |s: &str| EvidenceError::Certificate(s.to_owned());
    let cert = parse(cert_der).map_err(EvidenceError::Certificate)?;
    let ca = parse(ca_der).map_err(|e| EvidenceError::Certificate(format!("the trust anchor: {e}")))?;
    if cert.issuer() != ca.subject() || !ca.is_ca() {
        return Err(bad("not issued by the trusted CA"));
    }
    cert.verify_signature(Some(ca.public_key())).map_err(|_| bad("the CA's signature does not verify"))?;
    let stamping = cert.extended_key_usage().ok().flatten().is_some_and(|e| e.value.time_stamping);
    if !stamping {
        return Err(bad("it is not for time-stamping (extended key usage)"));
    }
    let spki = cert.public_key();
    if spki.algorithm.algorithm.to_id_string() != OID_ED25519 {
        return Err(bad("its key is not Ed25519"));
    }
    let key: [u8; 32] =
        spki.subject_public_key.data.as_ref().try_into().map_err(|_| bad("its Ed25519 key is not 32 bytes"))?;
    Ok((key, cert.validity().not_before.timestamp(), cert.validity().not_after.timestamp()))
}

/// An evidence file: the signed acknowledgement and the evidence certificate (DER).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvidenceFile {
    pub signed_ack: Vec<u8>,
    pub certificate: Vec<u8>,
}

impl EvidenceFile {
    /// The file's text. The readable lines are taken from the acknowledgement itself, which
    /// must verify with the certificate's key (so the platform never hands out broken evidence).
    pub fn to_text(&self) -> Result<String, EvidenceError> {
        let key =
            parse(&self.certificate).map_err(EvidenceError::Certificate)?.public_key().subject_public_key.data.to_vec();
        let ack = verify_ack(&self.signed_ack, &key).map_err(|e| EvidenceError::Acknowledgement(e.to_string()))?;
        Ok(format!(
            "{EVIDENCE_HEADER}\nreceipt: {}\nrecord-sha256: {}\nstored-at: {}\n{}{}",
            ack.receipt_id,
            hex(&ack.record_hash),
            rfc3339_ms(ack.stored_at_ms),
            pem_encode(ACK_LABEL, &self.signed_ack),
            pem_encode("CERTIFICATE", &self.certificate),
        ))
    }

    /// Reads a file made by [`Self::to_text`] (its readable lines are ignored).
    pub fn parse(bytes: &[u8]) -> Result<Self, EvidenceError> {
        let format = |s: &str| EvidenceError::Format(s.to_owned());
        if bytes.len() > MAX_EVIDENCE_BYTES {
            return Err(format("larger than any evidence file"));
        }
        let text = std::str::from_utf8(bytes).map_err(|_| format("not text"))?;
        let first = text.lines().next().unwrap_or("").trim();
        if first != EVIDENCE_HEADER {
            return Err(match first.strip_prefix("ereceipt-evidence:") {
                Some(v) => EvidenceError::Format(format!("version {} is not supported (this build reads 1)", v.trim())),
                None => format("the first line is not \"ereceipt-evidence: 1\""),
            });
        }
        let blocks = pem::parse_many(text).map_err(|e| EvidenceError::Format(format!("damaged PEM block: {e}")))?;
        let one = |label: &str| {
            let mut found = blocks.iter().filter(|p| p.tag() == label);
            match (found.next(), found.next()) {
                (Some(p), None) => Ok(p.contents().to_vec()),
                (None, _) => Err(EvidenceError::Format(format!("no {label} block"))),
                (Some(_), Some(_)) => Err(EvidenceError::Format(format!("more than one {label} block"))),
            }
        };
        Ok(Self { signed_ack: one(ACK_LABEL)?, certificate: one("CERTIFICATE")? })
    }

    /// Checks the evidence against the trusted CA: the certificate is the CA's evidence
    /// certificate, the acknowledgement verifies with its key, and the platform's time lies
    /// within the certificate's validity. Returns what the platform acknowledged.
    pub fn verify(&self, ca_der: &[u8]) -> Result<Acknowledgement, EvidenceError> {
        let (key, not_before, not_after) = check_certificate(&self.certificate, ca_der)?;
        let ack = verify_ack(&self.signed_ack, &key).map_err(|e| EvidenceError::Acknowledgement(e.to_string()))?;
        let at = ack.stored_at_ms.div_euclid(1000);
        if at < not_before || at > not_after {
            return Err(EvidenceError::Certificate(format!(
                "the acknowledgement's time {} is outside the certificate's validity",
                rfc3339_ms(ack.stored_at_ms)
            )));
        }
        Ok(ack)
    }
}

/// `2026-12-01T10:15:02.113Z`.
pub fn rfc3339_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_else(|| ms.to_string())
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::identity::create_ca;
    use crate::upload::AckSigner;

    fn setup() -> (CertifiedKey, AckSigner, Vec<u8>) {
        let ca = create_ca("Test CA", Utc::now()).unwrap();
        let (ack, _) = AckSigner::generate().unwrap();
        let cert = issue_certificate(&ca, ack.public_key()).unwrap();
        (ca, ack, cert)
    }

    fn acknowledgement() -> Acknowledgement {
        Acknowledgement {
            receipt_id: "POS00001-000001-000123".into(),
            record_hash: [7; 32],
            sequence: Some(3),
            stored_at_ms: Utc::now().timestamp_millis(),
        }
    }

    #[test]
    fn evidence_round_trips_through_its_text_and_verifies_with_the_ca_alone() {
        let (ca, signer, cert) = setup();
        let ack = acknowledgement();
        let file = EvidenceFile { signed_ack: signer.sign(&ack), certificate: cert };
        let text = file.to_text().unwrap();
        assert!(text.starts_with("ereceipt-evidence: 1\nreceipt: POS00001-000001-000123\n"), "{text}");
        let back = EvidenceFile::parse(text.as_bytes()).unwrap();
        assert_eq!(back, file);
        assert_eq!(back.verify(&ca.cert_der).unwrap(), ack);
        // The readable lines are not what is trusted: editing them changes nothing.
        let edited = text.replace("receipt: POS00001-000001-000123", "receipt: POS00001-000001-000999");
        assert_eq!(EvidenceFile::parse(edited.as_bytes()).unwrap().verify(&ca.cert_der).unwrap(), ack);
    }

    #[test]
    fn another_ca_another_key_or_another_version_is_refused() {
        let (ca, signer, cert) = setup();
        let ack = acknowledgement();
        let other = create_ca("Test CA", Utc::now()).unwrap();
        let file = EvidenceFile { signed_ack: signer.sign(&ack), certificate: cert.clone() };
        assert!(matches!(file.verify(&other.cert_der), Err(EvidenceError::Certificate(_))));
        // An acknowledgement signed by a key the certificate does not name.
        let (forger, _) = AckSigner::generate().unwrap();
        let forged = EvidenceFile { signed_ack: forger.sign(&ack), certificate: cert };
        assert!(matches!(forged.verify(&ca.cert_der), Err(EvidenceError::Acknowledgement(_))));
        // A terminal-style certificate (no time-stamping usage) is not an evidence certificate.
        let pos = crate::identity::issue_terminal(
            &ca,
            &crate::model::TerminalInfo {
                terminal_id: "POS00001".parse().unwrap(),
                merchant_id: "898440358120001".parse().unwrap(),
                merchant_name: "Shop".parse().unwrap(),
                location: "Here; geo:1.0,2.0".parse().unwrap(),
            },
            Utc::now(),
            30,
        )
        .unwrap();
        let e = check_certificate(&pos.cert_der, &ca.cert_der).unwrap_err();
        assert!(e.to_string().contains("time-stamping"), "{e}");
        let text = file.to_text().unwrap().replacen("ereceipt-evidence: 1", "ereceipt-evidence: 2", 1);
        let e = EvidenceFile::parse(text.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("version 2"), "{e}");
        assert!(EvidenceFile::parse(b"hello").is_err());
    }
}
