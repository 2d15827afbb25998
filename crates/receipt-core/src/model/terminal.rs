//! Who issued the receipt: the terminal's identity as its POS business certificate states it.

use std::fmt;
use std::str::FromStr;

use super::{MerchantId, ModelError, TerminalId};

/// The merchant's name as printed on the slip (Chinese or Latin), 1 to 40 characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MerchantName(String);

impl MerchantName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for MerchantName {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, ModelError> {
        let t = s.trim();
        let n = t.chars().count();
        if n == 0 || n > 40 || t.chars().any(char::is_control) {
            return Err(ModelError::Invalid { field: "merchant name", expected: "1 to 40 printable characters" });
        }
        Ok(Self(t.to_owned()))
    }
}

impl fmt::Display for MerchantName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where the terminal stands: a street address and, optionally, coordinates in microdegrees
/// (integers, so the canonical encoding stays deterministic).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Location {
    address: String,
    coordinates: Option<(i32, i32)>,
}

impl Location {
    pub fn new(address: &str, coordinates: Option<(i32, i32)>) -> Result<Self, ModelError> {
        let a = address.trim();
        let n = a.chars().count();
        if n == 0 || n > 80 || a.chars().any(char::is_control) || a.contains("; geo:") {
            return Err(ModelError::Invalid {
                field: "location",
                expected: "an address of 1 to 80 printable characters",
            });
        }
        if let Some((lat, lon)) = coordinates {
            if !(-90_000_000..=90_000_000).contains(&lat) || !(-180_000_000..=180_000_000).contains(&lon) {
                return Err(ModelError::Invalid {
                    field: "location",
                    expected: "latitude within ±90° and longitude within ±180°",
                });
            }
        }
        Ok(Self { address: a.to_owned(), coordinates })
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    /// (latitude, longitude) in microdegrees.
    pub fn coordinates(&self) -> Option<(i32, i32)> {
        self.coordinates
    }
}

/// Parses `ADDRESS` or `ADDRESS; geo:LAT,LON` (decimal degrees, RFC 5870 style). This is also
/// how the location is written into the certificate's locality attribute.
impl FromStr for Location {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, ModelError> {
        match s.rsplit_once("; geo:") {
            None => Self::new(s, None),
            Some((addr, geo)) => {
                let bad = || ModelError::Invalid {
                    field: "location",
                    expected: "geo:LAT,LON in decimal degrees, e.g. geo:22.543100,113.936500",
                };
                let (lat, lon) = geo.split_once(',').ok_or_else(bad)?;
                let micro = |v: &str| -> Result<i32, ModelError> {
                    let d: f64 = v.trim().parse().map_err(|_| bad())?;
                    if !d.is_finite() || d.abs() > 180.0 {
                        return Err(bad());
                    }
                    Ok((d * 1e6).round() as i32)
                };
                Self::new(addr, Some((micro(lat)?, micro(lon)?)))
            }
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.address)?;
        if let Some((lat, lon)) = self.coordinates {
            write!(f, "; geo:{:.6},{:.6}", f64::from(lat) / 1e6, f64::from(lon) / 1e6)?;
        }
        Ok(())
    }
}

/// The terminal's identity: what its certificate binds its key to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TerminalInfo {
    pub terminal_id: TerminalId,
    pub merchant_id: MerchantId,
    pub merchant_name: MerchantName,
    pub location: Location,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_round_trips_with_coordinates() {
        let l: Location = "深圳市南山区科技园; geo:22.543100,113.936500".parse().unwrap();
        assert_eq!(l.address(), "深圳市南山区科技园");
        assert_eq!(l.coordinates(), Some((22_543_100, 113_936_500)));
        assert_eq!(l.to_string().parse::<Location>().unwrap(), l);
        assert!("Main St; geo:91,0".parse::<Location>().is_err());
        assert!("".parse::<Location>().is_err());
    }

    #[test]
    fn merchant_name_takes_chinese_and_limits_length() {
        assert_eq!("  上海便利店 ".parse::<MerchantName>().unwrap().as_str(), "上海便利店");
        assert!("x".repeat(41).parse::<MerchantName>().is_err());
        let long = format!("{}4111111111111111", "x".repeat(30));
        let text = long.parse::<MerchantName>().expect_err("too long").to_string();
        assert_eq!(text, "merchant name is not valid (expected 1 to 40 printable characters)");
    }
}
