//! Links between receipts: a void, refund or completion is linked to its original of the same
//! merchant when they agree, waits for an original not yet held, and the original's net follows.

use std::sync::Arc;

use ereceipt_core::model::TransactionType;

use super::{behaviours, receipt, register, sha256};
use crate::domain::lineage::{LinkState, Named, Problem};
use crate::infra::store::{NewReceipt, Store, StoreOutcome};

behaviours!(
    refunds_and_a_void_link_to_their_sales_and_the_net_follows,
    a_child_before_its_original_waits_and_links_when_it_comes,
    another_merchants_receipt_is_never_an_original,
    a_completion_links_to_its_pre_authorisation_by_code_and_date,
    concurrent_refunds_never_give_back_more_than_the_sale,
    old_receipts_are_classified_and_linked_at_start,
);

const T0: i64 = 1_764_050_591_000;
const MERCHANT: &str = "104110070110001";

/// Receipt `serial` of `terminal` for merchant `merchant`, of `kind`, naming `named`.
fn of_kind(
    terminal: &str,
    merchant: &str,
    serial: i64,
    minor: i64,
    kind: TransactionType,
    named: Option<Named>,
) -> NewReceipt {
    let mut r = receipt(terminal, serial, T0 + serial * 1000, minor);
    r.merchant_id = merchant.into();
    r.lineage.kind = kind;
    r.lineage.named = named;
    r
}

fn sale(serial: i64, minor: i64) -> NewReceipt {
    of_kind("POS00001", MERCHANT, serial, minor, TransactionType::Sale, None)
}

/// A refund naming `original` by RRN and date only (as a refund of another terminal's sale does).
fn refund_of(original: &NewReceipt, serial: i64, minor: i64) -> NewReceipt {
    let named =
        Named { rrn: Some(original.rrn.clone()), date: original.lineage.local_date.clone(), ..Named::default() };
    of_kind("POS00001", MERCHANT, serial, minor, TransactionType::Refund, Some(named))
}

fn void_of(original: &NewReceipt, serial: i64) -> NewReceipt {
    let named = Named {
        receipt_id: Some(original.receipt_id.clone()),
        batch: Some(original.batch),
        voucher: Some(original.lineage.voucher),
        rrn: Some(original.rrn.clone()),
        auth_code: Some(original.auth_code.clone()),
        date: original.lineage.local_date.clone(),
    };
    of_kind("POS00001", MERCHANT, serial, original.amount.minor() as i64, TransactionType::Void, Some(named))
}

async fn put(store: &Store, r: &NewReceipt) {
    assert!(matches!(store.store_receipt(r).await.expect("store"), StoreOutcome::Stored(_)), "{}", r.receipt_id);
}

/// The link state, problem and original of receipt `id`.
async fn link_of(store: &Store, id: &str) -> (LinkState, Option<Problem>, Option<String>) {
    let r = store.receipt(id).await.expect("read").expect("stored");
    let l = r.link.expect("a child has a link");
    (l.state, l.problem, l.linked_to)
}

async fn refunds_and_a_void_link_to_their_sales_and_the_net_follows(store: &Store) {
    register(store, "POS00001", MERCHANT).await;
    let first = sale(1, 10_000);
    put(store, &first).await;
    let part = refund_of(&first, 2, 3_000);
    put(store, &part).await;
    assert_eq!(link_of(store, &part.receipt_id).await, (LinkState::Verified, None, Some(first.receipt_id.clone())));
    let too_much = refund_of(&first, 3, 8_000);
    put(store, &too_much).await;
    assert_eq!(
        link_of(store, &too_much.receipt_id).await,
        (LinkState::Mismatch, Some(Problem::OverRefunded), Some(first.receipt_id.clone())),
        "7,000 remain refundable"
    );
    let stored = store.receipt(&first.receipt_id).await.expect("read").expect("stored");
    assert_eq!(stored.net_minor(), Some(7_000), "only the verified refund counts");
    assert_eq!(stored.link, None, "a sale names no original");
    let family = store.family(&stored).await.expect("family");
    let children: Vec<_> = family.children.iter().map(|c| (c.receipt_id.clone(), c.kind, c.signed_minor())).collect();
    assert_eq!(
        children,
        [
            (part.receipt_id.clone(), TransactionType::Refund, -3_000),
            (too_much.receipt_id.clone(), TransactionType::Refund, -8_000)
        ]
    );
    let family = store.family(&store.receipt(&part.receipt_id).await.expect("read").expect("stored")).await.expect("f");
    assert_eq!(family.original.map(|o| o.receipt_id), Some(first.receipt_id.clone()));

    let second = sale(4, 5_000);
    put(store, &second).await;
    let void = void_of(&second, 5);
    put(store, &void).await;
    assert_eq!(link_of(store, &void.receipt_id).await.0, LinkState::Verified);
    let again = void_of(&second, 6);
    put(store, &again).await;
    assert_eq!(link_of(store, &again.receipt_id).await.1, Some(Problem::AlreadyVoided));
    let late_refund = refund_of(&second, 7, 100);
    put(store, &late_refund).await;
    assert_eq!(link_of(store, &late_refund.receipt_id).await.1, Some(Problem::AlreadyVoided));
    let voided = store.receipt(&second.receipt_id).await.expect("read").expect("stored");
    assert_eq!(voided.net_minor(), Some(0));
}

async fn a_child_before_its_original_waits_and_links_when_it_comes(store: &Store) {
    register(store, "POS00001", MERCHANT).await;
    register(store, "POS00002", MERCHANT).await;
    // The sale was made on POS00002, whose upload comes late; the refund on POS00001.
    let original = of_kind("POS00002", MERCHANT, 1, 10_000, TransactionType::Sale, None);
    let refund = refund_of(&original, 1, 2_500);
    put(store, &refund).await;
    assert_eq!(link_of(store, &refund.receipt_id).await, (LinkState::Pending, None, None));
    // An unrelated sale of the same merchant does not adopt it.
    put(store, &sale(2, 10_000)).await;
    assert_eq!(link_of(store, &refund.receipt_id).await.0, LinkState::Pending);
    put(store, &original).await;
    assert_eq!(
        link_of(store, &refund.receipt_id).await,
        (LinkState::Verified, None, Some(original.receipt_id.clone()))
    );
    let stored = store.receipt(&original.receipt_id).await.expect("read").expect("stored");
    assert_eq!(stored.net_minor(), Some(7_500));
}

async fn another_merchants_receipt_is_never_an_original(store: &Store) {
    register(store, "POS00001", MERCHANT).await;
    register(store, "POS00009", "104110070119999").await;
    let theirs = of_kind("POS00009", "104110070119999", 1, 10_000, TransactionType::Sale, None);
    put(store, &theirs).await;
    // Merchant 1's terminal names the other merchant's sale by id, and then by RRN and date.
    let by_id = void_of(&theirs, 1);
    put(store, &by_id).await;
    let by_rrn = refund_of(&theirs, 2, 100);
    put(store, &by_rrn).await;
    for id in [&by_id.receipt_id, &by_rrn.receipt_id] {
        assert_eq!(link_of(store, id).await, (LinkState::Pending, None, None), "{id}");
    }
    let stored = store.receipt(&theirs.receipt_id).await.expect("read").expect("stored");
    assert_eq!(stored.net_minor(), Some(10_000));
    assert!(store.family(&stored).await.expect("family").children.is_empty());
}

async fn a_completion_links_to_its_pre_authorisation_by_code_and_date(store: &Store) {
    register(store, "POS00001", MERCHANT).await;
    let mut pre_auth = of_kind("POS00001", MERCHANT, 1, 10_000, TransactionType::PreAuth, None);
    pre_auth.auth_code = "P4U7H0".into();
    put(store, &pre_auth).await;
    let named =
        Named { auth_code: Some("P4U7H0".into()), date: pre_auth.lineage.local_date.clone(), ..Named::default() };
    let completion = of_kind("POS00001", MERCHANT, 2, 11_500, TransactionType::PreAuthCompletion, Some(named.clone()));
    put(store, &completion).await;
    assert_eq!(
        link_of(store, &completion.receipt_id).await,
        (LinkState::Verified, None, Some(pre_auth.receipt_id.clone()))
    );
    let second = of_kind("POS00001", MERCHANT, 3, 100, TransactionType::PreAuthCompletion, Some(named.clone()));
    put(store, &second).await;
    assert_eq!(link_of(store, &second.receipt_id).await.1, Some(Problem::AlreadyCompleted));
    let named_again = named.clone();
    let wrong_day = Named { date: "2020-01-01".into(), ..named };
    let stray = of_kind("POS00001", MERCHANT, 4, 100, TransactionType::PreAuthCompletion, Some(wrong_day));
    put(store, &stray).await;
    assert_eq!(link_of(store, &stray.receipt_id).await.0, LinkState::Pending, "no pre-authorisation of that day");
    let held = store.receipt(&pre_auth.receipt_id).await.expect("read").expect("stored");
    assert_eq!(held.net_minor(), None, "a hold has no net of its own");
    // The completion is a charge: a void of it links to it and takes its net to zero.
    let void = void_of(&completion, 5);
    put(store, &void).await;
    assert_eq!(link_of(store, &void.receipt_id).await.0, LinkState::Verified);
    let charged = store.receipt(&completion.receipt_id).await.expect("read").expect("stored");
    assert_eq!(charged.net_minor(), Some(0));
    // 预授权完成撤销 gives the hold back: a new completion of the pre-authorisation stands.
    let anew = of_kind("POS00001", MERCHANT, 6, 9_000, TransactionType::PreAuthCompletion, Some(named_again));
    put(store, &anew).await;
    assert_eq!(link_of(store, &anew.receipt_id).await, (LinkState::Verified, None, Some(pre_auth.receipt_id.clone())));
}

async fn concurrent_refunds_never_give_back_more_than_the_sale(store: &Store) {
    register(store, "POS00001", MERCHANT).await;
    let first = sale(1, 10_000);
    put(store, &first).await;
    let store = Arc::new(store.clone());
    let mut tasks = tokio::task::JoinSet::new();
    for serial in 2..10 {
        let (store, refund) = (store.clone(), refund_of(&first, serial, 2_000));
        tasks.spawn(async move {
            put(&store, &refund).await;
            refund.receipt_id
        });
    }
    let mut verified = 0;
    while let Some(id) = tasks.join_next().await {
        let (state, problem, _) = link_of(&store, &id.expect("task")).await;
        match state {
            LinkState::Verified => verified += 1,
            _ => assert_eq!(problem, Some(Problem::OverRefunded)),
        }
    }
    assert_eq!(verified, 5, "five refunds of 2,000 fit a sale of 10,000");
    let stored = store.receipt(&first.receipt_id).await.expect("read").expect("stored");
    assert_eq!(stored.net_minor(), Some(0));
}

/// A real record (the core's encoding) of a sale or, with `original`, a refund, signed by a
/// terminal of `MERCHANT`; stored as a receipt of unknown kind, as before migration 0015.
fn real(seed: u64, original: Option<ereceipt_core::model::OriginalRef>, minor: u64) -> NewReceipt {
    use ereceipt_core::card::CardPolicy;
    use ereceipt_core::model::{Currency, Money, ReceiptId, ReceiptRecord};
    let now = chrono::Utc::now();
    let ca = ereceipt_core::identity::create_ca("test CA", now).expect("CA");
    let info = ereceipt_core::model::TerminalInfo {
        terminal_id: "POS00001".parse().expect("id"),
        merchant_id: MERCHANT.parse().expect("merchant"),
        merchant_name: "深圳湾咖啡".parse().expect("name"),
        location: "深圳市南山区".parse().expect("location"),
    };
    let cert = ereceipt_core::identity::issue_terminal(&ca, &info, now, 10).expect("terminal certificate");
    let policy = CardPolicy { accept_clear_tracks: true, allow_chip_fallback: false };
    let json = ereceipt_core::samples::transaction_json(seed, "2026-11-25T14:03:11+08:00");
    let (mut transaction, _) = ereceipt_core::txjson::parse_transaction(&json, &policy).expect("sample");
    transaction.amount = Money::new(minor, Currency::CNY).expect("amount");
    if let Some(o) = original {
        transaction.kind = TransactionType::Refund;
        transaction.original = Some(o);
    }
    let record = ReceiptRecord {
        id: ReceiptId::derive(&info.terminal_id, transaction.batch, transaction.serial),
        terminal: info,
        transaction,
        signature: ereceipt_core::samples::signature(seed),
        certificate: cert.cert_der.clone(),
        chain: None,
    };
    let tx = &record.transaction;
    let mut r = receipt("POS00001", i64::from(tx.serial.value()), T0 + seed as i64 * 1000, minor as i64);
    r.receipt_id = record.id.to_string();
    r.merchant_id = MERCHANT.into();
    r.rrn = tx.rrn.to_string();
    r.record = ereceipt_core::encoding::encode_record(&record);
    r.record_hash = sha256(&r.record);
    r.lineage = crate::services::lineage::of_record(&record);
    r
}

async fn old_receipts_are_classified_and_linked_at_start(store: &Store) {
    register(store, "POS00001", MERCHANT).await;
    let sale = real(41, None, 10_000);
    let rrn = sale.rrn.parse().expect("rrn");
    let date = chrono::NaiveDate::parse_from_str(&sale.lineage.local_date, "%Y-%m-%d").expect("date");
    let named = ereceipt_core::model::OriginalRef {
        receipt_id: None,
        batch: None,
        voucher: None,
        rrn: Some(rrn),
        auth_code: None,
        date,
    };
    let refund = real(42, Some(named), 2_500);
    assert_eq!(refund.lineage.kind, TransactionType::Refund);
    put(store, &sale).await;
    put(store, &refund).await;
    // As the rows were before kinds were kept.
    sqlx::query(
        "UPDATE receipts SET kind = NULL, voucher = NULL, local_date = NULL, original_receipt_id = NULL, \
         original_rrn = NULL, original_auth_code = NULL, original_date = NULL, original_batch = NULL, \
         original_voucher = NULL, linked_to = NULL, link_state = NULL, link_problem = NULL, given_back_minor = 0",
    )
    .execute(&store.pool)
    .await
    .expect("forget the kinds");
    let before = store.receipt(&refund.receipt_id).await.expect("read").expect("stored");
    assert_eq!(
        (before.kind, before.link.is_none()),
        (TransactionType::Sale, true),
        "an unclassified row reads as a sale"
    );

    let done = crate::services::lineage::backfill(store).await.expect("backfill");
    assert_eq!((done.classified, done.undecodable), (2, 0));
    assert_eq!(link_of(store, &refund.receipt_id).await, (LinkState::Verified, None, Some(sale.receipt_id.clone())));
    let stored = store.receipt(&sale.receipt_id).await.expect("read").expect("stored");
    assert_eq!(stored.net_minor(), Some(7_500));
    let again = crate::services::lineage::backfill(store).await.expect("backfill");
    assert_eq!(again.classified, 0, "nothing is classified twice");
    assert_eq!(store.receipt(&sale.receipt_id).await.expect("read").expect("stored").net_minor(), Some(7_500));
}
