//! Output of MagTek MagneSafe V5 / DynaMag encrypting readers in keyboard-emulation mode
//! (security level 3 and up): masked tracks in the clear, then `|`-separated fields with the
//! TDES-DUKPT encrypted tracks and the key serial number.
//!
//! Source: MagTek, *MagneSafe V5 Communication Reference Manual*, part 99875475 (rev. 10,
//! Nov. 2012), "Card Data (KB and other models)": with the default field separator P35 = `|`
//! and terminator P34 = CR the reader types
//!
//! ```text
//! [masked tk1 %…?][masked tk2 ;…?][masked tk3 ;…? or +…?]
//! |[Reader Encryption Status]|[Tk1 Encrypted]|[Tk2 Encrypted]|[Tk3 Encrypted]
//! |[MagnePrint Status]|[Encrypted MagnePrint]|[Device Serial Number]|[Encrypted Session ID]
//! |[DUKPT Key Serial Number]|[Encryption Counter (optional, off by default)]
//! |[Clear Text CRC]|[Encrypted CRC]|[Format Code]<CR>
//! ```
//!
//! so 13 fields, or 14 with the encryption counter. Binary fields are upper-case hex; the
//! reader encryption status is 2 bytes, least significant first (bit 0 DUKPT keys exhausted,
//! bit 1 initial DUKPT key injected, bit 2 encryption enabled; a working reader sends `0600`).
//! The manual warns that a reader without a key or with encryption off sends the "encrypted"
//! fields *in the clear as hex*, so the status is checked and such output refused. Public
//! gateway test fixtures (e.g. Active Merchant's Mercury encrypted-swipe test) show the same
//! 13-field layout, and Payflow's MagTek parameters (ENCTRACK1/2, KSN, MPSTATUS, ENCMP,
//! DEVICESN) map onto its fields.
//!
//! Masking (ISO Track Mask property 0x07, manual p. 31; Appendix E): the PAN keeps N leading
//! and M trailing digits, the rest is the mask character; the name and expiry date are sent
//! in the clear, the service code and discretionary data masked. The factory default
//! `04040Y` reveals only 4 leading digits and masks with `0` plus a Luhn-correcting digit,
//! which cannot be told apart from real digits. Readers for ereceipt must therefore be set to
//! reveal the first 6 and last 4 digits: `0604*N` (recommended; this parser then checks the
//! masking) or `06040Y`/`06040N` (all-digit output is read as first 6 + last 4 on trust).

use super::error::{CardError, ReaderField};
use super::fields::{is_valid_track1_name, ExpiryDate, ServiceCode};
use super::pan::{MaskedPan, PAN_LENGTHS};
use super::secret::AuthorisationData;
use super::track::split_swipe;

/// Format id of MagTek MagneSafe V5 keyboard-emulation output in [`AuthorisationData`].
pub const MAGTEK_FORMAT: &str = "magtek-magnesafe-v5-kb";
const READER: &str = "MagTek MagneSafe";
/// Far above the ~900 characters a three-track swipe with MagnePrint produces.
const MAX_LEN: usize = 4096;

/// What an encrypting reader reveals, plus the opaque data for authorisation.
#[derive(Debug)]
pub(crate) struct SredRead {
    pub(crate) masked_pan: MaskedPan,
    pub(crate) expiry: ExpiryDate,
    /// Track 1's name field as on the card, when track 1 was read.
    pub(crate) name: Option<String>,
    /// Only when the reader leaves it unmasked (mask character `V`).
    pub(crate) service_code: Option<ServiceCode>,
    pub(crate) authorisation: AuthorisationData,
}

/// One masked track, already checked.
struct MaskedTrack {
    masked_pan: MaskedPan,
    expiry: ExpiryDate,
    name: Option<String>,
    service_code: Option<ServiceCode>,
}

fn malformed(field: ReaderField) -> CardError {
    CardError::MalformedReaderOutput { reader: READER, field }
}

/// Parses MagTek MagneSafe V5 keyboard-emulation output (see the module docs).
pub(crate) fn parse_magtek(raw: &str) -> Result<SredRead, CardError> {
    if raw.len() > MAX_LEN {
        return Err(malformed(ReaderField::Length));
    }
    let fields: Vec<&str> = raw.trim_end_matches(['\r', '\n']).split('|').collect();
    let (masked, status, enc1, enc2, enc3) = match fields[..] {
        [masked, status, enc1, enc2, enc3, ..] if matches!(fields.len(), 13 | 14) => (masked, status, enc1, enc2, enc3),
        _ => return Err(malformed(ReaderField::FieldCount)),
    };
    check_encryption_status(status)?;

    let tracks = split_swipe(masked).map_err(|_| malformed(ReaderField::MaskedTracks))?;
    let track1 = tracks.track1.map(parse_masked_track1).transpose()?;
    let track2 = tracks.track2.map(parse_masked_track2).transpose()?;

    let ciphertext = block_hex(enc2, track2.is_some(), ReaderField::EncryptedTrack2)?;
    let track1_ciphertext = block_hex(enc1, track1.is_some(), ReaderField::EncryptedTrack1)?;
    block_hex(enc3, false, ReaderField::EncryptedTrack3)?;
    let magneprint_status = optional_hex(fields[5], Some(8), ReaderField::MagnePrintStatus)?;
    let magneprint = hex(fields[6]).ok_or(malformed(ReaderField::MagnePrintData))?;
    let device_serial = fields[7];
    if device_serial.len() > 16 || !device_serial.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(malformed(ReaderField::DeviceSerial));
    }
    optional_hex(fields[8], Some(16), ReaderField::SessionId)?;
    let ksn = match hex(fields[9]) {
        Some(ksn) if ksn.len() == 10 => ksn,
        _ => return Err(malformed(ReaderField::Ksn)),
    };
    let trailer = &fields[10..];
    if let [counter, _, _, _] = trailer {
        if counter.len() > 6 || !counter.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(malformed(ReaderField::EncryptionCounter));
        }
    }
    let [.., clear_crc, encrypted_crc, format_code] = trailer else {
        return Err(malformed(ReaderField::FieldCount));
    };
    optional_hex(clear_crc, Some(4), ReaderField::Crc)?;
    optional_hex(encrypted_crc, Some(16), ReaderField::Crc)?;
    if format_code.len() != 4 || !format_code.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(malformed(ReaderField::FormatCode));
    }

    let main = match (&track1, &track2) {
        (Some(t1), Some(t2)) => {
            if t1.masked_pan != t2.masked_pan {
                return Err(CardError::TracksDisagree { field: "card number" });
            }
            if t1.expiry != t2.expiry {
                return Err(CardError::TracksDisagree { field: "expiry date" });
            }
            t2
        }
        (Some(t), None) | (None, Some(t)) => t,
        (None, None) => return Err(malformed(ReaderField::MaskedTracks)),
    };
    Ok(SredRead {
        masked_pan: main.masked_pan.clone(),
        expiry: main.expiry,
        name: track1.as_ref().and_then(|t| t.name.clone()),
        service_code: track2.as_ref().and_then(|t| t.service_code).or(track1.as_ref().and_then(|t| t.service_code)),
        authorisation: AuthorisationData::Encrypted {
            format: MAGTEK_FORMAT,
            ksn,
            ciphertext,
            track1_ciphertext,
            magneprint,
            magneprint_status,
            device_serial: device_serial.to_owned(),
        },
    })
}

/// Checks the 2-byte reader encryption status (least significant byte first).
fn check_encryption_status(field: &str) -> Result<(), CardError> {
    let bytes = match hex(field) {
        Some(bytes) if bytes.len() == 2 => bytes,
        _ => return Err(malformed(ReaderField::EncryptionStatus)),
    };
    let status = u16::from(bytes[0]) | (u16::from(bytes[1]) << 8);
    let refuse = |reason| Err(CardError::ReaderNotEncrypting { reason });
    if status & 0b001 != 0 {
        return refuse("DUKPT keys exhausted");
    }
    if status & 0b010 == 0 {
        return refuse("no DUKPT key injected");
    }
    if status & 0b100 == 0 {
        return refuse("encryption disabled");
    }
    Ok(())
}

/// `%B<masked PAN>^<NAME>^<YYMM><masked rest>?`
fn parse_masked_track1(segment: &str) -> Result<MaskedTrack, CardError> {
    let body = inner(segment).ok_or(malformed(ReaderField::MaskedTracks))?;
    let rest = body.strip_prefix('B').ok_or(malformed(ReaderField::MaskedTracks))?;
    let (pan, rest) = rest.split_once('^').ok_or(malformed(ReaderField::MaskedTracks))?;
    let (name, rest) = rest.split_once('^').ok_or(malformed(ReaderField::MaskedTracks))?;
    if !is_valid_track1_name(name) {
        return Err(malformed(ReaderField::Name));
    }
    let (expiry, service_code) = masked_expiry_and_service_code(rest)?;
    Ok(MaskedTrack { masked_pan: masked_pan(pan)?, expiry, name: Some(name.to_owned()), service_code })
}

/// `;<masked PAN>=<YYMM><masked rest>?`
fn parse_masked_track2(segment: &str) -> Result<MaskedTrack, CardError> {
    let body = inner(segment).ok_or(malformed(ReaderField::MaskedTracks))?;
    let (pan, rest) = body.split_once('=').ok_or(malformed(ReaderField::MaskedTracks))?;
    let (expiry, service_code) = masked_expiry_and_service_code(rest)?;
    Ok(MaskedTrack { masked_pan: masked_pan(pan)?, expiry, name: None, service_code })
}

/// The segment between its one-character start sentinel and its end sentinel.
fn inner(segment: &str) -> Option<&str> {
    segment.get(1..)?.strip_suffix('?')
}

fn masked_expiry_and_service_code(rest: &str) -> Result<(ExpiryDate, Option<ServiceCode>), CardError> {
    let expiry = rest.get(..4).and_then(ExpiryDate::from_yymm).ok_or(malformed(ReaderField::Expiry))?;
    // Masked to the mask character unless the reader is set to send it; a masked `000` or
    // `***` is simply not a valid service code.
    let service_code = rest.get(4..7).and_then(|sc| sc.parse().ok());
    Ok((expiry, service_code))
}

/// A masked PAN: digits with one mask character in the middle, or all digits (mask `0`).
fn masked_pan(pan: &str) -> Result<MaskedPan, CardError> {
    if !PAN_LENGTHS.contains(&pan.len()) || !pan.is_ascii() {
        return Err(malformed(ReaderField::MaskedPan));
    }
    let bytes = pan.as_bytes();
    let leading = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    let trailing = bytes.iter().rev().take_while(|b| b.is_ascii_digit()).count();
    if leading < pan.len() {
        let middle = &bytes[leading..pan.len() - trailing];
        let mask = middle[0];
        if !middle.iter().all(|b| *b == mask) || !mask.is_ascii_graphic() {
            return Err(malformed(ReaderField::MaskedPan));
        }
        if leading < 6 || trailing < 4 {
            return Err(malformed(ReaderField::PanMasking));
        }
    }
    let len = u8::try_from(pan.len()).map_err(|_| malformed(ReaderField::MaskedPan))?;
    // The reader shows six leading digits; a short card number keeps fewer (pan::kept_leading).
    MaskedPan::new(&pan[..6], &pan[pan.len() - 4..], len)
        .map(|m| MaskedPan::reduced(m.bin(), m.last4(), m.len()))
        .map_err(|_| malformed(ReaderField::MaskedPan))
}

/// Even-length hex, upper or lower case; `None` if not hex.
fn hex(field: &str) -> Option<Vec<u8>> {
    if !field.len().is_multiple_of(2) || !field.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    field
        .as_bytes()
        .chunks(2)
        .map(|pair| {
            let text = std::str::from_utf8(pair).ok()?;
            u8::from_str_radix(text, 16).ok()
        })
        .collect()
}

/// Cipher text in whole 8-byte blocks; must be non-empty when `required`.
fn block_hex(field: &str, required: bool, which: ReaderField) -> Result<Vec<u8>, CardError> {
    match hex(field) {
        Some(bytes) if bytes.len() % 8 == 0 && (!required || !bytes.is_empty()) => Ok(bytes),
        _ => Err(malformed(which)),
    }
}

/// Empty, or hex of exactly `len` characters when given; returned as sent.
fn optional_hex(field: &str, len: Option<usize>, which: ReaderField) -> Result<String, CardError> {
    let right_len = field.is_empty() || len.is_none_or(|len| field.len() == len);
    if right_len && field.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(field.to_owned())
    } else {
        Err(malformed(which))
    }
}

#[cfg(test)]
#[path = "sred_tests.rs"]
mod tests;
