//! A slip from a terminal of this platform, on real SQLite and PostgreSQL stores: stored with
//! the difference a missing receipt makes, reconciled again (balanced) when that receipt arrives
//! late; a gap in the chain named, a receipt under another brand a difference per brand; a slip
//! of another terminal and one whose signer the platform never issued are refused.

use chrono::{Duration, Utc};
use ereceipt_core::card::CardPolicy;
use ereceipt_core::contract::DifferenceIssue;
use ereceipt_core::encoding::encode_record;
use ereceipt_core::identity::{create_ca, issue_terminal, CertifiedKey, Signer};
use ereceipt_core::model::{HostAnswer, LineTally, ReceiptId, ReceiptRecord, SettlementSlip, SlipParts, TerminalInfo};
use ereceipt_core::render::slip::{Fonts, SlipWidth};
use ereceipt_core::settlement::compose_settlement;

use super::*;
use crate::infra::store::{CertificateRow, NewReceipt, NewTerminal, NewToken};

crate::infra::store::tests::behaviours!(
    a_missing_receipt_is_a_difference_until_it_arrives_late,
    a_gap_in_the_chain_and_another_brand_are_named,
);

fn fonts() -> Fonts {
    let path = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc";
    let bytes = std::fs::read(path).unwrap_or_else(|_| panic!("{path} missing: run scripts/install-deps"));
    Fonts::from_bytes(vec![("wqy-microhei".into(), bytes, 0)]).expect("font")
}

fn info(terminal_id: &str) -> TerminalInfo {
    TerminalInfo {
        terminal_id: terminal_id.parse().expect("id"),
        merchant_id: "104110070110001".parse().expect("merchant"),
        merchant_name: "深圳湾咖啡".parse().expect("name"),
        location: "深圳市南山区".parse().expect("location"),
    }
}

/// A sale of `signer`'s terminal in batch 1.
fn sale(signer: &Signer, seed: u64) -> ReceiptRecord {
    let policy = CardPolicy { accept_clear_tracks: true, allow_chip_fallback: false };
    let time =
        (Utc::now() - Duration::minutes(10)).with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("+8"));
    let json = ereceipt_core::samples::transaction_json(seed, &time.to_rfc3339());
    let (transaction, _) = ereceipt_core::txjson::parse_transaction(&json, &policy).expect("transaction");
    let terminal = signer.certificate().terminal.clone();
    ReceiptRecord {
        id: ReceiptId::derive(&terminal.terminal_id, transaction.batch, transaction.serial),
        terminal,
        transaction,
        signature: ereceipt_core::samples::signature(seed),
        certificate: signer.certificate().der.clone(),
        chain: None,
    }
}

fn new_receipt(r: &ReceiptRecord) -> NewReceipt {
    let t = &r.transaction;
    let record = encode_record(r);
    NewReceipt {
        receipt_id: r.id.to_string(),
        terminal_id: r.terminal.terminal_id.to_string(),
        merchant_id: r.terminal.merchant_id.to_string(),
        merchant_name: r.terminal.merchant_name.to_string(),
        batch: t.batch.value().into(),
        serial: t.serial.value().into(),
        sequence: None,
        previous_hash: None,
        record_hash: ereceipt_core::digest::sha256(&record),
        record,
        png: b"\x89PNG".to_vec(),
        delivery: None,
        amount: t.amount,
        time: t.time,
        rrn: t.rrn.to_string(),
        auth_code: t.auth_code.to_string(),
        card_masked: t.card.masked_pan.for_receipt(),
        card_last4: t.card.masked_pan.last4().to_owned(),
        card_brand: t.card.brand.code().to_owned(),
        signer_serial: "00".into(),
        received_at: 1,
        ack: b"ack".to_vec(),
        lineage: crate::services::lineage::of_record(r),
    }
}

/// The slip of `records`, signed by `signer`.
fn slip_png(signer: &Signer, records: &[ReceiptRecord]) -> Vec<u8> {
    let mut tally = LineTally::default();
    for r in records {
        tally.add(r.transaction.kind, r.transaction.card.brand, r.transaction.amount);
    }
    let now = Utc::now().timestamp();
    let parts = SlipParts {
        terminal: signer.certificate().terminal.clone(),
        batch: "000001".parse().expect("batch"),
        operator: "01".parse().expect("operator"),
        first: records.first().map(|r| r.transaction.time),
        last: records.last().map(|r| r.transaction.time),
        settled_at: ereceipt_core::model::LocalTime::new(now, 480).expect("time"),
        host: HostAnswer { domestic_balanced: true, foreign_balanced: true },
    };
    let slip = SettlementSlip::new(parts, tally.into_lines()).expect("slip");
    compose_settlement(slip, signer, &fonts(), SlipWidth::W576).expect("composed").png
}

async fn registered(store: &Store, ca: &CertifiedKey, terminal_id: &str) -> Signer {
    let now = Utc::now();
    let t = info(terminal_id);
    let terminal = NewTerminal {
        terminal_id: terminal_id.into(),
        merchant_id: t.merchant_id.to_string(),
        merchant_name: t.merchant_name.to_string(),
        location: t.location.address().into(),
        mode: ereceipt_core::identity::TerminalMode::Test,
    };
    let token = NewToken {
        terminal_id: terminal_id.into(),
        token_hash: ereceipt_core::digest::sha256(terminal_id.as_bytes()),
        expires_at: i64::MAX,
    };
    store.add_terminal(&terminal, &token, 1).await.expect("terminal");
    let signer = Signer::new(&issue_terminal(ca, &t, now, 10).expect("certificate")).expect("signer");
    let cert = signer.certificate();
    let row = CertificateRow {
        serial_hex: cert.serial.clone(),
        terminal_id: terminal_id.into(),
        fingerprint: cert.fingerprint(),
        not_before: cert.not_before,
        not_after: cert.not_after,
        issued_at: 1,
        revoked_at: None,
    };
    store.record_certificate(&row, 1).await.expect("certificate row");
    signer
}

async fn a_missing_receipt_is_a_difference_until_it_arrives_late(db: &Store) {
    let ca = create_ca("test CA", Utc::now()).expect("CA");
    let signer = registered(db, &ca, "T0000031").await;
    let (a, b) = (sale(&signer, 1), sale(&signer, 2));
    db.store_receipt(&new_receipt(&a)).await.expect("receipt a");
    let png = slip_png(&signer, &[a.clone(), b.clone()]);

    let verified = verify(&ca.cert_der, signer.certificate(), &png).expect("verifies");
    let settled = store_settlement(db, verified, png.clone()).await;
    assert!(settled.created);
    let r = &settled.answer.reconciliation;
    assert!(!r.balanced);
    assert_eq!(r.differences.len(), 1, "{r:?}");
    let d = &r.differences[0];
    assert_eq!(
        (d.kind.as_str(), d.issue, d.slip_count, d.platform_count),
        ("SALE", DifferenceIssue::MissingReceipts, 2, 1)
    );

    // The late receipt: its arrival reconciles the batch again, now balanced, and it is kept.
    db.store_receipt(&new_receipt(&b)).await.expect("receipt b");
    let again = reconcile_again(db, "T0000031", 1, Utc::now()).await.expect("reconciled").expect("a slip");
    assert!(again.balanced && again.differences.is_empty(), "{again:?}");
    let row = db.settlement("T0000031", 1).await.expect("read").expect("stored");
    assert_eq!(reconciliation_of(&row.reconciled), again);
    // The same slip again: 200, not a second one.
    let verified = verify(&ca.cert_der, signer.certificate(), &png).expect("verifies");
    assert!(!store_settlement(db, verified, png).await.created);
    // No slip, nothing to reconcile.
    assert!(reconcile_again(db, "T0000031", 2, Utc::now()).await.expect("read").is_none());
}

#[tokio::test]
async fn a_slip_of_another_terminal_or_an_unknown_signer_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let db = Store::connect(&format!("sqlite:{}", dir.path().join("s.db").display())).await.expect("store");
    let ca = create_ca("test CA", Utc::now()).expect("CA");
    let mine = registered(&db, &ca, "T0000032").await;
    let other = registered(&db, &ca, "T0000033").await;
    let png = slip_png(&other, &[sale(&other, 3)]);
    assert!(matches!(verify(&ca.cert_der, mine.certificate(), &png), Err(SettlementRefusal::WrongTerminal { .. })));
    // Certified by the CA, but never recorded as issued by this platform.
    let stray = Signer::new(&issue_terminal(&ca, &info("T0000032"), Utc::now(), 10).expect("cert")).expect("signer");
    let png = slip_png(&stray, &[sale(&stray, 4)]);
    let verified = verify(&ca.cert_der, mine.certificate(), &png).expect("the image itself verifies");
    let refused = store(&db, verified, png, Utc::now()).await;
    assert!(matches!(refused, Err(SettlementRefusal::Signer { .. })), "{refused:?}");
    // Checked against a CA that did not certify the terminal.
    let stranger = create_ca("another CA", Utc::now()).expect("CA");
    let png = slip_png(&mine, &[]);
    assert!(matches!(verify(&stranger.cert_der, mine.certificate(), &png), Err(SettlementRefusal::NotAuthentic(_))));
}

async fn store_settlement(s: &Store, verified: VerifiedSettlement, png: Vec<u8>) -> Settled {
    store(s, verified, png, Utc::now()).await.expect("stored")
}

async fn a_gap_in_the_chain_and_another_brand_are_named(db: &Store) {
    let ca = create_ca("test CA", Utc::now()).expect("CA");
    let signer = registered(db, &ca, "T0000034").await;
    let sales: Vec<ReceiptRecord> = (11..14).map(|seed| sale(&signer, seed)).collect();
    let chained = |r: &ReceiptRecord, sequence: i64| NewReceipt { sequence: Some(sequence), ..new_receipt(r) };
    // The first and the third of the batch arrive; the second is chained between them.
    db.store_receipt(&chained(&sales[0], 1)).await.expect("first");
    db.store_receipt(&chained(&sales[2], 3)).await.expect("third");
    let png = slip_png(&signer, &sales);
    let verified = verify(&ca.cert_der, signer.certificate(), &png).expect("verifies");
    let r = store_settlement(db, verified, png.clone()).await.answer.reconciliation;
    assert!(!r.balanced);
    assert_eq!(r.missing.len(), 1, "{r:?}");
    assert_eq!((r.missing[0].sequence, r.missing[0].place), (2, ereceipt_core::contract::MissingPlace::Between));
    assert_eq!(r.differences.len(), 1, "{r:?}");
    assert_eq!(r.differences[0].brand, sales[1].transaction.card.brand.code());
    // Stored as answered: the page reads the named receipt back.
    let row = db.settlement("T0000034", 1).await.expect("read").expect("stored");
    assert_eq!(reconciliation_of(&row.reconciled), r);

    // The late one arrives, its brand column saying another brand than the slip counted it
    // under: the count per kind agrees, the brands do not.
    let mut late = chained(&sales[1], 2);
    let other = if sales[1].transaction.card.brand == ereceipt_core::card::CardBrand::Visa { "jcb" } else { "visa" };
    other.clone_into(&mut late.card_brand);
    db.store_receipt(&late).await.expect("late");
    let again = reconcile_again(db, "T0000034", 1, Utc::now()).await.expect("reconciled").expect("a slip");
    assert!(again.missing.is_empty(), "{again:?}");
    let brands: Vec<&str> = again.differences.iter().map(|d| d.brand.as_str()).collect();
    assert!(brands.contains(&other) && brands.len() == 2, "{again:?}");
}
