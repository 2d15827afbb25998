//! The original of a void, refund or completion as a CBOR map (transaction key 17 of a
//! version 3 record, and key 17 of the QR claims): integer keys 0 receipt id, 1 batch,
//! 2 voucher, 3 RRN, 4 authorisation code, 5 date (`YYYY-MM-DD`); absent parts left out.

use std::str::FromStr;

use ciborium::Value;

use super::{text, uint, EncodingError, MapBuilder, MapReader};
use crate::model::{BatchNo, ModelError, OriginalRef, VoucherNo};

pub(crate) fn value(o: &OriginalRef) -> Value {
    MapBuilder::new()
        .put(0, o.receipt_id.as_ref().map(|r| text(r.as_str())))
        .put(1, o.batch.map(|b| uint(b.value().into())))
        .put(2, o.voucher.map(|v| uint(v.value().into())))
        .put(3, o.rrn.as_ref().map(|r| text(r.as_str())))
        .put(4, o.auth_code.as_ref().map(|a| text(a.as_str())))
        .put(5, text(&o.date_text()))
        .build()
}

pub(crate) fn decode(v: &Value) -> Result<OriginalRef, EncodingError> {
    let m = MapReader::new(v, "original")?;
    Ok(OriginalRef {
        receipt_id: parsed(&m, 0, "original.receipt_id")?,
        batch: number(&m, 1, "original.batch", BatchNo::new)?,
        voucher: number(&m, 2, "original.voucher", VoucherNo::new)?,
        rrn: parsed(&m, 3, "original.rrn")?,
        auth_code: parsed(&m, 4, "original.auth_code")?,
        date: OriginalRef::parse_date(m.text(5, "original.date")?)?,
    })
}

/// An optional text part parsed as `T`, errors naming `name`.
fn parsed<T: FromStr<Err = ModelError>>(
    m: &MapReader<'_>,
    key: u64,
    name: &'static str,
) -> Result<Option<T>, EncodingError> {
    match m.opt(key) {
        None => Ok(None),
        Some(_) => Ok(Some(m.text(key, name)?.parse().map_err(|e: ModelError| e.of_field(name))?)),
    }
}

/// An optional six-digit part made by `make`, errors naming `name`.
fn number<T>(
    m: &MapReader<'_>,
    key: u64,
    name: &'static str,
    make: fn(u32) -> Result<T, ModelError>,
) -> Result<Option<T>, EncodingError> {
    match m.opt(key) {
        None => Ok(None),
        Some(_) => Ok(Some(make(m.int_as(key, name)?).map_err(|e| e.of_field(name))?)),
    }
}
