//! Speed of the receipt core: create one receipt (compose record, render, sign, watermark, PNG
//! encode) and verify one (PNG decode, COSE + chain check, watermark extraction), plus the
//! slower path of a JPEG without the metadata chunk (QR read from the pixels), and that QR
//! read alone.
//! Run: `cargo bench -p ereceipt-core --bench receipt`. Times are the benchmark thread's CPU
//! time (see [`cpu`]), so that other work on a shared machine does not inflate them.

#![allow(clippy::expect_used)] // a benchmark aborts on broken fixtures

#[path = "common/cpu.rs"]
mod cpu;

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use ereceipt_core::card::CardPolicy;
use ereceipt_core::compose::{build_record, compose_receipt, Sale};
use ereceipt_core::identity::{pem_decode, CertifiedKey, Signer};
use ereceipt_core::render::qr;
use ereceipt_core::render::slip::{Fonts, SlipWidth};
use ereceipt_core::signature::Signature;
use ereceipt_core::txjson::parse_transaction;
use ereceipt_core::verify::{verify_image, Verdict};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}/{name}")).expect("fixture")
}

/// A routine for `iter_custom`: `iters` runs of `f`, each timed by [`cpu::time`].
fn per_iteration(f: &dyn Fn()) -> impl FnMut(u64) -> Duration + '_ {
    move |iters| (0..iters).map(|_| cpu::time(f)).sum()
}

fn bench(c: &mut Criterion) {
    let font = std::fs::read("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc").expect("run scripts/install-deps");
    let fonts = Fonts::from_bytes(vec![("wqy-microhei".into(), font, 0)]).expect("font");
    let signer = Signer::new(&CertifiedKey::from_pem(&fixture("terminal.pem"), &fixture("terminal.key")).expect("key"))
        .expect("signer");
    let anchor = pem_decode(&fixture("ca.pem"), "CERTIFICATE").expect("ca");
    let policy = CardPolicy { accept_clear_tracks: true, allow_chip_fallback: false };
    let tx = fixture("transaction.json");
    let sig = Signature::from_signature_pad_json(&fixture("signature.json")).expect("signature");
    let make = || {
        let (transaction, _) = parse_transaction(&tx, &policy).expect("tx");
        let record = build_record(Sale { transaction, signature: sig.clone(), chain: None }, &signer).expect("record");
        compose_receipt(record, &signer, &fonts, SlipWidth::W576).expect("compose")
    };
    let receipt = make();
    c.bench_function("create receipt (576 px)", |b| {
        b.iter_custom(per_iteration(&|| {
            make();
        }))
    });
    c.bench_function("verify receipt (PNG)", |b| {
        b.iter_custom(per_iteration(&|| assert_eq!(verify_image(&receipt.png, &anchor).verdict, Verdict::Authentic)))
    });
    let mut jpeg = Vec::new();
    let rgb: Vec<u8> = receipt.image.pixels().iter().flat_map(|&v| [v, v, v]).collect();
    let mut enc = jpeg_encoder::Encoder::new(&mut jpeg, 75);
    enc.set_sampling_factor(jpeg_encoder::SamplingFactor::R_4_2_0);
    enc.encode(&rgb, receipt.image.width() as u16, receipt.image.height() as u16, jpeg_encoder::ColorType::Rgb)
        .expect("jpeg");
    c.bench_function("verify receipt (JPEG q75, QR scanned)", |b| {
        b.iter_custom(per_iteration(&|| assert_eq!(verify_image(&jpeg, &anchor).verdict, Verdict::Authentic)))
    });
    // The QR part of that alone, on the decoded JPEG's pixels.
    let seen = ereceipt_core::render::png::decode(&jpeg).expect("decode").canvas;
    c.bench_function("read the QR code from a JPEG's pixels", |b| {
        b.iter_custom(per_iteration(&|| assert_eq!(qr::read(&seen).expect("qr"), receipt.qr_text)))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50);
    targets = bench
}
criterion_main!(benches);
