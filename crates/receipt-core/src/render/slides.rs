//! The signed slip cut into slides for MMS: bands of whole 64-px localisation blocks, each small
//! enough to fit the 640×480 "Image Rich" box without scaling, each a PNG of exactly the pixels
//! the terminal signed (nothing is re-rendered). [`crate::verify::verify_slides`] stacks them back.

use std::ops::Range;

use super::canvas::Canvas;
use super::decode::{self, ImageError, HEIGHT_STEP};
use super::png;

/// Rows of a full slide: seven 64-px blocks. Under the 480 rows of the 640×480 class, and a
/// multiple of 64 (so of JPEG's 8 and 16): no watermark block and no JPEG block straddles a
/// cut, every slide is itself receipt-shaped for the strict reader, and a region the verifier
/// flags lies on one slide.
pub const SLIDE_ROWS: u32 = 7 * HEIGHT_STEP;

/// The row ranges of the slides of a slip `height` px high, top to bottom: full slides of
/// [`SLIDE_ROWS`] and a shorter last one (a multiple of 64 when `height` is).
pub fn bands(height: u32) -> Vec<Range<u32>> {
    (0..height.div_ceil(SLIDE_ROWS)).map(|k| k * SLIDE_ROWS..((k + 1) * SLIDE_ROWS).min(height)).collect()
}

/// Cuts a signed receipt PNG (one the platform already trusts) into slide PNGs, top to bottom.
/// The text payload stays with the whole file: the slides carry the QR code in their pixels.
pub fn cut(receipt_png: &[u8]) -> Result<Vec<Vec<u8>>, ImageError> {
    let decoded = decode::decode(receipt_png)?;
    cut_canvas(&decoded.canvas).iter().map(|band| png::encode(band, None)).collect()
}

/// The slides of a canvas as canvases.
pub fn cut_canvas(img: &Canvas) -> Vec<Canvas> {
    let w = img.width() as usize;
    bands(img.height())
        .into_iter()
        .map(|rows| {
            let px = img.pixels()[rows.start as usize * w..rows.end as usize * w].to_vec();
            Canvas::from_pixels(img.width(), rows.end - rows.start, px)
                .unwrap_or_else(|| Canvas::new(img.width(), rows.end - rows.start))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_cover_every_row_once_on_block_boundaries() {
        for height in (64..=4096).step_by(64) {
            let b = bands(height);
            assert_eq!(b.first().map(|r| r.start), Some(0));
            assert_eq!(b.last().map(|r| r.end), Some(height));
            for pair in b.windows(2) {
                assert_eq!(pair[0].end, pair[1].start, "gap or overlap at {height}");
            }
            for r in &b {
                assert!(r.end - r.start <= SLIDE_ROWS && r.end > r.start);
                assert!(r.start.is_multiple_of(16) && r.end.is_multiple_of(64), "{r:?}");
            }
            let (last, full) = b.split_last().unwrap();
            assert!(full.iter().all(|r| r.end - r.start == SLIDE_ROWS));
            assert!(last.end - last.start <= SLIDE_ROWS);
        }
        assert_eq!(bands(1408), vec![0..448, 448..896, 896..1344, 1344..1408]);
        assert_eq!(bands(448), vec![0..448]);
    }

    #[test]
    fn slides_are_the_signed_pixels() {
        let png = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/golden-576.png")).unwrap();
        let whole = decode::decode(&png).unwrap().canvas;
        let slides = cut(&png).unwrap();
        assert_eq!(slides.len(), bands(whole.height()).len());
        let mut stacked = Vec::new();
        for s in &slides {
            let d = decode::inspect(s).unwrap();
            assert!(d.refusal.is_none(), "{:?}", d.refusal);
            let c = d.canvas.unwrap();
            assert!(c.width() == 576 && c.height() <= 480);
            stacked.extend_from_slice(c.pixels());
        }
        assert_eq!(stacked, whole.pixels());
    }
}
