//! The verifier's shortcut for the common file, a clean lossless receipt (palette or grey of 1
//! or 2 bits, not interlaced): its unfiltered rows are read, through a table per byte value,
//! straight into what the watermark check needs ([`LosslessScan`]), so the canvas of a megabyte
//! is never written nor read again. Any file it does not fit, or that earns a refusal, is left
//! to [`super::inspect`], whose answer is then the verdict's.

use super::png_file::PngFile;
use super::png_pixels::{index_greys, inflate, unfilter};

/// Pixels per side of a watermark carrier unit (one JPEG block), and per byte of ink bits.
const U: usize = 8;

/// What the watermark check reads of a lossless image's pixels, gathered while its rows are
/// decoded; exactly what it would compute from the decoded canvas.
#[derive(Debug, PartialEq, Eq)]
pub struct LosslessScan {
    pub(crate) width: u32,
    pub(crate) height: u32,
    /// The binarised content: one bit per pixel, 1 = ink (grey below 128), the leftmost pixel
    /// in the most significant bit, `width / 8` bytes per row.
    pub(crate) ink: Vec<u8>,
    /// The grey-level sum of every 8×8 unit, units in row-major order.
    pub(crate) sums: Vec<u16>,
    /// The extreme grey levels of every 8×8 unit, in the same order.
    pub(crate) levels: Vec<UnitLevels>,
}

/// The grey levels of one unit that bound its pixels' deviation from any expected level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct UnitLevels {
    /// The lightest ink pixel (largest level below 128); 0 when there is no ink.
    pub ink_max: u8,
    /// The darkest and lightest paper pixels (128 and above); `paper_min > paper_max` when
    /// there is no paper.
    pub paper_min: u8,
    pub paper_max: u8,
}

impl UnitLevels {
    const NONE: Self = Self { ink_max: 0, paper_min: 255, paper_max: 0 };

    fn merge(self, o: Self) -> Self {
        Self {
            ink_max: self.ink_max.max(o.ink_max),
            paper_min: self.paper_min.min(o.paper_min),
            paper_max: self.paper_max.max(o.paper_max),
        }
    }

    /// The largest deviation of the unit's pixels from the expected image: an ink pixel's from
    /// 0, a paper pixel's from `level`. |v − level| is largest at an extreme of the levels.
    pub(crate) fn deviation(self, level: u8) -> u8 {
        let paper = if self.paper_min <= self.paper_max {
            self.paper_min.abs_diff(level).max(self.paper_max.abs_diff(level))
        } else {
            0
        };
        self.ink_max.max(paper)
    }
}

/// What one byte value of a row stands for: its pixels' ink bits (first pixel highest) and
/// how many of them have each index, one 8-bit lane per index (at most 4 indices, and at
/// most 64 pixels per unit, so sums of lanes never carry into each other).
#[derive(Clone, Copy, Default)]
struct ByteLevels {
    ink: u8,
    counts: u64,
}

/// The scan of a clean palette or grey PNG of 1 or 2 bits whose sides are multiples of 8
/// (receipt sizes are); `None` when the file is another kind (deeper ones, which the terminal
/// never writes, are left to the canvas), its image data is not exactly what an encoder writes, or a pixel uses a
/// refused palette entry or level.
pub(super) fn scan(file: &PngFile<'_>) -> Option<LosslessScan> {
    let h = file.header;
    let (w, ht) = (h.width as usize, h.height as usize);
    let depth = usize::from(h.depth);
    if h.interlaced || file.refusal.is_some() || depth > 2 || w == 0 || ht == 0 || w % U != 0 || ht % U != 0 {
        return None;
    }
    let (grey, accepted) = index_greys(file).ok()??;
    let stride = w * depth / 8;
    let (mut data, refusal) = inflate(&file.idat, ht * (1 + stride)).ok()?;
    if refusal.is_some() {
        return None;
    }
    unfilter(&mut data, stride, 1).ok()?;
    let table = byte_table(depth, &grey);
    let refused = (0..1usize << depth).filter(|&i| !accepted[i]).fold(0u64, |m, i| m | 0xff << (8 * i));
    let levels = Levels { grey: &grey, refused };
    // Eight pixels take `depth` bytes: one unit row.
    match depth {
        1 => scan_rows::<1>(&data, w, ht, &table, &levels),
        _ => scan_rows::<2>(&data, w, ht, &table, &levels),
    }
}

/// Per byte value of a row at `depth` bits per pixel (1 or 2): what its pixels are.
fn byte_table(depth: usize, grey: &[u8; 256]) -> [ByteLevels; 256] {
    std::array::from_fn(|b| {
        (0..8 / depth).fold(ByteLevels::default(), |e, i| {
            let index = (b >> (8 - depth * (i + 1))) & ((1 << depth) - 1);
            ByteLevels { ink: e.ink << 1 | u8::from(grey[index] < 128), counts: e.counts + (1 << (8 * index)) }
        })
    })
}

/// The levels of each index (as a unit of that one pixel level), and the count lanes of the
/// indices the policy refuses.
struct Levels<'a> {
    grey: &'a [u8; 256],
    refused: u64,
}

impl Levels<'_> {
    /// The grey sum and extremes of a unit from its index counts (at most four lanes); `None`
    /// if it uses a refused index.
    fn unit(&self, counts: u64) -> Option<(u16, UnitLevels)> {
        if counts & self.refused != 0 {
            return None;
        }
        let (mut sum, mut lv) = (0u16, UnitLevels::NONE);
        for (i, &v) in self.grey[..4].iter().enumerate() {
            let n = (counts >> (8 * i)) as u8;
            if n != 0 {
                sum += u16::from(n) * u16::from(v);
                lv = lv.merge(if v < 128 {
                    UnitLevels { ink_max: v, ..UnitLevels::NONE }
                } else {
                    UnitLevels { paper_min: v, paper_max: v, ..UnitLevels::NONE }
                });
            }
        }
        Some((sum, lv))
    }
}

/// Reads the unfiltered rows (each after its filter byte), `B` bytes per unit row, band by band
/// of eight rows. A unit whose eight rows hold the same bytes (paper, a carrier unit, solid
/// ink: most of a receipt) is read from its first row; which ones do is found for the whole
/// band at once, by a loop the compiler vectorises.
fn scan_rows<const B: usize>(
    data: &[u8],
    w: usize,
    ht: usize,
    table: &[ByteLevels; 256],
    grey: &Levels<'_>,
) -> Option<LosslessScan> {
    let units_x = w / U;
    let (line, bytes) = (1 + units_x * B, units_x * B);
    let mut ink = vec![0u8; units_x * ht];
    let mut sums = Vec::with_capacity(units_x * ht / U);
    let mut levels = Vec::with_capacity(units_x * ht / U);
    let mut differs = vec![0u8; bytes];
    // Neighbouring units mostly hold the same pixels: their levels are worked out once, and
    // the two kinds met last are kept (a band of paper mixes white and carrier units).
    let mut last = (u64::MAX, 0u16, UnitLevels::NONE);
    let mut before = last;
    for (band, out) in data.chunks_exact(line * U).zip(ink.chunks_exact_mut(units_x * U)) {
        let rows: [&[u8]; U] = std::array::from_fn(|r| &band[r * line + 1..][..bytes]);
        let mut out_rows = out.chunks_exact_mut(units_x);
        let mut out: [&mut [u8]; U] = std::array::from_fn(|_| out_rows.next().unwrap_or_default());
        differs.fill(0);
        for row in &rows[1..] {
            for ((d, &a), &b) in differs.iter_mut().zip(*row).zip(rows[0]) {
                *d |= a ^ b;
            }
        }
        for (u, d) in differs.chunks_exact(B).enumerate() {
            let at = |r: usize| -> &[u8] { &rows[r][u * B..][..B] };
            let counts = if d.iter().all(|&x| x == 0) {
                let (bits, counts) = unit_row(at(0), table);
                for o in &mut out {
                    o[u] = bits;
                }
                counts * U as u64
            } else {
                (0..U).fold(0u64, |acc, r| {
                    let (bits, counts) = unit_row(at(r), table);
                    out[r][u] = bits;
                    acc + counts
                })
            };
            if counts != last.0 {
                let next = if counts == before.0 {
                    before
                } else {
                    let (sum, lv) = grey.unit(counts)?;
                    (counts, sum, lv)
                };
                before = last;
                last = next;
            }
            sums.push(last.1);
            levels.push(last.2);
        }
    }
    Some(LosslessScan { width: w as u32, height: ht as u32, ink, sums, levels })
}

/// The ink byte and index counts of eight pixels held in `bytes`.
fn unit_row(bytes: &[u8], table: &[ByteLevels; 256]) -> (u8, u64) {
    let per = 8 / bytes.len() as u32;
    let (bits, counts) = bytes.iter().fold((0u32, 0u64), |(bits, counts), &b| {
        let e = table[usize::from(b)];
        ((bits << per) | u32::from(e.ink), counts + e.counts)
    });
    (bits as u8, counts)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::{decode, scan_lossless};
    use super::*;

    /// `levels` (grey entries, first the most common) at `depth` bits as a palette PNG of
    /// `w` × `h` pixels drawn from a seed, with a text payload, rows filtered by `filter`.
    fn palette_png(w: u32, h: u32, levels: &[u8], depth: u8, filter: u8, seed: u64) -> Vec<u8> {
        let mut st = seed;
        let mut next = || {
            st = st.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            st >> 33
        };
        let per = 8 / usize::from(depth);
        let line = w as usize / per;
        let mut data = vec![0u8; line * h as usize];
        // Runs of one index, as on receipts, so that whole units are uniform now and then.
        let mut index = 0u8;
        for (i, b) in data.iter_mut().enumerate() {
            if next() % 8 == 0 || i % line == 0 && next() % 2 == 0 {
                index = (next() % levels.len() as u64) as u8;
            }
            *b = (0..per).fold(0u8, |acc, _| acc << depth | index);
        }
        let mut out = Vec::new();
        let mut enc = ::png::Encoder::new(&mut out, w, h);
        enc.set_color(::png::ColorType::Indexed);
        enc.set_depth(if depth == 1 { ::png::BitDepth::One } else { ::png::BitDepth::Two });
        enc.set_palette(levels.iter().flat_map(|&v| [v, v, v]).collect::<Vec<u8>>());
        enc.set_filter(match filter {
            0 => ::png::Filter::NoFilter,
            1 => ::png::Filter::Sub,
            2 => ::png::Filter::Up,
            3 => ::png::Filter::Avg,
            _ => ::png::Filter::Paeth,
        });
        enc.add_text_chunk(crate::render::TEXT_KEYWORD.to_owned(), "ER1:X".to_owned()).unwrap();
        let mut wr = enc.write_header().unwrap();
        wr.write_image_data(&data).unwrap();
        wr.finish().unwrap();
        out
    }

    /// What the scan must be, worked out pixel by pixel from the decoded canvas.
    fn from_canvas(bytes: &[u8]) -> LosslessScan {
        let c = decode(bytes).unwrap().canvas;
        let (w, h) = (c.width() as usize, c.height() as usize);
        let px = c.pixels();
        let ink = px.chunks_exact(8).map(|p| p.iter().fold(0u8, |b, &v| b << 1 | u8::from(v < 128))).collect();
        let (mut sums, mut levels) = (Vec::new(), Vec::new());
        for uy in 0..h / 8 {
            for ux in 0..w / 8 {
                let unit: Vec<u8> = (0..64).map(|i| px[(uy * 8 + i / 8) * w + ux * 8 + i % 8]).collect();
                sums.push(unit.iter().map(|&v| u16::from(v)).sum());
                let inks = unit.iter().filter(|&&v| v < 128);
                let paper: Vec<u8> = unit.iter().copied().filter(|&v| v >= 128).collect();
                levels.push(UnitLevels {
                    ink_max: inks.max().copied().unwrap_or(0),
                    paper_min: paper.iter().min().copied().unwrap_or(255),
                    paper_max: paper.iter().max().copied().unwrap_or(0),
                });
            }
        }
        LosslessScan { width: w as u32, height: h as u32, ink, sums, levels }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// The scan of a clean 1- or 2-bit palette receipt is what the canvas gives, whatever
        /// the palette's levels, order and row filters.
        #[test]
        fn the_scan_is_what_the_canvas_gives(
            levels in proptest::collection::vec(any::<u8>(), 1..5),
            two_bits in any::<bool>(),
            filter in 0u8..5,
            tall in any::<bool>(),
            seed in any::<u64>(),
        ) {
            let depth = if two_bits || levels.len() > 2 { 2 } else { 1 };
            let bytes = palette_png(384, if tall { 128 } else { 64 }, &levels, depth, filter, seed);
            let scanned = scan_lossless(&bytes).expect("a clean palette receipt is scanned");
            prop_assert_eq!(scanned.payload.as_str(), "ER1:X");
            prop_assert_eq!(scanned.scan, from_canvas(&bytes));
        }
    }

    #[test]
    fn deviation_is_that_of_the_farthest_pixel() {
        for levels in [[0u8, 255, 252], [100, 130, 200], [127, 128, 255]] {
            let inks = levels.iter().filter(|&&v| v < 128);
            let paper: Vec<u8> = levels.iter().copied().filter(|&v| v >= 128).collect();
            let u = UnitLevels {
                ink_max: inks.clone().max().copied().unwrap_or(0),
                paper_min: paper.iter().min().copied().unwrap_or(255),
                paper_max: paper.iter().max().copied().unwrap_or(0),
            };
            for level in 0..=255u8 {
                let slow = levels.iter().map(|&v| if v < 128 { v } else { v.abs_diff(level) }).max().unwrap();
                assert_eq!(u.deviation(level), slow, "{levels:?} {level}");
            }
        }
    }
}
