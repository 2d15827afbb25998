use super::*;
use crate::render::canvas::INK;
use crate::render::png;
use crate::render::text::tests::wqy;
use crate::verify::{verify_decoded, verify_image};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn golden() -> (Canvas, Vec<u8>) {
    let bytes = std::fs::read(format!("{FIXTURES}/golden-576.png")).unwrap();
    let ca = std::fs::read_to_string(format!("{FIXTURES}/ca.pem")).unwrap();
    (png::decode(&bytes).unwrap().canvas, crate::identity::pem_decode(&ca, "CERTIFICATE").unwrap())
}

/// The receipt with an ink bar painted over blank paper across four 64x64 blocks
/// (x 128..256, y 640..768), and its verification.
fn tampered() -> (Canvas, Verification) {
    let (mut img, anchor) = golden();
    img.fill_rect(150, 700, 80, 16, INK);
    let bytes = png::encode(&img, None).unwrap();
    let decoded = png::decode(&bytes).unwrap();
    let v = verify_decoded(&decoded, &anchor);
    (decoded.canvas, v)
}

/// The picture as any PNG reader shows it (the `image` crate, not our encoder's view).
fn shown(bytes: &[u8]) -> image::RgbImage {
    image::load_from_memory_with_format(bytes, image::ImageFormat::Png).unwrap().to_rgb8()
}

fn rgb(img: &image::RgbImage, x: u32, y: u32) -> [u8; 3] {
    img.get_pixel(x, y).0
}

#[test]
fn an_authentic_receipt_gets_a_green_band_and_its_own_pixels_in_grey() {
    let Some(fonts) = wqy() else { return };
    let (img, anchor) = golden();
    let v = verify_decoded(&png::decode(&png::encode(&img, None).unwrap()).unwrap(), &anchor);
    assert_eq!(v.verdict, Verdict::Authentic, "{}", v.reason);
    let out = shown(&annotate(&img, &v, &fonts).unwrap());
    assert_eq!(out.width(), 576);
    let band = out.height() - img.height();
    assert!((60..200).contains(&band), "a band of {band} rows");
    assert_eq!(rgb(&out, 2, 2), AUTHENTIC_RGB);
    let white_text = (0..band).flat_map(|y| (0..576).map(move |x| (x, y))).filter(|&(x, y)| rgb(&out, x, y) == WHITE);
    assert!(white_text.count() > 1_000, "the verdict is written on the band");
    for (i, &g) in img.pixels().iter().enumerate() {
        let [r, gr, b] = rgb(&out, i as u32 % 576, band + i as u32 / 576);
        assert!(r == gr && gr == b && r.abs_diff(g) <= 4, "pixel {i}: {g} shown as {r},{gr},{b}");
    }
}

#[test]
fn altered_blocks_are_outlined_as_one_red_box_with_a_key() {
    let Some(fonts) = wqy() else { return };
    let (img, v) = tampered();
    assert_eq!(v.verdict, Verdict::Tampered, "{}", v.reason);
    assert!(v.regions.len() >= 2, "{:?}", v.regions);
    let out = shown(&annotate(&img, &v, &fonts).unwrap());
    let band = out.height() - img.height();
    assert_eq!(rgb(&out, 2, 2), TAMPERED_RGB);
    let (x0, y0, x1, y1) = v.regions.iter().fold((u32::MAX, u32::MAX, 0, 0), |(a, b, c, d), r| {
        (a.min(r.x), b.min(r.y), c.max(r.x + r.w), d.max(r.y + r.h))
    });
    // Just outside the union on every side: red.
    for (x, y) in [(x0 - 2, (y0 + y1) / 2), (x1 + 1, (y0 + y1) / 2), ((x0 + x1) / 2, y0 - 2), ((x0 + x1) / 2, y1 + 1)] {
        assert_eq!(rgb(&out, x, band + y), OUTLINE_RGB, "({x}, {y}) is on the outline");
    }
    // Where two altered blocks meet there is no line: one box, tinted, the bar still black.
    for r in &v.regions {
        let (mx, my) = (r.x + r.w / 2, r.y + 2);
        if my > y0 + 4 {
            assert_ne!(rgb(&out, mx, band + my), OUTLINE_RGB, "no line inside the box at ({mx}, {my})");
        }
    }
    assert_eq!(rgb(&out, 190, band + 708), [0, 0, 0], "the altered ink is still shown");
    let [r, g, b] = rgb(&out, 140, band + 650);
    assert!(r == 255 && g < 230 && b < 230, "paper inside the box is tinted: {r},{g},{b}");
    // Nothing red outside the box.
    let far = (0..img.height()).filter(|&y| y + 8 < y0 || y > y1 + 8);
    assert!(far.flat_map(|y| (0..576).map(move |x| (x, y))).all(|(x, y)| rgb(&out, x, band + y) != OUTLINE_RGB));
    // The key under the band shows a sample of the outline on the light strip.
    let key_rows: Vec<u32> = (0..band).filter(|&y| rgb(&out, 2, y) == STRIP_RGB).collect();
    assert!(!key_rows.is_empty(), "a key strip");
    assert!(key_rows.iter().any(|&y| (0..80).any(|x| rgb(&out, x, y) == OUTLINE_RGB)), "the key shows the red box");
}

#[test]
fn adjacent_regions_count_as_one_area_and_distant_ones_apart() {
    let block = |x: u32, y: u32| Region { x, y, w: 64, h: 64 };
    assert_eq!(count_areas(&[], 4), 0);
    assert_eq!(count_areas(&[block(0, 0), block(64, 0), block(64, 64)], 4), 1);
    assert_eq!(count_areas(&[block(0, 0), block(64, 64)], 4), 1, "corner to corner is one box");
    assert_eq!(count_areas(&[block(0, 0), block(128, 0), block(0, 256)], 4), 3);
    assert_eq!(count_areas(&[block(0, 0), block(128, 0), block(64, 0)], 4), 1, "joined through the middle");
}

#[test]
fn unverifiable_gets_a_grey_band_and_no_boxes_even_with_stale_regions() {
    let Some(fonts) = wqy() else { return };
    let (img, _) = golden();
    let mut v = Verification::unverifiable(
        "untrusted signer: the certificate was not issued by this authority, and this reason is long enough to wrap \
         over more lines than the band allows, so it ends in an ellipsis instead of pushing the receipt down",
    );
    v.regions = vec![Region { x: 64, y: 64, w: 64, h: 64 }];
    let out = shown(&annotate(&img, &v, &fonts).unwrap());
    assert_eq!(rgb(&out, 2, 2), UNVERIFIABLE_RGB);
    assert!(out.pixels().all(|p| p.0 != OUTLINE_RGB && p.0 != STRIP_RGB));
    let band = out.height() - img.height();
    assert!(band < 260, "the reason is cut to a few lines: {band} rows");
}

#[test]
fn a_region_on_the_image_border_is_outlined_inside() {
    let Some(fonts) = wqy() else { return };
    let (img, _) = golden();
    let mut v = Verification::unverifiable("x");
    v.verdict = Verdict::Tampered;
    v.regions = vec![Region { x: 512, y: 0, w: 64, h: 64 }];
    let out = shown(&annotate(&img, &v, &fonts).unwrap());
    let band = out.height() - img.height();
    assert_eq!(rgb(&out, 575, band + 30), OUTLINE_RGB, "right edge");
    assert_eq!(rgb(&out, 540, band), OUTLINE_RGB, "top edge");
    assert_eq!(rgb(&out, 509, band + 30), OUTLINE_RGB, "left side, outside");
}

#[test]
fn the_same_verdict_gives_the_same_bytes_and_the_picture_is_never_itself_authentic() {
    let Some(fonts) = wqy() else { return };
    let (img, anchor) = golden();
    let v = verify_decoded(&png::decode(&png::encode(&img, None).unwrap()).unwrap(), &anchor);
    let a = annotate(&img, &v, &fonts).unwrap();
    assert_eq!(a, annotate(&img, &v, &fonts).unwrap());
    assert_ne!(verify_image(&a, &anchor).verdict, Verdict::Authentic, "a picture of a verdict is no receipt");
    let (img, v) = tampered();
    assert_eq!(annotate(&img, &v, &fonts).unwrap(), annotate(&img, &v, &fonts).unwrap());
}

#[test]
fn images_of_no_receipt_size_are_refused() {
    let Some(fonts) = wqy() else { return };
    let v = Verification::unverifiable("x");
    for (w, h) in [(50, 640), (576, 0), (4000, 64), (576, 20_000)] {
        let err = annotate(&Canvas::new(w, h), &v, &fonts).unwrap_err();
        assert!(matches!(err, AnnotateError::Size(..)), "{w}x{h}: {err}");
    }
    assert!(annotate(&Canvas::new(384, 640), &v, &fonts).is_ok(), "58 mm receipts");
}
