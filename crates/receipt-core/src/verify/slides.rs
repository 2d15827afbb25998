//! Verifying a receipt that arrived as slides (an MMS cut by [`crate::render::slides`]): the
//! decoded slides are stacked top to bottom and verified as one image, each slide's pixels held
//! to the tolerance of its own file (a lossless slide stays exact beside a recompressed one).

use super::{decoded_claims, judge_time, refused, verify_signed, TimeFacts, Verification};
use crate::render::canvas::Canvas;
use crate::render::decode::{self, Decoded, ImageKind, Inspected, MAX_HEIGHT};
use crate::watermark::{self, banded_threshold, Band, Tolerance};

/// Verifies the slides of one receipt, top to bottom, with the signer judged at the time the
/// receipt claims. One slide is an ordinary image ([`super::verify_image`]).
pub fn verify_slides(slides: &[&[u8]], trust_anchor: &[u8]) -> Verification {
    verify_slides_with(slides, trust_anchor, &TimeFacts::default())
}

/// [`verify_slides`] with the signer judged at the time `facts` establish.
pub fn verify_slides_with(slides: &[&[u8]], trust_anchor: &[u8], facts: &TimeFacts<'_>) -> Verification {
    let mut v = examine_slides(slides, trust_anchor);
    judge_time(&mut v, facts);
    v
}

/// [`super::examine_image`] of slides: the verdict before the signer's time is judged.
pub fn examine_slides(slides: &[&[u8]], trust_anchor: &[u8]) -> Verification {
    match slides {
        [] => Verification::unverifiable("no slides to verify"),
        [one] => super::examine_image(one, trust_anchor),
        _ => match stack(slides) {
            Ok(stacked) => examine_stacked(stacked, trust_anchor),
            Err(reason) => Verification::unverifiable(reason),
        },
    }
}

/// The slides read and stacked, or why they cannot be.
struct Stacked {
    canvas: Canvas,
    payload: Option<String>,
    bands: Vec<Band>,
    /// The first slide the policy refuses (numbered from 1) and why.
    refusal: Option<(usize, decode::Refusal)>,
    any_jpeg: bool,
}

fn stack(slides: &[&[u8]]) -> Result<Stacked, String> {
    let mut pixels = Vec::new();
    let (mut width, mut height) = (None, 0u32);
    let (mut payload, mut refusal, mut any_jpeg) = (None, None, false);
    let mut bands = Vec::with_capacity(slides.len());
    for (i, bytes) in slides.iter().enumerate() {
        let n = i + 1;
        // Each slide is receipt-shaped (a receipt width, whole 64-px blocks): the strict reader.
        let mut inspected = decode::inspect(bytes).map_err(|e| format!("slide {n}: unreadable file: {e}"))?;
        if let Some(r) = inspected.refusal.take() {
            refusal.get_or_insert((n, r));
        }
        let Inspected { kind, payload: text, canvas, luma_table, .. } = inspected;
        let canvas = canvas.ok_or_else(|| format!("slide {n}: unreadable file: no pixels"))?;
        let w = *width.get_or_insert(canvas.width());
        if canvas.width() != w {
            return Err(format!(
                "slide {n} is {} px wide, slide 1 is {w} px: they are not one receipt",
                canvas.width()
            ));
        }
        height += canvas.height();
        if height > MAX_HEIGHT {
            return Err(format!("slides {height} px high together, more than a receipt's {MAX_HEIGHT}"));
        }
        any_jpeg |= kind == ImageKind::Jpeg;
        let decoded = Decoded { kind, canvas, payload: None, luma_table };
        bands.push(Band { rows: decoded.canvas.height(), tolerance: Tolerance::for_image(&decoded) });
        if payload.is_none() {
            payload = text;
        }
        pixels.extend_from_slice(decoded.canvas.pixels());
    }
    let width = width.unwrap_or_default();
    let canvas = Canvas::from_pixels(width, height, pixels).ok_or("slides do not make one image")?;
    Ok(Stacked { canvas, payload, bands, refusal, any_jpeg })
}

fn examine_stacked(s: Stacked, trust_anchor: &[u8]) -> Verification {
    let kind = if s.any_jpeg { ImageKind::Jpeg } else { ImageKind::Png };
    if let Some((n, refusal)) = s.refusal {
        let inspected = Inspected { kind, payload: s.payload, canvas: Some(s.canvas), luma_table: None, refusal: None };
        let mut v = refused(&inspected, &refusal, trust_anchor);
        v.reason = format!("slide {n}: {}", v.reason);
        return v;
    }
    let decoded = Decoded { kind, canvas: s.canvas, payload: s.payload, luma_table: None };
    let signed = match decoded_claims(&decoded) {
        Ok(signed) => signed,
        Err((verdict, reason)) => return Verification { verdict, ..Verification::unverifiable(reason) },
    };
    let img = &decoded.canvas;
    verify_signed(&signed, trust_anchor, banded_threshold(&s.bands), |hash, cert| {
        watermark::extract_banded(img, hash, cert, &s.bands)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::{png, slides};
    use crate::verify::Verdict;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

    fn golden() -> (Vec<u8>, Vec<u8>) {
        let png = std::fs::read(format!("{FIXTURES}/golden-576.png")).unwrap();
        let ca = std::fs::read_to_string(format!("{FIXTURES}/ca.pem")).unwrap();
        (png, crate::identity::pem_decode(&ca, "CERTIFICATE").unwrap())
    }

    fn jpeg(c: &Canvas, quality: u8) -> Vec<u8> {
        let mut out = Vec::new();
        let mut enc = jpeg_encoder::Encoder::new(&mut out, quality);
        enc.set_sampling_factor(jpeg_encoder::SamplingFactor::R_4_2_0);
        let rgb: Vec<u8> = c.pixels().iter().flat_map(|&v| [v, v, v]).collect();
        enc.encode(&rgb, c.width() as u16, c.height() as u16, jpeg_encoder::ColorType::Rgb).unwrap();
        out
    }

    fn check(slides: &[Vec<u8>], anchor: &[u8]) -> Verification {
        verify_slides(&slides.iter().map(Vec::as_slice).collect::<Vec<_>>(), anchor)
    }

    /// The golden receipt's slides as canvases.
    fn canvases() -> Vec<Canvas> {
        slides::cut_canvas(&png::decode(&golden().0).unwrap().canvas)
    }

    #[test]
    fn the_slides_of_a_receipt_verify_as_the_receipt() {
        let (whole, anchor) = golden();
        let cut = slides::cut(&whole).unwrap();
        assert!(cut.len() > 1);
        let v = check(&cut, &anchor);
        assert_eq!(v.verdict, Verdict::Authentic, "{}", v.reason);
        assert_eq!((v.feature, v.threshold), (0, 0));
        assert_eq!(v.receipt.unwrap().id, verify_slides(&[&whole], &anchor).receipt.unwrap().id);
        // Out of order, the pixels are not what was signed.
        let mut swapped = cut.clone();
        swapped.swap(0, 1);
        assert_ne!(check(&swapped, &anchor).verdict, Verdict::Authentic);
        // A slide missing: the rest is not the receipt.
        assert_ne!(check(&cut[..cut.len() - 1], &anchor).verdict, Verdict::Authentic);
    }

    #[test]
    fn recompressed_slides_verify_with_their_own_tables() {
        let anchor = golden().1;
        let c = canvases();
        // Every slide through JPEG at its own quality, and a mix with a lossless slide.
        let mixed: Vec<Vec<u8>> = c.iter().enumerate().map(|(i, s)| jpeg(s, [95, 80, 90, 75][i % 4])).collect();
        let v = check(&mixed, &anchor);
        assert_eq!(v.verdict, Verdict::Authentic, "{}", v.reason);
        assert_eq!(v.threshold, 100);
        let mut one_png = mixed.clone();
        one_png[0] = png::encode(&c[0], None).unwrap();
        let v = check(&one_png, &anchor);
        assert_eq!(v.verdict, Verdict::Authentic, "{}", v.reason);
    }

    #[test]
    fn a_lossless_slide_stays_exact_beside_a_jpeg_one() {
        let anchor = golden().1;
        let mut c = canvases();
        // Two levels off on blank paper: within what a flat JPEG block may show (4), so a JPEG
        // of the edited slide would pass; a PNG claims to be exact, and this one is not.
        let (x, y) = (8..c[0].width() as i64 - 8)
            .flat_map(|x| (8..200).map(move |y| (x, y)))
            .find(|&(x, y)| c[0].get(x, y) == Some(255))
            .unwrap();
        c[0].set(x, y, 253);
        let mut slides: Vec<Vec<u8>> = c.iter().map(|s| jpeg(s, 90)).collect();
        slides[0] = png::encode(&c[0], None).unwrap();
        let v = check(&slides, &anchor);
        assert_eq!(v.verdict, Verdict::Tampered, "{}", v.reason);
        assert_eq!(v.regions.len(), 1);
        assert!(v.regions[0].y < 448);
    }

    #[test]
    fn slides_of_other_widths_or_sizes_are_named() {
        let anchor = golden().1;
        let mut slides: Vec<Vec<u8>> = canvases().iter().map(|s| png::encode(s, None).unwrap()).collect();
        slides[1] = png::encode(&Canvas::new(384, 448), None).unwrap();
        let v = check(&slides, &anchor);
        assert_eq!(v.verdict, Verdict::Unverifiable);
        assert!(v.reason.contains("slide 2 is 384 px wide, slide 1 is 576"), "{}", v.reason);
        slides[1] = png::encode(&Canvas::new(576, 440), None).unwrap();
        let v = check(&slides, &anchor);
        assert!(v.reason.starts_with("slide 2: unreadable file") && v.reason.contains("440"), "{}", v.reason);
        assert_eq!(check(&[], &anchor).verdict, Verdict::Unverifiable);
    }
}
