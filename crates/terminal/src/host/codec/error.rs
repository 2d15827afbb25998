//! What can go wrong packing or unpacking an ISO 8583 message, named by part (MTI, bitmap,
//! field number and name) and never quoting a field's value.

use std::fmt;

use super::super::bitmap::BitmapError;
use super::super::layout::field_name;

/// Where in a message something went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The message type indicator.
    Mti,
    /// The primary bitmap.
    Bitmap,
    /// A data field, by number.
    Field(u8),
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Part::Mti => f.write_str("MTI"),
            Part::Bitmap => f.write_str("bitmap"),
            Part::Field(n) => write!(f, "field {n} ({})", field_name(*n)),
        }
    }
}

/// Why a message could not be packed or unpacked. Never carries a field's value: only its
/// number, name, lengths and positions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The bytes end before the part is complete.
    #[error("{at}: truncated, needs {need} bytes, {have} left")]
    Truncated {
        /// The part being read.
        at: Part,
        /// Bytes it needs.
        need: usize,
        /// Bytes left.
        have: usize,
    },
    /// A variable field (or its length prefix) is longer than the layout allows.
    #[error("{at}: {got} {unit}, the layout allows at most {max}")]
    TooLong {
        /// The field.
        at: Part,
        /// The layout's maximum.
        max: usize,
        /// The length found.
        got: usize,
        /// "digits" or "bytes".
        unit: &'static str,
    },
    /// A fixed field of the wrong length.
    #[error("{at}: {got} {unit}, the layout wants exactly {expected}")]
    WrongLength {
        /// The field.
        at: Part,
        /// The layout's length.
        expected: usize,
        /// The length given.
        got: usize,
        /// "digits" or "bytes".
        unit: &'static str,
    },
    /// A character (packing) or nibble (unpacking) that is not a digit (or `=` in track data).
    #[error("{at}: not a digit at position {position}")]
    BadDigit {
        /// The field.
        at: Part,
        /// 0-based position in the field's digits.
        position: usize,
    },
    /// A text field with a byte outside printable ASCII.
    #[error("{at}: not printable ASCII at position {position}")]
    BadChar {
        /// The field.
        at: Part,
        /// 0-based byte position.
        position: usize,
    },
    /// The length prefix is not BCD.
    #[error("{at}: the length prefix is not BCD")]
    BadLengthPrefix {
        /// The field.
        at: Part,
    },
    /// A field present in the message (or bitmap) that the layout does not define.
    #[error("{at}: not in the layout")]
    NotInLayout {
        /// The field.
        at: Part,
    },
    /// A value of the wrong type for the field (e.g. text for a BCD field).
    #[error("{at}: the layout wants {want}, the message holds {got}")]
    WrongType {
        /// The field.
        at: Part,
        /// The kind the layout wants.
        want: &'static str,
        /// The kind the message holds.
        got: &'static str,
    },
    /// Bytes left over after the last field.
    #[error("{0} bytes after the last field")]
    TrailingBytes(usize),
    /// The MTI is not 4 decimal digits.
    #[error("MTI: not 4 BCD digits")]
    BadMti,
    /// The bitmap is unusable.
    #[error("bitmap: {0}")]
    Bitmap(#[from] BitmapError),
}

impl CodecError {
    /// The part of the message the error is about, if it is about one.
    pub fn part(&self) -> Option<Part> {
        use CodecError::*;
        match self {
            Truncated { at, .. } | TooLong { at, .. } | WrongLength { at, .. } => Some(*at),
            BadDigit { at, .. } | BadChar { at, .. } | BadLengthPrefix { at } => Some(*at),
            NotInLayout { at } | WrongType { at, .. } => Some(*at),
            BadMti => Some(Part::Mti),
            Bitmap(_) => Some(Part::Bitmap),
            TrailingBytes(_) => None,
        }
    }
}
