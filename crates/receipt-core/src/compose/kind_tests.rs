//! Receipts of every kind: a void, refund and completion print the parts of their original
//! they know, money given back prints negative, a pre-authorisation prints a hold; each
//! verifies as authentic and its QR claims name the original.

use chrono::NaiveDate;

use super::tests::{fixture, fonts};
use super::*;
use crate::card::CardPolicy;
use crate::identity::CertifiedKey;
use crate::model::{OriginalRef, TransactionType};
use crate::render::slip::{amount_title, transaction_fields};
use crate::txjson::parse_transaction;
use crate::verify::{verify_image, Verdict};

pub(super) fn signer() -> Signer {
    Signer::new(&CertifiedKey::from_pem(&fixture("terminal.pem"), &fixture("terminal.key")).unwrap()).unwrap()
}

/// The golden sale's original, as a void on the same terminal knows it.
fn original() -> OriginalRef {
    OriginalRef {
        receipt_id: Some("POS00001-000001-000123".parse().unwrap()),
        batch: Some("000001".parse().unwrap()),
        voucher: Some("000123".parse().unwrap()),
        rrn: Some("332914567890".parse().unwrap()),
        auth_code: Some("A1B2C3".parse().unwrap()),
        date: NaiveDate::from_ymd_opt(2026, 11, 30).unwrap(),
    }
}

/// What a receipt of `kind` knows of its original: all of it for a void, the RRN and date for
/// a refund keyed in by them, the authorisation code and date for a completion.
pub(super) fn original_for(kind: TransactionType) -> Option<OriginalRef> {
    let o = original();
    match kind {
        TransactionType::Sale | TransactionType::PreAuth => None,
        TransactionType::Void => Some(o),
        TransactionType::Refund => {
            Some(OriginalRef { receipt_id: None, batch: None, voucher: None, auth_code: None, ..o })
        }
        TransactionType::PreAuthCompletion => {
            Some(OriginalRef { receipt_id: None, batch: None, voucher: None, rrn: None, ..o })
        }
    }
}

/// The golden transaction as a `kind` of serial 000124, naming `original`.
pub(super) fn receipt(kind: TransactionType, original: Option<OriginalRef>) -> ComposedReceipt {
    let signer = signer();
    let policy = CardPolicy { accept_clear_tracks: true, allow_chip_fallback: false };
    let json = fixture("transaction.json").replace("000123", "000124");
    let (mut transaction, _) = parse_transaction(&json, &policy).unwrap();
    transaction.kind = kind;
    transaction.original = original;
    let signature = Signature::from_signature_pad_json(&fixture("signature.json")).unwrap();
    let record = build_record(Sale { transaction, signature, chain: None }, &signer).unwrap();
    compose_receipt(record, &signer, &fonts(), SlipWidth::W576).unwrap()
}

pub(super) const KINDS: [TransactionType; 5] = [
    TransactionType::Sale,
    TransactionType::Void,
    TransactionType::Refund,
    TransactionType::PreAuth,
    TransactionType::PreAuthCompletion,
];

/// The slip's lines of the transaction and amount, as `title value`.
fn lines(r: &ComposedReceipt) -> Vec<String> {
    let view = slip_view(&r.record);
    let mut lines: Vec<String> = transaction_fields(&view).iter().map(|f| format!("{} {}", f.title, f.value)).collect();
    lines.push(format!("{} {}", amount_title(&view), view.amount));
    lines
}

#[test]
fn every_kind_verifies_and_its_qr_names_the_original() {
    let anchor = crate::identity::pem_decode(&fixture("ca.pem"), "CERTIFICATE").unwrap();
    for kind in KINDS {
        let r = receipt(kind, original_for(kind));
        let v = verify_image(&r.png, &anchor);
        assert_eq!(v.verdict, Verdict::Authentic, "{kind}: {}", v.reason);
        let claims = v.claims.as_ref().unwrap();
        assert_eq!((claims.kind, &claims.original), (kind, &original_for(kind)), "{kind}");
        assert_eq!(v.receipt.as_ref().unwrap().kind, kind.code());
        assert_eq!(crate::encoding::decode_record(&r.record_bytes).unwrap(), r.record, "{kind}");
        let report = serde_json::to_value(v.receipt.as_ref().unwrap()).unwrap();
        assert_eq!(report.get("original").is_some(), kind.needs_original(), "{kind}: {report}");
    }
}

#[test]
fn the_verifiers_report_names_the_original() {
    let anchor = crate::identity::pem_decode(&fixture("ca.pem"), "CERTIFICATE").unwrap();
    let v = verify_image(&receipt(TransactionType::Void, original_for(TransactionType::Void)).png, &anchor);
    let o = v.receipt.unwrap().original.unwrap();
    assert_eq!(
        o.summary,
        "receipt POS00001-000001-000123 · batch 000001 · voucher 000123 · RRN 332914567890 · auth A1B2C3 · 2026-11-30"
    );
    let refund = receipt(TransactionType::Refund, original_for(TransactionType::Refund));
    let report = serde_json::to_value(verify_image(&refund.png, &anchor).receipt.unwrap()).unwrap();
    assert_eq!(
        report["original"],
        serde_json::json!({"rrn": "332914567890", "date": "2026-11-30", "summary": "RRN 332914567890 · 2026-11-30"})
    );
}

#[test]
fn the_slip_prints_the_kind_and_the_original_after_the_own_codes() {
    let void = lines(&receipt(TransactionType::Void, original_for(TransactionType::Void)));
    let at = |prefix: &str| void.iter().position(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("{prefix}"));
    assert_eq!(void[0], "交易类型 TRANS TYPE 消费撤销 VOID");
    for (line, after) in [
        ("原凭证号 ORIG VOUCHER 000123", "凭证号 VOUCHER NO. 000124"),
        ("原参考号 ORIG RRN 332914567890", "参考号 REF. NO. 332914567890"),
        ("原授权码 ORIG AUTH CODE A1B2C3", "授权码 AUTH NO. A1B2C3"),
        ("原交易日期 ORIG DATE 2026/11/30", "授权码 AUTH NO. A1B2C3"),
    ] {
        assert!(void.contains(&line.to_owned()), "{line} in {void:#?}");
        assert!(at(line) > at(after), "{line} after {after}");
    }
    assert!(at("原交易日期") < at("日期时间 DATE/TIME"));

    let refund = lines(&receipt(TransactionType::Refund, original_for(TransactionType::Refund)));
    assert_eq!(refund[0], "交易类型 TRANS TYPE 退货 REFUND");
    let orig: Vec<&String> = refund.iter().filter(|l| l.starts_with('原')).collect();
    assert_eq!(orig, ["原参考号 ORIG RRN 332914567890", "原交易日期 ORIG DATE 2026/11/30"], "only the parts known");

    let completion =
        lines(&receipt(TransactionType::PreAuthCompletion, original_for(TransactionType::PreAuthCompletion)));
    assert_eq!(completion[0], "交易类型 TRANS TYPE 预授权完成 PRE-AUTH COMPLETION");
    let orig: Vec<&String> = completion.iter().filter(|l| l.starts_with('原')).collect();
    assert_eq!(orig, ["原授权码 ORIG AUTH CODE A1B2C3", "原交易日期 ORIG DATE 2026/11/30"]);

    for kind in [TransactionType::Sale, TransactionType::PreAuth] {
        let plain = lines(&receipt(kind, None));
        assert!(!plain.iter().any(|l| l.starts_with('原')), "{kind}: {plain:#?}");
    }
    assert_eq!(lines(&receipt(TransactionType::PreAuth, None))[0], "交易类型 TRANS TYPE 预授权 PRE-AUTH");
}

#[test]
fn money_given_back_prints_negative_and_a_pre_authorisation_as_a_hold() {
    let amount = |kind| lines(&receipt(kind, original_for(kind))).pop().unwrap();
    assert_eq!(amount(TransactionType::Sale), "金额 AMOUNT RMB 128.50");
    assert_eq!(amount(TransactionType::Void), "金额 AMOUNT RMB -128.50");
    assert_eq!(amount(TransactionType::Refund), "金额 AMOUNT RMB -128.50");
    assert_eq!(amount(TransactionType::PreAuth), "预授权金额 PRE-AUTH AMOUNT RMB 128.50");
    assert_eq!(amount(TransactionType::PreAuthCompletion), "金额 AMOUNT RMB 128.50");
    // The record keeps the amount positive: the sign is the kind's.
    let refund = receipt(TransactionType::Refund, original_for(TransactionType::Refund));
    assert_eq!(refund.record.transaction.amount.minor(), 12850);
}

#[test]
fn a_receipt_whose_original_does_not_fit_its_kind_is_not_built() {
    let signer = signer();
    let policy = CardPolicy { accept_clear_tracks: true, allow_chip_fallback: false };
    let (mut transaction, _) = parse_transaction(&fixture("transaction.json"), &policy).unwrap();
    transaction.kind = TransactionType::Refund;
    let signature = Signature::from_signature_pad_json(&fixture("signature.json")).unwrap();
    let e = build_record(Sale { transaction, signature, chain: None }, &signer).unwrap_err();
    assert_eq!(e.to_string(), "transaction: original: required for a REFUND");
}
