//! The limits a stored signature keeps to, shared by the data type, its errors and capture.

/// Most strokes (pen-down to pen-up) a signature may have.
pub const MAX_STROKES: usize = 50;
/// Most points a signature may have, all strokes together.
pub const MAX_POINTS: usize = 10_000;
/// Largest coordinate magnitude accepted, in CSS pixels.
pub const MAX_COORDINATE_PX: i64 = 100_000;
/// Longest time from first to last point; also keeps `SignaturePoint::t` far inside `u32`.
pub const MAX_DURATION_MS: u32 = 600_000;
/// Pressure stored when the input has none (signature_pad's mouse default).
pub const DEFAULT_PRESSURE: u16 = 500;
