//! The terminal's own settings, `TDIR/terminal.toml`: what it accepts from the card reader, the
//! slip width, the font and the currency keyed in. Read and checked once, with an error naming
//! the file and the key; the rest of the terminal gets typed values. Whether the terminal is a
//! test terminal is not a setting: its certificate says so (see [`TerminalSettings::policy`]).

use std::path::{Path, PathBuf};

use ereceipt_core::card::CardPolicy;
use ereceipt_core::identity::TerminalMode;
use ereceipt_core::model::{Currency, LocalTime, ModelError};
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
    /// The file asks for clear tracks, but the certificate says this is a production terminal.
    #[error(
        "{path} sets test_cards = true, but this terminal's certificate says it is a production terminal: \
         clear card tracks are for terminals the platform registered as test terminals \
         (ereceipt platform terminal add --test); remove test_cards from {path}"
    )]
    TestCardsOnProduction { path: PathBuf },
    #[error(transparent)]
    Write(#[from] DeviceError),
}

/// Per-terminal settings, as in the file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TerminalSettings {
    /// Clear magnetic-stripe tracks (test cards). Only a test terminal (its certificate says so)
    /// takes them, unless this says `false`; on a production terminal `true` is an error.
    /// Production terminals take the output of an encrypting (SRED) reader only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_cards: Option<bool>,
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
    /// The IANA time zone the slip's time is printed in (`Asia/Shanghai`). Default: the one
    /// zone of the terminal's currency where it has one (CNY, HKD, MOP, TWD, JPY, KRW, SGD),
    /// else the machine's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// The acquirer's host; without it the terminal uses the labelled simulator (test
    /// terminals only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<HostSettings>,
}

pub use crate::host::HostSettings;

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
    pub fn new(slip_width: SlipWidth) -> Self {
        Self {
            test_cards: None,
            allow_chip_fallback: false,
            slip_width,
            font: None,
            currency: default_currency(),
            time_zone: None,
            host: None,
        }
    }

    /// What the card reader's input may be on a terminal of `mode` (from its certificate, never
    /// from this file): clear tracks on a test terminal only. The file can refuse them on a test
    /// terminal; asking for them on a production terminal is an error, not a silent downgrade, so
    /// the operator learns that the edit does nothing.
    pub fn policy(&self, mode: TerminalMode, tdir: &Path) -> Result<CardPolicy, SettingsError> {
        if self.test_cards == Some(true) && !mode.is_test() {
            return Err(SettingsError::TestCardsOnProduction { path: tdir.join(TERMINAL_SETTINGS) });
        }
        Ok(CardPolicy {
            accept_clear_tracks: mode.is_test() && self.test_cards != Some(false),
            allow_chip_fallback: self.allow_chip_fallback,
        })
    }

    /// The acquirer link: the ISO 8583 host of `[host]`, or else the labelled simulator (which
    /// the touch UI refuses on a production terminal).
    pub fn authoriser(&self, tdir: &Path) -> Result<std::sync::Arc<dyn crate::host::Authoriser>, SettingsError> {
        match &self.host {
            None => Ok(std::sync::Arc::new(crate::host::SimulatedAuthoriser)),
            Some(h) => {
                let path = tdir.join(TERMINAL_SETTINGS);
                let config = h.config().map_err(|detail| SettingsError::Invalid { path: path.clone(), detail })?;
                // The master key decrypts every working key: like an SSH key, the file that
                // holds it is the owner's alone.
                if let Some(mode) = others_may_read(&path) {
                    return Err(SettingsError::Invalid {
                        detail: format!(
                            "it holds the host's master key (host.master_key) and other users may read it \
                             (mode {mode:o}): chmod 600 {}",
                            path.display()
                        ),
                        path,
                    });
                }
                Ok(std::sync::Arc::new(crate::host::Iso8583Authoriser::new(config)))
            }
        }
    }

    /// The zone the terminal's clock is read in: `time_zone`, or the default (see the field).
    /// A name that is not an IANA zone is an error naming the key.
    pub fn zone(&self, tdir: &Path) -> Result<TerminalZone, SettingsError> {
        let named = match &self.time_zone {
            Some(name) => Some(name.as_str()),
            None => zone_of_currency(self.currency),
        };
        match named {
            None => Ok(TerminalZone::Machine),
            Some(name) => name.parse::<chrono_tz::Tz>().map(TerminalZone::Iana).map_err(|_| SettingsError::Invalid {
                path: tdir.join(TERMINAL_SETTINGS),
                detail: format!("time_zone {name:?} is not an IANA time zone (e.g. \"Asia/Shanghai\")"),
            }),
        }
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
            "# ereceipt terminal settings\n# Production or test terminal is not set here: the terminal's certificate says it, as the\n# platform registered it. Production terminals take SRED reader output only; a test terminal\n# takes clear test-card tracks unless test_cards = false.\n{body}"
        );
        write_atomic(&path, text.as_bytes(), false)?;
        Ok(())
    }
}

/// The file's permission bits when group or others may read it.
fn others_may_read(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o044 != 0).then_some(mode)
}

/// The zone a terminal's local time is in: what the slip prints, and what the host link sends
/// in fields 12 and 13.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TerminalZone {
    /// An IANA zone (with its daylight-saving rules).
    Iana(chrono_tz::Tz),
    /// The machine's zone, for a currency used in several zones and no `time_zone` set.
    Machine,
}

impl TerminalZone {
    /// The instant `utc` with this zone's offset at that instant, for the slip.
    pub fn local_time(self, utc: chrono::DateTime<chrono::Utc>) -> Result<LocalTime, ModelError> {
        use chrono::{Offset, TimeZone};
        let seconds = match self {
            TerminalZone::Iana(tz) => tz.offset_from_utc_datetime(&utc.naive_utc()).fix().local_minus_utc(),
            TerminalZone::Machine => chrono::Local.offset_from_utc_datetime(&utc.naive_utc()).local_minus_utc(),
        };
        // Offsets are whole minutes in every zone in use (and at most ±14 h).
        LocalTime::new(utc.timestamp(), i16::try_from(seconds / 60).unwrap_or(0))
    }
}

/// The one IANA zone of a currency's country, where it has one.
fn zone_of_currency(currency: Currency) -> Option<&'static str> {
    Some(match currency.code() {
        "CNY" => "Asia/Shanghai",
        "HKD" => "Asia/Hong_Kong",
        "MOP" => "Asia/Macau",
        "TWD" => "Asia/Taipei",
        "JPY" => "Asia/Tokyo",
        "KRW" => "Asia/Seoul",
        "SGD" => "Asia/Singapore",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_and_bad_values_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        TerminalSettings::new(SlipWidth::W384).write(dir.path()).unwrap();
        let s = TerminalSettings::load(dir.path()).unwrap();
        assert_eq!((s.test_cards, s.slip_width, s.currency.code()), (None, SlipWidth::W384, "CNY"));
        assert!(matches!(TerminalSettings::new(SlipWidth::W576).write(dir.path()), Err(SettingsError::Exists { .. })));
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
        assert_eq!((s.test_cards, s.slip_width, s.currency.code()), (None, SlipWidth::W576, "CNY"));
    }

    /// M8: clear tracks follow the certificate's mode. `test_cards = true` edited into a
    /// production terminal's file is an error naming the file, never clear tracks.
    #[test]
    fn clear_tracks_follow_the_certificate_and_an_edit_cannot_enable_them() {
        let dir = tempfile::tempdir().unwrap();
        let policy = |text: &str, mode| {
            std::fs::write(dir.path().join(TERMINAL_SETTINGS), text).unwrap();
            TerminalSettings::load(dir.path()).unwrap().policy(mode, dir.path())
        };
        let e = policy("test_cards = true\n", TerminalMode::Production).unwrap_err();
        assert!(matches!(e, SettingsError::TestCardsOnProduction { .. }), "{e}");
        assert!(e.to_string().contains("production terminal") && e.to_string().contains("terminal.toml"), "{e}");
        for (text, mode, clear) in [
            ("", TerminalMode::Production, false),
            ("test_cards = false\n", TerminalMode::Production, false),
            ("", TerminalMode::Test, true),
            ("test_cards = true\n", TerminalMode::Test, true),
            ("test_cards = false\n", TerminalMode::Test, false),
        ] {
            assert_eq!(policy(text, mode).unwrap().accept_clear_tracks, clear, "{text:?} on {mode}");
        }
    }

    /// The slip's time is the configured zone's, whatever the machine's clock zone; daylight
    /// saving follows the zone's rules; a bad name is refused by key.
    #[test]
    fn the_time_zone_is_a_setting_with_a_default_from_the_currency() {
        let dir = tempfile::tempdir().unwrap();
        let zone = |text: &str| {
            std::fs::write(dir.path().join(TERMINAL_SETTINGS), text).unwrap();
            TerminalSettings::load(dir.path()).unwrap().zone(dir.path())
        };
        let instant = chrono::DateTime::parse_from_rfc3339("2026-07-01T02:30:00Z").unwrap().to_utc();
        let at = |z: TerminalZone| z.local_time(instant).unwrap().rfc3339();
        assert_eq!(at(zone("").unwrap()), "2026-07-01T10:30:00+08:00", "CNY: China's one zone");
        assert_eq!(at(zone("currency = \"JPY\"\n").unwrap()), "2026-07-01T11:30:00+09:00");
        assert_eq!(at(zone("time_zone = \"Europe/London\"\n").unwrap()), "2026-07-01T03:30:00+01:00", "summer time");
        let winter = chrono::DateTime::parse_from_rfc3339("2026-12-01T02:30:00Z").unwrap().to_utc();
        let london = zone("time_zone = \"Europe/London\"\n").unwrap();
        assert_eq!(london.local_time(winter).unwrap().rfc3339(), "2026-12-01T02:30:00+00:00");
        assert_eq!(zone("currency = \"EUR\"\n").unwrap(), TerminalZone::Machine, "EUR spans zones");
        let e = zone("time_zone = \"Mars/Olympus\"\n").unwrap_err().to_string();
        assert!(e.contains("time_zone") && e.contains("Mars/Olympus") && e.contains("terminal.toml"), "{e}");
    }
}
