//! Searching receipts: each filter, range edges, keyset paging.

use std::collections::HashSet;

use super::{assert_err, behaviours, receipt, register};
use crate::domain::amounts;
use crate::infra::store::{ReceiptQuery, Store, StoreError};

behaviours!(
    each_filter_narrows_the_search,
    ranges_include_from_and_exclude_to,
    amounts_typed_without_a_currency_read_in_each_receipts_own,
    paging_visits_every_receipt_once
);

async fn ids(store: &Store, q: ReceiptQuery) -> Vec<String> {
    let page = store.search(&q).await.expect("search");
    assert_eq!(page.next_cursor, None, "small results fit one page");
    page.items.into_iter().map(|r| r.receipt_id).collect()
}

/// A sale time the others count from (Unix ms).
const T: i64 = 1_700_000_000_000;

/// Stores a (POS00001 #1, t=T+1000, 100 CNY), b (POS00001 #2, t=T+2000, 200 USD),
/// c (POS00002 #1, t=T+3000, 300 CNY, card 0001) and d (POS00002 #3, t=T+4000, 400 CNY, rrn X).
async fn four_receipts(store: &Store) {
    register(store, "POS00001", "M-POS00001").await;
    register(store, "POS00002", "M-POS00002").await;
    let a = receipt("POS00001", 1, T + 1_000, 100);
    let mut b = receipt("POS00001", 2, T + 2_000, 200);
    b.amount = super::money(200, "USD");
    let mut c = receipt("POS00002", 1, T + 3_000, 300);
    c.card_masked = "411111******0001".to_owned();
    c.card_last4 = "0001".to_owned();
    let mut d = receipt("POS00002", 3, T + 4_000, 400);
    d.rrn = "X".to_owned();
    for r in [a, b, c, d] {
        store.store_receipt(&r).await.expect("store");
    }
}

const A: &str = "POS00001-000001-000001";
const B: &str = "POS00001-000001-000002";
const C: &str = "POS00002-000001-000001";
const D: &str = "POS00002-000001-000003";

async fn each_filter_narrows_the_search(store: &Store) {
    four_receipts(store).await;
    let some = |s: &str| Some(s.to_owned());
    assert_eq!(ids(store, ReceiptQuery::default()).await, [D, C, B, A]);
    assert_eq!(ids(store, ReceiptQuery { merchant_id: some("M-POS00001"), ..Default::default() }).await, [B, A]);
    assert_eq!(ids(store, ReceiptQuery { terminal_id: some("POS00002"), ..Default::default() }).await, [D, C]);
    assert_eq!(ids(store, ReceiptQuery { currency: some("USD"), ..Default::default() }).await, [B]);
    assert_eq!(ids(store, ReceiptQuery { serial: Some(1), ..Default::default() }).await, [C, A]);
    assert_eq!(ids(store, ReceiptQuery { rrn: some("X"), ..Default::default() }).await, [D]);
    assert_eq!(ids(store, ReceiptQuery { card_last4: some("0001"), ..Default::default() }).await, [C]);
    assert_eq!(ids(store, ReceiptQuery { card_last4: some("3446"), ..Default::default() }).await, [D, B, A]);
    // Filters combine with AND.
    let q =
        ReceiptQuery { terminal_id: some("POS00002"), serial: Some(1), currency: some("CNY"), ..Default::default() };
    assert_eq!(ids(store, q).await, [C]);
    let q = ReceiptQuery { merchant_id: some("M-POS00001"), rrn: some("X"), ..Default::default() };
    assert!(ids(store, q).await.is_empty());
    assert!(ids(store, ReceiptQuery { merchant_id: some("nobody"), ..Default::default() }).await.is_empty());
}

async fn ranges_include_from_and_exclude_to(store: &Store) {
    four_receipts(store).await;
    let time = |from, to| ReceiptQuery { from, to, ..Default::default() };
    assert_eq!(ids(store, time(Some(T + 2_000), Some(T + 4_000))).await, [C, B]);
    assert_eq!(ids(store, time(Some(T + 2_001), Some(T + 4_001))).await, [D, C]);
    assert_eq!(ids(store, time(Some(T + 1_000), None)).await, [D, C, B, A]);
    assert_eq!(ids(store, time(None, Some(T + 1_000))).await, Vec::<String>::new());
    assert_eq!(ids(store, time(None, Some(T + 1_001))).await, [A]);
    assert!(ids(store, time(Some(T + 3_000), Some(T + 3_000))).await.is_empty());

    let amount = |min_amount, max_amount| ReceiptQuery { min_amount, max_amount, ..Default::default() };
    assert_eq!(ids(store, amount(Some(200), Some(300))).await, [C, B]);
    assert_eq!(ids(store, amount(Some(201), Some(399))).await, [C]);
    assert_eq!(ids(store, amount(Some(400), None)).await, [D]);
    assert_eq!(ids(store, amount(None, Some(100))).await, [A]);
    assert!(ids(store, amount(Some(301), Some(299))).await.is_empty());

    let q = ReceiptQuery {
        from: Some(T + 1_000),
        to: Some(T + 4_000),
        min_amount: Some(150),
        currency: Some("CNY".into()),
        ..Default::default()
    };
    assert_eq!(ids(store, q).await, [C]);
}

async fn amounts_typed_without_a_currency_read_in_each_receipts_own(store: &Store) {
    register(store, "POS00001", "M-POS00001").await;
    // 500 yen, 5.00 yuan and 500.00 yuan, 0.500 dinar: 500 minor units each but the last.
    let mut yen = receipt("POS00001", 1, T + 1_000, 500);
    yen.amount = super::money(500, "JPY");
    let five_yuan = receipt("POS00001", 2, T + 2_000, 500);
    let five_hundred_yuan = receipt("POS00001", 3, T + 3_000, 50_000);
    let mut dinar = receipt("POS00001", 4, T + 4_000, 500);
    dinar.amount = super::money(500, "BHD");
    for r in [&yen, &five_yuan, &five_hundred_yuan, &dinar] {
        store.store_receipt(r).await.expect("store");
    }
    let typed = |min: &str, max: &str| {
        let (min, max) = (amounts::parse_any(min).expect("min"), amounts::parse_any(max).expect("max"));
        ReceiptQuery { amount_bands: amounts::bands_for_any_currency(Some(min), Some(max)), ..Default::default() }
    };
    let (yen_id, cny_500) = (yen.receipt_id.clone(), five_hundred_yuan.receipt_id.clone());
    assert_eq!(ids(store, typed("500", "500")).await, [cny_500.clone(), yen_id.clone()], "500 of anything");
    assert_eq!(ids(store, typed("0.5", "5")).await, [dinar.receipt_id.clone(), five_yuan.receipt_id.clone()]);
    assert_eq!(ids(store, typed("499.5", "500.4")).await, [cny_500.clone(), yen_id.clone()], "whole yen inside");
    // With the currency chosen, its minor units exactly.
    let q = ReceiptQuery {
        currency: Some("JPY".into()),
        min_amount: Some(500),
        max_amount: Some(500),
        ..Default::default()
    };
    assert_eq!(ids(store, q).await, [yen_id]);
    // Bands combine with the other filters.
    let q = ReceiptQuery { merchant_id: Some("nobody".into()), ..typed("500", "500") };
    assert!(ids(store, q).await.is_empty());
}

async fn paging_visits_every_receipt_once(store: &Store) {
    register(store, "POS00001", "M-POS00001").await;
    // 120 receipts, three to each transaction time, so pages split ties.
    let mut expected = Vec::new();
    for serial in 0..120 {
        let r = receipt("POS00001", serial, 1_700_000_000_000 + serial / 3 * 1_000, 100 + serial);
        store.store_receipt(&r).await.expect("store");
        expected.push((r.time.utc_seconds(), r.receipt_id));
    }
    expected.sort_by(|a, b| b.cmp(a));

    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = store.search(&ReceiptQuery { limit: 7, cursor, ..Default::default() }).await.expect("page");
        assert!(page.items.len() <= 7);
        seen.extend(page.items.into_iter().map(|r| (r.time.utc_seconds(), r.receipt_id)));
        pages += 1;
        if pages == 1 {
            // A sale arriving while someone pages must not shift later pages.
            let newest = receipt("POS00001", 500, 1_800_000_000_000, 1);
            store.store_receipt(&newest).await.expect("store");
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, 18, "120 receipts in pages of 7");
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), seen.len(), "no receipt twice");
    assert_eq!(seen, expected, "every receipt, newest first, ties by id");

    // Page sizes: 0 means 50, the rest is clamped to 1..=200.
    let size = |limit| async move { store.search(&ReceiptQuery { limit, ..Default::default() }).await.expect("page") };
    assert_eq!(size(0).await.items.len(), 50);
    assert_eq!(size(-3).await.items.len(), 1);
    let all = size(1_000).await;
    assert_eq!((all.items.len(), all.next_cursor), (121, None));
    // A filter and a cursor together.
    let q = ReceiptQuery { max_amount: Some(150), limit: 10, ..Default::default() };
    let first = store.search(&q).await.expect("page");
    let second = store.search(&ReceiptQuery { cursor: first.next_cursor.clone(), ..q.clone() }).await.expect("page");
    assert!(first.items.iter().chain(&second.items).all(|r| r.amount.minor() <= 150));
    assert_eq!(first.items.len() + second.items.len(), 20);

    for bad in ["garbage", "1700000000000.zz", "1.", "notanumber.41"] {
        let q = ReceiptQuery { cursor: Some(bad.to_owned()), ..Default::default() };
        assert_err(store.search(&q).await, |e| matches!(e, StoreError::BadCursor));
    }
}
