//! The `[host]` table of `terminal.toml`: where the acquirer's ISO 8583 host is and how it
//! frames, MACs and keys its messages. Checked once, with errors naming the key.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::frame::{Framing, LengthHeader, Tpdu};
use super::keys::MasterKey;
use super::layout::Layout;
use super::link::{Iso8583Config, DEFAULT_MAC_MTIS};
use super::mac::MacAlgorithm;

/// `[host]` in `terminal.toml`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostSettings {
    /// `host:port` of the acquirer's ISO 8583 host.
    pub address: String,
    #[serde(default = "default_connect_ms")]
    pub connect_timeout_ms: u64,
    /// How long an answer may take; past it the request is reversed.
    #[serde(default = "default_answer_ms")]
    pub answer_timeout_ms: u64,
    /// `binary` (2 bytes, big-endian) or `ascii` (4 digits).
    #[serde(default = "default_length_header")]
    pub length_header: String,
    /// The TPDU, 10 hex digits (`60` + destination + source), or empty for none.
    #[serde(default = "default_tpdu")]
    pub tpdu: String,
    /// The application header after the TPDU, in hex (may be empty).
    #[serde(default = "default_app_header")]
    pub app_header: String,
    /// `ecb` (UnionPay POS), `x9.19`, `x9.9` or `none`.
    #[serde(default = "default_mac")]
    pub mac: String,
    /// The message types that carry a MAC (field 64).
    #[serde(default = "default_mac_mtis")]
    pub mac_mtis: Vec<String>,
    /// The terminal master key, 32 hex digits (the sign-in's working keys come under it).
    #[serde(default)]
    pub master_key: String,
    /// Also send the PAN in field 2.
    #[serde(default)]
    pub send_pan: bool,
    /// The field (a binary LLL field of the layout: 55 or 62) an encrypting reader's key
    /// serial number and encrypted track 2 go in, for the acquirer to decrypt.
    #[serde(default = "default_encrypted_field")]
    pub encrypted_card_field: u8,
}

impl fmt::Debug for HostSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostSettings")
            .field("address", &self.address)
            .field("mac", &self.mac)
            .field("master_key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

fn default_connect_ms() -> u64 {
    5_000
}
fn default_answer_ms() -> u64 {
    30_000
}
fn default_length_header() -> String {
    "binary".into()
}
fn default_tpdu() -> String {
    "6000030000".into()
}
fn default_app_header() -> String {
    "603100310000".into()
}
fn default_mac() -> String {
    "ecb".into()
}
fn default_encrypted_field() -> u8 {
    62
}
fn default_mac_mtis() -> Vec<String> {
    DEFAULT_MAC_MTIS.iter().map(|m| (*m).to_owned()).collect()
}

impl HostSettings {
    /// The settings for a host at `address` with the UnionPay defaults.
    pub fn new(address: impl Into<String>, master_key_hex: impl Into<String>) -> Self {
        Self {
            address: address.into(),
            connect_timeout_ms: default_connect_ms(),
            answer_timeout_ms: default_answer_ms(),
            length_header: default_length_header(),
            tpdu: default_tpdu(),
            app_header: default_app_header(),
            mac: default_mac(),
            mac_mtis: default_mac_mtis(),
            master_key: master_key_hex.into(),
            send_pan: false,
            encrypted_card_field: default_encrypted_field(),
        }
    }

    /// The link's configuration, or what is wrong, naming the key (`host.…`).
    pub fn config(&self) -> Result<Iso8583Config, String> {
        let key = |k: &str, e: &dyn fmt::Display| format!("host.{k}: {e}");
        if self.address.trim().is_empty() || !self.address.contains(':') {
            return Err(key("address", &"host:port of the acquirer's host"));
        }
        let length = match self.length_header.as_str() {
            "binary" => LengthHeader::Binary2,
            "ascii" => LengthHeader::Ascii4,
            other => return Err(key("length_header", &format!("{other:?} is not binary or ascii"))),
        };
        let tpdu = match self.tpdu.as_str() {
            "" => None,
            t => Some(
                tpdu(t)
                    .ok_or_else(|| key("tpdu", &format!("{t:?} is not 60 + destination + source in 10 hex digits")))?,
            ),
        };
        let app_header = hex::decode(&self.app_header).map_err(|e| key("app_header", &e))?;
        let mac = match self.mac.as_str() {
            "ecb" => MacAlgorithm::UnionPayEcb,
            "x9.19" => MacAlgorithm::X919,
            "x9.9" => MacAlgorithm::X99,
            "none" => MacAlgorithm::None,
            other => return Err(key("mac", &format!("{other:?} is not ecb, x9.19, x9.9 or none"))),
        };
        if let Some(bad) = self.mac_mtis.iter().find(|m| m.len() != 4 || !m.bytes().all(|b| b.is_ascii_digit())) {
            return Err(key("mac_mtis", &format!("{bad:?} is not a 4-digit message type")));
        }
        if !matches!(self.encrypted_card_field, 55 | 62) {
            return Err(key("encrypted_card_field", &format!("{} is not 55 or 62", self.encrypted_card_field)));
        }
        let master_key = MasterKey::from_hex(&self.master_key).map_err(|e| key("master_key", &e))?;
        let ms = |v: u64, k: &str| {
            if (1..=600_000).contains(&v) {
                Ok(Duration::from_millis(v))
            } else {
                Err(key(k, &format!("{v} ms is not in 1..=600000")))
            }
        };
        Ok(Iso8583Config {
            address: self.address.clone(),
            connect_timeout: ms(self.connect_timeout_ms, "connect_timeout_ms")?,
            answer_timeout: ms(self.answer_timeout_ms, "answer_timeout_ms")?,
            framing: Framing { length, tpdu, app_header, ..Framing::default() },
            layout: Layout::unionpay(),
            mac,
            mac_mtis: self.mac_mtis.clone(),
            master_key,
            send_pan: self.send_pan,
            encrypted_card_field: self.encrypted_card_field,
        })
    }
}

/// `60` + destination + source, 10 hex digits.
fn tpdu(text: &str) -> Option<Tpdu> {
    let bytes = hex::decode(text).ok()?;
    match bytes.as_slice() {
        [0x60, d1, d2, s1, s2] => {
            Some(Tpdu { dest: u16::from_be_bytes([*d1, *d2]), src: u16::from_be_bytes([*s1, *s2]) })
        }
        _ => None,
    }
}
