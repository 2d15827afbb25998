use super::*;
use crate::identity::{create_ca, PosCertificate, Signer};
use x509_parser::prelude::FromDer;

fn info() -> TerminalInfo {
    TerminalInfo {
        terminal_id: "T0000007".parse().unwrap(),
        merchant_id: "104110070110007".parse().unwrap(),
        merchant_name: "Harbour Books".parse().unwrap(),
        location: "1 Quay St; geo:22.28,114.16".parse().unwrap(),
    }
}

#[test]
fn a_signed_csr_carries_the_registered_identity_and_the_terminals_own_key() {
    let now = Utc::now();
    let ca = create_ca("Test CA", now).unwrap();
    let key = generate_key().unwrap();
    let csr = create_csr(&key, "i-claim-to-be-someone-else").unwrap();
    let der = sign_csr(&ca, &csr, &info(), TerminalMode::Production, now, 30).unwrap();
    let cert = PosCertificate::parse(&der).unwrap();
    assert_eq!(cert.terminal, info(), "identity comes from the registration, not the CSR subject");
    cert.verify_issued_by(&ca.cert_der, now.timestamp()).unwrap();
    // The terminal's local key signs for that certificate.
    let signer = Signer::new(&CertifiedKey { cert_der: der, key_pkcs8: key }).unwrap();
    let sig = signer.sign(b"hello");
    cert.verify(b"hello", &sig).unwrap();
}

/// The mode is the registration's, written by the CA: a test terminal's certificate says so,
/// any other (a production one, one made before modes existed) reads as production.
#[test]
fn the_certificate_carries_the_registered_mode() {
    let now = Utc::now();
    let ca = create_ca("Test CA", now).unwrap();
    let key = generate_key().unwrap();
    let csr = create_csr(&key, "test").unwrap();
    for mode in [TerminalMode::Test, TerminalMode::Production] {
        let cert = PosCertificate::parse(&sign_csr(&ca, &csr, &info(), mode, now, 30).unwrap()).unwrap();
        assert_eq!(cert.mode, mode);
        cert.verify_issued_by(&ca.cert_der, now.timestamp()).unwrap();
    }
    let offline = crate::identity::issue_terminal(&ca, &info(), now, 30).unwrap();
    assert_eq!(PosCertificate::parse(&offline.cert_der).unwrap().mode, TerminalMode::Production);
    let test = crate::identity::issue_terminal_in(&ca, &info(), TerminalMode::Test, now, 30).unwrap();
    assert_eq!(PosCertificate::parse(&test.cert_der).unwrap().mode, TerminalMode::Test);
}

#[test]
fn a_csr_with_a_broken_signature_or_garbage_is_refused() {
    let now = Utc::now();
    let ca = create_ca("Test CA", now).unwrap();
    let mut csr = create_csr(&generate_key().unwrap(), "x").unwrap();
    let n = csr.len();
    csr[n - 3] ^= 0x55; // inside the signature
    let err = sign_csr(&ca, &csr, &info(), TerminalMode::Production, now, 30).unwrap_err();
    assert!(err.to_string().contains("certificate signing request"), "{err}");
    let err = sign_csr(&ca, b"not a csr", &info(), TerminalMode::Production, now, 30).unwrap_err();
    assert!(err.to_string().contains("certificate signing request"), "{err}");
}

#[test]
fn server_certificate_names_hosts_and_ips() {
    let now = Utc::now();
    let ca = create_ca("Test CA", now).unwrap();
    let server = issue_server(&ca, &["localhost".into(), "127.0.0.1".into()], now, 365).unwrap();
    let (_, cert) = x509_parser::parse_x509_certificate(&server.cert_der).unwrap();
    let san = cert.subject_alternative_name().unwrap().unwrap().value.general_names.len();
    assert_eq!(san, 2);
    // ECDSA P-256 (id-ecPublicKey): browsers cannot handshake with an Ed25519 server key.
    assert_eq!(cert.public_key().algorithm.algorithm.to_id_string(), "1.2.840.10045.2.1");
    assert!(issue_server(&ca, &["bad name with spaces\u{0}".into()], now, 1).is_err());
}

#[test]
fn crl_lists_revoked_serials_and_is_signed_by_the_ca() {
    let now = Utc::now();
    let ca = create_ca("Test CA", now).unwrap();
    let term = crate::identity::issue_terminal(&ca, &info(), now, 30).unwrap();
    let serial = PosCertificate::parse(&term.cert_der).unwrap().serial;
    let der = crl(&ca, &[Revoked { serial_hex: serial.clone(), revoked_at: now }], 7, now, 24).unwrap();
    let (_, parsed) = x509_parser::revocation_list::CertificateRevocationList::from_der(&der).unwrap();
    let listed: Vec<String> =
        parsed.iter_revoked_certificates().map(|r| crate::identity::hex(r.raw_serial())).collect();
    assert_eq!(listed, vec![serial]);
    let (_, ca_cert) = x509_parser::parse_x509_certificate(&ca.cert_der).unwrap();
    parsed.verify_signature(ca_cert.public_key()).unwrap();
    assert!(crl(&ca, &[Revoked { serial_hex: "zz".into(), revoked_at: now }], 1, now, 1).is_err());
}

#[test]
fn tokens_round_trip_and_malformed_ones_say_why() {
    let t = EnrolmentToken { secret: "ab".repeat(32), ca_fingerprint: "0c".repeat(32) };
    let text = t.to_string();
    assert!(text.starts_with("ert1."));
    assert_eq!(text.parse::<EnrolmentToken>().unwrap(), t);
    assert!(!format!("{t:?}").contains(&t.secret), "Debug hides the secret");
    for (bad, why) in [
        ("xyz.ab.cd", "ert1"),
        ("ert1.abc", "expected"),
        (&format!("ert1.{}.{}", "g".repeat(64), "0".repeat(64)), "secret"),
        (&format!("ert1.{}.{}", "a".repeat(64), "0".repeat(63)), "fingerprint"),
    ] {
        let err = bad.parse::<EnrolmentToken>().unwrap_err().to_string();
        assert!(err.contains(why), "{bad}: {err}");
    }
}
