//! Reading receipt images the way a verifier must: the container (PNG chunks, JPEG markers) is
//! walked first, bounded, and judged against what an authentic file may contain; only then are
//! the pixels decoded, to grey, with what the policy refuses named rather than smoothed over.
//!
//! [`inspect`] is the verifier's entry point (receipt sizes only, every refusal reported);
//! [`decode`] is the lenient reader for images the platform already trusts (its stored PNGs).

mod exif;
mod jpeg;
mod jpeg_chroma;
mod jpeg_huffman;
mod jpeg_idct;
mod jpeg_luma;
#[cfg(test)]
mod jpeg_tests;
mod jpeg_walk;
mod png;
mod png_file;
mod png_pixels;
mod png_scan;
mod refusal;
mod sniff;
#[cfg(test)]
mod tests;

pub use png_scan::LosslessScan;
pub(crate) use png_scan::UnitLevels;
pub use refusal::Refusal;

use super::canvas::Canvas;

/// Receipt widths in pixels: 80 mm and 58 mm thermal paper at 203 dpi.
pub const RECEIPT_WIDTHS: [u32; 2] = [576, 384];
/// Receipt heights are whole 64-px localisation blocks.
pub const HEIGHT_STEP: u32 = 64;
/// The tallest image [`inspect`] accepts: the longest slip the terminal renders (a refund with
/// every optional field and a long bilingual merchant line stays under 2 400 px) with a wide
/// margin, so that memory and CPU per verification stay bounded.
pub const MAX_HEIGHT: u32 = 4096;
/// [`decode`] refuses images with more pixels than this (about 20 times a receipt).
pub const MAX_PIXELS: u64 = 16_000_000;

/// Why image bytes cannot be read at all (a verdict of unverifiable whatever they claim).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
    /// Neither PNG nor JPEG nor a format we recognise.
    #[error("not a PNG or JPEG image")]
    Format,
    /// A format we recognise but do not verify.
    #[error("{article} {0} file; only PNG and JPEG receipts can be verified", article = article(.0))]
    Unsupported(&'static str),
    /// The PNG is corrupt or truncated.
    #[error("corrupt or truncated PNG: {0}")]
    Png(String),
    /// The JPEG is corrupt or truncated.
    #[error("corrupt or truncated JPEG: {0}")]
    Jpeg(String),
    /// Too many pixels to be a receipt.
    #[error("image of {0}x{1} pixels is too large to be a receipt")]
    TooLarge(u32, u32),
    /// The header's width is not a receipt's.
    #[error("image is {0} px wide, not a receipt width (576 or 384): it was cropped or resized")]
    Width(u32),
    /// The header's height is not a receipt's.
    #[error(
        "image height {0} px is not a positive multiple of {HEIGHT_STEP} up to {MAX_HEIGHT}: it was cropped, \
         resized or padded"
    )]
    Height(u32),
    /// Encoding failed.
    #[error("cannot encode PNG: {0}")]
    Encode(String),
}

fn article(name: &str) -> &'static str {
    if name.starts_with(['A', 'E', 'I', 'O', 'S']) {
        "an"
    } else {
        "a"
    }
}

/// The container an image came in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageKind {
    Png,
    Jpeg,
}

/// A decoded image: greyscale pixels plus the ereceipt text chunk if the file kept it.
#[derive(Debug)]
pub struct Decoded {
    pub kind: ImageKind,
    pub canvas: Canvas,
    pub payload: Option<String>,
    /// JPEG only: the file's luma quantisation table (natural order), which bounds the noise
    /// its compression can have added.
    pub luma_table: Option<[u16; 64]>,
}

/// What [`inspect`] learns of a file: the first property the policy refuses (if any), and the
/// pixels and text payload as far as they could be read, so that a refused file that still
/// carries valid signed data can be called tampered rather than merely unreadable.
#[derive(Debug)]
pub struct Inspected {
    pub kind: ImageKind,
    pub payload: Option<String>,
    /// The pixels as a plain decoder reads them (colour as luma, alpha over white); `None` when
    /// a refused file could not be decoded at all.
    pub canvas: Option<Canvas>,
    pub luma_table: Option<[u16; 64]>,
    pub refusal: Option<Refusal>,
}

impl Inspected {
    /// The decoded image, whatever was refused; an error if the pixels could not be read.
    pub fn into_decoded(self) -> Result<Decoded, ImageError> {
        let Self { kind, payload, canvas, luma_table, refusal } = self;
        match canvas {
            Some(canvas) => Ok(Decoded { kind, canvas, payload, luma_table }),
            None => Err(match (kind, refusal) {
                (ImageKind::Png, r) => ImageError::Png(r.map_or_else(|| "no pixels".into(), |r| r.to_string())),
                (ImageKind::Jpeg, r) => ImageError::Jpeg(r.map_or_else(|| "no pixels".into(), |r| r.to_string())),
            }),
        }
    }
}

/// Which sizes a reader accepts, checked from the header before any pixel is decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Limits {
    /// Receipt sizes only: 576 or 384 wide, a multiple of 64 high up to [`MAX_HEIGHT`].
    Receipt,
    /// Any size up to [`MAX_PIXELS`].
    Any,
}

impl Limits {
    fn check(self, width: u32, height: u32) -> Result<(), ImageError> {
        match self {
            Self::Receipt if !RECEIPT_WIDTHS.contains(&width) => Err(ImageError::Width(width)),
            Self::Receipt if height == 0 || !height.is_multiple_of(HEIGHT_STEP) || height > MAX_HEIGHT => {
                Err(ImageError::Height(height))
            }
            Self::Any if width == 0 || height == 0 || u64::from(width) * u64::from(height) > MAX_PIXELS => {
                Err(ImageError::TooLarge(width, height))
            }
            _ => Ok(()),
        }
    }
}

/// Reads a receipt image as the verifier must: receipt sizes only, and every structure or
/// pixel property the policy does not allow reported in [`Inspected::refusal`].
pub fn inspect(bytes: &[u8]) -> Result<Inspected, ImageError> {
    read(bytes, Limits::Receipt)
}

/// Decodes PNG or JPEG bytes to greyscale (colour as BT.601 luma, alpha composited over white),
/// ignoring what the verifier would refuse: for images that are already trusted.
pub fn decode(bytes: &[u8]) -> Result<Decoded, ImageError> {
    read(bytes, Limits::Any)?.into_decoded()
}

/// A clean lossless receipt file as [`scan_lossless`] reads it.
#[derive(Debug)]
pub struct Scanned {
    /// The text payload (the signed QR data, unless someone replaced it).
    pub payload: String,
    pub scan: LosslessScan,
}

/// The verifier's reading of its common file, a PNG receipt of palette or grey levels (1 or
/// 2 bits, not interlaced) that the policy accepts whole and that carries a text payload:
/// straight into what the watermark check needs, without building the canvas. `None` for every
/// other file, among them all that [`inspect`] refuses or cannot read: the caller then takes
/// [`inspect`]'s way, which says why.
pub fn scan_lossless(bytes: &[u8]) -> Option<Scanned> {
    match sniff::format(bytes) {
        sniff::Format::Png => png::scan(bytes),
        _ => None,
    }
}

fn read(bytes: &[u8], limits: Limits) -> Result<Inspected, ImageError> {
    match sniff::format(bytes) {
        sniff::Format::Png => png::read(bytes, limits),
        sniff::Format::Jpeg => jpeg::read(bytes, limits),
        sniff::Format::Other(name) => Err(ImageError::Unsupported(name)),
        sniff::Format::Unknown => Err(ImageError::Format),
    }
}

/// BT.601 luma of an RGB colour, as grey-converting viewers and tools compute it.
fn luma(r: u8, g: u8, b: u8) -> u8 {
    ((299 * u32::from(r) + 587 * u32::from(g) + 114 * u32::from(b) + 500) / 1000) as u8
}

/// A grey level composited over white by its alpha.
fn over_white(v: u8, a: u8) -> u8 {
    ((u32::from(v) * u32::from(a) + 255 * (255 - u32::from(a)) + 127) / 255) as u8
}

/// Inflates a zlib stream to at most `limit` bytes; `None` if it is corrupt or longer.
fn inflate_bounded(data: &[u8], limit: usize) -> Option<Vec<u8>> {
    let mut z = flate2::Decompress::new(true);
    let mut out = vec![0u8; limit + 1];
    match z.decompress(data, &mut out, flate2::FlushDecompress::Finish) {
        Ok(flate2::Status::StreamEnd) if z.total_out() as usize <= limit => {
            out.truncate(z.total_out() as usize);
            Some(out)
        }
        _ => None,
    }
}

/// libjpeg's luma table at `quality`, for tests elsewhere in the crate.
#[cfg(test)]
pub(crate) fn jpeg_tables_for_tests(quality: u32) -> [u16; 64] {
    jpeg_walk::scaled(true, quality)
}
