//! Lays out a UnionPay-style sales slip (签购单) at thermal-printer width: bilingual field
//! titles, large amount, the cardholder's signature and a verification QR code, all bilevel.

use crate::render::canvas::{Canvas, INK, PAPER};
use crate::render::text::{Align, TextStyle};
pub use crate::render::text::{Fonts, RenderError, DEFAULT_FONT_PATHS};

/// Paper width of the slip in printer dots (203 dpi).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SlipWidth {
    /// 80 mm paper, 576 dots.
    #[default]
    W576,
    /// 58 mm paper, 384 dots.
    W384,
}

impl SlipWidth {
    /// Width in pixels.
    pub fn pixels(self) -> u32 {
        match self {
            SlipWidth::W576 => 576,
            SlipWidth::W384 => 384,
        }
    }
}

/// Everything printed on a slip, already formatted as text by the caller.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SlipView {
    /// Up to 40 characters, Chinese or Latin.
    pub merchant_name: String,
    pub merchant_id: String,
    pub terminal_id: String,
    pub operator: String,
    /// Address; long text wraps.
    pub location: String,
    /// Masked, e.g. `**** **** **** 3446`.
    pub card_number: String,
    pub card_brand_zh: String,
    pub card_brand_en: String,
    pub entry_mode_zh: String,
    pub entry_mode_en: String,
    pub cardholder: Option<String>,
    pub kind_zh: String,
    pub kind_en: String,
    pub batch: String,
    pub voucher: String,
    pub trace: String,
    pub rrn: String,
    pub auth_code: String,
    /// e.g. `2026/11/25 14:03:11 UTC+08:00`.
    pub date_time: String,
    /// e.g. `RMB 128.50`.
    pub amount: String,
    pub receipt_id: String,
    /// Which copy this is, e.g. 持卡人存根 / CARDHOLDER COPY.
    pub copy_zh: String,
    pub copy_en: String,
}

/// A QR code symbol as a module matrix, without its quiet zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QrModules {
    /// Modules per side.
    pub size: usize,
    /// `size * size` modules, row-major, `true` = dark.
    pub dark: Vec<bool>,
}

/// Modules of blank paper around the QR symbol, as the QR standard asks.
const QR_QUIET: usize = 4;
/// Module sizes tried, largest first; smaller modules would not survive photos and JPEG.
const QR_MODULE_PX: [usize; 2] = [3, 2];

/// Sizes and spacing for one paper width.
struct Scale {
    margin_x: i64,
    margin_y: i64,
    title: TextStyle,
    subtitle: TextStyle,
    body: TextStyle,
    emphasis: TextStyle,
    amount: TextStyle,
    small: TextStyle,
    signature_h: u32,
    /// Dash length, gap and thickness of separator lines.
    dash: (i64, i64, i64),
    /// Blank space above and below a separator.
    rule_gap: i64,
    /// QR module sizes to try, largest first.
    qr_module_px: &'static [usize],
}

/// The watermark travels in blank 8-row bands of the JPEG grid; every text line starts on
/// the grid and leaves one whole blank band below it, so a slip has room for the mark.
const BAND: i64 = 8;

/// `y` rounded up to the band grid.
fn on_grid(y: i64) -> i64 {
    (y + BAND - 1).div_euclid(BAND) * BAND
}

impl Scale {
    fn for_width(width: SlipWidth) -> Self {
        match width {
            SlipWidth::W576 => Scale {
                margin_x: 20,
                margin_y: 24,
                title: TextStyle::bold(32),
                subtitle: TextStyle::bold(24),
                body: TextStyle::regular(22),
                emphasis: TextStyle::bold(30),
                amount: TextStyle::bold(48),
                small: TextStyle::regular(18),
                signature_h: 168,
                dash: (10, 6, 2),
                rule_gap: 5,
                qr_module_px: &QR_MODULE_PX,
            },
            SlipWidth::W384 => Scale {
                margin_x: 18,
                margin_y: 24,
                title: TextStyle::bold(26),
                subtitle: TextStyle::bold(18),
                body: TextStyle::regular(18),
                emphasis: TextStyle::bold(24),
                amount: TextStyle::bold(36),
                small: TextStyle::regular(16),
                signature_h: 128,
                dash: (8, 5, 2),
                rule_gap: 5,
                // 3-px modules would span the whole 58 mm paper and leave no blank band
                // beside the code for the watermark.
                qr_module_px: &[2],
            },
        }
    }
}

/// Draws the slip. `signature` is called once with the signature box size and must return a
/// canvas of that size (ink is any pixel below 128; anything outside the box is clipped).
/// The result is bilevel, `width` pixels wide and a multiple of 64 pixels tall.
pub fn compose_slip(
    view: &SlipView,
    fonts: &Fonts,
    width: SlipWidth,
    signature: &dyn Fn(u32, u32) -> Canvas,
    qr: &QrModules,
) -> Result<Canvas, RenderError> {
    let sc = Scale::for_width(width);
    let mut s = Sheet::new(fonts, width.pixels(), &sc);
    let (body, big) = (sc.body, sc.emphasis);

    s.centered("银联POS签购单", sc.title)?;
    s.centered("UnionPay POS SALES SLIP", sc.subtitle)?;
    s.centered(&bilingual(&view.copy_zh, &view.copy_en), body)?;
    s.dashed_rule();

    s.label("商户名称 MERCHANT NAME")?;
    s.paragraph(&view.merchant_name, big, Align::Left)?;
    s.field("商户编号 MERCHANT NO.", &view.merchant_id, body)?;
    s.field("终端编号 TERMINAL NO.", &view.terminal_id, body)?;
    s.field("操作员号 OPERATOR NO.", &view.operator, body)?;
    s.label("地址 LOCATION")?;
    s.paragraph(&view.location, body, Align::Left)?;
    s.dashed_rule();

    s.field("卡号 CARD NO.", &bilingual(&view.entry_mode_zh, &view.entry_mode_en), body)?;
    s.paragraph(&view.card_number, big, Align::Left)?;
    s.field("发卡行 CARD TYPE", &bilingual(&view.card_brand_zh, &view.card_brand_en), body)?;
    if let Some(holder) = &view.cardholder {
        s.field("持卡人 CARDHOLDER", holder, body)?;
    }
    s.field("交易类型 TRANS TYPE", &bilingual(&view.kind_zh, &view.kind_en), big)?;
    s.field("批次号 BATCH NO.", &view.batch, body)?;
    s.field("凭证号 VOUCHER NO.", &view.voucher, body)?;
    s.field("流水号 TRACE NO.", &view.trace, body)?;
    s.field("参考号 REF. NO.", &view.rrn, body)?;
    s.field("授权码 AUTH NO.", &view.auth_code, body)?;
    s.field("日期时间 DATE/TIME", &view.date_time, body)?;
    s.dashed_rule();

    // The amount must stay on one line: shrink huge amounts rather than wrap them.
    let mut amount = sc.amount;
    while amount.size > big.size && fonts.measure_styled(&view.amount, amount)? > s.content_width() {
        amount.size -= 2;
    }
    s.field("金额 AMOUNT", &view.amount, amount)?;
    s.field("备注 REFERENCE", &view.receipt_id, body)?;
    s.label("持卡人签名 CARDHOLDER SIGNATURE")?;
    s.signature(signature)?;
    s.paragraph("本人确认以上交易，同意将其记入本卡账户", sc.small, Align::Left)?;
    s.paragraph("I ACKNOWLEDGE SATISFACTORY RECEIPT OF RELATIVE GOODS/SERVICES", sc.small, Align::Left)?;
    s.dashed_rule();
    // The quiet zone is blank anyway: no need for the rule's own gap as well.
    s.y -= sc.rule_gap;
    s.qr(qr)?;
    s.centered("扫码验签 SCAN TO VERIFY", body)?;
    Ok(s.finish())
}

/// "中文 English", or just one of them when the other is empty.
fn bilingual(zh: &str, en: &str) -> String {
    match (zh.is_empty(), en.is_empty()) {
        (false, false) => format!("{zh} {en}"),
        (true, _) => en.to_string(),
        (false, true) => zh.to_string(),
    }
}

/// A canvas that grows downwards as lines are added below a cursor.
struct Sheet<'a> {
    fonts: &'a Fonts,
    sc: &'a Scale,
    canvas: Canvas,
    left: i64,
    right: i64,
    /// Top of the next line.
    y: i64,
}

impl<'a> Sheet<'a> {
    fn new(fonts: &'a Fonts, width: u32, sc: &'a Scale) -> Self {
        let left = sc.margin_x;
        let right = i64::from(width) - sc.margin_x;
        Sheet { fonts, sc, canvas: Canvas::new(width, 1536), left, right, y: sc.margin_y }
    }

    fn content_width(&self) -> u32 {
        (self.right - self.left).max(0) as u32
    }

    /// Makes sure rows up to `self.y + h` exist.
    fn reserve(&mut self, h: i64) {
        let need = (self.y + h).max(0) as u32;
        if need <= self.canvas.height() {
            return;
        }
        let (w, old_h) = (self.canvas.width(), self.canvas.height());
        let new_h = need.max(old_h * 3 / 2).next_multiple_of(64);
        let mut pixels = std::mem::replace(&mut self.canvas, Canvas::new(0, 0)).into_pixels();
        pixels.resize(w as usize * new_h as usize, PAPER);
        self.canvas = Canvas::from_pixels(w, new_h, pixels).unwrap_or_else(|| Canvas::new(w, new_h));
    }

    /// Distance from the top of a line box to its baseline, and the line box height. Sized on
    /// the em square (ideographs fill ~0.9 em above the baseline, descenders ~0.2 em below)
    /// rather than the font's line metrics, which leave far more air than thermal paper can
    /// afford.
    fn line_box(&self, style: TextStyle) -> (i64, i64) {
        let size = style.size;
        let (above, below, leading) = ((size * 9).div_ceil(10), (size * 2).div_ceil(9), size / 16);
        let (above, below, leading) = (i64::from(above), i64::from(below), i64::from(leading));
        (above + leading / 2, above + below + leading)
    }

    /// One line of text; the caller has made sure it fits.
    fn line(&mut self, s: &str, style: TextStyle, align: Align) -> Result<(), RenderError> {
        let (base, height) = self.line_box(style);
        self.reserve(height);
        let y = self.y + base;
        self.fonts.draw_aligned(&mut self.canvas, self.left, self.right, y, s, style, align)?;
        self.advance(height);
        Ok(())
    }

    /// Text wrapped to the content width.
    fn paragraph(&mut self, s: &str, style: TextStyle, align: Align) -> Result<(), RenderError> {
        for line in self.fonts.wrap(s, style, self.content_width())? {
            self.line(&line, style, align)?;
        }
        Ok(())
    }

    fn centered(&mut self, s: &str, style: TextStyle) -> Result<(), RenderError> {
        self.paragraph(s, style, Align::Center)
    }

    /// A field title on its own line.
    fn label(&mut self, title: &str) -> Result<(), RenderError> {
        self.paragraph(title, self.sc.body, Align::Left)
    }

    /// Title on the left and value on the right of the same line when both fit, otherwise the
    /// value right-aligned under the title (wrapped and left-aligned if longer than a line).
    fn field(&mut self, title: &str, value: &str, style: TextStyle) -> Result<(), RenderError> {
        let label_style = self.sc.body;
        let label_w = i64::from(self.fonts.measure_styled(title, label_style)?);
        let value_w = i64::from(self.fonts.measure_styled(value, style)?);
        let min_gap = i64::from(label_style.size / 2);
        if label_w + min_gap + value_w > self.right - self.left {
            self.label(title)?;
            let align = if value_w > self.right - self.left { Align::Left } else { Align::Right };
            return self.paragraph(value, style, align);
        }
        let (label_base, label_h) = self.line_box(label_style);
        let (value_base, value_h) = self.line_box(style);
        let base = label_base.max(value_base);
        let height = base + (label_h - label_base).max(value_h - value_base);
        self.reserve(height);
        let baseline = self.y + base;
        let (left, right) = (self.left, self.right);
        self.fonts.draw(&mut self.canvas, left, baseline, title, label_style)?;
        self.fonts.draw_aligned(&mut self.canvas, left, right, baseline, value, style, Align::Right)?;
        self.advance(height);
        Ok(())
    }

    /// Moves below a line of `height` to the next grid row, leaving one blank band.
    fn advance(&mut self, height: i64) {
        self.y = on_grid(self.y + height) + BAND;
    }

    /// A dashed line across the content width with some space around it.
    fn dashed_rule(&mut self) {
        let (dash, gap, thick) = self.sc.dash;
        let gap_y = self.sc.rule_gap;
        self.reserve(2 * gap_y + thick);
        let y = self.y + gap_y;
        let mut x = self.left;
        while x < self.right {
            let w = dash.min(self.right - x);
            self.canvas.fill_rect(x, y, w, thick, INK);
            x += dash + gap;
        }
        self.y = on_grid(self.y + 2 * gap_y + thick);
    }

    /// The signature box (content width × the scale's height), then a 2-px rule under it.
    fn signature(&mut self, signature: &dyn Fn(u32, u32) -> Canvas) -> Result<(), RenderError> {
        let (w, h) = (self.content_width(), self.sc.signature_h);
        self.reserve(i64::from(h) + 2 + self.sc.rule_gap);
        let sig = signature(w, h);
        // Copy by hand rather than blit: clip to the box and force pure ink, whatever the
        // callback returned, so the slip stays bilevel.
        for sy in 0..i64::from(h.min(sig.height())) {
            for sx in 0..i64::from(w.min(sig.width())) {
                if sig.get(sx, sy).is_some_and(|v| v < 128) {
                    self.canvas.set(self.left + sx, self.y + sy, INK);
                }
            }
        }
        self.y += i64::from(h);
        self.canvas.fill_rect(self.left, self.y, i64::from(w), 2, INK);
        self.y += 2 + self.sc.rule_gap;
        Ok(())
    }

    /// The QR symbol centred, with a quiet zone of four modules, at the largest module size
    /// that fits the content width.
    fn qr(&mut self, qr: &QrModules) -> Result<(), RenderError> {
        if qr.size == 0 || qr.dark.len() != qr.size * qr.size {
            return Err(RenderError::BadQr(format!(
                "size {} needs {} modules, got {}",
                qr.size,
                qr.size.saturating_mul(qr.size),
                qr.dark.len()
            )));
        }
        let avail = self.content_width() as usize;
        let span = qr.size + 2 * QR_QUIET;
        let Some(m) = self.sc.qr_module_px.iter().copied().find(|m| span * m <= avail) else {
            return Err(RenderError::TooLarge(format!(
                "a QR code of {} modules needs {} px with its quiet zone, the slip has {avail}",
                qr.size,
                span * QR_MODULE_PX[QR_MODULE_PX.len() - 1]
            )));
        };
        let total = (span * m) as i64;
        self.reserve(total);
        let x0 = self.left + (self.right - self.left - total) / 2 + (QR_QUIET * m) as i64;
        let y0 = self.y + (QR_QUIET * m) as i64;
        let m_px = m as i64;
        for (i, _) in qr.dark.iter().enumerate().filter(|(_, &d)| d) {
            let (row, col) = ((i / qr.size) as i64, (i % qr.size) as i64);
            self.canvas.fill_rect(x0 + col * m_px, y0 + row * m_px, m_px, m_px, INK);
        }
        self.y += total;
        Ok(())
    }

    /// Leaves the bottom margin below the last inked row (not below the last line box, whose
    /// descender room is usually blank) and crops, or pads with paper, to a multiple of 64 rows.
    fn finish(self) -> Canvas {
        let w = self.canvas.width();
        let mut pixels = self.canvas.into_pixels();
        let used = pixels.chunks(w.max(1) as usize).rposition(|row| row.contains(&INK)).map_or(0, |r| r + 1);
        let height = ((used as i64 + self.sc.margin_y).max(1) as u32).next_multiple_of(64);
        pixels.resize(w as usize * height as usize, PAPER);
        Canvas::from_pixels(w, height, pixels).unwrap_or_else(|| Canvas::new(w, height))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
            amount: "RMB 128.50".into(),
            receipt_id: "POS00001-000001-000123".into(),
            copy_zh: "持卡人存根".into(),
            copy_en: "CARDHOLDER COPY".into(),
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
}
