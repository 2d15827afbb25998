//! Receipts made at the same moment on one terminal (two tabs of the touch UI, or the
//! background pass making a late refund's receipt while the cashier sells) each get their own
//! chain link: none fails after its approval for want of a free sequence number.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::Utc;
use ereceipt_core::card::CardPolicy;
use ereceipt_core::identity::{create_ca, issue_terminal_in, Signer, TerminalMode};
use ereceipt_core::model::TerminalInfo;
use ereceipt_core::render::slip::{Fonts, SlipWidth};
use ereceipt_core::samples;
use ereceipt_core::txjson::parse_transaction;

use super::record_sale;
use crate::outbox::Outbox;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sales_composed_at_once_each_take_the_next_chain_link() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::open(&dir.path().join("outbox.db")).await.unwrap();
    let now = Utc::now();
    let info = TerminalInfo {
        terminal_id: "POS00081".parse().unwrap(),
        merchant_id: "898440358120001".parse().unwrap(),
        merchant_name: "深圳湾咖啡 Shenzhen Bay Coffee".parse().unwrap(),
        location: "深圳市南山区科苑路15号".parse().unwrap(),
    };
    let ca = create_ca("chain test CA", now - chrono::Duration::hours(1)).unwrap();
    let signer =
        Signer::new(&issue_terminal_in(&ca, &info, TerminalMode::Test, now - chrono::Duration::hours(1), 30).unwrap())
            .unwrap();
    let bytes = std::fs::read("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc").expect("run scripts/install-deps");
    let fonts = Fonts::from_bytes(vec![("wqy-microhei".into(), bytes, 0)]).unwrap();
    let policy = CardPolicy { accept_clear_tracks: true, allow_chip_fallback: false };
    let time = now.with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap()).to_rfc3339();
    let sell = |seed: u64| {
        let (outbox, signer, fonts) = (&outbox, &signer, &fonts);
        let (tx, _) = parse_transaction(&samples::transaction_json(seed, &time), &policy).unwrap();
        async move { record_sale(outbox, signer, fonts, SlipWidth::W576, tx, samples::signature(seed), None).await }
    };
    let (a, b, c, d, e, f) = tokio::join!(sell(0), sell(1), sell(2), sell(3), sell(4), sell(5));
    let made = [a, b, c, d, e, f];
    let mut sequences: Vec<u64> = Vec::new();
    for r in made {
        let r = r.expect("every sale gets its receipt");
        sequences.push(r.record.chain.expect("chained").sequence);
    }
    sequences.sort_unstable();
    assert_eq!(sequences, (1..=6).collect::<Vec<_>>(), "one link each, in one chain");
    assert_eq!(outbox.status().await.unwrap().pending, 6);
}
