//! Bilevel text for receipts: font fallback, cached thresholded glyphs, measuring, drawing and
//! line wrapping (CJK breaks between any two characters, Latin at spaces).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::render::canvas::{Canvas, INK};

/// Common Debian/Ubuntu locations of fonts with Chinese glyphs, best first, with the index of
/// the face to use inside a TrueType collection. The caller reads the files.
pub const DEFAULT_FONT_PATHS: &[(&str, u32)] = &[
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc", 2),
    ("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc", 2),
    ("/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf", 0),
    ("/usr/share/fonts/truetype/droid/DroidSansFallback.ttf", 0),
];

/// Why a receipt could not be drawn.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RenderError {
    /// No loaded font has a glyph for a character of the text to draw.
    #[error(
        "no font has a glyph for {ch:?} (U+{code:04X}); tried: {fonts}; install fonts-wqy-microhei or pass a font with --font",
        code = u32::from(*ch)
    )]
    MissingGlyph {
        /// The character that cannot be drawn.
        ch: char,
        /// The names of the fonts that were tried, comma separated.
        fonts: String,
    },
    /// Font bytes that are not a readable TrueType/OpenType font (or no font at all).
    #[error("unreadable font: {0}")]
    Font(String),
    /// Content that cannot fit the paper width, such as a QR code with too many modules.
    #[error("too large for the slip: {0}")]
    TooLarge(String),
    /// A QR module matrix whose module count does not match its declared size.
    #[error("malformed QR modules: {0}")]
    BadQr(String),
}

/// How a string is drawn: pixel size (em height) and fake bold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TextStyle {
    /// Em size in pixels.
    pub size: u32,
    /// Draw a second time one pixel to the right, widening vertical strokes.
    pub bold: bool,
}

impl TextStyle {
    /// Regular weight at `size` px.
    pub const fn regular(size: u32) -> Self {
        Self { size, bold: false }
    }

    /// Fake bold at `size` px.
    pub const fn bold(size: u32) -> Self {
        Self { size, bold: true }
    }
}

/// Horizontal placement of a string between two x coordinates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Align {
    Left,
    Center,
    Right,
}

/// A thresholded glyph: `ink` holds `width * height` booleans, top row first.
struct Glyph {
    xmin: i32,
    ymin: i32,
    width: usize,
    height: usize,
    advance: f32,
    ink: Vec<bool>,
}

/// An ordered list of fonts: each character is drawn with the first font that has it.
/// Rasterised glyphs are cached per (character, size), so a slip renders in a few milliseconds
/// once the fonts are loaded. `Fonts` is `Send + Sync` and can be shared between threads.
pub struct Fonts {
    faces: Vec<(String, fontdue::Font)>,
    cache: Mutex<HashMap<(char, u32), Arc<Glyph>>>,
}

impl std::fmt::Debug for Fonts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fonts").field("faces", &self.names()).finish_non_exhaustive()
    }
}

impl Fonts {
    /// Parses font files given as (name for messages, bytes, face index in a collection).
    /// Order matters: earlier fonts win for characters they cover.
    pub fn from_bytes(list: Vec<(String, Vec<u8>, u32)>) -> Result<Fonts, RenderError> {
        if list.is_empty() {
            return Err(RenderError::Font("no font given".into()));
        }
        let mut faces = Vec::with_capacity(list.len());
        for (name, bytes, index) in list {
            let settings = fontdue::FontSettings { collection_index: index, ..Default::default() };
            let font = fontdue::Font::from_bytes(bytes, settings)
                .map_err(|e| RenderError::Font(format!("{name} (face {index}): {e}")))?;
            faces.push((name, font));
        }
        Ok(Fonts { faces, cache: Mutex::new(HashMap::new()) })
    }

    /// The names of the loaded fonts, comma separated (for messages).
    pub fn names(&self) -> String {
        let names: Vec<&str> = self.faces.iter().map(|(n, _)| n.as_str()).collect();
        names.join(", ")
    }

    /// Fails with [`RenderError::MissingGlyph`] naming the first character no font covers.
    pub fn check(&self, s: &str) -> Result<(), RenderError> {
        match s.chars().find(|&ch| !ch.is_control() && self.face_for(ch).is_none()) {
            Some(ch) => Err(self.missing(ch)),
            None => Ok(()),
        }
    }

    /// Distance from the top of a line to its baseline at `size` px, from the first font.
    pub fn ascent(&self, size: u32) -> u32 {
        let (ascent, _) = self.vertical_metrics(size);
        ascent
    }

    /// Height of a line box (ascent + descent, no extra leading) at `size` px.
    pub fn line_height(&self, size: u32) -> u32 {
        let (ascent, descent) = self.vertical_metrics(size);
        ascent + descent
    }

    /// Advance width of `s` in pixels at `size` px (regular weight).
    pub fn measure(&self, s: &str, size: u32) -> Result<u32, RenderError> {
        let glyphs = self.glyphs(s, size)?;
        let advance: f32 = glyphs.iter().map(|g| g.advance).sum();
        Ok(advance.ceil().max(0.0) as u32)
    }

    /// Advance width of `s` drawn in `style` (fake bold adds one pixel).
    pub fn measure_styled(&self, s: &str, style: TextStyle) -> Result<u32, RenderError> {
        let w = self.measure(s, style.size)?;
        Ok(if style.bold && w > 0 { w + 1 } else { w })
    }

    /// Draws `s` with its pen starting at `x` and its baseline at `baseline`; returns the
    /// advance width drawn. Pixels are either left alone or set to ink.
    pub fn draw(
        &self,
        canvas: &mut Canvas,
        x: i64,
        baseline: i64,
        s: &str,
        style: TextStyle,
    ) -> Result<u32, RenderError> {
        let glyphs = self.glyphs(s, style.size)?;
        let mut pen = 0.0f32;
        for g in &glyphs {
            let left = x + pen.round() as i64 + i64::from(g.xmin);
            let top = baseline - i64::from(g.ymin) - g.height as i64;
            stamp(canvas, g, left, top);
            if style.bold {
                stamp(canvas, g, left + 1, top);
            }
            pen += g.advance;
        }
        let w = pen.ceil().max(0.0) as u32;
        Ok(if style.bold && w > 0 { w + 1 } else { w })
    }

    /// Draws `s` in a line box whose top is at `top` (baseline at `top + ascent`).
    pub fn draw_top(
        &self,
        canvas: &mut Canvas,
        x: i64,
        top: i64,
        s: &str,
        style: TextStyle,
    ) -> Result<u32, RenderError> {
        let baseline = top + i64::from(self.ascent(style.size));
        self.draw(canvas, x, baseline, s, style)
    }

    /// Draws `s` on `baseline`, placed between `left` and `right` as `align` says; returns the
    /// x where the string starts. Text wider than the span starts at `left` (it is not clipped).
    #[allow(clippy::too_many_arguments)]
    pub fn draw_aligned(
        &self,
        canvas: &mut Canvas,
        left: i64,
        right: i64,
        baseline: i64,
        s: &str,
        style: TextStyle,
        align: Align,
    ) -> Result<i64, RenderError> {
        let w = i64::from(self.measure_styled(s, style)?);
        let x = aligned_x(left, right, w, align);
        self.draw(canvas, x, baseline, s, style)?;
        Ok(x)
    }

    /// Splits `s` into lines no wider than `max_width` in `style`. Breaks at spaces, and between
    /// any two CJK characters (never before closing or after opening punctuation); a word wider
    /// than a whole line is broken between characters. Runs of whitespace collapse to one space.
    pub fn wrap(&self, s: &str, style: TextStyle, max_width: u32) -> Result<Vec<String>, RenderError> {
        let mut lines = Vec::new();
        let mut line = String::new();
        for (space_before, unit) in break_units(s) {
            let mut candidate = line.clone();
            if space_before && !candidate.is_empty() {
                candidate.push(' ');
            }
            candidate.push_str(&unit);
            if self.measure_styled(&candidate, style)? <= max_width {
                line = candidate;
                continue;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            // The unit starts a fresh line; split it if even that is too narrow.
            for ch in unit.chars() {
                let mut candidate = line.clone();
                candidate.push(ch);
                if line.is_empty() || self.measure_styled(&candidate, style)? <= max_width {
                    line = candidate;
                } else {
                    lines.push(std::mem::replace(&mut line, ch.to_string()));
                }
            }
        }
        if !line.is_empty() || lines.is_empty() {
            lines.push(line);
        }
        Ok(lines)
    }

    fn vertical_metrics(&self, size: u32) -> (u32, u32) {
        let px = size as f32;
        let metrics = self.faces.first().and_then(|(_, f)| f.horizontal_line_metrics(px));
        match metrics {
            Some(m) => (m.ascent.ceil().max(0.0) as u32, (-m.descent).ceil().max(0.0) as u32),
            None => (((px * 0.8).ceil()) as u32, ((px * 0.2).ceil()) as u32),
        }
    }

    fn face_for(&self, ch: char) -> Option<&fontdue::Font> {
        self.faces.iter().map(|(_, f)| f).find(|f| f.lookup_glyph_index(ch) != 0)
    }

    fn missing(&self, ch: char) -> RenderError {
        RenderError::MissingGlyph { ch, fonts: self.names() }
    }

    /// The glyphs of `s` at `size`, rasterising and caching the ones not seen before.
    /// Control characters (tabs, newlines) are skipped.
    fn glyphs(&self, s: &str, size: u32) -> Result<Vec<Arc<Glyph>>, RenderError> {
        let mut cache = self.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut out = Vec::with_capacity(s.len());
        for ch in s.chars().filter(|ch| !ch.is_control()) {
            if let Some(g) = cache.get(&(ch, size)) {
                out.push(Arc::clone(g));
                continue;
            }
            let font = self.face_for(ch).ok_or_else(|| self.missing(ch))?;
            let g = Arc::new(rasterize(font, ch, size));
            cache.insert((ch, size), Arc::clone(&g));
            out.push(g);
        }
        Ok(out)
    }
}

/// Rasterises one glyph and thresholds its coverage at 50 %: no grey pixels ever reach a slip.
fn rasterize(font: &fontdue::Font, ch: char, size: u32) -> Glyph {
    let (m, coverage) = font.rasterize_indexed(font.lookup_glyph_index(ch), size as f32);
    Glyph {
        xmin: m.xmin,
        ymin: m.ymin,
        width: m.width,
        height: m.height,
        advance: m.advance_width,
        ink: coverage.iter().map(|&c| c >= 128).collect(),
    }
}

fn stamp(canvas: &mut Canvas, g: &Glyph, left: i64, top: i64) {
    if g.width == 0 {
        return;
    }
    for (row, line) in g.ink.chunks(g.width).enumerate() {
        for (col, &on) in line.iter().enumerate() {
            if on {
                canvas.set(left + col as i64, top + row as i64, INK);
            }
        }
    }
}

/// The x where text `w` pixels wide starts when placed between `left` and `right`.
pub fn aligned_x(left: i64, right: i64, w: i64, align: Align) -> i64 {
    let room = right - left - w;
    if room <= 0 {
        return left;
    }
    match align {
        Align::Left => left,
        Align::Center => left + room / 2,
        Align::Right => right - w,
    }
}

/// Characters laid out on a square em, between which a line may break.
fn is_wide(ch: char) -> bool {
    matches!(u32::from(ch),
        0x1100..=0x115F | 0x2E80..=0x303E | 0x3040..=0x33FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF
        | 0xA000..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF | 0xFE30..=0xFE4F | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6 | 0x20000..=0x3FFFD)
}

/// Punctuation that must not start a line.
fn is_closing(ch: char) -> bool {
    "，。、；：！？）》」』】〕〉”’,.;:!?)]}%".contains(ch)
}

/// Punctuation that must not end a line.
fn is_opening(ch: char) -> bool {
    "（《「『【〔〈“‘([{".contains(ch)
}

/// Splits `s` into unbreakable units, each flagged with whether a space preceded it.
fn break_units(s: &str) -> Vec<(bool, String)> {
    let mut units: Vec<(bool, String)> = Vec::new();
    let mut current = String::new();
    let mut space_before = false;
    let mut prev: Option<char> = None;
    for ch in s.chars().filter(|ch| !ch.is_control() || ch.is_whitespace()) {
        if ch.is_whitespace() {
            if !current.is_empty() {
                units.push((space_before, std::mem::take(&mut current)));
            }
            space_before = !units.is_empty();
            prev = None;
            continue;
        }
        let may_break = match prev {
            Some(p) => (is_wide(ch) || is_wide(p)) && !is_closing(ch) && !is_opening(p),
            None => false,
        };
        if may_break && !current.is_empty() {
            units.push((space_before, std::mem::take(&mut current)));
            space_before = false;
        }
        current.push(ch);
        prev = Some(ch);
    }
    if !current.is_empty() {
        units.push((space_before, current));
    }
    units
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const WQY: &str = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc";
    const DEJAVU: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

    /// The CJK test font, or `None` (with a note) when it is not installed.
    pub(crate) fn wqy() -> Option<Fonts> {
        let Ok(bytes) = std::fs::read(WQY) else {
            eprintln!("skipping: {WQY} missing (apt-get install fonts-wqy-microhei)");
            return None;
        };
        Some(Fonts::from_bytes(vec![("wqy-microhei".into(), bytes, 0)]).unwrap())
    }

    fn ink(c: &Canvas) -> usize {
        c.pixels().iter().filter(|&&p| p == INK).count()
    }

    #[test]
    fn cjk_measures_about_one_em_and_draws_distinct_glyphs() {
        let Some(fonts) = wqy() else { return };
        let w = fonts.measure("深", 24).unwrap();
        assert!((22..=26).contains(&w), "{w}");
        let mut a = Canvas::new(200, 40);
        let mut b = Canvas::new(200, 40);
        fonts.draw_top(&mut a, 4, 4, "深圳湾咖啡", TextStyle::regular(24)).unwrap();
        fonts.draw_top(&mut b, 4, 4, "上海便利店", TextStyle::regular(24)).unwrap();
        assert!(ink(&a) > 300 && ink(&b) > 300, "{} {}", ink(&a), ink(&b));
        assert_ne!(a, b);
        assert!(a.pixels().iter().all(|&p| p == 0 || p == 255));
    }

    #[test]
    fn bold_adds_ink() {
        let Some(fonts) = wqy() else { return };
        let mut a = Canvas::new(200, 40);
        let mut b = Canvas::new(200, 40);
        fonts.draw_top(&mut a, 4, 4, "SALE 消费", TextStyle::regular(24)).unwrap();
        fonts.draw_top(&mut b, 4, 4, "SALE 消费", TextStyle::bold(24)).unwrap();
        assert!(ink(&b) > ink(&a) * 5 / 4);
    }

    #[test]
    fn latin_only_font_names_the_missing_character() {
        let Ok(bytes) = std::fs::read(DEJAVU) else {
            eprintln!("skipping: {DEJAVU} missing");
            return;
        };
        let fonts = Fonts::from_bytes(vec![("DejaVuSans.ttf".into(), bytes, 0)]).unwrap();
        assert!(fonts.measure("RMB 12.00", 24).is_ok());
        let err = fonts.measure("深圳", 24).unwrap_err();
        assert!(matches!(err, RenderError::MissingGlyph { ch: '深', .. }));
        let msg = err.to_string();
        assert!(msg.contains("U+6DF1") && msg.contains("DejaVuSans.ttf"), "{msg}");
        assert!(msg.contains("fonts-wqy-microhei") && msg.contains("--font"), "{msg}");
    }

    #[test]
    fn garbage_bytes_are_a_font_error() {
        let err = Fonts::from_bytes(vec![("junk".into(), vec![1, 2, 3], 0)]).unwrap_err();
        assert!(matches!(err, RenderError::Font(_)), "{err}");
        assert!(matches!(Fonts::from_bytes(vec![]), Err(RenderError::Font(_))));
    }

    #[test]
    fn wrapping_breaks_cjk_anywhere_and_latin_at_spaces() {
        let Some(fonts) = wqy() else { return };
        let style = TextStyle::regular(20);
        let lines = fonts.wrap("广东省深圳市南山区粤海街道科技园路一号，二楼", style, 200).unwrap();
        assert!(lines.len() >= 2, "{lines:?}");
        for l in &lines {
            assert!(fonts.measure_styled(l, style).unwrap() <= 200, "{l}");
            assert!(!l.starts_with('，'), "{lines:?}");
        }
        assert_eq!(lines.concat(), "广东省深圳市南山区粤海街道科技园路一号，二楼");

        let lines = fonts.wrap("I ACKNOWLEDGE SATISFACTORY RECEIPT OF GOODS", style, 200).unwrap();
        assert!(lines.len() >= 2, "{lines:?}");
        assert_eq!(lines.join(" "), "I ACKNOWLEDGE SATISFACTORY RECEIPT OF GOODS");

        let lines = fonts.wrap("ABCDEFGHIJKLMNOPQRSTUVWXYZ", style, 100).unwrap();
        assert!(lines.len() >= 2 && lines.concat() == "ABCDEFGHIJKLMNOPQRSTUVWXYZ");
        assert_eq!(fonts.wrap("", style, 100).unwrap(), vec![String::new()]);
    }

    #[test]
    fn aligned_x_places_text() {
        assert_eq!(aligned_x(10, 110, 20, Align::Left), 10);
        assert_eq!(aligned_x(10, 110, 20, Align::Center), 50);
        assert_eq!(aligned_x(10, 110, 20, Align::Right), 90);
        assert_eq!(aligned_x(10, 110, 200, Align::Right), 10);
    }
}
