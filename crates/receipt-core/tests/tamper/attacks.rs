//! What happens to a receipt image on its way, benign or not: re-encodings (PNG, RGB, JPEG),
//! geometric changes, and pixel edits, plus the helpers that find where the amount, the
//! signature, the QR code and the value lines are drawn.

use ereceipt_core::render::canvas::Canvas;
use ereceipt_core::render::png::{self, TEXT_KEYWORD};
use ereceipt_core::render::slip::QrModules;

/// A pixel rectangle (half-open).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

impl Rect {
    pub fn union(self, o: Rect) -> Rect {
        let (x, y) = (self.x.min(o.x), self.y.min(o.y));
        let (x1, y1) = ((self.x + self.w).max(o.x + o.w), (self.y + self.h).max(o.y + o.h));
        Rect { x, y, w: x1 - x, h: y1 - y }
    }
    /// Grown by `m` pixels on every side, clipped to a `w`×`h` image.
    pub fn grown(self, m: u32, w: u32, h: u32) -> Rect {
        let (x, y) = (self.x.saturating_sub(m), self.y.saturating_sub(m));
        let (x1, y1) = ((self.x + self.w + m).min(w), (self.y + self.h + m).min(h));
        Rect { x, y, w: x1 - x, h: y1 - y }
    }
    fn pixels(self) -> impl Iterator<Item = (u32, u32)> {
        (self.y..self.y + self.h).flat_map(move |y| (self.x..self.x + self.w).map(move |x| (x, y)))
    }
}

fn ink(v: u8) -> bool {
    v < 128
}

fn at(img: &Canvas, x: u32, y: u32) -> u8 {
    img.pixels()[y as usize * img.width() as usize + x as usize]
}

fn put(img: &mut Canvas, x: u32, y: u32, v: u8) {
    let w = img.width() as usize;
    img.pixels_mut()[y as usize * w + x as usize] = v;
}

// ---- Encodings -------------------------------------------------------------------------------

/// How a JPEG is made.
#[derive(Clone, Copy, Debug)]
pub enum Jpeg {
    /// RGB input (r = g = b) with chroma subsampled 4:2:0, as phones and MMS gateways do.
    Rgb420,
    /// RGB input, no chroma subsampling.
    Rgb444,
    /// A single-channel (greyscale) JPEG.
    Grey,
}

pub fn jpeg(img: &Canvas, quality: u8, kind: Jpeg) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = jpeg_encoder::Encoder::new(&mut out, quality);
    let (w, h) = (img.width() as u16, img.height() as u16);
    match kind {
        Jpeg::Grey => enc.encode(img.pixels(), w, h, jpeg_encoder::ColorType::Luma).unwrap(),
        Jpeg::Rgb420 | Jpeg::Rgb444 => {
            enc.set_sampling_factor(if matches!(kind, Jpeg::Rgb420) {
                jpeg_encoder::SamplingFactor::R_4_2_0
            } else {
                jpeg_encoder::SamplingFactor::R_4_4_4
            });
            let rgb: Vec<u8> = img.pixels().iter().flat_map(|&v| [v, v, v]).collect();
            enc.encode(&rgb, w, h, jpeg_encoder::ColorType::Rgb).unwrap();
        }
    }
    out
}

/// An 8-bit RGB PNG (r = g = b), keeping the receipt's text chunk when given, as an editor
/// that saves in colour would.
pub fn rgb_png(img: &Canvas, text: Option<&str>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = ::png::Encoder::new(&mut out, img.width(), img.height());
    enc.set_color(::png::ColorType::Rgb);
    enc.set_depth(::png::BitDepth::Eight);
    if let Some(t) = text {
        enc.add_text_chunk(TEXT_KEYWORD.to_owned(), t.to_owned()).unwrap();
    }
    let rgb: Vec<u8> = img.pixels().iter().flat_map(|&v| [v, v, v]).collect();
    enc.write_header().unwrap().write_image_data(&rgb).unwrap();
    out
}

/// Decodes any image with the `image` crate, converts it to 8-bit grey and saves it as PNG:
/// a generic tool's round trip, which drops the text chunk.
pub fn image_grey_resave(bytes: &[u8]) -> Vec<u8> {
    let grey = image::load_from_memory(bytes).unwrap().to_luma8();
    let mut out = std::io::Cursor::new(Vec::new());
    grey.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// The receipt's own PNG encoding, with or without the text chunk.
pub fn receipt_png(img: &Canvas, text: Option<&str>) -> Vec<u8> {
    png::encode(img, text).unwrap()
}

// ---- Geometry --------------------------------------------------------------------------------

pub fn crop(img: &Canvas, r: Rect) -> Canvas {
    let px = r.pixels().map(|(x, y)| at(img, x, y)).collect();
    Canvas::from_pixels(r.w, r.h, px).unwrap()
}

pub fn resize_nearest(img: &Canvas, w: u32, h: u32) -> Canvas {
    let px = (0..h)
        .flat_map(|y| (0..w).map(move |x| (x, y)))
        .map(|(x, y)| at(img, x * img.width() / w, y * img.height() / h))
        .collect();
    Canvas::from_pixels(w, h, px).unwrap()
}

/// Resized with the `image` crate's bilinear (triangle) filter, as most tools do.
pub fn resize_smooth(img: &Canvas, w: u32, h: u32) -> Canvas {
    let src = image::GrayImage::from_raw(img.width(), img.height(), img.pixels().to_vec()).unwrap();
    let out = image::imageops::resize(&src, w, h, image::imageops::FilterType::Triangle);
    Canvas::from_pixels(w, h, out.into_raw()).unwrap()
}

// ---- Locating content ------------------------------------------------------------------------

/// The bounding box of the topmost cluster of pixels whose binarised value differs between two
/// renderings of the same layout: rows with differences, until a gap of more than 24 rows.
pub fn top_cluster(a: &Canvas, b: &Canvas) -> Rect {
    assert_eq!((a.width(), a.height()), (b.width(), b.height()), "renderings differ in size");
    let w = a.width() as usize;
    let diff_row = |y: usize| -> Option<(u32, u32)> {
        let (ra, rb) = (&a.pixels()[y * w..][..w], &b.pixels()[y * w..][..w]);
        let xs: Vec<u32> = (0..w).filter(|&x| ink(ra[x]) != ink(rb[x])).map(|x| x as u32).collect();
        Some((*xs.first()?, *xs.last()?))
    };
    let mut found: Option<Rect> = None;
    let mut last = 0usize;
    for y in 0..a.height() as usize {
        if let Some(prev) = found {
            if y > last + 24 {
                return prev;
            }
        }
        if let Some((x0, x1)) = diff_row(y) {
            let row = Rect { x: x0, y: y as u32, w: x1 - x0 + 1, h: 1 };
            found = Some(found.map_or(row, |f| f.union(row)));
            last = y;
        }
    }
    found.expect("the two renderings do not differ")
}

/// Where the QR symbol (without quiet zone) is drawn: the slip centres it horizontally with
/// modules of 3 px (or 2 px when it does not fit, or on narrow paper); its row is found by
/// matching the module matrix.
pub fn locate_qr(img: &Canvas, qr: &QrModules) -> Rect {
    let n = qr.size as u32;
    [3, 2, 1]
        .into_iter()
        .filter(|m| (n + 8) * m <= img.width())
        .find_map(|m| {
            let x0 = (img.width() - (n + 8) * m) / 2 + 4 * m;
            let matches = |y0: u32| {
                (0..n).all(|r| {
                    (0..n).all(|c| {
                        let v = at(img, x0 + c * m + m / 2, y0 + r * m + m / 2);
                        ink(v) == qr.dark[(r * n + c) as usize]
                    })
                })
            };
            let y0 = (0..img.height().saturating_sub(n * m)).rev().find(|&y| matches(y))?;
            Some(Rect { x: x0, y: y0, w: n * m, h: n * m })
        })
        .expect("QR symbol not found")
}

/// The right edge of right-aligned values: one past the rightmost ink column above `limit_y`.
pub fn right_edge(img: &Canvas, limit_y: u32) -> u32 {
    let w = img.width() as usize;
    img.pixels()[..limit_y as usize * w]
        .chunks(w)
        .filter_map(|row| row.iter().rposition(|&v| ink(v)))
        .max()
        .map_or(img.width(), |x| x as u32 + 1)
}

/// Text lines of right-aligned values: row bands with ink near the right margin, 12–28 px
/// tall, above `limit_y` (the amount).
pub fn value_lines(img: &Canvas, right: u32, limit_y: u32) -> Vec<Rect> {
    let x0 = right - 48;
    let has_ink = |y: u32| (x0..right).any(|x| ink(at(img, x, y)));
    let mut bands = Vec::new();
    let mut start: Option<u32> = None;
    for y in 0..limit_y {
        match (has_ink(y), start) {
            (true, None) => start = Some(y),
            (false, Some(s)) => {
                bands.push(Rect { x: x0, y: s, w: 48, h: y - s });
                start = None;
            }
            _ => {}
        }
    }
    bands.into_iter().filter(|b| (12..=28).contains(&b.h)).collect()
}

// ---- Edits -----------------------------------------------------------------------------------

/// Pastes `src`'s pixels of `r` onto `dst` at the same position.
pub fn paste_same_place(dst: &mut Canvas, src: &Canvas, r: Rect) {
    paste(dst, src, r, r.x, r.y);
}

/// Pastes `src`'s pixels of `r` onto `dst` with the top-left corner at (x, y).
pub fn paste(dst: &mut Canvas, src: &Canvas, r: Rect, x: u32, y: u32) {
    for (sx, sy) in r.pixels() {
        put(dst, x + sx - r.x, y + sy - r.y, at(src, sx, sy));
    }
}

/// Sets the ink pixels inside `r` to `v` (grey over the strokes, or paper to erase them).
pub fn recolour_ink(img: &mut Canvas, r: Rect, v: u8) {
    for (x, y) in r.pixels() {
        if ink(at(img, x, y)) {
            put(img, x, y, v);
        }
    }
}

/// Redraws `dst`'s strokes inside `r` as `src`'s: pixels whose binarised value differs become
/// pure ink or pure paper, the rest (and so most of the carrier) is left alone.
pub fn redraw_strokes(dst: &mut Canvas, src: &Canvas, r: Rect) {
    for (x, y) in r.pixels() {
        let s = at(src, x, y);
        if ink(s) != ink(at(dst, x, y)) {
            put(dst, x, y, if ink(s) { 0 } else { 255 });
        }
    }
}

pub fn fill(img: &mut Canvas, r: Rect, v: u8) {
    img.fill_rect(i64::from(r.x), i64::from(r.y), i64::from(r.w), i64::from(r.h), v);
}

/// Keeps `img`'s binarised content but takes `donor`'s grey levels wherever both are paper:
/// the donor's watermark carrier, transplanted.
pub fn transplant_carrier(img: &Canvas, donor: &Canvas) -> Canvas {
    let mut out = img.clone();
    for (i, v) in out.pixels_mut().iter_mut().enumerate() {
        if let Some(&d) = donor.pixels().get(i) {
            if !ink(*v) && !ink(d) {
                *v = d;
            }
        }
    }
    out
}

/// Every paper pixel set to pure white: the carrier wiped, the content untouched.
pub fn wipe_carrier(img: &Canvas) -> Canvas {
    let px = img.pixels().iter().map(|&v| if ink(v) { v } else { 255 }).collect();
    Canvas::from_pixels(img.width(), img.height(), px).unwrap()
}
