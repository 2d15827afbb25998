//! A reprint is a new image over the same signed record: it verifies as an authentic duplicate
//! with the receipt's record hash, and it writes nothing (no entry, no chain link, no trace).
//! After a renewal it is made only when the new certificate can seal a duplicate that verifies.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Duration, Utc};
use ereceipt_core::card::CardPolicy;
use ereceipt_core::identity::{create_ca, issue_terminal_in, CertifiedKey, Signer, TerminalMode};
use ereceipt_core::model::TerminalInfo;
use ereceipt_core::render::slip::{Fonts, SlipWidth};
use ereceipt_core::samples;
use ereceipt_core::txjson::parse_transaction;
use ereceipt_core::verify::{verify_image, Verdict};

use super::{reprint, reprintable, ReprintError, Which};
use crate::outbox::Outbox;
use crate::sale::{record_sale, Composer};

fn fonts() -> Fonts {
    let path = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc";
    let bytes = std::fs::read(path).unwrap_or_else(|_| panic!("{path} missing: run scripts/install-deps"));
    Fonts::from_bytes(vec![("wqy-microhei".into(), bytes, 0)]).unwrap()
}

fn info() -> TerminalInfo {
    TerminalInfo {
        terminal_id: "POS00079".parse().unwrap(),
        merchant_id: "898440358120001".parse().unwrap(),
        merchant_name: "深圳湾咖啡 Shenzhen Bay Coffee".parse().unwrap(),
        location: "深圳市南山区科苑路15号".parse().unwrap(),
    }
}

fn signer(ca: &CertifiedKey, issued: DateTime<Utc>) -> Signer {
    Signer::new(&issue_terminal_in(ca, &info(), TerminalMode::Test, issued, 30).unwrap()).unwrap()
}

/// Stores `n` sales made at `at`, signed by `signer`; returns their ids.
async fn sell(outbox: &Outbox, signer: &Signer, fonts: &Fonts, at: DateTime<Utc>, n: u64) -> Vec<String> {
    let policy = CardPolicy { accept_clear_tracks: true, allow_chip_fallback: false };
    let mut ids = Vec::new();
    for seed in 0..n {
        let time = at.with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap()).to_rfc3339();
        let (tx, _) = parse_transaction(&samples::transaction_json(seed, &time), &policy).unwrap();
        let r = record_sale(outbox, signer, fonts, SlipWidth::W576, tx, samples::signature(seed), None).await.unwrap();
        ids.push(r.record.id.to_string());
    }
    ids
}

#[tokio::test]
async fn a_reprint_is_an_authentic_duplicate_of_the_same_record_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::open(&dir.path().join("outbox.db")).await.unwrap();
    let now = Utc::now();
    let ca = create_ca("reprint test CA", now - Duration::hours(1)).unwrap();
    let signer = signer(&ca, now - Duration::hours(1));
    let fonts = fonts();
    let ids = sell(&outbox, &signer, &fonts, now, 3).await;
    let before =
        (outbox.status().await.unwrap(), outbox.next_link().await.unwrap(), outbox.open_batch().await.unwrap());
    let composer = Composer { signer: &signer, fonts: &fonts, width: SlipWidth::W576 };

    for which in [Which::Receipt(&ids[0]), Which::Last] {
        let dup = reprint(&outbox, composer, which).await.unwrap();
        let id = dup.record.id.to_string();
        let stored = outbox.entry(&id).await.unwrap().unwrap();
        assert_eq!(dup.record_hash, stored.record_hash, "the same signed record");
        assert_eq!(dup.record_bytes, stored.record);
        assert_ne!(dup.png, stored.png, "a new image");
        let v = verify_image(&dup.png, &ca.cert_der);
        assert_eq!(v.verdict, Verdict::Authentic, "{}", v.reason);
        assert!(v.duplicate, "the verifier says it is a duplicate: {:?}", v.warnings);
        assert_eq!(v.receipt.unwrap().record_hash, hex::encode(stored.record_hash));
        let first = verify_image(&stored.png, &ca.cert_der);
        assert!(first.verdict == Verdict::Authentic && !first.duplicate, "the first print is not one");
    }
    assert_eq!(reprint(&outbox, composer, Which::Last).await.unwrap().record.id.to_string(), ids[2]);
    let after = (outbox.status().await.unwrap(), outbox.next_link().await.unwrap(), outbox.open_batch().await.unwrap());
    assert_eq!(before, after, "no entry, no chain link, no trace taken");
    assert_eq!(outbox.authorisation_count().await.unwrap(), 0, "no journal row");

    let e = reprint(&outbox, composer, Which::Receipt("POS00079-000001-999999")).await.unwrap_err();
    assert!(matches!(e, ReprintError::NotFound(_)), "{e}");
    assert_eq!(e.to_string(), "no receipt POS00079-000001-999999 on this terminal");

    // The screen's list: the last receipt first, then the open batch, newest first.
    let list = reprintable(&outbox).await.unwrap();
    assert_eq!(list.last.as_ref().map(|l| l.receipt_id.as_str()), Some(ids[2].as_str()));
    let listed: Vec<&str> = list.batch.iter().map(|l| l.receipt_id.as_str()).collect();
    assert_eq!(listed, [&ids[2], &ids[1], &ids[0]]);
    assert!(list.batch[0].amount.starts_with("RMB "), "{}", list.batch[0].amount);
}

#[tokio::test]
async fn an_empty_outbox_has_nothing_to_reprint() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::open(&dir.path().join("outbox.db")).await.unwrap();
    let now = Utc::now();
    let ca = create_ca("reprint test CA", now).unwrap();
    let (signer, fonts) = (signer(&ca, now), fonts());
    let composer = Composer { signer: &signer, fonts: &fonts, width: SlipWidth::W384 };
    let e = reprint(&outbox, composer, Which::Last).await.unwrap_err();
    assert!(matches!(e, ReprintError::NoReceipt), "{e}");
    let list = reprintable(&outbox).await.unwrap();
    assert!(list.last.is_none() && list.batch.is_empty());
}

/// A renewal gives the terminal a new key and a certificate valid from the renewal on: the old
/// key is gone, and a duplicate sealed by the new one would be judged at the sale's time, when
/// its signer was not valid yet. That is refused with the reason; a renewed certificate already
/// valid at the sale's time seals a duplicate that verifies.
#[tokio::test]
async fn after_a_renewal_a_reprint_is_made_only_if_it_would_verify() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::open(&dir.path().join("outbox.db")).await.unwrap();
    let now = Utc::now();
    let sale_at = now - Duration::days(2);
    let ca = create_ca("reprint test CA", now - Duration::days(3)).unwrap();
    let fonts = fonts();
    let ids = sell(&outbox, &signer(&ca, now - Duration::days(3)), &fonts, sale_at, 1).await;

    let renewed = signer(&ca, now);
    let composer = Composer { signer: &renewed, fonts: &fonts, width: SlipWidth::W576 };
    let e = reprint(&outbox, composer, Which::Receipt(&ids[0])).await.unwrap_err();
    assert!(matches!(e, ReprintError::Renewed { .. }), "{e}");
    let text = e.to_string();
    assert!(
        text.contains("earlier certificate") && text.contains("after the sale") && text.contains("resend"),
        "{text}"
    );

    // Renewed before the sale happened (valid at its time): the duplicate verifies.
    let overlapping = signer(&ca, now - Duration::days(3));
    let composer = Composer { signer: &overlapping, fonts: &fonts, width: SlipWidth::W576 };
    let dup = reprint(&outbox, composer, Which::Receipt(&ids[0])).await.unwrap();
    let v = verify_image(&dup.png, &ca.cert_der);
    assert_eq!(v.verdict, Verdict::Authentic, "{}", v.reason);
    assert!(v.duplicate);
}
