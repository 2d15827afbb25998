//! Reading the mark of an image stacked from bands that came as separate files (MMS slides):
//! each band is held to the tolerance of its own file, so a lossless band stays exact beside a
//! JPEG one, and each JPEG band is measured against its own quantisation tables.

use super::plan::Plan;
use super::scan::{self, Content};
use super::tolerance::{JpegModel, JPEG_THRESHOLD};
use super::{read_mark, Extraction, Tolerance, RECEIPT_PRINTS, TAG_BLOCK};
use crate::identity::PosCertificate;
use crate::render::canvas::Canvas;

/// One band of a stacked image: its height and the tolerance of the file it came in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Band {
    /// Rows, a multiple of [`TAG_BLOCK`] (so no localisation block straddles two files).
    pub rows: u32,
    pub tolerance: Tolerance,
}

/// The one tolerance that stands for all bands when they share it (all lossless, or all JPEG
/// with the same tables): then the stacked image is judged exactly as one file of that kind.
fn common(bands: &[Band]) -> Option<Tolerance> {
    let first = bands.first()?.tolerance;
    bands.iter().all(|b| b.tolerance == first).then_some(first)
}

/// The threshold the feature value of a stacked image is compared with: a lossless file's (0)
/// when every band is lossless, else the JPEG one (100), in whose units an exact band's
/// deviation counts as 0 when there is none and 255 otherwise.
pub fn banded_threshold(bands: &[Band]) -> u8 {
    common(bands).unwrap_or(Tolerance::Jpeg { luma_table: [1; 64] }).threshold()
}

/// [`super::extract`] of `img`, the bands stacked top to bottom, each band's blocks measured
/// against its own tolerance. Bands that do not add up to the image, or that are not whole
/// localisation blocks, leave nothing to read: [`Extraction::Unreadable`].
pub fn extract_banded(img: &Canvas, record_hash: &[u8; 32], cert: &PosCertificate, bands: &[Band]) -> Extraction {
    if let Some(t) = common(bands) {
        return super::extract(img, record_hash, cert, &t);
    }
    let whole_blocks = bands.iter().all(|b| b.rows > 0 && b.rows.is_multiple_of(TAG_BLOCK));
    if !whole_blocks || bands.iter().map(|b| u64::from(b.rows)).sum::<u64>() != u64::from(img.height()) {
        return Extraction::Unreadable;
    }
    let Some(plan) = Plan::new(img.width(), img.height(), record_hash) else {
        return Extraction::Absent;
    };
    // The localisation-block row each band starts at, and the band of each block row.
    let block_rows = (img.height() / TAG_BLOCK) as usize;
    let mut band_of_row = Vec::with_capacity(block_rows);
    for (k, b) in bands.iter().enumerate() {
        band_of_row.extend(std::iter::repeat_n(k, (b.rows / TAG_BLOCK) as usize));
    }
    let (content, sums) = Content::with_unit_sums(img);
    read_mark(&plan, &content, &sums, record_hash, cert, JPEG_THRESHOLD, &RECEIPT_PRINTS, |paper| {
        // Scores of the whole image under each distinct tolerance (a pass each), every block
        // then taking its own band's.
        let mut distinct: Vec<(Tolerance, Vec<u8>)> = Vec::new();
        let mut which = Vec::with_capacity(bands.len());
        for b in bands {
            let i = distinct.iter().position(|(t, _)| *t == b.tolerance).unwrap_or_else(|| {
                let scores = match b.tolerance {
                    Tolerance::Exact => scan::block_deviations(img, &plan, paper)
                        .iter()
                        .map(|&d| if d == 0 { 0 } else { 255 })
                        .collect(),
                    Tolerance::Jpeg { luma_table } => {
                        scan::block_jpeg_scores(img, &content, &plan, paper, &JpegModel::new(&luma_table))
                    }
                };
                distinct.push((b.tolerance, scores));
                distinct.len() - 1
            });
            which.push(i);
        }
        let per_row = plan.tags_x as usize;
        (0..plan.tags).map(|i| distinct[which[band_of_row[i / per_row]]].1[i]).collect()
    })
}
