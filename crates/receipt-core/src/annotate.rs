//! The verdict as a picture (`ereceipt verify --annotate`, the portal's check page): the
//! receipt in grey under a coloured legend band, with every altered region outlined in red.

mod legend;

use crate::render::canvas::Canvas;
use crate::render::text::{Fonts, RenderError};
use crate::verify::{Verdict, Verification};
use crate::watermark::Region;

/// Narrowest and widest images annotated: receipts are 384 or 576 px wide; a cropped or
/// scaled copy may be somewhat off, but nothing outside this range is legible or a receipt.
const WIDTH_RANGE: std::ops::RangeInclusive<u32> = 128..=2048;
/// Tallest image annotated (a receipt is about 1 600 px): bounds the work per picture.
const MAX_HEIGHT: u32 = 16_384;

/// Palette of the output: 64 greys, the same greys tinted red (inside altered regions),
/// then the few flat colours of the outline and the legend.
const GREYS: u8 = 64;
const TINTED: u8 = GREYS;
pub(crate) const OUTLINE: u8 = 2 * GREYS;
pub(crate) const BAND: u8 = OUTLINE + 1;
pub(crate) const BAND_TEXT: u8 = OUTLINE + 2;
pub(crate) const STRIP: u8 = OUTLINE + 3;
pub(crate) const STRIP_TEXT: u8 = OUTLINE + 4;
const PALETTE_LEN: usize = STRIP_TEXT as usize + 1;

/// The outline colour (a strong red that reads on white paper and on black ink).
pub const OUTLINE_RGB: [u8; 3] = [0xd3, 0x2f, 0x2f];
/// Band colours: green for authentic, red for tampered, slate grey for unverifiable.
pub const AUTHENTIC_RGB: [u8; 3] = [0x2e, 0x7d, 0x32];
pub const TAMPERED_RGB: [u8; 3] = [0xc6, 0x28, 0x28];
pub const UNVERIFIABLE_RGB: [u8; 3] = [0x54, 0x6e, 0x7a];
const WHITE: [u8; 3] = [0xff, 0xff, 0xff];
const STRIP_RGB: [u8; 3] = [0xff, 0xeb, 0xee];
const STRIP_TEXT_RGB: [u8; 3] = [0x21, 0x21, 0x21];

/// Why no picture could be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AnnotateError {
    /// The image is not of a size a receipt (or a slightly cropped copy) can have.
    #[error("a {0}x{1} image is not a receipt picture that can be annotated")]
    Size(u32, u32),
    /// The legend could not be drawn (no font with the needed glyphs).
    #[error(transparent)]
    Render(#[from] RenderError),
    /// The PNG encoder failed.
    #[error("cannot encode the annotated PNG: {0}")]
    Encode(String),
}

/// Draws `receipt` (the decoded image that was verified) with the verdict of `v`: a legend
/// band on top and, for a tampered receipt, its regions outlined. Returns an 8-bit palette
/// PNG. The same inputs always give the same bytes.
pub fn annotate(receipt: &Canvas, v: &Verification, fonts: &Fonts) -> Result<Vec<u8>, AnnotateError> {
    let (w, h) = (receipt.width(), receipt.height());
    if !WIDTH_RANGE.contains(&w) || h == 0 || h > MAX_HEIGHT {
        return Err(AnnotateError::Size(w, h));
    }
    let style = Style::for_width(w);
    // Only a tampered verdict has regions worth showing; the portal clears them when it
    // overrides a verdict, but a caller's stale list must not draw boxes on a green band.
    let regions: &[Region] = if v.verdict == Verdict::Tampered { &v.regions } else { &[] };
    let areas = count_areas(regions, style.stroke);
    let band = legend::draw(w, v.verdict, &v.reason, areas, &style, fonts)?;
    let mut px = Vec::with_capacity(band.len() + (w as usize) * (h as usize));
    px.extend_from_slice(&band);
    px.extend(receipt.pixels().iter().map(|&g| g >> 2));
    outline(&mut px[band.len()..], w, h, regions, style.stroke);
    encode(w, (px.len() / w as usize) as u32, &px, v.verdict)
}

/// Sizes for one image width.
pub(crate) struct Style {
    pub heading: u32,
    pub body: u32,
    pub pad: i64,
    pub stroke: u32,
}

impl Style {
    fn for_width(width: u32) -> Self {
        // The portal shows a 576-px receipt at ~330 CSS px on a phone: sizes are chosen so the
        // legend's body text stays at ~11 CSS px there.
        if width >= 576 {
            Style { heading: 32, body: 21, pad: 14, stroke: 4 }
        } else {
            Style { heading: 24, body: 16, pad: 10, stroke: 3 }
        }
    }
}

/// How many separate outlines the regions make: regions closer than two strokes merge into
/// one outline, so they count as one area, as the eye counts them.
fn count_areas(regions: &[Region], stroke: u32) -> usize {
    let mut parent: Vec<usize> = (0..regions.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let s = u64::from(stroke);
    let near = |a: &Region, b: &Region| {
        let (ax, ay, bx, by) = (u64::from(a.x), u64::from(a.y), u64::from(b.x), u64::from(b.y));
        ax < bx + u64::from(b.w) + 2 * s
            && bx < ax + u64::from(a.w) + 2 * s
            && ay < by + u64::from(b.h) + 2 * s
            && by < ay + u64::from(a.h) + 2 * s
    };
    for i in 0..regions.len() {
        for j in i + 1..regions.len() {
            if near(&regions[i], &regions[j]) {
                let (ri, rj) = (root(&mut parent, i), root(&mut parent, j));
                parent[ri] = rj;
            }
        }
    }
    (0..regions.len()).filter(|&i| root(&mut parent, i) == i).count()
}

/// A rectangle clipped to a `w`×`h` image, as half-open pixel ranges.
fn clip(x: i64, y: i64, rw: i64, rh: i64, w: u32, h: u32) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
    let (w, h) = (i64::from(w), i64::from(h));
    let (x0, x1) = (x.clamp(0, w), (x + rw).clamp(0, w));
    let (y0, y1) = (y.clamp(0, h), (y + rh).clamp(0, h));
    (x0 as usize..x1 as usize, y0 as usize..y1 as usize)
}

/// Outlines the union of `regions` on palette pixels `px` (`w`×`h`): the stroke is what lies
/// within `stroke` px of a region but outside all of them, so shared edges of adjacent blocks
/// vanish and a run of blocks reads as one box; the inside is tinted. Where a region touches
/// the image border the stroke cannot go outside, so it is drawn just inside there.
fn outline(px: &mut [u8], w: u32, h: u32, regions: &[Region], stroke: u32) {
    if regions.is_empty() {
        return;
    }
    let s = i64::from(stroke);
    let rects: Vec<(i64, i64, i64, i64)> =
        regions.iter().map(|r| (i64::from(r.x), i64::from(r.y), i64::from(r.w), i64::from(r.h))).collect();
    let row = w as usize;
    let mut inside = vec![false; px.len()];
    for &(x, y, rw, rh) in &rects {
        let (xs, ys) = clip(x, y, rw, rh, w, h);
        for y in ys {
            inside[y * row + xs.start..y * row + xs.end].fill(true);
            for p in &mut px[y * row + xs.start..y * row + xs.end] {
                if *p < GREYS {
                    *p += TINTED;
                }
            }
        }
    }
    for &(x, y, rw, rh) in &rects {
        let (xs, ys) = clip(x - s, y - s, rw + 2 * s, rh + 2 * s, w, h);
        for y in ys {
            let span = y * row + xs.start..y * row + xs.end;
            for (p, &is_in) in px[span.clone()].iter_mut().zip(&inside[span]) {
                if !is_in {
                    *p = OUTLINE;
                }
            }
        }
    }
    let (iw, ih) = (i64::from(w), i64::from(h));
    for &(x, y, rw, rh) in &rects {
        let frame = [
            (x <= 0).then(|| clip(x, y, s, rh, w, h)),
            (y <= 0).then(|| clip(x, y, rw, s, w, h)),
            (x + rw >= iw).then(|| clip(x + rw - s, y, s, rh, w, h)),
            (y + rh >= ih).then(|| clip(x, y + rh - s, rw, s, w, h)),
        ];
        for (xs, ys) in frame.into_iter().flatten() {
            for y in ys {
                px[y * row + xs.start..y * row + xs.end].fill(OUTLINE);
            }
        }
    }
}

/// The palette, with the band in the verdict's colour.
fn palette(verdict: Verdict) -> Vec<u8> {
    let band = match verdict {
        Verdict::Authentic => AUTHENTIC_RGB,
        Verdict::Tampered => TAMPERED_RGB,
        // Intact but not confirmed: the slate of "cannot say", not the red of tampering.
        Verdict::Unverifiable | Verdict::Unconfirmed => UNVERIFIABLE_RGB,
    };
    let mut p = Vec::with_capacity(PALETTE_LEN * 3);
    let grey = |i: u8| ((u32::from(i) * 255 + 31) / 63) as u8;
    p.extend((0..GREYS).flat_map(|i| [grey(i); 3]));
    // Paper turns pink and ink stays black, so the text inside stays as legible as outside.
    p.extend((0..GREYS).flat_map(|i| {
        let g = u32::from(grey(i));
        [g as u8, (g * 205 / 255) as u8, (g * 210 / 255) as u8]
    }));
    for rgb in [OUTLINE_RGB, band, WHITE, STRIP_RGB, STRIP_TEXT_RGB] {
        p.extend(rgb);
    }
    p
}

fn encode(w: u32, h: u32, px: &[u8], verdict: Verdict) -> Result<Vec<u8>, AnnotateError> {
    let err = |e: png::EncodingError| AnnotateError::Encode(e.to_string());
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(png::ColorType::Indexed);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_palette(palette(verdict));
    // Measured on a 576x1904 picture: unfiltered rows deflate to ~30 KB (Sub: 31 KB, fast
    // deflate: 1.1 MB), as for the receipts themselves.
    enc.set_compression(png::Compression::Balanced);
    enc.set_filter(png::Filter::NoFilter);
    let mut writer = enc.write_header().map_err(err)?;
    writer.write_image_data(px).map_err(err)?;
    writer.finish().map_err(err)?;
    Ok(out)
}

#[cfg(test)]
mod tests;
