use chrono::{NaiveDate, Utc};
use ereceipt_core::card::CardPolicy;
use ereceipt_core::claims::ReceiptClaims;
use ereceipt_core::encoding::record_hash;
use ereceipt_core::identity::{create_ca, issue_terminal, Signer};
use ereceipt_core::model::{OriginalRef, ReceiptId, ReceiptRecord, TransactionType};

use super::{bind, Refusal};

#[tokio::test]
async fn a_verifier_panic_is_the_receipts_refusal_and_a_cancelled_task_may_be_retried() {
    let panicked = tokio::task::spawn_blocking(|| panic!("a bug met by one image")).await;
    let refusal = Refusal::from(panicked.expect_err("it panicked"));
    assert_eq!(refusal.reason(), "unverifiable", "answered 422 with this code: the terminal parks it");

    let task = tokio::spawn(std::future::pending::<()>());
    task.abort();
    let cancelled = Refusal::from(task.await.expect_err("cancelled"));
    assert_eq!(cancelled.reason(), "unavailable");
}

/// A refund of RRN 332914500042 signed by `signer`'s terminal.
fn refund(signer: &Signer) -> ReceiptRecord {
    let policy = CardPolicy { accept_clear_tracks: true, allow_chip_fallback: false };
    let json = ereceipt_core::samples::transaction_json(7, "2026-11-25T14:03:11+08:00");
    let (mut transaction, _) = ereceipt_core::txjson::parse_transaction(&json, &policy).unwrap();
    transaction.kind = TransactionType::Refund;
    transaction.original = Some(OriginalRef {
        receipt_id: None,
        batch: None,
        voucher: None,
        rrn: Some("332914500042".parse().unwrap()),
        auth_code: None,
        date: NaiveDate::from_ymd_opt(2026, 11, 24).unwrap(),
    });
    let terminal = signer.certificate().terminal.clone();
    ReceiptRecord {
        id: ReceiptId::derive(&terminal.terminal_id, transaction.batch, transaction.serial),
        terminal,
        transaction,
        signature: ereceipt_core::samples::signature(7),
        certificate: signer.certificate().der.clone(),
        chain: None,
    }
}

/// A modified terminal's QR code names another original than the record it uploads (the
/// platform links and nets the record's): refused as unbound, the original named, as a
/// different amount or RRN is.
#[test]
fn a_qr_whose_original_differs_from_the_records_is_refused() {
    let now = Utc::now();
    let ca = create_ca("test CA", now).unwrap();
    let info = ereceipt_core::model::TerminalInfo {
        terminal_id: "POS00001".parse().unwrap(),
        merchant_id: "898440358120001".parse().unwrap(),
        merchant_name: "深圳湾咖啡".parse().unwrap(),
        location: "深圳市南山区".parse().unwrap(),
    };
    let signer = Signer::new(&issue_terminal(&ca, &info, now, 10).unwrap()).unwrap();
    let cert = signer.certificate();
    let record = refund(&signer);
    let hash = record_hash(&record);
    let honest = ReceiptClaims::of(&record, hash);
    assert!(bind(&record, hash, &honest, cert, cert, cert).is_ok());

    let other_rrn = |c: &mut ReceiptClaims| {
        if let Some(o) = c.original.as_mut() {
            o.rrn = Some("332914599999".parse().unwrap());
        }
    };
    let other_date = |c: &mut ReceiptClaims| {
        if let Some(o) = c.original.as_mut() {
            o.date = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        }
    };
    let none = |c: &mut ReceiptClaims| c.original = None;
    for edit in [&other_rrn as &dyn Fn(&mut ReceiptClaims), &other_date, &none] {
        let mut claims = honest.clone();
        edit(&mut claims);
        assert_ne!(claims, honest);
        match bind(&record, hash, &claims, cert, cert, cert) {
            Err(e @ Refusal::Unbound { field: "original", .. }) => {
                assert_eq!(e.reason(), "unbound");
                assert!(e.to_string().contains("original in the QR code differs from the record's"), "{e}");
            }
            other => panic!("expected the original to be unbound, got {other:?}"),
        }
    }
}
