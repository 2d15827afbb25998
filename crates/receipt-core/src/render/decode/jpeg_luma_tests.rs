//! Our one-pass luma decode against zune-jpeg's (the oracle): the same luma plane, bit for bit,
//! on JPEGs of the golden receipt and of noise from jpeg-encoder, the `image` crate, cjpeg,
//! ImageMagick and Pillow, whatever the quality, subsampling and restart interval; and on
//! mutated files it never panics and either gives zune-jpeg's answer or declines.

use std::path::PathBuf;
use std::process::Command;

use proptest::prelude::*;

use super::super::tests::genuine;
use super::super::{jpeg_walk, Limits};
use super::*;

/// The pixels `pixels` gives (ours where it takes the file) and what zune-jpeg gives
/// (`pixels_by_zune`, the verifier's pixels before [`jpeg_luma`]), shown for comparison.
fn ours_and_zunes(bytes: &[u8]) -> Option<(String, String)> {
    let file = jpeg_walk::walk(bytes, Limits::Any).ok()?;
    if !file.decodable {
        return None;
    }
    let show = |r: Result<(Canvas, Option<Refusal>), ImageError>| match r {
        Ok((c, r)) => format!("{}x{} {:?} {:?}", c.width(), c.height(), c.pixels(), r),
        Err(e) => format!("{e}"),
    };
    Some((show(pixels(bytes, &file)), show(pixels_by_zune(bytes, &file))))
}

/// Asserts that our pass takes `bytes` (a grey YCbCr JPEG) and gives zune-jpeg's luma plane.
#[track_caller]
fn taken_and_equal(bytes: &[u8], what: &str) {
    let file = jpeg_walk::walk(bytes, Limits::Any).unwrap();
    let Luma::Plane(ours) = jpeg_luma::decode(bytes, &file) else {
        panic!("{what}: not decoded by the one pass");
    };
    let zune = luma_of_ycbcr(bytes, &file).unwrap_or_else(|| panic!("{what}: zune-jpeg failed"));
    assert!(ours.pixels() == zune.pixels(), "{what}: luma differs from zune-jpeg's");
}

/// A `w` × `h` grey image: the golden receipt's top left, or noise (every block coded, large
/// coefficients), as RGB bytes.
fn grey_rgb(w: usize, h: usize, noise: Option<u64>) -> Vec<u8> {
    let (c, _) = genuine();
    let full = c.width() as usize;
    let mut seed = noise.unwrap_or(0) | 1;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed as u8
    };
    (0..w * h)
        .flat_map(|i| {
            let v = if noise.is_some() { next() } else { c.pixels()[(i / w) * full + i % w] };
            [v, v, v]
        })
        .collect()
}

const SAMPLINGS: [jpeg_encoder::SamplingFactor; 5] = {
    use jpeg_encoder::SamplingFactor as S;
    [S::R_4_2_0, S::R_4_4_4, S::R_4_2_2, S::R_4_4_0, S::R_4_2_0]
};

fn encode(rgb: &[u8], w: usize, h: usize, quality: u8, sampling: usize, restart: u16) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = jpeg_encoder::Encoder::new(&mut out, quality);
    enc.set_sampling_factor(SAMPLINGS[sampling]);
    if restart > 0 {
        enc.set_restart_interval(restart);
    }
    enc.encode(rgb, w as u16, h as u16, jpeg_encoder::ColorType::Rgb).unwrap();
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Every quality (down to 1, where dequantised coefficients are largest), subsampling,
    /// size and restart interval: taken, and zune-jpeg's luma bit for bit.
    #[test]
    fn the_one_pass_gives_zune_jpegs_luma(
        w in 1usize..=576,
        h in 1usize..=300,
        noise in proptest::option::weighted(0.4, any::<u64>()),
        quality in 1u8..=100,
        sampling in 0usize..SAMPLINGS.len(),
        restart in prop_oneof![3 => Just(0u16), 1 => 1u16..40],
    ) {
        let bytes = encode(&grey_rgb(w, h, noise), w, h, quality, sampling, restart);
        taken_and_equal(&bytes, &format!("{w}x{h} q{quality} sampling {sampling} restart {restart}"));
        let (ours, zunes) = ours_and_zunes(&bytes).unwrap();
        prop_assert_eq!(ours, zunes);
    }

    /// Bytes of a small grey JPEG overwritten, or the file cut short: no panic, and the
    /// verifier's pixels (or error) are zune-jpeg's whenever the one pass answers.
    #[test]
    fn mutated_jpegs_decode_as_zune_jpeg_does_or_are_declined(
        sampling in 0usize..2,
        restart in prop_oneof![Just(0u16), 1u16..6],
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..5),
        cut in proptest::option::weighted(0.2, any::<prop::sample::Index>()),
    ) {
        let mut bytes = encode(&grey_rgb(40, 24, None), 40, 24, 80, sampling, restart);
        // Anywhere after SOI: headers, tables and the entropy-coded data.
        let from = 2;
        for (at, b) in edits {
            let i = from + at.index(bytes.len() - from);
            bytes[i] = b;
        }
        if let Some(at) = cut {
            bytes.truncate(from + at.index(bytes.len() - from));
        }
        if let Some((ours, zunes)) = ours_and_zunes(&bytes) {
            prop_assert_eq!(ours, zunes);
        }
        if let Ok(file) = jpeg_walk::walk(&bytes, Limits::Any) {
            // Whatever the walk refused: no panic.
            let _ = jpeg_luma::decode(&bytes, &file);
        }
    }
}

/// The offsets of every Huffman symbol byte in the DHT segments of `bytes`.
fn huffman_symbols(bytes: &[u8]) -> Vec<usize> {
    let mut at = Vec::new();
    let mut i = 2;
    while i + 4 <= bytes.len() && bytes[i] == 0xff {
        let len = usize::from(u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]));
        if bytes[i + 1] == 0xc4 {
            let (mut t, end) = (i + 4, i + 2 + len);
            while t + 17 <= end {
                let n: usize = bytes[t + 1..t + 17].iter().map(|&c| usize::from(c)).sum();
                at.extend(t + 17..(t + 17 + n).min(end));
                t += 17 + n;
            }
        }
        if bytes[i + 1] == 0xda {
            break;
        }
        i += 2 + len;
    }
    at
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// A Huffman table whose symbols are changed (an invalid run/size, a second end of block,
    /// no end of block or zero difference, so no blank-block pattern): the one pass gives
    /// zune-jpeg's pixels or error, or declines, but never answers otherwise.
    #[test]
    fn tables_with_changed_symbols_decode_as_zune_jpeg_does_or_are_declined(
        sampling in 0usize..2,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), prop_oneof![
            Just(0u8), Just(0xf0), Just(0x0b), Just(0x0c), Just(0xb0), Just(0x1a), any::<u8>()
        ]), 1..3),
    ) {
        let mut bytes = encode(&grey_rgb(96, 48, None), 96, 48, 75, sampling, 0);
        let symbols = huffman_symbols(&bytes);
        prop_assert!(symbols.len() > 100, "four tables found");
        for (at, b) in edits {
            bytes[symbols[at.index(symbols.len())]] = b;
        }
        if let Some((ours, zunes)) = ours_and_zunes(&bytes) {
            prop_assert_eq!(ours, zunes);
        }
    }
}

#[test]
fn the_benchmarks_receipt_and_a_coloured_one() {
    let (c, _) = genuine();
    let (w, h) = (c.width() as usize, c.height() as usize);
    let clean = encode(&grey_rgb(w, h, None), w, h, 75, 0, 0);
    taken_and_equal(&clean, "the receipt, q75 4:2:0");
    let mut rgb = grey_rgb(w, h, None);
    let at = 3 * (w * (h / 2) + w / 2);
    rgb[at..at + 3].copy_from_slice(&[255, 0, 0]);
    let coloured = encode(&rgb, w, h, 90, 1, 0);
    let file = jpeg_walk::walk(&coloured, Limits::Any).unwrap();
    assert!(matches!(jpeg_luma::decode(&coloured, &file), Luma::ChromaCoded));
    let (ours, zunes) = ours_and_zunes(&coloured).unwrap();
    assert_eq!(ours, zunes);
    assert!(ours.contains("Colour"), "{}", &ours[ours.len() - 80..]);
}

#[test]
fn the_image_crates_jpegs_decode_as_zune_jpeg_does() {
    let (c, _) = genuine();
    let (w, h) = (c.width(), c.height());
    for (quality, noise) in [(75, None), (90, None), (100, Some(5)), (30, Some(9))] {
        let rgb = grey_rgb(w as usize, 200.min(h) as usize, noise);
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
            .encode(&rgb, w, 200.min(h), image::ExtendedColorType::Rgb8)
            .unwrap();
        taken_and_equal(&out, &format!("image crate q{quality} {noise:?}"));
    }
}

/// The test venv's python (Pillow): `EReceipt_TEST_VENV`, else the workspace's target/test-venv.
fn python() -> PathBuf {
    let venv = std::env::var_os("EReceipt_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/test-venv"));
    venv.join("bin/python")
}

#[track_caller]
fn run(program: &str, args: &[&str]) {
    let out = Command::new(program).args(args).output();
    let out = out.unwrap_or_else(|e| panic!("cannot run {program} ({e}): run scripts/install-deps"));
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// libjpeg-turbo's cjpeg, ImageMagick and Pillow, as a phone app or a user would save the
/// slip: each output taken by the one pass and equal to zune-jpeg's luma.
#[test]
fn cjpeg_imagemagick_and_pillow_jpegs_decode_as_zune_jpeg_does() {
    let (c, _) = genuine();
    let (w, h) = (c.width() as usize, c.height() as usize);
    let dir = std::env::temp_dir().join(format!("ereceipt-luma-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ppm = dir.join("slip.ppm");
    let mut bytes = format!("P6\n{w} {h}\n255\n").into_bytes();
    bytes.extend(grey_rgb(w, h, None));
    std::fs::write(&ppm, bytes).unwrap();
    let ppm = ppm.to_str().unwrap();
    let mut made = Vec::new();
    let mut out = |name: &str| {
        let p = dir.join(name).to_str().unwrap().to_owned();
        made.push((name.to_owned(), p.clone()));
        p
    };
    for (q, s) in [("75", "2x2"), ("85", "1x1"), ("95", "2x2"), ("90", "2x1")] {
        let o = out(&format!("cjpeg_{q}_{s}.jpg"));
        run("cjpeg", &["-quality", q, "-sample", s, "-outfile", &o, ppm]);
    }
    let o = out("cjpeg_80_restart.jpg");
    run("cjpeg", &["-quality", "80", "-restart", "2", "-optimize", "-outfile", &o, ppm]);
    for (q, s) in [("75", "2x2"), ("92", "1x1")] {
        let o = out(&format!("magick_{q}_{s}.jpg"));
        // TrueColor: left to itself, ImageMagick writes a grey image as one component.
        run("/usr/bin/convert", &[ppm, "-type", "TrueColor", "-quality", q, "-sampling-factor", s, &o]);
    }
    for (q, s) in [(75, 2), (95, 0), (85, 1)] {
        let o = out(&format!("pillow_{q}_{s}.jpg"));
        let script = format!(
            "from PIL import Image; Image.open({ppm:?}).save({o:?}, quality={q}, subsampling={s}, optimize={})",
            if q == 85 { "True" } else { "False" }
        );
        run(python().to_str().unwrap(), &["-c", &script]);
    }
    for (name, path) in made {
        taken_and_equal(&std::fs::read(path).unwrap(), &name);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
