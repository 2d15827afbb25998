//! Layout tests: bilevel, sized, deterministic, real glyphs, QR modules.

use super::*;
use crate::render::canvas::{INK, PAPER};
use crate::render::text::tests::wqy;

fn view() -> SlipView {
    SlipView {
        merchant_name: "深圳湾咖啡".into(),
        merchant_id: "898440358120012".into(),
        terminal_id: "POS00001".into(),
        operator: "01".into(),
        location: "广东省深圳市南山区粤海街道科技园南区深圳湾科技生态园10栋A座1楼".into(),
        card_number: "**** **** **** 3446".into(),
        card_brand_zh: "银联".into(),
        card_brand_en: "UnionPay".into(),
        entry_mode_zh: "刷卡".into(),
        entry_mode_en: "SWIPE".into(),
        cardholder: Some("ZHANG/SAN".into()),
        kind_zh: "消费".into(),
        kind_en: "SALE".into(),
        batch: "000001".into(),
        voucher: "000123".into(),
        trace: "000123".into(),
        rrn: "614014303311".into(),
        auth_code: "A1B2C3".into(),
        date_time: "2026/11/25 14:03:11 UTC+08:00".into(),
        original_voucher: None,
        original_rrn: None,
        original_auth_code: None,
        original_date: None,
        amount: "RMB 128.50".into(),
        hold: false,
        receipt_id: "POS00001-000001-000123".into(),
        copy_zh: "持卡人存根".into(),
        copy_en: "CARDHOLDER COPY".into(),
        notice: Vec::new(),
        duplicate: false,
    }
}

/// A QR-like matrix: three finder patterns and deterministic noise.
fn qr(size: usize) -> QrModules {
    let mut dark = vec![false; size * size];
    let mut seed = 0x2545_f491_u32;
    for (i, d) in dark.iter_mut().enumerate() {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        *d = (seed >> 16) & 1 == 1 || i == 0;
    }
    for (r0, c0) in [(0, 0), (0, size - 7), (size - 7, 0)] {
        for r in 0..7 {
            for c in 0..7 {
                let ring = r.min(c).min(6 - r).min(6 - c);
                dark[(r0 + r) * size + c0 + c] = ring != 1;
            }
        }
    }
    QrModules { size, dark }
}

fn scribble(w: u32, h: u32) -> Canvas {
    let mut c = Canvas::new(w, h);
    for i in 0..w * 4 {
        let x = 20.0 + i as f32 / 4.0 * 0.8;
        let y = h as f32 / 2.0 + (x / 23.0).sin() * h as f32 / 4.0;
        c.fill_disc(x, y, 2.0, INK);
    }
    c
}

fn render(view: &SlipView, fonts: &Fonts, width: SlipWidth) -> Canvas {
    compose_slip(view, fonts, width, &scribble, &qr(101)).unwrap()
}

fn assert_well_formed(c: &Canvas, width: SlipWidth) {
    assert_eq!(c.width(), width.pixels());
    assert_eq!(c.height() % 64, 0);
    assert!(c.pixels().iter().all(|&p| p == INK || p == PAPER), "not bilevel");
    let (w, h) = (i64::from(c.width()), i64::from(c.height()));
    for y in 0..h {
        for x in (0..16).chain(w - 16..w) {
            assert_eq!(c.get(x, y), Some(PAPER), "ink in side margin at ({x}, {y})");
        }
    }
    for x in 0..w {
        for y in (0..24).chain(h - 24..h) {
            assert_eq!(c.get(x, y), Some(PAPER), "ink in top/bottom margin at ({x}, {y})");
        }
    }
}

#[test]
fn slip_is_bilevel_sized_and_deterministic() {
    let Some(fonts) = wqy() else { return };
    let a = render(&view(), &fonts, SlipWidth::W576);
    assert_well_formed(&a, SlipWidth::W576);
    // Every line keeps a blank 8-px band below it for the watermark.
    assert!(a.height() <= 1856, "{}", a.height());
    let b = render(&view(), &fonts, SlipWidth::W576);
    assert!(a == b, "same input gave different pixels");
}

#[test]
fn narrow_slip_wraps_a_long_location() {
    let Some(fonts) = wqy() else { return };
    let mut v = view();
    let short = render(&v, &fonts, SlipWidth::W384);
    v.location = v.location.repeat(3);
    v.merchant_name = "Shenzhen Bay Coffee Roasters and Bakery".into();
    let long = render(&v, &fonts, SlipWidth::W384);
    assert_well_formed(&short, SlipWidth::W384);
    assert_well_formed(&long, SlipWidth::W384);
    assert!(long.height() > short.height());
}

#[test]
fn merchant_name_is_drawn_as_glyphs() {
    let Some(fonts) = wqy() else { return };
    let mut v = view();
    let a = render(&v, &fonts, SlipWidth::W576);
    v.merchant_name = "上海便利店".into();
    let b = render(&v, &fonts, SlipWidth::W576);
    let differing = a.pixels().iter().zip(b.pixels()).filter(|(p, q)| p != q).count();
    assert!(differing > 200, "{differing}");
}

/// The rows of `line` as the slip centres it in the emphasis style at `width`, cropped to its ink.
fn centred_line(line: &str, fonts: &Fonts, width: SlipWidth) -> Vec<Vec<u8>> {
    let sc = Scale::for_width(width);
    let mut sheet = Sheet::new(fonts, width.pixels(), &sc);
    sheet.centered(line, sc.emphasis).unwrap();
    let w = sheet.canvas.width() as usize;
    let rows: Vec<Vec<u8>> = sheet.canvas.pixels().chunks(w).map(<[u8]>::to_vec).collect();
    let inked: Vec<usize> = (0..rows.len()).filter(|&y| rows[y].contains(&INK)).collect();
    rows[inked[0]..=inked[inked.len() - 1]].to_vec()
}

/// How many times the rows of `block` appear, whole and in place, in `slip`.
fn occurrences(slip: &Canvas, block: &[Vec<u8>]) -> usize {
    let w = slip.width() as usize;
    let rows: Vec<&[u8]> = slip.pixels().chunks(w).collect();
    (0..=rows.len().saturating_sub(block.len()))
        .filter(|&y| block.iter().enumerate().all(|(i, r)| rows[y + i] == r.as_slice()))
        .count()
}

/// A simulated sale's slip says so on the image itself, in both languages, at the head and
/// again above the amount; a real sale's slip does not.
#[test]
fn a_notice_is_printed_at_the_head_and_above_the_amount() {
    let Some(fonts) = wqy() else { return };
    for width in [SlipWidth::W576, SlipWidth::W384] {
        let plain = render(&view(), &fonts, width);
        let mut v = view();
        v.notice = vec![crate::model::SIMULATED_NOTICE_ZH.into(), crate::model::SIMULATED_NOTICE.into()];
        let marked = render(&v, &fonts, width);
        assert_well_formed(&marked, width);
        for line in &v.notice {
            let block = centred_line(line, &fonts, width);
            assert_eq!(occurrences(&marked, &block), 2, "{line} at {} px", width.pixels());
            assert_eq!(occurrences(&plain, &block), 0, "{line} at {} px", width.pixels());
        }
    }
}

/// A reprint's slip carries the banner 重打印凭证 / DUPLICATE once, under the heading.
#[test]
fn a_duplicate_is_bannered_under_the_heading() {
    let Some(fonts) = wqy() else { return };
    for width in [SlipWidth::W576, SlipWidth::W384] {
        let plain = render(&view(), &fonts, width);
        let marked = render(&SlipView { duplicate: true, ..view() }, &fonts, width);
        assert_well_formed(&marked, width);
        for line in DUPLICATE_BANNER {
            let block = centred_line(line, &fonts, width);
            assert_eq!(occurrences(&marked, &block), 1, "{line} at {} px", width.pixels());
            assert_eq!(occurrences(&plain, &block), 0, "{line} at {} px", width.pixels());
        }
        assert!(marked.height() >= plain.height());
    }
}

#[test]
fn qr_finder_patterns_are_inked() {
    let Some(fonts) = wqy() else { return };
    for width in [SlipWidth::W576, SlipWidth::W384] {
        let modules = qr(101);
        let c = compose_slip(&view(), &fonts, width, &scribble, &modules).unwrap();
        // 3-px modules at 576, 2-px at 384 (leaving blank bands beside the code); the
        // symbol is centred.
        let m = if width == SlipWidth::W576 { 3 } else { 2 };
        let total = ((101 + 8) * m) as i64;
        let x0 = (i64::from(c.width()) - total) / 2 + 4 * m as i64;
        // The bottom-left finder's last row: 7 dark modules in a row.
        let bottom = (0..i64::from(c.height()))
            .rev()
            .find(|&y| (x0..x0 + 7 * m as i64).all(|x| c.get(x, y) == Some(INK)))
            .unwrap();
        let y0 = bottom + 1 - 101 * m as i64;
        for r in 0..101 {
            for col in [0usize, 1, 3, 6, 99, 100] {
                let want = if modules.dark[r * 101 + col] { INK } else { PAPER };
                let (x, y) = (x0 + (col * m) as i64 + 1, y0 + (r * m) as i64 + 1);
                assert_eq!(c.get(x, y), Some(want), "module ({r}, {col}) at {width:?}");
            }
        }
        assert_eq!(c.get(x0 - 1, y0 + 1), Some(PAPER), "quiet zone");
    }
}

#[test]
fn oversized_or_malformed_qr_is_an_error() {
    let Some(fonts) = wqy() else { return };
    let err = compose_slip(&view(), &fonts, SlipWidth::W384, &scribble, &qr(177)).unwrap_err();
    assert!(matches!(err, RenderError::TooLarge(_)), "{err}");
    let bad = QrModules { size: 21, dark: vec![true; 20] };
    let err = compose_slip(&view(), &fonts, SlipWidth::W576, &scribble, &bad).unwrap_err();
    assert!(matches!(err, RenderError::BadQr(_)), "{err}");
}

#[test]
fn latin_only_font_reports_the_first_chinese_character() {
    let Ok(bytes) = std::fs::read("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf") else {
        eprintln!("skipping: DejaVuSans.ttf missing");
        return;
    };
    let fonts = Fonts::from_bytes(vec![("DejaVuSans.ttf".into(), bytes, 0)]).unwrap();
    let err = compose_slip(&view(), &fonts, SlipWidth::W576, &scribble, &qr(25)).unwrap_err();
    assert!(matches!(err, RenderError::MissingGlyph { ch: '银', .. }), "{err}");
    assert!(err.to_string().contains("DejaVuSans.ttf"));
}

/// `cargo test --release -- --ignored dump` writes /tmp/slip-576.png and /tmp/slip-384.png.
#[test]
#[ignore]
fn dump_sample_slips() {
    for width in [SlipWidth::W576, SlipWidth::W384] {
        let Some(fonts) = wqy() else { return };
        let cold = std::time::Instant::now();
        let _ = render(&view(), &fonts, width); // warms the glyph cache
        eprintln!("{width:?}: first slip (empty glyph cache) {:?}", cold.elapsed());
        let start = std::time::Instant::now();
        let runs = 50;
        for _ in 0..runs {
            std::hint::black_box(render(&view(), &fonts, width));
        }
        let c = render(&view(), &fonts, width);
        let per_slip = start.elapsed() / runs;
        let w = c.width() as usize;
        let last_ink = c.pixels().chunks(w).rposition(|row| row.contains(&INK)).unwrap_or(0);
        eprintln!("{width:?}: {}x{} (last ink row {last_ink}), {per_slip:?} per slip", w, c.height());
        write_png(&c, &format!("/tmp/slip-{}.png", width.pixels()));
        // A 3× crop of the top left, to check stroke widths pixel by pixel.
        let mut zoom = Canvas::new(3 * 200, 3 * 200);
        for y in 0..600 {
            for x in 0..600 {
                zoom.set(x, y, c.get(x / 3, 180 + y / 3).unwrap_or(PAPER));
            }
        }
        write_png(&zoom, &format!("/tmp/slip-{}-zoom.png", width.pixels()));
    }
}

/// Long values at the narrow width: `/tmp/slip-384-long.png`.
#[test]
#[ignore]
fn dump_long_values() {
    let Some(fonts) = wqy() else { return };
    let mut v = view();
    v.merchant_name = "Shenzhen Bay Coffee Roasters & Bakery Ltd".into();
    v.location = v.location.repeat(2);
    v.cardholder = None;
    v.amount = "RMB 1,234,567,890,123.45".into();
    write_png(&render(&v, &fonts, SlipWidth::W384), "/tmp/slip-384-long.png");
}

fn write_png(c: &Canvas, path: &str) {
    let file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut enc = png::Encoder::new(file, c.width(), c.height());
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::Eight);
    enc.write_header().unwrap().write_image_data(c.pixels()).unwrap();
}
