//! Watermark tests on synthetic receipt-like images (text rows, a signature, a QR-like block).

use proptest::prelude::*;

use super::*;
use crate::identity::{create_ca, issue_terminal, CertifiedKey};
use crate::model::TerminalInfo;
use crate::render::canvas::{INK, PAPER};

fn identity() -> (Signer, PosCertificate) {
    let now = chrono::Utc::now();
    let ca: CertifiedKey = create_ca("t", now).unwrap();
    let info = TerminalInfo {
        terminal_id: "POS00001".parse().unwrap(),
        merchant_id: "898440358120001".parse().unwrap(),
        merchant_name: "深圳湾咖啡".parse().unwrap(),
        location: "深圳".parse().unwrap(),
    };
    let s = Signer::new(&issue_terminal(&ca, &info, now, 10).unwrap()).unwrap();
    let c = s.certificate().clone();
    (s, c)
}

/// Label/value rows, a signature band and a QR-like block, like a slip.
pub(super) fn fake_receipt(seed: u64) -> Canvas {
    let mut c = Canvas::new(576, 1408);
    let mut st = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    let mut rnd = |n: u64| {
        st = st.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (st >> 33) % n
    };
    let mut y = 24i64;
    while y < 700 {
        let size = if rnd(6) == 0 { 40 } else { 22 };
        let (end, right) = (16 + rnd(250) as i64, 560 - rnd(220) as i64);
        let mut x = 16i64;
        while x < 560 {
            if x >= end && x < right {
                x = right;
                continue;
            }
            for _ in 0..4 {
                let (gx, gy) = (x + rnd(size) as i64, y + rnd(size) as i64);
                if rnd(2) == 0 {
                    c.fill_rect(gx, y, 2 + size as i64 / 10, size as i64, INK);
                } else {
                    c.fill_rect(x, gy, size as i64, 2 + size as i64 / 10, INK);
                }
            }
            x += size as i64 + 2;
        }
        y += size as i64 + 14;
    }
    for i in 0..400 {
        c.fill_disc(40.0 + i as f32 * 1.2, 1000.0 + 40.0 * (i as f32 * 0.05).sin(), 2.0, INK);
    }
    for my in 0..110 {
        for mx in 0..110 {
            if rnd(2) == 0 {
                c.fill_rect(123 + mx * 3, 1030 + my * 3, 3, 3, INK);
            }
        }
    }
    c
}

const EXACT: Tolerance = Tolerance::Exact;

fn jpeg_bytes(c: &Canvas, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = jpeg_encoder::Encoder::new(&mut out, quality);
    enc.set_sampling_factor(jpeg_encoder::SamplingFactor::R_4_2_0);
    let rgb: Vec<u8> = c.pixels().iter().flat_map(|&v| [v, v, v]).collect();
    enc.encode(&rgb, c.width() as u16, c.height() as u16, jpeg_encoder::ColorType::Rgb).unwrap();
    out
}

/// A JPEG of `c` decoded again, with the tolerance its tables give.
fn jpeg_file(c: &Canvas, quality: u8) -> (Canvas, Tolerance) {
    let d = crate::render::png::decode(&jpeg_bytes(c, quality)).unwrap();
    let t = Tolerance::for_image(&d);
    (d.canvas, t)
}

fn jpeg(c: &Canvas, quality: u8) -> Canvas {
    jpeg_file(c, quality).0
}

fn inspect(img: &Canvas, hash: &[u8; 32], cert: &PosCertificate) -> Inspection {
    inspect_with(img, hash, cert, &EXACT)
}

fn inspect_with(img: &Canvas, hash: &[u8; 32], cert: &PosCertificate, t: &Tolerance) -> Inspection {
    match extract(img, hash, cert, t) {
        Extraction::Read(i) => i,
        other => panic!("watermark not read: {other:?}"),
    }
}

#[test]
fn untouched_and_jpeg_75_are_authentic_jpeg_50_is_not() {
    let (signer, cert) = identity();
    let hash = [7u8; 32];
    let mut img = fake_receipt(1);
    embed(&mut img, &hash, &signer).unwrap();
    let clean = inspect(&img, &hash, &cert);
    assert!(clean.authentic() && clean.feature == 0 && clean.regions.is_empty(), "{clean:?}");
    for q in [95, 90, 75] {
        let (c, t) = jpeg_file(&img, q);
        let j = inspect_with(&c, &hash, &cert, &t);
        assert!(j.authentic(), "JPEG {q}: {j:?}");
    }
    // JPEG 50 is refused before its pixels are judged: its tables are too coarse to bound.
    let refused = crate::render::decode::inspect(&jpeg_bytes(&img, 50)).unwrap().refusal;
    assert!(refused.is_some_and(|r| r.to_string().contains("quality")));
}

#[test]
fn an_edit_is_tampered_and_localised_to_its_blocks() {
    let (signer, cert) = identity();
    let hash = [9u8; 32];
    let mut img = fake_receipt(2);
    embed(&mut img, &hash, &signer).unwrap();
    let mut edited = img.clone();
    edited.fill_rect(100, 30, 30, 40, PAPER); // erase part of a row: blocks x 64..192, y 0..128
    let r = inspect(&edited, &hash, &cert);
    assert!(!r.authentic());
    assert!(!r.signature_valid);
    let mut flagged: Vec<(u32, u32)> = r.regions.iter().map(|b| (b.x, b.y)).collect();
    flagged.sort_unstable();
    assert!(flagged.iter().all(|&(x, y)| (64..192).contains(&x) && y < 128), "{flagged:?}");
    assert!(!flagged.is_empty());
}

#[test]
fn a_grey_overwrite_that_binarisation_ignores_is_caught_by_the_threshold() {
    let (signer, cert) = identity();
    let hash = [3u8; 32];
    let mut img = fake_receipt(3);
    embed(&mut img, &hash, &signer).unwrap();
    // Mid-grey "ink" (150) on blank paper stays white after binarisation.
    let mut edited = img.clone();
    edited.fill_rect(300, 820, 40, 12, 150);
    let r = inspect(&edited, &hash, &cert);
    assert!(r.signature_valid, "content is unchanged after binarisation");
    assert!(r.feature > THRESHOLD && !r.authentic());
    assert!(r.regions.iter().any(|b| b.x == 256 && b.y == 768), "{:?}", r.regions);
}

#[test]
fn unmarked_foreign_record_and_foreign_key_are_not_authentic() {
    let (signer, cert) = identity();
    let (_, other_cert) = identity();
    let hash = [5u8; 32];
    let plain = fake_receipt(4);
    assert_eq!(extract(&plain, &hash, &cert, &EXACT), Extraction::Absent);
    let mut img = plain.clone();
    embed(&mut img, &hash, &signer).unwrap();
    assert_eq!(extract(&img, &[6u8; 32], &cert, &EXACT), Extraction::Unreadable);
    assert!(!inspect(&img, &hash, &other_cert).authentic());
}

#[test]
fn transplanting_another_receipts_mark_fails() {
    let (signer, cert) = identity();
    let (h1, h2) = ([1u8; 32], [2u8; 32]);
    let mut a = fake_receipt(5);
    embed(&mut a, &h1, &signer).unwrap();
    let mut b = fake_receipt(5); // same content, other record
    embed(&mut b, &h2, &signer).unwrap();
    // b's pixels (its mark) presented as receipt a.
    assert!(!matches!(extract(&b, &h1, &cert, &EXACT), Extraction::Read(ref i) if i.authentic()));
}

#[test]
fn refuses_grey_input_and_odd_sizes() {
    let (signer, _) = identity();
    let mut grey = Canvas::new(576, 640);
    grey.set(3, 3, 100);
    assert!(matches!(embed(&mut grey, &[0; 32], &signer), Err(WatermarkError::NotBilevel(_))));
    let mut odd = Canvas::new(570, 640);
    assert!(matches!(embed(&mut odd, &[0; 32], &signer), Err(WatermarkError::Size(..))));
    let mut dense = Canvas::new(576, 640);
    dense.fill_rect(0, 0, 576, 600, INK);
    assert!(matches!(embed(&mut dense, &[0; 32], &signer), Err(WatermarkError::Capacity { .. })));
}

#[test]
fn watermark_is_invisible_by_psnr() {
    let (signer, _) = identity();
    let plain = fake_receipt(6);
    let mut img = plain.clone();
    embed(&mut img, &[8u8; 32], &signer).unwrap();
    let mse: f64 =
        plain.pixels().iter().zip(img.pixels()).map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2)).sum::<f64>()
            / plain.pixels().len() as f64;
    let psnr = 10.0 * (255.0f64 * 255.0 / mse).log10();
    assert!(psnr >= 40.0, "PSNR {psnr:.1} dB");
    assert_eq!(binarise(&img), plain, "the mark never changes the binarised content");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// Arbitrary pixels (blank areas with random levels, random ink) never make the decoder
    /// panic and are never authentic.
    #[test]
    fn extraction_never_panics_on_arbitrary_images(seed in any::<u64>(), density in 0u32..40) {
        let (_, cert) = identity();
        let mut st = seed;
        let mut img = Canvas::new(384, 512);
        for v in img.pixels_mut().iter_mut() {
            st = st.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let r = (st >> 40) as u32 % 1000;
            *v = if r < density { 0 } else if r < 500 { 255 } else { 255 - (r % 6) as u8 };
        }
        let out = extract(&img, &[0u8; 32], &cert, &EXACT);
        prop_assert!(!matches!(out, Extraction::Read(ref i) if i.authentic()));
    }
}

#[test]
fn the_first_grey_pixel_is_found_in_any_block() {
    let mut px = vec![255u8; 1000];
    px[3] = 0;
    assert_eq!(first_grey(&px), None);
    for at in [0, 255, 256, 511, 999] {
        let mut p = px.clone();
        p[at] = 254;
        p[999] = 1;
        assert_eq!(first_grey(&p), Some(at));
    }
}

#[test]
fn tags_pack_and_unpack() {
    let tags: Vec<u16> = (0..37).map(|i| (i * 977 % 4096) as u16).collect();
    assert_eq!(unpack_tags(&pack_tags(&tags), tags.len()), tags);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    /// The fast extraction gives exactly the straightforward one's result on clean, recompressed,
    /// edited, noisy and foreign images.
    #[test]
    fn extraction_matches_the_reference(
        seed in 0u64..1000,
        edit in 0u8..8,
        x in 0i64..560,
        y in 0i64..1400,
        size in 1i64..200,
        level in any::<u8>(),
    ) {
        let (signer, cert) = identity();
        let hash = [seed as u8; 32];
        let mut img = fake_receipt(seed);
        embed(&mut img, &hash, &signer).unwrap();
        let (img, hash) = match edit {
            0 => (img, hash),
            1 => (jpeg(&img, 40 + level % 60), hash),
            2 => {
                let mut e = img.clone();
                e.fill_rect(x, y, size, size / 2 + 1, level);
                (e, hash)
            }
            3 => {
                let mut e = img.clone();
                e.fill_rect(x, y, size, 8, level);
                (jpeg(&e, 75), hash)
            }
            4 => {
                let mut e = img.clone();
                let mut st = seed;
                for v in e.pixels_mut().iter_mut() {
                    st = st.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    if (st >> 40) % 64 < u64::from(level % 8) {
                        *v = (st >> 16) as u8;
                    }
                }
                (e, hash)
            }
            5 => (img, [seed as u8 ^ 1; 32]),
            6 => (binarise(&img), hash),
            _ => {
                let mut other = fake_receipt(seed + 1);
                embed(&mut other, &hash, &signer).unwrap();
                let mut e = img.clone();
                let w = e.width() as usize;
                let (y0, rows) = (y.min(1300) as usize, size as usize / 2 + 1);
                e.pixels_mut()[y0 * w..(y0 + rows) * w].copy_from_slice(&other.pixels()[y0 * w..(y0 + rows) * w]);
                (e, hash)
            }
        };
        prop_assert_eq!(extract(&img, &hash, &cert, &EXACT), super::reference::extract(&img, &hash, &cert));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    /// The per-column JPEG scoring gives exactly the per-pixel one's block scores, and the
    /// scores of the pass that gathered every unit's squared error, for any expected paper
    /// levels, on clean, recompressed and noisy (tampered) images.
    #[test]
    fn jpeg_scores_match_the_per_pixel_pass(
        seed in 0u64..1000,
        edit in 0u8..3,
        quality in 30u8..95,
        lowered in proptest::collection::vec(any::<prop::sample::Index>(), 0..4000),
    ) {
        let (signer, _) = identity();
        let hash = [seed as u8; 32];
        let mut img = fake_receipt(seed);
        embed(&mut img, &hash, &signer).unwrap();
        let tables = |q: u8| crate::render::decode::jpeg_tables_for_tests(u32::from(q));
        let (img, table) = match edit {
            0 => (img, tables(75)),
            1 => {
                let (c, t) = jpeg_file(&img, quality);
                let Tolerance::Jpeg { luma_table } = t else { panic!("a JPEG has tables") };
                (c, luma_table)
            }
            _ => {
                let mut e = img.clone();
                let mut st = seed;
                for v in e.pixels_mut().iter_mut() {
                    st = st.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    if (st >> 40) % 16 == 0 {
                        *v = (st >> 16) as u8;
                    }
                }
                (e, tables(quality))
            }
        };
        let plan = plan::Plan::new(img.width(), img.height(), &hash).unwrap();
        let units = (img.width() / UNIT * img.height() / UNIT) as usize;
        let mut paper = vec![255u8; units];
        for i in lowered {
            paper[i.index(units)] = 255 - AMPLITUDE;
        }
        let model = tolerance::JpegModel::new(&table);
        let scores = scan::block_jpeg_scores(&img, &Content::of(&img), &plan, &paper, &model);
        prop_assert_eq!(&scores, &super::reference::block_jpeg_scores(&img, &plan, &paper, &model));
        // The squared error gathered only between a band's mixed units changes no score.
        prop_assert_eq!(&scores, &scan::block_jpeg_scores_every_unit(&img, &Content::of(&img), &plan, &paper, &model));
    }
}
