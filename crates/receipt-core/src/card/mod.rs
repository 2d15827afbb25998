//! Card capture (feature T1): reads magnetic-stripe tracks and encrypting-reader output, checks
//! them, and splits them into a PCI-safe [`CardSummary`] and never-stored [`AuthorisationData`].
//!
//! PCI DSS in this module: the full card number ([`Pan`]) and track data ([`SensitiveText`],
//! [`AuthorisationData`], [`CardInput`]) exist only in memory, are wiped on drop, have no
//! `Display` or `Serialize`, and print only masked forms in `Debug`. No [`CardError`] carries
//! card data. Clear tracks are refused unless [`CardPolicy::accept_clear_tracks`] (test cards).
//!
//! Formats: ISO/IEC 7813 tracks 1 and 2 as typed by keyboard-wedge readers (`track.rs`), and
//! MagTek MagneSafe V5 keyboard-emulation output from encrypting readers (`sred.rs`, whose
//! docs cite the MagTek manual and list the reader settings ereceipt needs).

mod brand;
mod error;
mod fields;
mod input;
mod pan;
mod secret;
mod sred;
mod track;

#[cfg(test)]
mod capture_tests;

use chrono::NaiveDate;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use brand::{brand_from_iin, CardBrand};
pub use error::{CardError, ReaderField, TrackPart};
pub use fields::{display_cardholder_name, ExpiryDate, ServiceCode};
pub use input::{CardInput, ReaderFormat};
pub use pan::{kept_leading, luhn_valid, MaskedPan, Pan, MIN_HIDDEN_DIGITS};
pub use secret::{AuthorisationData, SensitiveText};
pub use sred::MAGTEK_FORMAT;

/// How the card data was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryMode {
    /// A magnetic-stripe card swiped.
    MagneticStripe,
    /// A chip card swiped because chip reading was not possible (allowed by policy).
    ChipFallback,
}

impl EntryMode {
    /// Stable id for storage: `"magstripe"` or `"fallback"`.
    pub fn code(&self) -> &'static str {
        match self {
            EntryMode::MagneticStripe => "magstripe",
            EntryMode::ChipFallback => "fallback",
        }
    }

    /// The entry mode with this storage id.
    pub fn from_code(code: &str) -> Option<Self> {
        [EntryMode::MagneticStripe, EntryMode::ChipFallback].into_iter().find(|mode| mode.code() == code)
    }

    /// English name for receipts.
    pub fn name(&self) -> &'static str {
        match self {
            EntryMode::MagneticStripe => "Magnetic stripe",
            EntryMode::ChipFallback => "Chip fallback (swiped)",
        }
    }

    /// Chinese name for receipts.
    pub fn name_zh(&self) -> &'static str {
        match self {
            EntryMode::MagneticStripe => "磁条",
            EntryMode::ChipFallback => "芯片卡降级(磁条)",
        }
    }
}

impl Serialize for EntryMode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for EntryMode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = String::deserialize(deserializer)?;
        EntryMode::from_code(&code).ok_or_else(|| serde::de::Error::custom("unknown entry mode"))
    }
}

/// What may be printed on the receipt and stored: no full card number, no track data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardSummary {
    /// Brand from the BIN.
    pub brand: CardBrand,
    /// BIN, last four and length.
    pub masked_pan: MaskedPan,
    /// Displayable name from track 1 (see [`display_cardholder_name`]); `None` when absent.
    pub cardholder_name: Option<String>,
    /// Swipe or chip fallback.
    pub entry_mode: EntryMode,
    /// True when the card came from an encrypting (SRED) reader.
    pub encrypted_reader: bool,
}

/// The terminal's rules for accepting card reads. The default is the production setting:
/// encrypting readers only, no chip fallback.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardPolicy {
    /// Accept clear tracks from plain readers. Test-card mode only: PCI DSS wants card data
    /// encrypted from the read head on.
    pub accept_clear_tracks: bool,
    /// Accept a swiped chip card (service code 2xx/6xx) as a chip-fallback transaction.
    pub allow_chip_fallback: bool,
}

/// A checked card read.
#[derive(Debug)]
pub struct CapturedCard {
    /// Safe to print and store.
    pub summary: CardSummary,
    /// Last valid month, already checked against the transaction date.
    pub expiry: ExpiryDate,
    /// `None` when an encrypting reader masks it (the MagTek default), so a chip card swiped
    /// on such a reader cannot be spotted here: the authoriser will refuse the fallback.
    pub service_code: Option<ServiceCode>,
    /// For the authorisation request only; never stored.
    pub authorisation: AuthorisationData,
}

/// Parses and checks a card read for a sale on `transaction_date`.
///
/// Checks, in order: clear data allowed by `policy`; format (ISO/IEC 7813 tracks or the
/// reader's documented output); Luhn (clear tracks only: an encrypting reader's masked number
/// cannot be checked); track 1 and track 2 agree on card number and expiry; not expired
/// (valid through the end of the expiry month); a chip card is swiped only with
/// `policy.allow_chip_fallback`.
pub fn capture(input: &CardInput, policy: &CardPolicy, transaction_date: NaiveDate) -> Result<CapturedCard, CardError> {
    let mut card = match input {
        CardInput::Tracks { track1, track2 } => {
            require_clear_allowed(policy)?;
            from_tracks(track1.as_ref().map(SensitiveText::expose), track2.as_ref().map(SensitiveText::expose))?
        }
        CardInput::Swipe(raw) => {
            require_clear_allowed(policy)?;
            let tracks = track::split_swipe(raw.expose())?;
            from_tracks(tracks.track1, tracks.track2)?
        }
        CardInput::EncryptingReader { format, data } => match format {
            ReaderFormat::MagTek => from_sred(sred::parse_magtek(data.expose())?),
        },
    };
    card.expiry.check_valid_on(transaction_date)?;
    if card.service_code.is_some_and(|sc| sc.is_chip_card()) {
        if !policy.allow_chip_fallback {
            return Err(CardError::ChipCardSwiped);
        }
        card.summary.entry_mode = EntryMode::ChipFallback;
    }
    Ok(card)
}

fn require_clear_allowed(policy: &CardPolicy) -> Result<(), CardError> {
    if policy.accept_clear_tracks {
        Ok(())
    } else {
        Err(CardError::ClearTrackRefused)
    }
}

/// A capture from clear tracks; at least one must be present.
fn from_tracks(track1: Option<&str>, track2: Option<&str>) -> Result<CapturedCard, CardError> {
    let track1 = track1.map(track::parse_track1).transpose()?;
    let track2 = track2.map(track::parse_track2).transpose()?;
    let name = track1.as_ref().map(|t| t.name.clone());
    let (pan, expiry, service_code, track1_data, track2_data) = match (track1, track2) {
        (Some(t1), Some(t2)) => {
            if !t1.pan.same_as(&t2.pan) {
                return Err(CardError::TracksDisagree { field: "card number" });
            }
            if t1.expiry != t2.expiry {
                return Err(CardError::TracksDisagree { field: "expiry date" });
            }
            (t2.pan, t2.expiry, t2.service_code, Some(t1.data), Some(t2.data))
        }
        (Some(t1), None) => (t1.pan, t1.expiry, t1.service_code, Some(t1.data), None),
        (None, Some(t2)) => (t2.pan, t2.expiry, t2.service_code, None, Some(t2.data)),
        (None, None) => return Err(CardError::NoTrackData),
    };
    let brand = pan.brand();
    Ok(CapturedCard {
        summary: CardSummary {
            brand,
            masked_pan: pan.masked(),
            cardholder_name: name.and_then(|n| display_cardholder_name(&n, brand)),
            entry_mode: EntryMode::MagneticStripe,
            encrypted_reader: false,
        },
        expiry,
        service_code: Some(service_code),
        authorisation: AuthorisationData::Clear { pan, track1: track1_data, track2: track2_data },
    })
}

fn from_sred(read: sred::SredRead) -> CapturedCard {
    let brand = read.masked_pan.brand();
    CapturedCard {
        summary: CardSummary {
            brand,
            cardholder_name: read.name.and_then(|n| display_cardholder_name(&n, brand)),
            masked_pan: read.masked_pan,
            entry_mode: EntryMode::MagneticStripe,
            encrypted_reader: true,
        },
        expiry: read.expiry,
        service_code: read.service_code,
        authorisation: read.authorisation,
    }
}
