//! Reprints (重打印凭证 / DUPLICATE): a new image over the same signed record, which verifies
//! as authentic and is reported as a duplicate copy; a banner drawn onto any other image, or
//! over altered content, leaves it tampered.

use super::kind_tests::{original_for, receipt, signer, KINDS};
use super::tests::{fixture, fonts};
use super::*;
use crate::model::TransactionType;
use crate::render::canvas::Canvas;
use crate::verify::{duplicate_warning, verify_image, Verdict, Verification};

fn anchor() -> Vec<u8> {
    crate::identity::pem_decode(&fixture("ca.pem"), "CERTIFICATE").unwrap()
}

fn verify_canvas(image: &Canvas, qr_text: &str) -> Verification {
    verify_image(&png::encode(image, Some(qr_text)).unwrap(), &anchor())
}

/// `r`'s slip as the layout draws it (no watermark), with `edit` applied to its view.
fn slip(r: &ComposedReceipt, edit: impl FnOnce(&mut SlipView)) -> Canvas {
    let mut view = slip_view(&r.record);
    edit(&mut view);
    let draw = |w: u32, h: u32| signature::render(&r.record.signature, w, h, &StrokeStyle::default());
    compose_slip(&view, &fonts(), SlipWidth::W576, &draw, &qr::modules(&r.qr_text).unwrap()).unwrap()
}

fn rows(c: &Canvas) -> Vec<&[u8]> {
    c.pixels().chunks(c.width() as usize).collect()
}

/// Copies the rows where `a` and `b` differ from `b` into `onto` (all three the same size): what
/// a forger does who redraws one line of a genuine image.
fn paste_differences(onto: &mut Canvas, a: &Canvas, b: &Canvas) -> Vec<usize> {
    let w = onto.width() as usize;
    let changed: Vec<usize> = (0..a.height() as usize).filter(|&y| rows(a)[y] != rows(b)[y]).collect();
    for &y in &changed {
        onto.pixels_mut()[y * w..(y + 1) * w].copy_from_slice(rows(b)[y]);
    }
    changed
}

/// The rows of `r`'s slip the banner takes (from the first row that differs, for the banner's
/// height: the rest of the slip moves down by it), and the bannered slip.
fn banner_rows(r: &ComposedReceipt) -> (std::ops::Range<usize>, Canvas) {
    let (plain, marked) = (slip(r, |_| {}), slip(r, |v| v.duplicate = true));
    let last_ink = |c: &Canvas| rows(c).iter().rposition(|r| r.contains(&0)).unwrap();
    let shift = last_ink(&marked) - last_ink(&plain);
    let top = (0..).find(|&y| rows(&plain)[y] != rows(&marked)[y]).unwrap();
    (top..top + shift, marked)
}

/// Draws the rows `band` of `from` onto `onto`.
fn paste_rows(onto: &mut Canvas, from: &Canvas, band: std::ops::Range<usize>) {
    let w = onto.width() as usize;
    for y in band {
        onto.pixels_mut()[y * w..(y + 1) * w].copy_from_slice(rows(from)[y]);
    }
}

#[test]
fn a_duplicate_of_each_kind_verifies_and_is_reported_as_one() {
    let signer = signer();
    for kind in KINDS {
        let first = receipt(kind, original_for(kind));
        let dup = compose_duplicate(first.record.clone(), &signer, &fonts(), SlipWidth::W576).unwrap();
        assert_eq!((&dup.record_bytes, &dup.qr_text), (&first.record_bytes, &first.qr_text), "the same signed record");
        assert_ne!(dup.png, first.png, "a new image");

        let v = verify_image(&dup.png, &anchor());
        assert_eq!(v.verdict, Verdict::Authentic, "{kind}: {}", v.reason);
        assert!(v.duplicate && v.warnings.contains(&duplicate_warning()), "{kind}: {:?}", v.warnings);
        assert_eq!(serde_json::to_value(&v).unwrap()["duplicate"], true);
        assert_eq!(v.claims.unwrap().original, original_for(kind));

        let v = verify_image(&first.png, &anchor());
        assert_eq!(v.verdict, Verdict::Authentic, "{kind}: {}", v.reason);
        assert!(!v.duplicate && !v.warnings.contains(&duplicate_warning()), "the first print is not a duplicate");
        assert!(
            serde_json::to_value(&v).unwrap().get("duplicate").is_none(),
            "reports of first prints are as they were"
        );
    }
}

#[test]
fn a_duplicate_survives_jpeg_like_the_first_print() {
    let first = receipt(TransactionType::Refund, original_for(TransactionType::Refund));
    let dup = compose_duplicate(first.record, &signer(), &fonts(), SlipWidth::W576).unwrap();
    let (w, h) = (dup.image.width() as u16, dup.image.height() as u16);
    let mut jpeg = Vec::new();
    jpeg_encoder::Encoder::new(&mut jpeg, 90).encode(dup.image.pixels(), w, h, jpeg_encoder::ColorType::Luma).unwrap();
    let v = verify_image(&jpeg, &anchor());
    assert_eq!(v.verdict, Verdict::Authentic, "{}", v.reason);
    assert!(v.duplicate);
}

/// The banner drawn onto the first print (over what it printed there) is not a duplicate, and
/// a duplicate with its banner painted out is not a first print.
#[test]
fn a_banner_drawn_onto_a_genuine_image_is_tampered() {
    let first = receipt(TransactionType::Sale, None);
    let (band, marked) = banner_rows(&first);
    assert!(band.len() >= 64, "two large lines and a rule: {band:?}");
    let mut forged = first.image.clone();
    paste_rows(&mut forged, &marked, band.clone());
    let v = verify_canvas(&forged, &first.qr_text);
    assert_eq!(v.verdict, Verdict::Tampered, "{}", v.reason);
    assert!(!v.duplicate);
    let hit = |r: &crate::watermark::Region| (r.y as usize) < band.end && (r.y + r.h) as usize > band.start;
    assert!(v.regions.iter().any(hit), "{band:?}: {:?}", v.regions);

    // Nor does a duplicate pass for the first print with its banner painted out.
    let dup = compose_duplicate(first.record.clone(), &signer(), &fonts(), SlipWidth::W576).unwrap();
    let mut unmarked = dup.image.clone();
    paste_rows(&mut unmarked, &slip(&first, |_| {}), band);
    let v = verify_canvas(&unmarked, &dup.qr_text);
    assert_eq!(v.verdict, Verdict::Tampered, "{}", v.reason);
}

/// A forger with a genuine duplicate (or a first print) redraws its amount, banner or not:
/// still tampered, and the altered rows are where the amount is.
#[test]
fn a_banner_over_a_tampered_amount_is_still_tampered() {
    let first = receipt(TransactionType::Sale, None);
    let dup = compose_duplicate(first.record.clone(), &signer(), &fonts(), SlipWidth::W576).unwrap();
    let more = |v: &mut SlipView| v.amount = "RMB 928.50".into();

    let mut forged = dup.image.clone();
    let genuine = slip(&first, |v| v.duplicate = true);
    let redrawn = slip(&first, |v| {
        v.duplicate = true;
        more(v);
    });
    let altered = paste_differences(&mut forged, &genuine, &redrawn);
    assert!(!altered.is_empty());
    let v = verify_canvas(&forged, &dup.qr_text);
    assert_eq!(v.verdict, Verdict::Tampered, "{}", v.reason);
    assert!(!v.duplicate);
    let (lo, hi) = (altered[0] as u32, altered[altered.len() - 1] as u32);
    assert!(v.regions.iter().any(|r| r.y <= hi && r.y + r.h > lo), "amount rows {lo}..{hi}: {:?}", v.regions);

    // The first print's amount redrawn, then the banner pasted over its head.
    let mut forged = first.image.clone();
    paste_differences(&mut forged, &slip(&first, |_| {}), &slip(&first, more));
    let (band, marked) = banner_rows(&first);
    paste_rows(&mut forged, &marked, band);
    let v = verify_canvas(&forged, &first.qr_text);
    assert_eq!(v.verdict, Verdict::Tampered, "{}", v.reason);
    assert!(!v.duplicate);
}
