//! `ereceipt verify --annotate OUT.png`: the receipt drawn with its verdict, read back with the
//! `image` crate as a viewer would show it.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use crate::helpers::{ereceipt, Run, Setup};

/// Band colours and the outline, as docs/verification.md states them.
const GREEN: [u8; 3] = [0x2e, 0x7d, 0x32];
const RED_BAND: [u8; 3] = [0xc6, 0x28, 0x28];
const OUTLINE: [u8; 3] = [0xd3, 0x2f, 0x2f];

fn verify_annotated(setup: &Setup, image: &Path, out: &Path) -> Run {
    ereceipt([
        OsStr::new("verify"),
        image.as_os_str(),
        "--trust".as_ref(),
        setup.trust().as_os_str(),
        "--annotate".as_ref(),
        out.as_os_str(),
    ])
}

fn shown(path: &Path) -> image::RgbImage {
    image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).to_rgb8()
}

/// A copy of the receipt with an ink bar over the amount line's right end, as a forger
/// with an image editor would add a digit; returns the path and the bar's rectangle.
fn with_a_bar(setup: &Setup, receipt: &Path) -> (PathBuf, (u32, u32, u32, u32)) {
    let mut img = image::open(receipt).unwrap().to_luma8();
    let bar = (300, img.height() / 2, 40, 12);
    for y in bar.1..bar.1 + bar.3 {
        for x in bar.0..bar.0 + bar.2 {
            img.put_pixel(x, y, image::Luma([0]));
        }
    }
    let path = setup.out.join("forged.png");
    img.save(&path).unwrap();
    (path, bar)
}

#[test]
fn a_tampered_receipt_is_written_with_the_altered_area_outlined_in_red() {
    let setup = Setup::new();
    let receipt = setup.receipt("r");
    let (forged, (bx, by, bw, bh)) = with_a_bar(&setup, &receipt);
    let out = setup.out.join("verdict.png");
    let run = verify_annotated(&setup, &forged, &out);
    run.assert_exit(1);
    assert!(run.stdout.starts_with("TAMPERED: "), "{run}");
    let original = image::open(&receipt).unwrap();
    let pic = shown(&out);
    assert_eq!(pic.width(), original.width());
    let band = pic.height() - original.height();
    assert_eq!(pic.get_pixel(3, 3).0, RED_BAND, "{run}");
    // The outline runs around the bar (at most one 64-px block away from it, on every side),
    // and nowhere far from it.
    let red_at = |x: u32, y: u32| pic.get_pixel(x, band + y).0 == OUTLINE;
    let column = bx + bw / 2;
    assert!((by.saturating_sub(72)..by).any(|y| red_at(column, y)), "outline above the bar");
    assert!((by + bh..by + bh + 72).any(|y| red_at(column, y)), "outline below the bar");
    let row = by + bh / 2;
    assert!((bx.saturating_sub(72)..bx).any(|x| red_at(x, row)), "outline left of the bar");
    assert!((bx + bw..(bx + bw + 72).min(pic.width())).any(|x| red_at(x, row)), "outline right of the bar");
    assert!(!(0..150).any(|y| (0..pic.width()).any(|x| red_at(x, y))), "no outline at the top of the slip");
    assert_eq!(pic.get_pixel(bx + 5, band + by + 5).0, [0, 0, 0], "the forged ink stays visible");
}

#[test]
fn an_authentic_receipt_is_written_under_a_green_band_without_boxes() {
    let setup = Setup::new();
    let receipt = setup.receipt("r");
    let out = setup.out.join("verdict.png");
    verify_annotated(&setup, &receipt, &out).assert_exit(0);
    let pic = shown(&out);
    assert_eq!(pic.get_pixel(3, 3).0, GREEN);
    assert!(pic.pixels().all(|p| p.0 != OUTLINE));
    // Writing again replaces the picture (it is output, not a key).
    verify_annotated(&setup, &receipt, &out).assert_exit(0);
}

#[test]
fn a_file_that_is_no_image_gets_its_verdict_and_no_picture() {
    let setup = Setup::new();
    let junk = setup.input("junk.png", "not an image");
    let out = setup.out.join("verdict.png");
    let run = verify_annotated(&setup, &junk, &out);
    run.assert_exit(2);
    assert!(run.stderr.contains("no annotated picture"), "{run}");
    assert!(!out.exists());
}
