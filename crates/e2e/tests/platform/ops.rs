//! The operations endpoints: the CRL is signed once per change of the revocations, and the
//! metrics are for the operator (admin token) only.

use chrono::{Duration, Utc};

use crate::helpers::{Db, TestPlatform};

#[tokio::test]
async fn the_crl_is_signed_again_only_when_revocations_change_or_it_ages() {
    let platform = TestPlatform::start(Db::Sqlite).await;
    let t = platform.terminal("T0000901").await;
    let http = platform.anonymous_client();
    let crl = || async { http.get(format!("{}/crl", platform.url)).send().await.unwrap().bytes().await.unwrap() };
    let first = crl().await;
    // A second later the same signed bytes (today's code signed a new CRL with a new
    // thisUpdate and number for every request).
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(crl().await, first, "nothing changed: the cached CRL");

    let serial = t.device.certificate().unwrap().serial;
    ereceipt_platform::services::terminals::revoke(&platform.state.store, "T0000901", "stolen", Utc::now())
        .await
        .unwrap();
    let after = crl().await;
    assert_ne!(after, first, "a revocation signs a new CRL at once");
    use x509_parser::prelude::FromDer;
    let (_, parsed) = x509_parser::revocation_list::CertificateRevocationList::from_der(&after).unwrap();
    let listed: Vec<String> = parsed.iter_revoked_certificates().map(|r| hex::encode(r.raw_serial())).collect();
    assert_eq!(listed, vec![serial]);
    assert_eq!(crl().await, after);

    // Half its validity later it is signed anew, well before its nextUpdate.
    let st = &platform.state;
    let now = Utc::now();
    let soon = st.crl.current(&st.store, &st.keys, now + Duration::hours(1)).await.unwrap();
    assert_eq!(soon, after);
    let later = st.crl.current(&st.store, &st.keys, now + Duration::hours(13)).await.unwrap();
    let (_, aged) = x509_parser::revocation_list::CertificateRevocationList::from_der(&later).unwrap();
    assert!(aged.last_update().timestamp() > parsed.last_update().timestamp() + 12 * 3600);
    assert_eq!(aged.iter_revoked_certificates().count(), 1);
}

#[tokio::test]
async fn metrics_need_the_admin_token() {
    let platform = TestPlatform::start(Db::Sqlite).await;
    let http = platform.anonymous_client();
    let public = http.get(format!("{}/metrics", platform.url)).send().await.unwrap();
    assert_eq!(public.status(), 401);
    let wrong = http.get(format!("{}/metrics", platform.url)).bearer_auth("guess").send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    let ok = platform.admin_get("/metrics").await;
    assert_eq!(ok.status(), 200);
    assert!(ok.text().await.unwrap().contains("ereceipt_"));
}
