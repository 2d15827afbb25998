//! ISO/IEC 7813 tracks as a keyboard-wedge reader types them: track 1
//! `%B<PAN>^<NAME>^<YYMM><service code><discretionary>?<LRC>` and track 2
//! `;<PAN>=<YYMM><service code><discretionary>?<LRC>`, sentinels and LRC optional, and a raw
//! swipe holding several tracks one after the other.

use super::error::{CardError, TrackPart};
use super::fields::{is_valid_track1_name, ExpiryDate, ServiceCode};
use super::pan::{Pan, PanProblem, PAN_LENGTHS};
use super::secret::SensitiveText;

/// ISO/IEC 7813 maximum track 1 length, start sentinel, end sentinel and LRC included.
pub const TRACK1_MAX_LEN: usize = 79;
/// ISO/IEC 7813 maximum track 2 length, start sentinel, end sentinel and LRC included.
pub const TRACK2_MAX_LEN: usize = 40;
/// Longest raw swipe accepted: three full tracks plus separators, with room to spare.
const SWIPE_MAX_LEN: usize = 512;
/// What a reader sends in place of a track it could not decode.
const TRACK_READ_ERROR: &str = "E";

/// A parsed track 1. Holds card data: no `Display`, redacted `Debug` through its fields.
#[derive(Debug)]
pub(crate) struct Track1 {
    pub(crate) pan: Pan,
    /// The name field as on the card, e.g. `HOGAN/PAUL      `.
    pub(crate) name: String,
    pub(crate) expiry: ExpiryDate,
    pub(crate) service_code: ServiceCode,
    /// The track between its sentinels, for authorisation.
    pub(crate) data: SensitiveText,
}

/// A parsed track 2. Holds card data: no `Display`, redacted `Debug` through its fields.
#[derive(Debug)]
pub(crate) struct Track2 {
    pub(crate) pan: Pan,
    pub(crate) expiry: ExpiryDate,
    pub(crate) service_code: ServiceCode,
    /// The track between its sentinels, for authorisation.
    pub(crate) data: SensitiveText,
}

/// The tracks found in a raw swipe, still as typed (sentinels included).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct SwipeTracks<'a> {
    pub(crate) track1: Option<&'a str>,
    pub(crate) track2: Option<&'a str>,
}

/// Parses track 1, with or without `%`, `?` and LRC, and a trailing CR/LF.
pub(crate) fn parse_track1(raw: &str) -> Result<Track1, CardError> {
    let err = |part| CardError::MalformedTrack1 { part };
    let body = track_body(raw, '%', TRACK1_MAX_LEN).map_err(err)?;
    let rest = body.strip_prefix('B').ok_or(err(TrackPart::FormatCode))?;
    let (pan, rest) = rest.split_once('^').ok_or(err(TrackPart::Separator))?;
    check_pan_shape(pan).map_err(err)?;
    let (name, rest) = rest.split_once('^').ok_or(err(TrackPart::Separator))?;
    if !is_valid_track1_name(name) {
        return Err(err(TrackPart::Name));
    }
    let (expiry, service_code, discretionary) = expiry_and_service_code(rest).map_err(err)?;
    let track1_char = |b: u8| (0x20..=0x7e).contains(&b) && !matches!(b, b'^' | b'%' | b'?');
    if !discretionary.bytes().all(track1_char) {
        return Err(err(TrackPart::DiscretionaryData));
    }
    let service_code = service_code.parse()?;
    Ok(Track1 {
        pan: pan_from_track(pan, err)?,
        name: name.to_owned(),
        expiry,
        service_code,
        data: SensitiveText::from(body),
    })
}

/// Parses track 2, with or without `;`, `?` and LRC, and a trailing CR/LF.
pub(crate) fn parse_track2(raw: &str) -> Result<Track2, CardError> {
    let err = |part| CardError::MalformedTrack2 { part };
    let body = track_body(raw, ';', TRACK2_MAX_LEN).map_err(err)?;
    let (pan, rest) = body.split_once('=').ok_or(err(TrackPart::Separator))?;
    check_pan_shape(pan).map_err(err)?;
    let (expiry, service_code, discretionary) = expiry_and_service_code(rest).map_err(err)?;
    if !discretionary.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err(TrackPart::DiscretionaryData));
    }
    let service_code = service_code.parse()?;
    Ok(Track2 { pan: pan_from_track(pan, err)?, expiry, service_code, data: SensitiveText::from(body) })
}

/// The track between its sentinels. The start sentinel is optional; when present the end
/// sentinel must be too; at most one character (the LRC) may follow the end sentinel.
fn track_body(raw: &str, start: char, max_len: usize) -> Result<&str, TrackPart> {
    let trimmed = raw.trim_matches(|c| c == '\r' || c == '\n');
    let (body, has_start) = match trimmed.strip_prefix(start) {
        Some(rest) => (rest, true),
        None => (trimmed, false),
    };
    let body = match body.find('?') {
        Some(end) => {
            if body[end + 1..].chars().count() > 1 {
                return Err(TrackPart::Sentinel);
            }
            &body[..end]
        }
        None if has_start => return Err(TrackPart::Sentinel),
        None => body,
    };
    if body.contains(['%', ';', '?']) {
        return Err(TrackPart::Sentinel);
    }
    if body.len() + 3 > max_len {
        return Err(TrackPart::Length);
    }
    Ok(body)
}

/// Shape of a card number inside a track: 12–19 digits.
fn check_pan_shape(pan: &str) -> Result<(), TrackPart> {
    if PAN_LENGTHS.contains(&pan.len()) && pan.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(TrackPart::Pan)
    }
}

/// The card number of a track; `err` builds the error of that track for a bad shape.
fn pan_from_track(digits: &str, err: impl Fn(TrackPart) -> CardError) -> Result<Pan, CardError> {
    Pan::from_digits(digits).map_err(|problem| match problem {
        PanProblem::Luhn => CardError::LuhnCheckFailed,
        PanProblem::Shape => err(TrackPart::Pan),
    })
}

/// Splits `YYMM` + service code + discretionary data.
fn expiry_and_service_code(rest: &str) -> Result<(ExpiryDate, &str, &str), TrackPart> {
    let expiry = rest.get(..4).and_then(ExpiryDate::from_yymm).ok_or(TrackPart::Expiry)?;
    let service_code =
        rest.get(4..7).filter(|sc| sc.bytes().all(|b| b.is_ascii_digit())).ok_or(TrackPart::ServiceCode)?;
    Ok((expiry, service_code, &rest[7..]))
}

/// Splits what a keyboard-wedge reader typed for one swipe into its tracks: `%…?` is track 1,
/// the first `;…?` track 2, a further `;…?` or `+…?` track 3 (ignored); one LRC character may
/// follow each end sentinel; CR, LF and spaces between tracks are ignored. Without any start
/// sentinel, each line is a track: track 1 if it starts with `B` and has `^`, else track 2.
/// A track the reader sends as `E` (read error) counts as absent.
pub(crate) fn split_swipe(raw: &str) -> Result<SwipeTracks<'_>, CardError> {
    let malformed = |reason| CardError::MalformedSwipe { reason };
    if raw.len() > SWIPE_MAX_LEN {
        return Err(malformed("longer than any swipe"));
    }
    let tracks = if raw.contains(['%', ';', '+']) { split_with_sentinels(raw)? } else { split_lines(raw)? };
    if tracks.track1.is_none() && tracks.track2.is_none() {
        return Err(CardError::NoTrackData);
    }
    Ok(tracks)
}

fn split_with_sentinels(raw: &str) -> Result<SwipeTracks<'_>, CardError> {
    let malformed = |reason| CardError::MalformedSwipe { reason };
    let is_sentinel = |b: u8| matches!(b, b'%' | b';' | b'+');
    let bytes = raw.as_bytes();
    let mut tracks = SwipeTracks::default();
    let (mut seen1, mut seen2) = (false, false);
    let mut i = 0;
    while i < bytes.len() {
        let start = bytes[i];
        if start.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if !is_sentinel(start) {
            return Err(malformed("characters outside the tracks"));
        }
        let end = raw[i..].find('?').map(|offset| i + offset).ok_or(malformed("a track has no end sentinel"))?;
        let segment = &raw[i..=end];
        let inner = &raw[i + 1..end];
        i = end + 1;
        // One LRC character may follow; a sentinel directly after the end sentinel is the next
        // track's, unless two sentinels follow (then the first one was the LRC).
        if let Some(&next) = bytes.get(i) {
            let lrc_is_sentinel = bytes.get(i + 1).is_some_and(|b| is_sentinel(*b));
            if !next.is_ascii_whitespace() && (!is_sentinel(next) || lrc_is_sentinel) {
                i += 1;
            }
        }
        let readable = inner != TRACK_READ_ERROR;
        match start {
            b'%' if !seen1 => {
                seen1 = true;
                tracks.track1 = readable.then_some(segment);
            }
            b';' if !seen2 => {
                seen2 = true;
                tracks.track2 = readable.then_some(segment);
            }
            b'%' => return Err(malformed("track 1 appears twice")),
            _ => {} // track 3: not used for payment
        }
    }
    Ok(tracks)
}

fn split_lines(raw: &str) -> Result<SwipeTracks<'_>, CardError> {
    let malformed = |reason| CardError::MalformedSwipe { reason };
    let mut tracks = SwipeTracks::default();
    for line in raw.lines() {
        if line.trim().is_empty() || line.trim() == TRACK_READ_ERROR {
            continue;
        }
        let slot = if line.starts_with('B') && line.contains('^') {
            &mut tracks.track1
        } else if line.contains('=') {
            &mut tracks.track2
        } else {
            return Err(malformed("a line is neither track 1 nor track 2"));
        };
        if slot.replace(line).is_some() {
            return Err(malformed("a track appears twice"));
        }
    }
    Ok(tracks)
}

#[cfg(test)]
#[path = "track_tests.rs"]
mod tests;
