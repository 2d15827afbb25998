//! The record's versions: a sale stays version 2, a void, refund, pre-authorisation or
//! completion is version 3 with its original at transaction key 17, and every record of any
//! version re-encodes to its own bytes.

use chrono::NaiveDate;
use ciborium::Value;
use proptest::prelude::*;

use super::*;
use crate::card::CardPolicy;
use crate::model::{BatchNo, OriginalRef, TransactionType, VoucherNo};

const KINDS: [TransactionType; 5] = [
    TransactionType::Sale,
    TransactionType::Void,
    TransactionType::Refund,
    TransactionType::PreAuth,
    TransactionType::PreAuthCompletion,
];

fn full_original() -> OriginalRef {
    OriginalRef {
        receipt_id: Some("POS00001-000001-000042".parse().unwrap()),
        batch: Some("000001".parse().unwrap()),
        voucher: Some("000042".parse().unwrap()),
        rrn: Some("332914500042".parse().unwrap()),
        auth_code: Some("Z9Y8X7".parse().unwrap()),
        date: NaiveDate::from_ymd_opt(2026, 11, 24).unwrap(),
    }
}

/// A record of `kind` from the sample transaction of `seed`, with `original`.
fn record(seed: u64, kind: TransactionType, original: Option<OriginalRef>) -> ReceiptRecord {
    let policy = CardPolicy { accept_clear_tracks: true, allow_chip_fallback: false };
    let json = crate::samples::transaction_json(seed, "2026-11-25T14:03:11+08:00");
    let (mut transaction, _) = crate::txjson::parse_transaction(&json, &policy).unwrap();
    transaction.kind = kind;
    transaction.original = original;
    ReceiptRecord {
        id: ReceiptId::derive(&"POS00001".parse().unwrap(), transaction.batch, transaction.serial),
        terminal: TerminalInfo {
            terminal_id: "POS00001".parse().unwrap(),
            merchant_id: "898440358120001".parse().unwrap(),
            merchant_name: "深圳湾咖啡".parse().unwrap(),
            location: "深圳市南山区".parse().unwrap(),
        },
        transaction,
        signature: crate::samples::signature(seed),
        certificate: vec![0x30, 0x03, 0x02, 0x01, 0x01],
        chain: None,
    }
}

/// The original a new receipt of `kind` carries (all of it for the kinds that name one).
fn original_for(kind: TransactionType) -> Option<OriginalRef> {
    kind.needs_original().then(full_original)
}

/// `bytes` with `edit` applied to the record map's entries.
fn edited(bytes: &[u8], edit: impl FnOnce(&mut Vec<(Value, Value)>)) -> Vec<u8> {
    let mut v = from_bytes(bytes).unwrap();
    let Value::Map(entries) = &mut v else { panic!("a record is a map") };
    edit(entries);
    to_bytes(&v)
}

fn entry(entries: &mut [(Value, Value)], key: u64) -> &mut Value {
    &mut entries.iter_mut().find(|(k, _)| k.as_integer() == Some(key.into())).expect("key present").1
}

/// `bytes` with `edit` applied to the transaction map's entries.
fn edited_transaction(bytes: &[u8], edit: impl FnOnce(&mut Vec<(Value, Value)>)) -> Vec<u8> {
    edited(bytes, |record| {
        let Value::Map(t) = entry(record, 3) else { panic!("the transaction is a map") };
        edit(t);
    })
}

fn set_version(bytes: &[u8], version: u64) -> Vec<u8> {
    edited(bytes, |r| *entry(r, 0) = uint(version))
}

fn version(bytes: &[u8]) -> u64 {
    MapReader::new(&from_bytes(bytes).unwrap(), "record").unwrap().int_as(0, "version").unwrap()
}

fn refused(bytes: &[u8]) -> String {
    decode_record(bytes).expect_err("refused").to_string()
}

#[test]
fn a_sale_is_version_2_and_every_other_kind_version_3() {
    for kind in KINDS {
        let bytes = encode_record(&record(1, kind, original_for(kind)));
        let want = if kind == TransactionType::Sale { 2 } else { 3 };
        assert_eq!(version(&bytes), want, "{kind}");
        let decoded = decode_record(&bytes).unwrap();
        assert_eq!(decoded.transaction.original, original_for(kind), "{kind}");
    }
    // A sale's bytes are the same whether or not this build knows of originals: no key 17.
    let sale = from_bytes(&encode_record(&record(1, TransactionType::Sale, None))).unwrap();
    let t = MapReader::new(MapReader::new(&sale, "r").unwrap().get(3, "t").unwrap(), "t").unwrap();
    assert!(t.opt(17).is_none() && t.opt(16).is_some());
}

#[test]
fn the_original_is_a_map_of_the_parts_present() {
    let refund = OriginalRef { receipt_id: None, batch: None, voucher: None, auth_code: None, ..full_original() };
    let bytes = encode_record(&record(2, TransactionType::Refund, Some(refund.clone())));
    let v = from_bytes(&bytes).unwrap();
    let t = MapReader::new(MapReader::new(&v, "r").unwrap().get(3, "t").unwrap(), "t").unwrap();
    let o = t.get(17, "original").unwrap();
    assert_eq!(*o, Value::Map(vec![(uint(3), text("332914500042")), (uint(5), text("2026-11-24"))]));
    assert_eq!(decode_record(&bytes).unwrap().transaction.original, Some(refund));
    let all = encode_record(&record(2, TransactionType::Void, Some(full_original())));
    let v = from_bytes(&all).unwrap();
    let t = MapReader::new(MapReader::new(&v, "r").unwrap().get(3, "t").unwrap(), "t").unwrap();
    let o = MapReader::new(t.get(17, "original").unwrap(), "o").unwrap();
    assert_eq!(o.text(0, "id").unwrap(), "POS00001-000001-000042");
    assert_eq!((o.int(1, "batch").unwrap(), o.int(2, "voucher").unwrap()), (1, 42));
    assert_eq!((o.text(3, "rrn").unwrap(), o.text(4, "auth").unwrap()), ("332914500042", "Z9Y8X7"));
}

#[test]
fn a_version_3_record_missing_a_part_its_kind_needs_is_refused_naming_it() {
    let refund = encode_record(&record(3, TransactionType::Refund, original_for(TransactionType::Refund)));
    let no_rrn = edited_transaction(&refund, |t| {
        let Value::Map(o) = entry(t, 17) else { panic!("the original is a map") };
        o.retain(|(k, _)| k.as_integer() != Some(3.into()));
    });
    assert_eq!(refused(&no_rrn), "receipt record: original.rrn: required for a REFUND");
    let void = encode_record(&record(3, TransactionType::Void, original_for(TransactionType::Void)));
    let no_original = edited_transaction(&void, |t| t.retain(|(k, _)| k.as_integer() != Some(17.into())));
    assert_eq!(refused(&no_original), "receipt record: original: required for a VOID");
    // A sale or pre-authorisation with an original is refused; a plain sale is never version 3.
    let sale = encode_record(&record(3, TransactionType::Sale, Some(full_original())));
    assert_eq!(version(&sale), 3);
    assert_eq!(refused(&sale), "receipt record: original: not allowed on a SALE");
    let preauth = encode_record(&record(3, TransactionType::PreAuth, Some(full_original())));
    assert_eq!(refused(&preauth), "receipt record: original: not allowed on a PRE-AUTH");
    let plain = set_version(&encode_record(&record(3, TransactionType::Sale, None)), 3);
    assert_eq!(refused(&plain), "receipt record: a SALE without an original cannot be in a version 3 record");
}

#[test]
fn a_bad_part_of_the_original_is_refused_naming_it() {
    let void = encode_record(&record(4, TransactionType::Void, original_for(TransactionType::Void)));
    let with = |key: u64, value: Value| {
        edited_transaction(&void, |t| {
            let Value::Map(o) = entry(t, 17) else { panic!("the original is a map") };
            *entry(o, key) = value;
        })
    };
    assert!(refused(&with(5, text("2026-11-4"))).contains("original.date"));
    assert!(refused(&with(5, uint(20261124))).contains("original.date"));
    assert!(refused(&with(3, text("33291450004"))).contains("original.rrn"));
    assert!(refused(&with(4, uint(1))).contains("original.auth_code"));
    assert!(refused(&with(1, uint(1_000_000))).contains("original.batch"));
    assert!(refused(&with(2, text("000042"))).contains("original.voucher"));
    assert!(refused(&with(0, text("POS00001"))).contains("original.receipt_id"));
    let not_a_map = edited_transaction(&void, |t| *entry(t, 17) = text("000042"));
    assert!(refused(&not_a_map).contains("original"));
}

#[test]
fn an_original_or_a_pre_auth_in_a_version_1_or_2_record_is_refused() {
    let void = encode_record(&record(5, TransactionType::Void, original_for(TransactionType::Void)));
    assert_eq!(
        refused(&set_version(&void, 2)),
        "receipt record: an original (transaction key 17) cannot be in a version 2 record"
    );
    let sale = encode_record(&record(5, TransactionType::Sale, None));
    let preauth = edited_transaction(&sale, |t| *entry(t, 3) = text("PRE-AUTH"));
    assert_eq!(refused(&preauth), "receipt record: a PRE-AUTH cannot be in a version 2 record");
    let mut v1 = record(5, TransactionType::PreAuth, None);
    v1.transaction.authorisation = Authorisation::Unstated;
    let v1 = set_version(&encode_record(&v1), 1);
    assert!(refused(&v1).contains("cannot be in a version 1 record"), "{}", refused(&v1));
    assert!(refused(&set_version(&sale, 4)).contains("version 4 is not supported"));
}

/// Voids, refunds and completions were labels before version 3: their records, without an
/// original, still decode and re-encode to the bytes their hash was taken of.
#[test]
fn old_voids_refunds_and_completions_decode_without_an_original() {
    let sale = encode_record(&record(6, TransactionType::Sale, None));
    let mut unstated = record(6, TransactionType::Sale, None);
    unstated.transaction.authorisation = Authorisation::Unstated;
    let sale_v1 = encode_record(&unstated);
    assert_eq!(version(&sale_v1), 1);
    for kind in [TransactionType::Void, TransactionType::Refund, TransactionType::PreAuthCompletion] {
        for old in [&sale, &sale_v1] {
            let bytes = edited_transaction(old, |t| *entry(t, 3) = text(kind.code()));
            let decoded = decode_record(&bytes).unwrap();
            assert_eq!((decoded.transaction.kind, decoded.transaction.original.as_ref()), (kind, None));
            assert_eq!(encode_record(&decoded), bytes, "{kind} of version {}", version(old));
        }
    }
}

fn arb_original(kind: TransactionType) -> impl Strategy<Value = Option<OriginalRef>> {
    let parts = (any::<[bool; 5]>(), 1u32..=999_999, 1u32..=999_999, 0i64..20_000);
    parts.prop_map(move |(keep, batch, voucher, days)| {
        if !kind.needs_original() {
            return None;
        }
        let f = full_original();
        let needs = |k: TransactionType| kind == k;
        Some(OriginalRef {
            receipt_id: f.receipt_id.filter(|_| keep[0]),
            batch: BatchNo::new(batch).ok().filter(|_| keep[1] || needs(TransactionType::Void)),
            voucher: VoucherNo::new(voucher).ok().filter(|_| keep[2] || needs(TransactionType::Void)),
            rrn: f.rrn.filter(|_| keep[3] || kind != TransactionType::PreAuthCompletion),
            auth_code: f.auth_code.filter(|_| keep[4] || kind != TransactionType::Refund),
            date: NaiveDate::from_ymd_opt(2000, 1, 1).unwrap() + chrono::Days::new(days as u64),
        })
    })
}

fn arb_record() -> impl Strategy<Value = ReceiptRecord> {
    (0usize..KINDS.len(), any::<u64>(), any::<bool>(), proptest::option::of(any::<(u64, [u8; 32])>())).prop_flat_map(
        |(k, seed, simulated, chain)| {
            let kind = KINDS[k];
            arb_original(kind).prop_map(move |original| {
                let mut r = record(seed % 1000, kind, original);
                if simulated {
                    r.transaction.authorisation = Authorisation::Simulated;
                }
                r.chain = chain.map(|(sequence, previous)| ChainLink { sequence, previous });
                r
            })
        },
    )
}

proptest! {
    #[test]
    fn every_kind_round_trips_through_its_bytes(r in arb_record()) {
        r.transaction.check_original().unwrap();
        let bytes = encode_record(&r);
        let decoded = decode_record(&bytes).unwrap();
        prop_assert_eq!(&decoded, &r);
        prop_assert_eq!(encode_record(&decoded), bytes.clone());
        let want = if r.transaction.kind == TransactionType::Sale { 2 } else { 3 };
        prop_assert_eq!(version(&bytes), want);
    }
}
