//! Packing an ISO 8583 message to and from bytes under a [`Layout`]: MTI as BCD, primary
//! bitmap, fields in ascending order, no trailing bytes.

mod error;
mod message;

pub use error::{CodecError, Part};
pub use message::{FieldValue, Message, Mti};

use zeroize::Zeroizing;

use super::bitmap::Bitmap;
use super::layout::{Align, FieldSpec, Kind, Layout, LengthType};

/// Packs `msg`: MTI (2 bytes BCD), bitmap (8 bytes), then each field as `layout` says.
pub fn pack(msg: &Message, layout: &Layout) -> Result<Vec<u8>, CodecError> {
    let mut specs = Vec::new();
    for n in msg.field_numbers() {
        let spec = layout.get(n).ok_or(CodecError::NotInLayout { at: Part::Field(n) })?;
        specs.push(spec);
    }
    let bitmap = Bitmap::from_fields(msg.field_numbers())?;
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(&msg.mti.to_bcd());
    out.extend_from_slice(&bitmap.to_bytes());
    for ((n, value), spec) in msg.fields().zip(specs) {
        pack_field(&mut out, n, spec, value)?;
    }
    Ok(out)
}

fn pack_field(out: &mut Vec<u8>, n: u8, spec: &FieldSpec, value: &FieldValue) -> Result<(), CodecError> {
    let at = Part::Field(n);
    let data: &[u8] = match (spec.kind, value) {
        (Kind::N | Kind::Z, FieldValue::Digits(s)) => {
            let track = spec.kind == Kind::Z;
            if let Some(position) = s.bytes().position(|c| !(c.is_ascii_digit() || track && c == b'=')) {
                return Err(CodecError::BadDigit { at, position });
            }
            s.as_bytes()
        }
        (Kind::An | Kind::Ans, FieldValue::Text(s)) => {
            if let Some(position) = s.bytes().position(|c| !is_printable(c)) {
                return Err(CodecError::BadChar { at, position });
            }
            s.as_bytes()
        }
        (Kind::B, FieldValue::Bytes(b)) => b,
        (kind, v) => {
            let want = match kind {
                Kind::N | Kind::Z => "digits",
                Kind::An | Kind::Ans => "text",
                Kind::B => "bytes",
            };
            return Err(CodecError::WrongType { at, want, got: v.kind_name() });
        }
    };
    let (len, max, unit) = (data.len(), usize::from(spec.max), spec.kind.unit());
    match spec.length {
        LengthType::Fixed if len != max => return Err(CodecError::WrongLength { at, expected: max, got: len, unit }),
        LengthType::Ll | LengthType::Lll if len > max => return Err(CodecError::TooLong { at, max, got: len, unit }),
        LengthType::Fixed => {}
        // max <= 99 / 999 is guaranteed by `Layout::set`, so the prefix always fits.
        LengthType::Ll => out.push(bcd_byte(len % 100)),
        LengthType::Lll => out.extend_from_slice(&[bcd_byte(len / 100 % 100), bcd_byte(len % 100)]),
    }
    if spec.kind.is_bcd() {
        pack_nibbles(out, data, spec.align, spec.pad);
    } else {
        out.extend_from_slice(data);
    }
    Ok(())
}

fn is_printable(c: u8) -> bool {
    (0x20..=0x7E).contains(&c)
}

fn bcd_byte(v: usize) -> u8 {
    // v < 100: callers pass `% 100`.
    ((v / 10) as u8) << 4 | (v % 10) as u8
}

/// Writes already checked digits (`=` becomes nibble D), padding an odd count with `pad`.
fn pack_nibbles(out: &mut Vec<u8>, digits: &[u8], align: Align, pad: u8) {
    let nibble = |c: u8| if c == b'=' { 0xD } else { c - b'0' };
    let odd = digits.len() % 2 == 1;
    let mut iter = digits.iter().map(|c| nibble(*c));
    if odd && align == Align::Right {
        let first = iter.next().unwrap_or(0);
        out.push(pad << 4 | first);
    }
    while let Some(hi) = iter.next() {
        let lo = iter.next().unwrap_or(pad);
        out.push(hi << 4 | lo);
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, need: usize, at: Part) -> Result<&'a [u8], CodecError> {
        let have = self.buf.len() - self.pos;
        if need > have {
            return Err(CodecError::Truncated { at, need, have });
        }
        let out = &self.buf[self.pos..self.pos + need];
        self.pos += need;
        Ok(out)
    }
}

/// Unpacks a whole message body (from the MTI on); bytes after the last field are refused.
pub fn unpack(bytes: &[u8], layout: &Layout) -> Result<Message, CodecError> {
    let mut r = Reader { buf: bytes, pos: 0 };
    let mti = r.take(2, Part::Mti)?;
    let mti = Mti::from_bcd([mti[0], mti[1]])?;
    let mut map = [0u8; 8];
    map.copy_from_slice(r.take(8, Part::Bitmap)?);
    let bitmap = Bitmap::from_bytes(map)?;
    let mut msg = Message::new(mti);
    for n in bitmap.fields() {
        let at = Part::Field(n);
        let spec = layout.get(n).ok_or(CodecError::NotInLayout { at })?;
        let value = unpack_field(&mut r, at, spec)?;
        msg.set(n, value);
    }
    match bytes.len() - r.pos {
        0 => Ok(msg),
        left => Err(CodecError::TrailingBytes(left)),
    }
}

fn unpack_field(r: &mut Reader<'_>, at: Part, spec: &FieldSpec) -> Result<FieldValue, CodecError> {
    let max = usize::from(spec.max);
    let len = match spec.length {
        LengthType::Fixed => max,
        LengthType::Ll => read_prefix(r.take(1, at)?, at)?,
        LengthType::Lll => read_prefix(r.take(2, at)?, at)?,
    };
    if len > max {
        let unit = spec.kind.unit();
        return Err(CodecError::TooLong { at, max, got: len, unit });
    }
    match spec.kind {
        Kind::N | Kind::Z => {
            let data = r.take(len.div_ceil(2), at)?;
            // Nibble index of the first digit: a right-aligned odd field starts with the pad.
            let skip = usize::from(len % 2 == 1 && spec.align == Align::Right);
            let mut digits = Zeroizing::new(String::with_capacity(len));
            for position in 0..len {
                let i = position + skip;
                let byte = data[i / 2];
                let nibble = if i % 2 == 0 { byte >> 4 } else { byte & 0xF };
                match nibble {
                    0..=9 => digits.push(char::from(b'0' + nibble)),
                    0xD if spec.kind == Kind::Z => digits.push('='),
                    _ => return Err(CodecError::BadDigit { at, position }),
                }
            }
            Ok(FieldValue::Digits(std::mem::take(&mut *digits)))
        }
        Kind::An | Kind::Ans => {
            let data = r.take(len, at)?;
            if let Some(position) = data.iter().position(|c| !is_printable(*c)) {
                return Err(CodecError::BadChar { at, position });
            }
            Ok(FieldValue::Text(data.iter().map(|c| char::from(*c)).collect()))
        }
        Kind::B => Ok(FieldValue::Bytes(r.take(len, at)?.to_vec())),
    }
}

fn read_prefix(bytes: &[u8], at: Part) -> Result<usize, CodecError> {
    let mut v = 0usize;
    for b in bytes {
        let (hi, lo) = (b >> 4, b & 0xF);
        if hi > 9 || lo > 9 {
            return Err(CodecError::BadLengthPrefix { at });
        }
        v = v * 100 + usize::from(hi) * 10 + usize::from(lo);
    }
    Ok(v)
}

#[cfg(test)]
mod tests;
