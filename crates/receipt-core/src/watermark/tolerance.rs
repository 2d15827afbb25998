//! How far a file's pixels may stray from the authenticated content, per format. Lossless
//! files must show exactly the levels the terminal wrote. A JPEG may carry the noise its own
//! quantisation can produce, and no more: a blank 8×8 block (flat in the signed content) is
//! coded by its DC coefficient alone and stays flat; a block with ink and paper may deviate by
//! at most the squared error that quantising its signed content with the file's own luma table
//! can produce ([`JpegModel`]); and no pixel by more than [`PIXEL_LIMIT`].

use crate::render::decode::{Decoded, ImageKind};

/// Grey levels a pixel of a flat JPEG block may move (DC rounding, the decoder's IDCT).
pub const FLAT_LIMIT: u8 = 4;
/// Grey levels any pixel of a JPEG may move: a last bound whatever the tables.
pub const PIXEL_LIMIT: u8 = 64;
/// Slack per coefficient, in the coefficient's units: twice the error of an encoder's integer
/// DCT (libjpeg's fast DCT errs by up to about 1), since that error both moves the coefficient
/// and can tip its rounding.
const COEFF_SLACK: f32 = 2.0;
/// Rounding slack in the pixel domain, L2 over a block: one level per pixel (the decoder's
/// integer IDCT and output rounding).
const PIXEL_SLACK: f32 = 8.0;
/// A JPEG block's score is the share of its tolerance it uses, in percent.
pub const JPEG_THRESHOLD: u8 = 100;

/// The tolerance the feature value is measured against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tolerance {
    /// Lossless files (PNG): the feature is the largest deviation of any pixel, threshold 0.
    Exact,
    /// JPEG: the feature is the largest share (percent) of its tolerance any 8×8 block uses.
    Jpeg {
        /// The file's luma quantisation table, natural (row-major) order.
        luma_table: [u16; 64],
    },
}

impl Tolerance {
    /// The tolerance for an image as it was decoded: exact unless it came as a JPEG.
    pub fn for_image(decoded: &Decoded) -> Self {
        match (decoded.kind, decoded.luma_table) {
            (ImageKind::Jpeg, Some(luma_table)) => Self::Jpeg { luma_table },
            _ => Self::Exact,
        }
    }

    /// The feature value at or below which an image counts as untampered.
    pub fn threshold(&self) -> u8 {
        match self {
            Self::Exact => 0,
            Self::Jpeg { .. } => JPEG_THRESHOLD,
        }
    }
}

/// The JPEG block model of one quantisation table.
///
/// The encoder quantises each coefficient c of a block to the nearest multiple of its step Q,
/// so it errs by at most min(|c|, Q/2): a coefficient smaller than half a step becomes 0 and
/// errs by itself. The signed content of a mixed block is known (ink 0, paper at its level), so
/// its coefficients are, and the squared error a genuine JPEG can show in that block is at most
/// the sum of those bounds squared (Parseval: the 8×8 DCT is orthonormal), which is far less
/// than the table alone allows wherever the content is simple.
pub(super) struct JpegModel {
    half_step: [f32; 64],
    /// `basis[u][x]`: the orthonormal 8-point DCT-II.
    basis: [[f32; 8]; 8],
    /// For each byte of ink bits (first pixel in the high bit), the 1-D DCT of that row of ink.
    rows: Vec<[f32; 8]>,
}

impl JpegModel {
    pub(super) fn new(luma_table: &[u16; 64]) -> Self {
        let basis: [[f32; 8]; 8] = std::array::from_fn(|u| {
            let a = if u == 0 { (1.0f32 / 8.0).sqrt() } else { 0.5 };
            std::array::from_fn(|x| a * ((2 * x + 1) as f32 * u as f32 * std::f32::consts::PI / 16.0).cos())
        });
        let rows = (0..256usize)
            .map(|b| std::array::from_fn(|u| (0..8).filter(|x| b >> (7 - x) & 1 == 1).map(|x| basis[u][x]).sum()))
            .collect();
        Self { half_step: std::array::from_fn(|k| f32::from(luma_table[k]) / 2.0), basis, rows }
    }

    /// The most squared error quantisation can give a block whose ink rows are `mask` and whose
    /// paper is at `level`, with rounding slack.
    pub(super) fn mixed_bound(&self, mask: &[u8; 8], level: u8) -> f32 {
        // The block is (level - 128) everywhere minus level where there is ink.
        let rows: [&[f32; 8]; 8] = std::array::from_fn(|y| &self.rows[usize::from(mask[y])]);
        let mut sum = 0.0f32;
        for (v, basis_v) in self.basis.iter().enumerate() {
            // Row v of the 2-D DCT of the ink, eight coefficients at once (vectorised).
            let mut ink = [0.0f32; 8];
            for (b, r) in basis_v.iter().zip(&rows) {
                for (i, x) in ink.iter_mut().zip(r.iter()) {
                    *i += b * x;
                }
            }
            let dc = if v == 0 { 8.0 * (f32::from(level) - 128.0) } else { 0.0 };
            for (u, (&i, &half_step)) in ink.iter().zip(&self.half_step[v * 8..v * 8 + 8]).enumerate() {
                let c = if u == 0 { dc } else { 0.0 } - f32::from(level) * i;
                let e = c.abs().min(half_step) + COEFF_SLACK;
                sum += e * e;
            }
        }
        let l2 = sum.sqrt() + PIXEL_SLACK;
        l2 * l2
    }

    /// The score of one 8×8 block: whether its signed content mixes ink and paper (then its
    /// ink rows and paper level), its largest pixel deviation and its squared error.
    #[cfg(test)]
    pub(super) fn score(&self, mixed: Option<(&[u8; 8], u8)>, worst: u8, energy: u32) -> u8 {
        self.score_with(mixed.map(|(mask, level)| self.mixed_bound(mask, level)), worst, energy)
    }

    /// [`Self::score`] given the [`Self::mixed_bound`] of a mixed block (`None` for a flat one).
    pub(super) fn score_with(&self, mixed_bound: Option<f32>, worst: u8, energy: u32) -> u8 {
        let pixel = f32::from(worst) * 100.0 / f32::from(PIXEL_LIMIT);
        let block = match mixed_bound {
            Some(bound) => energy as f32 * 100.0 / bound,
            None => f32::from(worst) * 100.0 / f32::from(FLAT_LIMIT),
        };
        pixel.max(block).min(255.0) as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::decode::jpeg_tables_for_tests as tables;

    /// The DCT the bound uses, straight from its definition, for a block of levels.
    fn dct(block: &[[f32; 8]; 8]) -> [f32; 64] {
        let a = |u: usize| if u == 0 { (0.125f32).sqrt() } else { 0.5 };
        std::array::from_fn(|k| {
            let (v, u) = (k / 8, k % 8);
            let mut s = 0.0;
            for (y, row) in block.iter().enumerate() {
                for (x, &f) in row.iter().enumerate() {
                    s += f
                        * ((2 * x + 1) as f32 * u as f32 * std::f32::consts::PI / 16.0).cos()
                        * ((2 * y + 1) as f32 * v as f32 * std::f32::consts::PI / 16.0).cos();
                }
            }
            a(u) * a(v) * s
        })
    }

    #[test]
    fn the_bound_is_the_sum_of_the_per_coefficient_bounds_of_the_content() {
        let t = tables(75);
        let m = JpegModel::new(&t);
        let mask = [0b1111_0000, 0b1110_0000, 0b0110_0000, 0, 0, 0b0000_0001, 0b0000_0011, 0xff];
        let block: [[f32; 8]; 8] =
            std::array::from_fn(|y| std::array::from_fn(|x| if mask[y] >> (7 - x) & 1 == 1 { -128.0 } else { 124.0 }));
        let c = dct(&block);
        let sum: f32 = (0..64).map(|k| (c[k].abs().min(f32::from(t[k]) / 2.0) + COEFF_SLACK).powi(2)).sum();
        let expected = (sum.sqrt() + PIXEL_SLACK).powi(2);
        assert!(
            (m.mixed_bound(&mask, 252) - expected).abs() < expected * 1e-4,
            "{} {expected}",
            m.mixed_bound(&mask, 252)
        );
        // Never more than the table alone allows; far less for a straight edge.
        let any: f32 = t.iter().map(|&q| f32::from(q) / 2.0 + COEFF_SLACK).map(|e| e * e).sum();
        let any = (any.sqrt() + PIXEL_SLACK).powi(2);
        assert!(m.mixed_bound(&mask, 252) <= any);
        assert!(m.mixed_bound(&[0xf0; 8], 255) < any / 2.0);
    }

    #[test]
    fn flat_blocks_allow_four_levels_and_any_pixel_sixty_four() {
        let m = JpegModel::new(&tables(75));
        assert_eq!(m.score(None, 4, 0), 100);
        assert!(m.score(None, 5, 0) > JPEG_THRESHOLD);
        let edge = [0xf0u8; 8];
        let b = m.mixed_bound(&edge, 255);
        assert!(m.score(Some((&edge, 255)), 10, (b * 0.99) as u32) <= JPEG_THRESHOLD);
        assert!(m.score(Some((&edge, 255)), 10, (b * 1.02) as u32) > JPEG_THRESHOLD);
        assert!(m.score(Some((&edge, 255)), 65, 0) > JPEG_THRESHOLD);
    }
}
