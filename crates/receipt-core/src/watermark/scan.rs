//! What the watermark reads from an image's pixels, each in one sequential pass: the binarised
//! content packed one bit per pixel (hashed for the signature and the block tags, and telling
//! which strips are blank), the grey-level sum of every 8×8 unit (the carrier bits) and, once
//! the carrier is known, each block's largest deviation from the authenticated content.

use super::plan::Plan;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::tolerance::JpegModel;
use super::{STRIP_UNITS, TAG_BITS, TAG_BLOCK, UNIT};
use crate::digest::{sha256, sha256_parts};
use crate::render::canvas::Canvas;
use crate::render::decode::UnitLevels;

// Strip rows and block rows of the packed content are read as 8-byte words.
const _: () = assert!(STRIP_UNITS == 8 && TAG_BLOCK == 64);

/// Pixels per carrier unit side and per packed byte (both 8).
const U: usize = UNIT as usize;

/// An image's binarised content: one bit per pixel, 1 = ink (grey below 128), the leftmost
/// pixel in the most significant bit, each row padded to whole bytes.
pub(super) struct Content {
    width: u32,
    height: u32,
    stride: usize,
    bits: Vec<u8>,
}

impl Content {
    pub(super) fn of(img: &Canvas) -> Self {
        let w = img.width() as usize;
        let stride = w.div_ceil(8);
        let mut bits = vec![0u8; stride * img.height() as usize];
        if w > 0 {
            for (row, out) in img.pixels().chunks_exact(w).zip(bits.chunks_exact_mut(stride)) {
                pack_row(row, out);
            }
        }
        Self { width: img.width(), height: img.height(), stride, bits }
    }

    /// The content of a `width` × `height` image from its packed ink bits (rows of whole bytes).
    pub(super) fn from_ink(width: u32, height: u32, bits: Vec<u8>) -> Self {
        Self { width, height, stride: (width as usize).div_ceil(8), bits }
    }

    /// [`Content::of`] and the grey-level sum of every 8×8 unit (row-major) in one pass, band by band of eight rows (a few KiB that
    /// stay in the first-level cache between the two), for sides that are multiples of 8.
    pub(super) fn with_unit_sums(img: &Canvas) -> (Self, Vec<u16>) {
        let w = img.width() as usize;
        let stride = w / 8;
        let mut bits = vec![0u8; img.pixels().len() / 8];
        let mut sums = Vec::with_capacity(img.pixels().len() / (U * U));
        let mut columns = vec![0u16; w];
        if w > 0 {
            for (band, out) in img.pixels().chunks_exact(w * U).zip(bits.chunks_exact_mut(stride * U)) {
                columns.fill(0);
                for (row, out) in band.chunks_exact(w).zip(out.chunks_exact_mut(stride)) {
                    pack_row(row, out);
                    for (c, &v) in columns.iter_mut().zip(row) {
                        *c += u16::from(v);
                    }
                }
                sums.extend(columns.chunks_exact(U).map(|c| c.iter().sum::<u16>()));
            }
        }
        (Self { width: img.width(), height: img.height(), stride, bits }, sums)
    }

    /// The ink bits of the 8×8 unit at unit column `ux`, unit row `uy`, one byte per row.
    fn unit_mask(&self, ux: usize, uy: usize) -> [u8; U] {
        std::array::from_fn(|r| self.bits[(uy * U + r) * self.stride + ux])
    }

    /// The `bytes` packed bytes of row `y` that start at pixel `x` (a multiple of 8).
    fn row(&self, y: u32, x: u32, bytes: usize) -> &[u8] {
        &self.bits[y as usize * self.stride + x as usize / 8..][..bytes]
    }

    /// SHA-256 of the binarised image: what the watermark's signature covers.
    pub(super) fn hash(&self) -> [u8; 32] {
        sha256_parts(&[b"ereceipt/content/v1\0", &self.width.to_be_bytes(), &self.height.to_be_bytes(), &self.bits])
    }

    /// Whether each strip of the plan holds no ink at all (the strips that carry the mark).
    pub(super) fn blank_strips(&self, plan: &Plan) -> Vec<bool> {
        let bytes = STRIP_UNITS as usize;
        (0..plan.strips())
            .map(|s| {
                let (x0, y0) = plan.strip_origin(s);
                // A strip row is eight bytes: one word each.
                (y0..y0 + UNIT).all(|y| {
                    let row: [u8; 8] = self.row(y, x0, bytes).try_into().unwrap_or([1; 8]);
                    u64::from_ne_bytes(row) == 0
                })
            })
            .collect()
    }

    /// The 12-bit tag of every localisation block, bound to the record.
    pub(super) fn tags(&self, plan: &Plan, record_hash: &[u8; 32]) -> Vec<u16> {
        const PREFIX: &[u8] = b"ereceipt/tag/v1\0";
        let bytes = (TAG_BLOCK / 8) as usize;
        let mut data = Vec::with_capacity(PREFIX.len() + 32 + 4 + bytes * TAG_BLOCK as usize);
        (0..plan.tags)
            .map(|i| {
                let r = plan.tag_rect(i);
                data.clear();
                data.extend_from_slice(PREFIX);
                data.extend_from_slice(record_hash);
                data.extend_from_slice(&(i as u32).to_be_bytes());
                for y in r.y..r.y + r.h {
                    // A block row is eight bytes: copied as one word rather than by memcpy.
                    let row: [u8; 8] = self.row(y, r.x, bytes).try_into().unwrap_or([0; 8]);
                    data.extend_from_slice(&row);
                }
                let h = sha256(&data);
                u16::from_be_bytes([h[0], h[1]]) >> (16 - TAG_BITS)
            })
            .collect()
    }
}

/// Packs one row of pixels into `out` (its length rounded up to whole bytes).
fn pack_row(row: &[u8], out: &mut [u8]) {
    let mut chunks = row.chunks_exact(8);
    for (o, c) in out.iter_mut().zip(chunks.by_ref()) {
        *o = ink_byte(c.try_into().unwrap_or([255; 8]));
    }
    let rest = chunks.remainder();
    if let (false, Some(last)) = (rest.is_empty(), out.last_mut()) {
        *last = rest.iter().enumerate().fold(0u8, |b, (i, &v)| b | (u8::from(v < 128) << (7 - i)));
    }
}

/// The ink bits of eight pixels, first pixel in the most significant bit. A grey level is ink
/// (below 128) exactly when its top bit is clear; the multiplication gathers the eight top bits
/// of the lanes into the top byte (every partial product lands on its own bit, so no carries).
fn ink_byte(px: [u8; 8]) -> u8 {
    const TOP: u64 = 0x8080_8080_8080_8080;
    let ink = ((u64::from_be_bytes(px) & TOP) ^ TOP) >> 7;
    (ink.wrapping_mul(0x0102_0408_1020_4080) >> 56) as u8
}

/// The sum of the grey levels of every 8×8 unit, units in row-major order. The image's sides
/// must be multiples of 8 (the plan guarantees it).
#[cfg(test)]
pub(super) fn unit_sums(img: &Canvas) -> Vec<u16> {
    let w = img.width() as usize;
    let mut sums = Vec::with_capacity(img.pixels().len() / (U * U));
    let mut columns = vec![0u16; w];
    for band in img.pixels().chunks_exact(w * U) {
        columns.fill(0);
        for row in band.chunks_exact(w) {
            for (c, &v) in columns.iter_mut().zip(row) {
                *c += u16::from(v);
            }
        }
        sums.extend(columns.chunks_exact(U).map(|c| c.iter().sum::<u16>()));
    }
    sums
}

/// A pixel's deviation from the expected image: an ink pixel's (below 128) from 0, a paper
/// pixel's from its unit's `level`. Branch-free (`paper` is all ones for a level of 128 or
/// more), so that the JPEG pass's loop over it becomes vector operations.
fn deviation(v: u8, level: u8) -> u8 {
    let paper = 0u8.wrapping_sub(v >> 7);
    (v & !paper) | ((v.max(level) - v.min(level)) & paper)
}

/// The largest deviation (grey levels) of each localisation block from the expected image:
/// ink pixels (below 128) are expected at 0, paper pixels at their unit's level in `paper`
/// (paper white, or lowered where the carrier holds a 1). A carrier unit lies in a blank strip,
/// so it holds no ink and the two cases never mix within it.
pub(super) fn block_deviations(img: &Canvas, plan: &Plan, paper: &[u8]) -> Vec<u8> {
    let w = img.width() as usize;
    let side = TAG_BLOCK as usize;
    let mut worst = vec![0u8; plan.tags];
    let mut level = vec![0u8; w];
    for (uy, (band, paper)) in img.pixels().chunks_exact(w * U).zip(paper.chunks_exact(w / U)).enumerate() {
        for (l, &p) in level.chunks_exact_mut(U).zip(paper) {
            l.fill(p);
        }
        let blocks = &mut worst[uy * U / side * (w / side)..][..w / side];
        for row in band.chunks_exact(w) {
            for ((b, px), lv) in blocks.iter_mut().zip(row.chunks_exact(side)).zip(level.chunks_exact(side)) {
                let d = px.iter().zip(lv).map(|(&v, &l)| if v < 128 { v } else { v.abs_diff(l) }).fold(0, u8::max);
                *b = (*b).max(d);
            }
        }
    }
    worst
}

/// [`block_deviations`] from each 8×8 unit's extreme levels (a lossless decoder gathers them
/// row by row) instead of its pixels: the same values, since a unit's largest deviation from
/// its level is that of one of its extremes.
pub(super) fn unit_deviations(levels: &[UnitLevels], plan: &Plan, paper: &[u8]) -> Vec<u8> {
    let units_x = (plan.width / UNIT) as usize;
    let per_block = TAG_BLOCK as usize / U;
    let mut worst = vec![0u8; plan.tags];
    // Unit row by unit row, and eight units at a time (one block's width): no division per unit.
    let rows = levels.chunks_exact(units_x).zip(paper.chunks_exact(units_x));
    for (uy, (levels, paper)) in rows.enumerate() {
        let blocks = worst.chunks_exact_mut(units_x / per_block).nth(uy / per_block).unwrap_or_default();
        for ((b, l), p) in blocks.iter_mut().zip(levels.chunks_exact(per_block)).zip(paper.chunks_exact(per_block)) {
            *b = l.iter().zip(p).fold(*b, |b, (l, &p)| b.max(l.deviation(p)));
        }
    }
    worst
}

/// The JPEG score (see [`JpegModel::score`]) of each localisation block: the largest over its
/// 8×8 units, each judged flat (all ink or all paper in the authenticated content) or mixed,
/// with the same expected levels as [`block_deviations`]. The ink masks come from `content`;
/// deviations and squared errors are gathered per column over each band of eight rows (vector
/// operations), then per unit; the quantisation bound of a mixed unit depends only on its mask
/// and level, so each distinct one is computed once.
pub(super) fn block_jpeg_scores(
    img: &Canvas,
    content: &Content,
    plan: &Plan,
    paper: &[u8],
    model: &JpegModel,
) -> Vec<u8> {
    let w = img.width() as usize;
    let units = w / U;
    let blocks_x = w / TAG_BLOCK as usize;
    let per_block = TAG_BLOCK as usize / U;
    let mut worst = vec![0u8; plan.tags];
    let (mut level, mut delta, mut dev, mut energy) = (vec![0u8; w], vec![0u8; w], vec![0u8; w], vec![0u32; w]);
    let mut masks = vec![([0u8; U], false); units];
    let mut bounds: HashMap<(u64, u8), f32, BuildHasherDefault<MaskHasher>> =
        HashMap::with_capacity_and_hasher(4096, BuildHasherDefault::default());
    for (uy, (band, paper)) in img.pixels().chunks_exact(w * U).zip(paper.chunks_exact(units)).enumerate() {
        for (l, &p) in level.chunks_exact_mut(U).zip(paper) {
            l.fill(p);
        }
        // Only mixed units need the squared error: it is gathered from the first mixed unit
        // of the band to the last (none in a band of blank paper or solid ink).
        for (u, m) in masks.iter_mut().enumerate() {
            let mask = content.unit_mask(u, uy);
            *m = (mask, mask.iter().any(|&b| b != 0) && mask.iter().any(|&b| b != 0xff));
        }
        let first = masks.iter().position(|m| m.1).unwrap_or(units);
        let last = masks.iter().rposition(|m| m.1).map_or(first, |u| u + 1);
        let mixed_px = first * U..last * U;
        dev.fill(0);
        energy[mixed_px.clone()].fill(0);
        for row in band.chunks_exact(w) {
            // One simple loop per quantity, each of which the compiler vectorises.
            for ((d, &v), &l) in delta.iter_mut().zip(row).zip(&level) {
                *d = deviation(v, l);
            }
            for (d, &x) in dev.iter_mut().zip(&delta) {
                *d = (*d).max(x);
            }
            for (e, &x) in energy[mixed_px.clone()].iter_mut().zip(&delta[mixed_px.clone()]) {
                *e += u32::from(u16::from(x) * u16::from(x));
            }
        }
        let blocks = &mut worst[uy / per_block * blocks_x..][..blocks_x];
        for (u, ((d, e), (&level, (m, mixed)))) in
            dev.chunks_exact(U).zip(energy.chunks_exact(U)).zip(paper.iter().zip(&masks)).enumerate()
        {
            let d = d.iter().copied().fold(0, u8::max);
            let score = if *mixed {
                let key = (u64::from_be_bytes(*m), level);
                let bound = *bounds.entry(key).or_insert_with(|| model.mixed_bound(m, level));
                model.score_with(Some(bound), d, e.iter().sum())
            } else {
                // A flat unit's score needs only its worst deviation.
                model.score_with(None, d, 0)
            };
            let b = &mut blocks[u / per_block];
            *b = (*b).max(score);
        }
    }
    worst
}

/// [`block_jpeg_scores`] as it was, every unit's squared error gathered: the oracle of the
/// tests that the faster pass gives the same scores.
#[cfg(test)]
pub(super) fn block_jpeg_scores_every_unit(
    img: &Canvas,
    content: &Content,
    plan: &Plan,
    paper: &[u8],
    model: &JpegModel,
) -> Vec<u8> {
    let w = img.width() as usize;
    let units = w / U;
    let blocks_x = w / TAG_BLOCK as usize;
    let per_block = TAG_BLOCK as usize / U;
    let mut worst = vec![0u8; plan.tags];
    let (mut level, mut delta, mut dev, mut energy) = (vec![0u8; w], vec![0u8; w], vec![0u8; w], vec![0u32; w]);
    let mut bounds: HashMap<(u64, u8), f32, BuildHasherDefault<MaskHasher>> =
        HashMap::with_capacity_and_hasher(4096, BuildHasherDefault::default());
    for (uy, (band, paper)) in img.pixels().chunks_exact(w * U).zip(paper.chunks_exact(units)).enumerate() {
        for (l, &p) in level.chunks_exact_mut(U).zip(paper) {
            l.fill(p);
        }
        dev.fill(0);
        energy.fill(0);
        for row in band.chunks_exact(w) {
            // One simple loop per quantity, each of which the compiler vectorises.
            for ((d, &v), &l) in delta.iter_mut().zip(row).zip(&level) {
                *d = deviation(v, l);
            }
            for (d, &x) in dev.iter_mut().zip(&delta) {
                *d = (*d).max(x);
            }
            for (e, &x) in energy.iter_mut().zip(&delta) {
                *e += u32::from(u16::from(x) * u16::from(x));
            }
        }
        let blocks = &mut worst[uy / per_block * blocks_x..][..blocks_x];
        for (u, ((d, e), &level)) in dev.chunks_exact(U).zip(energy.chunks_exact(U)).zip(paper).enumerate() {
            let m = content.unit_mask(u, uy);
            let mixed = m.iter().any(|&b| b != 0) && m.iter().any(|&b| b != 0xff);
            let key = (u64::from_be_bytes(m), level);
            let bound = mixed.then(|| *bounds.entry(key).or_insert_with(|| model.mixed_bound(&m, level)));
            let d = d.iter().copied().fold(0, u8::max);
            let score = model.score_with(bound, d, e.iter().sum());
            let b = &mut blocks[u / per_block];
            *b = (*b).max(score);
        }
    }
    worst
}

/// The hash of a unit's ink mask and level for the bound cache: one multiply per word (the
/// keys are the image's own, so nothing is gained by SipHash's resistance to chosen keys, and
/// its cost was a third of the JPEG scoring pass).
#[derive(Default)]
struct MaskHasher(u64);

impl Hasher for MaskHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u8(&mut self, v: u8) {
        self.write_u64(u64::from(v));
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(23) ^ v).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ink_byte_matches_the_bit_by_bit_packing() {
        let levels = [0u8, 1, 127, 128, 129, 200, 252, 255];
        for pattern in 0..=255u8 {
            for shift in 0..levels.len() {
                let px: [u8; 8] = std::array::from_fn(|i| {
                    if pattern >> (7 - i) & 1 == 1 {
                        levels[(i + shift) % 3]
                    } else {
                        levels[3 + (i + shift) % 5]
                    }
                });
                let slow = px.iter().enumerate().fold(0u8, |b, (i, &v)| b | (u8::from(v < 128) << (7 - i)));
                assert_eq!(ink_byte(px), slow, "{px:?}");
                assert_eq!(slow, pattern);
            }
        }
    }

    #[test]
    fn the_branch_free_deviation_is_the_plain_one() {
        for v in 0..=255u8 {
            for level in 0..=255u8 {
                assert_eq!(deviation(v, level), if v < 128 { v } else { v.abs_diff(level) }, "{v} {level}");
            }
        }
    }

    #[test]
    fn one_pass_gives_the_content_and_the_unit_sums() {
        let mut st = 7u64;
        let px = (0..384 * 128)
            .map(|_| {
                st = st.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (st >> 56) as u8
            })
            .collect();
        let img = Canvas::from_pixels(384, 128, px).unwrap();
        let (content, sums) = Content::with_unit_sums(&img);
        assert!(content.bits == Content::of(&img).bits);
        assert_eq!(sums, unit_sums(&img));
    }

    #[test]
    fn odd_widths_pad_rows_to_whole_bytes() {
        let mut c = Canvas::new(11, 2);
        c.set(0, 0, 0);
        c.set(10, 0, 100);
        c.set(9, 1, 127);
        assert_eq!(Content::of(&c).bits, vec![0x80, 0x20, 0x00, 0x40]);
    }
}
