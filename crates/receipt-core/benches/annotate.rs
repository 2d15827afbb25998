//! Speed of the verdict picture: draw and encode the annotated PNG of a tampered receipt (four
//! altered blocks) and of an authentic one, as `verify --annotate` and the portal do per file.
//! Run: `cargo bench -p ereceipt-core --bench annotate`.

#![allow(clippy::expect_used)] // a benchmark aborts on broken fixtures

use criterion::{criterion_group, criterion_main, Criterion};
use ereceipt_core::annotate::annotate;
use ereceipt_core::identity::pem_decode;
use ereceipt_core::render::canvas::INK;
use ereceipt_core::render::png;
use ereceipt_core::render::slip::Fonts;
use ereceipt_core::verify::{verify_decoded, Verdict};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn bench(c: &mut Criterion) {
    let font = std::fs::read("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc").expect("run scripts/install-deps");
    let fonts = Fonts::from_bytes(vec![("wqy-microhei".into(), font, 0)]).expect("font");
    let anchor =
        pem_decode(&std::fs::read_to_string(format!("{FIXTURES}/ca.pem")).expect("ca"), "CERTIFICATE").expect("ca");
    let golden = png::decode(&std::fs::read(format!("{FIXTURES}/golden-576.png")).expect("golden")).expect("png");
    let authentic = verify_decoded(&golden, &anchor);
    assert_eq!(authentic.verdict, Verdict::Authentic);
    let mut forged = golden.canvas.clone();
    forged.fill_rect(150, 700, 80, 16, INK);
    let forged = png::decode(&png::encode(&forged, None).expect("encode")).expect("decode");
    let tampered = verify_decoded(&forged, &anchor);
    assert_eq!(tampered.verdict, Verdict::Tampered);
    c.bench_function("annotate tampered receipt (576 px)", |b| {
        b.iter(|| annotate(&forged.canvas, &tampered, &fonts).expect("annotate"))
    });
    c.bench_function("annotate authentic receipt (576 px)", |b| {
        b.iter(|| annotate(&golden.canvas, &authentic, &fonts).expect("annotate"))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = bench
}
criterion_main!(benches);
