//! End-to-end tests of enrolment, mTLS + HPKE upload, ingest, query and store-and-forward,
//! against a real platform on loopback (SQLite, and PostgreSQL for the main flow).

// A failed unwrap in a test is a test failure with a backtrace, which is what we want.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod admin;
mod binding;
mod day;
mod delivery;
mod email;
mod est;
mod evidence;
mod helpers;
mod listen;
mod openapi;
mod ops;
mod peers;
mod portal;
mod pull;
mod pull_code;
mod refusals;
mod replaced;
mod revocation_race;
mod test_mode;
mod ui;
mod verify_limits;
mod web;

use chrono::Utc;
use ereceipt_core::upload::verify_ack;
use ereceipt_terminal::sync::Step;
use helpers::{Db, TestPlatform};

async fn enrol_upload_query(db: Db) {
    let platform = TestPlatform::start(db).await;
    let mut t = platform.terminal("T0000101").await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let r = t.sale().await;
        ids.push((r.record.id.to_string(), r.png.clone(), r.record.transaction.rrn.to_string()));
    }
    for (id, ..) in &ids {
        assert_eq!(t.uploader.upload_next().await.unwrap(), Step::Uploaded(id.clone()));
    }
    assert_eq!(t.uploader.upload_next().await.unwrap(), Step::Idle);
    assert_eq!(platform.state.store.receipt_count().await.unwrap(), 3);

    // The acknowledgement verifies with the platform's key and names the receipt.
    let entry = t.uploader.outbox.entry(&ids[0].0).await.unwrap().unwrap();
    let ack = verify_ack(entry.ack.as_ref().unwrap(), &platform.state.keys.ack.public_key()).unwrap();
    assert_eq!(ack.receipt_id, ids[0].0);
    assert_eq!(ack.sequence, Some(1));

    // Uploading the same receipt again (a lost acknowledgement) stores nothing new and returns
    // the same acknowledgement.
    let again = ereceipt_terminal::client::PlatformClient::new(
        &platform.url,
        &platform.ca_der(),
        Some(&t.device.identity().unwrap()),
    )
    .unwrap();
    let payload = ereceipt_core::upload::Payload {
        record: entry.record.clone(),
        png: entry.png.clone(),
        delivery: entry.delivery.clone(),
    };
    let env = ereceipt_core::upload::Envelope::seal(
        &payload,
        &t.terminal_id(),
        &ids[0].0,
        &platform.state.keys.hpke.public_bytes(),
    )
    .unwrap();
    let ack2 = again.upload(env.to_bytes()).await.unwrap();
    assert_eq!(&ack2, entry.ack.as_ref().unwrap(), "idempotent: the stored acknowledgement");
    assert_eq!(platform.state.store.receipt_count().await.unwrap(), 3);

    // Query API: search, record, image, verify.
    let http = platform.anonymous_client();
    let unauth = http.get(format!("{}/api/v1/receipts", platform.url)).send().await.unwrap();
    assert_eq!(unauth.status(), 401);
    let page: serde_json::Value =
        platform.admin_json(&format!("/api/v1/receipts?terminal_id=T0000101&rrn={}", ids[1].2)).await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{page}");
    assert_eq!(items[0]["id"], ids[1].0);
    let card = items[0]["card"].as_str().unwrap();
    assert!(card.contains("****") || card.contains('*'), "card is masked: {card}");
    let last4 = &card[card.len() - 4..];
    let by_card: serde_json::Value = platform.admin_json(&format!("/api/v1/receipts?last4={last4}")).await;
    assert!(by_card["items"].as_array().unwrap().iter().any(|i| i["id"] == ids[1].0));
    let image = platform.admin_get(&format!("/api/v1/receipts/{}/image", ids[2].0)).await.bytes().await.unwrap();
    assert_eq!(image.as_ref(), ids[2].1.as_slice(), "the stored image is the terminal's image");
    let verdict: serde_json::Value = http
        .post(format!("{}/api/v1/verify", platform.url))
        .body(image.to_vec())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(verdict["verdict"], "authentic", "{verdict}");
    let missing = platform.admin_get("/api/v1/receipts/T0000101-000001-999999").await;
    assert_eq!(missing.status(), 404);

    // The chain is intact.
    let chain: serde_json::Value = platform.admin_json("/api/v1/admin/terminals/T0000101/chain").await;
    assert_eq!(chain["receipts"], 3);
    assert_eq!(chain["gaps"].as_array().unwrap().len(), 0, "{chain}");
    assert_eq!(chain["last_sequence"], 3);

    // Operations endpoints.
    let public = http.get(format!("{}/metrics", platform.url)).send().await.unwrap();
    assert_eq!(public.status(), 401, "metrics are for the operator, not the internet");
    let metrics = platform.admin_get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("ereceipt_receipts_ingested_total 3"), "{metrics}");
    assert!(metrics.contains("ereceipt_receipts_duplicate_total 1"), "{metrics}");
    assert_eq!(http.get(format!("{}/readyz", platform.url)).send().await.unwrap().status(), 200);
    let openapi: serde_json::Value =
        http.get(format!("{}/api/v1/openapi.json", platform.url)).send().await.unwrap().json().await.unwrap();
    assert!(openapi["paths"]["/api/v1/receipts"]["post"].is_object());
}

#[tokio::test]
async fn enrol_upload_query_on_sqlite() {
    enrol_upload_query(Db::Sqlite).await;
}

#[tokio::test]
async fn enrol_upload_query_on_postgres() {
    enrol_upload_query(Db::Postgres).await;
}

#[tokio::test]
async fn sales_continue_offline_and_drain_in_order_when_the_platform_returns() {
    let mut platform = TestPlatform::start(Db::Sqlite).await;
    let mut t = platform.terminal("T0000102").await;
    platform.stop().await;
    for _ in 0..4 {
        t.sale().await;
    }
    match t.uploader.upload_next().await.unwrap() {
        Step::Failed { error, .. } => assert!(error.contains("unreachable"), "{error}"),
        other => panic!("expected a failed upload, got {other:?}"),
    }
    let st = t.uploader.outbox.status().await.unwrap();
    assert_eq!(st.pending, 4);
    assert!(st.last_error.unwrap().contains("unreachable"));
    assert_eq!(t.uploader.upload_next().await.unwrap(), Step::Idle, "backing off: nothing due yet");

    platform.restart().await;
    t.uploader.outbox.retry_now(Utc::now().timestamp_millis()).await.unwrap();
    let report = t.uploader.drain_until(std::time::Instant::now() + std::time::Duration::from_secs(30)).await.unwrap();
    assert_eq!(report.uploaded, 4);
    assert_eq!(t.uploader.outbox.status().await.unwrap().pending, 0);
    let chain = ereceipt_platform::services::chain::analyse(&platform.state.store.chain("T0000102").await.unwrap());
    assert!(chain.is_clean(), "{chain:?}");
    assert_eq!(chain.receipts, 4);
}

#[tokio::test]
async fn concurrent_terminals_store_every_receipt_once() {
    let platform = TestPlatform::start(Db::Sqlite).await;
    let mut tasks = Vec::new();
    for i in 0..4 {
        let mut t = platform.terminal(&format!("T00002{i:02}")).await;
        for _ in 0..5 {
            t.sale().await;
        }
        tasks.push(tokio::spawn(async move {
            let r = t.uploader.drain_due().await.unwrap();
            assert_eq!(r.uploaded, 5, "{r:?}");
            t
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(platform.state.store.receipt_count().await.unwrap(), 20);
}

#[tokio::test]
async fn renewal_gives_a_new_certificate_that_uploads() {
    let platform = TestPlatform::start(Db::Sqlite).await;
    let mut t = platform.terminal("T0000103").await;
    let before = t.device.certificate().unwrap();
    let after = ereceipt_terminal::enrol::renew(&t.device, Utc::now()).await.unwrap();
    assert_ne!(before.serial, after.serial);
    assert_ne!(before.public_key, after.public_key, "a fresh key pair");
    assert_eq!(before.terminal, after.terminal);
    t.uploader = ereceipt_terminal::sync::Uploader::open(&t.device).await.unwrap();
    let r = t.sale().await;
    assert_eq!(t.uploader.upload_next().await.unwrap(), Step::Uploaded(r.record.id.to_string()));
}
