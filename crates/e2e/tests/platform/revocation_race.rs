//! A renewal in flight when its terminal is revoked (M10): the re-enrolment has passed its
//! checks, the administrator revokes, then the certificate would be issued. Nothing issued from
//! that point may upload.

use chrono::Utc;
use ereceipt_core::enrolment::{create_csr, generate_key};
use ereceipt_core::identity::{issue_terminal, CertifiedKey};
use ereceipt_core::upload::{Envelope, Payload};
use ereceipt_platform::services::terminals::{self, TerminalError};
use ereceipt_terminal::client::{ClientError, PlatformClient};

use crate::helpers::{Db, TestPlatform};

async fn renewal_across_a_revocation(db: Db) {
    let platform = TestPlatform::start(db).await;
    let mut t = platform.terminal("T0000308").await;
    let (store, keys) = (&platform.state.store, &platform.state.keys);
    let current = t.device.certificate().unwrap();
    let key = generate_key().unwrap();
    let csr = create_csr(&key, "ereceipt terminal").unwrap();

    // Paused after its checks (what `reenrol` does in one go), the revocation lands, then it resumes.
    let renewal = terminals::check_renewal(store, &current).await.unwrap();
    terminals::revoke(store, "T0000308", "stolen", Utc::now()).await.unwrap();
    match renewal.issue(store, keys, &csr, 30, Utc::now()).await {
        Err(TerminalError::Revoked(id)) => assert_eq!(id, "T0000308"),
        Err(other) => panic!("expected a refusal as revoked, got {other}"),
        Ok(der) => {
            // Issued anyway: the new certificate must still not upload.
            t.device.save_renewal(&key, &der).unwrap();
            let r = t.sale().await;
            let env = Envelope::seal(
                &Payload { record: r.record_bytes.clone(), png: r.png.clone(), delivery: None },
                "T0000308",
                r.record.id.as_str(),
                &platform.state.keys.hpke.public_bytes(),
            )
            .unwrap();
            let identity = CertifiedKey { cert_der: der, key_pkcs8: key };
            let client = PlatformClient::new(&platform.url, &platform.ca_der(), Some(&identity)).unwrap();
            match client.upload(env.to_bytes()).await {
                Err(ClientError::Refused { status, code, .. }) => {
                    assert_eq!((status, code.as_str()), (403, "certificate_refused"))
                }
                Ok(_) => panic!("a certificate issued after the revocation uploaded a receipt"),
                Err(other) => panic!("expected a refusal, got {other}"),
            }
        }
    }
    assert_eq!(store.receipt_count().await.unwrap(), 0);
}

#[tokio::test]
async fn a_renewal_across_a_revocation_yields_no_certificate_that_uploads_on_sqlite() {
    renewal_across_a_revocation(Db::Sqlite).await;
}

#[tokio::test]
async fn a_renewal_across_a_revocation_yields_no_certificate_that_uploads_on_postgres() {
    renewal_across_a_revocation(Db::Postgres).await;
}

/// A certificate signed with the platform's CA but never recorded by it (made offline, by
/// whoever got hold of the CA key or of an old backup) does not renew into one that is.
#[tokio::test]
async fn a_certificate_the_platform_never_issued_does_not_renew() {
    let platform = TestPlatform::start(Db::Sqlite).await;
    let t = platform.terminal("T0000309").await;
    let info = t.device.certificate().unwrap().terminal;
    let offline = issue_terminal(&platform.state.keys.ca, &info, Utc::now(), 30).unwrap();
    let client = PlatformClient::new(&platform.url, &platform.ca_der(), Some(&offline)).unwrap();
    let csr = create_csr(&generate_key().unwrap(), "ereceipt terminal").unwrap();
    match client.simple_reenroll(&csr).await {
        Err(ClientError::Refused { status, code, .. }) => {
            assert_eq!((status, code.as_str()), (403, "certificate_refused"))
        }
        Ok(_) => panic!("a certificate the platform never issued was renewed"),
        Err(other) => panic!("expected a refusal, got {other}"),
    }
}
