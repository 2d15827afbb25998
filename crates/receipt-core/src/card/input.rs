//! What the reader delivered, as the `"card"` object of a transaction's JSON. Read through
//! `serde_json::Value` and checked by hand, because serde's own type errors quote the offending
//! value, which here would be card data.

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use super::error::CardError;
use super::secret::SensitiveText;

/// Encrypting-reader output formats this module reads.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReaderFormat {
    /// MagTek MagneSafe V5 / DynaMag keyboard-emulation output; JSON id `"magtek"`.
    MagTek,
}

impl ReaderFormat {
    /// The id used in the card object's `"reader"` key.
    pub fn code(&self) -> &'static str {
        match self {
            ReaderFormat::MagTek => "magtek",
        }
    }

    /// The format with this id (ASCII case ignored).
    pub fn from_code(code: &str) -> Option<Self> {
        code.eq_ignore_ascii_case("magtek").then_some(ReaderFormat::MagTek)
    }
}

/// A card read as delivered. Holds card data: `Debug` is redacted, there is no `Serialize`,
/// and the text is wiped when dropped.
///
/// JSON shapes: `{"track2": "…"}`, `{"track1": "…"}`, `{"track1": "…", "track2": "…"}`,
/// `{"swipe": "<raw keyboard-wedge output>"}`, `{"reader": "magtek", "data": "<raw output>"}`.
/// An empty object, unknown keys, non-string values and mixed shapes are errors, and no
/// error repeats any part of the input.
#[derive(Debug)]
pub enum CardInput {
    /// Tracks delivered separately; at least one is present.
    Tracks {
        /// Track 1, with or without sentinels.
        track1: Option<SensitiveText>,
        /// Track 2, with or without sentinels.
        track2: Option<SensitiveText>,
    },
    /// Everything a keyboard-wedge reader typed for one swipe (several tracks, CR/LF).
    Swipe(SensitiveText),
    /// The raw output of an encrypting (SRED) reader.
    EncryptingReader {
        /// Which reader format the data is in.
        format: ReaderFormat,
        /// The output as the reader typed it.
        data: SensitiveText,
    },
}

impl CardInput {
    /// A lone track 2, e.g. from a test tool.
    pub fn track2(track2: impl Into<SensitiveText>) -> Self {
        CardInput::Tracks { track1: None, track2: Some(track2.into()) }
    }

    /// A raw keyboard-wedge swipe.
    pub fn swipe(raw: impl Into<SensitiveText>) -> Self {
        CardInput::Swipe(raw.into())
    }

    /// Raw MagTek MagneSafe keyboard-emulation output.
    pub fn magtek(raw: impl Into<SensitiveText>) -> Self {
        CardInput::EncryptingReader { format: ReaderFormat::MagTek, data: raw.into() }
    }

    /// Reads the card object of a transaction's JSON.
    pub fn from_json(value: Value) -> Result<Self, CardError> {
        let Value::Object(mut map) = value else {
            return Err(CardError::InvalidCardObject { reason: "the card must be a JSON object" });
        };
        if map.is_empty() {
            return Err(CardError::EmptyCardObject);
        }
        let track1 = take_string(&mut map, "track1")?;
        let track2 = take_string(&mut map, "track2")?;
        let swipe = take_string(&mut map, "swipe")?;
        let reader = take_string(&mut map, "reader")?;
        let data = take_string(&mut map, "data")?;
        if !map.is_empty() {
            return Err(CardError::UnknownCardKey);
        }
        let mixed = || CardError::InvalidCardObject { reason: "use track1/track2, swipe, or reader+data, not a mix" };
        match (track1, track2, swipe, reader, data) {
            (track1, track2, None, None, None) => Ok(CardInput::Tracks { track1, track2 }),
            (None, None, Some(swipe), None, None) => Ok(CardInput::Swipe(swipe)),
            (None, None, None, Some(reader), Some(data)) => {
                let format = ReaderFormat::from_code(reader.expose()).ok_or(CardError::UnsupportedReader)?;
                Ok(CardInput::EncryptingReader { format, data })
            }
            (None, None, None, Some(_), None) => {
                Err(CardError::InvalidCardObject { reason: "\"reader\" needs \"data\"" })
            }
            (None, None, None, None, Some(_)) => {
                Err(CardError::InvalidCardObject { reason: "\"data\" needs \"reader\"" })
            }
            _ => Err(mixed()),
        }
    }
}

/// Removes `key` from the object; its value must be a string.
fn take_string(map: &mut Map<String, Value>, key: &str) -> Result<Option<SensitiveText>, CardError> {
    match map.remove(key) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(SensitiveText::new(text))),
        Some(_) => Err(CardError::InvalidCardObject { reason: "card fields must be JSON strings" }),
    }
}

impl<'de> Deserialize<'de> for CardInput {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // `Value` accepts any JSON without a type error, so nothing of the input is quoted.
        let value = Value::deserialize(deserializer)?;
        CardInput::from_json(value).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const PAN: &str = "6222020200112233446";

    fn parse(json: &str) -> Result<CardInput, CardError> {
        CardInput::from_json(serde_json::from_str(json).unwrap())
    }

    #[test]
    fn accepted_shapes() {
        let documented = r#"{"track2":";6222020200112233446=29121011234567890?"}"#;
        assert!(matches!(parse(documented), Ok(CardInput::Tracks { track1: None, track2: Some(_) })));
        assert!(matches!(
            parse(r#"{"track1":"%B…?","track2":";…?"}"#),
            Ok(CardInput::Tracks { track1: Some(_), track2: Some(_) })
        ));
        assert!(matches!(parse(r#"{"track1":"%B…?"}"#), Ok(CardInput::Tracks { track1: Some(_), track2: None })));
        assert!(matches!(parse(r#"{"swipe":"%B…?;…?\r"}"#), Ok(CardInput::Swipe(_))));
        assert!(matches!(
            parse(r#"{"reader":"magtek","data":"%B…?|0600|…"}"#),
            Ok(CardInput::EncryptingReader { format: ReaderFormat::MagTek, .. })
        ));
        assert!(matches!(parse(r#"{"reader":"MagTek","data":""}"#), Ok(CardInput::EncryptingReader { .. })));
    }

    #[test]
    fn refused_shapes() {
        let cases = [
            ("{}", CardError::EmptyCardObject),
            (r#"{"track3":";1?"}"#, CardError::UnknownCardKey),
            (r#"{"track2":";1?","pin":"1234"}"#, CardError::UnknownCardKey),
            (r#"{"reader":"idtech","data":"x"}"#, CardError::UnsupportedReader),
        ];
        for (json, expected) in cases {
            assert_eq!(parse(json).err(), Some(expected), "{json}");
        }
        for json in [
            r#"{"track2":4111111111111111}"#,
            r#"{"track2":null}"#,
            r#"{"track2":[";4111111111111111=2912101?"]}"#,
            r#"{"swipe":"x","track2":"y"}"#,
            r#"{"reader":"magtek"}"#,
            r#"{"data":"x"}"#,
            r#"{"reader":"magtek","data":"x","track1":"y"}"#,
            r#"";4111111111111111=2912101?""#,
            "4111111111111111",
            "null",
        ] {
            assert!(matches!(parse(json), Err(CardError::InvalidCardObject { .. })), "{json}");
        }
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Transaction {
        amount: String,
        card: CardInput,
    }

    #[test]
    fn serde_errors_never_quote_card_data() {
        let bad_cards = [
            format!(r#""{PAN}""#),
            format!(r#"";{PAN}=2912101?""#),
            PAN.to_owned(),
            format!(r#"{{"track2":{PAN}}}"#),
            format!(r#"{{"track2":[";{PAN}=2912101?"]}}"#),
            format!(r#"{{"{PAN}":"x"}}"#),
            format!(r#"{{"reader":"{PAN}","data":"x"}}"#),
            format!(r#"{{"swipe":";{PAN}=2912101?","track2":"x"}}"#),
            format!(r#"{{"track2":true,"swipe":";{PAN}"}}"#),
            format!(r#"{{"track2":";{PAN}=2912101?""#),
            format!(r#"{{"track2":";{PAN}=2912101?\x"}}"#),
        ];
        for card in bad_cards {
            let json = format!(r#"{{"amount":"1.00","card":{card}}}"#);
            let error = serde_json::from_str::<Transaction>(&json).expect_err("should be refused");
            let shown = format!("{error} {error:?}");
            assert!(!shown.contains(PAN), "{shown}");
            assert!(!shown.contains("2233446"), "{shown}");
        }
    }

    #[test]
    fn transaction_with_card_deserialises_and_debug_is_redacted() {
        let json = format!(r#"{{"amount":"1.00","card":{{"track2":";{PAN}=29121011234567890?"}}}}"#);
        let tx: Transaction = serde_json::from_str(&json).unwrap();
        let debug = format!("{tx:?} {tx:#?}");
        assert!(!debug.contains(PAN), "{debug}");
        assert!(!debug.contains("2912101"), "{debug}");
    }
}
