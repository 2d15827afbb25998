//! The shapes of setting values, parsed once when the settings load: optional values that are
//! either absent or really set (never `""` meaning "not set"), web URLs and UTC offsets. Used
//! with `#[serde(deserialize_with = …)]`; the settings loader adds the key's name to each error.

use std::path::PathBuf;

use chrono::{FixedOffset, Offset};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use url::Url;

use super::secret::Secret;

/// Why an empty value is refused rather than read as "not set".
const EMPTY: &str = "is empty: leave the key out (or comment it) to mean \"not set\"";

fn non_empty<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let text = String::deserialize(d)?;
    if text.trim().is_empty() {
        return Err(D::Error::custom(EMPTY));
    }
    Ok(text)
}

/// An optional text that, when given, is not blank.
pub fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    non_empty(d).map(Some)
}

/// An optional path that, when given, is not blank.
pub fn path<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
    non_empty(d).map(|p| Some(PathBuf::from(p)))
}

/// An optional secret that, when given, is not blank.
pub fn secret<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Secret>, D::Error> {
    non_empty(d).map(|s| Some(Secret(s)))
}

/// An `http://` or `https://` URL with a host.
pub fn web_url<'de, D: Deserializer<'de>>(d: D) -> Result<Url, D::Error> {
    parse_web_url(&String::deserialize(d)?).map_err(D::Error::custom)
}

/// An optional [`web_url`].
pub fn optional_web_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Url>, D::Error> {
    web_url(d).map(Some)
}

/// `text` as an `http(s)` URL with a host, or why not.
pub fn parse_web_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text.trim()).map_err(|e| format!("{text:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{text:?} is not an http(s) URL with a host, such as https://receipts.example"));
    }
    Ok(url)
}

/// `+08:00`, `-05:30`, `Z`: an offset from UTC.
pub fn utc_offset<'de, D: Deserializer<'de>>(d: D) -> Result<FixedOffset, D::Error> {
    let text = String::deserialize(d)?;
    let t = text.trim();
    if t.eq_ignore_ascii_case("z") || t.eq_ignore_ascii_case("utc") {
        return Ok(chrono::Utc.fix());
    }
    t.parse::<FixedOffset>().map_err(|_| D::Error::custom(format!("{text:?} is not a UTC offset such as +08:00")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::value::{Error, StrDeserializer};
    use serde::de::IntoDeserializer;

    fn de(s: &str) -> StrDeserializer<'_, Error> {
        s.into_deserializer()
    }

    #[test]
    fn blank_is_refused_instead_of_meaning_not_set() {
        for blank in ["", "  "] {
            assert!(text(de(blank)).unwrap_err().to_string().contains("is empty"));
            assert!(path(de(blank)).is_err());
            assert!(secret(de(blank)).is_err());
        }
        assert_eq!(text(de("vas01")).unwrap().as_deref(), Some("vas01"));
        assert_eq!(path(de("/var/outbox")).unwrap(), Some(PathBuf::from("/var/outbox")));
    }

    #[test]
    fn web_urls_need_http_and_a_host() {
        assert_eq!(web_url(de("https://receipts.example/")).unwrap().as_str(), "https://receipts.example/");
        assert_eq!(web_url(de("http://127.0.0.1:8080/mm7")).unwrap().port(), Some(8080));
        for bad in ["", "receipts.example", "ftp://receipts.example", "https://", "file:///etc/passwd"] {
            assert!(web_url(de(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn offsets() {
        assert_eq!(utc_offset(de("+08:00")).unwrap().local_minus_utc(), 8 * 3600);
        assert_eq!(utc_offset(de("Z")).unwrap().local_minus_utc(), 0);
        assert!(utc_offset(de("+8")).is_err());
    }
}
