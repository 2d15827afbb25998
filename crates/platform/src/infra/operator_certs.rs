//! Operator client certificates: issued by the platform CA to a named person, told apart from
//! terminals' certificates by their organisational unit and key type, so that neither kind can
//! ever stand in for the other.
//!
//! An operator certificate has subject `CN=NAME, OU=ereceipt operator, O=ereceipt platform`,
//! an ECDSA P-256 key (curl and browsers can present it) and EKU clientAuth. A terminal's has
//! `CN=TERMINAL-ID, O=MERCHANT, organizationIdentifier=…, L=…`, never an OU, and an Ed25519 key.

use chrono::{DateTime, Duration, Utc};
use ereceipt_core::identity::CertifiedKey;
use rcgen::{
    DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SerialNumber,
    PKCS_ECDSA_P256_SHA256, PKCS_ED25519,
};
use x509_parser::prelude::{FromDer, X509Certificate};
use zeroize::Zeroizing;

/// The organisational unit that makes a certificate an operator's.
pub const OPERATOR_OU: &str = "ereceipt operator";
const OID_OU: &str = "2.5.4.11";
const OID_CN: &str = "2.5.4.3";
const OID_CLIENT_AUTH: &str = "1.3.6.1.5.5.7.3.2";

/// Why an operator certificate could not be made or is not one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OperatorCertError {
    /// The name is not usable; says what is allowed.
    #[error("operator name: {0}")]
    BadName(String),
    /// rcgen or the randomness source failed.
    #[error("cannot issue the operator certificate: {0}")]
    Issue(String),
    /// The certificate presented is not an operator certificate; says why.
    #[error("not an operator certificate: {0}")]
    NotOperator(&'static str),
}

/// Checks an operator name: 1 to 64 lowercase letters, digits, `.`, `-` or `_`.
pub fn check_name(name: &str) -> Result<(), OperatorCertError> {
    let ok = (1..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'_'));
    if ok {
        Ok(())
    } else {
        Err(OperatorCertError::BadName("1 to 64 characters among a-z 0-9 . - _".into()))
    }
}

fn issue_error(e: impl std::fmt::Display) -> OperatorCertError {
    OperatorCertError::Issue(e.to_string())
}

/// A fresh key and certificate for operator `name`, signed by the CA, valid `days` from `now`.
pub fn issue(ca: &CertifiedKey, name: &str, now: DateTime<Utc>, days: u32) -> Result<CertifiedKey, OperatorCertError> {
    check_name(name)?;
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(issue_error)?;
    let mut params = rcgen::CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    dn.push(DnType::OrganizationalUnitName, OPERATOR_OU);
    dn.push(DnType::OrganizationName, "ereceipt platform");
    params.distinguished_name = dn;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    // Whole days (rcgen's date helper): valid from the day before, until the day `days` on.
    let day = |t: DateTime<Utc>| {
        use chrono::Datelike;
        let (m, d) = (u8::try_from(t.month()).unwrap_or(1), u8::try_from(t.day()).unwrap_or(1));
        rcgen::date_time_ymd(t.year(), m, d)
    };
    params.not_before = day(now - Duration::days(1));
    params.not_after = day(now + Duration::days(i64::from(days)));
    let mut serial = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut serial)
        .map_err(|_| issue_error("no randomness"))?;
    serial[0] = (serial[0] & 0x7f) | 0x10;
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    let ca_key =
        KeyPair::from_pkcs8_der_and_sign_algo(&ca.key_pkcs8.as_slice().into(), &PKCS_ED25519).map_err(issue_error)?;
    let issuer = Issuer::from_ca_cert_der(&ca.cert_der.as_slice().into(), ca_key).map_err(issue_error)?;
    let cert = params.signed_by(&key, &issuer).map_err(issue_error)?;
    Ok(CertifiedKey { cert_der: cert.der().to_vec(), key_pkcs8: Zeroizing::new(key.serialize_der()) })
}

/// What an operator certificate says (the chain to the CA is checked by TLS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorCert {
    pub name: String,
    /// Serial number, hex.
    pub serial: String,
    /// Unix ms.
    pub not_after: i64,
}

/// Reads an operator certificate; refuses any other (a terminal's above all).
pub fn parse(der: &[u8]) -> Result<OperatorCert, OperatorCertError> {
    let not = OperatorCertError::NotOperator;
    let (_, cert) = X509Certificate::from_der(der).map_err(|_| not("it does not parse"))?;
    let subject = cert.subject();
    let attr = |oid: &str| -> Vec<String> {
        subject
            .iter_attributes()
            .filter(|a| a.attr_type().to_id_string() == oid)
            .filter_map(|a| a.as_str().ok().map(str::to_owned))
            .collect()
    };
    if !attr(OID_OU).iter().any(|ou| ou == OPERATOR_OU) {
        return Err(not("its subject has no operator unit (a terminal's certificate?)"));
    }
    let client_auth = cert.extended_key_usage().ok().flatten().is_some_and(|eku| {
        eku.value.client_auth || eku.value.other.iter().any(|o| o.to_id_string() == OID_CLIENT_AUTH)
    });
    if !client_auth {
        return Err(not("it is not for client authentication"));
    }
    if cert.public_key().algorithm.algorithm.to_id_string() == "1.3.101.112" {
        return Err(not("its key is Ed25519, as terminals' are"));
    }
    let name = attr(OID_CN).into_iter().next().ok_or(not("its subject has no common name"))?;
    check_name(&name).map_err(|_| not("its common name is not an operator name"))?;
    Ok(OperatorCert {
        name,
        serial: hex::encode(cert.raw_serial()),
        not_after: cert.validity().not_after.timestamp().saturating_mul(1000),
    })
}

/// Whether `der` claims to be an operator certificate (the main listener refuses such a
/// certificate as a terminal's, whatever else it holds).
pub fn claims_operator(der: &[u8]) -> bool {
    X509Certificate::from_der(der).is_ok_and(|(_, c)| {
        c.subject().iter_attributes().any(|a| a.attr_type().to_id_string() == OID_OU && a.as_str() == Ok(OPERATOR_OU))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ereceipt_core::identity::{create_ca, issue_terminal, PosCertificate};
    use ereceipt_core::model::TerminalInfo;

    fn terminal_info() -> TerminalInfo {
        TerminalInfo {
            terminal_id: "T0000001".parse().unwrap(),
            merchant_id: "104110070110001".parse().unwrap(),
            merchant_name: "Harbour Books".parse().unwrap(),
            location: "1 Quay St; geo:22.2855,114.1577".parse().unwrap(),
        }
    }

    #[test]
    fn an_operator_certificate_is_an_operator_and_never_a_terminal() {
        let ca = create_ca("test CA", Utc::now()).unwrap();
        let op = issue(&ca, "alice", Utc::now(), 30).unwrap();
        let parsed = parse(&op.cert_der).unwrap();
        assert_eq!(parsed.name, "alice");
        assert!(claims_operator(&op.cert_der));
        assert!(PosCertificate::parse(&op.cert_der).is_err(), "not a POS certificate");
    }

    #[test]
    fn a_terminal_certificate_is_never_an_operator() {
        let ca = create_ca("test CA", Utc::now()).unwrap();
        let t = issue_terminal(&ca, &terminal_info(), Utc::now(), 30).unwrap();
        let err = parse(&t.cert_der).unwrap_err().to_string();
        assert!(err.contains("operator unit"), "{err}");
        assert!(!claims_operator(&t.cert_der));
    }

    #[test]
    fn operator_names_are_plain() {
        for bad in ["", "Alice", "a b", "a/b", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        check_name("ops.alice-1_x").unwrap();
    }
}
