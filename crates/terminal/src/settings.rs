//! The terminal's own settings, `TDIR/terminal.toml`: what it accepts from the card reader, the
//! slip width, the font and the currency keyed in. Read and checked once, with an error naming
//! the file and the key; the rest of the terminal gets typed values.

use std::path::{Path, PathBuf};

use ereceipt_core::card::CardPolicy;
use ereceipt_core::model::Currency;
use ereceipt_core::render::slip::SlipWidth;
use serde::{Deserialize, Serialize};

use crate::device::{write_atomic, DeviceError};

/// The settings file in a terminal directory.
pub const TERMINAL_SETTINGS: &str = "terminal.toml";

/// Why the settings could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    /// Not TOML of this shape, or a value out of range; names the key.
    #[error("{path} is not valid: {detail}")]
    Invalid { path: PathBuf, detail: String },
    #[error("{path} already exists")]
    Exists { path: PathBuf },
    #[error(transparent)]
    Write(#[from] DeviceError),
}

/// Per-terminal settings, as in the file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TerminalSettings {
    /// Accept clear magnetic-stripe tracks (test cards only). Production terminals take the
    /// output of an encrypting (SRED) reader only.
    #[serde(default)]
    pub test_cards: bool,
    /// Accept a swipe of a chip card (fallback).
    #[serde(default)]
    pub allow_chip_fallback: bool,
    /// Slip width in pixels: 576 (80 mm) or 384 (58 mm).
    #[serde(default = "default_width", with = "width_px")]
    pub slip_width: SlipWidth,
    /// A font covering Chinese; default: the usual system paths.
    #[serde(default)]
    pub font: Option<PathBuf>,
    /// The currency amounts are keyed in on the touch UI (ISO 4217).
    #[serde(default = "default_currency", with = "currency_code")]
    pub currency: Currency,
}

fn default_width() -> SlipWidth {
    SlipWidth::W576
}

fn default_currency() -> Currency {
    Currency::CNY
}

/// A slip width in pixels: 576 or 384.
pub fn slip_width(px: u32) -> Result<SlipWidth, String> {
    match px {
        576 => Ok(SlipWidth::W576),
        384 => Ok(SlipWidth::W384),
        other => Err(format!("slip width {other} is not supported: use 576 (80 mm) or 384 (58 mm)")),
    }
}

mod width_px {
    use ereceipt_core::render::slip::SlipWidth;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(w: &SlipWidth, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(w.pixels())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SlipWidth, D::Error> {
        super::slip_width(u32::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

mod currency_code {
    use ereceipt_core::model::Currency;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(c: &Currency, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(c.code())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Currency, D::Error> {
        let code = String::deserialize(d)?;
        code.parse().map_err(|e| serde::de::Error::custom(format!("currency {code:?}: {e}")))
    }
}

impl TerminalSettings {
    /// Settings for a new terminal: CNY, the system's CJK font.
    pub fn new(test_cards: bool, slip_width: SlipWidth) -> Self {
        Self { test_cards, allow_chip_fallback: false, slip_width, font: None, currency: default_currency() }
    }

    /// What the card reader's input may be.
    pub fn policy(&self) -> CardPolicy {
        CardPolicy { accept_clear_tracks: self.test_cards, allow_chip_fallback: self.allow_chip_fallback }
    }

    /// Reads `TDIR/terminal.toml`.
    pub fn load(tdir: &Path) -> Result<Self, SettingsError> {
        let path = tdir.join(TERMINAL_SETTINGS);
        let text =
            std::fs::read_to_string(&path).map_err(|source| SettingsError::Read { path: path.clone(), source })?;
        toml::from_str(&text).map_err(|e| SettingsError::Invalid { path, detail: e.to_string() })
    }

    /// Writes `TDIR/terminal.toml`; refuses to replace one that exists.
    pub fn write(&self, tdir: &Path) -> Result<(), SettingsError> {
        let path = tdir.join(TERMINAL_SETTINGS);
        if path.exists() {
            return Err(SettingsError::Exists { path });
        }
        let body =
            toml::to_string(self).map_err(|e| SettingsError::Invalid { path: path.clone(), detail: e.to_string() })?;
        let text = format!(
            "# ereceipt terminal settings\n# test_cards: accept clear tracks (test cards only); production takes SRED reader output.\n{body}"
        );
        write_atomic(&path, text.as_bytes(), false)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_and_bad_values_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        TerminalSettings::new(true, SlipWidth::W384).write(dir.path()).unwrap();
        let s = TerminalSettings::load(dir.path()).unwrap();
        assert_eq!((s.test_cards, s.slip_width, s.currency.code()), (true, SlipWidth::W384, "CNY"));
        assert!(matches!(
            TerminalSettings::new(false, SlipWidth::W576).write(dir.path()),
            Err(SettingsError::Exists { .. })
        ));
        for (text, named) in [
            ("slip_width = 500\n", "slip width 500"),
            ("currency = \"XYZ\"\n", "currency \"XYZ\""),
            ("colour = true\n", "colour"),
        ] {
            std::fs::write(dir.path().join(TERMINAL_SETTINGS), text).unwrap();
            let err = TerminalSettings::load(dir.path()).unwrap_err().to_string();
            assert!(err.contains(named) && err.contains("terminal.toml"), "{text}: {err}");
        }
        std::fs::write(dir.path().join(TERMINAL_SETTINGS), "").unwrap();
        let s = TerminalSettings::load(dir.path()).unwrap();
        assert_eq!((s.test_cards, s.slip_width, s.currency.code()), (false, SlipWidth::W576, "CNY"));
    }
}
