//! The MMS inside a SubmitReq: the signed slip cut into slides that fit the 640×480 "Image
//! Rich" class unscaled (`ereceipt_core::render::slides`), one SMIL slide each with a short
//! text. The whole image is not sent beside them: it does not fit that class, so a handset
//! or MMSC adapting to it re-encodes it (a 213×640 JPEG of about 70 KB), which pushes a 100 KB
//! message over its budget and every slide into JPEG at a smaller scale (docs/delivery.md).

use ereceipt_core::render::slides;

use super::envelope::{token, xml_safe, Mms, Part};
use crate::infra::delivery::ReceiptMessage;

/// Content-ID (and Content-Location) of the first slide's text.
const TEXT_ID: &str = "receipt.txt";
/// How long a slide shows when a handset plays the MMS as a slideshow: time to read 448 rows.
const SLIDE_SECONDS: u32 = 20;

/// The text of the first slide: merchant, amount, time and link in Chinese and English.
fn text_slide(out: &ReceiptMessage) -> String {
    format!(
        "{merchant} 电子签购单 / Card receipt\r\n金额 Amount: {amount}\r\n时间 Time: {time}\r\n查看 View: {link}\r\n",
        merchant = xml_safe(&out.merchant_name),
        amount = xml_safe(&out.amount),
        time = xml_safe(&out.time_local),
        link = xml_safe(&out.link),
    )
}

/// The page line under slide `k` of `n`.
fn page_line(k: usize, n: usize) -> String {
    format!("第 {k}/{n} 页 · slide {k} of {n}\r\n")
}

/// Content-ID of the whole receipt image (also its Content-Location).
fn image_name(out: &ReceiptMessage) -> String {
    format!("{}.png", token(&out.receipt_id))
}

/// The MMS of `out`. The slides are the signed pixels, band by band; when the stored image
/// cannot be cut (it does not decode: never for a receipt the platform verified at ingest), the
/// MMS carries the whole image alone, as before slides.
pub(super) fn mms(out: &ReceiptMessage) -> Mms {
    let cut = slides::cut(&out.png).unwrap_or_else(|e| {
        tracing::warn!(receipt = %out.receipt_id, error = %e, "receipt image cannot be cut into MMS slides");
        Vec::new()
    });
    if cut.is_empty() {
        let (image, text) = (image_name(out), TEXT_ID.to_owned());
        let parts = vec![
            Part { content_type: "image/png", id: image.clone(), body: out.png.clone() },
            Part { content_type: "text/plain; charset=utf-8", id: text.clone(), body: text_slide(out).into_bytes() },
        ];
        return Mms { smil: smil(&[(image, text)]), parts };
    }
    let n = cut.len();
    let stem = token(&out.receipt_id);
    let mut shown: Vec<(String, String)> = Vec::with_capacity(n);
    let mut parts = Vec::with_capacity(2 * n);
    for (i, png) in cut.into_iter().enumerate() {
        let k = i + 1;
        let image = format!("{stem}-{k}.png");
        let (text, words) = if k == 1 {
            (TEXT_ID.to_owned(), text_slide(out) + &page_line(k, n))
        } else {
            (format!("slide-{k}.txt"), page_line(k, n))
        };
        parts.push(Part { content_type: "image/png", id: image.clone(), body: png });
        parts.push(Part { content_type: "text/plain; charset=utf-8", id: text.clone(), body: words.into_bytes() });
        shown.push((image, text));
    }
    Mms { smil: smil(&shown), parts }
}

/// The SMIL presentation: one slide per (image, text), the image over its text.
fn smil(slides: &[(String, String)]) -> String {
    let mut s = String::from(concat!(
        "<smil><head><layout><root-layout/>",
        "<region id=\"Image\" top=\"0\" left=\"0\" height=\"80%\" width=\"100%\" fit=\"meet\"/>",
        "<region id=\"Text\" top=\"80%\" left=\"0\" height=\"20%\" width=\"100%\" fit=\"scroll\"/>",
        "</layout></head><body>",
    ));
    for (image, text) in slides {
        s.push_str(&format!(
            "<par dur=\"{SLIDE_SECONDS}s\"><img src=\"cid:{image}\" region=\"Image\"/>\
             <text src=\"cid:{text}\" region=\"Text\"/></par>"
        ));
    }
    s.push_str("</body></smil>");
    s
}
