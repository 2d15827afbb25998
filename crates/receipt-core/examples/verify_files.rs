#![allow(clippy::unwrap_used, clippy::expect_used)]
// Scratch: verify each file given, print one line each.
fn main() {
    let ca = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/ca.pem")).unwrap();
    let anchor = ereceipt_core::identity::pem_decode(&ca, "CERTIFICATE").unwrap();
    for p in std::env::args().skip(1) {
        let bytes = std::fs::read(&p).unwrap();
        let t = std::time::Instant::now();
        let v = ereceipt_core::verify::verify_image(&bytes, &anchor);
        let ms = t.elapsed().as_secs_f64() * 1e3;
        println!("{p}\t{:?}\t{}\t{}\t{:.1}ms\t{}", v.verdict, v.feature, v.threshold, ms, v.reason);
    }
}
