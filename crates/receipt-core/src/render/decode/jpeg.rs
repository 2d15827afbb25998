//! JPEG pixels: after the marker walk, the luma plane is decoded (zune-jpeg, bounded by the
//! walk's size and scan limits) and, for colour files, the chroma judged: a grey slip must
//! decode to near-neutral pixels, so no viewer can show a colour the luma check ignores.

use zune_core::bytestream::ZCursor;
use zune_core::colorspace::ColorSpace;
use zune_core::options::DecoderOptions;
use zune_jpeg::JpegDecoder;

use super::jpeg_walk::{self, JpegFile};
use super::refusal::Refusal;
use super::{luma, ImageError, ImageKind, Inspected, Limits};
use crate::render::canvas::Canvas;

/// The largest difference between the R, G and B a viewer computes from one pixel that still
/// counts as grey. Genuine grey JPEGs have neutral chroma (spread 0-1 after rounding).
const MAX_SPREAD: i32 = 8;

pub(super) fn read(bytes: &[u8], limits: Limits) -> Result<Inspected, ImageError> {
    let file = jpeg_walk::walk(bytes, limits)?;
    let mut refusal = file.refusal.clone();
    let canvas = if file.decodable {
        match pixels(bytes, &file) {
            Ok((canvas, r)) => {
                if let Some(r) = r {
                    refusal.get_or_insert(r);
                }
                Some(canvas)
            }
            Err(_) if refusal.is_some() => None,
            Err(e) => return Err(e),
        }
    } else {
        None
    };
    if canvas.is_none() && refusal.is_none() {
        return Err(ImageError::Jpeg("no pixels".into()));
    }
    Ok(Inspected { kind: ImageKind::Jpeg, payload: None, canvas, luma_table: Some(file.luma_table), refusal })
}

/// The grey image: the luma plane itself (what the quantisation model speaks of), and for a
/// three-component file the first pixel whose chroma a viewer would show as colour.
fn pixels(bytes: &[u8], file: &JpegFile) -> Result<(Canvas, Option<Refusal>), ImageError> {
    let out = match file.components.len() {
        1 => ColorSpace::Luma,
        3 => ColorSpace::YCbCr,
        _ => ColorSpace::RGB,
    };
    let options = DecoderOptions::new_safe()
        .set_strict_mode(true)
        .set_max_width(file.width as usize)
        .set_max_height(file.height as usize)
        .jpeg_set_max_scans(64)
        .jpeg_set_out_colorspace(out);
    let mut dec = JpegDecoder::new_with_options(ZCursor::new(bytes), options);
    let data = dec.decode().map_err(|e| ImageError::Jpeg(format!("{e:?}")))?;
    let (w, h) = (file.width as usize, file.height as usize);
    let mut refusal = None;
    let px: Vec<u8> = match out {
        ColorSpace::Luma => data,
        ColorSpace::YCbCr => {
            let mut px = Vec::with_capacity(w * h);
            for (i, p) in data.chunks_exact(3).enumerate() {
                px.push(p[0]);
                // Neutral chroma (every pixel of a genuine grey JPEG) needs no arithmetic.
                if (p[1], p[2]) != (128, 128) && refusal.is_none() && spread(p[1], p[2]) > MAX_SPREAD {
                    refusal = Some(Refusal::Colour { x: (i % w) as u32, y: (i / w) as u32 });
                }
            }
            px
        }
        _ => data.chunks_exact(3).map(|p| luma(p[0], p[1], p[2])).collect(),
    };
    let canvas = Canvas::from_pixels(file.width, file.height, px)
        .ok_or_else(|| ImageError::Jpeg("decoded size differs from the frame header".into()))?;
    Ok((canvas, refusal))
}

/// The largest difference between the R, G and B that the JFIF conversion makes of a pixel's
/// chroma, before clamping (clamping can only hide colour at the extremes, never add it).
fn spread(cb: u8, cr: u8) -> i32 {
    let (cb, cr) = (i32::from(cb) - 128, i32::from(cr) - 128);
    // Offsets from Y of R, G and B, in thousandths.
    let (r, g, b) = (1402 * cr, -344 * cb - 714 * cr, 1772 * cb);
    (r.max(g).max(b) - r.min(g).min(b)) / 1000
}
