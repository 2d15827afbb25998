//! Transaction time: a UTC instant plus the terminal's UTC offset, kept for display.
//! Every way a transaction time is written is made here ([`TimeLayout`]).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, FixedOffset, Offset, TimeZone, Utc};

use super::ModelError;

/// A UTC instant (whole seconds) with the offset the terminal was at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LocalTime {
    utc: i64,
    offset_minutes: i16,
}

impl LocalTime {
    pub fn new(utc_seconds: i64, offset_minutes: i16) -> Result<Self, ModelError> {
        let bad = || ModelError::Invalid {
            field: "time",
            expected: "an RFC 3339 time with offset, e.g. 2026-11-25T14:03:11+08:00",
        };
        if !(-18 * 60..=18 * 60).contains(&offset_minutes) {
            return Err(bad());
        }
        // 1990..2200 keeps every value representable and sane for a card slip.
        if !(631_152_000..=7_258_118_400).contains(&utc_seconds) {
            return Err(bad());
        }
        Ok(Self { utc: utc_seconds, offset_minutes })
    }

    pub fn utc_seconds(self) -> i64 {
        self.utc
    }

    pub fn offset_minutes(self) -> i16 {
        self.offset_minutes
    }

    pub fn utc(self) -> DateTime<Utc> {
        Utc.timestamp_opt(self.utc, 0).single().unwrap_or_default()
    }

    /// The instant as the terminal's wall clock showed it.
    pub fn local(self) -> DateTime<FixedOffset> {
        let offset = FixedOffset::east_opt(i32::from(self.offset_minutes) * 60)
            .unwrap_or_else(|| FixedOffset::east_opt(0).unwrap_or(Utc.fix()));
        self.utc().with_timezone(&offset)
    }

    /// `2026-11-25T14:03:11+08:00`
    pub fn rfc3339(self) -> String {
        self.format(TimeLayout::Rfc3339)
    }

    /// The same instant with offset zero (the UTC column of an export).
    pub fn in_utc(self) -> LocalTime {
        Self { utc: self.utc, offset_minutes: 0 }
    }

    /// The time written for `layout`, on the terminal's wall clock.
    pub fn format(self, layout: TimeLayout) -> String {
        let local = self.local();
        match layout {
            TimeLayout::Rfc3339 => local.to_rfc3339(),
            TimeLayout::Message => local.format("%Y-%m-%d %H:%M").to_string(),
            TimeLayout::Page => local.format("%Y-%m-%d %H:%M:%S %:z").to_string(),
            TimeLayout::Slip => {
                let offset = self.offset_minutes;
                format!(
                    "{} UTC{}{:02}:{:02}",
                    local.format("%Y/%m/%d %H:%M:%S"),
                    if offset < 0 { '-' } else { '+' },
                    offset.unsigned_abs() / 60,
                    offset.unsigned_abs() % 60
                )
            }
        }
    }
}

/// How a transaction time is written. One formatter ([`LocalTime::format`]) serves every
/// layout, and each shows the terminal's wall clock, as the cardholder saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeLayout {
    /// `2026-11-25T14:03:11+08:00`: machines (the record, JSON answers); also `Display`.
    Rfc3339,
    /// `2026-11-25 14:03`: messages to customers, short enough for one SMS.
    Message,
    /// `2026-11-25 14:03:11 +08:00`: the portal and the CSV export, with the offset because
    /// staff may be in another zone than the terminal.
    Page,
    /// `2026/11/25 14:03:11 UTC+08:00`: the printed slip.
    Slip,
}

impl FromStr for LocalTime {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, ModelError> {
        let t = DateTime::parse_from_rfc3339(s).map_err(|_| ModelError::Invalid {
            field: "time",
            expected: "an RFC 3339 time with offset, e.g. 2026-11-25T14:03:11+08:00",
        })?;
        let offset = i16::try_from(t.offset().local_minus_utc() / 60).unwrap_or(i16::MAX);
        Self::new(t.timestamp(), offset)
    }
}

impl fmt::Display for LocalTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rfc3339())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_instant_and_the_offset() {
        let t: LocalTime = "2026-11-25T14:03:11+08:00".parse().unwrap();
        assert_eq!(t.utc().to_rfc3339(), "2026-11-25T06:03:11+00:00");
        assert_eq!(t.offset_minutes(), 480);
        assert_eq!(t.rfc3339(), "2026-11-25T14:03:11+08:00");
    }

    #[test]
    fn every_layout_shows_the_terminal_wall_clock() {
        let t: LocalTime = "2026-11-25T14:03:11+08:00".parse().unwrap();
        assert_eq!(t.format(TimeLayout::Rfc3339), "2026-11-25T14:03:11+08:00");
        assert_eq!(t.to_string(), "2026-11-25T14:03:11+08:00");
        assert_eq!(t.format(TimeLayout::Message), "2026-11-25 14:03");
        assert_eq!(t.format(TimeLayout::Page), "2026-11-25 14:03:11 +08:00");
        assert_eq!(t.format(TimeLayout::Slip), "2026/11/25 14:03:11 UTC+08:00");
        assert_eq!(t.in_utc().format(TimeLayout::Page), "2026-11-25 06:03:11 +00:00");
        assert_eq!(t.in_utc().rfc3339(), "2026-11-25T06:03:11+00:00");
        let west: LocalTime = "2026-11-25T01:03:11-05:30".parse().unwrap();
        assert_eq!(west.format(TimeLayout::Slip), "2026/11/25 01:03:11 UTC-05:30");
    }

    #[test]
    fn refuses_a_time_without_offset() {
        assert!("2026-11-25T14:03:11".parse::<LocalTime>().is_err());
        assert!("yesterday".parse::<LocalTime>().is_err());
    }
}
