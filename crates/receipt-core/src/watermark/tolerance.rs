//! How far a file's pixels may stray from the authenticated content, per format. Lossless
//! files must show exactly the levels the terminal wrote. A JPEG may carry the noise its own
//! quantisation can produce, and no more: a blank 8×8 block (flat in the signed content) is
//! coded by its DC coefficient alone and stays flat; a block with ink and paper may deviate by
//! at most the energy its quantisation tables allow (Parseval: the DCT is orthonormal, so the
//! squared pixel error equals the squared coefficient error, at most (Q[k]/2)² per coefficient).

use crate::render::decode::{Decoded, ImageKind};

/// Grey levels a pixel of a flat JPEG block may move (DC rounding, the decoder's IDCT).
pub const FLAT_LIMIT: u8 = 4;
/// Grey levels any pixel of a JPEG may move: a last bound whatever the tables.
pub const PIXEL_LIMIT: u8 = 64;
/// Rounding slack per coefficient (the encoder's integer DCT), in the coefficient's units.
const COEFF_SLACK: f64 = 1.0;
/// Rounding slack in the pixel domain, L2 over a block (one level per pixel: the decoder's
/// integer IDCT and output rounding).
const PIXEL_SLACK: f64 = 8.0;
/// A JPEG block's score is the share of its tolerance it uses, in percent.
pub const JPEG_THRESHOLD: u8 = 100;

/// The tolerance the feature value is measured against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tolerance {
    /// Lossless files (PNG): the feature is the largest deviation of any pixel, threshold 0.
    Exact,
    /// JPEG: the feature is the largest share (percent) of its tolerance any 8×8 block uses.
    Jpeg {
        /// The most squared error (summed over a block's 64 pixels) that quantising a block
        /// with the file's luma table can produce, with rounding slack.
        mixed_energy: u32,
    },
}

impl Tolerance {
    /// The tolerance for an image as it was decoded: exact unless it came as a JPEG.
    pub fn for_image(decoded: &Decoded) -> Self {
        match (decoded.kind, decoded.luma_table) {
            (ImageKind::Jpeg, Some(t)) => Self::jpeg(&t),
            _ => Self::Exact,
        }
    }

    /// The JPEG tolerance of a luma quantisation table.
    pub fn jpeg(luma_table: &[u16; 64]) -> Self {
        let coefficients = luma_table.iter().map(|&q| (f64::from(q) / 2.0 + COEFF_SLACK).powi(2)).sum::<f64>().sqrt();
        let l2 = coefficients + PIXEL_SLACK;
        Self::Jpeg { mixed_energy: (l2 * l2).ceil() as u32 }
    }

    /// The feature value at or below which an image counts as untampered.
    pub fn threshold(&self) -> u8 {
        match self {
            Self::Exact => 0,
            Self::Jpeg { .. } => JPEG_THRESHOLD,
        }
    }

    /// The score of one 8×8 block of a JPEG: whether its expected content mixes ink and paper,
    /// its largest pixel deviation and its squared error.
    pub(super) fn jpeg_block(mixed_energy: u32, mixed: bool, worst: u8, energy: u32) -> u8 {
        let pixel = u32::from(worst) * 100 / u32::from(PIXEL_LIMIT);
        let block = if mixed {
            (u64::from(energy) * 100 / u64::from(mixed_energy.max(1))).min(255) as u32
        } else {
            u32::from(worst) * 100 / u32::from(FLAT_LIMIT)
        };
        pixel.max(block).min(255) as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::decode::jpeg_tables_for_tests as tables;

    #[test]
    fn coarser_tables_allow_more_and_flat_blocks_little() {
        let (q95, q75) = (Tolerance::jpeg(&tables(95)), Tolerance::jpeg(&tables(75)));
        let energy = |t: Tolerance| match t {
            Tolerance::Jpeg { mixed_energy } => mixed_energy,
            Tolerance::Exact => 0,
        };
        assert!(energy(q95) < energy(q75) / 4, "{q95:?} {q75:?}");
        // A flat block: 4 levels pass, 5 do not; a mixed block: its energy budget.
        let e = energy(q75);
        assert_eq!(Tolerance::jpeg_block(e, false, 4, 0), 100);
        assert!(Tolerance::jpeg_block(e, false, 5, 0) > JPEG_THRESHOLD);
        assert!(Tolerance::jpeg_block(e, true, 40, e) <= JPEG_THRESHOLD);
        assert!(Tolerance::jpeg_block(e, true, 40, e + e / 50) > JPEG_THRESHOLD);
        // The per-pixel bound holds in any block.
        assert!(Tolerance::jpeg_block(e, true, 65, 0) > JPEG_THRESHOLD);
    }
}
