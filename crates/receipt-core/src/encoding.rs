//! The canonical, deterministic encoding of a receipt record: CBOR (RFC 8949 §4.2.1 core
//! deterministic encoding: integer map keys in ascending order, shortest integers, definite
//! lengths) and its SHA-256 content hash. The same record always gives the same bytes.

use ciborium::Value;

use crate::card::{CardBrand, CardSummary, EntryMode, MaskedPan};
use crate::model::{
    Authorisation, ChainLink, Currency, LocalTime, Location, ModelError, Money, ReceiptId, ReceiptRecord, TerminalInfo,
    Transaction, TransactionType,
};
use crate::signature::{Signature, SignaturePoint, Stroke};

use crate::digest::sha256;

pub(crate) mod original;
mod settlement;
pub use settlement::{decode_settlement, encode_settlement, SETTLEMENT_VERSION};

/// Version of the record layout; bumped on any incompatible change. Version 2 states who
/// authorised the sale (transaction key 16), so that a reader that cannot tell a simulated sale
/// from a real one refuses the record instead of misreading it. Version 3 names the original
/// of a void, refund or completion (transaction key 17) and can hold a PRE-AUTH, so that a
/// reader that knows neither refuses the record instead of taking it for a sale. Each record
/// is written in the oldest version that holds it: a sale stays version 2, byte for byte, and
/// version 1 and 2 records still decode and re-encode to their own bytes.
pub const RECORD_VERSION: u64 = 3;
/// The version before records stated their authorisation.
const RECORD_VERSION_1: u64 = 1;
/// The version before records named an original.
const RECORD_VERSION_2: u64 = 2;

/// A record that cannot be decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EncodingError {
    /// The bytes are not CBOR.
    #[error("receipt record is not valid CBOR: {0}")]
    Cbor(String),
    /// A required field is absent or has the wrong CBOR type.
    #[error("receipt record: field {0} is missing or has the wrong type")]
    Field(&'static str),
    /// A field is present but its value is not valid.
    #[error("receipt record: {0}")]
    Value(ModelError),
    /// The record was written by a newer version.
    #[error("receipt record version {0} is not supported (this build reads versions 1 to {RECORD_VERSION})")]
    Version(u64),
    /// The record's version cannot hold what it carries (an original before version 3), or
    /// the record is of a version its content is never written in (a plain sale as version 3):
    /// it would not re-encode to its own bytes.
    #[error("receipt record: {what} cannot be in a version {version} record")]
    NotInVersion { what: &'static str, version: u64 },
}

// The wrapped errors are shown in the message, so they are not also exposed as `source()`:
// a caller printing the whole chain would say every cause twice.
impl From<ModelError> for EncodingError {
    fn from(e: ModelError) -> Self {
        Self::Value(e)
    }
}

/// Builds a CBOR map whose integer keys must be given in ascending order; `None` values are
/// left out (optional fields).
pub(crate) struct MapBuilder(Vec<(Value, Value)>);

impl MapBuilder {
    pub(crate) fn new() -> Self {
        Self(Vec::new())
    }
    pub(crate) fn put(mut self, key: u64, value: impl Into<Option<Value>>) -> Self {
        debug_assert!(self.0.last().is_none_or(|(k, _)| k.as_integer() < Some(key.into())));
        if let Some(v) = value.into() {
            self.0.push((Value::Integer(key.into()), v));
        }
        self
    }
    pub(crate) fn build(self) -> Value {
        Value::Map(self.0)
    }
}

pub(crate) fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}
pub(crate) fn uint(n: u64) -> Value {
    Value::Integer(n.into())
}
pub(crate) fn int(n: i64) -> Value {
    Value::Integer(n.into())
}

/// Field access on a decoded map, with errors naming the field.
pub(crate) struct MapReader<'a>(&'a [(Value, Value)]);

impl<'a> MapReader<'a> {
    pub(crate) fn new(v: &'a Value, name: &'static str) -> Result<Self, EncodingError> {
        v.as_map().map(|m| Self(m.as_slice())).ok_or(EncodingError::Field(name))
    }
    pub(crate) fn opt(&self, key: u64) -> Option<&'a Value> {
        self.0.iter().find(|(k, _)| k.as_integer() == Some(key.into())).map(|(_, v)| v)
    }
    pub(crate) fn get(&self, key: u64, name: &'static str) -> Result<&'a Value, EncodingError> {
        self.opt(key).ok_or(EncodingError::Field(name))
    }
    pub(crate) fn text(&self, key: u64, name: &'static str) -> Result<&'a str, EncodingError> {
        self.get(key, name)?.as_text().ok_or(EncodingError::Field(name))
    }
    pub(crate) fn bytes(&self, key: u64, name: &'static str) -> Result<&'a [u8], EncodingError> {
        self.get(key, name)?.as_bytes().map(Vec::as_slice).ok_or(EncodingError::Field(name))
    }
    pub(crate) fn int(&self, key: u64, name: &'static str) -> Result<i128, EncodingError> {
        as_int(self.get(key, name)?).ok_or(EncodingError::Field(name))
    }
    pub(crate) fn int_as<T: TryFrom<i128>>(&self, key: u64, name: &'static str) -> Result<T, EncodingError> {
        T::try_from(self.int(key, name)?).map_err(|_| EncodingError::Field(name))
    }
}

fn as_int(v: &Value) -> Option<i128> {
    v.as_integer().map(i128::from)
}

/// Serialises a CBOR value; the writer is a Vec, so this cannot fail.
pub(crate) fn to_bytes(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing into a Vec<u8> has no I/O error path.
    let _ = ciborium::into_writer(v, &mut out);
    out
}

pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Value, EncodingError> {
    ciborium::from_reader(bytes).map_err(|e| EncodingError::Cbor(e.to_string()))
}

/// Canonical bytes of a record.
pub fn encode_record(r: &ReceiptRecord) -> Vec<u8> {
    to_bytes(&record_value(r))
}

/// SHA-256 of the canonical bytes: the record's content hash.
pub fn record_hash(r: &ReceiptRecord) -> [u8; 32] {
    sha256(&encode_record(r))
}

/// The oldest version that holds `t`: 3 for an original or a PRE-AUTH, else 1 when the
/// authorisation is unstated, else 2. (A VOID, REFUND or COMPLETION without an original is a
/// record of version 1 or 2, made before records named one.)
fn version_of(t: &Transaction) -> u64 {
    if t.original.is_some() || t.kind == TransactionType::PreAuth {
        RECORD_VERSION
    } else if t.authorisation == Authorisation::Unstated {
        RECORD_VERSION_1
    } else {
        RECORD_VERSION_2
    }
}

fn record_value(r: &ReceiptRecord) -> Value {
    MapBuilder::new()
        .put(0, uint(version_of(&r.transaction)))
        .put(1, text(r.id.as_str()))
        .put(2, terminal_value(&r.terminal))
        .put(3, transaction_value(&r.transaction))
        .put(4, signature_value(&r.signature))
        .put(5, Value::Bytes(r.certificate.clone()))
        .put(
            6,
            r.chain
                .as_ref()
                .map(|c| MapBuilder::new().put(0, uint(c.sequence)).put(1, Value::Bytes(c.previous.to_vec())).build()),
        )
        .build()
}

fn terminal_value(t: &TerminalInfo) -> Value {
    MapBuilder::new()
        .put(0, text(t.terminal_id.as_str()))
        .put(1, text(t.merchant_id.as_str()))
        .put(2, text(t.merchant_name.as_str()))
        .put(3, text(t.location.address()))
        .put(4, t.location.coordinates().map(|(a, b)| Value::Array(vec![int(a.into()), int(b.into())])))
        .build()
}

fn transaction_value(t: &Transaction) -> Value {
    MapBuilder::new()
        .put(0, uint(t.serial.value().into()))
        .put(1, uint(t.batch.value().into()))
        .put(2, uint(t.voucher.value().into()))
        .put(3, text(t.kind.code()))
        .put(4, uint(t.amount.minor()))
        .put(5, text(t.amount.currency().code()))
        .put(6, int(t.time.utc_seconds()))
        .put(7, int(t.time.offset_minutes().into()))
        .put(8, text(t.auth_code.as_str()))
        .put(9, text(t.rrn.as_str()))
        .put(10, text(t.operator.as_str()))
        .put(11, text(t.card.brand.code()))
        .put(12, text(&t.card.masked_pan.stored_form()))
        .put(13, text(t.card.entry_mode.code()))
        .put(14, Value::Bool(t.card.encrypted_reader))
        .put(15, t.card.cardholder_name.as_deref().map(text))
        .put(16, t.authorisation.code().map(text))
        .put(17, t.original.as_ref().map(original::value))
        .build()
}

/// Strokes as flat integer arrays `[x, y, t, pressure, x, y, t, pressure, ...]`: compact and
/// exact (the stored units are tenths of a pixel, milliseconds and thousandths).
fn signature_value(s: &Signature) -> Value {
    let strokes = s
        .strokes
        .iter()
        .map(|st| {
            Value::Array(
                st.points
                    .iter()
                    .flat_map(|p| [int(p.x.into()), int(p.y.into()), uint(p.t.into()), uint(p.pressure.into())])
                    .collect(),
            )
        })
        .collect();
    MapBuilder::new().put(0, int(s.started_at_ms)).put(1, Value::Array(strokes)).build()
}

/// Decodes canonical bytes back into a record, checking every field.
pub fn decode_record(bytes: &[u8]) -> Result<ReceiptRecord, EncodingError> {
    let v = from_bytes(bytes)?;
    let m = MapReader::new(&v, "record")?;
    let version: u64 = m.int_as(0, "version")?;
    if !(RECORD_VERSION_1..=RECORD_VERSION).contains(&version) {
        return Err(EncodingError::Version(version));
    }
    let chain = match m.opt(6) {
        None => None,
        Some(c) => {
            let c = MapReader::new(c, "chain")?;
            let prev = c.bytes(1, "chain.previous")?;
            Some(ChainLink {
                sequence: c.int_as(0, "chain.sequence")?,
                previous: prev.try_into().map_err(|_| EncodingError::Field("chain.previous"))?,
            })
        }
    };
    Ok(ReceiptRecord {
        id: m.text(1, "id")?.parse()?,
        terminal: decode_terminal(m.get(2, "terminal")?)?,
        transaction: decode_transaction(m.get(3, "transaction")?, version)?,
        signature: decode_signature(m.get(4, "signature")?)?,
        certificate: m.bytes(5, "certificate")?.to_vec(),
        chain,
    })
}

fn decode_terminal(v: &Value) -> Result<TerminalInfo, EncodingError> {
    let m = MapReader::new(v, "terminal")?;
    let coords = match m.opt(4) {
        None => None,
        Some(c) => {
            let a = c.as_array().filter(|a| a.len() == 2).ok_or(EncodingError::Field("terminal.coordinates"))?;
            let g = |i: usize| {
                as_int(&a[i]).and_then(|n| i32::try_from(n).ok()).ok_or(EncodingError::Field("terminal.coordinates"))
            };
            Some((g(0)?, g(1)?))
        }
    };
    Ok(TerminalInfo {
        terminal_id: m.text(0, "terminal.terminal_id")?.parse()?,
        merchant_id: m.text(1, "terminal.merchant_id")?.parse()?,
        merchant_name: m.text(2, "terminal.merchant_name")?.parse()?,
        location: Location::new(m.text(3, "terminal.location")?, coords)?,
    })
}

/// Decodes the transaction map of a record of `version`, and checks that the version is the
/// one the transaction is written in.
fn decode_transaction(v: &Value, version: u64) -> Result<Transaction, EncodingError> {
    let t = decode_transaction_fields(v, version)?;
    if version == RECORD_VERSION {
        t.check_original()?;
    } else if t.kind == TransactionType::PreAuth {
        return Err(EncodingError::NotInVersion { what: "a PRE-AUTH", version });
    }
    if version_of(&t) != version {
        return Err(EncodingError::NotInVersion { what: "a SALE without an original", version });
    }
    Ok(t)
}

fn decode_transaction_fields(v: &Value, version: u64) -> Result<Transaction, EncodingError> {
    let m = MapReader::new(v, "transaction")?;
    // Version 1 never states it; version 2 always does.
    let authorisation = if version == RECORD_VERSION_1 {
        if m.opt(16).is_some() {
            return Err(EncodingError::Field("transaction.authorisation"));
        }
        Authorisation::Unstated
    } else {
        Authorisation::from_code(m.text(16, "transaction.authorisation")?)
            .ok_or(EncodingError::Field("transaction.authorisation"))?
    };
    let original = match m.opt(17) {
        None => None,
        Some(_) if version < RECORD_VERSION => {
            return Err(EncodingError::NotInVersion { what: "an original (transaction key 17)", version })
        }
        Some(o) => Some(original::decode(o)?),
    };
    let currency: Currency = m.text(5, "transaction.currency")?.parse()?;
    let masked: MaskedPan =
        m.text(12, "transaction.pan").and_then(|s| s.parse().map_err(|_| EncodingError::Field("transaction.pan")))?;
    let card = CardSummary {
        brand: CardBrand::from_code(m.text(11, "transaction.brand")?)
            .ok_or(EncodingError::Field("transaction.brand"))?,
        masked_pan: masked,
        cardholder_name: match m.opt(15) {
            None => None,
            Some(n) => Some(n.as_text().ok_or(EncodingError::Field("transaction.cardholder_name"))?.to_owned()),
        },
        entry_mode: EntryMode::from_code(m.text(13, "transaction.entry_mode")?)
            .ok_or(EncodingError::Field("transaction.entry_mode"))?,
        encrypted_reader: m
            .get(14, "transaction.encrypted_reader")?
            .as_bool()
            .ok_or(EncodingError::Field("transaction.encrypted_reader"))?,
    };
    Ok(Transaction {
        serial: crate::model::Stan::new(m.int_as(0, "transaction.serial")?)?,
        batch: crate::model::BatchNo::new(m.int_as(1, "transaction.batch")?)?,
        voucher: crate::model::VoucherNo::new(m.int_as(2, "transaction.voucher")?)?,
        kind: m.text(3, "transaction.type")?.parse()?,
        amount: Money::new(m.int_as(4, "transaction.amount")?, currency)?,
        time: LocalTime::new(m.int_as(6, "transaction.time")?, m.int_as(7, "transaction.offset")?)?,
        auth_code: m.text(8, "transaction.auth_code")?.parse()?,
        rrn: m.text(9, "transaction.rrn")?.parse()?,
        operator: m.text(10, "transaction.operator")?.parse()?,
        card,
        authorisation,
        original,
    })
}

fn decode_signature(v: &Value) -> Result<Signature, EncodingError> {
    let m = MapReader::new(v, "signature")?;
    let strokes = m.get(1, "signature.strokes")?.as_array().ok_or(EncodingError::Field("signature.strokes"))?;
    let bad = || EncodingError::Field("signature.strokes");
    let mut out = Vec::with_capacity(strokes.len());
    for st in strokes {
        let flat = st.as_array().filter(|a| a.len() % 4 == 0).ok_or_else(bad)?;
        let mut points = Vec::with_capacity(flat.len() / 4);
        for c in flat.chunks_exact(4) {
            let n = |i: usize| as_int(&c[i]).ok_or_else(bad);
            points.push(SignaturePoint {
                x: i32::try_from(n(0)?).map_err(|_| bad())?,
                y: i32::try_from(n(1)?).map_err(|_| bad())?,
                t: u32::try_from(n(2)?).map_err(|_| bad())?,
                pressure: u16::try_from(n(3)?).map_err(|_| bad())?,
            });
        }
        out.push(Stroke { points });
    }
    Ok(Signature { started_at_ms: m.int_as(0, "signature.started_at")?, strokes: out })
}

/// The receipt id a record must carry, derived from its own fields.
pub fn expected_id(r: &ReceiptRecord) -> ReceiptId {
    ReceiptId::derive(&r.terminal.terminal_id, r.transaction.batch, r.transaction.serial)
}

#[cfg(test)]
mod tests;
