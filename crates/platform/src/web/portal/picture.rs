//! The verdict as a picture on the public check page: the uploaded image annotated in memory
//! and sent inside the page as a `data:` URL, so nothing of the upload is stored or served.

use std::sync::{Arc, OnceLock};

use axum::http::{header, HeaderValue};
use axum::response::Response;
use base64::Engine as _;
use ereceipt_core::annotate::annotate;
use ereceipt_core::render::png;
use ereceipt_core::render::text::{Fonts, DEFAULT_FONT_PATHS};
use ereceipt_core::verify::Verification;

/// The portal's policy with one exception, for the page that shows such a picture: images
/// may also come from `data:` URLs (an image cannot run script).
pub(crate) const CSP_WITH_PICTURE: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The first CJK font on the usual system paths, read once. `None` (and a warning) when the
/// host has none: the check page then shows the verdict in words only.
fn fonts() -> Option<Arc<Fonts>> {
    static FONTS: OnceLock<Option<Arc<Fonts>>> = OnceLock::new();
    FONTS
        .get_or_init(|| {
            let found = DEFAULT_FONT_PATHS.iter().find_map(|&(path, index)| {
                let bytes = std::fs::read(path).ok()?;
                Fonts::from_bytes(vec![(path.to_owned(), bytes, index)]).ok()
            });
            if found.is_none() {
                tracing::warn!("no CJK font found: the check page shows no annotated picture");
            }
            found.map(Arc::new)
        })
        .clone()
}

/// The annotated picture of `image` as a `data:image/png;base64,…` URL. Only for an image
/// the verifier read signed receipt data from (so it decoded, at a receipt's size); `None`
/// for anything else, or when the picture cannot be drawn here.
pub(crate) async fn data_url(image: Vec<u8>, v: &Verification) -> Option<String> {
    v.receipt.as_ref()?;
    let v = v.clone();
    let picture = tokio::task::spawn_blocking(move || {
        let fonts = fonts()?;
        let decoded = png::decode(&image).ok()?;
        annotate(&decoded.canvas, &v, &fonts).map_err(|e| tracing::warn!("no annotated picture: {e}")).ok()
    })
    .await
    .ok()??;
    Some(format!("data:image/png;base64,{}", base64::engine::general_purpose::STANDARD.encode(picture)))
}

/// Lets `response` show a `data:` picture; every other page keeps the strict policy.
pub(crate) fn allow_picture(response: &mut Response) {
    response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP_WITH_PICTURE));
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_exception_only_adds_data_images_to_the_portal_policy() {
        assert_eq!(super::CSP_WITH_PICTURE, super::super::CSP.replace("img-src 'self'", "img-src 'self' data:"));
    }
}
