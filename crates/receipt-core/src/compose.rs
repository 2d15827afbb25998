//! Composition (T4): one sale's transaction, signature and the terminal's certificate become a
//! receipt record, a slip image with a signed QR code, and the embedded watermark (T5).

use crate::claims::{self, ClaimsError, ReceiptClaims};
use crate::encoding::{encode_record, sha256};
use crate::identity::Signer;
use crate::model::{ChainLink, ReceiptId, ReceiptRecord, Transaction};
use crate::render::canvas::Canvas;
use crate::render::slip::{compose_slip, Fonts, SlipView, SlipWidth};
use crate::render::{png, qr};
use crate::signature::{self, Signature, SignatureRejected, SignatureRules, StrokeStyle};
use crate::watermark::{self, WatermarkError};

/// Why a receipt cannot be composed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ComposeError {
    /// The cardholder's signature is not acceptable.
    #[error("signature rejected: {0}")]
    Signature(#[from] SignatureRejected),
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
    sale.signature.check(&SignatureRules::default())?;
    let terminal = signer.certificate().terminal.clone();
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
    let local = t.time.local();
    let offset = t.time.offset_minutes();
    let currency = match t.amount.currency().code() {
        "CNY" => "RMB",
        c => c,
    };
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
        date_time: format!(
            "{} UTC{}{:02}:{:02}",
            local.format("%Y/%m/%d %H:%M:%S"),
            if offset < 0 { '-' } else { '+' },
            offset.unsigned_abs() / 60,
            offset.unsigned_abs() % 60
        ),
        amount: format!("{currency} {}", t.amount.decimal()),
        receipt_id: r.id.to_string(),
        copy_zh: "持卡人存根".into(),
        copy_en: "CARDHOLDER COPY".into(),
    }
}

/// Renders, signs and watermarks a receipt for `record`.
pub fn compose_receipt(
    record: ReceiptRecord,
    signer: &Signer,
    fonts: &Fonts,
    width: SlipWidth,
) -> Result<ComposedReceipt, ComposeError> {
    let record_bytes = encode_record(&record);
    let record_hash = sha256(&record_bytes);
    let qr_text = claims::seal(&ReceiptClaims::of(&record, record_hash), signer)?;
    let modules = qr::modules(&qr_text)?;
    let style = StrokeStyle::default();
    let draw_signature = |w: u32, h: u32| signature::render(&record.signature, w, h, &style);
    let mut image = compose_slip(&slip_view(&record), fonts, width, &draw_signature, &modules)?;
    watermark::embed(&mut image, &record_hash, signer)?;
    let png = png::encode(&image, Some(&qr_text))?;
    Ok(ComposedReceipt { record, record_bytes, record_hash, qr_text, image, png })
}
