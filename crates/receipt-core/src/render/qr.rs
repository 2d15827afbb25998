//! QR codes on the slip: making the module matrix for the signed payload, and finding and
//! reading it back from a (possibly recompressed) receipt image.

use qrcode::{Color, EcLevel, QrCode};

use super::canvas::Canvas;
use super::slip::QrModules;

/// Why the QR code cannot be made or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QrError {
    /// The payload does not fit any QR version.
    #[error("QR payload of {0} characters is too long for a QR code")]
    TooLong(usize),
    /// No QR code was found in the image.
    #[error("no QR code found in the image")]
    NotFound,
    /// A QR code was found but does not decode.
    #[error("the QR code in the image cannot be decoded: {0}")]
    Unreadable(String),
}

/// The module matrix for `text` at error-correction level M (15% damage tolerated).
pub fn modules(text: &str) -> Result<QrModules, QrError> {
    let code =
        QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M).map_err(|_| QrError::TooLong(text.len()))?;
    let dark = code.to_colors().into_iter().map(|c| c == Color::Dark).collect();
    Ok(QrModules { size: code.width(), dark })
}

/// Finds and decodes the QR codes in a greyscale image; returns the first readable payload.
/// The slip puts its code at the bottom, so the bottom square of the image is searched first
/// (about four times faster than the whole receipt); the whole image only if that fails.
pub fn read(img: &Canvas) -> Result<String, QrError> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let window = (w + w / 4).min(h);
    match read_rows(img, h - window, h) {
        Ok(text) => Ok(text),
        Err(_) if window < h => read_rows(img, 0, h),
        Err(e) => Err(e),
    }
}

fn read_rows(img: &Canvas, y0: usize, y1: usize) -> Result<String, QrError> {
    let w = img.width() as usize;
    let px = img.pixels();
    // Binarise first: JPEG noise around modules then cannot confuse the detector.
    let mut prepared =
        rqrr::PreparedImage::prepare_from_greyscale(
            w,
            y1 - y0,
            |x, y| {
                if px[(y0 + y) * w + x] < 128 {
                    0
                } else {
                    255
                }
            },
        );
    let grids = prepared.detect_grids();
    if grids.is_empty() {
        return Err(QrError::NotFound);
    }
    let mut last = String::new();
    for g in grids {
        match g.decode() {
            Ok((_, content)) => return Ok(content),
            Err(e) => last = e.to_string(),
        }
    }
    Err(QrError::Unreadable(last))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::canvas::INK;

    fn draw(m: &QrModules, scale: i64, top: i64) -> Canvas {
        let mut c = Canvas::new(576, 1408);
        for (i, &d) in m.dark.iter().enumerate() {
            if d {
                let (x, y) = ((i % m.size) as i64, (i / m.size) as i64);
                c.fill_rect(60 + x * scale, top + y * scale, scale, scale, INK);
            }
        }
        c
    }

    #[test]
    fn reads_back_what_it_made_at_the_bottom_or_elsewhere() {
        let text = "ER1:HELLO WORLD 1234567890 $%*+-./:";
        let m = modules(text).unwrap();
        assert_eq!(read(&draw(&m, 3, 1100)).unwrap(), text);
        assert_eq!(read(&draw(&m, 3, 40)).unwrap(), text, "found by the full scan");
    }

    #[test]
    fn a_blank_image_has_no_code() {
        assert!(matches!(read(&Canvas::new(384, 640)), Err(QrError::NotFound)));
    }
}
