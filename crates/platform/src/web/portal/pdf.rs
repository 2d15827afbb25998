//! The receipt as a one-page PDF for customers who file or print (the PNG stays the signed
//! original: only the PNG verifies). The page is the slip's size on 80 mm paper, 8 px per mm.

use std::io::Write;

use ereceipt_core::render::png::{decode, ImageError};
use flate2::write::ZlibEncoder;
use pdf_writer::{Content, Filter, Finish, Name, Pdf, Rect, Ref, TextStr};

/// Points per pixel: thermal slips print 8 dots per mm, and a point is 25.4/72 mm.
const PT_PER_PX: f32 = 72.0 / 25.4 / 8.0;

/// Why a PDF could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PdfError {
    /// The stored image does not decode.
    #[error("the receipt image does not decode: {0}")]
    Image(#[source] ImageError),
    /// Compressing the pixels failed.
    #[error("compressing the image failed: {0}")]
    Compress(#[source] std::io::Error),
}

/// A PDF of one page showing the receipt image at print size, titled `title`.
pub(crate) fn receipt_pdf(png: &[u8], title: &str) -> Result<Vec<u8>, PdfError> {
    let decoded = decode(png).map_err(PdfError::Image)?;
    let canvas = decoded.canvas;
    let (w, h) = (canvas.width(), canvas.height());
    let mut z = ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(canvas.pixels()).map_err(PdfError::Compress)?;
    let samples = z.finish().map_err(PdfError::Compress)?;

    let (catalog, pages, page, image, content, info) =
        (Ref::new(1), Ref::new(2), Ref::new(3), Ref::new(4), Ref::new(5), Ref::new(6));
    let name = Name(b"Receipt");
    let (wpt, hpt) = (w as f32 * PT_PER_PX, h as f32 * PT_PER_PX);
    let mut pdf = Pdf::new();
    pdf.catalog(catalog).pages(pages);
    pdf.pages(pages).kids([page]).count(1);
    let mut p = pdf.page(page);
    p.media_box(Rect::new(0.0, 0.0, wpt, hpt));
    p.parent(pages);
    p.contents(content);
    p.resources().x_objects().pair(name, image);
    p.finish();
    let mut x = pdf.image_xobject(image, &samples);
    x.filter(Filter::FlateDecode);
    x.width(i32::try_from(w).unwrap_or(i32::MAX));
    x.height(i32::try_from(h).unwrap_or(i32::MAX));
    x.color_space().device_gray();
    x.bits_per_component(8);
    x.finish();
    let mut c = Content::new();
    c.save_state();
    c.transform([wpt, 0.0, 0.0, hpt, 0.0, 0.0]);
    c.x_object(name);
    c.restore_state();
    pdf.stream(content, &c.finish());
    pdf.document_info(info).title(TextStr(title)).producer(TextStr("ereceipt"));
    Ok(pdf.finish())
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn the_page_holds_the_receipt_pixels_at_print_size() {
        let mut canvas = ereceipt_core::render::canvas::Canvas::new(64, 128);
        for (i, px) in canvas.pixels_mut().iter_mut().enumerate() {
            if i % 7 == 0 {
                *px = 0;
            }
        }
        let png = ereceipt_core::render::png::encode(&canvas, None).expect("png");
        let pdf = receipt_pdf(&png, "Receipt T1-000001-000001").expect("pdf");
        let text = String::from_utf8_lossy(&pdf);
        assert!(pdf.starts_with(b"%PDF-"), "a PDF");
        assert!(text.trim_end().ends_with("%%EOF"));
        assert!(text.contains("/Width 64") && text.contains("/Height 128"), "{text}");
        // 64 px = 8 mm = 22.68 pt wide.
        assert!(text.contains("/MediaBox [0 0 22.677166 45.354332]"), "{text}");
        assert!(text.contains("Receipt T1-000001-000001"));
        // The image stream inflates to exactly the slip's grey pixels.
        let at = pdf.windows(7).position(|w| w == b"stream\n").expect("a stream") + 7;
        let image_stream = &pdf[at..];
        let mut inflated = Vec::new();
        let _ = flate2::read::ZlibDecoder::new(image_stream).read_to_end(&mut inflated);
        assert_eq!(inflated, canvas.pixels());
        assert!(matches!(receipt_pdf(b"not an image", "x"), Err(PdfError::Image(_))));
    }
}
