//! Finding the slip's QR symbol from the layout instead of searching the image: the slip draws
//! it upright, centred, in square modules of a few pixels, with a quiet zone, at the bottom.
//! Its top edge is therefore a row whose ink starts and ends with a finder's seven-module run,
//! which gives the module size, the version and the position; the modules are then sampled and
//! decoded. The work is a fixed number of passes over the bottom rows, whatever the pixels.

use crate::render::canvas::Canvas;

/// Largest module size tried, in pixels: the slip draws 3 or 2 (`render::slip`).
const MAX_MODULE_PX: usize = 4;
/// How far the symbol's centre may lie from the image's centre, in pixels (the layout rounds
/// the left edge down by at most one).
const CENTRE_SLACK: usize = 2;
/// Candidate top edges whose finders and timing patterns are checked; genuine slips have one.
const MAX_CHECKED: usize = 32;
/// Candidates whose modules are sampled and decoded.
pub(super) const MAX_DECODED: usize = 4;
/// Share of the checked function-pattern modules that may be wrong, in percent (noise the
/// error correction would also survive).
const MAX_PATTERN_ERRORS_PCT: usize = 5;

/// Pixels below this are ink: the level every reader of the slip binarises at.
pub(super) const INK_BELOW: u8 = 128;

/// Rows at the bottom of an image `width` wide that can hold the slip's QR code: the widest
/// symbol the layout draws is the content width (under `width`), and below it come only the
/// quiet zone, one caption line, the bottom margin and the padding to 64 rows.
pub(super) fn region_rows(width: usize, height: usize) -> usize {
    height.min(width + width / 2)
}

/// Where a symbol lies and how it is drawn, in pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Symbol {
    /// Left and top edge of the symbol (without the quiet zone).
    pub x: usize,
    pub y: usize,
    /// Modules per side.
    pub size: usize,
    /// Pixels per module side.
    pub module: usize,
}

/// The symbols the layout would have drawn, from the bottom up and found as they are asked
/// for (the first one is usually the code): at most [`MAX_DECODED`], each with finder and
/// timing patterns where they belong, after at most [`MAX_CHECKED`] candidate rows.
pub(super) fn symbols(img: &Canvas) -> Symbols<'_> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    Symbols { img, rows: (h - region_rows(w, h)..h).rev(), checked: 0, found: 0 }
}

/// The iterator of [`symbols`].
pub(super) struct Symbols<'a> {
    img: &'a Canvas,
    rows: std::iter::Rev<std::ops::Range<usize>>,
    checked: usize,
    found: usize,
}

impl Iterator for Symbols<'_> {
    type Item = Symbol;

    fn next(&mut self) -> Option<Symbol> {
        let (w, h) = (self.img.width() as usize, self.img.height() as usize);
        while self.found < MAX_DECODED && self.checked < MAX_CHECKED {
            let y = self.rows.next()?;
            let Some(s) = top_edge(self.img.pixels(), w, h, y) else { continue };
            self.checked += 1;
            if patterns_fit(self.img, s) {
                self.found += 1;
                return Some(s);
            }
        }
        None
    }
}

/// A symbol whose top edge is row `y`, if the row looks like one: ink from `x` to `x + size·m`
/// centred in the image, starting and ending with a 7-module run, and blank paper above it.
fn top_edge(px: &[u8], w: usize, h: usize, y: usize) -> Option<Symbol> {
    let row = px.get(y * w..(y + 1) * w)?;
    let dark = |v: &u8| *v < INK_BELOW;
    let left = row.iter().position(dark)?;
    let right = row.iter().rposition(dark)? + 1;
    let run_left = row[left..].iter().take_while(|v| dark(v)).count();
    let run_right = row[..right].iter().rev().take_while(|v| dark(v)).count();
    if run_left != run_right || run_left % 7 != 0 {
        return None;
    }
    let module = run_left / 7;
    let width = right - left;
    if module == 0 || module > MAX_MODULE_PX || width % module != 0 {
        return None;
    }
    let size = width / module;
    if !(21..=177).contains(&size) || (size - 17) % 4 != 0 || (left + right).abs_diff(w) > CENTRE_SLACK {
        return None;
    }
    // The quiet zone above: the row over the edge is paper across the symbol.
    let above = px.get((y.checked_sub(1)?) * w..y * w)?;
    if above[left..right].iter().any(dark) || y + size * module > h {
        return None;
    }
    Some(Symbol { x: left, y, size, module })
}

/// Whether module (`row`, `col`) of `s` is dark: most of its pixels are ink; a tie (possible
/// with 2-px modules) goes to the mean grey level.
pub(super) fn module_dark(img: &Canvas, s: Symbol, row: usize, col: usize) -> bool {
    let (w, m) = (img.width() as usize, s.module);
    let px = img.pixels();
    let (mut ink, mut sum) = (0usize, 0usize);
    for y in s.y + row * m..s.y + (row + 1) * m {
        let start = y * w + s.x + col * m;
        for &v in px.get(start..start + m).unwrap_or(&[]) {
            ink += usize::from(v < INK_BELOW);
            sum += usize::from(v);
        }
    }
    let all = m * m;
    match (2 * ink).cmp(&all) {
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Less => false,
        std::cmp::Ordering::Equal => sum < usize::from(INK_BELOW) * all,
    }
}

/// Whether the three finder patterns with their separators and the two timing patterns are
/// where version and module size put them, give or take a little noise.
fn patterns_fit(img: &Canvas, s: Symbol) -> bool {
    let n = s.size;
    let (mut checked, mut wrong) = (0usize, 0usize);
    let mut expect = |row: usize, col: usize, dark: bool| {
        checked += 1;
        wrong += usize::from(module_dark(img, s, row, col) != dark);
    };
    // Finders: 7×7, dark ring, light ring, dark 3×3 centre; then the light separator.
    for (r0, c0) in [(0, 0), (0, n - 7), (n - 7, 0)] {
        for r in 0..7 {
            for c in 0..7 {
                let ring = (r as i64 - 3).abs().max((c as i64 - 3).abs());
                expect(r0 + r, c0 + c, ring != 2);
            }
        }
    }
    for i in 0..8 {
        expect(7, i, false);
        expect(i, 7, false);
        expect(7, n - 1 - i, false);
        expect(i, n - 8, false);
        expect(n - 8, i, false);
        expect(n - 1 - i, 7, false);
    }
    // Timing: alternating modules along row 6 and column 6 between the finders.
    for i in 8..n - 8 {
        expect(6, i, i % 2 == 0);
        expect(i, 6, i % 2 == 0);
    }
    wrong * 100 <= checked * MAX_PATTERN_ERRORS_PCT
}

/// The module matrix of `s`, for the decoder.
pub(super) fn sample(img: &Canvas, s: Symbol) -> rqrr::SimpleGrid {
    rqrr::SimpleGrid::from_func(s.size, |x, y| module_dark(img, s, y, x))
}
