//! How each ISO 8583 field is written on the wire (format, length, prefix, padding), as data,
//! with the built-in "unionpay" profile; a later settings loader can override single fields.

use std::fmt;

use super::bitmap::{FIRST_FIELD, LAST_FIELD};

/// Fields whose content is card data or key material: never shown, whatever the layout says.
/// 62 carries the working keys in a sign-in answer.
pub const ALWAYS_SENSITIVE: [u8; 7] = [2, 35, 36, 45, 52, 55, 62];

/// Whether `field` is in [`ALWAYS_SENSITIVE`].
pub fn always_sensitive(field: u8) -> bool {
    ALWAYS_SENSITIVE.contains(&field)
}

/// The content type of a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Digits, packed BCD.
    N,
    /// Track data: digits and `=` (nibble D), packed BCD.
    Z,
    /// Alphanumeric ASCII. Accepted as printable ASCII, as hosts pad with spaces.
    An,
    /// Alphanumeric and special ASCII (printable, space included).
    Ans,
    /// Raw bytes.
    B,
}

impl Kind {
    /// Whether the field is packed as BCD nibbles (its length counts digits).
    pub fn is_bcd(self) -> bool {
        matches!(self, Kind::N | Kind::Z)
    }

    /// The unit lengths of this kind are counted in.
    pub fn unit(self) -> &'static str {
        if self.is_bcd() {
            "digits"
        } else {
            "bytes"
        }
    }
}

/// Fixed length, or a variable length with a BCD length prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LengthType {
    /// Always exactly `max` long.
    Fixed,
    /// 1-byte BCD prefix (00..99).
    Ll,
    /// 2-byte BCD prefix (0000..0999).
    Lll,
}

/// Where an odd number of digits sits in its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Digits first, the pad nibble last.
    Left,
    /// The pad nibble first, digits last.
    Right,
}

/// One field's wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpec {
    /// Content type.
    pub kind: Kind,
    /// Fixed or LL/LLL variable.
    pub length: LengthType,
    /// The exact (fixed) or largest (variable) length, in digits for n/z, bytes otherwise.
    pub max: u16,
    /// Alignment of an odd number of digits (n/z only).
    pub align: Align,
    /// The pad nibble (0x0 or 0xF) for an odd number of digits; ignored when reading.
    pub pad: u8,
    /// Redacted in Debug and never quoted in errors (forced on for [`ALWAYS_SENSITIVE`]).
    pub sensitive: bool,
}

impl FieldSpec {
    /// A BCD field, left-aligned with pad 0.
    pub const fn n(length: LengthType, max: u16) -> Self {
        Self::new(Kind::N, length, max)
    }

    /// A field of `kind` with left alignment, pad 0, not sensitive.
    pub const fn new(kind: Kind, length: LengthType, max: u16) -> Self {
        FieldSpec { kind, length, max, align: Align::Left, pad: 0, sensitive: false }
    }

    /// The same spec with a different alignment and pad nibble.
    pub const fn padded(mut self, align: Align, pad: u8) -> Self {
        self.align = align;
        self.pad = pad;
        self
    }
}

/// A layout that cannot be spoken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LayoutError {
    /// Field number outside 2..=64.
    #[error("field {0} is outside 2..=64")]
    FieldNumber(u8),
    /// The maximum does not fit the length prefix (99 for LL, 999 for LLL) or is 0.
    #[error("field {field} ({name}): maximum {max} does not fit its length type {length:?}")]
    MaxLength {
        /// The field number.
        field: u8,
        /// The field's name.
        name: &'static str,
        /// The configured maximum.
        max: u16,
        /// The configured length type.
        length: LengthType,
    },
    /// A pad nibble other than 0x0..=0xF.
    #[error("field {field} ({name}): pad {pad:#x} is not a nibble")]
    Pad {
        /// The field number.
        field: u8,
        /// The field's name.
        name: &'static str,
        /// The configured pad.
        pad: u8,
    },
}

/// The wire format of every field a profile speaks (fields 2..=64).
#[derive(Clone, PartialEq, Eq)]
pub struct Layout {
    fields: [Option<FieldSpec>; 65],
}

impl Layout {
    /// A layout with no field defined.
    pub fn empty() -> Self {
        Layout { fields: [None; 65] }
    }

    /// The "unionpay" profile of the wire profile table (session 21).
    pub fn unionpay() -> Self {
        use Kind::*;
        use LengthType::*;
        let table: [(u8, FieldSpec); 31] = [
            (2, FieldSpec::n(Ll, 19).padded(Align::Left, 0xF)),
            (3, FieldSpec::n(Fixed, 6)),
            (4, FieldSpec::n(Fixed, 12)),
            (11, FieldSpec::n(Fixed, 6)),
            (12, FieldSpec::n(Fixed, 6)),
            (13, FieldSpec::n(Fixed, 4)),
            (14, FieldSpec::n(Fixed, 4)),
            (15, FieldSpec::n(Fixed, 4)),
            (22, FieldSpec::n(Fixed, 3)),
            (23, FieldSpec::n(Fixed, 3).padded(Align::Right, 0)),
            (25, FieldSpec::n(Fixed, 2)),
            (26, FieldSpec::n(Fixed, 2)),
            (32, FieldSpec::n(Ll, 11)),
            (35, FieldSpec::new(Z, Ll, 37)),
            (36, FieldSpec::new(Z, Lll, 104)),
            (37, FieldSpec::new(An, Fixed, 12)),
            (38, FieldSpec::new(An, Fixed, 6)),
            (39, FieldSpec::new(An, Fixed, 2)),
            (41, FieldSpec::new(Ans, Fixed, 8)),
            (42, FieldSpec::new(Ans, Fixed, 15)),
            (44, FieldSpec::new(An, Ll, 25)),
            (48, FieldSpec::n(Lll, 322)),
            (49, FieldSpec::new(An, Fixed, 3)),
            (52, FieldSpec::new(B, Fixed, 8)),
            (53, FieldSpec::n(Fixed, 16)),
            (55, FieldSpec::new(B, Lll, 255)),
            (60, FieldSpec::n(Lll, 17)),
            (61, FieldSpec::n(Lll, 29)),
            (62, FieldSpec::new(B, Lll, 512)),
            (63, FieldSpec::new(Ans, Lll, 163)),
            (64, FieldSpec::new(B, Fixed, 8)),
        ];
        let mut layout = Layout::empty();
        for (field, spec) in table {
            // The table above is fixed and valid; a failure would be a bug caught by tests.
            let _ = layout.set(field, spec);
        }
        layout
    }

    /// Defines or replaces `field`; the sensitive flag is forced on for [`ALWAYS_SENSITIVE`].
    pub fn set(&mut self, field: u8, mut spec: FieldSpec) -> Result<(), LayoutError> {
        if !(FIRST_FIELD..=LAST_FIELD).contains(&field) {
            return Err(LayoutError::FieldNumber(field));
        }
        let limit = match spec.length {
            LengthType::Fixed => 999,
            LengthType::Ll => 99,
            LengthType::Lll => 999,
        };
        if spec.max == 0 || spec.max > limit {
            return Err(LayoutError::MaxLength { field, name: field_name(field), max: spec.max, length: spec.length });
        }
        if spec.pad > 0xF {
            return Err(LayoutError::Pad { field, name: field_name(field), pad: spec.pad });
        }
        spec.sensitive |= always_sensitive(field);
        self.fields[usize::from(field)] = Some(spec);
        Ok(())
    }

    /// Removes `field` from the layout (a message carrying it is then refused).
    pub fn remove(&mut self, field: u8) {
        if let Some(slot) = self.fields.get_mut(usize::from(field)) {
            *slot = None;
        }
    }

    /// The spec of `field`, if the layout defines it.
    pub fn get(&self, field: u8) -> Option<&FieldSpec> {
        self.fields.get(usize::from(field)).and_then(Option::as_ref)
    }

    /// Whether `field` must be redacted: forced, or flagged by the layout.
    pub fn is_sensitive(&self, field: u8) -> bool {
        always_sensitive(field) || self.get(field).is_some_and(|s| s.sensitive)
    }

    /// The defined fields in ascending order.
    pub fn fields(&self) -> impl Iterator<Item = (u8, &FieldSpec)> + '_ {
        (FIRST_FIELD..=LAST_FIELD).filter_map(|f| self.get(f).map(|s| (f, s)))
    }
}

impl fmt::Debug for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.fields()).finish()
    }
}

/// The ISO 8583:1987 name of a field, with the UnionPay meaning where it differs.
pub fn field_name(field: u8) -> &'static str {
    const NAMES: [&str; 65] = [
        "MTI",
        "bitmap",
        "PAN",
        "processing code",
        "amount",
        "settlement amount",
        "billing amount",
        "transmission time",
        "billing fee",
        "settlement rate",
        "billing rate",
        "trace",
        "local time",
        "local date",
        "expiry",
        "settlement date",
        "conversion date",
        "capture date",
        "merchant type",
        "acquirer country",
        "PAN country",
        "forwarding country",
        "entry mode",
        "card sequence",
        "network id",
        "condition code",
        "PIN capture",
        "authorisation id length",
        "transaction fee",
        "settlement fee",
        "processing fee",
        "settlement processing fee",
        "acquirer id",
        "forwarding id",
        "extended PAN",
        "track 2",
        "track 3",
        "RRN",
        "auth code",
        "response code",
        "service restriction",
        "terminal id",
        "merchant id",
        "card acceptor name",
        "additional response",
        "track 1",
        "additional data ISO",
        "additional data national",
        "additional data",
        "currency",
        "settlement currency",
        "billing currency",
        "PIN block",
        "security control",
        "additional amounts",
        "ICC data",
        "reserved ISO 56",
        "reserved national 57",
        "reserved national 58",
        "reserved national 59",
        "reserved 60",
        "original data",
        "reserved 62",
        "reserved 63",
        "MAC",
    ];
    NAMES.get(usize::from(field)).copied().unwrap_or("unknown")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unionpay_has_the_profile_fields_and_forces_sensitivity() {
        let l = Layout::unionpay();
        for f in [2, 3, 4, 11, 12, 13, 14, 15, 22, 23, 25, 26, 32, 35, 36, 37, 38, 39, 41, 42] {
            assert!(l.get(f).is_some(), "field {f}");
        }
        for f in [44, 48, 49, 52, 53, 55, 60, 61, 62, 63, 64] {
            assert!(l.get(f).is_some(), "field {f}");
        }
        for f in ALWAYS_SENSITIVE {
            assert!(l.is_sensitive(f), "field {f}");
        }
        assert!(!l.is_sensitive(4));
        let pan = l.get(2).expect("PAN");
        assert_eq!((pan.length, pan.max, pan.pad), (LengthType::Ll, 19, 0xF));
        assert_eq!(l.get(23).expect("23").align, Align::Right);
        assert_eq!(l.get(62).expect("62").max, 512);
    }

    #[test]
    fn set_refuses_impossible_specs_and_cannot_unflag_card_data() {
        let mut l = Layout::empty();
        assert_eq!(l.set(1, FieldSpec::n(LengthType::Fixed, 2)), Err(LayoutError::FieldNumber(1)));
        assert!(l.set(2, FieldSpec::n(LengthType::Ll, 100)).is_err());
        assert!(l.set(2, FieldSpec::n(LengthType::Lll, 1000)).is_err());
        assert!(l.set(2, FieldSpec::n(LengthType::Fixed, 0)).is_err());
        assert!(l.set(2, FieldSpec::n(LengthType::Ll, 19).padded(Align::Left, 0x10)).is_err());
        l.set(35, FieldSpec::new(Kind::Z, LengthType::Ll, 37)).expect("valid");
        assert!(l.get(35).expect("35").sensitive);
        assert_eq!(field_name(35), "track 2");
        assert_eq!(field_name(64), "MAC");
        assert_eq!(field_name(99), "unknown");
    }
}
