//! An ISO 8583 message as values: the MTI and the fields present, with typed accessors and a
//! `Debug` that shows card data (PAN, tracks, PIN block, ICC data, keys) by length only.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use zeroize::Zeroize;

use super::super::layout::{always_sensitive, Layout};
use super::CodecError;

/// A message type indicator: 4 decimal digits such as `0200`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mti([u8; 4]);

impl Mti {
    /// Parses 4 ASCII digits.
    pub fn new(mti: &str) -> Result<Self, CodecError> {
        let bytes: [u8; 4] = mti.as_bytes().try_into().map_err(|_| CodecError::BadMti)?;
        if !bytes.iter().all(u8::is_ascii_digit) {
            return Err(CodecError::BadMti);
        }
        Ok(Mti(bytes))
    }

    /// The 4 digits.
    pub fn as_str(&self) -> &str {
        // Only ever built from ASCII digits.
        std::str::from_utf8(&self.0).unwrap_or("????")
    }

    pub(super) fn to_bcd(self) -> [u8; 2] {
        let d = self.0.map(|c| c - b'0');
        [d[0] << 4 | d[1], d[2] << 4 | d[3]]
    }

    pub(super) fn from_bcd(bytes: [u8; 2]) -> Result<Self, CodecError> {
        let nibbles = [bytes[0] >> 4, bytes[0] & 0xF, bytes[1] >> 4, bytes[1] & 0xF];
        if nibbles.iter().any(|n| *n > 9) {
            return Err(CodecError::BadMti);
        }
        Ok(Mti(nibbles.map(|n| n + b'0')))
    }
}

impl FromStr for Mti {
    type Err = CodecError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Mti::new(s)
    }
}

impl fmt::Display for Mti {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Mti {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One field's value. Zeroized on drop; `Debug` shows only its kind and length, since the value
/// alone does not know whether it is card data.
#[derive(Clone, PartialEq, Eq)]
pub enum FieldValue {
    /// n or z fields: ASCII digits (and `=` for track data).
    Digits(String),
    /// an / ans fields.
    Text(String),
    /// b fields.
    Bytes(Vec<u8>),
}

impl FieldValue {
    pub(super) fn kind_name(&self) -> &'static str {
        match self {
            FieldValue::Digits(_) => "digits",
            FieldValue::Text(_) => "text",
            FieldValue::Bytes(_) => "bytes",
        }
    }

    fn redacted(&self) -> String {
        match self {
            FieldValue::Digits(s) => format!("<redacted, {} digits>", s.len()),
            FieldValue::Text(s) => format!("<redacted, {} chars>", s.len()),
            FieldValue::Bytes(b) => format!("<redacted, {} bytes>", b.len()),
        }
    }
}

impl Drop for FieldValue {
    fn drop(&mut self) {
        match self {
            FieldValue::Digits(s) | FieldValue::Text(s) => s.zeroize(),
            FieldValue::Bytes(b) => b.zeroize(),
        }
    }
}

impl fmt::Debug for FieldValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// An ISO 8583 message: MTI and the fields present, by number.
#[derive(Clone, PartialEq, Eq)]
pub struct Message {
    /// The message type.
    pub mti: Mti,
    fields: BTreeMap<u8, FieldValue>,
}

impl Message {
    /// A message with no fields.
    pub fn new(mti: Mti) -> Self {
        Message { mti, fields: BTreeMap::new() }
    }

    /// Sets `field` to `value`, replacing any earlier value.
    pub fn set(&mut self, field: u8, value: FieldValue) -> &mut Self {
        self.fields.insert(field, value);
        self
    }

    /// Sets an n/z field (digits, and `=` for track data). Checked when packed.
    pub fn set_digits(&mut self, field: u8, digits: impl Into<String>) -> &mut Self {
        self.set(field, FieldValue::Digits(digits.into()))
    }

    /// Sets an an/ans field. Checked when packed.
    pub fn set_text(&mut self, field: u8, text: impl Into<String>) -> &mut Self {
        self.set(field, FieldValue::Text(text.into()))
    }

    /// Sets a b field.
    pub fn set_bytes(&mut self, field: u8, bytes: impl Into<Vec<u8>>) -> &mut Self {
        self.set(field, FieldValue::Bytes(bytes.into()))
    }

    /// The value of `field`, if present.
    pub fn get(&self, field: u8) -> Option<&FieldValue> {
        self.fields.get(&field)
    }

    /// The digits of an n/z field (None if absent or of another kind).
    pub fn digits(&self, field: u8) -> Option<&str> {
        match self.get(field)? {
            FieldValue::Digits(s) => Some(s),
            _ => None,
        }
    }

    /// The text of an an/ans field (None if absent or of another kind).
    pub fn text(&self, field: u8) -> Option<&str> {
        match self.get(field)? {
            FieldValue::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The bytes of a b field (None if absent or of another kind).
    pub fn bytes(&self, field: u8) -> Option<&[u8]> {
        match self.get(field)? {
            FieldValue::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// Whether `field` is present.
    pub fn contains(&self, field: u8) -> bool {
        self.fields.contains_key(&field)
    }

    /// Removes `field`, returning its value.
    pub fn remove(&mut self, field: u8) -> Option<FieldValue> {
        self.fields.remove(&field)
    }

    /// The present fields with their values, ascending.
    pub fn fields(&self) -> impl Iterator<Item = (u8, &FieldValue)> + '_ {
        self.fields.iter().map(|(n, v)| (*n, v))
    }

    /// The present field numbers, ascending.
    pub fn field_numbers(&self) -> impl Iterator<Item = u8> + '_ {
        self.fields.keys().copied()
    }

    /// A `Debug` view that also redacts the fields `layout` flags as sensitive.
    pub fn debug_with<'a>(&'a self, layout: &'a Layout) -> impl fmt::Debug + 'a {
        Redacted { msg: self, layout: Some(layout) }
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Redacted { msg: self, layout: None }.fmt(f)
    }
}

struct Redacted<'a> {
    msg: &'a Message,
    layout: Option<&'a Layout>,
}

impl fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Shown(String);
        impl fmt::Debug for Shown {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        let mut map = f.debug_map();
        map.entry(&"mti", &self.msg.mti);
        for (n, v) in &self.msg.fields {
            let sensitive = always_sensitive(*n) || self.layout.is_some_and(|l| l.is_sensitive(*n));
            let shown = match v {
                _ if sensitive => v.redacted(),
                FieldValue::Digits(s) | FieldValue::Text(s) => format!("{s:?}"),
                FieldValue::Bytes(b) => hex::encode_upper(b),
            };
            map.entry(n, &Shown(shown));
        }
        map.finish()
    }
}
