//! The canonical encoding of a settlement slip, in the receipt record's CBOR rules: a map with
//! 0 version, 1 the text `SETTLEMENT` (no receipt record has text under key 1 that says so, and
//! none decodes as a slip), 2 terminal, 3 batch, 4 operator, 5 and 6 the first and last
//! transaction `[utc, offset]` (absent for an empty batch), 7 settled at `[utc, offset]`,
//! 8 lines `[[kind, brand, currency, count, total], ...]`, 9 the host's answer `{0: domestic
//! balanced, 1: foreign balanced}`. Only canonical bytes decode.

use ciborium::Value;

use super::{as_int, decode_terminal, from_bytes, int, terminal_value, text, to_bytes, uint, EncodingError};
use super::{MapBuilder, MapReader};
use crate::card::CardBrand;
use crate::model::{BatchNo, HostAnswer, LocalTime, SettlementLine, SettlementSlip, SlipParts};

/// Version of the settlement slip layout.
pub const SETTLEMENT_VERSION: u64 = 1;
/// What key 1 of a settlement slip says.
const MARK: &str = "SETTLEMENT";

/// Canonical bytes of a settlement slip.
pub fn encode_settlement(s: &SettlementSlip) -> Vec<u8> {
    let time = |t: LocalTime| Value::Array(vec![int(t.utc_seconds()), int(t.offset_minutes().into())]);
    let lines = s
        .lines()
        .iter()
        .map(|l| {
            Value::Array(vec![
                text(l.kind.code()),
                text(l.brand.code()),
                text(l.currency.code()),
                uint(l.count),
                uint(l.total_minor),
            ])
        })
        .collect();
    let host = MapBuilder::new()
        .put(0, Value::Bool(s.host.domestic_balanced))
        .put(1, Value::Bool(s.host.foreign_balanced))
        .build();
    to_bytes(
        &MapBuilder::new()
            .put(0, uint(SETTLEMENT_VERSION))
            .put(1, text(MARK))
            .put(2, terminal_value(&s.terminal))
            .put(3, uint(s.batch.value().into()))
            .put(4, text(s.operator.as_str()))
            .put(5, s.first.map(time))
            .put(6, s.last.map(time))
            .put(7, time(s.settled_at))
            .put(8, Value::Array(lines))
            .put(9, host)
            .build(),
    )
}

/// Decodes canonical settlement bytes, checking every field; bytes that decode but are not
/// the canonical encoding of what they hold are refused, so one slip has one hash.
pub fn decode_settlement(bytes: &[u8]) -> Result<SettlementSlip, EncodingError> {
    let v = from_bytes(bytes)?;
    let m = MapReader::new(&v, "settlement")?;
    let version: u64 = m.int_as(0, "version")?;
    if version != SETTLEMENT_VERSION {
        return Err(EncodingError::Version(version));
    }
    if m.text(1, "settlement.mark")? != MARK {
        return Err(EncodingError::Field("settlement.mark"));
    }
    let time = |key: u64, name: &'static str| -> Result<Option<LocalTime>, EncodingError> {
        let Some(t) = m.opt(key) else { return Ok(None) };
        let a = t.as_array().filter(|a| a.len() == 2).ok_or(EncodingError::Field(name))?;
        let n = |i: usize| as_int(&a[i]).ok_or(EncodingError::Field(name));
        let utc = i64::try_from(n(0)?).map_err(|_| EncodingError::Field(name))?;
        let offset = i16::try_from(n(1)?).map_err(|_| EncodingError::Field(name))?;
        Ok(Some(LocalTime::new(utc, offset)?))
    };
    let raw_lines = m.get(8, "settlement.lines")?.as_array().ok_or(EncodingError::Field("settlement.lines"))?;
    let mut lines = Vec::with_capacity(raw_lines.len());
    for l in raw_lines {
        let bad = || EncodingError::Field("settlement.lines");
        let a = l.as_array().filter(|a| a.len() == 5).ok_or_else(bad)?;
        let t = |i: usize| a[i].as_text().ok_or_else(bad);
        let n = |i: usize| as_int(&a[i]).and_then(|n| u64::try_from(n).ok()).ok_or_else(bad);
        lines.push(SettlementLine {
            kind: t(0)?.parse()?,
            brand: CardBrand::from_code(t(1)?).ok_or_else(bad)?,
            currency: t(2)?.parse()?,
            count: n(3)?,
            total_minor: n(4)?,
        });
    }
    let host = MapReader::new(m.get(9, "settlement.host")?, "settlement.host")?;
    let flag = |key: u64, name: &'static str| host.get(key, name)?.as_bool().ok_or(EncodingError::Field(name));
    let parts = SlipParts {
        terminal: decode_terminal(m.get(2, "settlement.terminal")?)?,
        batch: BatchNo::new(m.int_as(3, "settlement.batch")?)?,
        operator: m.text(4, "settlement.operator")?.parse()?,
        first: time(5, "settlement.first")?,
        last: time(6, "settlement.last")?,
        settled_at: time(7, "settlement.settled_at")?.ok_or(EncodingError::Field("settlement.settled_at"))?,
        host: HostAnswer {
            domestic_balanced: flag(0, "settlement.host.domestic")?,
            foreign_balanced: flag(1, "settlement.host.foreign")?,
        },
    };
    let slip = SettlementSlip::new(parts, lines)?;
    if encode_settlement(&slip) != bytes {
        return Err(EncodingError::Field("settlement (not in canonical form)"));
    }
    Ok(slip)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{LineTally, Money, TerminalInfo, TransactionType};

    pub(crate) fn sample() -> SettlementSlip {
        let cny = "CNY".parse().unwrap();
        let usd = "USD".parse().unwrap();
        let mut tally = LineTally::default();
        for (kind, brand, minor, currency) in [
            (TransactionType::Sale, CardBrand::UnionPay, 51000, cny),
            (TransactionType::Sale, CardBrand::UnionPay, 51000, cny),
            (TransactionType::Sale, CardBrand::Visa, 2000, usd),
            (TransactionType::Void, CardBrand::UnionPay, 51000, cny),
            (TransactionType::Refund, CardBrand::Visa, 500, usd),
            (TransactionType::PreAuth, CardBrand::Mastercard, 30000, cny),
            (TransactionType::PreAuthCompletion, CardBrand::Mastercard, 31000, cny),
        ] {
            tally.add(kind, brand, Money::new(minor, currency).unwrap());
        }
        let parts = SlipParts {
            terminal: TerminalInfo {
                terminal_id: "POS00001".parse().unwrap(),
                merchant_id: "898440358120001".parse().unwrap(),
                merchant_name: "上海便利店".parse().unwrap(),
                location: "上海市浦东新区".parse().unwrap(),
            },
            batch: "000001".parse().unwrap(),
            operator: "01".parse().unwrap(),
            first: Some("2026-11-25T09:00:00+08:00".parse().unwrap()),
            last: Some("2026-11-25T17:30:00+08:00".parse().unwrap()),
            settled_at: "2026-11-25T18:00:00+08:00".parse().unwrap(),
            host: HostAnswer { domestic_balanced: true, foreign_balanced: true },
        };
        SettlementSlip::new(parts, tally.into_lines()).unwrap()
    }

    #[test]
    fn a_slip_round_trips_and_its_totals_add_up() {
        let slip = sample();
        let bytes = encode_settlement(&slip);
        assert_eq!(decode_settlement(&bytes).unwrap(), slip);
        let cny = "CNY".parse().unwrap();
        assert_eq!(slip.kind_total(TransactionType::Sale, cny).0, 2);
        // 2 × 510.00 + 310.00 completion − 510.00 void; the pre-authorisation moves nothing.
        assert_eq!(slip.net_total(cny).minor(), 82000);
        assert_eq!(slip.net_total("USD".parse().unwrap()).minor(), 1500);
        assert_eq!(slip.lines()[0].kind, TransactionType::Sale, "canonical order: kinds first");
    }

    #[test]
    fn other_bytes_are_refused() {
        let bytes = encode_settlement(&sample());
        // A receipt record is not a settlement.
        let receipt = to_bytes(&MapBuilder::new().put(0, uint(2)).put(1, text("POS00001-000001-000001")).build());
        assert!(decode_settlement(&receipt).is_err());
        // Every truncation is refused, and a changed count is still canonical but another slip.
        for n in 0..bytes.len() {
            assert!(decode_settlement(&bytes[..n]).is_err(), "prefix of {n}");
        }
        let mut more = bytes.clone();
        more.push(0);
        assert!(decode_settlement(&more).is_err(), "trailing bytes");
    }
}
