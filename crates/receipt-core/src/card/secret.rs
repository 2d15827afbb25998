//! Holders for sensitive authentication data: card data as the reader typed it, clear tracks,
//! and what goes to the authoriser. None of them prints its contents or can be serialised,
//! and all of them are wiped from memory when dropped.

use std::fmt;

use zeroize::Zeroize;

use super::pan::Pan;

/// Text that is card data (a track, a raw swipe, an encrypting reader's output). Its `Debug`
/// shows only its length; it is wiped when dropped.
pub struct SensitiveText(String);

impl SensitiveText {
    /// Takes ownership of `text`, so no second copy is left behind.
    pub fn new(text: String) -> Self {
        SensitiveText(text)
    }

    /// The text, for parsing or for the authorisation request. Never log or store it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for SensitiveText {
    fn from(text: String) -> Self {
        SensitiveText(text)
    }
}

impl From<&str> for SensitiveText {
    fn from(text: &str) -> Self {
        SensitiveText(text.to_owned())
    }
}

impl fmt::Debug for SensitiveText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[redacted, {} chars]", self.0.chars().count())
    }
}

impl Drop for SensitiveText {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// What is passed on for authorisation, and never stored: PCI DSS forbids keeping full track
/// data after authorisation. `Debug` is redacted, there is no `Serialize`, and it is wiped on
/// drop (which is also why its fields can be borrowed but not moved out).
pub enum AuthorisationData {
    /// A clear read (test-card mode only).
    Clear {
        /// The card number.
        pan: Pan,
        /// Track 1 between its sentinels (`B…^…^…`), when it was read.
        track1: Option<SensitiveText>,
        /// Track 2 between its sentinels (`PAN=YYMM…`), the usual ISO 8583 field 35 content.
        track2: Option<SensitiveText>,
    },
    /// An encrypting (SRED) reader's output, passed on untouched.
    Encrypted {
        /// Which reader format produced it, e.g. [`super::MAGTEK_FORMAT`].
        format: &'static str,
        /// DUKPT key serial number, 10 bytes.
        ksn: Vec<u8>,
        /// Encrypted track 2 as the reader sent it (whole cipher blocks); empty when the
        /// reader could not read track 2.
        ciphertext: Vec<u8>,
        /// Encrypted track 1; empty when the reader could not read track 1.
        track1_ciphertext: Vec<u8>,
        /// Encrypted MagnePrint card fingerprint, for authenticators that check it; may be empty.
        magneprint: Vec<u8>,
        /// MagnePrint status, 8 hex digits as sent; empty when MagnePrint is off.
        magneprint_status: String,
        /// The reader's serial number, which authorisers use to find its key.
        device_serial: String,
    },
}

impl AuthorisationData {
    /// Whether this came from an encrypting reader.
    pub fn is_encrypted(&self) -> bool {
        matches!(self, AuthorisationData::Encrypted { .. })
    }
}

impl fmt::Debug for AuthorisationData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthorisationData::Clear { pan, track1, track2 } => {
                f.debug_struct("Clear").field("pan", pan).field("track1", track1).field("track2", track2).finish()
            }
            AuthorisationData::Encrypted {
                format,
                ksn,
                ciphertext,
                track1_ciphertext,
                magneprint,
                magneprint_status,
                device_serial,
            } => f
                .debug_struct("Encrypted")
                .field("format", format)
                .field("ksn", &hex_upper(ksn))
                .field("ciphertext", &format_args!("[{} bytes]", ciphertext.len()))
                .field("track1_ciphertext", &format_args!("[{} bytes]", track1_ciphertext.len()))
                .field("magneprint", &format_args!("[{} bytes]", magneprint.len()))
                .field("magneprint_status", magneprint_status)
                .field("device_serial", device_serial)
                .finish(),
        }
    }
}

impl Drop for AuthorisationData {
    fn drop(&mut self) {
        // Pan and SensitiveText wipe themselves; the byte buffers are wiped here.
        if let AuthorisationData::Encrypted { ksn, ciphertext, track1_ciphertext, magneprint, .. } = self {
            ksn.zeroize();
            ciphertext.zeroize();
            track1_ciphertext.zeroize();
            magneprint.zeroize();
        }
    }
}

/// Upper-case hex, as readers and authorisers write KSNs.
pub(crate) fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_text_debug_shows_only_the_length() {
        let text = SensitiveText::from(";4111111111111111=29121011234567890?");
        let debug = format!("{text:?}");
        assert_eq!(debug, "[redacted, 36 chars]");
        assert_eq!(text.expose(), ";4111111111111111=29121011234567890?");
    }

    #[test]
    fn authorisation_debug_is_redacted() {
        let clear = AuthorisationData::Clear {
            pan: Pan::from_digits("4111111111111111").unwrap(),
            track1: None,
            track2: Some(SensitiveText::from("4111111111111111=29121011234567890")),
        };
        let debug = format!("{clear:?} {clear:#?}");
        assert!(!debug.contains("4111111111111111"), "{debug}");
        assert!(!debug.contains("2912101"), "{debug}");
        assert!(!clear.is_encrypted());

        let encrypted = AuthorisationData::Encrypted {
            format: "magtek",
            ksn: vec![0x90, 0x11, 0x88, 0x0B, 0x1C, 0xBB, 0x65, 0x00, 0x00, 0x01],
            ciphertext: vec![0xAB; 40],
            track1_ciphertext: vec![0xCD; 64],
            magneprint: vec![],
            magneprint_status: "61403000".into(),
            device_serial: "B1CBB65090413AA".into(),
        };
        let debug = format!("{encrypted:?}");
        assert!(debug.contains("9011880B1CBB65000001"), "{debug}");
        assert!(debug.contains("[40 bytes]"), "{debug}");
        assert!(!debug.contains("ABAB"), "{debug}");
        assert!(encrypted.is_encrypted());
    }
}
