//! Trust anchored in the platform's time: a stolen key revoked at T2 back-dates a receipt to
//! T1 < T2. Ingest refuses it, the platform says it never received it, offline verification
//! with the CRL does not call it authentic; a genuine receipt the platform stored before T2 stays
//! authentic, online and offline with the platform's evidence file.

use chrono::{Duration, Utc};
use ereceipt_core::evidence::EvidenceFile;
use ereceipt_core::revocation::Revocations;
use ereceipt_core::verify::{verify_image_with, Stored, TimeBasis, TimeFacts, Verdict};
use ereceipt_terminal::sync::Step;
use serde_json::Value;

use crate::helpers::{Db, TestPlatform};

async fn verify_online(platform: &TestPlatform, png: &[u8]) -> Value {
    let http = platform.anonymous_client();
    let r = http.post(format!("{}/api/v1/verify", platform.url)).body(png.to_vec()).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

#[tokio::test]
async fn a_revoked_key_cannot_back_date_receipts_and_evidence_keeps_earlier_ones_authentic() {
    let platform = TestPlatform::start(Db::Sqlite).await;
    let mut t = platform.terminal("T0000601").await;
    let ca = platform.ca_der();

    // A genuine receipt, stored by the platform before the revocation; its evidence file.
    let genuine = t.sale().await;
    let id = genuine.record.id.to_string();
    assert_eq!(t.uploader.upload_next().await.unwrap(), Step::Uploaded(id.clone()));
    let evidence = platform.admin_get(&format!("/api/v1/receipts/{id}/evidence")).await;
    assert_eq!(evidence.status(), 200);
    let evidence = evidence.bytes().await.unwrap().to_vec();
    assert!(evidence.starts_with(b"ereceipt-evidence: 1\n"), "{}", String::from_utf8_lossy(&evidence));

    // T2: the phone is stolen and its terminal revoked.
    let t2 = Utc::now();
    let serial = t.device.certificate().unwrap().serial;
    ereceipt_platform::services::terminals::revoke(&platform.state.store, "T0000601", "stolen", t2).await.unwrap();
    let stored = platform.state.store.receipt(&id).await.unwrap().unwrap();
    assert!(stored.received_at < t2.timestamp_millis(), "stored before T2");

    // After T2 the thief signs a receipt dated T1 = T2 − 30 s with the key.
    let forged = t.sale_dated(t2 - Duration::seconds(30), None).await;
    match t.uploader.upload_next().await.unwrap() {
        Step::Failed { error, .. } => assert!(error.contains("revoked"), "{error}"),
        other => panic!("the back-dated receipt must be refused, got {other:?}"),
    }
    assert_eq!(platform.state.store.receipt_count().await.unwrap(), 1);

    // The platform never received it and does not call it authentic.
    let v = verify_online(&platform, &forged.png).await;
    assert_ne!(v["verdict"], "authentic", "{v}");
    assert_eq!(v["platform"]["holds"], false, "{v}");
    assert!(v["platform"]["note"].as_str().unwrap().contains("never received"), "{v}");
    assert!(v["reason"].as_str().unwrap().contains("revoked"), "{v}");

    // Offline with the platform's CRL and no evidence: not a silent AUTHENTIC, but a verdict of
    // its own that names the certificate and the revocation.
    let crl = platform.anonymous_client().get(format!("{}/crl", platform.url)).send().await.unwrap();
    let crl = Revocations::from_crl(&crl.bytes().await.unwrap(), &ca).unwrap();
    let offline =
        |png: &[u8], stored: Stored| verify_image_with(png, &ca, &TimeFacts { stored, revocations: Some(&crl) });
    let v = offline(&forged.png, Stored::Unknown);
    assert_eq!(v.verdict, Verdict::Unconfirmed, "{}", v.reason);
    assert!(v.reason.contains(&serial) && v.reason.contains("revoked at"), "{}", v.reason);
    assert_eq!(v.time_basis, TimeBasis::TerminalClaim);
    // Without any CRL the verdict stays what the image alone shows, and says what it lacks.
    let v = ereceipt_core::verify::verify_image(&forged.png, &ca);
    assert!(v.warnings.iter().any(|w| w.contains("terminal's own claim")), "{:?}", v.warnings);
    assert!(v.warnings.iter().any(|w| w.contains("revocation was not checked")), "{:?}", v.warnings);

    // The genuine receipt's evidence verifies with the CA alone and makes it authentic offline,
    // judged at the platform's time; it does not vouch for the forged receipt.
    let ack = EvidenceFile::parse(&evidence).unwrap().verify(&ca).unwrap();
    assert_eq!(ack.stored_at_ms, stored.received_at);
    let v = offline(&genuine.png, Stored::from(&ack));
    assert_eq!(v.verdict, Verdict::Authentic, "{}", v.reason);
    assert_eq!(v.time_basis, TimeBasis::PlatformEvidence);
    assert!(v.reason.contains("stored by the platform at"), "{}", v.reason);
    let v = offline(&genuine.png, Stored::Unknown);
    assert_eq!(v.verdict, Verdict::Unconfirmed, "without evidence even the genuine one cannot be dated: {}", v.reason);
    let v = offline(&forged.png, Stored::from(&ack));
    assert_eq!(v.verdict, Verdict::Unconfirmed, "{}", v.reason);
    assert!(v.warnings.iter().any(|w| w.contains("another receipt")), "{:?}", v.warnings);

    // Online, the genuine receipt is on record, a faithful copy, and authentic.
    let v = verify_online(&platform, &genuine.png).await;
    assert_eq!(v["verdict"], "authentic", "{v}");
    assert_eq!(v["time_basis"], "platform_evidence", "{v}");
    assert_eq!(v["platform"]["holds"], true, "{v}");
    assert_eq!(v["platform"]["faithful_copy"], true, "{v}");
}

#[tokio::test]
async fn evidence_is_offered_wherever_the_receipt_can_be_downloaded() {
    let platform = TestPlatform::start(Db::Sqlite).await;
    let mut t = platform.terminal("T0000602").await;
    let r = t.sale().await;
    let id = r.record.id.to_string();
    assert_eq!(t.uploader.upload_next().await.unwrap(), Step::Uploaded(id.clone()));
    let stored = platform.state.store.receipt(&id).await.unwrap().unwrap();
    let text = ereceipt_platform::services::verification::evidence_text(&platform.state.keys, &stored).unwrap();
    let ack = EvidenceFile::parse(text.as_bytes()).unwrap().verify(&platform.ca_der()).unwrap();
    assert_eq!((ack.receipt_id.as_str(), ack.record_hash), (id.as_str(), r.record_hash));

    // The receipt's short link (what SMS and email carry) serves it next to PNG and PDF.
    let expires = chrono::Utc::now().timestamp_millis() + 86_400_000;
    let link =
        ereceipt_platform::services::links::receipt_link(&platform.state.keys.link_key, &platform.url, &id, expires);
    let token = link.split("?k=").nth(1).unwrap().to_owned();
    let http = platform.anonymous_client();
    let page = http.get(&link).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("format=evidence"), "{page}");
    let file =
        http.get(format!("{}/r/{id}/png?k={token}&download=1&format=evidence", platform.url)).send().await.unwrap();
    assert_eq!(file.status(), 200);
    assert_eq!(file.text().await.unwrap(), text);
}

/// Finding L11: a message's link opened its receipt for ever, under the key that also sealed the
/// staff's second factors. Now it expires into the code login, and only `link.key` makes one.
#[tokio::test]
async fn a_message_link_expires_into_the_code_login_and_no_other_key_makes_one() {
    use ereceipt_platform::services::links::receipt_link;
    let platform = TestPlatform::start(Db::Sqlite).await;
    let mut t = platform.terminal("T0000603").await;
    let id = t.sale().await.record.id.to_string();
    assert_eq!(t.uploader.upload_next().await.unwrap(), Step::Uploaded(id.clone()));
    let http = platform.client_builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let keys = &platform.state.keys;
    let now = chrono::Utc::now().timestamp_millis();
    let get = |url: String| {
        let http = http.clone();
        async move { http.get(url).send().await.unwrap() }
    };
    let token = |link: &str| link.split("?k=").nth(1).unwrap().to_owned();

    let fresh = receipt_link(&keys.link_key, &platform.url, &id, now + 86_400_000);
    assert_eq!(get(fresh.clone()).await.status(), 200);
    assert_eq!(get(format!("{}/r/{id}/png?k={}", platform.url, token(&fresh))).await.status(), 200);

    let own = format!("/pull/receipts/{id}");
    let expired = receipt_link(&keys.link_key, &platform.url, &id, now - 2 * 86_400_000);
    let answer = get(expired.clone()).await;
    assert!(answer.status().is_redirection(), "an expired link goes to the code login: {}", answer.status());
    assert_eq!(answer.headers()["location"], own.as_str());
    assert_eq!(get(format!("{}/r/{id}/png?k={}", platform.url, token(&expired))).await.status(), 404);
    // The permanent 16-character tokens of earlier versions lead to the login too.
    let legacy = get(format!("{}/r/{id}?k=AbCdEfGhIjKlMnOp", platform.url)).await;
    assert_eq!(legacy.headers()["location"], own.as_str());

    // A token made under any other key of the platform opens nothing.
    for other in [&keys.otp_key, &keys.totp_key, &keys.csrf_key] {
        let forged = receipt_link(other, &platform.url, &id, now + 86_400_000);
        let page = get(forged.clone()).await;
        assert_eq!(page.status(), 404, "a link under another key");
        assert_eq!(get(format!("{}/r/{id}/png?k={}", platform.url, token(&forged))).await.status(), 404);
    }
}
