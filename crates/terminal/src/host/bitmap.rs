//! The ISO 8583 primary bitmap: which of fields 2..=64 a message carries, as 8 raw bytes.
//! Bit 1 (a secondary bitmap) is refused: the profile speaks 64 fields only.

/// The lowest and highest field number a primary bitmap can announce.
pub const FIRST_FIELD: u8 = 2;
/// See [`FIRST_FIELD`].
pub const LAST_FIELD: u8 = 64;

/// What is wrong with a bitmap.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BitmapError {
    /// Bit 1 is set: the message announces a secondary bitmap (fields 65..=128).
    #[error("bit 1 is set (secondary bitmap), but only fields 2..=64 are spoken")]
    SecondaryBitmap,
    /// A field number outside 2..=64.
    #[error("field {0} cannot be in a primary bitmap (2..=64)")]
    OutOfRange(u8),
}

/// The set of fields present, bit 1 (the most significant bit of the first byte) = field 1.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Bitmap(u64);

impl Bitmap {
    /// No field present.
    pub const EMPTY: Bitmap = Bitmap(0);

    /// The bitmap announcing exactly `fields` (any order, repeats allowed).
    pub fn from_fields(fields: impl IntoIterator<Item = u8>) -> Result<Self, BitmapError> {
        let mut map = Bitmap::EMPTY;
        for field in fields {
            map.insert(field)?;
        }
        Ok(map)
    }

    /// Marks `field` present.
    pub fn insert(&mut self, field: u8) -> Result<(), BitmapError> {
        self.0 |= Self::mask(field)?;
        Ok(())
    }

    /// Whether `field` is present (false for numbers outside 2..=64).
    pub fn contains(&self, field: u8) -> bool {
        Self::mask(field).is_ok_and(|m| self.0 & m != 0)
    }

    /// The present fields in ascending order.
    pub fn fields(&self) -> impl Iterator<Item = u8> + '_ {
        (FIRST_FIELD..=LAST_FIELD).filter(|f| self.contains(*f))
    }

    /// The 8 wire bytes.
    pub fn to_bytes(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }

    /// Reads the 8 wire bytes; bit 1 set is an error.
    pub fn from_bytes(bytes: [u8; 8]) -> Result<Self, BitmapError> {
        let bits = u64::from_be_bytes(bytes);
        if bits & (1 << 63) != 0 {
            return Err(BitmapError::SecondaryBitmap);
        }
        Ok(Bitmap(bits))
    }

    fn mask(field: u8) -> Result<u64, BitmapError> {
        if !(FIRST_FIELD..=LAST_FIELD).contains(&field) {
            return Err(BitmapError::OutOfRange(field));
        }
        Ok(1u64 << (64 - u32::from(field)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(fields: &[u8]) -> [u8; 8] {
        Bitmap::from_fields(fields.iter().copied()).expect("fields in range").to_bytes()
    }

    #[test]
    fn sale_bitmaps_match_hand_computed_bytes() {
        // The plan's §4 sale without 12/13: byte 1 = 3,4 (0x20|0x10); byte 2 = 11 (0x20);
        // byte 3 = 22 (0x04); byte 4 = 25 (0x80); byte 5 = 35 (0x20); byte 6 = 41,42 (0xC0);
        // byte 7 = 49 (0x80); byte 8 = 60 (0x10) | 63 (0x02) | 64 (0x01).
        let plan = [3, 4, 11, 22, 25, 35, 41, 42, 49, 60, 63, 64];
        assert_eq!(map(&plan), [0x30, 0x20, 0x04, 0x80, 0x20, 0xC0, 0x80, 0x13]);
        // A real sale also sends 12 (0x10) and 13 (0x08) in byte 2: 0x20|0x10|0x08 = 0x38.
        let sale = [3, 4, 11, 12, 13, 22, 25, 35, 41, 42, 49, 60, 63, 64];
        assert_eq!(map(&sale), [0x30, 0x38, 0x04, 0x80, 0x20, 0xC0, 0x80, 0x13]);
        // With PAN (2: 0x40) and expiry (14: 0x04).
        let plan_pan = [2, 3, 4, 11, 14, 22, 25, 35, 41, 42, 49, 60, 63, 64];
        assert_eq!(map(&plan_pan), [0x70, 0x24, 0x04, 0x80, 0x20, 0xC0, 0x80, 0x13]);
        // Sign-in 0800: 11 41 42 60 63.
        assert_eq!(map(&[11, 41, 42, 60, 63]), [0x00, 0x20, 0x00, 0x00, 0x00, 0xC0, 0x00, 0x12]);
    }

    #[test]
    fn bytes_round_trip_and_list_fields_in_order() {
        let bytes = [0x30, 0x38, 0x04, 0x80, 0x20, 0xC0, 0x80, 0x13];
        let map = Bitmap::from_bytes(bytes).expect("no bit 1");
        assert_eq!(map.fields().collect::<Vec<_>>(), vec![3, 4, 11, 12, 13, 22, 25, 35, 41, 42, 49, 60, 63, 64]);
        assert_eq!(map.to_bytes(), bytes);
    }

    #[test]
    fn bit_one_and_out_of_range_fields_are_refused() {
        assert_eq!(Bitmap::from_bytes([0x80, 0, 0, 0, 0, 0, 0, 0]), Err(BitmapError::SecondaryBitmap));
        assert_eq!(Bitmap::from_fields([1]), Err(BitmapError::OutOfRange(1)));
        assert_eq!(Bitmap::from_fields([65]), Err(BitmapError::OutOfRange(65)));
        assert!(!Bitmap::EMPTY.contains(0));
    }
}
