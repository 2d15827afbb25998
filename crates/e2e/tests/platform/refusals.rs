//! Uploads the platform must refuse with a clear error, storing nothing.

use chrono::{Duration, Utc};
use ereceipt_core::compose::{build_record, compose_duplicate, compose_receipt, Sale};
use ereceipt_core::identity::{create_ca, issue_terminal, CertifiedKey, Signer};
use ereceipt_core::model::ChainLink;
use ereceipt_core::render::slip::SlipWidth;
use ereceipt_core::upload::{Envelope, Payload};
use ereceipt_terminal::client::{ClientError, PlatformClient};
use ereceipt_terminal::sync::Step;

use crate::helpers::{fonts, Db, TestPlatform, TestTerminal};

async fn envelope_of(platform: &TestPlatform, t: &mut TestTerminal, sealed_as: &str) -> (String, Vec<u8>) {
    let r = t.sale().await;
    let id = r.record.id.to_string();
    let env = Envelope::seal(
        &Payload { record: r.record_bytes.clone(), png: r.png.clone(), delivery: None },
        sealed_as,
        &id,
        &platform.state.keys.hpke.public_bytes(),
    )
    .unwrap();
    (id, env.to_bytes())
}

fn client(platform: &TestPlatform, id: Option<&CertifiedKey>) -> PlatformClient {
    PlatformClient::new(&platform.url, &platform.ca_der(), id).unwrap()
}

fn refused_code(e: ClientError) -> (u16, String, String) {
    match e {
        ClientError::Refused { status, code, message } => (status, code, message),
        other => panic!("expected an HTTP refusal, got {other}"),
    }
}

#[tokio::test]
async fn uploads_without_a_valid_client_certificate_are_refused() {
    let platform = TestPlatform::start(Db::Sqlite).await;
    let mut t = platform.terminal("T0000301").await;
    let tid = t.terminal_id();
    let (_, body) = envelope_of(&platform, &mut t, &tid).await;

    let (status, code, msg) = refused_code(client(&platform, None).upload(body.clone()).await.unwrap_err());
    assert_eq!((status, code.as_str()), (401, "no_client_certificate"), "{msg}");

    // A certificate from another CA: the TLS handshake itself fails.
    let info = t.device.certificate().unwrap().terminal;
    let other_ca = create_ca("Someone else's CA", Utc::now()).unwrap();
    let foreign = issue_terminal(&other_ca, &info, Utc::now(), 30).unwrap();
    let err = client(&platform, Some(&foreign)).upload(body.clone()).await.unwrap_err();
    assert!(matches!(err, ClientError::Unreachable(_)), "{err}");

    // An expired certificate from the right CA: refused in the handshake too.
    let expired = issue_terminal(&platform.state.keys.ca, &info, Utc::now() - Duration::days(400), 30).unwrap();
    let err = client(&platform, Some(&expired)).upload(body.clone()).await.unwrap_err();
    assert!(matches!(err, ClientError::Unreachable(_)), "{err}");

    // A valid certificate of our CA that the platform never issued (made offline).
    let offline = issue_terminal(&platform.state.keys.ca, &info, Utc::now(), 30).unwrap();
    let (status, code, msg) = refused_code(client(&platform, Some(&offline)).upload(body).await.unwrap_err());
    assert_eq!((status, code.as_str()), (403, "certificate_refused"), "{msg}");
    assert!(msg.contains("not issued by this platform"), "{msg}");

    assert_eq!(platform.state.store.receipt_count().await.unwrap(), 0);
}

#[tokio::test]
async fn tampered_foreign_oversize_and_altered_replays_are_refused() {
    let platform = TestPlatform::start(Db::Sqlite).await;
    let mut a = platform.terminal("T0000302").await;
    let b = platform.terminal("T0000303").await;
    let a_id = a.device.identity().unwrap();
    let b_id = b.device.identity().unwrap();

    // Tampered envelope.
    let a_tid = a.terminal_id();
    let (_, mut body) = envelope_of(&platform, &mut a, &a_tid).await;
    let n = body.len();
    body[n - 10] ^= 0x01;
    let (status, code, _) = refused_code(client(&platform, Some(&a_id)).upload(body).await.unwrap_err());
    assert_eq!((status, code.as_str()), (400, "envelope_open"));

    // A's receipt uploaded by B, sealed as B (so the envelope opens) and as A.
    let (_, as_b) = envelope_of(&platform, &mut a, &b.terminal_id()).await;
    let (status, code, msg) = refused_code(client(&platform, Some(&b_id)).upload(as_b).await.unwrap_err());
    assert_eq!((status, code.as_str()), (403, "wrong_terminal"), "{msg}");
    let (_, as_a) = envelope_of(&platform, &mut a, &a_tid).await;
    let (status, code, msg) = refused_code(client(&platform, Some(&b_id)).upload(as_a).await.unwrap_err());
    assert_eq!((status, code.as_str()), (403, "wrong_terminal"), "{msg}");

    // Oversize body.
    let big = vec![0u8; (1 << 20) + 1];
    let (status, ..) = refused_code(client(&platform, Some(&a_id)).upload(big).await.unwrap_err());
    assert_eq!(status, 413);
    assert_eq!(platform.state.store.receipt_count().await.unwrap(), 0);

    // A receipt is stored; then a different receipt under the same id is refused (409),
    // recorded for the operator, and the stored one is unchanged.
    let mut c = platform.terminal("T0000304").await;
    let first = c.sale().await;
    assert_eq!(c.uploader.upload_next().await.unwrap(), Step::Uploaded(first.record.id.to_string()));
    let signer = Signer::new(&c.device.identity().unwrap()).unwrap();
    let mut tx = first.record.transaction.clone();
    tx.amount = ereceipt_core::model::Money::new(tx.amount.minor() + 100, tx.amount.currency()).unwrap();
    let forged = build_record(
        Sale {
            transaction: tx,
            signature: first.record.signature.clone(),
            chain: Some(ChainLink { sequence: 1, previous: [0; 32] }),
        },
        &signer,
    )
    .unwrap();
    let forged = compose_receipt(forged, &signer, &fonts(), SlipWidth::W576).unwrap();
    assert_eq!(forged.record.id, first.record.id);
    let env = Envelope::seal(
        &Payload { record: forged.record_bytes.clone(), png: forged.png.clone(), delivery: None },
        &c.terminal_id(),
        forged.record.id.as_str(),
        &platform.state.keys.hpke.public_bytes(),
    )
    .unwrap();
    let c_id = c.device.identity().unwrap();
    let (status, code, _) = refused_code(client(&platform, Some(&c_id)).upload(env.to_bytes()).await.unwrap_err());
    assert_eq!((status, code.as_str()), (409, "conflict"));
    let stored = platform.state.store.receipt(first.record.id.as_str()).await.unwrap().unwrap();
    assert_eq!(stored.record_hash, first.record_hash, "the first receipt is unchanged");
    let refusals = platform.state.store.refusals(10).await.unwrap();
    assert_eq!(refusals.len(), 1);
    assert_eq!(refusals[0].receipt_id, first.record.id.to_string());
}

/// A DUPLICATE copy (重打印凭证) of a receipt is authentic, but it is a reprint: uploaded as the
/// receipt's own image it is refused (422, the reason naming the duplicate) and nothing is
/// stored; the receipt itself, uploaded afterwards, is accepted.
#[tokio::test]
async fn a_duplicate_copy_uploaded_as_the_receipt_is_refused_and_nothing_stored() {
    let platform = TestPlatform::start(Db::Sqlite).await;
    let mut t = platform.terminal("T0000306").await;
    let r = t.sale().await;
    let signer = Signer::new(&t.device.identity().unwrap()).unwrap();
    let dup = compose_duplicate(r.record.clone(), &signer, &fonts(), SlipWidth::W576).unwrap();
    assert_eq!(dup.record_hash, r.record_hash, "the same signed record");
    let id = r.record.id.to_string();
    let seal = |png: &[u8]| {
        Envelope::seal(
            &Payload { record: r.record_bytes.clone(), png: png.to_vec(), delivery: None },
            &t.terminal_id(),
            &id,
            &platform.state.keys.hpke.public_bytes(),
        )
        .unwrap()
        .to_bytes()
    };
    let identity = t.device.identity().unwrap();
    let (status, code, msg) =
        refused_code(client(&platform, Some(&identity)).upload(seal(&dup.png)).await.unwrap_err());
    assert_eq!(status, 422, "{code}: {msg}");
    assert!(msg.contains("duplicate") && msg.contains(&id), "{msg}");
    assert_eq!(platform.state.store.receipt_count().await.unwrap(), 0, "nothing stored");
    assert!(platform.state.store.receipt(&id).await.unwrap().is_none());

    client(&platform, Some(&identity)).upload(seal(&r.png)).await.expect("the receipt itself is accepted");
    let stored = platform.state.store.receipt(&id).await.unwrap().expect("stored");
    assert_eq!(stored.record_hash, r.record_hash);
}

#[tokio::test]
async fn revocation_refuses_uploads_lists_the_crl_and_unverifies_later_receipts() {
    let platform = TestPlatform::start(Db::Sqlite).await;
    let mut t = platform.terminal("T0000305").await;
    let before = t.sale().await;
    assert_eq!(t.uploader.upload_next().await.unwrap(), Step::Uploaded(before.record.id.to_string()));
    let serial = t.device.certificate().unwrap().serial;

    // Let the clock move past the revocation instant (millisecond resolution).
    ereceipt_platform::services::terminals::revoke(&platform.state.store, "T0000305", "stolen", Utc::now())
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let after = t.sale().await;
    match t.uploader.upload_next().await.unwrap() {
        Step::Failed { error, .. } => assert!(error.contains("revoked"), "{error}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(platform.state.store.receipt_count().await.unwrap(), 1);

    let http = platform.anonymous_client();
    let crl = http.get(format!("{}/crl", platform.url)).send().await.unwrap().bytes().await.unwrap();
    use x509_parser::prelude::FromDer;
    let (_, parsed) = x509_parser::revocation_list::CertificateRevocationList::from_der(&crl).unwrap();
    let listed: Vec<String> = parsed.iter_revoked_certificates().map(|r| hex::encode(r.raw_serial())).collect();
    assert_eq!(listed, vec![serial]);

    let verify = |png: Vec<u8>| {
        let http = http.clone();
        let url = format!("{}/api/v1/verify", platform.url);
        async move { http.post(url).body(png).send().await.unwrap().json::<serde_json::Value>().await.unwrap() }
    };
    let v = verify(after.png.clone()).await;
    assert_ne!(v["verdict"], "authentic", "{v}");
    assert!(v["reason"].as_str().unwrap().contains("revoked"), "{v}");
    let v = verify(before.png.clone()).await;
    assert_eq!(v["verdict"], "authentic", "signed before revocation: {v}");

    // A revoked terminal cannot renew either.
    let err = ereceipt_terminal::enrol::renew(&t.device, Utc::now()).await.unwrap_err();
    assert!(err.to_string().contains("revoked"), "{err}");
}

#[tokio::test]
async fn an_enrolment_token_works_once_and_pins_the_ca() {
    let platform = TestPlatform::start(Db::Sqlite).await;
    let token = platform.register("T0000306").await;
    let dir1 = tempfile::tempdir().unwrap();
    let dev1 = ereceipt_terminal::device::Device::new(dir1.path());
    ereceipt_terminal::enrol::enrol(&dev1, &platform.url, &token, Utc::now()).await.unwrap();
    let key = std::fs::read_to_string(dir1.path().join("terminal.key")).unwrap();
    assert!(key.contains("PRIVATE KEY"));

    let dir2 = tempfile::tempdir().unwrap();
    let dev2 = ereceipt_terminal::device::Device::new(dir2.path());
    let err = ereceipt_terminal::enrol::enrol(&dev2, &platform.url, &token, Utc::now()).await.unwrap_err();
    assert!(err.to_string().contains("used"), "{err}");
    assert!(!dev2.is_enrolled());

    // A token whose pinned fingerprint is not this platform's CA is refused before anything is sent.
    let token2 = platform.register("T0000307").await;
    let parsed: ereceipt_core::enrolment::EnrolmentToken = token2.parse().unwrap();
    let wrong = ereceipt_core::enrolment::EnrolmentToken { ca_fingerprint: "0".repeat(64), ..parsed };
    let err = ereceipt_terminal::enrol::enrol(&dev2, &platform.url, &wrong.to_string(), Utc::now()).await.unwrap_err();
    assert!(err.to_string().contains("pins"), "{err}");
}

#[tokio::test]
async fn a_receipt_too_large_for_the_body_limit_is_parked_and_later_receipts_still_upload() {
    // A platform whose body limit no receipt fits (a 413 from the HTTP layer, with no code of ours).
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let url = format!("sqlite://{}", dir.path().join("platform.db").display());
    let mut platform = TestPlatform::start_on(dir, url, "127.0.0.1:0".parse().unwrap(), 4096).await;
    let mut t = platform.terminal("T0000308").await;
    let big = t.sale().await;
    match t.uploader.upload_next().await.unwrap() {
        Step::Refused { receipt_id, error } => {
            assert_eq!(receipt_id, big.record.id.to_string());
            assert!(error.contains("413"), "{error}");
        }
        other => panic!("expected the receipt parked as refused, got {other:?}"),
    }
    let status = t.uploader.outbox.status().await.unwrap();
    assert_eq!((status.pending, status.refused), (0, 1), "visible as refused, not pending for ever");

    // With the limit back to normal, the next receipt goes up: nothing waits behind the first.
    platform.restart().await;
    let next = t.sale().await;
    assert_eq!(t.uploader.upload_next().await.unwrap(), Step::Uploaded(next.record.id.to_string()));
}
