//! Verification cost on crafted inputs: every adversarial image of [`images`] goes through the
//! full `verify_image` path, one criterion benchmark each (timed by thread CPU time, see
//! [`cpu`]), and the run fails (exit code 1) if any single input's median exceeds the budget of
//! issue 10 §4 or is judged authentic.
//! Run: `cargo bench -p ereceipt-core --bench crafted` (criterion filters work as usual;
//! `CRAFTED_DUMP=DIR` also writes the inputs there as files).

#![allow(clippy::expect_used, clippy::unwrap_used)] // a benchmark aborts on broken fixtures

#[path = "../common/cpu.rs"]
mod cpu;
mod images;

use std::cell::RefCell;
use std::time::Duration;

use criterion::Criterion;
use ereceipt_core::card::CardPolicy;
use ereceipt_core::compose::{build_record, compose_receipt, Sale};
use ereceipt_core::identity::{pem_decode, CertifiedKey, Signer};
use ereceipt_core::render::canvas::Canvas;
use ereceipt_core::render::slip::{Fonts, SlipWidth};
use ereceipt_core::signature::Signature;
use ereceipt_core::txjson::parse_transaction;
use ereceipt_core::verify::{verify_image, Verdict};
use images::*;

/// Largest median verification time allowed for any single input (issue 10 §4).
const BUDGET: Duration = Duration::from_millis(50);

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}/{name}")).expect("fixture")
}

fn png(c: &Canvas, payload: Option<&str>) -> Vec<u8> {
    ereceipt_core::render::png::encode(c, payload).expect("png")
}

fn jpeg(c: &Canvas, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, quality)
        .encode(c.pixels(), c.width() as u16, c.height() as u16, jpeg_encoder::ColorType::Luma)
        .expect("jpeg");
    out
}

/// `c` as a grey RGB JPEG (neutral chroma: what the one-pass luma decoder takes), with
/// `sampling` and a restart interval (0 for none).
fn rgb_jpeg(c: &Canvas, quality: u8, sampling: jpeg_encoder::SamplingFactor, restart: u16) -> Vec<u8> {
    let rgb: Vec<u8> = c.pixels().iter().flat_map(|&v| [v, v, v]).collect();
    let mut out = Vec::new();
    let mut enc = jpeg_encoder::Encoder::new(&mut out, quality);
    enc.set_sampling_factor(sampling);
    if restart > 0 {
        enc.set_restart_interval(restart);
    }
    enc.encode(&rgb, c.width() as u16, c.height() as u16, jpeg_encoder::ColorType::Rgb).expect("jpeg");
    out
}

/// 8×8 blocks alternating black and white: the largest DC difference in every block.
fn dc_swings(w: u32, h: u32) -> Canvas {
    let px = (0..w * h).map(|i| if ((i % w) / 8 + (i / w) / 8).is_multiple_of(2) { 0 } else { 255 }).collect();
    Canvas::from_pixels(w, h, px).expect("size")
}

/// The golden receipt (its QR payload is valid signed data for the fixture CA).
fn genuine() -> (Canvas, String) {
    let font = std::fs::read("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc").expect("run scripts/install-deps");
    let fonts = Fonts::from_bytes(vec![("wqy-microhei".into(), font, 0)]).expect("font");
    let signer = Signer::new(&CertifiedKey::from_pem(&fixture("terminal.pem"), &fixture("terminal.key")).expect("key"))
        .expect("signer");
    let policy = CardPolicy { accept_clear_tracks: true, allow_chip_fallback: false };
    let (transaction, _) = parse_transaction(&fixture("transaction.json"), &policy).expect("tx");
    let signature = Signature::from_signature_pad_json(&fixture("signature.json")).expect("signature");
    let record = build_record(Sale { transaction, signature, chain: None }, &signer).expect("record");
    let r = compose_receipt(record, &signer, &fonts, SlipWidth::W576).expect("compose");
    (r.image, r.qr_text)
}

/// `top` above `bottom`, as one image of their common width.
fn stack(top: &Canvas, bottom: &Canvas) -> Canvas {
    let mut px = top.pixels().to_vec();
    px.extend_from_slice(bottom.pixels());
    Canvas::from_pixels(top.width(), top.height() + bottom.height(), px).expect("same width")
}

/// Every crafted input, named.
fn inputs() -> Vec<(String, Vec<u8>)> {
    let (receipt, payload) = genuine();
    let h = MAX_HEIGHT;
    let lattice = finder_lattice(576, h, 0, h, 1, 9);
    let mut v: Vec<(String, Vec<u8>)> = vec![
        ("finder lattice 1-px modules, 9-px pitch, 576x4096 (review H3)".into(), png(&lattice, None)),
        ("finder lattice 3-px modules, 576x4096".into(), png(&finder_lattice(576, h, 0, h, 3, 24), None)),
        ("finder lattice 1-px modules, 384x4096".into(), png(&finder_lattice(384, h, 0, h, 1, 9), None)),
        ("finder lattice, bottom rows only, 576x1024".into(), png(&finder_lattice(576, 1024, 400, 1024, 1, 9), None)),
        ("finder lattice under a garbage ereceipt tEXt".into(), png(&lattice, Some("ER1:NOT A RECEIPT"))),
        ("finder lattice under a genuine receipt's tEXt".into(), png(&lattice, Some(&payload))),
        ("finder lattice as JPEG q75".into(), jpeg(&lattice, 75)),
    ];
    for (n, pitch) in [(48, 30), (48, 14), (16, 40), (8, 60)] {
        v.push((
            format!("{n} flat finders at {pitch}-px pitch (rqrr fallback at its limit)"),
            png(&flat_finders(576, 1024, n, pitch), None),
        ));
    }
    for cell in [1, 2, 3] {
        v.push((format!("binary noise {cell}-px cells, 576x4096"), png(&noise(576, h, cell, cell.into()), None)));
    }
    v.push(("grey noise 576x4096".into(), png(&grey_noise(576, h, 7), None)));
    v.push(("grey noise 576x4096 as JPEG q100".into(), jpeg(&grey_noise(576, h, 7), 100)));
    v.push(("binary noise 3-px cells as JPEG q75".into(), jpeg(&noise(576, h, 3, 3), 75)));
    // The one-pass luma decoder's worst cases: every luma block full (the longest codes of the
    // standard tables), a restart marker after every MCU, the largest DC swing in every block.
    use jpeg_encoder::SamplingFactor as S;
    let grey = grey_noise(576, h, 7);
    v.push(("grey noise 576x4096 as RGB JPEG q100 4:4:4".into(), rgb_jpeg(&grey, 100, S::R_4_4_4, 0)));
    v.push(("grey noise 576x4096 as RGB JPEG q100 4:2:0, RST every MCU".into(), rgb_jpeg(&grey, 100, S::R_4_2_0, 1)));
    v.push((
        "8x8 black and white blocks 576x4096 as RGB JPEG q100".into(),
        rgb_jpeg(&dc_swings(576, h), 100, S::R_4_2_0, 0),
    ));
    v.push(("grey noise under a genuine receipt's tEXt".into(), png(&grey_noise(576, h, 8), Some(&payload))));
    // Fake symbols where the layout puts the code: they reach error correction.
    for (len, m, count) in [(3300, 1, 4), (3300, 3, 1), (3300, 2, 2), (1000, 2, 4), (600, 3, 3), (10, 2, 4)] {
        v.push((
            format!("{count} fake symbols ({} modules, {m}-px) centred at the bottom", symbol_size(len)),
            png(&fake_symbols_centred(576, 1024, len, m, count, len as u64), None),
        ));
    }
    v.push(("fake v40 symbols, 384 px".into(), png(&fake_symbols_centred(384, 1024, 3300, 1, 4, 5), None)));
    for len in [10, 100] {
        v.push((
            format!("tiles of QR symbols ({} modules, 1-px) over the bottom rows", symbol_size(len)),
            png(&qr_block_tiles(576, 1024, len, 11), None),
        ));
    }
    for (size, m) in [(177, 3), (21, 1), (101, 2)] {
        v.push((
            format!("rows that look like a {size}-module symbol's top edge ({m}-px)"),
            png(&top_edge_rows(576, 1024, size, m), None),
        ));
    }
    v.push(("blank 576x4096".into(), png(&Canvas::new(576, h), None)));
    v.push(("blank 384x4096".into(), png(&Canvas::new(384, h), None)));
    v.push(("blank 576x4096 as JPEG q100".into(), jpeg(&Canvas::new(576, h), 100)));
    let padded = stack(&noise(576, h - receipt.height(), 2, 9), &receipt);
    v.push(("genuine receipt under 576x4096 of noise, JPEG q90".into(), jpeg(&padded, 90)));
    v.push(("genuine receipt under noise, PNG with its tEXt".into(), png(&padded, Some(&payload))));
    v
}

fn main() {
    let anchor = pem_decode(&fixture("ca.pem"), "CERTIFICATE").expect("ca");
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .configure_from_args();
    let mut report = Vec::new();
    // CRAFTED_DUMP=DIR writes the inputs as files, to try them on other verifiers.
    let dump = std::env::var_os("CRAFTED_DUMP");
    for (i, (name, bytes)) in inputs().into_iter().enumerate() {
        if let Some(dir) = &dump {
            let ext = if bytes.starts_with(&[0xff, 0xd8]) { "jpg" } else { "png" };
            std::fs::write(std::path::Path::new(dir).join(format!("crafted-{i:02}.{ext}")), &bytes).expect("dump");
        }
        let verdict = verify_image(&bytes, &anchor);
        let times = RefCell::new(Vec::new());
        c.bench_function(&name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let t = cpu::time(|| verify_image(std::hint::black_box(&bytes), &anchor));
                    times.borrow_mut().push(t);
                    total += t;
                }
                total
            })
        });
        let mut times = times.into_inner();
        // Criterion skips benchmarks its filter excludes.
        if times.is_empty() {
            continue;
        }
        times.sort();
        report.push((name, times[times.len() / 2], verdict.verdict, verdict.reason, bytes.len()));
    }
    c.final_summary();
    println!("\ntimes are thread CPU time per verification");
    println!("{:>9}  {:>8}  {:<12}  input / reason", "median", "bytes", "verdict");
    let mut failed = Vec::new();
    for (name, median, verdict, reason, len) in &report {
        println!(
            "{:>7.2}ms  {len:>8}  {:<12}  {name}\n{:>33}{reason}",
            median.as_secs_f64() * 1e3,
            format!("{verdict:?}"),
            ""
        );
        if *median > BUDGET || *verdict == Verdict::Authentic {
            failed.push(name.clone());
        }
    }
    if let Some((name, median, ..)) = report.iter().max_by_key(|r| r.1) {
        println!("\nslowest: {:.2} ms median ({name}); budget {} ms", median.as_secs_f64() * 1e3, BUDGET.as_millis());
    }
    if !failed.is_empty() {
        eprintln!("over budget or judged authentic: {failed:?}");
        std::process::exit(1);
    }
}
