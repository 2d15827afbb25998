//! EST as RFC 7030 has it, checked by an independent implementation: the `openssl` CLI reads
//! the certs-only PKCS#7 answers and makes the CSR it enrols (and re-enrols) with.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use base64::Engine;
use ereceipt_core::enrolment::EnrolmentToken;
use ereceipt_core::identity::pem_decode;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::helpers::{Db, TestPlatform};

fn openssl(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("openssl").current_dir(dir).args(args).output().expect("the openssl CLI runs");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Checks the EST headers, then lets openssl decode the base64 PKCS#7; returns its certificates.
async fn certs_only(dir: &Path, name: &str, resp: reqwest::Response) -> Vec<Vec<u8>> {
    assert_eq!(resp.status(), 200, "{name}");
    let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("application/pkcs7-mime") && ct.contains("smime-type=certs-only"), "{name}: {ct}");
    let body = resp.text().await.unwrap();
    assert!(!body.contains("-----BEGIN"), "{name} is base64 DER, not PEM");
    std::fs::write(dir.join(format!("{name}.b64")), &body).unwrap();
    openssl(dir, &["base64", "-d", "-in", &format!("{name}.b64"), "-out", &format!("{name}.p7")]);
    let pem = openssl(dir, &["pkcs7", "-inform", "DER", "-in", &format!("{name}.p7"), "-print_certs"]);
    pem.split("-----END CERTIFICATE-----")
        .filter(|part| part.contains("-----BEGIN CERTIFICATE-----"))
        .map(|part| pem_decode(&format!("{part}-----END CERTIFICATE-----\n"), "CERTIFICATE").unwrap())
        .collect()
}

/// The public key (SPKI PEM) of a certificate, as openssl reads it.
fn cert_pubkey(dir: &Path, der: &[u8], name: &str) -> String {
    std::fs::write(dir.join(name), der).unwrap();
    openssl(dir, &["x509", "-inform", "DER", "-in", name, "-noout", "-pubkey"])
}

/// An Ed25519 key and a CSR for it made by openssl; returns the CSR as EST sends it.
fn openssl_csr(dir: &Path, key: &str) -> String {
    let csr = format!("{key}.csr");
    let subject = "/CN=openssl terminal";
    openssl(
        dir,
        &[
            "req", "-new", "-newkey", "ed25519", "-nodes", "-keyout", key, "-subj", subject, "-outform", "DER", "-out",
            &csr,
        ],
    );
    base64::engine::general_purpose::STANDARD.encode(std::fs::read(dir.join(csr)).unwrap())
}

#[tokio::test]
async fn est_answers_certs_only_pkcs7_that_openssl_reads_and_enrols_an_openssl_csr() {
    let platform = TestPlatform::start(Db::Sqlite).await;
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let client = platform.anonymous_client();
    let est = |path: &str| format!("{}/.well-known/est/{path}", platform.url);

    let ca = certs_only(dir, "cacerts", client.get(est("cacerts")).send().await.unwrap()).await;
    assert_eq!(ca, vec![platform.ca_der()], "cacerts holds the platform CA");

    let token: EnrolmentToken = platform.register("T0000901").await.parse().unwrap();
    let csr = openssl_csr(dir, "first.key");
    let resp = client
        .post(est("simpleenroll"))
        .header("content-type", "application/pkcs10")
        .bearer_auth(&token.secret)
        .body(csr)
        .send()
        .await
        .unwrap();
    let issued = certs_only(dir, "simpleenroll", resp).await;
    assert_eq!(issued.len(), 1, "simpleenroll answers the issued certificate");
    let key_pub = openssl(dir, &["pkey", "-in", "first.key", "-pubout"]);
    assert_eq!(cert_pubkey(dir, &issued[0], "first.der"), key_pub, "issued for openssl's key");
    std::fs::write(dir.join("ca.der"), &ca[0]).unwrap();
    openssl(dir, &["x509", "-inform", "DER", "-in", "ca.der", "-out", "ca.pem"]);
    openssl(dir, &["x509", "-inform", "DER", "-in", "first.der", "-out", "first.pem"]);
    let verified = openssl(dir, &["verify", "-CAfile", "ca.pem", "first.pem"]);
    assert!(verified.contains("OK"), "{verified}");

    // Re-enrolment, authenticated by the openssl key and the certificate it got.
    let key = PrivateKeyDer::from_pem_file(dir.join("first.key")).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(platform.ca_der())).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(vec![CertificateDer::from(issued[0].clone())], key)
        .unwrap();
    let mtls = reqwest::Client::builder().use_preconfigured_tls(config).build().unwrap();
    let csr = openssl_csr(dir, "second.key");
    let resp =
        mtls.post(est("simplereenroll")).header("content-type", "application/pkcs10").body(csr).send().await.unwrap();
    let renewed = certs_only(dir, "simplereenroll", resp).await;
    assert_eq!(renewed.len(), 1);
    let key_pub = openssl(dir, &["pkey", "-in", "second.key", "-pubout"]);
    assert_eq!(cert_pubkey(dir, &renewed[0], "second.der"), key_pub, "renewed for the new key");
}
