//! A terminal id enrolled again on a new phone, or a phone whose outbox was lost (security
//! review H1): its receipts must not reuse the ids of the receipts the platform already holds,
//! and the chain report must show where the new enrolment took over.

use std::collections::HashSet;

use chrono::Utc;
use ereceipt_platform::services::terminals;
use ereceipt_terminal::sync::Uploader;

use crate::helpers::{Db, TestPlatform, TestTerminal};

async fn sell_and_upload(t: &mut TestTerminal, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for _ in 0..n {
        ids.push(t.sale().await.record.id.to_string());
    }
    let report = t.uploader.drain_due().await.unwrap();
    let status = t.uploader.outbox.status().await.unwrap();
    assert_eq!((report.uploaded, status.refused, status.pending), (n as u64, 0, 0), "{report:?} {status:?}");
    ids
}

async fn a_replaced_phone_keeps_every_receipt(db: Db) {
    let platform = TestPlatform::start(db).await;
    let mut old = platform.terminal("T0000111").await;
    let mut ids = sell_and_upload(&mut old, 3).await;

    // The phone is lost; the merchant's administrator reissues a token and a new phone (a
    // fresh data directory, so no outbox) enrols under the same terminal id.
    let token = terminals::reissue_token(&platform.state.store, &platform.state.keys, "T0000111", 24, Utc::now())
        .await
        .unwrap();
    let mut new = platform.enrolled(&token.token).await;
    ids.extend(sell_and_upload(&mut new, 3).await);

    assert_eq!(platform.state.store.receipt_count().await.unwrap(), 6);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 6, "distinct receipt ids: {ids:?}");
    assert!(ids[..3].iter().all(|id| id.starts_with("T0000111-000001-")), "{ids:?}");
    assert!(ids[3..].iter().all(|id| id.starts_with("T0000111-000002-")), "a new batch: {ids:?}");

    // The chain continues from the platform's last receipt, and the report says which batch
    // (enrolment) made which part of it.
    let chain: serde_json::Value = platform.admin_json("/api/v1/admin/terminals/T0000111/chain").await;
    assert_eq!(chain["receipts"], 6, "{chain}");
    assert_eq!(chain["last_sequence"], 6, "{chain}");
    assert_eq!(chain["gaps"], serde_json::json!([]), "{chain}");
    assert_eq!(chain["broken_links"], serde_json::json!([]), "{chain}");
    assert_eq!(chain["duplicates"], serde_json::json!([]), "{chain}");
    assert_eq!(
        chain["batches"],
        serde_json::json!([
            {"batch": 1, "first_sequence": 1, "last_sequence": 3, "receipts": 3, "first_receipt": ids[0]},
            {"batch": 2, "first_sequence": 4, "last_sequence": 6, "receipts": 3, "first_receipt": ids[3]},
        ]),
        "{chain}"
    );
}

#[tokio::test]
async fn a_replaced_phone_keeps_every_receipt_on_sqlite() {
    a_replaced_phone_keeps_every_receipt(Db::Sqlite).await;
}

#[tokio::test]
async fn a_replaced_phone_keeps_every_receipt_on_postgres() {
    a_replaced_phone_keeps_every_receipt(Db::Postgres).await;
}

/// The same phone, still enrolled, loses its outbox (a reinstalled app, a wiped file): it
/// learns from the platform where its batch and chain stand before its next sale.
#[tokio::test]
async fn a_lost_outbox_continues_the_serials_and_the_chain() {
    let platform = TestPlatform::start(Db::Sqlite).await;
    let mut t = platform.terminal("T0000112").await;
    let mut ids = sell_and_upload(&mut t, 3).await;

    t.uploader.outbox.close().await;
    for suffix in ["", "-wal", "-shm"] {
        let path = format!("{}{suffix}", t.device.outbox_path().display());
        if std::path::Path::new(&path).exists() {
            std::fs::remove_file(&path).unwrap();
        }
    }
    t.uploader = Uploader::open(&t.device).await.unwrap();
    ids.extend(sell_and_upload(&mut t, 3).await);

    assert_eq!(platform.state.store.receipt_count().await.unwrap(), 6);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 6, "distinct receipt ids: {ids:?}");
    let chain: serde_json::Value = platform.admin_json("/api/v1/admin/terminals/T0000112/chain").await;
    assert_eq!((chain["receipts"].as_i64(), chain["last_sequence"].as_i64()), (Some(6), Some(6)), "{chain}");
    assert_eq!(chain["broken_links"], serde_json::json!([]), "{chain}");
    assert_eq!(chain["gaps"], serde_json::json!([]), "{chain}");
}

/// Renewal is the same device with the same outbox: it keeps its batch. The resume point is for
/// enrolled terminals only.
#[tokio::test]
async fn renewal_keeps_the_batch_and_the_resume_point_needs_a_client_certificate() {
    let platform = TestPlatform::start(Db::Sqlite).await;
    let mut t = platform.terminal("T0000113").await;
    let ids = sell_and_upload(&mut t, 2).await;
    ereceipt_terminal::enrol::renew(&t.device, Utc::now()).await.unwrap();
    t.uploader = Uploader::open(&t.device).await.unwrap();
    let point = t.uploader.fetch_resume().await.unwrap();
    assert_eq!((point.batch, point.last_serial, point.sequence), (1, 2, 2), "{point:?}");
    let next = sell_and_upload(&mut t, 1).await;
    assert_eq!(next, ["T0000113-000001-000003"], "after {ids:?}");

    let anonymous = platform.anonymous_client().get(format!("{}/api/v1/terminal/resume", platform.url));
    assert_eq!(anonymous.send().await.unwrap().status(), 401);
}
