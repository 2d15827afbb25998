//! The settlement slip (结算单) as a signed document: composed into a bilingual slip image whose
//! QR code carries the whole canonical slip under the terminal's signature and whose pixels carry
//! the terminal's watermark, both signed under a settlement domain of their own (a receipt never
//! verifies as a settlement, nor a settlement as a receipt), and verified back to the slip.

mod reconcile;
pub use reconcile::{reconcile, HeldReceipt};

use crate::claims::{self, ClaimsError, Domain};
use crate::digest::sha256;
use crate::encoding::{decode_settlement, encode_settlement, EncodingError};
use crate::identity::{PosCertificate, Signer};
use crate::model::{MoneyLayout, SettlementSlip, TimeLayout, SETTLEMENT_KINDS};
use crate::render::canvas::Canvas;
use crate::render::decode::{decode, ImageError};
use crate::render::slip::{compose_settlement_slip, CurrencySection, Fonts, KindRow, SettlementView, SlipWidth};
use crate::render::{png, qr};
use crate::watermark::{self, Extraction, Print, Region, Tolerance, WatermarkError};

/// The prefix of a settlement slip's QR payload, version 1.
pub const SETTLEMENT_PREFIX: &str = "ES1:";
/// The signing domain of a settlement slip's QR payload (COSE external data).
const DOMAIN: Domain = Domain { prefix: SETTLEMENT_PREFIX, external_aad: b"ereceipt/settlement/v1" };

/// Why a settlement slip cannot be composed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettlementError {
    /// The slip names another terminal than the signer's certificate.
    #[error("the slip is of terminal {slip}, the signer's certificate is of {signer}")]
    NotSigner { slip: String, signer: String },
    /// The settlement time lies outside the signer certificate's validity.
    #[error("the settlement time {0} is outside the terminal certificate's validity")]
    OutsideValidity(String),
    #[error(transparent)]
    Render(#[from] crate::render::slip::RenderError),
    #[error(transparent)]
    Claims(#[from] ClaimsError),
    #[error(transparent)]
    Qr(#[from] qr::QrError),
    #[error(transparent)]
    Watermark(#[from] WatermarkError),
    #[error(transparent)]
    Image(#[from] ImageError),
}

/// A composed settlement slip: the slip, its canonical bytes and hash, and the watermarked PNG.
#[derive(Debug)]
pub struct ComposedSettlement {
    pub slip: SettlementSlip,
    pub bytes: Vec<u8>,
    pub hash: [u8; 32],
    pub qr_text: String,
    pub image: Canvas,
    pub png: Vec<u8>,
}

/// The slip's text, formatted for printing (money only through the money module).
pub fn settlement_view(slip: &SettlementSlip) -> SettlementView {
    let sections = slip
        .currencies()
        .into_iter()
        .map(|currency| {
            let kinds = SETTLEMENT_KINDS
                .iter()
                .filter_map(|&kind| {
                    let (count, total) = slip.kind_total(kind, currency);
                    (count > 0).then(|| KindRow {
                        title: format!("{} {}", kind.name_zh(), kind.code()),
                        count: count.to_string(),
                        total: total.format(MoneyLayout::Slip),
                        brands: slip
                            .lines()
                            .iter()
                            .filter(|l| l.kind == kind && l.currency == currency)
                            .map(|l| {
                                (
                                    brand_name(l.brand),
                                    l.count.to_string(),
                                    crate::model::Total::new(l.total_minor.into(), currency).format(MoneyLayout::Slip),
                                )
                            })
                            .collect(),
                    })
                })
                .collect();
            CurrencySection {
                currency: currency.code().to_owned(),
                kinds,
                net: slip.net_total(currency).format(MoneyLayout::Slip),
            }
        })
        .collect();
    let (answer_zh, answer_en) =
        if slip.host.balanced() { ("对账平", "BALANCED") } else { ("对账不平", "NOT BALANCED") };
    SettlementView {
        merchant_name: slip.terminal.merchant_name.to_string(),
        merchant_id: slip.terminal.merchant_id.to_string(),
        terminal_id: slip.terminal.terminal_id.to_string(),
        operator: slip.operator.to_string(),
        batch: slip.batch.to_string(),
        first: slip.first.map(|t| t.format(TimeLayout::Slip)),
        last: slip.last.map(|t| t.format(TimeLayout::Slip)),
        settled_at: slip.settled_at.format(TimeLayout::Slip),
        sections,
        answer_zh: answer_zh.into(),
        answer_en: answer_en.into(),
    }
}

/// A card brand in both languages, once where they are the same mark (VISA, JCB).
fn brand_name(brand: crate::card::CardBrand) -> String {
    if brand.name_zh().eq_ignore_ascii_case(brand.name()) {
        brand.name().to_owned()
    } else {
        format!("{} {}", brand.name_zh(), brand.name())
    }
}

/// Renders, signs and watermarks the settlement slip `slip` of `signer`'s terminal.
pub fn compose_settlement(
    slip: SettlementSlip,
    signer: &Signer,
    fonts: &Fonts,
    width: SlipWidth,
) -> Result<ComposedSettlement, SettlementError> {
    let cert = signer.certificate();
    if slip.terminal.terminal_id != cert.terminal.terminal_id || slip.terminal.merchant_id != cert.terminal.merchant_id
    {
        return Err(SettlementError::NotSigner {
            slip: slip.terminal.terminal_id.to_string(),
            signer: cert.terminal.terminal_id.to_string(),
        });
    }
    if cert.valid_at(slip.settled_at.utc_seconds()).is_err() {
        return Err(SettlementError::OutsideValidity(slip.settled_at.rfc3339()));
    }
    let bytes = encode_settlement(&slip);
    let hash = sha256(&bytes);
    let qr_text = claims::seal_payload(&bytes, signer, &DOMAIN)?;
    let modules = qr::modules(&qr_text)?;
    let mut image = compose_settlement_slip(&settlement_view(&slip), fonts, width, &modules)?;
    watermark::embed_print(&mut image, &hash, signer, Print::Settlement)?;
    let png = png::encode(&image, Some(&qr_text))?;
    Ok(ComposedSettlement { slip, bytes, hash, qr_text, image, png })
}

/// A settlement slip that verified: signed by a terminal the CA certified, for its own
/// terminal and merchant, every pixel as signed.
#[derive(Clone, Debug)]
pub struct VerifiedSettlement {
    pub slip: SettlementSlip,
    /// The canonical bytes and their SHA-256 (the slip's identity on the platform).
    pub bytes: Vec<u8>,
    pub hash: [u8; 32],
    pub certificate: PosCertificate,
}

/// Why a settlement slip image does not verify.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettlementRefused {
    /// The file is not a readable image.
    #[error("unreadable file: {0}")]
    Unreadable(ImageError),
    /// No signed settlement data in the file or its QR code (a receipt's is not one).
    #[error("no signed settlement data: {0}")]
    NoSignedData(String),
    /// The signed data is not a settlement slip this build reads.
    #[error("the signed data is not a settlement slip: {0}")]
    NotASlip(EncodingError),
    /// The signer was not certified by the trusted CA, or not at the settlement's time.
    #[error("the signer is not trusted: {0}")]
    Untrusted(crate::identity::CertError),
    /// The slip names another terminal or merchant than its signer's certificate.
    #[error("the slip is of terminal {slip}, signed by terminal {signer}'s certificate")]
    WrongSigner { slip: String, signer: String },
    /// The image is not what the terminal signed: the watermark is missing, unreadable, signed
    /// for another document, or the pixels differ (`regions`).
    #[error("the image is not as signed: {reason}")]
    Tampered { reason: String, regions: Vec<Region> },
}

/// Verifies a settlement slip image (PNG, or JPEG within its own noise) against the trusted CA
/// certificate (DER) and returns the slip it states.
pub fn verify_settlement(bytes: &[u8], trust_anchor: &[u8]) -> Result<VerifiedSettlement, SettlementRefused> {
    let decoded = decode(bytes).map_err(SettlementRefused::Unreadable)?;
    let opened = match decoded.payload.as_deref().map(|p| claims::open_payload(p, &DOMAIN)) {
        Some(Ok(o)) => o,
        _ => {
            let text = qr::read(&decoded.canvas).map_err(|e| SettlementRefused::NoSignedData(e.to_string()))?;
            claims::open_payload(&text, &DOMAIN).map_err(|e| SettlementRefused::NoSignedData(e.to_string()))?
        }
    };
    let slip = decode_settlement(&opened.payload).map_err(SettlementRefused::NotASlip)?;
    let cert = opened.certificate;
    cert.verify_chain(trust_anchor).map_err(SettlementRefused::Untrusted)?;
    cert.valid_at(slip.settled_at.utc_seconds()).map_err(SettlementRefused::Untrusted)?;
    if slip.terminal.terminal_id != cert.terminal.terminal_id || slip.terminal.merchant_id != cert.terminal.merchant_id
    {
        return Err(SettlementRefused::WrongSigner {
            slip: format!("{} (merchant {})", slip.terminal.terminal_id, slip.terminal.merchant_id),
            signer: format!("{} (merchant {})", cert.terminal.terminal_id, cert.terminal.merchant_id),
        });
    }
    let hash = sha256(&opened.payload);
    let tolerance = Tolerance::for_image(&decoded);
    let tampered = |reason: &str, regions| SettlementRefused::Tampered { reason: reason.into(), regions };
    match watermark::extract_prints(&decoded.canvas, &hash, &cert, &tolerance, &[Print::Settlement]) {
        Extraction::Absent => Err(tampered("no watermark", Vec::new())),
        Extraction::Unreadable => Err(tampered("the watermark cannot be read", Vec::new())),
        Extraction::Read(i) if !i.signature_valid => {
            Err(tampered("the watermark is not the terminal's signature over this settlement", i.regions))
        }
        Extraction::Read(i) if !i.authentic() => {
            Err(tampered(&format!("feature value {} above the threshold {}", i.feature, i.threshold), i.regions))
        }
        Extraction::Read(_) => Ok(VerifiedSettlement { slip, bytes: opened.payload, hash, certificate: cert }),
    }
}

#[cfg(test)]
mod tests;
