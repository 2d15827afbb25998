//! QR tests: the module matrix is the `qrcode` crate's; the code drawn by the slip layout is
//! read back from the layout (also after JPEG); codes elsewhere or crowded images are not
//! searched.

use proptest::prelude::*;

use super::*;
use crate::card::CardPolicy;
use crate::compose::{build_record, compose_receipt, Sale};
use crate::identity::{CertifiedKey, Signer};
use crate::render::canvas::INK;
use crate::render::slip::{compose_slip, SlipView, SlipWidth};
use crate::render::text::tests::wqy;

/// `m` drawn at `scale` px per module with its top-left corner at (`left`, `top`).
fn draw(c: &mut Canvas, m: &QrModules, scale: i64, left: i64, top: i64) {
    for (i, &d) in m.dark.iter().enumerate() {
        if d {
            let (x, y) = ((i % m.size) as i64, (i / m.size) as i64);
            c.fill_rect(left + x * scale, top + y * scale, scale, scale, INK);
        }
    }
}

/// A text of `len` characters from a seed, in one of three alphabets (QR numeric,
/// alphanumeric and byte modes).
fn text_of(len: usize, seed: u64, alphabet: u8) -> String {
    let mut st = seed;
    (0..len)
        .map(|_| {
            st = st.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let r = (st >> 33) as usize;
            match alphabet {
                0 => char::from(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"[r % 45]),
                1 => char::from(b"0123456789"[r % 10]),
                _ => char::from(32 + (r % 95) as u8),
            }
        })
        .collect()
}

/// `img` through a JPEG encoder at `quality` (grey, or RGB with 4:2:0 or 4:4:4 chroma) and back
/// through the `image` crate's decoder, as a verifier receives a recompressed receipt.
fn through_jpeg(img: &Canvas, quality: u8, kind: u8) -> Canvas {
    let (w, h) = (img.width() as u16, img.height() as u16);
    let mut out = Vec::new();
    let mut enc = jpeg_encoder::Encoder::new(&mut out, quality);
    if kind == 0 {
        enc.encode(img.pixels(), w, h, jpeg_encoder::ColorType::Luma).unwrap();
    } else {
        let rgb: Vec<u8> = img.pixels().iter().flat_map(|&v| [v, v, v]).collect();
        let sampling =
            if kind == 1 { jpeg_encoder::SamplingFactor::R_4_2_0 } else { jpeg_encoder::SamplingFactor::R_4_4_4 };
        enc.set_sampling_factor(sampling);
        enc.encode(&rgb, w, h, jpeg_encoder::ColorType::Rgb).unwrap();
    }
    let grey = image::load_from_memory(&out).unwrap().to_luma8();
    Canvas::from_pixels(grey.width(), grey.height(), grey.into_raw()).unwrap()
}

/// The slip font, loaded once for all cases (`None` where it is not installed).
fn fonts() -> Option<&'static crate::render::slip::Fonts> {
    static FONTS: std::sync::OnceLock<Option<crate::render::slip::Fonts>> = std::sync::OnceLock::new();
    FONTS.get_or_init(wqy).as_ref()
}

fn signer() -> Signer {
    let fixture =
        |name: &str| std::fs::read_to_string(format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    Signer::new(&CertifiedKey::from_pem(&fixture("terminal.pem"), &fixture("terminal.key")).unwrap()).unwrap()
}

/// A slip with every field filled, for drawing arbitrary codes with the real layout.
fn view() -> SlipView {
    let s = |v: &str| v.to_string();
    SlipView {
        merchant_name: s("深圳湾咖啡"),
        merchant_id: s("898440358120001"),
        terminal_id: s("POS00001"),
        operator: s("01"),
        location: s("深圳市南山区科技园"),
        card_number: s("**** **** **** 3446"),
        kind_zh: s("消费"),
        kind_en: s("SALE"),
        amount: s("RMB 128.50"),
        date_time: s("2026/11/25 14:03:11 UTC+08:00"),
        ..SlipView::default()
    }
}

#[test]
fn reads_the_code_where_the_layout_puts_it() {
    let Some(fonts) = fonts() else { return };
    let blank = |w: u32, h: u32| Canvas::new(w, h);
    // 2-px and 3-px modules at 576 px, 2-px at 384 px, small and large versions.
    for (width, len) in
        [(SlipWidth::W576, 40), (SlipWidth::W576, 1000), (SlipWidth::W576, 1500), (SlipWidth::W384, 900)]
    {
        let text = text_of(len, len as u64, 2);
        let slip = compose_slip(&view(), fonts, width, &blank, &modules(&text).unwrap()).unwrap();
        let found: Vec<_> = locate::symbols(&slip).collect();
        assert_eq!(found.len(), 1, "{len} characters at {} px: {found:?}", width.pixels());
        assert_eq!(read(&slip).unwrap(), text);
    }
}

#[test]
fn an_off_centre_code_at_the_bottom_is_found_by_the_bounded_search() {
    let text = "ER1:HELLO WORLD 1234567890 $%*+-./:";
    let mut c = Canvas::new(576, 1408);
    draw(&mut c, &modules(text).unwrap(), 3, 60, 1100);
    assert_eq!(locate::symbols(&c).next(), None);
    assert_eq!(read(&c).unwrap(), text);
}

#[test]
fn a_code_far_from_the_bottom_is_not_searched() {
    let text = "ER1:HELLO WORLD 1234567890 $%*+-./:";
    let mut c = Canvas::new(576, 2048);
    let m = modules(text).unwrap();
    let left = (576 - 3 * m.size as i64) / 2;
    draw(&mut c, &m, 3, left, 40);
    assert!(matches!(read(&c), Err(QrError::NotFound)));
    // The same code, the same image, at the bottom.
    let mut c = Canvas::new(576, 2048);
    draw(&mut c, &m, 3, left, 1900);
    assert_eq!(read(&c).unwrap(), text);
}

#[test]
fn a_lattice_of_finders_is_refused_without_searching() {
    // Finder patterns (7×7 modules of 1 px) tiled at a 9-px pitch over the bottom rows: the
    // image rqrr would spend minutes on.
    let mut c = Canvas::new(576, 1024);
    for ty in 0..(1024 / 9) {
        for tx in 0..(576 / 9) {
            let (x, y) = (tx * 9 + 1, ty * 9 + 1);
            c.fill_rect(x, y, 7, 7, INK);
            c.fill_rect(x + 1, y + 1, 5, 5, 255);
            c.fill_rect(x + 2, y + 2, 3, 3, INK);
        }
    }
    assert!(matches!(read(&c), Err(QrError::Crowded(n)) if n > fallback::MAX_FINDER_RUNS), "{:?}", read(&c));
}

#[test]
fn decodes_every_version_and_level_even_with_damaged_modules() {
    use qrcode::Version as V;
    for v in 1..=40 {
        for level in [EcLevel::L, EcLevel::M, EcLevel::Q, EcLevel::H] {
            // Numeric, alphanumeric and byte segments where the version has room for them.
            let text =
                if v < 5 { format!("ER1:{v}") } else { format!("ER1:VERSION {v} {level:?} 0123456789 and bytes") };
            let code = QrCode::with_version(text.as_bytes(), V::Normal(v), level).unwrap();
            let n = code.width();
            let mut dark: Vec<bool> = code.to_colors().into_iter().map(|c| c == Color::Dark).collect();
            let grid = |d: &[bool]| rqrr::SimpleGrid::from_func(n, |x, y| d[y * n + x]);
            // The codewords read are exactly those the encoder placed, none needing correction.
            let mut bits = qrcode::bits::Bits::new(V::Normal(v));
            bits.push_optimal_data(text.as_bytes()).unwrap();
            bits.push_terminator(level).unwrap();
            let (data, ec) = qrcode::ec::construct_codewords(&bits.into_bytes(), V::Normal(v), level).unwrap();
            let (_, mask) = placement::format(&grid(&dark)).unwrap();
            let read = placement::codewords(&grid(&dark), v as usize, mask);
            assert!(read[..data.len() + ec.len()] == [data, ec].concat(), "codewords of version {v} {level:?}");
            assert_eq!(decode::decode(&grid(&dark)).unwrap(), text, "version {v} {level:?}");
            // A few wrong modules in the data area, as noise would make: corrected.
            for i in [n * (n - 3) + n - 2, n * (n - 2) + n - 5, n * (n / 2) + n - 1] {
                dark[i] = !dark[i];
            }
            assert_eq!(decode::decode(&grid(&dark)).unwrap(), text, "damaged version {v} {level:?}");
        }
    }
}

#[test]
fn a_blank_image_has_no_code() {
    assert!(matches!(read(&Canvas::new(384, 640)), Err(QrError::NotFound)));
    assert!(matches!(read(&Canvas::new(0, 0)), Err(QrError::NotFound)));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Same modules as the crate's own mask choice, for payloads of every size and kind.
    #[test]
    fn modules_are_the_crates(len in 1usize..1600, seed in any::<u64>(), alphabet in 0u8..3) {
        let text = text_of(len, seed, alphabet);
        let ours = modules(&text);
        match QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M) {
            Ok(code) => {
                let ours = ours.unwrap();
                prop_assert_eq!(ours.size, code.width());
                let dark: Vec<bool> = code.to_colors().into_iter().map(|c| c == Color::Dark).collect();
                prop_assert!(ours.dark == dark);
                // And it decodes to the text, as rqrr's own decoder reads it.
                let grid = rqrr::SimpleGrid::from_func(ours.size, |x, y| dark[y * ours.size + x]);
                prop_assert_eq!(decode::decode(&grid).unwrap(), rqrr::Grid::new(grid).decode().unwrap().1);
            }
            Err(_) => prop_assert!(matches!(ours, Err(QrError::TooLong(_)))),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    /// A genuine receipt at either width, recompressed as JPEG at quality 75 to 100 (grey or
    /// RGB, either chroma sampling), yields from its pixels exactly its signed payload.
    #[test]
    fn genuine_receipts_read_back_after_jpeg(
        seed in 0u64..1_000_000,
        narrow in any::<bool>(),
        quality in 75u8..=100,
        kind in 0u8..3,
    ) {
        let Some(fonts) = fonts() else { return Ok(()) };
        let time = format!("2026-12-{:02}T{:02}:{:02}:00+08:00", 1 + seed % 28, 8 + seed % 12, seed % 60);
        let policy = CardPolicy { accept_clear_tracks: true, allow_chip_fallback: false };
        let (transaction, _) = crate::txjson::parse_transaction(&crate::samples::transaction_json(seed, &time), &policy).unwrap();
        let sale = Sale { transaction, signature: crate::samples::signature(seed), chain: None };
        let signer = signer();
        let record = build_record(sale, &signer).unwrap();
        let width = if narrow { SlipWidth::W384 } else { SlipWidth::W576 };
        let receipt = compose_receipt(record, &signer, fonts, width).unwrap();
        let seen = through_jpeg(&receipt.image, quality, kind);
        prop_assert_eq!(locate::symbols(&seen).count(), 1);
        prop_assert_eq!(read(&seen).unwrap(), receipt.qr_text);
    }

    /// Codes of every version the slip can hold, drawn by the layout, read back after JPEG 75.
    #[test]
    fn every_version_the_layout_draws_reads_back(len in 1usize..1700, seed in any::<u64>(), narrow in any::<bool>()) {
        let Some(fonts) = fonts() else { return Ok(()) };
        let text = text_of(len, seed, 2);
        let width = if narrow { SlipWidth::W384 } else { SlipWidth::W576 };
        let blank = |w: u32, h: u32| Canvas::new(w, h);
        let Ok(slip) = compose_slip(&view(), fonts, width, &blank, &modules(&text).unwrap()) else {
            // Too large for this paper: the layout refuses it, nothing to read.
            return Ok(());
        };
        prop_assert_eq!(read(&through_jpeg(&slip, 75, 1)).unwrap(), text);
    }
}
