//! The bounded fallback when the layout does not give the symbol: rqrr's own search, but only
//! on the bottom rows where the slip draws its code, and only after a cheap count of the
//! finder-like runs that rqrr would examine. rqrr tries every pair of candidate finders with a
//! fresh copy of the image, so its work grows with the cube of their number: an image with
//! more of them than a receipt's code has is refused before rqrr sees it.

use super::locate::{region_rows, INK_BELOW, MAX_DECODED};
use rqrr::BitGrid;

use super::QrError;
use crate::render::canvas::Canvas;

/// Rows of 1:1:3:1:1 runs allowed in the window. Each of rqrr's candidate finders needs one;
/// a symbol's three finders give three per pixel row of their centres (27 with 3-px modules),
/// its data a few more.
pub(super) const MAX_FINDER_RUNS: usize = 48;

/// Reads a QR code anywhere in the bottom rows of `img` with rqrr, unless the pre-count of
/// finder-like runs says the search could be long.
pub(super) fn read(img: &Canvas) -> Result<String, QrError> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let rows = region_rows(w, h);
    let window = img.pixels().get((h - rows) * w..).unwrap_or(&[]);
    let runs = finder_runs(window, w, MAX_FINDER_RUNS + 1);
    if runs > MAX_FINDER_RUNS {
        return Err(QrError::Crowded(runs));
    }
    let mut prepared =
        rqrr::PreparedImage::prepare_from_bitmap(w, rows, |x, y| window.get(y * w + x).is_some_and(|&v| v < INK_BELOW));
    let grids = prepared.detect_grids();
    if grids.is_empty() {
        return Err(QrError::NotFound);
    }
    let mut last = None;
    for g in grids.iter().take(MAX_DECODED) {
        let modules = rqrr::SimpleGrid::from_func(g.grid.size(), |x, y| g.grid.bit(y, x));
        match super::decode::decode(&modules) {
            Ok(content) => return Ok(content),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or(QrError::NotFound))
}

/// How many dark-light-dark-light-dark runs in ratio 1:1:3:1:1 the rows of `window` (`w`
/// pixels wide, binarised at [`INK_BELOW`]) hold, counted up to `limit`: exactly the runs at
/// which rqrr's line scanner (`detect.rs`, `LineScanner::test_for_capstone`, same tolerance)
/// considers a finder, so their number bounds the finders rqrr can find.
pub(super) fn finder_runs(window: &[u8], w: usize, limit: usize) -> usize {
    let mut count = 0;
    for row in window.chunks_exact(w.max(1)) {
        // The last five runs, oldest first, and how many colour changes the row has seen.
        let mut runs = [0usize; 5];
        let mut changes = 0usize;
        let mut dark = row.first().is_some_and(|&v| v < INK_BELOW);
        let mut length = 1usize;
        // A virtual paper pixel after the row, as rqrr adds, closes a run at the right edge.
        for now_dark in row.iter().skip(1).map(|&v| v < INK_BELOW).chain([false]) {
            if now_dark == dark {
                length += 1;
                continue;
            }
            dark = now_dark;
            runs.rotate_left(1);
            runs[4] = length;
            length = 1;
            changes += 1;
            if !dark && changes >= 5 && finder_ratio(&runs) {
                count += 1;
                if count >= limit {
                    return count;
                }
            }
        }
    }
    count
}

/// rqrr's test: each run within three quarters of the mean ring run of 1, 1, 3, 1, 1 of it.
fn finder_ratio(runs: &[usize; 5]) -> bool {
    let avg = (runs[0] + runs[1] + runs[3] + runs[4]) / 4;
    let err = avg * 3 / 4;
    runs.iter().zip([1, 1, 3, 1, 1]).all(|(&r, k)| r + err >= k * avg && r <= k * avg + err)
}
