//! The two facts of EXIF (a TIFF structure) that change what viewers show: the orientation tag
//! of IFD0, by which they rotate or mirror the image, and an IFD1, which holds a thumbnail that
//! file browsers and mail clients show instead of the image.

/// What IFD0 says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Exif {
    /// The orientation tag (0x0112), if present.
    pub orientation: Option<u16>,
    /// IFD0 links to a next IFD (IFD1: the thumbnail).
    pub thumbnail: bool,
}

/// IFD0 has at most this many entries in any file we accept (cameras write about 12).
const MAX_ENTRIES: usize = 512;
const ORIENTATION: u16 = 0x0112;
const SHORT: u16 = 3;

/// Parses a TIFF header and IFD0; `None` when it cannot be read (bad byte order, offsets out of
/// range), since a verifier cannot then know what viewers make of it.
pub(super) fn parse(tiff: &[u8]) -> Option<Exif> {
    let big = match tiff.get(0..4)? {
        b"MM\0*" => true,
        b"II*\0" => false,
        _ => return None,
    };
    let u16_at = |i: usize| -> Option<u16> {
        let b = tiff.get(i..i + 2)?;
        Some(if big { u16::from_be_bytes([b[0], b[1]]) } else { u16::from_le_bytes([b[0], b[1]]) })
    };
    let u32_at = |i: usize| -> Option<u32> {
        let b = tiff.get(i..i + 4)?;
        let a = [b[0], b[1], b[2], b[3]];
        Some(if big { u32::from_be_bytes(a) } else { u32::from_le_bytes(a) })
    };
    let ifd0 = u32_at(4)? as usize;
    let count = usize::from(u16_at(ifd0)?);
    if count > MAX_ENTRIES {
        return None;
    }
    let mut orientation = None;
    for e in 0..count {
        let at = ifd0 + 2 + 12 * e;
        if u16_at(at)? == ORIENTATION {
            // A SHORT (or anything else, which readers coerce): the value sits in the entry.
            let value = if u16_at(at + 2)? == SHORT { u16_at(at + 8)? } else { u32_at(at + 8)? as u16 };
            // A second orientation entry that disagrees counts as not 1.
            orientation = match orientation {
                Some(prev) if prev != value => Some(if prev == 1 { value } else { prev }),
                _ => Some(value),
            };
        }
    }
    let next = u32_at(ifd0 + 2 + 12 * count)? as usize;
    if next != 0 && next + 2 > tiff.len() {
        return None;
    }
    Some(Exif { orientation, thumbnail: next != 0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A little- or big-endian TIFF with the given IFD0 entries (tag, type, value) and an
    /// optional IFD1.
    pub(crate) fn tiff(big: bool, entries: &[(u16, u16, u32)], ifd1: bool) -> Vec<u8> {
        let w16 = |v: u16| if big { v.to_be_bytes() } else { v.to_le_bytes() };
        let w32 = |v: u32| if big { v.to_be_bytes() } else { v.to_le_bytes() };
        let mut t = if big { b"MM\0*".to_vec() } else { b"II*\0".to_vec() };
        t.extend_from_slice(&w32(8));
        t.extend_from_slice(&w16(entries.len() as u16));
        for &(tag, ty, value) in entries {
            t.extend_from_slice(&w16(tag));
            t.extend_from_slice(&w16(ty));
            t.extend_from_slice(&w32(1));
            if ty == SHORT {
                t.extend_from_slice(&w16(value as u16));
                t.extend_from_slice(&[0, 0]);
            } else {
                t.extend_from_slice(&w32(value));
            }
        }
        let next = if ifd1 { t.len() as u32 + 4 } else { 0 };
        t.extend_from_slice(&w32(next));
        if ifd1 {
            t.extend_from_slice(&w16(0));
            t.extend_from_slice(&w32(0));
        }
        t
    }

    #[test]
    fn reads_orientation_and_thumbnail_in_both_byte_orders() {
        for big in [false, true] {
            let t = tiff(big, &[(0x010f, 2, 0), (ORIENTATION, SHORT, 6)], true);
            assert_eq!(parse(&t), Some(Exif { orientation: Some(6), thumbnail: true }));
            let t = tiff(big, &[(ORIENTATION, SHORT, 1)], false);
            assert_eq!(parse(&t), Some(Exif { orientation: Some(1), thumbnail: false }));
        }
        assert_eq!(parse(b"XX*\0\0\0\0\0"), None);
        let mut t = tiff(false, &[], false);
        t.truncate(9);
        assert_eq!(parse(&t), None);
    }
}
