//! The authorisation journal on a real SQLite file (security review L4): each state, what may
//! follow it, and a receipt stored together with its completion or not at all.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::tests::compose;
use super::*;

async fn fresh() -> (tempfile::TempDir, Outbox) {
    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::open(&dir.path().join("outbox.db")).await.unwrap();
    (dir, outbox)
}

fn request(amount_minor: u64) -> NewAuthorisation {
    NewAuthorisation {
        request_id: new_request_id(),
        amount: ereceipt_core::model::Money::new(amount_minor, "CNY".parse().unwrap()).unwrap(),
        masked_pan: "622202*********3446".parse().unwrap(),
        time: "2026-12-02T10:15:00+08:00".parse().unwrap(),
        terminal_id: "POS00001".parse().unwrap(),
        merchant_id: "898440358120001".parse().unwrap(),
        authoriser: "Simulated acquirer".into(),
        simulated: true,
        operator: "01".parse().unwrap(),
        operation: crate::outbox::Operation::sale(),
    }
}

async fn requested(outbox: &Outbox, amount_minor: u64) -> String {
    let r = request(amount_minor);
    outbox.authorisation_requested(&r, 1_000).await.unwrap();
    r.request_id
}

async fn approved(outbox: &Outbox, amount_minor: u64) -> String {
    let id = requested(outbox, amount_minor).await;
    outbox
        .authorisation_approved(&id, &"A1B2C3".parse().unwrap(), &"632914123456".parse().unwrap(), 2_000)
        .await
        .unwrap();
    id
}

async fn state(outbox: &Outbox, id: &str) -> AuthorisationState {
    outbox.authorisation(id).await.unwrap().unwrap().state
}

fn open_ids(open: &[AuthorisationRecord]) -> Vec<&str> {
    open.iter().map(|a| a.request_id.as_str()).collect()
}

#[tokio::test]
async fn a_request_is_followed_to_its_receipt() {
    let (_dir, outbox) = fresh().await;
    let r = request(12_850);
    outbox.authorisation_requested(&r, 1_000).await.unwrap();
    let open = outbox.open_authorisations().await.unwrap();
    assert_eq!(open_ids(&open), [r.request_id.as_str()], "a request without an answer is open");
    let row = &open[0];
    assert_eq!(
        (row.state, row.amount, row.time, row.requested_at),
        (AuthorisationState::Requested, r.amount, r.time, 1_000)
    );
    assert_eq!(row.card(), "UnionPay *** **** **** **** 3446");
    assert_eq!(row.masked_pan.stored_form(), "622202*********3446", "BIN and last four only");
    assert_eq!((row.auth_code.as_ref(), row.receipt_id.as_ref()), (None, None));

    outbox
        .authorisation_approved(&r.request_id, &"A1B2C3".parse().unwrap(), &"632914123456".parse().unwrap(), 2_000)
        .await
        .unwrap();
    let row = outbox.authorisation(&r.request_id).await.unwrap().unwrap();
    assert_eq!(row.state, AuthorisationState::Approved);
    assert_eq!(row.auth_code.map(|c| c.as_str().to_owned()).as_deref(), Some("A1B2C3"));
    assert_eq!(row.rrn.map(|c| c.as_str().to_owned()).as_deref(), Some("632914123456"));
    assert_eq!(row.updated_at, 2_000);
    assert_eq!(open_ids(&outbox.open_authorisations().await.unwrap()), [r.request_id.as_str()], "approved, no receipt");

    let entry = compose(outbox.next_link().await.unwrap(), "POS00001-000001-000001");
    outbox.store_sale(&entry, Some(&r.request_id), 3_000).await.unwrap();
    let row = outbox.authorisation(&r.request_id).await.unwrap().unwrap();
    assert_eq!((row.state, row.receipt_id.as_deref()), (AuthorisationState::Completed, Some("POS00001-000001-000001")));
    assert!(outbox.open_authorisations().await.unwrap().is_empty(), "completed: nothing to act on");
    assert_eq!(outbox.status().await.unwrap().pending, 1);

    // A second answer for the same request, or a second receipt for it, is refused.
    let again = outbox.authorisation_declined(&r.request_id, "05 do not honour", 4_000).await;
    assert!(matches!(&again, Err(OutboxError::Authorisation(m)) if m.contains("completed")), "{again:?}");
    let second = compose(outbox.next_link().await.unwrap(), "POS00001-000001-000002");
    assert!(matches!(outbox.store_sale(&second, Some(&r.request_id), 4_000).await, Err(OutboxError::Authorisation(_))));
    assert_eq!(outbox.status().await.unwrap().pending, 1, "the second receipt was not stored");
    assert_eq!(state(&outbox, &r.request_id).await, AuthorisationState::Completed);
}

#[tokio::test]
async fn a_receipt_is_stored_only_together_with_its_completion() {
    let (_dir, outbox) = fresh().await;
    // Reversed while the cardholder was signing: no receipt may follow.
    let reversed = approved(&outbox, 500).await;
    outbox.authorisation_reversing(&reversed, false, 3_000).await.unwrap();
    outbox.authorisation_reversed(&reversed, "ack", 3_100).await.unwrap();
    let link = outbox.next_link().await.unwrap();
    let entry = compose(link, "POS00001-000001-000001");
    let e = outbox.store_sale(&entry, Some(&reversed), 4_000).await.expect_err("reversed");
    assert!(matches!(&e, OutboxError::Authorisation(m) if m.contains("reversed")), "{e}");
    assert_eq!(outbox.entry(&entry.receipt_id).await.unwrap(), None, "the receipt was rolled back");
    assert_eq!(outbox.next_link().await.unwrap(), link, "the chain did not move");

    // An unknown authorisation: nothing stored either.
    let e = outbox.store_sale(&entry, Some(&new_request_id()), 4_000).await.expect_err("unknown");
    assert!(matches!(e, OutboxError::NotFound(_)), "{e}");
    assert_eq!(outbox.status().await.unwrap().pending, 0);

    // The receipt that cannot be stored (not the next link) leaves its approval open.
    let open = approved(&outbox, 700).await;
    let mut wrong = compose(link, "POS00001-000001-000001");
    wrong.sequence = link.sequence + 5;
    assert!(matches!(outbox.store_sale(&wrong, Some(&open), 5_000).await, Err(OutboxError::Conflict(_))));
    assert_eq!(state(&outbox, &open).await, AuthorisationState::Approved);
    // And the right one completes it.
    outbox.store_sale(&entry, Some(&open), 6_000).await.unwrap();
    assert_eq!(state(&outbox, &open).await, AuthorisationState::Completed);
    assert_eq!(outbox.entry(&entry.receipt_id).await.unwrap().map(|e| e.sequence), Some(link.sequence));
}

#[tokio::test]
async fn declines_and_acknowledged_reversals_close_an_authorisation() {
    let (_dir, outbox) = fresh().await;
    let declined = requested(&outbox, 100).await;
    outbox.authorisation_declined(&declined, "declined (51): insufficient funds", 2_000).await.unwrap();
    let row = outbox.authorisation(&declined).await.unwrap().unwrap();
    assert_eq!(
        (row.state, row.answer.as_deref()),
        (AuthorisationState::Declined, Some("declined (51): insufficient funds"))
    );
    let e = outbox.authorisation_reversing(&declined, false, 3_000).await.expect_err("nothing to reverse");
    assert!(matches!(&e, OutboxError::Authorisation(m) if m.contains("declined")), "{e}");

    // No answer: reversed as such. The reversal is on record before it is sent.
    let unanswered = requested(&outbox, 200).await;
    let sending = outbox.authorisation_reversing(&unanswered, false, 3_000).await.unwrap();
    assert_eq!(
        (sending.state, sending.reversal, sending.reversal_attempts),
        (AuthorisationState::Reversing, Some(ReversalReason::NoAnswer), 1)
    );
    assert_eq!(state(&outbox, &unanswered).await, AuthorisationState::Reversing);
    let done = outbox.authorisation_reversed(&unanswered, "host ack 0410", 3_500).await.unwrap();
    assert_eq!((done.state, done.reversal_ack.as_deref()), (AuthorisationState::Reversed, Some("host ack 0410")));

    // Approved, no receipt, and the first reversal gets no acknowledgement: still reversing,
    // with the error; the retry keeps its reason and counts the attempt.
    let lost = approved(&outbox, 300).await;
    outbox.authorisation_reversing(&lost, false, 4_000).await.unwrap();
    outbox.authorisation_reversal_failed(&lost, "authorisation unavailable: timeout", 4_100).await.unwrap();
    let row = outbox.authorisation(&lost).await.unwrap().unwrap();
    assert_eq!(
        (row.state, row.answer.as_deref()),
        (AuthorisationState::Reversing, Some("authorisation unavailable: timeout"))
    );
    let retry = outbox.authorisation_reversing(&lost, true, 5_000).await.unwrap();
    assert_eq!(
        (retry.reversal, retry.reversal_attempts),
        (Some(ReversalReason::NoReceipt), 2),
        "the first reason stays"
    );
    assert_eq!(outbox.authorisation_reversed(&lost, "ack", 5_100).await.unwrap().state, AuthorisationState::Reversed);

    // The cashier cancels an approved sale: a void.
    let cancelled = approved(&outbox, 400).await;
    let sending = outbox.authorisation_reversing(&cancelled, true, 6_000).await.unwrap();
    assert_eq!(sending.reversal, Some(ReversalReason::Cancelled));
    assert_eq!(
        outbox.authorisation_reversed(&cancelled, "ack", 6_100).await.unwrap().state,
        AuthorisationState::Voided
    );

    // A closed authorisation cannot be reopened, acknowledged twice, or approved late.
    for id in [&unanswered, &lost, &cancelled] {
        assert!(matches!(outbox.authorisation_reversing(id, false, 7_000).await, Err(OutboxError::Authorisation(_))));
        assert!(matches!(outbox.authorisation_reversed(id, "ack", 7_000).await, Err(OutboxError::Authorisation(_))));
        let (code, rrn) = ("A1B2C3".parse().unwrap(), "632914123456".parse().unwrap());
        let late = outbox.authorisation_approved(id, &code, &rrn, 7_000).await;
        assert!(matches!(late, Err(OutboxError::Authorisation(_))));
    }
    assert!(outbox.open_authorisations().await.unwrap().is_empty());
    assert!(matches!(outbox.authorisation_reversing(&new_request_id(), false, 0).await, Err(OutboxError::NotFound(_))));
}

#[tokio::test]
async fn open_authorisations_survive_a_reopen_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.db");
    let outbox = Outbox::open(&path).await.unwrap();
    let mut first = request(100);
    first.request_id = "0".repeat(32);
    outbox.authorisation_requested(&first, 1_000).await.unwrap();
    let second = approved(&outbox, 200).await;
    let bad = NewAuthorisation { request_id: "not-hex".into(), ..request(1) };
    assert!(matches!(outbox.authorisation_requested(&bad, 0).await, Err(OutboxError::Invalid(_))));
    assert!(matches!(outbox.authorisation_requested(&first, 0).await, Err(OutboxError::Conflict(_))), "ids are unique");
    drop(outbox); // no close: as a kill leaves it

    let outbox = Outbox::open(&path).await.unwrap();
    let open = outbox.open_authorisations().await.unwrap();
    assert_eq!(open_ids(&open), [first.request_id.as_str(), second.as_str()]);
    assert_eq!((open[0].state, open[1].state), (AuthorisationState::Requested, AuthorisationState::Approved));
}

/// A refund's receipt parts (gap 1 of issue 13): only a refund keeps them, in the row written
/// before its advice goes out; it is due once acknowledged by an advice sent again (or once
/// stale), and the parts go when its receipt is stored or it is declined.
#[tokio::test]
async fn only_a_refund_keeps_its_receipt_parts_until_its_receipt_or_its_decline() {
    use ereceipt_core::model::{OriginalRef, TransactionType};
    let (_dir, outbox) = fresh().await;
    let parts = ReceiptParts {
        card: ereceipt_core::card::CardSummary {
            brand: ereceipt_core::card::CardBrand::UnionPay,
            masked_pan: "622202*********3446".parse().unwrap(),
            cardholder_name: None,
            entry_mode: ereceipt_core::card::EntryMode::MagneticStripe,
            encrypted_reader: false,
        },
        signature: ereceipt_core::samples::signature(5),
        delivery: Some("sms:+8613800138000".into()),
    };
    let sale = request(5_000);
    let refused = outbox.authorisation_requested_keeping(&sale, Some(&parts), 1_000).await;
    assert!(matches!(refused, Err(OutboxError::Invalid(ref m)) if m.contains("only a refund")), "{refused:?}");
    assert_eq!(outbox.authorisation_count().await.unwrap(), 0, "nothing journalled");

    let refund = |n: u64| {
        let mut r = request(n);
        r.operation = Operation {
            kind: TransactionType::Refund,
            original: Some(OriginalRef {
                receipt_id: None,
                batch: None,
                voucher: None,
                rrn: Some("632914000001".parse().unwrap()),
                auth_code: None,
                date: "2026-12-01".parse().unwrap(),
            }),
            voids: None,
        };
        r
    };
    let (late, declined) = (refund(1_000), refund(2_000));
    for r in [&late, &declined] {
        outbox.authorisation_requested_keeping(r, Some(&parts), 1_000).await.unwrap();
        outbox.authorisation_advice_unanswered(&r.request_id, "no answer", 1_100).await.unwrap();
        assert!(outbox.keeps_receipt_parts(&r.request_id).await.unwrap());
    }
    assert!(outbox.late_refunds_due(0).await.unwrap().is_empty(), "not acknowledged yet");

    outbox.authorisation_advice_resending(&late.request_id, 2_000).await.unwrap();
    outbox
        .authorisation_approved(&late.request_id, &"A1B2C3".parse().unwrap(), &"632914123456".parse().unwrap(), 2_100)
        .await
        .unwrap();
    outbox.authorisation_declined(&declined.request_id, "25 no such sale", 2_100).await.unwrap();
    assert!(!outbox.keeps_receipt_parts(&declined.request_id).await.unwrap(), "a declined refund keeps nothing");
    let due = outbox.late_refunds_due(0).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!((due[0].row.request_id.as_str(), &due[0].parts), (late.request_id.as_str(), &parts));

    let entry = compose(outbox.next_link().await.unwrap(), "POS00001-000001-000001");
    outbox.store_sale(&entry, Some(&late.request_id), 3_000).await.unwrap();
    assert!(!outbox.keeps_receipt_parts(&late.request_id).await.unwrap(), "gone with the receipt stored");
    assert!(outbox.late_refunds_due(i64::MAX).await.unwrap().is_empty());
}
