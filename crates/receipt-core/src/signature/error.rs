//! Why a captured signature could not be turned into the stored form.
//! Stroke and point numbers in these errors count from 1, as a person reading them would.

use super::limits::{MAX_COORDINATE_PX, MAX_DURATION_MS, MAX_POINTS, MAX_STROKES};

/// A signature that cannot be read or stored: malformed JSON, bad numbers, or over a limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The text is not JSON at all (the detail is serde_json's, with line and column).
    #[error("signature JSON: not valid JSON: {0}")]
    Json(String),
    /// The top level is not an array (signature_pad's `toData()` is always an array).
    #[error("signature JSON: the top level is not an array of strokes")]
    NotAnArray,
    /// A stroke is neither `{"points": [...]}` (signature_pad 3 and later) nor a bare array of
    /// points (signature_pad 2).
    #[error("signature JSON: stroke {stroke} is neither an object with \"points\" nor an array of points")]
    BadStroke { stroke: usize },
    /// A point is not a JSON object.
    #[error("signature JSON: point {point} of stroke {stroke} is not an object")]
    BadPoint { stroke: usize, point: usize },
    /// A point lacks one of the required fields `x`, `y`, `time`.
    #[error("signature JSON: point {point} of stroke {stroke} has no {field}")]
    MissingField { stroke: usize, point: usize, field: &'static str },
    /// A field holds a string, array, object or boolean instead of a number.
    #[error("signature JSON: point {point} of stroke {stroke} has a non-numeric {field}")]
    NotANumber { stroke: usize, point: usize, field: &'static str },
    /// A field is `null` or not finite. `JSON.stringify` writes NaN and Infinity as `null`,
    /// which is how a non-finite value from the browser arrives here.
    #[error("signature JSON: point {point} of stroke {stroke} has a non-finite {field}")]
    NonFinite { stroke: usize, point: usize, field: &'static str },
    /// A coordinate lies beyond ±[`MAX_COORDINATE_PX`] CSS pixels.
    #[error("signature JSON: point {point} of stroke {stroke} has {field} = {value} px, beyond the limit of ±{MAX_COORDINATE_PX} px")]
    CoordinateOutOfRange { stroke: usize, point: usize, field: &'static str, value: i64 },
    /// A time is not a plausible epoch-millisecond value (beyond ±2^53, JavaScript's safe integers).
    #[error("signature JSON: point {point} of stroke {stroke} has a time that is not epoch milliseconds")]
    TimeOutOfRange { stroke: usize, point: usize },
    /// A point is timed before the point that precedes it (in its stroke or, for the first point
    /// of a stroke, the last point of the previous stroke). Equal times are accepted.
    #[error("signature JSON: point {point} of stroke {stroke} is timed before the point preceding it")]
    TimeWentBackwards { stroke: usize, point: usize },
    /// The signature spans more than [`MAX_DURATION_MS`] from first to last point.
    #[error("signature JSON: the signature lasts {duration_ms} ms, more than the limit of {MAX_DURATION_MS} ms")]
    TooLong { duration_ms: i64 },
    /// More than [`MAX_STROKES`] strokes.
    #[error("signature JSON: more than the limit of {MAX_STROKES} strokes")]
    TooManyStrokes,
    /// More than [`MAX_POINTS`] points in all strokes together.
    #[error("signature JSON: more than the limit of {MAX_POINTS} points")]
    TooManyPoints,
}
