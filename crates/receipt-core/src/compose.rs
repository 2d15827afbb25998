//! Composition (T4): one sale's transaction, signature and the terminal's certificate become a
//! receipt record, a slip image with a signed QR code, and the embedded watermark (T5).

use crate::claims::{self, ClaimsError, ReceiptClaims};
use crate::digest::sha256;
use crate::encoding::encode_record;
use crate::identity::Signer;
use crate::model::{
    Authorisation, ChainLink, Direction, MoneyLayout, ReceiptId, ReceiptRecord, TimeLayout, Transaction,
    SIMULATED_NOTICE, SIMULATED_NOTICE_ZH,
};
use crate::render::canvas::Canvas;
use crate::render::slip::{compose_slip, Fonts, SlipView, SlipWidth};
use crate::render::{png, qr};
use crate::signature::{self, Signature, SignatureRejected, SignatureRules, StrokeStyle};
use crate::watermark::{self, Print, WatermarkError};

/// Why a receipt cannot be composed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ComposeError {
    /// The cardholder's signature is not acceptable.
    #[error("signature rejected: {0}")]
    Signature(SignatureRejected),
    /// The sale's time lies outside the terminal certificate's validity, so the receipt could
    /// never verify.
    #[error("the sale's time {time} is outside the terminal certificate's validity ({not_before} to {not_after})")]
    OutsideValidity { time: String, not_before: String, not_after: String },
    /// The transaction's original does not fit its kind (a refund without the original's RRN).
    #[error("transaction: {0}")]
    Original(crate::model::ModelError),
    /// The slip cannot be drawn (e.g. a missing font glyph).
    #[error(transparent)]
    Render(#[from] crate::render::slip::RenderError),
    /// The QR payload cannot be made.
    #[error(transparent)]
    Claims(#[from] ClaimsError),
    #[error(transparent)]
    Qr(#[from] qr::QrError),
    #[error(transparent)]
    Watermark(#[from] WatermarkError),
    #[error(transparent)]
    Image(#[from] png::ImageError),
}

// The wrapped errors are shown in the message, so they are not also exposed as `source()`:
// a caller printing the whole chain would say every cause twice.
impl From<SignatureRejected> for ComposeError {
    fn from(e: SignatureRejected) -> Self {
        Self::Signature(e)
    }
}

/// A composed receipt: the record, its canonical bytes and hash, and the watermarked PNG.
#[derive(Debug)]
pub struct ComposedReceipt {
    pub record: ReceiptRecord,
    pub record_bytes: Vec<u8>,
    pub record_hash: [u8; 32],
    pub qr_text: String,
    /// The watermarked image before PNG encoding.
    pub image: Canvas,
    pub png: Vec<u8>,
}

/// What one sale needs besides the terminal's identity.
#[derive(Debug)]
pub struct Sale {
    pub transaction: Transaction,
    pub signature: Signature,
    pub chain: Option<ChainLink>,
}

/// Builds the record of a sale signed by `signer`'s terminal.
pub fn build_record(sale: Sale, signer: &Signer) -> Result<ReceiptRecord, ComposeError> {
    sale.transaction.check_original().map_err(ComposeError::Original)?;
    sale.signature.check(&SignatureRules::default())?;
    let cert = signer.certificate();
    let at = sale.transaction.time.utc_seconds();
    if at < cert.not_before || at > cert.not_after {
        let fmt = |t: i64| chrono::DateTime::from_timestamp(t, 0).map(|d| d.to_rfc3339()).unwrap_or_default();
        return Err(ComposeError::OutsideValidity {
            time: sale.transaction.time.rfc3339(),
            not_before: fmt(cert.not_before),
            not_after: fmt(cert.not_after),
        });
    }
    let terminal = cert.terminal.clone();
    Ok(ReceiptRecord {
        id: ReceiptId::derive(&terminal.terminal_id, sale.transaction.batch, sale.transaction.serial),
        terminal,
        transaction: sale.transaction,
        signature: sale.signature,
        certificate: signer.certificate().der.clone(),
        chain: sale.chain,
    })
}

/// The slip's text, formatted for printing.
pub fn slip_view(r: &ReceiptRecord) -> SlipView {
    let t = &r.transaction;
    let original = t.original.as_ref();
    SlipView {
        merchant_name: r.terminal.merchant_name.to_string(),
        merchant_id: r.terminal.merchant_id.to_string(),
        terminal_id: r.terminal.terminal_id.to_string(),
        operator: t.operator.to_string(),
        location: r.terminal.location.address().to_owned(),
        card_number: t.card.masked_pan.for_receipt(),
        card_brand_zh: t.card.brand.name_zh().to_owned(),
        card_brand_en: t.card.brand.name().to_owned(),
        entry_mode_zh: t.card.entry_mode.name_zh().to_owned(),
        entry_mode_en: t.card.entry_mode.name().to_owned(),
        cardholder: t.card.cardholder_name.clone(),
        kind_zh: t.kind.name_zh().to_owned(),
        kind_en: t.kind.code().to_owned(),
        batch: t.batch.to_string(),
        voucher: t.voucher.to_string(),
        trace: t.serial.to_string(),
        rrn: t.rrn.to_string(),
        auth_code: t.auth_code.to_string(),
        date_time: t.time.format(TimeLayout::Slip),
        original_voucher: original.and_then(|o| o.voucher).map(|v| v.to_string()),
        original_rrn: original.and_then(|o| o.rrn.as_ref()).map(|r| r.to_string()),
        original_auth_code: original.and_then(|o| o.auth_code.as_ref()).map(|a| a.to_string()),
        original_date: original.map(|o| o.slip_date()),
        amount: t.amount.format_signed(MoneyLayout::Slip, t.kind.direction()),
        hold: t.kind.direction() == Direction::Hold,
        receipt_id: r.id.to_string(),
        copy_zh: "持卡人存根".into(),
        copy_en: "CARDHOLDER COPY".into(),
        notice: match t.authorisation {
            Authorisation::Simulated => vec![SIMULATED_NOTICE_ZH.into(), SIMULATED_NOTICE.into()],
            Authorisation::Host | Authorisation::Unstated => Vec::new(),
        },
        duplicate: false,
    }
}

/// Renders, signs and watermarks a receipt for `record`.
pub fn compose_receipt(
    record: ReceiptRecord,
    signer: &Signer,
    fonts: &Fonts,
    width: SlipWidth,
) -> Result<ComposedReceipt, ComposeError> {
    compose_print(record, signer, fonts, width, Print::Original)
}

/// A reprint of `record`'s receipt (重打印凭证 / DUPLICATE): the same record, hash and QR
/// claims, a new image under the banner, whose watermark says it is a duplicate copy.
pub fn compose_duplicate(
    record: ReceiptRecord,
    signer: &Signer,
    fonts: &Fonts,
    width: SlipWidth,
) -> Result<ComposedReceipt, ComposeError> {
    compose_print(record, signer, fonts, width, Print::Duplicate)
}

fn compose_print(
    record: ReceiptRecord,
    signer: &Signer,
    fonts: &Fonts,
    width: SlipWidth,
    print: Print,
) -> Result<ComposedReceipt, ComposeError> {
    let record_bytes = encode_record(&record);
    let record_hash = sha256(&record_bytes);
    let qr_text = claims::seal(&ReceiptClaims::of(&record, record_hash), signer)?;
    let modules = qr::modules(&qr_text)?;
    let style = StrokeStyle::default();
    let draw_signature = |w: u32, h: u32| signature::render(&record.signature, w, h, &style);
    let view = SlipView { duplicate: print == Print::Duplicate, ..slip_view(&record) };
    let mut image = compose_slip(&view, fonts, width, &draw_signature, &modules)?;
    watermark::embed_print(&mut image, &record_hash, signer, print)?;
    let png = png::encode(&image, Some(&qr_text))?;
    Ok(ComposedReceipt { record, record_bytes, record_hash, qr_text, image, png })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::card::CardPolicy;
    use crate::identity::CertifiedKey;
    use crate::txjson::parse_transaction;
    use crate::verify::{verify_image, Verdict};

    pub(super) const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

    pub(super) fn fonts() -> Fonts {
        let path = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc";
        let bytes = std::fs::read(path).unwrap_or_else(|_| panic!("{path} missing: run scripts/install-deps"));
        Fonts::from_bytes(vec![("wqy-microhei".into(), bytes, 0)]).unwrap()
    }

    pub(super) fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!("{FIXTURES}/{name}")).unwrap()
    }

    fn golden_receipt() -> ComposedReceipt {
        let signer =
            Signer::new(&CertifiedKey::from_pem(&fixture("terminal.pem"), &fixture("terminal.key")).unwrap()).unwrap();
        let policy = CardPolicy { accept_clear_tracks: true, allow_chip_fallback: false };
        let (transaction, _) = parse_transaction(&fixture("transaction.json"), &policy).unwrap();
        let signature = Signature::from_signature_pad_json(&fixture("signature.json")).unwrap();
        let record = build_record(Sale { transaction, signature, chain: None }, &signer).unwrap();
        compose_receipt(record, &signer, &fonts(), SlipWidth::W576).unwrap()
    }

    /// Same input, byte-identical PNG: receipts can be re-derived and compared years later.
    #[test]
    fn golden_receipt_is_byte_identical() {
        let receipt = golden_receipt();
        let path = format!("{FIXTURES}/golden-576.png");
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&path, &receipt.png).unwrap();
        }
        let golden = std::fs::read(&path).unwrap();
        assert!(
            receipt.png == golden,
            "rendering changed: compare {path} with a new receipt (UPDATE_GOLDEN=1 to accept)"
        );
        assert_eq!(receipt.png, golden_receipt().png);
        assert!(receipt.png.len() <= 30_000, "{} bytes", receipt.png.len());
    }

    #[test]
    fn the_golden_receipt_verifies_and_carries_no_card_number() {
        let receipt = golden_receipt();
        let anchor = crate::identity::pem_decode(&fixture("ca.pem"), "CERTIFICATE").unwrap();
        let v = verify_image(&receipt.png, &anchor);
        assert_eq!(v.verdict, Verdict::Authentic, "{}", v.reason);
        let s = v.receipt.unwrap();
        assert_eq!((s.id.as_str(), s.amount_minor, s.currency.as_str()), ("POS00001-000001-000123", 12850, "CNY"));
        assert_eq!(s.pan_masked, "**** **** **** 3446");
        // PCI DSS: neither the image file nor the record holds the full PAN or track data.
        for bytes in [&receipt.png, &receipt.record_bytes] {
            let text = String::from_utf8_lossy(bytes);
            assert!(!text.contains("6222020200112233446") && !text.contains("=2912"));
        }
        assert!(String::from_utf8_lossy(&receipt.record_bytes).contains("622202*********3446"));
    }

    /// A receipt made before records stated their authorisation (version 1, the golden file of
    /// that time) still verifies, says its authorisation is unstated, and its record re-encodes
    /// to the very bytes its QR code's hash was taken of.
    #[test]
    fn a_version_1_receipt_still_verifies_and_its_record_round_trips() {
        let v1 = std::fs::read(format!("{FIXTURES}/golden-576-v1.png")).unwrap();
        let anchor = crate::identity::pem_decode(&fixture("ca.pem"), "CERTIFICATE").unwrap();
        let v = verify_image(&v1, &anchor);
        assert_eq!(v.verdict, Verdict::Authentic, "{}", v.reason);
        let claims = v.claims.unwrap();
        assert_eq!(claims.authorisation, Authorisation::Unstated);
        assert_eq!(v.receipt.unwrap().authorisation, "unstated");
        let mut record = golden_receipt().record;
        record.transaction.authorisation = Authorisation::Unstated;
        let bytes = encode_record(&record);
        assert_eq!(sha256(&bytes), claims.record_hash, "version 1 bytes are what they were");
        assert_eq!(crate::encoding::decode_record(&bytes).unwrap(), record);
        // Today's records are version 2 and state it.
        let now = golden_receipt();
        assert_eq!(crate::encoding::decode_record(&now.record_bytes).unwrap(), now.record);
        assert_eq!(now.record.transaction.authorisation, Authorisation::Host);
    }

    /// A simulated sale: signed as such (its record and QR claims say so, and the signature
    /// covers it), printed as such on the image, and named by the verifier.
    #[test]
    fn a_simulated_sale_is_signed_printed_and_verified_as_one() {
        let signer =
            Signer::new(&CertifiedKey::from_pem(&fixture("terminal.pem"), &fixture("terminal.key")).unwrap()).unwrap();
        let policy = CardPolicy { accept_clear_tracks: true, allow_chip_fallback: false };
        let tx =
            fixture("transaction.json").replace(r#""operator":"01""#, r#""operator":"01","authorisation":"simulated""#);
        let (transaction, _) = parse_transaction(&tx, &policy).unwrap();
        let signature = Signature::from_signature_pad_json(&fixture("signature.json")).unwrap();
        let record = build_record(Sale { transaction, signature, chain: None }, &signer).unwrap();
        let simulated = compose_receipt(record, &signer, &fonts(), SlipWidth::W576).unwrap();
        let host = golden_receipt();
        assert_eq!(slip_view(&simulated.record).notice, [SIMULATED_NOTICE_ZH, SIMULATED_NOTICE]);
        assert!(slip_view(&host.record).notice.is_empty());
        assert!(simulated.image.height() > host.image.height(), "the notice takes room on the slip");
        assert_ne!(simulated.record_hash, host.record_hash, "the authorisation is in the signed record");
        let decoded = crate::encoding::decode_record(&simulated.record_bytes).unwrap();
        assert_eq!(decoded.transaction.authorisation, Authorisation::Simulated);
        let anchor = crate::identity::pem_decode(&fixture("ca.pem"), "CERTIFICATE").unwrap();
        let v = verify_image(&simulated.png, &anchor);
        assert_eq!(v.verdict, Verdict::Authentic, "{}", v.reason);
        assert_eq!(v.receipt.as_ref().unwrap().authorisation, "simulated");
        assert!(v.warnings.iter().any(|w| w.starts_with(SIMULATED_NOTICE)), "{:?}", v.warnings);
        let real = verify_image(&host.png, &anchor);
        assert_eq!(real.receipt.unwrap().authorisation, "host");
        assert!(!real.warnings.iter().any(|w| w.contains(SIMULATED_NOTICE)), "{:?}", real.warnings);
    }

    /// The golden sale's record (version 2, no original) is these bytes: a new record version
    /// must leave the records of plain sales exactly as they were.
    #[test]
    fn the_golden_sale_record_is_version_2_with_a_fixed_hash() {
        let receipt = golden_receipt();
        assert_eq!(receipt.record_bytes.len(), GOLDEN_RECORD_LEN);
        assert_eq!(crate::identity::hex(&receipt.record_hash), GOLDEN_RECORD_HASH);
        let v = crate::encoding::decode_record(&receipt.record_bytes).unwrap();
        assert_eq!(v, receipt.record);
        // A map of six entries (no chain link), key 0 (the version) = 2.
        assert_eq!(&receipt.record_bytes[..3], &[0xa6, 0x00, 0x02]);
    }

    const GOLDEN_RECORD_LEN: usize = 2190;
    const GOLDEN_RECORD_HASH: &str = "3abc4a3c6415127fc0ca3e761b963c22b6349e9c3b8ec12177c9946727581385";

    #[test]
    fn a_retried_sale_gets_the_same_receipt_id() {
        let a = golden_receipt();
        let b = golden_receipt();
        assert_eq!(a.record.id, b.record.id);
        assert_eq!(a.record_hash, b.record_hash);
    }

    #[test]
    fn a_sale_outside_the_certificate_validity_is_refused() {
        let signer =
            Signer::new(&CertifiedKey::from_pem(&fixture("terminal.pem"), &fixture("terminal.key")).unwrap()).unwrap();
        let policy = CardPolicy { accept_clear_tracks: true, allow_chip_fallback: false };
        let tx = fixture("transaction.json").replace("2026-12-01", "2026-06-01");
        let (transaction, _) = parse_transaction(&tx, &policy).unwrap();
        let signature = Signature::from_signature_pad_json(&fixture("signature.json")).unwrap();
        let e = build_record(Sale { transaction, signature, chain: None }, &signer).unwrap_err();
        assert!(matches!(e, ComposeError::OutsideValidity { .. }), "{e}");
    }

    #[test]
    fn an_empty_signature_is_refused_before_anything_is_drawn() {
        let signer =
            Signer::new(&CertifiedKey::from_pem(&fixture("terminal.pem"), &fixture("terminal.key")).unwrap()).unwrap();
        let policy = CardPolicy { accept_clear_tracks: true, allow_chip_fallback: false };
        let (transaction, _) = parse_transaction(&fixture("transaction.json"), &policy).unwrap();
        let sale = Sale { transaction, signature: Signature::default(), chain: None };
        assert!(matches!(build_record(sale, &signer), Err(ComposeError::Signature(_))));
    }
}

#[cfg(test)]
mod duplicate_tests;
#[cfg(test)]
mod kind_tests;
