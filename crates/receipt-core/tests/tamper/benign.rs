//! The benign set: what a receipt goes through on its honest way to the customer (metadata
//! stripped, colour conversion, PNG re-saves, JPEG at 90 and 75), which must all stay
//! authentic; JPEG at 50 (out of specification), which is only counted; and a JPEG re-saved as
//! PNG, which must not be authentic (a PNG must show exactly the levels the terminal wrote).

use std::time::Instant;

use ereceipt_core::render::canvas::Canvas;
use ereceipt_core::verify::{verify_image, Verification};

use crate::attacks::{image_grey_resave, jpeg, receipt_png, rgb_png, Jpeg};
use crate::score::{Case, Kind};

/// Rows of the benign and out-of-specification sets, in table order.
pub const ROWS: [(&str, Kind); 13] = [
    ("untouched PNG", Kind::Benign),
    ("PNG, metadata stripped (QR scanned)", Kind::Benign),
    ("RGB PNG (r = g = b), metadata kept", Kind::Benign),
    ("RGB PNG → 8-bit grey PNG (image crate, metadata lost)", Kind::Benign),
    ("JPEG 90, RGB 4:2:0", Kind::Benign),
    ("JPEG 90, RGB 4:4:4", Kind::Benign),
    ("JPEG 90, greyscale", Kind::Benign),
    ("JPEG 75, RGB 4:2:0", Kind::Benign),
    ("JPEG 75, RGB 4:4:4", Kind::Benign),
    ("JPEG 75, greyscale", Kind::Benign),
    ("JPEG 75 → PNG re-save (image crate; lossless means exact)", Kind::Malicious),
    ("JPEG 50, RGB 4:2:0 (out of spec)", Kind::OutOfSpec),
    ("JPEG 50, greyscale (out of spec)", Kind::OutOfSpec),
];

/// Verification times of the untouched PNG, in ms: with the text chunk, and QR scanned.
pub struct Timing {
    pub verify_ms: f64,
    pub verify_scan_ms: f64,
}

fn timed(bytes: &[u8], ca: &[u8]) -> (Verification, f64) {
    let start = Instant::now();
    let v = verify_image(bytes, ca);
    (v, start.elapsed().as_secs_f64() * 1e3)
}

/// Runs the benign set on one receipt (its watermarked canvas and PNG).
pub fn run(seed: u64, image: &Canvas, png: &[u8], qr_text: &str, ca: &[u8]) -> (Vec<Case>, Timing) {
    let mut cases = Vec::new();
    let mut check = |row: usize, bytes: &[u8]| -> f64 {
        let (v, ms) = timed(bytes, ca);
        cases.push(Case::new(ROWS[row].0, seed, &v, None));
        ms
    };
    let verify_ms = check(0, png);
    let verify_scan_ms = check(1, &receipt_png(image, None));
    let rgb = rgb_png(image, Some(qr_text));
    check(2, &rgb);
    check(3, &image_grey_resave(&rgb));
    let encodings = [(90, Jpeg::Rgb420), (90, Jpeg::Rgb444), (90, Jpeg::Grey), (75, Jpeg::Rgb420), (75, Jpeg::Rgb444)];
    for (i, (q, kind)) in encodings.into_iter().enumerate() {
        check(4 + i, &jpeg(image, q, kind));
    }
    let j75 = jpeg(image, 75, Jpeg::Grey);
    check(9, &j75);
    check(10, &image_grey_resave(&j75));
    check(11, &jpeg(image, 50, Jpeg::Rgb420));
    check(12, &jpeg(image, 50, Jpeg::Grey));
    (cases, Timing { verify_ms, verify_scan_ms })
}
