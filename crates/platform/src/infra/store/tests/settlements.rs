//! Settlement slips: stored once per terminal and batch (the same slip again is a duplicate,
//! another one a conflict), read back whole, their reconciliation replaced, listed per
//! merchant; and the records of a batch's receipts, which the reconciliation reads.

use super::{behaviours, receipt, register};
use crate::infra::store::{NewSettlement, Reconciled, SettlementOutcome, Store};

behaviours!(a_slip_is_stored_once_per_terminal_and_batch, a_reconciliation_is_replaced_and_a_batch_is_read,);

fn slip(terminal_id: &str, batch: i64, byte: u8) -> NewSettlement {
    NewSettlement {
        terminal_id: terminal_id.to_owned(),
        batch,
        merchant_id: format!("M-{terminal_id}"),
        slip_hash: [byte; 32],
        slip: vec![byte; 40],
        png: format!("\u{89}PNG slip {terminal_id} {batch}").into_bytes(),
        signer_serial: "0a1b2c".into(),
        settled_at: 1_700_000_000_000 + batch,
        settled_offset_minutes: 480,
        host_balanced: true,
        received_at: 1_700_000_005_000,
        reconciled: Reconciled { balanced: true, differences: "[]".into(), at: 1_700_000_005_000 },
    }
}

async fn a_slip_is_stored_once_per_terminal_and_batch(store: &Store) {
    register(store, "T0000001", "M-T0000001").await;
    let first = slip("T0000001", 1, 1);
    assert_eq!(store.store_settlement(&first).await.expect("store"), SettlementOutcome::Stored);
    assert_eq!(store.store_settlement(&first).await.expect("again"), SettlementOutcome::Duplicate);
    assert_eq!(store.store_settlement(&slip("T0000001", 1, 2)).await.expect("other"), SettlementOutcome::Conflict);
    assert_eq!(store.store_settlement(&slip("T0000001", 2, 2)).await.expect("batch 2"), SettlementOutcome::Stored);
    let row = store.settlement("T0000001", 1).await.expect("read").expect("stored");
    assert_eq!((row.slip_hash, row.slip.clone(), row.png.clone()), (first.slip_hash, first.slip, first.png));
    assert_eq!((row.settled_at, row.settled_offset_minutes, row.host_balanced), (1_700_000_000_001, 480, true));
    assert_eq!(row.reconciled, first.reconciled);
    assert!(store.settlement("T0000001", 3).await.expect("read").is_none());
    // An unregistered terminal's slip is refused by the foreign key.
    assert!(store.store_settlement(&slip("T0000009", 1, 1)).await.is_err());
    let listed = store.merchant_settlements("M-T0000001", 10).await.expect("list");
    assert_eq!(listed.iter().map(|r| r.batch).collect::<Vec<_>>(), [2, 1], "newest first");
}

async fn a_reconciliation_is_replaced_and_a_batch_is_read(store: &Store) {
    register(store, "T0000002", "M-T0000002").await;
    store.store_settlement(&slip("T0000002", 1, 3)).await.expect("store");
    let late = Reconciled { balanced: false, differences: r#"[{"kind":"SALE"}]"#.into(), at: 1_700_000_009_000 };
    assert!(store.set_reconciliation("T0000002", 1, &late).await.expect("update"));
    assert!(!store.set_reconciliation("T0000002", 7, &late).await.expect("no slip"));
    assert_eq!(store.settlement("T0000002", 1).await.expect("read").expect("stored").reconciled, late);
    for serial in [2, 1, 5] {
        store.store_receipt(&receipt("T0000002", serial, 1_700_000_000_000, 100)).await.expect("receipt");
    }
    let held = store.batch_receipts("T0000002", 1).await.expect("receipts");
    let ids: Vec<&str> = held.iter().map(|b| b.receipt.receipt_id.as_str()).collect();
    assert_eq!(ids, ["T0000002-000001-000001", "T0000002-000001-000002", "T0000002-000001-000005"]);
    assert!(held.iter().all(|b| b.kind_known), "stored with their kind");
    assert_eq!(held[0].receipt.record, b"record of T0000002-000001-000001".to_vec());
    assert!(store.batch_receipts("T0000002", 2).await.expect("receipts").is_empty());
    // Where the chain the platform holds goes on after a sequence number.
    assert_eq!(store.next_sequence_after("T0000002", 2).await.expect("next"), Some(5));
    assert_eq!(store.next_sequence_after("T0000002", 5).await.expect("next"), None);
}
