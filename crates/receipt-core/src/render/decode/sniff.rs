//! Which format a file is, from its magic bytes alone (never its name or a declared type), so
//! that a format we do not check is named in the verdict rather than half-read.

/// What the first bytes say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Format {
    Png,
    Jpeg,
    /// A format we recognise and do not verify, by its common name.
    Other(&'static str),
    Unknown,
}

pub(super) fn format(bytes: &[u8]) -> Format {
    let at = |i: usize, magic: &[u8]| bytes.get(i..i + magic.len()) == Some(magic);
    if at(0, b"\x89PNG\r\n\x1a\n") {
        Format::Png
    } else if at(0, &[0xff, 0xd8, 0xff]) {
        Format::Jpeg
    } else if at(0, b"RIFF") && at(8, b"WEBP") {
        Format::Other("WebP")
    } else if at(0, b"GIF87a") || at(0, b"GIF89a") {
        Format::Other("GIF")
    } else if at(4, b"ftyp") {
        iso_media(bytes)
    } else if at(0, b"II*\0") || at(0, b"MM\0*") {
        Format::Other("TIFF")
    } else if at(0, b"BM") {
        Format::Other("BMP")
    } else if at(0, b"%PDF-") {
        Format::Other("PDF")
    } else if is_svg(bytes) {
        Format::Other("SVG")
    } else {
        Format::Unknown
    }
}

/// HEIF and AVIF share the ISO base media file format: the major and compatible brands tell.
fn iso_media(bytes: &[u8]) -> Format {
    let size = bytes.get(0..4).map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize);
    let brands = bytes.get(8..size.clamp(12, 64).min(bytes.len())).unwrap_or(&[]);
    let has = |b: &[u8]| brands.chunks(4).any(|c| c == b);
    if has(b"avif") || has(b"avis") {
        Format::Other("AVIF")
    } else if has(b"heic") || has(b"heix") || has(b"hevc") || has(b"heim") || has(b"heis") || has(b"mif1") {
        Format::Other("HEIC")
    } else {
        Format::Unknown
    }
}

/// An XML or SVG text whose first element is `svg` (after a BOM, blanks, a declaration,
/// comments or a doctype).
fn is_svg(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(4096)];
    let text = String::from_utf8_lossy(head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head));
    let t = text.trim_start();
    (t.starts_with("<?xml") || t.starts_with("<svg") || t.starts_with("<!--") || t.starts_with("<!DOCTYPE"))
        && t.contains("<svg")
}
