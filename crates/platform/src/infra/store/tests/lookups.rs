//! The portal's lookups: delivery states of many receipts at once (CSV export), and a receipt's
//! neighbours in its terminal's chain (the acquirer's chain proof).

use super::{behaviours, receipt, register};
use crate::domain::delivery::DeliveryState;
use crate::infra::store::Store;

behaviours!(delivery_states_name_channel_and_state_of_each_receipt, chain_neighbours_are_the_adjacent_sequences);

const T0: i64 = 1_700_000_000_000;

async fn delivery_states_name_channel_and_state_of_each_receipt(store: &Store) {
    register(store, "T1", "M-T1").await;
    let mut ids = Vec::new();
    for (serial, delivery) in
        [(1, Some(("email", "li.na@example.com"))), (2, Some(("pull", "+8613700137000"))), (3, None)]
    {
        let mut r = receipt("T1", serial, T0 + serial * 1_000, 100);
        r.delivery = delivery.map(|(c, to)| super::choice(c, to));
        store.store_receipt(&r).await.expect("store");
        ids.push(r.receipt_id);
    }
    // More ids than one IN list holds, most of them unknown.
    let mut asked: Vec<String> = (0..1200).map(|i| format!("T1-000001-9{i:05}")).collect();
    asked.extend(ids.iter().cloned());
    let states = store.delivery_states(&asked).await.expect("states");
    assert_eq!(states.len(), 2, "{states:?}");
    assert_eq!(states.get(&ids[0]), Some(&("email", Some(DeliveryState::Queued))), "a push delivery, queued");
    assert_eq!(states.get(&ids[1]), Some(&("pull", None)), "pull: nothing is sent");
    assert_eq!(states.get(&ids[2]), None, "no choice");
    assert!(store.delivery_states(&[]).await.expect("none").is_empty());
}

async fn chain_neighbours_are_the_adjacent_sequences(store: &Store) {
    register(store, "T1", "M-T1").await;
    register(store, "T2", "M-T2").await;
    for serial in 1..=4 {
        store.store_receipt(&receipt("T1", serial, T0 + serial * 1_000, 100)).await.expect("store");
        store.store_receipt(&receipt("T2", serial, T0 + serial * 1_000, 100)).await.expect("store");
    }
    let (before, after) = store.chain_neighbours("T1", 2).await.expect("neighbours");
    assert_eq!(before.iter().map(|e| e.receipt_id.as_str()).collect::<Vec<_>>(), ["T1-000001-000001"]);
    assert_eq!(after.iter().map(|e| e.receipt_id.as_str()).collect::<Vec<_>>(), ["T1-000001-000003"]);
    assert_eq!(after[0].sequence, Some(3));
    let (before, after) = store.chain_neighbours("T1", 1).await.expect("first");
    assert!(before.is_empty(), "the first receipt has no predecessor");
    assert_eq!(after.len(), 1);
    let (_, after) = store.chain_neighbours("T1", 4).await.expect("last");
    assert!(after.is_empty(), "nothing after the newest");
}
