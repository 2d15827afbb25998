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
pub fn read(img: &Canvas) -> Result<String, QrError> {
    let w = img.width() as usize;
    let px = img.pixels();
    // Binarise first: JPEG noise around modules then cannot confuse the detector.
    let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(w, img.height() as usize, |x, y| {
        if px[y * w + x] < 128 {
            0
        } else {
            255
        }
    });
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
