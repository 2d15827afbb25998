//! Revocations as a verifier knows them: the platform's CRL (DER or PEM, its signature checked
//! against the trusted CA), or the platform's own certificate records.

use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

use crate::identity::{hex, pem_decode};

/// The largest CRL accepted (one entry is about 40 bytes; a platform revokes few terminals).
pub const MAX_CRL_BYTES: usize = 4 << 20;

/// Why a CRL cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum RevocationError {
    /// Neither a DER CRL nor a PEM `X509 CRL` block.
    #[error("not a readable CRL: {0}")]
    Parse(String),
    /// The CRL was not issued, or not signed, by the trusted CA.
    #[error("the CRL is not signed by the trusted CA ({0})")]
    Untrusted(String),
}

/// Revoked certificate serials (lowercase hex, as [`crate::identity::PosCertificate::serial`])
/// and when each was revoked (Unix milliseconds).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Revocations {
    entries: Vec<(String, i64)>,
}

impl Revocations {
    /// The platform's own records: `(serial hex, revoked at ms)`.
    pub fn from_entries(entries: impl IntoIterator<Item = (String, i64)>) -> Self {
        Self { entries: entries.into_iter().map(|(s, at)| (s.to_ascii_lowercase(), at)).collect() }
    }

    /// Reads a CRL (DER, or PEM labelled `X509 CRL`) and checks that the CA in `ca_der` issued
    /// and signed it.
    pub fn from_crl(bytes: &[u8], ca_der: &[u8]) -> Result<Self, RevocationError> {
        if bytes.len() > MAX_CRL_BYTES {
            return Err(RevocationError::Parse(format!("{} bytes, the limit is {MAX_CRL_BYTES}", bytes.len())));
        }
        let der = if bytes.starts_with(b"-----BEGIN") {
            let text = std::str::from_utf8(bytes).map_err(|_| RevocationError::Parse("PEM is not text".into()))?;
            pem_decode(text, "X509 CRL").map_err(|e| RevocationError::Parse(e.to_string()))?
        } else {
            bytes.to_vec()
        };
        let (rest, crl) =
            CertificateRevocationList::from_der(&der).map_err(|e| RevocationError::Parse(e.to_string()))?;
        if !rest.is_empty() {
            return Err(RevocationError::Parse("trailing bytes after the CRL".into()));
        }
        let (_, ca) = x509_parser::parse_x509_certificate(ca_der)
            .map_err(|e| RevocationError::Untrusted(format!("the trust anchor does not parse: {e}")))?;
        if crl.issuer() != ca.subject() {
            return Err(RevocationError::Untrusted("issuer name differs from the CA's name".into()));
        }
        crl.verify_signature(ca.public_key())
            .map_err(|_| RevocationError::Untrusted("the CA's signature does not verify".into()))?;
        Ok(Self::from_entries(
            crl.iter_revoked_certificates()
                .map(|r| (hex(r.raw_serial()), r.revocation_date.timestamp().saturating_mul(1000))),
        ))
    }

    /// When the certificate with this serial was revoked (Unix ms), if it was.
    pub fn revoked_at(&self, serial_hex: &str) -> Option<i64> {
        self.entries.iter().find(|(s, _)| s.eq_ignore_ascii_case(serial_hex)).map(|&(_, at)| at)
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::enrolment::{crl, Revoked};
    use crate::identity::{create_ca, pem_encode};

    #[test]
    fn a_crl_of_the_ca_reads_in_der_and_pem_and_another_cas_is_refused() {
        let now = Utc::now();
        let ca = create_ca("Test CA", now).unwrap();
        let other = create_ca("Test CA", now).unwrap();
        let revoked = Revoked { serial_hex: "1a2b3c".into(), revoked_at: now };
        let der = crl(&ca, std::slice::from_ref(&revoked), 1, now, 24).unwrap();
        let from_der = Revocations::from_crl(&der, &ca.cert_der).unwrap();
        assert_eq!(from_der.revoked_at("1A2B3C"), Some(now.timestamp() * 1000));
        assert_eq!(from_der.revoked_at("1a2b3d"), None);
        let pem = pem_encode("X509 CRL", &der);
        assert_eq!(Revocations::from_crl(pem.as_bytes(), &ca.cert_der).unwrap(), from_der);
        let foreign = crl(&other, &[revoked], 1, now, 24).unwrap();
        let e = Revocations::from_crl(&foreign, &ca.cert_der).unwrap_err();
        assert!(matches!(e, RevocationError::Untrusted(_)), "{e}");
        assert!(matches!(Revocations::from_crl(b"garbage", &ca.cert_der), Err(RevocationError::Parse(_))));
    }
}
