//! The public verification endpoints run a bounded number of verifications per client and in
//! total; when full they answer at once with Retry-After, and terminals' uploads still go through.

use std::net::IpAddr;

use ereceipt_terminal::sync::Step;

use crate::helpers::{Db, TestPlatform};

#[tokio::test]
async fn public_verification_is_bounded_per_client_and_in_total_and_never_blocks_uploads() {
    let platform = TestPlatform::start(Db::Sqlite).await;
    let mut t = platform.terminal("T0000801").await;
    let r = t.sale().await;
    let http = platform.anonymous_client();
    let verify = || http.post(format!("{}/api/v1/verify", platform.url)).body(r.png.clone()).send();
    let gate = &platform.state.verify_gate;
    let local: IpAddr = "127.0.0.1".parse().unwrap();

    // This client's verifications in flight (held here as a slow client would hold them).
    let mine: Vec<_> = (0..ereceipt_platform::services::verification::gate::PER_CLIENT)
        .map(|_| gate.try_enter(local).unwrap())
        .collect();
    let busy = verify().await.unwrap();
    assert_eq!(busy.status(), 429);
    assert_eq!(busy.headers()["retry-after"], "1");
    let body: serde_json::Value = busy.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("from this address"), "{body}");
    drop(mine);
    assert_eq!(verify().await.unwrap().status(), 200);

    // Every slot taken by other addresses: the platform says it is busy, not this client.
    let others: Vec<_> = (0..gate.total())
        .map(|i| gate.try_enter(IpAddr::from([192, 0, 2, u8::try_from(i).unwrap()])).unwrap())
        .collect();
    let busy = verify().await.unwrap();
    assert_eq!(busy.status(), 503);
    assert_eq!(busy.headers()["retry-after"], "1");
    // (The portal's form is held to the same gate: see the portal's verification test.)

    // Meanwhile a terminal's upload, which verifies the same image, is not held up.
    assert_eq!(t.uploader.upload_next().await.unwrap(), Step::Uploaded(r.record.id.to_string()));
    drop(others);
    let ok: serde_json::Value = verify().await.unwrap().json().await.unwrap();
    assert_eq!(ok["verdict"], "authentic", "{ok}");
}
