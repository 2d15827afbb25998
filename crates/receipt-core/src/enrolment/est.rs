//! The EST wire form of certificates (RFC 7030 §4.1.3, §4.2.3): a certs-only, degenerate
//! CMS SignedData (no content, no signers) in base64, as `application/pkcs7-mime`.

use base64::Engine;
use cms::cert::CertificateChoices;
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{CertificateSet, EncapsulatedContentInfo, SignedData, SignerInfos};
use const_oid::db::rfc5911::{ID_DATA, ID_SIGNED_DATA};
use der::asn1::SetOfVec;
use der::{Any, Decode, Encode};

/// The media type of an EST certificate answer.
pub const PKCS7_CERTS_ONLY: &str = "application/pkcs7-mime; smime-type=certs-only";

/// Why a certs-only answer could not be made or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EstError {
    /// The body is not base64.
    #[error("certs-only answer is not base64: {0}")]
    Base64(base64::DecodeError),
    /// The DER is not a CMS SignedData holding certificates.
    #[error("certs-only answer is not a PKCS#7 SignedData: {0}")]
    Der(der::Error),
    /// The ContentInfo holds something other than SignedData.
    #[error("certs-only answer holds content type {0}, not SignedData")]
    NotSignedData(String),
    /// The SignedData carries no certificates.
    #[error("certs-only answer holds no certificate")]
    NoCertificates,
}

/// Encodes DER certificates as base64 certs-only SignedData (lines of 64 characters).
pub fn encode_certs_only(certs: &[&[u8]]) -> Result<String, EstError> {
    let choices = certs
        .iter()
        .map(|der| x509_cert::Certificate::from_der(der).map(CertificateChoices::Certificate))
        .collect::<Result<Vec<_>, _>>()
        .map_err(EstError::Der)?;
    let signed = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::new(),
        encap_content_info: EncapsulatedContentInfo { econtent_type: ID_DATA, econtent: None },
        certificates: Some(CertificateSet(SetOfVec::try_from(choices).map_err(EstError::Der)?)),
        crls: None,
        signer_infos: SignerInfos(SetOfVec::new()),
    };
    let info = ContentInfo { content_type: ID_SIGNED_DATA, content: Any::encode_from(&signed).map_err(EstError::Der)? };
    let der = info.to_der().map_err(EstError::Der)?;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 1);
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push_str("\r\n");
    }
    Ok(out)
}

/// Reads a base64 certs-only SignedData; returns its certificates as DER, in the order given.
pub fn decode_certs_only(body: &str) -> Result<Vec<Vec<u8>>, EstError> {
    let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD.decode(compact).map_err(EstError::Base64)?;
    let info = ContentInfo::from_der(&der).map_err(EstError::Der)?;
    if info.content_type != ID_SIGNED_DATA {
        return Err(EstError::NotSignedData(info.content_type.to_string()));
    }
    let signed: SignedData = info.content.decode_as().map_err(EstError::Der)?;
    let mut out = Vec::new();
    for choice in signed.certificates.map(|c| c.0.into_vec()).unwrap_or_default() {
        if let CertificateChoices::Certificate(cert) = choice {
            out.push(cert.to_der().map_err(EstError::Der)?);
        }
    }
    if out.is_empty() {
        return Err(EstError::NoCertificates);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(name: &str) -> Vec<u8> {
        let key = rcgen::KeyPair::generate().unwrap();
        rcgen::CertificateParams::new(vec![name.into()]).unwrap().self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn certificates_round_trip_through_certs_only() {
        let (a, b) = (cert("a.example"), cert("b.example"));
        let body = encode_certs_only(&[&a, &b]).unwrap();
        assert!(body.lines().all(|l| l.len() <= 64));
        let mut got = decode_certs_only(&body).unwrap();
        got.sort();
        let mut want = vec![a, b];
        want.sort();
        assert_eq!(got, want);
    }

    #[test]
    fn a_pem_chain_or_garbage_is_refused_by_name() {
        let pem = crate::identity::pem_encode("CERTIFICATE", &cert("a.example"));
        assert!(matches!(decode_certs_only(&pem), Err(EstError::Base64(_))));
        assert!(matches!(decode_certs_only("AAAA"), Err(EstError::Der(_))));
        assert!(matches!(encode_certs_only(&[b"not a certificate"]), Err(EstError::Der(_))));
    }
}
