//! JPEG pixels: after the marker walk, the luma plane is decoded (zune-jpeg, bounded by the
//! walk's size and scan limits) and, for colour files, the chroma judged: a grey slip must
//! decode to near-neutral pixels, so no viewer can show a colour the luma check ignores. When
//! the entropy coding shows every chroma block empty, only luma is decoded: by our one pass
//! ([`jpeg_luma`]) where it takes the file, else by zune-jpeg after [`jpeg_chroma`]'s walk.

use zune_core::bytestream::ZCursor;
use zune_core::colorspace::ColorSpace;
use zune_core::options::DecoderOptions;
use zune_jpeg::JpegDecoder;

use super::jpeg_chroma;
use super::jpeg_luma::{self, Luma};
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
///
/// An unrefused sequential YCbCr file whose chroma blocks all code nothing has neutral chroma
/// everywhere (128 before and after upsampling), so its luma alone is decoded: by our own pass
/// ([`jpeg_luma`]) where it takes the file, else by zune-jpeg after the chroma walk. Anything
/// else, or a luma decode that fails, takes the full decode ([`pixels_judged`]), which names
/// the first coloured pixel and the decoder's error exactly as before.
fn pixels(bytes: &[u8], file: &JpegFile) -> Result<(Canvas, Option<Refusal>), ImageError> {
    if file.refusal.is_none() && file.components.len() == 3 {
        match jpeg_luma::decode(bytes, file) {
            Luma::Plane(canvas) => return Ok((canvas, None)),
            Luma::ChromaCoded => return pixels_judged(bytes, file),
            Luma::Declined => {}
        }
    }
    pixels_by_zune(bytes, file)
}

/// [`pixels`] as before [`jpeg_luma`]: the chroma walk, then zune-jpeg's luma or full decode.
fn pixels_by_zune(bytes: &[u8], file: &JpegFile) -> Result<(Canvas, Option<Refusal>), ImageError> {
    let neutral = file.refusal.is_none()
        && file.components.len() == 3
        && file
            .sequential
            .as_ref()
            .is_some_and(|s| jpeg_chroma::neutral(bytes, &file.components, file.width, file.height, s));
    if neutral {
        if let Some(canvas) = luma_of_ycbcr(bytes, file) {
            return Ok((canvas, None));
        }
    }
    pixels_judged(bytes, file)
}

/// The luma plane of a YCbCr file, `None` if zune-jpeg takes it for another colour space or
/// cannot decode it. Only for single-scan files: zune-jpeg 0.5.15's luma output panics on a
/// baseline file of one scan per component (`finish_baseline_decoding` slices past its rows).
fn luma_of_ycbcr(bytes: &[u8], file: &JpegFile) -> Option<Canvas> {
    let mut dec = JpegDecoder::new_with_options(ZCursor::new(bytes), options(file, ColorSpace::Luma));
    dec.decode_headers().ok()?;
    if dec.input_colorspace() != Some(ColorSpace::YCbCr) {
        return None;
    }
    Canvas::from_pixels(file.width, file.height, dec.decode().ok()?)
}

fn options(file: &JpegFile, out: ColorSpace) -> DecoderOptions {
    DecoderOptions::new_safe()
        .set_strict_mode(true)
        .set_max_width(file.width as usize)
        .set_max_height(file.height as usize)
        .jpeg_set_max_scans(64)
        .jpeg_set_out_colorspace(out)
}

/// [`pixels`] by the full decode: every component, chroma upsampled and judged pixel by pixel.
fn pixels_judged(bytes: &[u8], file: &JpegFile) -> Result<(Canvas, Option<Refusal>), ImageError> {
    let out = match file.components.len() {
        1 => ColorSpace::Luma,
        3 => ColorSpace::YCbCr,
        _ => ColorSpace::RGB,
    };
    let mut dec = JpegDecoder::new_with_options(ZCursor::new(bytes), options(file, out));
    let data = dec.decode().map_err(|e| ImageError::Jpeg(format!("{e:?}")))?;
    let w = file.width as usize;
    let mut refusal = None;
    let px: Vec<u8> = match out {
        ColorSpace::Luma => data,
        ColorSpace::YCbCr => {
            refusal = first_colour(&data, w);
            data.chunks_exact(3).map(|p| p[0]).collect()
        }
        _ => data.chunks_exact(3).map(|p| luma(p[0], p[1], p[2])).collect(),
    };
    let canvas = Canvas::from_pixels(file.width, file.height, px)
        .ok_or_else(|| ImageError::Jpeg("decoded size differs from the frame header".into()))?;
    Ok((canvas, refusal))
}

/// Pixels per run whose chroma is tested whole: a genuine grey JPEG has neutral chroma (128,
/// 128) everywhere, which a branch-free test over the run's bytes finds (vectorised); only a run
/// that fails it is looked at pixel by pixel.
const RUN: usize = 64;
/// Per byte of a run of YCbCr pixels: which bits must equal those of 128 (the chroma bytes).
static CHROMA: [u8; 3 * RUN] = {
    let mut m = [0u8; 3 * RUN];
    let mut i = 0;
    while i < RUN {
        m[3 * i + 1] = 0xff;
        m[3 * i + 2] = 0xff;
        i += 1;
    }
    m
};

/// The first pixel (of interleaved YCbCr rows `w` wide) whose chroma a viewer would show as
/// colour: spread above [`MAX_SPREAD`].
fn first_colour(data: &[u8], w: usize) -> Option<Refusal> {
    for (r, run) in data.chunks(3 * RUN).enumerate() {
        if run.iter().zip(&CHROMA).fold(0u8, |any, (&b, &m)| any | ((b ^ 0x80) & m)) == 0 {
            continue;
        }
        let at = run.chunks_exact(3).position(|p| (p[1], p[2]) != (128, 128) && spread(p[1], p[2]) > MAX_SPREAD);
        if let Some(k) = at {
            let i = r * RUN + k;
            return Some(Refusal::Colour { x: (i % w) as u32, y: (i / w) as u32 });
        }
    }
    None
}

/// The largest difference between the R, G and B that the JFIF conversion makes of a pixel's
/// chroma, before clamping (clamping can only hide colour at the extremes, never add it).
fn spread(cb: u8, cr: u8) -> i32 {
    let (cb, cr) = (i32::from(cb) - 128, i32::from(cr) - 128);
    // Offsets from Y of R, G and B, in thousandths.
    let (r, g, b) = (1402 * cr, -344 * cb - 714 * cr, 1772 * cb);
    (r.max(g).max(b) - r.min(g).min(b)) / 1000
}

#[cfg(test)]
#[path = "jpeg_fast_tests.rs"]
mod fast_tests;

#[cfg(test)]
#[path = "jpeg_luma_tests.rs"]
mod luma_tests;

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The pixel-by-pixel test the run test stands in front of.
    fn first_colour_slowly(data: &[u8], w: usize) -> Option<Refusal> {
        let i = data.chunks_exact(3).position(|p| (p[1], p[2]) != (128, 128) && spread(p[1], p[2]) > MAX_SPREAD)?;
        Some(Refusal::Colour { x: (i % w) as u32, y: (i / w) as u32 })
    }

    proptest! {
        /// Same first coloured pixel as the per-pixel test, whatever the chroma of a few pixels
        /// (neutral, slightly off, coloured) and wherever they lie.
        #[test]
        fn the_run_test_finds_the_same_first_coloured_pixel(
            rows in 1usize..40,
            off in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), any::<u8>()), 0..6),
        ) {
            let w = 384;
            let mut data: Vec<u8> = (0..w * rows).flat_map(|i| [(i % 251) as u8, 128, 128]).collect();
            for (at, cb, cr) in off {
                let i = at.index(w * rows);
                data[3 * i + 1] = cb;
                data[3 * i + 2] = cr;
            }
            prop_assert_eq!(
                format!("{:?}", first_colour(&data, w)),
                format!("{:?}", first_colour_slowly(&data, w))
            );
        }
    }
}
