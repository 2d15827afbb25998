//! The drawing surface of a slip: sizes per paper width, and a canvas that grows downwards as
//! lines, rules, the signature box and the QR code are added on the watermark's band grid.

use super::{QrModules, SlipWidth};
use crate::render::canvas::{Canvas, INK, PAPER};
use crate::render::text::{Align, Fonts, RenderError, TextStyle};

/// Modules of blank paper around the QR symbol, as the QR standard asks.
const QR_QUIET: usize = 4;
/// Module sizes tried, largest first; smaller modules would not survive photos and JPEG.
const QR_MODULE_PX: [usize; 2] = [3, 2];

/// Sizes and spacing for one paper width.
pub(super) struct Scale {
    margin_x: i64,
    margin_y: i64,
    pub(super) title: TextStyle,
    pub(super) subtitle: TextStyle,
    pub(super) body: TextStyle,
    pub(super) emphasis: TextStyle,
    pub(super) amount: TextStyle,
    pub(super) small: TextStyle,
    signature_h: u32,
    /// Dash length, gap and thickness of separator lines.
    dash: (i64, i64, i64),
    /// Blank space above and below a separator.
    pub(super) rule_gap: i64,
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
    pub(super) fn for_width(width: SlipWidth) -> Self {
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

/// A canvas that grows downwards as lines are added below a cursor.
pub(super) struct Sheet<'a> {
    fonts: &'a Fonts,
    sc: &'a Scale,
    pub(super) canvas: Canvas,
    left: i64,
    right: i64,
    /// Top of the next line.
    pub(super) y: i64,
}

impl<'a> Sheet<'a> {
    pub(super) fn new(fonts: &'a Fonts, width: u32, sc: &'a Scale) -> Self {
        let left = sc.margin_x;
        let right = i64::from(width) - sc.margin_x;
        Sheet { fonts, sc, canvas: Canvas::new(width, 1536), left, right, y: sc.margin_y }
    }

    pub(super) fn content_width(&self) -> u32 {
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
    pub(super) fn paragraph(&mut self, s: &str, style: TextStyle, align: Align) -> Result<(), RenderError> {
        for line in self.fonts.wrap(s, style, self.content_width())? {
            self.line(&line, style, align)?;
        }
        Ok(())
    }

    pub(super) fn centered(&mut self, s: &str, style: TextStyle) -> Result<(), RenderError> {
        self.paragraph(s, style, Align::Center)
    }

    /// A field title on its own line.
    pub(super) fn label(&mut self, title: &str) -> Result<(), RenderError> {
        self.paragraph(title, self.sc.body, Align::Left)
    }

    /// Title on the left and value on the right of the same line when both fit, otherwise the
    /// value right-aligned under the title (wrapped and left-aligned if longer than a line).
    pub(super) fn field(&mut self, title: &str, value: &str, style: TextStyle) -> Result<(), RenderError> {
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
    pub(super) fn dashed_rule(&mut self) {
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
    pub(super) fn signature(&mut self, signature: &dyn Fn(u32, u32) -> Canvas) -> Result<(), RenderError> {
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
    pub(super) fn qr(&mut self, qr: &QrModules) -> Result<(), RenderError> {
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
    pub(super) fn finish(self) -> Canvas {
        let w = self.canvas.width();
        let mut pixels = self.canvas.into_pixels();
        let used = pixels.chunks(w.max(1) as usize).rposition(|row| row.contains(&INK)).map_or(0, |r| r + 1);
        let height = ((used as i64 + self.sc.margin_y).max(1) as u32).next_multiple_of(64);
        pixels.resize(w as usize * height as usize, PAPER);
        Canvas::from_pixels(w, height, pixels).unwrap_or_else(|| Canvas::new(w, height))
    }
}
