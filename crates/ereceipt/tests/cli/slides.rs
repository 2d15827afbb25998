//! `ereceipt verify SLIDE1 SLIDE2 …`: an MMS receipt's slides, cut here with the `image` crate
//! (not the platform's cutter), verify as the receipt, in order and only all together.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::helpers::{ereceipt, Run, Setup};

/// The receipt's rows cut into bands of `rows` (the last shorter), written as grey PNGs.
fn cut(setup: &Setup, receipt: &Path, rows: u32) -> Vec<PathBuf> {
    let img = image::open(receipt).unwrap().into_luma8();
    let (w, h) = img.dimensions();
    (0..h.div_ceil(rows))
        .map(|k| {
            let band = image::imageops::crop_imm(&img, 0, k * rows, w, rows.min(h - k * rows)).to_image();
            let path = setup.out.join(format!("slide-{}.png", k + 1));
            band.save(&path).unwrap();
            path
        })
        .collect()
}

fn verify(setup: &Setup, slides: &[PathBuf], extra: &[&str]) -> Run {
    let mut args: Vec<OsString> = vec!["verify".into()];
    args.extend(slides.iter().map(|p| p.clone().into_os_string()));
    args.extend(["--trust".into(), setup.trust().into_os_string()]);
    args.extend(extra.iter().map(OsString::from));
    ereceipt(args)
}

#[test]
fn slides_verify_together_in_order() {
    let setup = Setup::new();
    let receipt = setup.receipt("r");
    let slides = cut(&setup, &receipt, 448);
    assert!(slides.len() >= 3, "{} slides", slides.len());
    let annotated = setup.out.join("verdict.png");
    let run = verify(&setup, &slides, &["--annotate", annotated.to_str().unwrap()]);
    run.assert_exit(0);
    assert!(run.stdout.starts_with("AUTHENTIC: "), "{run}");
    assert!(run.stdout.contains("POS00001-000001-000123"), "{run}");
    let picture = image::open(&annotated).unwrap();
    assert!(picture.height() > image::open(&receipt).unwrap().height(), "the stacked slip and its band");

    let mut swapped = slides.clone();
    swapped.swap(0, 1);
    assert_ne!(verify(&setup, &swapped, &[]).code(), 0, "slides out of order are not the signed slip");
    assert_ne!(verify(&setup, &slides[1..], &[]).code(), 0, "a slide missing is not the receipt");
}

#[test]
fn a_slide_of_another_width_is_named() {
    let setup = Setup::new();
    let mut slides = cut(&setup, &setup.receipt("r"), 448);
    let narrow = setup.out.join("narrow.png");
    image::GrayImage::from_pixel(384, 448, image::Luma([255])).save(&narrow).unwrap();
    slides[1] = narrow;
    let run = verify(&setup, &slides, &["--json"]);
    run.assert_exit(2);
    let reason = run.json()["reason"].as_str().unwrap().to_owned();
    assert!(reason.contains("slide 2 is 384 px wide"), "{reason}");
}
