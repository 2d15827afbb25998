//! The signed, offline-verifiable summary of a receipt carried in its QR code, built the way EU
//! digital COVID certificates are: CBOR claims → COSE_Sign1 (EdDSA, with the terminal's X.509
//! certificate in the protected `x5chain` header) → zlib → Base45 behind the prefix `ER1:`.
//! A phone camera and the platform's CA certificate suffice to check it.

use std::io::{Read, Write};

use ciborium::Value;
use coset::{iana, CborSerializable, CoseSign1, CoseSign1Builder, HeaderBuilder, TaggedCborSerializable};

use crate::encoding::{int, text, uint, EncodingError, MapBuilder, MapReader};
use crate::identity::{CertError, PosCertificate, Signer};
use crate::model::{
    AuthCode, Authorisation, BatchNo, Currency, LocalTime, MerchantId, MerchantName, Money, OriginalRef, ReceiptId,
    ReceiptRecord, Rrn, Stan, TerminalId, TransactionType,
};

/// The prefix that marks an ereceipt QR payload, version 1.
pub const PREFIX: &str = "ER1:";
/// COSE header label of `x5chain` (RFC 9360).
const X5CHAIN: i64 = 33;
/// Decompressed payloads larger than this are refused (zip-bomb guard).
const MAX_INFLATED: u64 = 16 * 1024;

/// Why a QR payload cannot be read or trusted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClaimsError {
    /// The text does not start with the ereceipt prefix.
    #[error("not an ereceipt QR payload of this kind (receipts start {PREFIX}, settlement slips ES1:)")]
    Prefix,
    /// Base45, zlib or COSE framing is broken.
    #[error("QR payload is damaged: {0}")]
    Framing(String),
    /// The claims inside do not decode.
    #[error("QR claims: {0}")]
    Claims(EncodingError),
    /// The embedded certificate is unusable.
    #[error("QR certificate: {0}")]
    Certificate(CertError),
    /// The COSE signature does not verify with the embedded certificate.
    #[error("the QR payload's signature does not verify with the certificate it carries")]
    Signature,
}

// The wrapped errors are shown in the message, so they are not also exposed as `source()`:
// a caller printing the whole chain would say every cause twice.
impl From<EncodingError> for ClaimsError {
    fn from(e: EncodingError) -> Self {
        Self::Claims(e)
    }
}

impl From<CertError> for ClaimsError {
    fn from(e: CertError) -> Self {
        Self::Certificate(e)
    }
}

/// What the QR code states about the sale. The card appears only as its last 4 digits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceiptClaims {
    pub id: ReceiptId,
    pub terminal_id: TerminalId,
    pub merchant_id: MerchantId,
    pub merchant_name: MerchantName,
    pub serial: Stan,
    pub batch: BatchNo,
    pub kind: TransactionType,
    pub amount: Money,
    pub time: LocalTime,
    pub pan_last4: String,
    pub rrn: Rrn,
    pub auth_code: AuthCode,
    /// SHA-256 of the full canonical record (signature strokes, certificate, location...).
    pub record_hash: [u8; 32],
    /// Who approved the sale (key 16; absent, and so [`Authorisation::Unstated`], in the QR
    /// codes of version 1 records).
    pub authorisation: Authorisation,
    /// What a void, refund or completion refers to (key 17, the record's map of it), so an
    /// offline verifier sees "REFUND of RRN …"; absent on a sale and a pre-authorisation.
    pub original: Option<OriginalRef>,
}

impl ReceiptClaims {
    pub fn of(record: &ReceiptRecord, record_hash: [u8; 32]) -> Self {
        let t = &record.transaction;
        Self {
            id: record.id.clone(),
            terminal_id: record.terminal.terminal_id.clone(),
            merchant_id: record.terminal.merchant_id.clone(),
            merchant_name: record.terminal.merchant_name.clone(),
            serial: t.serial,
            batch: t.batch,
            kind: t.kind,
            amount: t.amount,
            time: t.time,
            pan_last4: t.card.masked_pan.last4().to_owned(),
            rrn: t.rrn.clone(),
            auth_code: t.auth_code.clone(),
            record_hash,
            authorisation: t.authorisation,
            original: t.original.clone(),
        }
    }

    fn to_value(&self) -> Value {
        MapBuilder::new()
            .put(1, text(self.id.as_str()))
            .put(2, text(self.terminal_id.as_str()))
            .put(3, text(self.merchant_id.as_str()))
            .put(4, text(self.merchant_name.as_str()))
            .put(5, uint(self.serial.value().into()))
            .put(6, uint(self.batch.value().into()))
            .put(7, text(self.kind.code()))
            .put(8, uint(self.amount.minor()))
            .put(9, text(self.amount.currency().code()))
            .put(10, int(self.time.utc_seconds()))
            .put(11, int(self.time.offset_minutes().into()))
            .put(12, text(&self.pan_last4))
            .put(13, text(self.rrn.as_str()))
            .put(14, text(self.auth_code.as_str()))
            .put(15, Value::Bytes(self.record_hash.to_vec()))
            .put(16, self.authorisation.code().map(text))
            .put(17, self.original.as_ref().map(crate::encoding::original::value))
            .build()
    }

    fn from_value(v: &Value) -> Result<Self, EncodingError> {
        let m = MapReader::new(v, "claims")?;
        let currency: Currency = m.text(9, "currency")?.parse()?;
        let last4 = m.text(12, "pan_last4")?;
        if last4.len() != 4 || !last4.bytes().all(|b| b.is_ascii_digit()) {
            return Err(EncodingError::Field("pan_last4"));
        }
        Ok(Self {
            id: m.text(1, "id")?.parse()?,
            terminal_id: m.text(2, "terminal_id")?.parse()?,
            merchant_id: m.text(3, "merchant_id")?.parse()?,
            merchant_name: m.text(4, "merchant_name")?.parse()?,
            serial: Stan::new(m.int_as(5, "serial")?)?,
            batch: BatchNo::new(m.int_as(6, "batch")?)?,
            kind: m.text(7, "type")?.parse()?,
            amount: Money::new(m.int_as(8, "amount")?, currency)?,
            time: LocalTime::new(m.int_as(10, "time")?, m.int_as(11, "offset")?)?,
            pan_last4: last4.to_owned(),
            rrn: m.text(13, "rrn")?.parse()?,
            auth_code: m.text(14, "auth_code")?.parse()?,
            record_hash: m.bytes(15, "record_hash")?.try_into().map_err(|_| EncodingError::Field("record_hash"))?,
            authorisation: match m.opt(16) {
                None => Authorisation::Unstated,
                Some(v) => {
                    v.as_text().and_then(Authorisation::from_code).ok_or(EncodingError::Field("authorisation"))?
                }
            },
            original: m.opt(17).map(crate::encoding::original::decode).transpose()?,
        })
    }
}

/// Claims whose COSE signature verified against the certificate they carry. The certificate
/// itself still has to be checked against a trusted CA.
#[derive(Clone, Debug)]
pub struct SignedClaims {
    pub claims: ReceiptClaims,
    pub certificate: PosCertificate,
    /// The COSE_Sign1 bytes as carried.
    pub cose: Vec<u8>,
}

/// Signs the claims and returns the QR text (`ER1:` + Base45).
pub fn seal(claims: &ReceiptClaims, signer: &Signer) -> Result<String, ClaimsError> {
    seal_payload(&crate::encoding::to_bytes(&claims.to_value()), signer, &RECEIPT_DOMAIN)
}

/// Decodes QR text and verifies its COSE signature with the certificate it carries.
pub fn open(qr_text: &str) -> Result<SignedClaims, ClaimsError> {
    let opened = open_payload(qr_text, &RECEIPT_DOMAIN)?;
    let claims = ReceiptClaims::from_value(&crate::encoding::from_bytes(&opened.payload)?)?;
    Ok(SignedClaims { claims, certificate: opened.certificate, cose: opened.cose })
}

/// What a signed QR payload is of: its text prefix and the COSE external data its signature
/// also covers. Receipts sign with none (as they always have), other documents with their own
/// name, so a signature made for one kind of document never verifies as another's.
pub(crate) struct Domain {
    pub(crate) prefix: &'static str,
    pub(crate) external_aad: &'static [u8],
}

const RECEIPT_DOMAIN: Domain = Domain { prefix: PREFIX, external_aad: b"" };

/// A COSE payload whose signature verified with the certificate it carries.
pub(crate) struct Opened {
    pub(crate) payload: Vec<u8>,
    pub(crate) certificate: PosCertificate,
    pub(crate) cose: Vec<u8>,
}

/// Signs `payload` as a COSE_Sign1 (EdDSA, the signer's certificate in `x5chain`) of `domain`
/// and returns the QR text: the domain's prefix + Base45 of the zlib-compressed COSE bytes.
pub(crate) fn seal_payload(payload: &[u8], signer: &Signer, domain: &Domain) -> Result<String, ClaimsError> {
    let protected = HeaderBuilder::new()
        .algorithm(iana::Algorithm::EdDSA)
        .value(X5CHAIN, Value::Bytes(signer.certificate().der.clone()))
        .build();
    let sign1 = CoseSign1Builder::new()
        .protected(protected)
        .payload(payload.to_vec())
        .create_signature(domain.external_aad, |tbs| signer.sign(tbs).to_vec())
        .build();
    let cose = sign1.to_tagged_vec().map_err(|e| ClaimsError::Framing(e.to_string()))?;
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(&cose).map_err(|e| ClaimsError::Framing(e.to_string()))?;
    let zipped = z.finish().map_err(|e| ClaimsError::Framing(e.to_string()))?;
    Ok(format!("{}{}", domain.prefix, base45::encode(&zipped)))
}

/// Decodes QR text of `domain` and verifies its COSE signature with the certificate it carries.
pub(crate) fn open_payload(qr_text: &str, domain: &Domain) -> Result<Opened, ClaimsError> {
    let body = qr_text.trim().strip_prefix(domain.prefix).ok_or(ClaimsError::Prefix)?;
    let zipped = base45::decode(body).map_err(|e| ClaimsError::Framing(format!("Base45: {e}")))?;
    let mut cose = Vec::new();
    flate2::read::ZlibDecoder::new(zipped.as_slice())
        .take(MAX_INFLATED + 1)
        .read_to_end(&mut cose)
        .map_err(|e| ClaimsError::Framing(format!("zlib: {e}")))?;
    if cose.len() as u64 > MAX_INFLATED {
        return Err(ClaimsError::Framing("payload too large".into()));
    }
    let sign1 = CoseSign1::from_tagged_slice(&cose)
        .or_else(|_| CoseSign1::from_slice(&cose))
        .map_err(|e| ClaimsError::Framing(format!("COSE_Sign1: {e}")))?;
    if sign1.protected.header.alg != Some(coset::RegisteredLabelWithPrivate::Assigned(iana::Algorithm::EdDSA)) {
        return Err(ClaimsError::Framing("COSE algorithm is not EdDSA".into()));
    }
    let der = sign1
        .protected
        .header
        .rest
        .iter()
        .find(|(l, _)| *l == coset::Label::Int(X5CHAIN))
        .and_then(|(_, v)| v.as_bytes())
        .ok_or_else(|| ClaimsError::Framing("no x5chain certificate in the protected header".into()))?;
    let certificate = PosCertificate::parse(der)?;
    sign1
        .verify_signature(domain.external_aad, |sig, data| certificate.verify(data, sig))
        .map_err(|_| ClaimsError::Signature)?;
    let payload = sign1.payload.ok_or_else(|| ClaimsError::Framing("COSE payload is empty".into()))?;
    Ok(Opened { payload, certificate, cose })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::identity::{create_ca, issue_terminal};
    use crate::model::TerminalInfo;

    fn signer() -> Signer {
        let now = chrono::Utc::now();
        let ca = create_ca("t", now).unwrap();
        let info = TerminalInfo {
            terminal_id: "POS00001".parse().unwrap(),
            merchant_id: "898440358120001".parse().unwrap(),
            merchant_name: "上海便利店".parse().unwrap(),
            location: "上海".parse().unwrap(),
        };
        Signer::new(&issue_terminal(&ca, &info, now, 10).unwrap()).unwrap()
    }

    fn claims(amount: u64) -> ReceiptClaims {
        ReceiptClaims {
            id: "POS00001-000001-000123".parse().unwrap(),
            terminal_id: "POS00001".parse().unwrap(),
            merchant_id: "898440358120001".parse().unwrap(),
            merchant_name: "上海便利店".parse().unwrap(),
            serial: "000123".parse().unwrap(),
            batch: "000001".parse().unwrap(),
            kind: TransactionType::Sale,
            amount: Money::new(amount, "CNY".parse().unwrap()).unwrap(),
            time: "2026-11-25T14:03:11+08:00".parse().unwrap(),
            pan_last4: "3446".into(),
            rrn: "332914567890".parse().unwrap(),
            auth_code: "A1B2C3".parse().unwrap(),
            record_hash: [7; 32],
            authorisation: Authorisation::Simulated,
            original: None,
        }
    }

    /// A refund's claims, naming all of its original.
    fn refund_claims() -> ReceiptClaims {
        ReceiptClaims {
            kind: TransactionType::Refund,
            original: Some(OriginalRef {
                receipt_id: Some("POS00001-000001-000042".parse().unwrap()),
                batch: Some("000001".parse().unwrap()),
                voucher: Some("000042".parse().unwrap()),
                rrn: Some("332914500042".parse().unwrap()),
                auth_code: Some("Z9Y8X7".parse().unwrap()),
                date: chrono::NaiveDate::from_ymd_opt(2026, 11, 24).unwrap(),
            }),
            ..claims(12850)
        }
    }

    #[test]
    fn seal_then_open_gives_the_claims_and_the_signer() {
        let s = signer();
        let text = seal(&claims(12850), &s).unwrap();
        assert!(text.starts_with(PREFIX));
        assert!(text.len() < 1400, "fits a QR code comfortably: {}", text.len());
        let opened = open(&text).unwrap();
        assert_eq!(opened.claims, claims(12850));
        assert_eq!(opened.certificate, *s.certificate());
    }

    #[test]
    fn the_original_travels_in_the_qr_and_a_sale_carries_none() {
        let s = signer();
        let refund = refund_claims();
        let text = seal(&refund, &s).unwrap();
        assert!(text.len() < 1400, "fits a QR code comfortably: {}", text.len());
        assert_eq!(open(&text).unwrap().claims, refund);
        let sale = crate::encoding::to_bytes(&claims(12850).to_value());
        let m = crate::encoding::from_bytes(&sale).unwrap();
        assert!(MapReader::new(&m, "claims").unwrap().opt(17).is_none(), "a sale's claims are as they were");
        let partial = ReceiptClaims {
            original: refund.original.clone().map(|o| OriginalRef { receipt_id: None, batch: None, ..o }),
            ..refund.clone()
        };
        assert_eq!(open(&seal(&partial, &s).unwrap()).unwrap().claims, partial);
    }

    #[test]
    fn a_payload_with_other_claims_under_the_old_signature_is_refused() {
        let s = signer();
        let good = open(&seal(&claims(12850), &s).unwrap()).unwrap();
        let mut sign1 = CoseSign1::from_tagged_slice(&good.cose).unwrap();
        sign1.payload = Some(crate::encoding::to_bytes(&claims(99_999_999).to_value()));
        let forged = sign1.to_tagged_vec().unwrap();
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(&forged).unwrap();
        let text = format!("{PREFIX}{}", base45::encode(z.finish().unwrap()));
        assert!(matches!(open(&text), Err(ClaimsError::Signature)));
    }

    #[test]
    fn framing_errors_are_named() {
        assert!(matches!(open("HC1:ABC"), Err(ClaimsError::Prefix)));
        assert!(matches!(open("ER1:!!"), Err(ClaimsError::Framing(_))));
        assert!(matches!(open(&format!("{PREFIX}{}", base45::encode(b"not zlib"))), Err(ClaimsError::Framing(_))));
    }

    proptest! {
        #[test]
        fn open_never_panics_on_arbitrary_text(s in ".{0,300}") {
            let _ = open(&s);
            let _ = open(&format!("{PREFIX}{s}"));
        }

        #[test]
        fn open_never_panics_on_arbitrary_compressed_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            z.write_all(&bytes).unwrap();
            let text = format!("{PREFIX}{}", base45::encode(z.finish().unwrap()));
            prop_assert!(open(&text).is_err());
        }
    }
}
