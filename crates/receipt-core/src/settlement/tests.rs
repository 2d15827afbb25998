use super::*;
use crate::card::CardBrand;
use crate::contract::{MissingPlace, MissingReceipt};
use crate::identity::CertifiedKey;
use crate::model::{HostAnswer, LineTally, Money, SlipParts, TransactionType};
use crate::render::canvas::INK;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}/{name}")).unwrap()
}

fn fonts() -> Fonts {
    let path = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc";
    let bytes = std::fs::read(path).unwrap_or_else(|_| panic!("{path} missing: run scripts/install-deps"));
    Fonts::from_bytes(vec![("wqy-microhei".into(), bytes, 0)]).unwrap()
}

fn signer() -> Signer {
    Signer::new(&CertifiedKey::from_pem(&fixture("terminal.pem"), &fixture("terminal.key")).unwrap()).unwrap()
}

fn anchor() -> Vec<u8> {
    crate::identity::pem_decode(&fixture("ca.pem"), "CERTIFICATE").unwrap()
}

/// The batch of the host tests: two sales of 510.00 and a refund of 50.00 on UnionPay cards, a
/// Visa sale in dollars, one sale voided; `sale` is the second sale's amount.
fn slip(signer: &Signer, sale: u64, balanced: bool) -> SettlementSlip {
    let cny = "CNY".parse().unwrap();
    let usd = "USD".parse().unwrap();
    let mut tally = LineTally::default();
    for (kind, brand, minor, currency) in [
        (TransactionType::Sale, CardBrand::UnionPay, 51000, cny),
        (TransactionType::Sale, CardBrand::UnionPay, sale, cny),
        (TransactionType::Sale, CardBrand::Visa, 2000, usd),
        (TransactionType::Sale, CardBrand::UnionPay, 1200, cny),
        (TransactionType::Void, CardBrand::UnionPay, 1200, cny),
        (TransactionType::Refund, CardBrand::UnionPay, 5000, cny),
    ] {
        tally.add(kind, brand, Money::new(minor, currency).unwrap());
    }
    let parts = SlipParts {
        terminal: signer.certificate().terminal.clone(),
        batch: "000001".parse().unwrap(),
        operator: "01".parse().unwrap(),
        first: Some("2026-12-01T09:00:00+08:00".parse().unwrap()),
        last: Some("2026-12-01T17:30:00+08:00".parse().unwrap()),
        settled_at: "2026-12-01T18:00:00+08:00".parse().unwrap(),
        host: HostAnswer { domestic_balanced: balanced, foreign_balanced: true },
    };
    SettlementSlip::new(parts, tally.into_lines()).unwrap()
}

fn composed(sale: u64) -> ComposedSettlement {
    let s = signer();
    compose_settlement(slip(&s, sale, true), &s, &fonts(), SlipWidth::W576).unwrap()
}

#[test]
fn a_slip_verifies_back_to_the_slip_it_states() {
    let c = composed(51000);
    let v = verify_settlement(&c.png, &anchor()).unwrap();
    assert_eq!(v.slip, c.slip);
    assert_eq!(v.hash, c.hash);
    assert_eq!(v.certificate.terminal.terminal_id.as_str(), "POS00001");
    assert!(c.qr_text.starts_with(SETTLEMENT_PREFIX));
    // What the slip prints: the net is the sales less the void and the refund.
    let view = settlement_view(&c.slip);
    assert_eq!(view.sections.len(), 2, "CNY and USD");
    assert_eq!(view.sections[0].net, "RMB 970.00");
    assert_eq!(view.sections[1].net, "USD 20.00");
    assert_eq!((view.answer_zh.as_str(), view.answer_en.as_str()), ("对账平", "BALANCED"));
    let sale = &view.sections[0].kinds[0];
    assert_eq!((sale.title.as_str(), sale.count.as_str(), sale.total.as_str()), ("消费 SALE", "3", "RMB 1,032.00"));
    // The same slip gives the same image.
    assert_eq!(c.png, composed(51000).png);
    let unbalanced = settlement_view(&slip(&signer(), 51000, false));
    assert_eq!(unbalanced.answer_en, "NOT BALANCED");
}

/// A forger paints another slip's total over a genuine one (each pixel that differs): refused,
/// with the altered area named; and the other slip's signed data in the genuine image is
/// refused as well.
#[test]
fn a_tampered_total_is_refused() {
    let genuine = composed(51000);
    let other = composed(61000);
    assert_eq!(genuine.image.height(), other.image.height(), "the same layout");
    let mut forged = genuine.image.clone();
    let (w, h) = (forged.width(), forged.height());
    let mut changed = 0;
    for y in 0..h {
        for x in 0..w {
            let (a, b) = (genuine.image.get(x.into(), y.into()), other.image.get(x.into(), y.into()));
            if b == Some(INK) && a != Some(INK) {
                forged.set(x.into(), y.into(), INK);
                changed += 1;
            }
        }
    }
    assert!(changed > 0);
    let png = png::encode(&forged, Some(&genuine.qr_text)).unwrap();
    match verify_settlement(&png, &anchor()) {
        Err(SettlementRefused::Tampered { regions, .. }) => assert!(!regions.is_empty()),
        other => panic!("forged total accepted or misjudged: {other:?}"),
    }
    let swapped = png::encode(&genuine.image, Some(&other.qr_text)).unwrap();
    assert!(matches!(verify_settlement(&swapped, &anchor()), Err(SettlementRefused::Tampered { .. })));
    // The genuine file still verifies: the refusals are the edits'.
    assert!(verify_settlement(&genuine.png, &anchor()).is_ok());
}

/// A receipt's signatures are not a settlement's, and a settlement's are not a receipt's: at
/// the QR payload (its own prefix and COSE domain) and at the watermark (its own print).
#[test]
fn a_receipt_does_not_verify_as_a_settlement_nor_a_settlement_as_a_receipt() {
    let receipt = std::fs::read(format!("{FIXTURES}/golden-576.png")).unwrap();
    assert!(matches!(verify_settlement(&receipt, &anchor()), Err(SettlementRefused::NoSignedData(_))));
    // The receipt's COSE signature under the settlement prefix: its domain differs.
    let text = crate::render::png::decode(&receipt).unwrap().payload.unwrap();
    let relabelled = text.replacen(claims::PREFIX, SETTLEMENT_PREFIX, 1);
    assert!(matches!(claims::open_payload(&relabelled, &DOMAIN), Err(ClaimsError::Signature)));

    let c = composed(51000);
    let as_receipt = crate::verify::verify_image(&c.png, &anchor());
    assert_ne!(as_receipt.verdict, crate::verify::Verdict::Authentic, "{}", as_receipt.reason);
    let relabelled = c.qr_text.replacen(SETTLEMENT_PREFIX, claims::PREFIX, 1);
    assert!(matches!(claims::open(&relabelled), Err(ClaimsError::Signature)));
    // The slip's watermark read as a receipt's does not verify, read as a settlement's it does.
    let cert = signer().certificate().clone();
    let read = |prints: &[Print]| match watermark::extract_prints(&c.image, &c.hash, &cert, &Tolerance::Exact, prints) {
        Extraction::Read(i) => i.signature_valid,
        other => panic!("{other:?}"),
    };
    assert!(!read(&watermark::RECEIPT_PRINTS));
    assert!(read(&[Print::Settlement]));
}

#[test]
fn a_slip_of_another_terminal_or_signer_is_refused() {
    let s = signer();
    let mut other = slip(&s, 51000, true);
    other.terminal.terminal_id = "POS00002".parse().unwrap();
    assert!(matches!(compose_settlement(other, &s, &fonts(), SlipWidth::W576), Err(SettlementError::NotSigner { .. })));
    // A CA that did not certify the terminal.
    let stranger = crate::identity::create_ca("stranger", chrono::Utc::now()).unwrap();
    assert!(matches!(
        verify_settlement(&composed(51000).png, &stranger.cert_der),
        Err(SettlementRefused::Untrusted(_))
    ));
}

#[test]
fn an_empty_batch_has_a_slip_too() {
    let s = signer();
    let mut parts_slip = slip(&s, 51000, true);
    parts_slip = SettlementSlip::new(
        SlipParts {
            terminal: parts_slip.terminal.clone(),
            batch: parts_slip.batch,
            operator: parts_slip.operator.clone(),
            first: None,
            last: None,
            settled_at: parts_slip.settled_at,
            host: parts_slip.host,
        },
        Vec::new(),
    )
    .unwrap();
    let c = compose_settlement(parts_slip, &s, &fonts(), SlipWidth::W384).unwrap();
    assert!(verify_settlement(&c.png, &anchor()).unwrap().slip.lines().is_empty());
}

/// The receipts of `slip(.., 51000, ..)`, chained 1..=6 with trace numbers 101..=106.
fn held() -> Vec<HeldReceipt> {
    let cny = "CNY".parse().unwrap();
    let usd = "USD".parse().unwrap();
    let m = |minor, c| Money::new(minor, c).unwrap();
    [
        (TransactionType::Sale, CardBrand::UnionPay, m(51000, cny)),
        (TransactionType::Sale, CardBrand::UnionPay, m(51000, cny)),
        (TransactionType::Sale, CardBrand::Visa, m(2000, usd)),
        (TransactionType::Sale, CardBrand::UnionPay, m(1200, cny)),
        (TransactionType::Void, CardBrand::UnionPay, m(1200, cny)),
        (TransactionType::Refund, CardBrand::UnionPay, m(5000, cny)),
    ]
    .into_iter()
    .zip(1u32..)
    .map(|((kind, brand, amount), i)| HeldReceipt { kind, brand, amount, serial: 100 + i, sequence: Some(i.into()) })
    .collect()
}

#[test]
fn reconciliation_names_a_missing_receipt_and_a_total_that_differs() {
    let s = slip(&signer(), 51000, true);
    let cny = "CNY".parse().unwrap();
    let usd = "USD".parse().unwrap();
    let m = |minor, c| Money::new(minor, c).unwrap();
    let all = held();
    let r = reconcile(&s, &all, None);
    assert!(r.balanced && r.differences.is_empty() && r.missing.is_empty(), "{r:?}");
    // The refund's receipt (the last of the batch) never arrived.
    let r = reconcile(&s, &all[..5], None);
    assert!(!r.balanced);
    assert_eq!(r.differences.len(), 1);
    let d = &r.differences[0];
    assert_eq!(
        (d.kind.as_str(), d.brand.as_str(), d.issue, d.slip_count, d.platform_count),
        ("REFUND", "unionpay", crate::contract::DifferenceIssue::MissingReceipts, 1, 0)
    );
    assert_eq!(d.text, "REFUND UnionPay: 1 receipt(s) missing (slip 1 × CNY 50.00, platform 0 × CNY 0.00)");
    assert_eq!(
        r.missing,
        [MissingReceipt { sequence: 6, receipt_id: None, place: MissingPlace::AfterLast }],
        "named after the last held one"
    );
    // A sale of another amount: same count, another total.
    let mut other = all.clone();
    other[1].amount = m(41000, cny);
    let r = reconcile(&s, &other, None);
    assert_eq!(r.differences.len(), 1);
    assert_eq!(r.differences[0].issue, crate::contract::DifferenceIssue::TotalDiffers);
    assert_eq!((r.differences[0].slip_minor, r.differences[0].platform_minor), (103200, 93200));
    assert!(r.missing.is_empty());
    // A receipt the slip does not count.
    let mut extra = all.clone();
    extra.push(HeldReceipt {
        kind: TransactionType::PreAuth,
        brand: CardBrand::Visa,
        amount: m(100, usd),
        serial: 107,
        sequence: Some(7),
    });
    let r = reconcile(&s, &extra, None);
    assert_eq!(r.differences[0].issue, crate::contract::DifferenceIssue::ExtraReceipts);
    assert_eq!(r.differences[0].currency, "USD");
}

#[test]
fn a_sale_counted_under_another_brand_is_two_differences() {
    let s = slip(&signer(), 51000, true);
    let mut all = held();
    // Same count and total per kind and currency; only the brand tells.
    all[0].brand = CardBrand::Mastercard;
    let r = reconcile(&s, &all, None);
    assert!(!r.balanced);
    let brands: Vec<(&str, crate::contract::DifferenceIssue)> =
        r.differences.iter().map(|d| (d.brand.as_str(), d.issue)).collect();
    assert_eq!(
        brands,
        [
            ("unionpay", crate::contract::DifferenceIssue::MissingReceipts),
            ("mastercard", crate::contract::DifferenceIssue::ExtraReceipts)
        ]
    );
}

#[test]
fn a_gap_between_held_receipts_is_named_with_its_id_when_trace_numbers_tell() {
    let s = slip(&signer(), 51000, true);
    let all = held();
    let mut without_third: Vec<HeldReceipt> = all.clone();
    without_third.remove(2);
    let r = reconcile(&s, &without_third, None);
    let terminal = &s.terminal.terminal_id;
    assert_eq!(
        r.missing,
        [MissingReceipt {
            sequence: 3,
            receipt_id: Some(format!("{terminal}-000001-000103")),
            place: MissingPlace::Between
        }]
    );
    // A trace number skipped (a declined transaction) between the neighbours: no id.
    let mut skipped = without_third.clone();
    for h in skipped.iter_mut().skip(2) {
        h.serial += 1;
    }
    let r = reconcile(&s, &skipped, None);
    assert_eq!(r.missing.len(), 1);
    assert_eq!((r.missing[0].sequence, r.missing[0].receipt_id.as_deref()), (3, None));
    // After the last held one, no more are named than the chain leaves room for before the
    // next batch's first receipt.
    let r = reconcile(&s, &all[..4], Some(6));
    assert_eq!(r.missing.iter().map(|m| m.sequence).collect::<Vec<_>>(), [5]);
}
