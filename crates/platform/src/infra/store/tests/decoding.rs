//! Rows that do not decode (written by a newer version, or by hand): each read names the column
//! and the value instead of guessing. (A delivery's channel and state cannot go wrong so: the
//! schema's CHECK constraints keep them to the names this version knows.)

use super::{behaviours, receipt, register};
use crate::infra::store::{Store, StoreError};

behaviours!(an_unknown_stored_value_is_named_not_guessed);

const T0: i64 = 1_764_050_591_000;

/// Whether `e` is about `column` holding `value`.
fn names(e: &StoreError, column: &str, value: &str) -> bool {
    matches!(e, StoreError::Undecodable { column: c, value: v, .. } if *c == column && v == value)
}

/// Overwrites one column of the stored receipt `id`, as another program could.
async fn overwrite(store: &Store, id: &str, set: &str) {
    sqlx::query(&format!("UPDATE receipts SET {set} WHERE receipt_id = $1"))
        .bind(id)
        .execute(&store.pool)
        .await
        .expect("overwrite");
}

async fn an_unknown_stored_value_is_named_not_guessed(store: &Store) {
    register(store, "POS00001", "M1").await;
    let r = receipt("POS00001", 1, T0, 500);
    store.store_receipt(&r).await.expect("store");
    let id = r.receipt_id.as_str();
    assert_eq!(store.receipt(id).await.expect("read").expect("stored").amount.to_string(), "CNY 5.00");

    // The same minor units in yen are 500 yen, not 5.00: the currency's exponent decides.
    overwrite(store, id, "currency = 'JPY'").await;
    assert_eq!(store.receipt(id).await.expect("read").expect("stored").amount.to_string(), "JPY 500");

    for (set, column, value) in [
        ("currency = 'XXX'", "currency", "XXX"),
        ("amount_minor = 0", "amount_minor", "0"),
        ("tx_time = 1764050591123", "tx_time", "1764050591123"),
        ("tx_offset_minutes = 2000", "tx_offset_minutes", "2000"),
        ("delivery_channel = 'fax', delivery_to = '+8613800138000'", "delivery_channel", "fax"),
        ("delivery_channel = 'sms', delivery_to = 'nobody'", "delivery_to", "nobody"),
    ] {
        overwrite(store, id, "currency = 'CNY', amount_minor = 500, tx_time = 1764050591000, tx_offset_minutes = 480")
            .await;
        overwrite(store, id, "delivery_channel = NULL, delivery_to = NULL").await;
        overwrite(store, id, set).await;
        let e = store.receipt(id).await.expect_err(set);
        assert!(names(&e, column, value), "{set}: {e}");
        assert!(e.to_string().contains(column) && e.to_string().contains(value), "{e}");
        // A search that meets the row says so too, rather than skipping it.
        assert!(store.search(&Default::default()).await.is_err_and(|e| names(&e, column, value)), "{set}");
    }
}
