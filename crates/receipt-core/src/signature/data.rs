//! The stored form of a handwritten signature: integer time series of pen positions, kept in
//! the receipt record as chargeback evidence. Integers only, so the canonical encoding is exact.

use serde::{Deserialize, Serialize};

use super::error::SignatureError;

pub use super::limits::{DEFAULT_PRESSURE, MAX_COORDINATE_PX, MAX_DURATION_MS, MAX_POINTS, MAX_STROKES};

/// Largest magnitude of an epoch-millisecond time: 2^53, JavaScript's safe integers.
const MAX_EPOCH_MS: f64 = 9_007_199_254_740_992.0;

/// One sample of the pen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SignaturePoint {
    /// Tenths of a CSS pixel from the left of the signing area.
    pub x: i32,
    /// Tenths of a CSS pixel from the top of the signing area (y grows downwards).
    pub y: i32,
    /// Milliseconds since the signature's first point.
    pub t: u32,
    /// Thousandths of full pressure, 0..=1000.
    pub pressure: u16,
}

/// The samples from one pen-down to the following pen-up; never empty when parsed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Stroke {
    pub points: Vec<SignaturePoint>,
}

/// A whole signature. Points are in time order across strokes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Signature {
    /// Epoch milliseconds of the first point (0 for an empty signature).
    pub started_at_ms: i64,
    pub strokes: Vec<Stroke>,
}

/// A pen sample as it arrives (CSS pixels, epoch milliseconds, pressure 0..1), before checks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RawPoint {
    pub x: f64,
    pub y: f64,
    pub time: f64,
    /// `None` when the source had no pressure.
    pub pressure: Option<f64>,
}

impl Signature {
    /// Checks and quantises raw strokes: the one road into the stored form, shared by the JSON
    /// parser and the capture state machine. Empty strokes are dropped; pressure is clamped to
    /// 0..=1 because browsers report `Touch.force` above 1 on some devices.
    ///
    /// Each stroke comes with its number (from 1) in the input, for error messages.
    pub(crate) fn from_raw(strokes: &[(usize, Vec<RawPoint>)]) -> Result<Self, SignatureError> {
        if strokes.iter().filter(|(_, s)| !s.is_empty()).count() > MAX_STROKES {
            return Err(SignatureError::TooManyStrokes);
        }
        if strokes.iter().map(|(_, s)| s.len()).sum::<usize>() > MAX_POINTS {
            return Err(SignatureError::TooManyPoints);
        }
        let mut started_at: Option<i64> = None;
        let mut previous: i64 = i64::MIN;
        let mut out = Vec::new();
        for (stroke, raw_stroke) in strokes {
            if raw_stroke.is_empty() {
                continue;
            }
            let mut points = Vec::with_capacity(raw_stroke.len());
            for (pi, raw) in raw_stroke.iter().enumerate() {
                let (stroke, point) = (*stroke, pi + 1);
                let x = quantise_coordinate(raw.x, "x", stroke, point)?;
                let y = quantise_coordinate(raw.y, "y", stroke, point)?;
                if !raw.time.is_finite() {
                    return Err(SignatureError::NonFinite { stroke, point, field: "time" });
                }
                let time = raw.time.round();
                if time.abs() > MAX_EPOCH_MS {
                    return Err(SignatureError::TimeOutOfRange { stroke, point });
                }
                let time = time as i64;
                if time < previous {
                    return Err(SignatureError::TimeWentBackwards { stroke, point });
                }
                previous = time;
                let start = *started_at.get_or_insert(time);
                let elapsed = time - start;
                if elapsed > i64::from(MAX_DURATION_MS) {
                    return Err(SignatureError::TooLong { duration_ms: elapsed });
                }
                let pressure = match raw.pressure {
                    None => DEFAULT_PRESSURE,
                    Some(p) if p.is_finite() => (p.clamp(0.0, 1.0) * 1000.0).round() as u16,
                    Some(_) => return Err(SignatureError::NonFinite { stroke, point, field: "pressure" }),
                };
                points.push(SignaturePoint { x, y, t: elapsed as u32, pressure });
            }
            out.push(Stroke { points });
        }
        Ok(Self { started_at_ms: started_at.unwrap_or(0), strokes: out })
    }

    /// Number of points in all strokes.
    pub fn point_count(&self) -> usize {
        self.strokes.iter().map(|s| s.points.len()).sum()
    }

    /// All points in time order.
    pub fn points(&self) -> impl Iterator<Item = &SignaturePoint> {
        self.strokes.iter().flat_map(|s| s.points.iter())
    }

    /// `(min_x, min_y, max_x, max_y)` in tenths of a CSS pixel, or `None` without points.
    pub fn bounding_box(&self) -> Option<(i32, i32, i32, i32)> {
        self.points().fold(None, |acc, p| {
            Some(match acc {
                None => (p.x, p.y, p.x, p.y),
                Some((x0, y0, x1, y1)) => (x0.min(p.x), y0.min(p.y), x1.max(p.x), y1.max(p.y)),
            })
        })
    }

    /// Total distance the pen travelled while down, in CSS pixels.
    pub fn path_length_px(&self) -> f64 {
        self.strokes
            .iter()
            .flat_map(|s| s.points.windows(2))
            .map(|w| {
                let dx = (f64::from(w[1].x) - f64::from(w[0].x)) / 10.0;
                let dy = (f64::from(w[1].y) - f64::from(w[0].y)) / 10.0;
                (dx * dx + dy * dy).sqrt()
            })
            .sum()
    }

    /// Milliseconds from the first to the last point (0 without points).
    pub fn duration_ms(&self) -> u32 {
        self.points().map(|p| p.t).max().unwrap_or(0)
    }
}

fn quantise_coordinate(value: f64, field: &'static str, stroke: usize, point: usize) -> Result<i32, SignatureError> {
    if !value.is_finite() {
        return Err(SignatureError::NonFinite { stroke, point, field });
    }
    let tenths = (value * 10.0).round();
    if tenths.abs() > (MAX_COORDINATE_PX * 10) as f64 {
        // `as` saturates, so even an absurd value reports as a (huge) number of pixels.
        let value = value.round() as i64;
        return Err(SignatureError::CoordinateOutOfRange { stroke, point, field, value });
    }
    Ok(tenths as i32)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn raw(x: f64, y: f64, time: f64) -> RawPoint {
        RawPoint { x, y, time, pressure: None }
    }

    fn numbered(strokes: Vec<Vec<RawPoint>>) -> Vec<(usize, Vec<RawPoint>)> {
        strokes.into_iter().enumerate().map(|(i, s)| (i + 1, s)).collect()
    }

    #[test]
    fn quantises_to_tenths_and_relative_time() {
        let sig = Signature::from_raw(&numbered(vec![vec![
            RawPoint { x: 1.26, y: -3.04, time: 1_700_000_000_123.0, pressure: Some(0.25) },
            raw(2.0, 4.0, 1_700_000_000_140.4),
        ]]))
        .unwrap();
        assert_eq!(sig.started_at_ms, 1_700_000_000_123);
        assert_eq!(
            sig.strokes[0].points,
            vec![
                SignaturePoint { x: 13, y: -30, t: 0, pressure: 250 },
                SignaturePoint { x: 20, y: 40, t: 17, pressure: DEFAULT_PRESSURE },
            ]
        );
        assert_eq!(sig.bounding_box(), Some((13, -30, 20, 40)));
        assert_eq!(sig.duration_ms(), 17);
    }

    #[test]
    fn pressure_is_clamped_and_empty_strokes_dropped() {
        let sig = Signature::from_raw(&numbered(vec![
            vec![],
            vec![RawPoint { x: 0.0, y: 0.0, time: 5.0, pressure: Some(3.0) }],
            vec![RawPoint { x: 0.0, y: 0.0, time: 5.0, pressure: Some(-1.0) }],
        ]))
        .unwrap();
        assert_eq!(sig.strokes.len(), 2);
        assert_eq!(sig.strokes[0].points[0].pressure, 1000);
        assert_eq!(sig.strokes[1].points[0].pressure, 0);
    }

    #[test]
    fn rejects_time_going_backwards_across_strokes() {
        let err = Signature::from_raw(&numbered(vec![vec![raw(0.0, 0.0, 10.0)], vec![raw(0.0, 0.0, 9.0)]]));
        assert_eq!(err, Err(SignatureError::TimeWentBackwards { stroke: 2, point: 1 }));
    }

    #[test]
    fn limits_are_enforced() {
        let far = Signature::from_raw(&numbered(vec![vec![raw(100_000.04, 0.0, 0.0), raw(-100_001.0, 0.0, 0.0)]]));
        assert_eq!(far, Err(SignatureError::CoordinateOutOfRange { stroke: 1, point: 2, field: "x", value: -100_001 }));
        let long = Signature::from_raw(&numbered(vec![vec![raw(0.0, 0.0, 0.0), raw(0.0, 0.0, 600_001.0)]]));
        assert_eq!(long, Err(SignatureError::TooLong { duration_ms: 600_001 }));
        let strokes = vec![vec![raw(0.0, 0.0, 0.0)]; MAX_STROKES + 1];
        assert_eq!(Signature::from_raw(&numbered(strokes)), Err(SignatureError::TooManyStrokes));
        let points = vec![vec![raw(0.0, 0.0, 0.0); MAX_POINTS + 1]];
        assert_eq!(Signature::from_raw(&numbered(points)), Err(SignatureError::TooManyPoints));
        let e = Signature::from_raw(&numbered(vec![vec![raw(f64::NAN, 0.0, 0.0)]])).unwrap_err();
        assert_eq!(e.to_string(), "signature JSON: point 1 of stroke 1 has a non-finite x");
    }

    #[test]
    fn path_length_sums_segments_within_strokes_only() {
        let sig = Signature::from_raw(&numbered(vec![
            vec![raw(0.0, 0.0, 0.0), raw(3.0, 4.0, 1.0)],
            vec![raw(100.0, 0.0, 2.0), raw(100.0, 10.0, 3.0)],
        ]))
        .unwrap();
        assert!((sig.path_length_px() - 15.0).abs() < 1e-9);
        assert_eq!(Signature::default().bounding_box(), None);
    }
}
