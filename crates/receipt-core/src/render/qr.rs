//! QR codes on the slip: making the module matrix for the signed payload, and finding and
//! reading it back from a (possibly recompressed) receipt image.

mod decode;
mod fallback;
mod locate;
mod mask;
mod placement;

use qrcode::{Color, EcLevel, QrCode, Version};

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
    /// Where the code belongs, the image has more finder-like patterns than a receipt's code:
    /// not searched, since searching them would take long.
    #[error("{0} finder-like patterns where the QR code belongs, more than a receipt has: not searched")]
    Crowded(usize),
    /// A QR code was found but does not decode.
    #[error("the QR code in the image cannot be decoded: {0}")]
    Unreadable(String),
}

/// The module matrix for `text` at error-correction level M (15% damage tolerated): exactly
/// the code `QrCode::with_error_correction_level` makes, with its mask chosen by
/// [`mask::best`] instead of the crate's much slower penalty scoring.
pub fn modules(text: &str) -> Result<QrModules, QrError> {
    let too_long = |_| QrError::TooLong(text.len());
    let bits = qrcode::bits::encode_auto(text.as_bytes(), EcLevel::M).map_err(too_long)?;
    let version = bits.version();
    if let Version::Micro(_) = version {
        // Micro QR (a few dozen characters at most, never a receipt) keeps the crate's path.
        let code = QrCode::with_bits(bits, EcLevel::M).map_err(too_long)?;
        let dark = code.to_colors().into_iter().map(|c| c == Color::Dark).collect();
        return Ok(QrModules { size: code.width(), dark });
    }
    let (data, ec) = qrcode::ec::construct_codewords(&bits.into_bytes(), version, EcLevel::M).map_err(too_long)?;
    let mut canvas = qrcode::canvas::Canvas::new(version, EcLevel::M);
    canvas.draw_all_functional_patterns();
    canvas.draw_data(&data, &ec);
    let dark = mask::best(&canvas, version.width().unsigned_abs().into());
    Ok(QrModules { size: version.width().unsigned_abs().into(), dark })
}

/// Reads the slip's QR code from a greyscale image. The symbol is located from the layout
/// ([`locate`]: upright, centred, at the bottom) and its modules sampled; only when that finds
/// nothing readable does a bounded rqrr search run on the bottom rows ([`fallback`]). Either
/// way the work is bounded whatever the pixels: the rest of the image is never searched.
pub fn read(img: &Canvas) -> Result<String, QrError> {
    let mut last = None;
    for symbol in locate::symbols(img) {
        match decode::decode(&locate::sample(img, symbol)) {
            Ok(content) => return Ok(content),
            Err(e) => last = Some(e),
        }
    }
    match (fallback::read(img), last) {
        (Ok(text), _) => Ok(text),
        // A symbol where the layout puts it that does not decode says more than the search.
        (Err(_), Some(e)) => Err(e),
        (Err(e), None) => Err(e),
    }
}

#[cfg(test)]
mod tests;
