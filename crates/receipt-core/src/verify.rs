//! Verification (P5): anyone holding the platform's CA certificate checks a receipt image
//! offline. The extraction yields a feature value that is compared with the preset threshold.
//! The signer's expiry and revocation are then judged at a time the verifier trusts (see [`time`]).

use serde::Serialize;

use crate::claims::{self, ClaimsError, ReceiptClaims};
use crate::identity::PosCertificate;
use crate::model::{Authorisation, SIMULATED_NOTICE};
use crate::render::canvas::Canvas;
use crate::render::decode::{self, Inspected, Refusal, Scanned};
use crate::render::png::Decoded;
use crate::render::qr;
use crate::watermark::{self, Extraction, Region, Tolerance, TAG_BLOCK, THRESHOLD};

mod slides;
mod summary;
mod time;
pub use slides::{examine_slides, verify_slides, verify_slides_with};
pub use summary::{OriginalSummary, ReceiptSummary, SignerInfo};
pub use time::{judge_time, Stored, TimeBasis, TimeFacts};

/// Receipt widths in pixels: 80 mm and 58 mm thermal paper at 203 dpi.
pub const RECEIPT_WIDTHS: [u32; 2] = [576, 384];

/// The verdict on one image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Signed by a terminal the CA issued, and unaltered.
    Authentic,
    /// Signed data present, but the image or its data was altered.
    Tampered,
    /// Cannot be checked: unreadable file, no watermark or QR, or a signer the CA did not issue.
    Unverifiable,
    /// Signed and unaltered, but its signer was revoked after the time the receipt claims, and
    /// nothing the verifier trusts (the platform's evidence) shows it existed before then.
    Unconfirmed,
}

impl Verdict {
    /// Exit code of `ereceipt verify`: 0 authentic, 1 tampered, 2 unverifiable, 4 unconfirmed
    /// (3 is the command's own failure, e.g. an unreadable trust anchor).
    pub fn exit_code(self) -> i32 {
        match self {
            Self::Authentic => 0,
            Self::Tampered => 1,
            Self::Unverifiable => 2,
            Self::Unconfirmed => 4,
        }
    }

    /// The word `ereceipt verify` prints.
    pub fn word(self) -> &'static str {
        match self {
            Self::Authentic => "AUTHENTIC",
            Self::Tampered => "TAMPERED",
            Self::Unverifiable => "UNVERIFIABLE",
            Self::Unconfirmed => "UNCONFIRMED",
        }
    }
}

/// The full result, serialised as `ereceipt verify --json` prints it.
#[derive(Clone, Debug, Serialize)]
pub struct Verification {
    pub verdict: Verdict,
    pub feature: u8,
    pub threshold: u8,
    pub regions: Vec<Region>,
    pub receipt: Option<ReceiptSummary>,
    pub signer: Option<SignerInfo>,
    pub reason: String,
    /// Whose clock the signer's expiry and revocation were judged by.
    pub time_basis: TimeBasis,
    /// The instant they were judged at (RFC 3339), when there was a signer to judge.
    pub judged_at: Option<String>,
    /// What the verdict does not cover, or facts that qualify it.
    pub warnings: Vec<String>,
    /// The image is a duplicate copy (重打印凭证, a reprint over the same signed record), as its
    /// watermark's signature says; only ever true of an authentic image. Left out when false.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
    /// Claims as decoded, for callers that need typed fields.
    #[serde(skip)]
    pub claims: Option<ReceiptClaims>,
    /// The certificate in the QR's `x5chain` that signed the claims and the watermark.
    #[serde(skip)]
    pub certificate: Option<PosCertificate>,
}

impl Verification {
    /// A verdict of unverifiable with no data: the file could not be read at all.
    pub fn unverifiable(reason: impl Into<String>) -> Self {
        Self {
            verdict: Verdict::Unverifiable,
            feature: 255,
            threshold: THRESHOLD,
            regions: Vec::new(),
            receipt: None,
            signer: None,
            reason: reason.into(),
            time_basis: TimeBasis::TerminalClaim,
            judged_at: None,
            warnings: Vec::new(),
            duplicate: false,
            claims: None,
            certificate: None,
        }
    }
}

/// Reads the signed QR data of an image: from the PNG text chunk when present, else from the
/// QR code in the pixels, where the slip's layout puts it ([`qr::read`]: bounded work whatever
/// the pixels, so a JPEG or a crafted file without the chunk costs no more than a few ms).
pub fn read_claims(decoded: &Decoded) -> Result<claims::SignedClaims, String> {
    claims_in(decoded.payload.as_deref(), Some(&decoded.canvas))
}

/// [`read_claims`] from a text payload and pixels that may each be missing (a refused file
/// keeps whichever could be read).
fn claims_in(payload: Option<&str>, canvas: Option<&Canvas>) -> Result<claims::SignedClaims, String> {
    if let Some(c) = payload.and_then(|text| claims::open(text).ok()) {
        return Ok(c);
    }
    let canvas = canvas.ok_or_else(|| "no pixels to read the QR code from".to_owned())?;
    let text = qr::read(canvas).map_err(|e| e.to_string())?;
    claims::open(&text).map_err(|e| e.to_string())
}

/// Verifies receipt image bytes (PNG or JPEG) against the trusted CA certificate (DER), with
/// the signer's expiry judged at the time the receipt claims (all an image alone can tell).
pub fn verify_image(bytes: &[u8], trust_anchor: &[u8]) -> Verification {
    verify_image_with(bytes, trust_anchor, &TimeFacts::default())
}

/// Verifies receipt image bytes and judges the signer at the time `facts` establish (the
/// platform's evidence, a revocation list).
pub fn verify_image_with(bytes: &[u8], trust_anchor: &[u8], facts: &TimeFacts<'_>) -> Verification {
    let mut v = examine_image(bytes, trust_anchor);
    judge_time(&mut v, facts);
    v
}

/// Checks the signature, its chain to the CA and the pixels, but not yet the signer's expiry
/// or revocation: the caller then applies [`judge_time`] once it knows which time to trust.
pub fn examine_image(bytes: &[u8], trust_anchor: &[u8]) -> Verification {
    // The common file, a clean lossless receipt with its payload, is checked without building
    // its canvas; any other is read whole, with every refusal reported.
    if let Some(v) = decode::scan_lossless(bytes).and_then(|s| verify_scanned(s, trust_anchor)) {
        return v;
    }
    examine_pixels(bytes, trust_anchor)
}

/// [`examine_image`] by way of the decoded canvas (and the oracle its shortcut is tested against).
fn examine_pixels(bytes: &[u8], trust_anchor: &[u8]) -> Verification {
    let mut inspected = match decode::inspect(bytes) {
        Ok(i) => i,
        Err(e) => return Verification::unverifiable(format!("unreadable file: {e}")),
    };
    match inspected.refusal.take() {
        Some(refusal) => refused(&inspected, &refusal, trust_anchor),
        None => match inspected.into_decoded() {
            Ok(decoded) => verify_decoded(&decoded, trust_anchor),
            Err(e) => Verification::unverifiable(format!("unreadable file: {e}")),
        },
    }
}

/// A file holding what an authentic receipt file may not (viewers could show other pixels than
/// those checked): tampered when it carries signed receipt data of a trusted signer, since
/// someone reworked a genuine receipt's file; unverifiable otherwise.
fn refused(inspected: &Inspected, refusal: &Refusal, trust_anchor: &[u8]) -> Verification {
    let reason = format!("refused: {refusal}");
    // Damage in transit (a chunk's checksum fails) and recompression too coarse to bound (an
    // MMSC squeezing a message under 100 KB does that to a genuine receipt) are not evidence of
    // a forger's hand: they say nothing can be checked, whatever signed data survived.
    if matches!(refusal, Refusal::Crc(_) | Refusal::Quality { .. }) {
        return Verification::unverifiable(reason);
    }
    let Ok(signed) = claims_in(inspected.payload.as_deref(), inspected.canvas.as_ref()) else {
        return Verification::unverifiable(reason);
    };
    let cert = &signed.certificate;
    if cert.verify_chain(trust_anchor).is_err() {
        return Verification::unverifiable(format!("{reason}; its receipt data is not from a trusted signer"));
    }
    Verification {
        verdict: Verdict::Tampered,
        receipt: Some(ReceiptSummary::from(&signed.claims)),
        signer: Some(SignerInfo {
            subject: cert.subject.clone(),
            issuer: cert.issuer.clone(),
            serial: cert.serial.clone(),
        }),
        claims: Some(signed.claims.clone()),
        certificate: Some(cert.clone()),
        ..Verification::unverifiable(reason)
    }
}

/// [`examine_image`] of a decoded image: the verdict before the signer's time is judged.
pub fn verify_decoded(decoded: &Decoded, trust_anchor: &[u8]) -> Verification {
    let img: &Canvas = &decoded.canvas;
    if !RECEIPT_WIDTHS.contains(&img.width()) {
        return Verification::unverifiable(format!(
            "image is {} px wide, not a receipt width (576 or 384): it was cropped or resized",
            img.width()
        ));
    }
    if !img.height().is_multiple_of(TAG_BLOCK) {
        return Verification::unverifiable(format!(
            "image height {} px is not a multiple of {TAG_BLOCK}: it was cropped or resized",
            img.height()
        ));
    }
    let signed = match decoded_claims(decoded) {
        Ok(s) => s,
        Err((verdict, reason)) => return Verification { verdict, ..Verification::unverifiable(reason) },
    };
    let tolerance = Tolerance::for_image(decoded);
    verify_signed(&signed, trust_anchor, tolerance.threshold(), |hash, cert| {
        watermark::extract(img, hash, cert, &tolerance)
    })
}

/// [`verify_decoded`] of a clean lossless file as [`decode::scan_lossless`] read it; `None` when
/// its payload is not valid signed data (the QR code in the pixels then decides, which
/// [`examine_pixels`] reads).
fn verify_scanned(scanned: Scanned, trust_anchor: &[u8]) -> Option<Verification> {
    let Scanned { payload, scan } = scanned;
    let signed = claims::open(&payload).ok()?;
    let threshold = Tolerance::Exact.threshold();
    Some(verify_signed(&signed, trust_anchor, threshold, |hash, cert| watermark::extract_lossless(scan, hash, cert)))
}

/// The verdict on signed claims and the image's watermark, which `extract` reads for a record
/// hash and signer; `threshold` is that of the image's format.
fn verify_signed(
    signed: &claims::SignedClaims,
    trust_anchor: &[u8],
    threshold: u8,
    extract: impl FnOnce(&[u8; 32], &PosCertificate) -> Extraction,
) -> Verification {
    let claims = signed.claims.clone();
    let cert: &PosCertificate = &signed.certificate;
    let mut warnings = Vec::new();
    if claims.authorisation == Authorisation::Simulated {
        warnings.push(simulated_warning());
    }
    let mut v = Verification {
        verdict: Verdict::Unverifiable,
        feature: 255,
        threshold: THRESHOLD,
        regions: Vec::new(),
        receipt: Some(ReceiptSummary::from(&claims)),
        signer: Some(SignerInfo {
            subject: cert.subject.clone(),
            issuer: cert.issuer.clone(),
            serial: cert.serial.clone(),
        }),
        reason: String::new(),
        time_basis: TimeBasis::TerminalClaim,
        judged_at: None,
        warnings,
        duplicate: false,
        claims: Some(claims.clone()),
        certificate: None,
    };
    if let Err(e) = cert.verify_chain(trust_anchor) {
        v.reason = format!("untrusted signer: {e}");
        return v;
    }
    v.certificate = Some(cert.clone());
    if let Some(field) = unbound_field(&claims, cert) {
        v.verdict = Verdict::Tampered;
        v.reason = format!("the QR data names another {field} than its signing certificate");
        return v;
    }
    v.threshold = threshold;
    match extract(&claims.record_hash, cert) {
        Extraction::Absent => {
            v.reason = "no watermark found in the image: it was re-rendered or its mark removed; the signed \
                        QR data shown is genuine, but the printed content cannot be checked against it"
                .into();
        }
        Extraction::Unreadable => {
            v.verdict = Verdict::Tampered;
            v.reason = "the watermark is damaged or belongs to another receipt".into();
        }
        Extraction::Read(inspection) => {
            v.feature = inspection.feature;
            v.regions = inspection.regions.clone();
            if inspection.authentic() {
                v.verdict = Verdict::Authentic;
                v.reason = format!(
                    "signature valid; feature value {} is within the threshold {}",
                    inspection.feature, inspection.threshold
                );
                if inspection.duplicate {
                    v.duplicate = true;
                    v.warnings.push(duplicate_warning());
                }
            } else {
                v.verdict = Verdict::Tampered;
                v.reason = if inspection.regions.is_empty() {
                    "the watermark's signature does not match this image".into()
                } else {
                    format!("content altered in {} block(s) of {TAG_BLOCK}x{TAG_BLOCK} px", inspection.regions.len())
                };
            }
        }
    }
    v
}

/// What a verifier says of a duplicate copy.
pub fn duplicate_warning() -> String {
    "DUPLICATE (重打印凭证): this image is a reprint of the receipt, signed by its terminal over the same \
     record; it is not a second receipt"
        .to_owned()
}

/// What a verifier says of a receipt whose signed data states a simulated authorisation.
pub fn simulated_warning() -> String {
    format!(
        "{SIMULATED_NOTICE}: the signed data says a simulator approved this sale, not the acquirer's host; \
         it records no real payment"
    )
}

/// The first printed field the claims state differently from the certificate that signed them:
/// every field a reader takes for the signer's identity must be the certificate's.
pub fn unbound_field(claims: &ReceiptClaims, cert: &PosCertificate) -> Option<&'static str> {
    if claims.terminal_id != cert.terminal.terminal_id {
        Some("terminal id")
    } else if claims.merchant_id != cert.terminal.merchant_id {
        Some("merchant id")
    } else if claims.merchant_name != cert.terminal.merchant_name {
        Some("merchant name")
    } else {
        None
    }
}

/// The signed claims, or the verdict and reason when there are none to check.
fn decoded_claims(decoded: &Decoded) -> Result<claims::SignedClaims, (Verdict, String)> {
    read_claims(decoded).map_err(|reason| {
        // A QR whose signature fails was altered; anything else leaves nothing to check.
        let verdict =
            if reason == ClaimsError::Signature.to_string() { Verdict::Tampered } else { Verdict::Unverifiable };
        (verdict, format!("no valid receipt data: {reason}"))
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::watermark::binarise;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

    fn golden() -> (Vec<u8>, Vec<u8>) {
        let png = std::fs::read(format!("{FIXTURES}/golden-576.png")).unwrap();
        let ca = std::fs::read_to_string(format!("{FIXTURES}/ca.pem")).unwrap();
        (png, crate::identity::pem_decode(&ca, "CERTIFICATE").unwrap())
    }

    #[test]
    fn bad_files_are_unverifiable_with_a_reason() {
        let (png, anchor) = golden();
        for (bytes, says) in [
            (b"hello".to_vec(), "not a PNG or JPEG"),
            (png[..png.len() / 3].to_vec(), "corrupt or truncated PNG"),
            (vec![0xff, 0xd8, 0xff, 0xe0, 1, 2, 3], "corrupt or truncated JPEG"),
        ] {
            let v = verify_image(&bytes, &anchor);
            assert_eq!(v.verdict, Verdict::Unverifiable);
            assert!(v.reason.contains(says), "{}", v.reason);
        }
        let v = verify_image(&png, b"not a certificate");
        assert_eq!(v.verdict, Verdict::Unverifiable);
        assert!(v.reason.contains("untrusted signer"), "{}", v.reason);
    }

    #[test]
    fn wrong_width_is_unverifiable() {
        let img = Canvas::new(500, 640);
        let bytes = crate::render::png::encode(&img, None).unwrap();
        let v = verify_image(&bytes, &golden().1);
        assert_eq!(v.verdict, Verdict::Unverifiable);
        assert!(v.reason.contains("500 px wide"), "{}", v.reason);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Flipped bytes anywhere in a genuine receipt file never crash the verifier, and a
        /// file still judged authentic shows exactly the genuine content.
        #[test]
        fn mutated_files_never_panic_and_authentic_means_unchanged(
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)
        ) {
            let (png, anchor) = golden();
            let original = binarise(&crate::render::png::decode(&png).unwrap().canvas);
            let mut bytes = png.clone();
            for (i, v) in edits {
                let at = i.index(bytes.len());
                bytes[at] = v;
            }
            let v = verify_image(&bytes, &anchor);
            if v.verdict == Verdict::Authentic {
                let seen = crate::render::png::decode(&bytes).unwrap().canvas;
                prop_assert!(binarise(&seen) == original);
            }
        }
    }

    /// The golden receipt's pixels with `edits` (rectangles of one level) applied, encoded as
    /// a palette PNG of `depth` bits (8 when more than four levels remain) with its palette
    /// rotated by `rotate` and rows filtered by `filter`, and optionally one entry coloured.
    fn resaved(edits: &[(u32, u32, u8, u8)], rotate: usize, filter: u8, coloured: bool) -> Vec<u8> {
        let (png, _) = golden();
        let d = crate::render::png::decode(&png).unwrap();
        let mut c = d.canvas;
        for &(x, y, side, level) in edits {
            c.fill_rect(
                i64::from(x % 576),
                i64::from(y % c.height()),
                i64::from(side % 24),
                i64::from(side % 13),
                level,
            );
        }
        let mut levels: Vec<u8> = c
            .pixels()
            .iter()
            .fold([false; 256], |mut seen, &v| {
                seen[usize::from(v)] = true;
                seen
            })
            .iter()
            .enumerate()
            .filter(|(_, &s)| s)
            .map(|(v, _)| v as u8)
            .collect();
        let n = levels.len();
        levels.rotate_left(rotate % n);
        let mut index = [0u8; 256];
        for (i, &v) in levels.iter().enumerate() {
            index[usize::from(v)] = i as u8;
        }
        let two_bits = n <= 4;
        let per = if two_bits { 4 } else { 1 };
        let data: Vec<u8> = c
            .pixels()
            .chunks(per)
            .map(|q| {
                q.iter()
                    .fold(0u8, |b, &v| if two_bits { b << 2 | index[usize::from(v)] } else { index[usize::from(v)] })
            })
            .collect();
        let mut palette: Vec<u8> = levels.iter().flat_map(|&v| [v, v, v]).collect();
        if coloured {
            palette[0] ^= 1;
        }
        let mut out = Vec::new();
        let mut enc = ::png::Encoder::new(&mut out, c.width(), c.height());
        enc.set_color(::png::ColorType::Indexed);
        enc.set_depth(if two_bits { ::png::BitDepth::Two } else { ::png::BitDepth::Eight });
        enc.set_palette(palette);
        enc.set_filter(match filter {
            0 => ::png::Filter::NoFilter,
            1 => ::png::Filter::Sub,
            2 => ::png::Filter::Up,
            3 => ::png::Filter::Avg,
            _ => ::png::Filter::Paeth,
        });
        enc.add_text_chunk(crate::render::TEXT_KEYWORD.to_owned(), d.payload.unwrap()).unwrap();
        let mut wr = enc.write_header().unwrap();
        wr.write_image_data(&data).unwrap();
        wr.finish().unwrap();
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// The verifier's shortcut for clean lossless files (no canvas) gives exactly the
        /// verdict, feature value, regions and reason of the way through the decoded canvas, on
        /// the genuine file, re-saved ones (palette order, row filters, 8-bit palettes that the
        /// shortcut leaves to the canvas) and tampered ones (edited pixels, a coloured entry).
        #[test]
        fn the_lossless_shortcut_gives_the_canvas_verdict(
            edits in proptest::collection::vec(
                (any::<u32>(), any::<u32>(), any::<u8>(), prop::sample::select(vec![0u8, 252, 255, 127, 128, 254, 90])),
                0..4,
            ),
            rotate in 0usize..8,
            filter in 0u8..5,
            coloured in proptest::bool::weighted(0.15),
        ) {
            let anchor = golden().1;
            for bytes in [golden().0, resaved(&edits, rotate, filter, coloured)] {
                let (fast, oracle) = (examine_image(&bytes, &anchor), examine_pixels(&bytes, &anchor));
                prop_assert_eq!(fast.verdict, oracle.verdict, "{} / {}", fast.reason, oracle.reason);
                prop_assert_eq!(&fast.reason, &oracle.reason);
                prop_assert_eq!(fast.feature, oracle.feature);
                prop_assert_eq!(fast.threshold, oracle.threshold);
                prop_assert_eq!(&fast.regions, &oracle.regions);
            }
        }
    }
}
