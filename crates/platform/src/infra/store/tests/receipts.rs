//! Storing receipts: duplicates, conflicts, concurrency, chains, images, refusals, durability.

use std::sync::Arc;

use tokio::sync::Barrier;

use ereceipt_test_peers::small_fs::SmallFs;
use sqlx::Connection;

use super::{assert_err, behaviours, choice, receipt, register, sha256};
use crate::infra::store::{Backend, NewReceipt, Refusal, Store, StoreError, StoreOutcome, StoredReceipt};

behaviours!(
    a_receipt_is_stored_once_and_a_different_one_conflicts,
    of_sixteen_concurrent_uploads_one_row_remains,
    concurrent_receipts_get_their_own_outcomes,
    a_stored_receipt_reads_back_whole,
    the_chain_follows_arrival_order,
    refusals_list_newest_first;
    url: data_survives_reopening,
);

/// What [`Store::receipt`] should return for `r`.
fn stored(r: &NewReceipt, ingest_seq: i64) -> StoredReceipt {
    StoredReceipt {
        receipt_id: r.receipt_id.clone(),
        terminal_id: r.terminal_id.clone(),
        merchant_id: r.merchant_id.clone(),
        merchant_name: r.merchant_name.clone(),
        batch: r.batch,
        serial: r.serial,
        sequence: r.sequence,
        previous_hash: r.previous_hash.clone(),
        record_hash: r.record_hash,
        record: r.record.clone(),
        amount: r.amount,
        time: r.time,
        rrn: r.rrn.clone(),
        auth_code: r.auth_code.clone(),
        card_masked: r.card_masked.clone(),
        card_last4: r.card_last4.clone(),
        card_brand: r.card_brand.clone(),
        signer_serial: r.signer_serial.clone(),
        received_at: r.received_at,
        ack: r.ack.clone(),
        ingest_seq,
        delivery: r.delivery.clone(),
        kind: r.lineage.kind,
        link: None,
        given_back_minor: 0,
    }
}

async fn a_receipt_is_stored_once_and_a_different_one_conflicts(store: &Store) {
    register(store, "POS00001", "M1").await;
    let original = receipt("POS00001", 123, 1_700_000_000_000, 8_800);
    assert_eq!(store.store_receipt(&original).await.expect("store"), StoreOutcome::Stored(original.ack.clone()));
    let before = store.receipt(&original.receipt_id).await.expect("read").expect("stored");

    // The terminal retries: it gets the acknowledgement it was first given, not the new one.
    let mut retry = original.clone();
    retry.ack = b"another ack".to_vec();
    retry.received_at += 60_000;
    assert_eq!(store.store_receipt(&retry).await.expect("retry"), StoreOutcome::Duplicate(original.ack.clone()));

    let mut forged = original.clone();
    forged.amount = super::money(1, "CNY");
    forged.record = b"a different record".to_vec();
    forged.record_hash = sha256(&forged.record);
    forged.png = b"another image".to_vec();
    assert_eq!(
        store.store_receipt(&forged).await.expect("conflict"),
        StoreOutcome::Conflict { stored_hash: original.record_hash }
    );

    assert_eq!(store.receipt(&original.receipt_id).await.expect("read"), Some(before));
    assert_eq!(store.receipt_image(&original.receipt_id).await.expect("image"), Some(original.png.clone()));
    assert_eq!(store.receipt_count().await.expect("count"), 1);

    assert_err(
        store.store_receipt(&receipt("POS09999", 1, 1_700_000_000_000, 1)).await,
        |e| matches!(e, StoreError::UnknownTerminal(id) if id == "POS09999"),
    );
}

async fn of_sixteen_concurrent_uploads_one_row_remains(store: &Store) {
    register(store, "POS00001", "M1").await;
    let barrier = Arc::new(Barrier::new(16));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..16 {
        let (store, barrier) = (store.clone(), barrier.clone());
        let mut upload = receipt("POS00001", 7, 1_700_000_000_000, 500);
        upload.ack = format!("ack {i}").into_bytes();
        tasks.spawn(async move {
            barrier.wait().await;
            store.store_receipt(&upload).await
        });
    }
    let mut stored_acks = Vec::new();
    let mut duplicate_acks = Vec::new();
    while let Some(result) = tasks.join_next().await {
        match result.expect("task").expect("store") {
            StoreOutcome::Stored(ack) => stored_acks.push(ack),
            StoreOutcome::Duplicate(ack) => duplicate_acks.push(ack),
            conflict => panic!("unexpected {conflict:?}"),
        }
    }
    assert_eq!(stored_acks.len(), 1, "exactly one upload stores");
    assert_eq!(duplicate_acks.len(), 15);
    assert!(duplicate_acks.iter().all(|ack| *ack == stored_acks[0]), "every retry gets the winner's ack");
    assert_eq!(store.receipt_count().await.expect("count"), 1);
    assert_eq!(store.chain("POS00001").await.expect("chain").len(), 1);
    let row = store.receipt("POS00001-000001-000007").await.expect("read").expect("stored");
    assert_eq!(row.ack, stored_acks[0]);
}

/// Many receipts at once (on SQLite they share one group commit): each new one is stored, a
/// receipt of an unregistered terminal fails alone, and a conflicting one conflicts.
async fn concurrent_receipts_get_their_own_outcomes(store: &Store) {
    register(store, "POS00002", "M1").await;
    let first = receipt("POS00002", 1, 1_700_000_000_000, 100);
    assert!(matches!(store.store_receipt(&first).await.expect("store"), StoreOutcome::Stored(_)));
    let barrier = Arc::new(Barrier::new(22));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..22u32 {
        let (store, barrier) = (store.clone(), barrier.clone());
        let upload = match i {
            20 => receipt("POS09999", 5, 1_700_000_000_000, 100),
            21 => {
                let mut other = receipt("POS00002", 1, 1_700_000_000_000, 999);
                other.record = b"a different record".to_vec();
                other.record_hash = sha256(&other.record);
                other
            }
            _ => receipt("POS00002", i64::from(i) + 2, 1_700_000_000_000 + i64::from(i) * 1_000, 100 + i64::from(i)),
        };
        tasks.spawn(async move {
            barrier.wait().await;
            (i, store.store_receipt(&upload).await)
        });
    }
    while let Some(joined) = tasks.join_next().await {
        match joined.expect("task") {
            (20, r) => assert!(matches!(r, Err(StoreError::UnknownTerminal(_))), "{r:?}"),
            (21, r) => assert!(matches!(r, Ok(StoreOutcome::Conflict { .. })), "{r:?}"),
            (i, r) => assert!(matches!(r, Ok(StoreOutcome::Stored(_))), "{i}: {r:?}"),
        }
    }
    assert_eq!(store.receipt_count().await.expect("count"), 21);
    let kept = store.receipt("POS00002-000001-000001").await.expect("read").expect("stored");
    assert_eq!(kept.record_hash, first.record_hash, "the conflicting upload changed nothing");
}

async fn a_stored_receipt_reads_back_whole(store: &Store) {
    register(store, "POS00001", "M1").await;
    let with_chain = receipt("POS00001", 1, 1_700_000_000_000, 12_345);
    let mut without_chain = receipt("POS00001", 2, 1_700_000_100_000, 99);
    without_chain.sequence = None;
    without_chain.previous_hash = None;
    without_chain.time = super::at(1_700_000_100_000, -300);
    without_chain.png = (0..=255).cycle().take(100_000).collect();
    for r in [&with_chain, &without_chain] {
        store.store_receipt(r).await.expect("store");
        let row = store.receipt(&r.receipt_id).await.expect("read").expect("stored");
        assert_eq!(row, stored(r, row.ingest_seq));
        assert_eq!(store.receipt_image(&r.receipt_id).await.expect("image").as_ref(), Some(&r.png));
    }
    assert_eq!(store.receipt("POS00001-000001-999999").await.expect("read"), None);
    assert_eq!(store.receipt_image("POS00001-000001-999999").await.expect("image"), None);
}

async fn the_chain_follows_arrival_order(store: &Store) {
    register(store, "POS00001", "M1").await;
    register(store, "POS00002", "M1").await;
    // Uploads arrive out of chain order, interleaved with another terminal's.
    let arrivals = [("POS00001", 3), ("POS00002", 1), ("POS00001", 1), ("POS00001", 2), ("POS00002", 2)];
    for (i, (terminal, serial)) in arrivals.into_iter().enumerate() {
        let mut r = receipt(terminal, serial, 1_700_000_000_000 - i as i64 * 1_000, 100);
        r.received_at = 1_800_000_000_000 + i as i64;
        store.store_receipt(&r).await.expect("store");
    }
    let chain = store.chain("POS00001").await.expect("chain");
    let order: Vec<(&str, Option<i64>)> = chain.iter().map(|e| (e.receipt_id.as_str(), e.sequence)).collect();
    assert_eq!(
        order,
        [("POS00001-000001-000003", Some(3)), ("POS00001-000001-000001", Some(1)), ("POS00001-000001-000002", Some(2))]
    );
    assert!(chain.windows(2).all(|w| w[0].ingest_seq < w[1].ingest_seq), "ingest_seq increases: {chain:?}");
    assert_eq!(chain[0].record_hash, receipt("POS00001", 3, 1_700_000_000_000, 100).record_hash);
    assert_eq!(chain[0].previous_hash, Some(vec![0xAB; 32]));
    assert_eq!(chain[1].received_at, 1_800_000_000_002);
    assert!(store.chain("POS09999").await.expect("chain").is_empty());
}

async fn refusals_list_newest_first(store: &Store) {
    assert!(store.refusals(10).await.expect("none yet").is_empty());
    let refusal = |at: i64| Refusal {
        at,
        terminal_id: "POS00001".to_owned(),
        receipt_id: format!("POS00001-000001-{at:06}"),
        reason: "a different receipt under an existing id".to_owned(),
    };
    for at in [100, 300, 200] {
        store.record_refusal(&refusal(at)).await.expect("record");
    }
    assert_eq!(store.refusals(10).await.expect("list"), [refusal(300), refusal(200), refusal(100)]);
    assert_eq!(store.refusals(2).await.expect("list"), [refusal(300), refusal(200)]);
}

async fn data_survives_reopening(store: &Store, url: &str) {
    store.ping().await.expect("ping");
    register(store, "POS00001", "M1").await;
    let r = receipt("POS00001", 42, 1_700_000_000_000, 4_200);
    store.store_receipt(&r).await.expect("store");
    let backend = store.backend();
    assert_eq!(backend, if url.starts_with("sqlite:") { Backend::Sqlite } else { Backend::Postgres });
    store.close().await;

    // Migrations run again on an up-to-date schema without harm.
    let reopened = Store::connect(url).await.expect("reopen");
    assert_eq!(reopened.backend(), backend);
    reopened.ping().await.expect("ping");
    assert_eq!(reopened.receipt_count().await.expect("count"), 1);
    assert_eq!(reopened.receipt_image(&r.receipt_id).await.expect("image"), Some(r.png.clone()));
    assert_eq!(reopened.terminal("POS00001").await.expect("read").map(|t| t.merchant_id), Some("M1".to_owned()));
    assert_eq!(reopened.store_receipt(&r).await.expect("retry"), StoreOutcome::Duplicate(r.ack.clone()));
    reopened.close().await;
}

/// R1: on a full disk SQLite ends a transaction by itself when its COMMIT fails. The store must
/// then acknowledge only receipts it committed, and must not go on writing later ones into a
/// transaction that never commits (sqlx lost count of it, and the platform acknowledged receipts
/// that were gone when it stopped). Every receipt answered `Stored` is in the file as another
/// process sees it, those refused were refused for the full disk, and once space is back
/// receipts are stored again. SQLite only: the group commit and the auto-rollback are SQLite's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk() {
    let fs = SmallFs::mount(4).expect("a small filesystem to fill");
    let db = fs.dir().join("store.db");
    let store = Store::connect(&format!("sqlite:{}", db.display())).await.expect("open");
    register(&store, "POS00001", "M1").await;
    let upload = |serial: i64, image_bytes: usize| {
        let mut r = receipt("POS00001", serial, 1_700_000_000_000 + serial * 1_000, 100);
        r.png = vec![u8::try_from(serial % 251).unwrap_or(0); image_bytes];
        r.delivery = Some(choice("email", &format!("buyer{serial}@example.com")));
        r
    };
    let mut acknowledged = Vec::new();
    for serial in 1..=2 {
        let r = upload(serial, 1_000);
        assert!(matches!(store.store_receipt(&r).await, Ok(StoreOutcome::Stored(_))), "room to spare");
        acknowledged.push(r.receipt_id);
    }
    fs.fill("filler").expect("fill the disk");
    let mut refused = 0;
    // One at a time and then several at once, so a group commit holds more than one.
    for round in 0..3 {
        let mut tasks = tokio::task::JoinSet::new();
        for k in 0..(1 + round * 3) {
            let r = upload(10 + round * 10 + k, 40_000);
            let store = store.clone();
            tasks.spawn(async move { (r.receipt_id.clone(), store.store_receipt(&r).await) });
        }
        while let Some(joined) = tasks.join_next().await {
            match joined.expect("task") {
                (id, Ok(StoreOutcome::Stored(_))) => acknowledged.push(id),
                (_, Err(e)) => {
                    assert!(e.to_string().contains("full"), "refused for the full disk: {e}");
                    refused += 1;
                }
                (id, other) => panic!("{id}: {other:?}"),
            }
        }
    }
    assert!(refused > 0, "the disk was not full: nothing was refused");
    std::fs::remove_file(fs.dir().join("filler")).expect("give the space back");
    for serial in 100..=103 {
        let r = upload(serial, 40_000);
        let outcome = store.store_receipt(&r).await;
        assert!(matches!(outcome, Ok(StoreOutcome::Stored(_))), "space is back: {outcome:?}");
        acknowledged.push(r.receipt_id);
    }
    // What another process finds in the file.
    let mut other =
        sqlx::sqlite::SqliteConnection::connect(&format!("sqlite://{}?mode=ro", db.display())).await.expect("open");
    let in_file: Vec<String> =
        sqlx::query_scalar("SELECT receipt_id FROM receipts").fetch_all(&mut other).await.expect("read");
    let jobs: Vec<String> =
        sqlx::query_scalar("SELECT receipt_id FROM deliveries").fetch_all(&mut other).await.expect("read");
    for id in &acknowledged {
        assert!(in_file.contains(id), "{id} was acknowledged but is not in the file ({} are)", in_file.len());
        assert!(jobs.contains(id), "{id} was acknowledged but has no delivery job");
    }
    assert_eq!(in_file.len(), acknowledged.len(), "only acknowledged receipts are stored");
    store.close().await;
}
