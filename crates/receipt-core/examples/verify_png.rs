//! A load-independent measure of the PNG verification: `verify_png FILE [N]` writes the
//! benchmark's receipt to FILE when it does not exist, else verifies FILE N times, so that
//! `valgrind --tool=callgrind --toggle-collect='ereceipt_core::verify::examine_image'` counts
//! the instructions of N verifications alone (docs/speed.md). A FILE ending in `.jpg` gets the
//! JPEG benchmark's file instead: the receipt as an RGB JPEG, q75, 4:2:0.

#![allow(clippy::expect_used)] // a measurement aborts on broken fixtures
use ereceipt_core::card::CardPolicy;
use ereceipt_core::compose::{build_record, compose_receipt, Sale};
use ereceipt_core::identity::{pem_decode, CertifiedKey, Signer};
use ereceipt_core::render::slip::{Fonts, SlipWidth};
use ereceipt_core::signature::Signature;
use ereceipt_core::txjson::parse_transaction;
use ereceipt_core::verify::{verify_image, Verdict};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}/{name}")).expect("fixture")
}

fn main() {
    let path = std::env::args().nth(1).expect("png path");
    let n: usize = std::env::args().nth(2).map_or(1, |s| s.parse().expect("n"));
    let anchor = pem_decode(&fixture("ca.pem"), "CERTIFICATE").expect("ca");
    if !std::path::Path::new(&path).exists() {
        let font = std::fs::read("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc").expect("font");
        let fonts = Fonts::from_bytes(vec![("wqy-microhei".into(), font, 0)]).expect("font");
        let signer =
            Signer::new(&CertifiedKey::from_pem(&fixture("terminal.pem"), &fixture("terminal.key")).expect("key"))
                .expect("signer");
        let policy = CardPolicy { accept_clear_tracks: true, allow_chip_fallback: false };
        let (transaction, _) = parse_transaction(&fixture("transaction.json"), &policy).expect("tx");
        let sig = Signature::from_signature_pad_json(&fixture("signature.json")).expect("signature");
        let record = build_record(Sale { transaction, signature: sig, chain: None }, &signer).expect("record");
        let r = compose_receipt(record, &signer, &fonts, SlipWidth::W576).expect("compose");
        if path.ends_with(".jpg") {
            let rgb: Vec<u8> = r.image.pixels().iter().flat_map(|&v| [v, v, v]).collect();
            let mut jpeg = Vec::new();
            let mut enc = jpeg_encoder::Encoder::new(&mut jpeg, 75);
            enc.set_sampling_factor(jpeg_encoder::SamplingFactor::R_4_2_0);
            let (w, h) = (r.image.width() as u16, r.image.height() as u16);
            enc.encode(&rgb, w, h, jpeg_encoder::ColorType::Rgb).expect("jpeg");
            std::fs::write(&path, jpeg).expect("write");
        } else {
            std::fs::write(&path, &r.png).expect("write");
        }
        return;
    }
    let png = std::fs::read(&path).expect("read");
    for _ in 0..n {
        let v = verify_image(&png, &anchor);
        assert_eq!(v.verdict, Verdict::Authentic, "{}", v.reason);
    }
}
