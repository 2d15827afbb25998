//! The terminal's own checks of an original, on a real journal: what a void, a refund and a
//! completion may take, and the refund's advice that is never reversed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::NaiveDate;
use ereceipt_core::model::{Money, TransactionType};

use super::*;
use crate::outbox::{new_request_id, AuthorisationState, NewAuthorisation, NewEntry, Trace};

async fn fresh() -> (tempfile::TempDir, Outbox) {
    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::open(&dir.path().join("outbox.db")).await.unwrap();
    (dir, outbox)
}

fn cny(minor: u64) -> Money {
    Money::new(minor, "CNY".parse().unwrap()).unwrap()
}

const DAY: &str = "2026-12-02";

fn day() -> NaiveDate {
    DAY.parse().unwrap()
}

fn request(operation: Operation, amount: Money) -> NewAuthorisation {
    NewAuthorisation {
        request_id: new_request_id(),
        amount,
        masked_pan: "622202*********3446".parse().unwrap(),
        time: format!("{DAY}T10:15:00+08:00").parse().unwrap(),
        terminal_id: "POS00001".parse().unwrap(),
        merchant_id: "898440358120001".parse().unwrap(),
        authoriser: "Simulated acquirer".into(),
        simulated: true,
        operator: "01".parse().unwrap(),
        operation,
    }
}

/// Journals `operation`, approves it with these codes and stores its receipt.
async fn done(outbox: &Outbox, operation: Operation, amount: Money, rrn: &str, auth: &str) -> (String, Trace) {
    let r = request(operation, amount);
    let trace = outbox.authorisation_requested(&r, 1_000).await.unwrap();
    outbox.authorisation_approved(&r.request_id, &auth.parse().unwrap(), &rrn.parse().unwrap(), 2_000).await.unwrap();
    let link = outbox.next_link().await.unwrap();
    let id = format!("POS00001-{:06}-{:06}", trace.batch, trace.trace);
    let record = format!("record {id}").into_bytes();
    let entry = NewEntry {
        receipt_id: id.clone(),
        sequence: link.sequence,
        record_hash: ereceipt_core::digest::sha256(&record),
        record,
        png: b"\x89PNG fake".to_vec(),
        batch: trace.batch,
        serial: trace.trace,
        delivery: None,
    };
    outbox.store_sale(&entry, Some(&r.request_id), 3_000).await.unwrap();
    (id, trace)
}

fn refused(e: OutboxError) -> String {
    match e {
        OutboxError::Original(m) => m,
        other => panic!("not a refusal of the original: {other:?}"),
    }
}

#[tokio::test]
async fn a_void_takes_a_sale_of_the_open_batch_once_for_its_whole_amount() {
    let (_dir, outbox) = fresh().await;
    let (receipt, sale) = done(&outbox, Operation::sale(), cny(12_850), "632914000001", "A1B2C3").await;

    let (op, amount) = prepare(&outbox, &Asked::Void { voucher: sale.trace }).await.unwrap();
    assert_eq!(amount, cny(12_850), "a void cancels the whole amount");
    assert_eq!((op.kind, op.voids), (TransactionType::Void, Some(TransactionType::Sale)));
    let o = op.original.clone().unwrap();
    assert_eq!(o.receipt_id.map(|r| r.to_string()), Some(receipt.clone()));
    assert_eq!((o.batch.map(|b| b.value()), o.voucher.map(|v| v.value())), (Some(sale.batch), Some(sale.trace)));
    assert_eq!(
        (o.rrn.map(|r| r.as_str().to_owned()), o.auth_code.map(|c| c.as_str().to_owned()), o.date),
        (Some("632914000001".into()), Some("A1B2C3".into()), day())
    );

    let unknown = refused(prepare(&outbox, &Asked::Void { voucher: 999 }).await.unwrap_err());
    assert!(unknown.contains("000999") && unknown.contains("not in the open batch"), "{unknown}");

    // The void is journalled: a second one is refused, and so by the journal itself.
    let void = request(op.clone(), amount);
    outbox.authorisation_requested(&void, 4_000).await.unwrap();
    let twice = refused(prepare(&outbox, &Asked::Void { voucher: sale.trace }).await.unwrap_err());
    assert!(twice.contains("already voided"), "{twice}");
    let again = request(op.clone(), amount);
    assert!(matches!(outbox.authorisation_requested(&again, 5_000).await, Err(OutboxError::Conflict(_))));

    // A void that got no answer and was reversed gives its sale back.
    outbox.authorisation_reversing(&void.request_id, false, 6_000).await.unwrap();
    outbox.authorisation_reversed(&void.request_id, "0410 00", 7_000).await.unwrap();
    assert!(prepare(&outbox, &Asked::Void { voucher: sale.trace }).await.is_ok(), "voidable again once reversed");

    // A void's own voucher cannot be voided; a void needs all of its original.
    let (_, refund) = done(
        &outbox,
        Operation {
            kind: TransactionType::Refund,
            original: Some(OriginalRef {
                receipt_id: None,
                batch: None,
                voucher: None,
                rrn: Some("632914999999".parse().unwrap()),
                auth_code: None,
                date: day(),
            }),
            voids: None,
        },
        cny(100),
        "632914000009",
        "R00001",
    )
    .await;
    let of_refund = refused(prepare(&outbox, &Asked::Void { voucher: refund.trace }).await.unwrap_err());
    assert!(of_refund.contains("REFUND") && of_refund.contains("sale or a completion"), "{of_refund}");
    let mut partial = op.clone();
    partial.original.as_mut().unwrap().auth_code = None;
    assert!(matches!(partial.check(), Err(OutboxError::Invalid(m)) if m.contains("authorisation code")));
}

#[tokio::test]
async fn a_refund_never_goes_above_what_remains_of_a_sale_this_terminal_knows() {
    let (_dir, outbox) = fresh().await;
    let (receipt, _) = done(&outbox, Operation::sale(), cny(10_000), "632914000002", "B1B2B3").await;
    let rrn: ereceipt_core::model::Rrn = "632914000002".parse().unwrap();
    let ask = |minor| Asked::Refund { rrn: rrn.clone(), date: day(), amount: cny(minor) };

    let (op, amount) = prepare(&outbox, &ask(3_000)).await.unwrap();
    assert_eq!((op.kind, amount), (TransactionType::Refund, cny(3_000)));
    assert_eq!(op.original.as_ref().and_then(|o| o.receipt_id.as_ref()).map(|r| r.to_string()), Some(receipt));
    // Journalled and left without an answer: it counts (it may stand at the host).
    let first = request(op, amount);
    outbox.authorisation_requested(&first, 4_000).await.unwrap();
    outbox.authorisation_advice_unanswered(&first.request_id, "no answer", 4_500).await.unwrap();

    let over = refused(prepare(&outbox, &ask(7_001)).await.unwrap_err());
    assert!(over.contains("above what remains") && over.contains("70.00"), "{over}");
    assert!(prepare(&outbox, &ask(7_000)).await.is_ok(), "the rest may be refunded");

    let wrong_day = Asked::Refund { rrn: rrn.clone(), date: "2026-12-01".parse().unwrap(), amount: cny(100) };
    let dated = refused(prepare(&outbox, &wrong_day).await.unwrap_err());
    assert!(dated.contains("2026-12-02"), "{dated}");

    // A sale this terminal never saw: only its reference and date go to the host.
    let elsewhere = Asked::Refund { rrn: "632914777777".parse().unwrap(), date: day(), amount: cny(50_000) };
    let (op, _) = prepare(&outbox, &elsewhere).await.unwrap();
    let o = op.original.unwrap();
    assert_eq!((o.receipt_id, o.voucher, o.auth_code, o.date), (None, None, None, day()));
}

#[tokio::test]
async fn a_voided_sale_cannot_be_refunded_and_a_refunded_one_cannot_be_voided() {
    let (_dir, outbox) = fresh().await;
    let (_, a) = done(&outbox, Operation::sale(), cny(5_000), "632914000003", "C1C2C3").await;
    let (void, amount) = prepare(&outbox, &Asked::Void { voucher: a.trace }).await.unwrap();
    done(&outbox, void, amount, "632914000004", "C1C2C3").await;
    let refund = Asked::Refund { rrn: "632914000003".parse().unwrap(), date: day(), amount: cny(100) };
    assert!(refused(prepare(&outbox, &refund).await.unwrap_err()).contains("voided"));

    let (_, b) = done(&outbox, Operation::sale(), cny(5_000), "632914000005", "D1D2D3").await;
    let refund = Asked::Refund { rrn: "632914000005".parse().unwrap(), date: day(), amount: cny(100) };
    let (op, amount) = prepare(&outbox, &refund).await.unwrap();
    done(&outbox, op, amount, "632914000006", "D1D2D3").await;
    let void = refused(prepare(&outbox, &Asked::Void { voucher: b.trace }).await.unwrap_err());
    assert!(void.contains("refund"), "{void}");
}

#[tokio::test]
async fn a_completion_takes_this_terminals_pre_authorisation_once_within_its_tolerance() {
    let (_dir, outbox) = fresh().await;
    let (receipt, pre) = done(&outbox, Operation::pre_auth(), cny(10_000), "632914000007", "P1P2P3").await;
    let ask = |minor| Asked::Completion { auth_code: "P1P2P3".parse().unwrap(), date: day(), amount: cny(minor) };

    let over = refused(prepare(&outbox, &ask(11_501)).await.unwrap_err());
    assert!(over.contains("15%") && over.contains("115.00"), "{over}");
    let (op, amount) = prepare(&outbox, &ask(11_500)).await.unwrap();
    assert_eq!((op.kind, amount), (TransactionType::PreAuthCompletion, cny(11_500)));
    let o = op.original.clone().unwrap();
    assert_eq!((o.receipt_id.map(|r| r.to_string()), o.voucher.map(|v| v.value())), (Some(receipt), Some(pre.trace)));

    let none = Asked::Completion { auth_code: "ZZZZZZ".parse().unwrap(), date: day(), amount: cny(100) };
    assert!(refused(prepare(&outbox, &none).await.unwrap_err()).contains("no pre-authorisation"));
    let other_day = Asked::Completion {
        auth_code: "P1P2P3".parse().unwrap(),
        date: "2026-11-30".parse().unwrap(),
        amount: cny(100),
    };
    assert!(refused(prepare(&outbox, &other_day).await.unwrap_err()).contains("no pre-authorisation"));

    let (_, completion) = done(&outbox, op, amount, "632914000008", "P1P2P3").await;
    assert!(refused(prepare(&outbox, &ask(100)).await.unwrap_err()).contains("already completed"));
    // A completion may be voided, as a sale may.
    let (void, void_amount) = prepare(&outbox, &Asked::Void { voucher: completion.trace }).await.unwrap();
    assert_eq!(void.voids, Some(TransactionType::PreAuthCompletion));
    // 预授权完成撤销 gives the hold back: the pre-authorisation may be completed again.
    done(&outbox, void, void_amount, "632914000009", "P1P2P3").await;
    let (again, _) = prepare(&outbox, &ask(9_000)).await.unwrap();
    assert_eq!(again.original.and_then(|o| o.voucher).map(|v| v.value()), Some(pre.trace));
    // A pre-authorisation is not voided as a sale.
    assert!(refused(prepare(&outbox, &Asked::Void { voucher: pre.trace }).await.unwrap_err()).contains("PRE-AUTH"));
}

#[tokio::test]
async fn a_refund_without_an_answer_is_advised_again_and_never_reversed() {
    let (_dir, outbox) = fresh().await;
    let (op, amount) =
        prepare(&outbox, &Asked::Refund { rrn: "632914123123".parse().unwrap(), date: day(), amount: cny(800) })
            .await
            .unwrap();
    let r = request(op, amount);
    outbox.authorisation_requested(&r, 1_000).await.unwrap();
    outbox.authorisation_unreadable(&r.request_id, "garbage", 1_100).await.unwrap();
    let row = outbox.authorisation(&r.request_id).await.unwrap().unwrap();
    assert_eq!((row.state, row.reversal), (AuthorisationState::Advising, None), "an unreadable answer: advised again");
    assert!(row.state.is_open());
    assert!(outbox.open_authorisations().await.unwrap().iter().any(|a| a.request_id == r.request_id));

    let reversal = outbox.authorisation_reversing(&r.request_id, false, 1_200).await.unwrap_err();
    assert!(reversal.to_string().contains("never reversed"), "{reversal}");
    assert_eq!(outbox.authorisation(&r.request_id).await.unwrap().unwrap(), row, "nothing changed");

    let again = outbox.authorisation_advice_resending(&r.request_id, 1_300).await.unwrap();
    assert_eq!(again.advice_attempts, 1);
    outbox.authorisation_advice_failed(&r.request_id, "no answer again", 1_400).await.unwrap();
    assert_eq!(outbox.authorisation_advice_resending(&r.request_id, 1_500).await.unwrap().advice_attempts, 2);
    outbox
        .authorisation_approved(&r.request_id, &"R1R2R3".parse().unwrap(), &"632914555555".parse().unwrap(), 1_600)
        .await
        .unwrap();
    let row = outbox.authorisation(&r.request_id).await.unwrap().unwrap();
    assert_eq!(row.state, AuthorisationState::Approved, "acknowledged: its receipt may be made");
    assert!(outbox.authorisation_advice_resending(&r.request_id, 1_700).await.is_err(), "no advice owed any more");
}
