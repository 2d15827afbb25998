//! Errors of card capture. Every message is one line for a cashier or developer and is built
//! only from static text and small numbers, so it can never carry a PAN or track contents.

use std::fmt;

/// Why a card read was refused. No variant holds card data: they hold static names, the
/// expiry month (allowed on a refusal so the cashier can tell the customer) and lengths.
#[non_exhaustive]
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum CardError {
    /// Track 1 (`%B…^NAME^YYMM…?`) is not in ISO/IEC 7813 format B; `part` says where.
    #[error("malformed track 1: {part}")]
    MalformedTrack1 {
        /// The part of the track that is wrong.
        part: TrackPart,
    },
    /// Track 2 (`;PAN=YYMM…?`) is not in ISO/IEC 7813 format; `part` says where.
    #[error("malformed track 2: {part}")]
    MalformedTrack2 {
        /// The part of the track that is wrong.
        part: TrackPart,
    },
    /// A raw keyboard-wedge swipe could not be split into tracks.
    #[error("malformed swipe: {reason}")]
    MalformedSwipe {
        /// What was wrong, in a few words.
        reason: &'static str,
    },
    /// The reader delivered no readable track (empty input, or every track reported as `E`).
    #[error("no readable track in the card read; swipe the card again")]
    NoTrackData,
    /// Track 1 and track 2 name a different card.
    #[error("track 1 and track 2 disagree on the {field}; swipe the card again")]
    TracksDisagree {
        /// `"card number"` or `"expiry date"`.
        field: &'static str,
    },
    /// The card number fails the Luhn (mod 10) check: misread or not a payment card.
    #[error("card number fails the Luhn check; swipe the card again")]
    LuhnCheckFailed,
    /// The card's last valid month is before the transaction date.
    #[error("card expired at the end of {year:04}-{month:02}")]
    CardExpired {
        /// Full year of the last valid month.
        year: u16,
        /// Last valid month, 1–12.
        month: u8,
    },
    /// The three-digit service code breaks the ISO/IEC 7813 value rules.
    #[error("invalid service code: {reason}")]
    InvalidServiceCode {
        /// Which digit is wrong.
        reason: &'static str,
    },
    /// The service code marks a chip card and the policy does not allow magnetic-stripe fallback.
    #[error("chip card swiped: insert the card into the chip reader (magnetic-stripe fallback is not allowed)")]
    ChipCardSwiped,
    /// Clear track data arrived while the policy only accepts encrypting readers.
    #[error("clear card data is only accepted in test-card mode; use an encrypting reader")]
    ClearTrackRefused,
    /// The encrypting reader's output does not follow its documented format; `field` says where.
    #[error("malformed {reader} reader output: {field}")]
    MalformedReaderOutput {
        /// Human name of the reader format, e.g. `"MagTek MagneSafe"`.
        reader: &'static str,
        /// The field that is wrong.
        field: ReaderField,
    },
    /// The encrypting reader says it did not encrypt (no DUKPT key, encryption off, or keys used up).
    #[error("the card reader is not encrypting ({reason}); have the reader serviced")]
    ReaderNotEncrypting {
        /// What the reader's status reports.
        reason: &'static str,
    },
    /// The `reader` named in the card object is not one this module understands.
    #[error("unsupported card reader format (supported: \"magtek\")")]
    UnsupportedReader,
    /// The card object is empty.
    #[error("the card object is empty; expected track1/track2, swipe, or reader+data")]
    EmptyCardObject,
    /// The card object has a key this module does not know. The key is not repeated, since a
    /// misbehaving client could have put card data there.
    #[error("the card object has an unknown key; expected track1/track2, swipe, or reader+data")]
    UnknownCardKey,
    /// The card object is not of one of the accepted shapes.
    #[error("invalid card object: {reason}")]
    InvalidCardObject {
        /// What is wrong with its shape.
        reason: &'static str,
    },
    /// A stored masked card number could not be decoded.
    #[error("invalid masked card number: {reason}")]
    InvalidMaskedPan {
        /// What is wrong.
        reason: &'static str,
    },
}

/// The part of a magnetic track that failed to parse.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackPart {
    /// Start sentinel (`%` or `;`), end sentinel (`?`) or text after the end sentinel.
    Sentinel,
    /// Track 1 format code, which must be `B` for payment cards.
    FormatCode,
    /// A field separator (`^` on track 1, `=` on track 2) is missing.
    Separator,
    /// The card number is not 12 to 19 digits.
    Pan,
    /// The cardholder name is longer than 26 characters or has characters outside track 1's set.
    Name,
    /// The expiry date is not YYMM with a month from 01 to 12.
    Expiry,
    /// The service code is not three digits.
    ServiceCode,
    /// The discretionary data has characters the track cannot hold.
    DiscretionaryData,
    /// The track is longer than ISO/IEC 7813 allows (79 characters on track 1, 40 on track 2).
    Length,
}

impl fmt::Display for TrackPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TrackPart::Sentinel => "start or end sentinel",
            TrackPart::FormatCode => "format code is not B",
            TrackPart::Separator => "missing field separator",
            TrackPart::Pan => "card number is not 12 to 19 digits",
            TrackPart::Name => "cardholder name is too long or has invalid characters",
            TrackPart::Expiry => "expiry date is not YYMM",
            TrackPart::ServiceCode => "service code is not 3 digits",
            TrackPart::DiscretionaryData => "discretionary data has invalid characters",
            TrackPart::Length => "track is longer than ISO/IEC 7813 allows",
        })
    }
}

/// The field of an encrypting reader's output that failed to parse.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReaderField {
    /// The output does not have the documented number of `|`-separated fields.
    FieldCount,
    /// The masked tracks at the start hold no readable track, or one is malformed.
    MaskedTracks,
    /// The masked card number is not 12 to 19 characters of digits and one mask character.
    MaskedPan,
    /// The reader does not reveal the first 6 and last 4 digits (see the module docs).
    PanMasking,
    /// The expiry date in the masked track is missing or not YYMM.
    Expiry,
    /// The cardholder name in masked track 1 is malformed.
    Name,
    /// The reader encryption status is not 4 hex digits.
    EncryptionStatus,
    /// Encrypted track 1 is not hex in whole 8-byte blocks, or is missing while track 1 was read.
    EncryptedTrack1,
    /// Encrypted track 2 is not hex in whole 8-byte blocks, or is missing while track 2 was read.
    EncryptedTrack2,
    /// Encrypted track 3 is not hex in whole 8-byte blocks.
    EncryptedTrack3,
    /// The MagnePrint status is not empty or 8 hex digits.
    MagnePrintStatus,
    /// The encrypted MagnePrint data is not hex.
    MagnePrintData,
    /// The device serial number is not up to 16 letters and digits.
    DeviceSerial,
    /// The encrypted session id is not empty or 16 hex digits.
    SessionId,
    /// The DUKPT key serial number is not 20 hex digits (10 bytes).
    Ksn,
    /// The optional encryption counter is not up to 6 hex digits.
    EncryptionCounter,
    /// The clear-text or encrypted CRC is not hex of the documented length.
    Crc,
    /// The format code is not 4 letters or digits.
    FormatCode,
    /// The output is longer than any reader produces.
    Length,
}

impl fmt::Display for ReaderField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ReaderField::FieldCount => "wrong number of |-separated fields",
            ReaderField::MaskedTracks => "masked tracks missing or malformed",
            ReaderField::MaskedPan => "masked card number malformed",
            ReaderField::PanMasking => "reader must reveal the first 6 and last 4 digits of the card number",
            ReaderField::Expiry => "expiry date missing or not YYMM",
            ReaderField::Name => "cardholder name malformed",
            ReaderField::EncryptionStatus => "reader encryption status is not 4 hex digits",
            ReaderField::EncryptedTrack1 => "encrypted track 1 missing or not hex blocks",
            ReaderField::EncryptedTrack2 => "encrypted track 2 missing or not hex blocks",
            ReaderField::EncryptedTrack3 => "encrypted track 3 is not hex blocks",
            ReaderField::MagnePrintStatus => "MagnePrint status is not 8 hex digits",
            ReaderField::MagnePrintData => "MagnePrint data is not hex",
            ReaderField::DeviceSerial => "device serial number malformed",
            ReaderField::SessionId => "encrypted session id is not 16 hex digits",
            ReaderField::Ksn => "key serial number (KSN) is not 20 hex digits",
            ReaderField::EncryptionCounter => "encryption counter is not hex",
            ReaderField::Crc => "CRC is not hex",
            ReaderField::FormatCode => "format code is not 4 characters",
            ReaderField::Length => "output is too long",
        })
    }
}
