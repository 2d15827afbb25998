//! QR codes on the slip: making the module matrix for the signed payload, and finding and
//! reading it back from a (possibly recompressed) receipt image.

mod mask;

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

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// Same modules as the crate's own mask choice, for payloads of every size and kind.
        #[test]
        fn modules_are_the_crates(len in 1usize..1600, seed in proptest::prelude::any::<u64>(), alphabet in 0u8..3) {
            let mut st = seed;
            let text: String = (0..len)
                .map(|_| {
                    st = st.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    let r = (st >> 33) as usize;
                    match alphabet {
                        0 => char::from(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"[r % 45]),
                        1 => char::from(b"0123456789"[r % 10]),
                        _ => char::from(32 + (r % 95) as u8),
                    }
                })
                .collect();
            let ours = modules(&text);
            match QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M) {
                Ok(code) => {
                    let ours = ours.unwrap();
                    proptest::prop_assert_eq!(ours.size, code.width());
                    let dark: Vec<bool> = code.to_colors().into_iter().map(|c| c == Color::Dark).collect();
                    proptest::prop_assert!(ours.dark == dark);
                }
                Err(_) => proptest::prop_assert!(matches!(ours, Err(QrError::TooLong(_)))),
            }
        }
    }

    #[test]
    fn a_blank_image_has_no_code() {
        assert!(matches!(read(&Canvas::new(384, 640)), Err(QrError::NotFound)));
    }
}
