//! Draws a signature onto the receipt the way signature_pad draws it on screen: cubic Bézier
//! curves through the points, as discs whose width follows the pen's speed; bilevel ink only.
//!
//! Two deliberate departures from signature_pad 4/5: its `Bezier` constructor stores the two
//! control points crosswise (the one near the end point is used first), which flattens curves;
//! here they are used in the textbook order, so consecutive curves join smoothly. And
//! signature_pad never draws the last segment of a stroke (nor 2-point strokes, issue #720);
//! here the last point is repeated, as signature_pad repeats the first, so every segment shows.
//! Only `+ - * / sqrt` are used (all exactly rounded in IEEE 754), so the pixels are the same on
//! every platform.

use crate::render::canvas::{Canvas, INK};

use super::data::{Signature, SignaturePoint};

/// Pen widths in output pixels and how strongly they follow speed.
#[derive(Debug, Clone, PartialEq)]
pub struct StrokeStyle {
    /// Line width when the pen moves fast. Values below 1.5 px are raised to 1.5 px: thinner
    /// lines do not survive JPEG.
    pub min_width_px: f32,
    /// Line width when the pen moves slowly (and the width of dots at the centre of the range).
    pub max_width_px: f32,
    /// signature_pad's `velocityFilterWeight`: weight of the newest segment's speed against the
    /// running speed (1 = no smoothing).
    pub velocity_filter_weight: f32,
    /// Blank border kept around the drawing, beyond half the maximum width.
    pub margin_px: f32,
}

impl Default for StrokeStyle {
    /// Suits a signature box of about 540×180 px on a 576-px-wide receipt.
    fn default() -> Self {
        Self { min_width_px: 1.6, max_width_px: 4.0, velocity_filter_weight: 0.7, margin_px: 4.0 }
    }
}

/// Thinnest line drawn, whatever the style asks.
const MIN_LINE_PX: f64 = 1.5;

/// Style values made safe to compute with: finite, ordered, in range.
struct Pen {
    min: f64,
    max: f64,
    filter: f64,
    margin: f64,
}

impl Pen {
    fn from_style(style: &StrokeStyle) -> Self {
        let default = StrokeStyle::default();
        let finite_or = |v: f32, d: f32| f64::from(if v.is_finite() { v } else { d });
        let min = finite_or(style.min_width_px, default.min_width_px).max(MIN_LINE_PX);
        let max = finite_or(style.max_width_px, default.max_width_px).max(min);
        let filter = finite_or(style.velocity_filter_weight, default.velocity_filter_weight).clamp(0.0, 1.0);
        let margin = finite_or(style.margin_px, default.margin_px).max(0.0);
        Self { min, max, filter, margin }
    }

    /// signature_pad's `_strokeWidth`, with speed in CSS pixels per millisecond.
    fn width_at(&self, velocity: f64) -> f64 {
        (self.max / (velocity + 1.0)).max(self.min)
    }
}

/// Something to ink, in CSS pixels until [`Fit::apply`] moves it onto the canvas.
enum Mark {
    /// A disc: a one-point stroke, or the round cap at a stroke's end.
    Dot { at: Xy, width: f64 },
    /// One segment, widening from `start_width` to `end_width`.
    Segment { curve: Curve, start_width: f64, end_width: f64 },
}

type Xy = (f64, f64);

/// Draws `sig` scaled to fit a `width`×`height` canvas (aspect ratio kept, centred, with a
/// margin). An empty signature gives a blank canvas. Same input, same pixels.
pub fn render(sig: &Signature, width: u32, height: u32, style: &StrokeStyle) -> Canvas {
    let mut canvas = Canvas::new(width, height);
    let pen = Pen::from_style(style);
    let marks: Vec<Mark> = sig.strokes.iter().flat_map(|s| stroke_marks(&s.points, &pen)).collect();
    let Some(fit) = Fit::new(&marks, f64::from(width), f64::from(height), pen.margin + pen.max / 2.0) else {
        return canvas;
    };
    for mark in &marks {
        match mark {
            Mark::Dot { at, width } => disc(&mut canvas, fit.apply(*at), *width),
            Mark::Segment { curve, start_width, end_width } => {
                curve.map(|p| fit.apply(p)).draw(&mut canvas, *start_width, *end_width, pen.max);
            }
        }
    }
    canvas
}

/// The marks of one stroke, following signature_pad's `_addPoint` and `_calculateCurveWidths`.
fn stroke_marks(points: &[SignaturePoint], pen: &Pen) -> Vec<Mark> {
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return Vec::new();
    };
    if points.len() == 1 {
        return vec![Mark::Dot { at: css(first), width: (pen.min + pen.max) / 2.0 }];
    }
    // Repeat the end points so every segment has a neighbour on each side.
    let padded: Vec<&SignaturePoint> =
        std::iter::once(first).chain(points.iter()).chain(std::iter::once(last)).collect();
    let mut marks = Vec::with_capacity(points.len());
    let mut last_velocity = 0.0;
    let mut last_width = (pen.min + pen.max) / 2.0;
    for quad in padded.windows(4) {
        let (before, start, end, after) = (quad[0], quad[1], quad[2], quad[3]);
        let velocity = pen.filter * speed(start, end) + (1.0 - pen.filter) * last_velocity;
        let end_width = pen.width_at(velocity);
        let curve = Curve::through(css(before), css(start), css(end), css(after));
        marks.push(Mark::Segment { curve, start_width: last_width, end_width });
        last_velocity = velocity;
        last_width = end_width;
    }
    marks.push(Mark::Dot { at: css(last), width: last_width });
    marks
}

/// A sample's position in CSS pixels.
fn css(p: &SignaturePoint) -> Xy {
    (f64::from(p.x) / 10.0, f64::from(p.y) / 10.0)
}

/// The uniform scale and offset that centre the marks in the canvas.
struct Fit {
    scale: f64,
    offset: Xy,
}

impl Fit {
    /// Fits the extent of the curves themselves (which may bulge past the points), sampled
    /// finely enough that the margin absorbs what the samples miss. `None` without marks.
    fn new(marks: &[Mark], width: f64, height: f64, inset: f64) -> Option<Self> {
        let mut extent: Option<(Xy, Xy)> = None;
        let mut include = |(x, y): Xy| {
            let ((x0, y0), (x1, y1)) = extent.unwrap_or(((x, y), (x, y)));
            extent = Some(((x0.min(x), y0.min(y)), (x1.max(x), y1.max(y))));
        };
        for mark in marks {
            match mark {
                Mark::Dot { at, .. } => include(*at),
                Mark::Segment { curve, .. } => (0..=16).for_each(|i| include(curve.at(f64::from(i) / 16.0))),
            }
        }
        let ((x0, y0), (x1, y1)) = extent?;
        let avail_w = (width - 2.0 * inset).max(0.0);
        let avail_h = (height - 2.0 * inset).max(0.0);
        let (box_w, box_h) = (x1 - x0, y1 - y0);
        let scale = match (box_w > 0.0, box_h > 0.0) {
            (true, true) => (avail_w / box_w).min(avail_h / box_h),
            (true, false) => avail_w / box_w,
            (false, true) => avail_h / box_h,
            (false, false) => 1.0,
        };
        let offset = (width / 2.0 - (x0 + x1) / 2.0 * scale, height / 2.0 - (y0 + y1) / 2.0 * scale);
        Some(Self { scale, offset })
    }

    fn apply(&self, (x, y): Xy) -> Xy {
        (x * self.scale + self.offset.0, y * self.scale + self.offset.1)
    }
}

/// CSS pixels per millisecond between two samples; 0 for equal times (as signature_pad).
fn speed(a: &SignaturePoint, b: &SignaturePoint) -> f64 {
    if a.t == b.t {
        return 0.0;
    }
    distance(css(a), css(b)) / (f64::from(b.t) - f64::from(a.t)).abs()
}

fn disc(canvas: &mut Canvas, (x, y): Xy, width: f64) {
    canvas.fill_disc(x as f32, y as f32, (width / 2.0) as f32, INK);
}

/// A cubic Bézier segment between two samples.
struct Curve {
    p: [Xy; 4],
}

impl Curve {
    /// The segment from `start` to `end`, with signature_pad's control points
    /// (`Bezier.calculateControlPoints`): the tangent at each point is parallel to the line
    /// joining the midpoints of its two neighbouring segments, split in proportion to their
    /// lengths.
    fn through(before: Xy, start: Xy, end: Xy, after: Xy) -> Self {
        let (_, c_out) = control_points(before, start, end);
        let (c_in, _) = control_points(start, end, after);
        Self { p: [start, c_out, c_in, end] }
    }

    /// The same curve under an affine map (Bézier curves are affine invariant).
    fn map(&self, f: impl Fn(Xy) -> Xy) -> Self {
        Self { p: self.p.map(f) }
    }

    fn at(&self, t: f64) -> Xy {
        let u = 1.0 - t;
        let (a, b, c, d) = (u * u * u, 3.0 * u * u * t, 3.0 * u * t * t, t * t * t);
        let [p0, p1, p2, p3] = self.p;
        (a * p0.0 + b * p1.0 + c * p2.0 + d * p3.0, a * p0.1 + b * p1.1 + c * p2.1 + d * p3.1)
    }

    /// Length from a 10-piece polyline, as signature_pad estimates it.
    fn length(&self) -> f64 {
        let mut length = 0.0;
        let mut prev = self.at(0.0);
        for i in 1..=10 {
            let next = self.at(f64::from(i) / 10.0);
            length += distance(prev, next);
            prev = next;
        }
        length
    }

    /// Discs every half pixel from the start (inclusive) to the end (exclusive: the next
    /// segment or the stroke's end cap draws it), widening from `start_width` to `end_width`
    /// along t³ as signature_pad does.
    fn draw(&self, canvas: &mut Canvas, start_width: f64, end_width: f64, max_width: f64) {
        // The cap only guards against absurd hand-built input; a fitted curve is far shorter.
        let steps = ((self.length() * 2.0).ceil() as u32).clamp(1, 100_000);
        for i in 0..steps {
            let t = f64::from(i) / f64::from(steps);
            let width = (start_width + t * t * t * (end_width - start_width)).min(max_width);
            disc(canvas, self.at(t), width);
        }
    }
}

/// signature_pad's `calculateControlPoints(s1, s2, s3)`: the controls before and after `s2`.
fn control_points(s1: Xy, s2: Xy, s3: Xy) -> (Xy, Xy) {
    let m1 = ((s1.0 + s2.0) / 2.0, (s1.1 + s2.1) / 2.0);
    let m2 = ((s2.0 + s3.0) / 2.0, (s2.1 + s3.1) / 2.0);
    let l1 = distance(s1, s2);
    let l2 = distance(s2, s3);
    // All three points coincide when l1 + l2 = 0; any k then gives s2 itself.
    let k = if l1 + l2 > 0.0 { l2 / (l1 + l2) } else { 0.5 };
    let cm = (m2.0 + (m1.0 - m2.0) * k, m2.1 + (m1.1 - m2.1) * k);
    let (tx, ty) = (s2.0 - cm.0, s2.1 - cm.1);
    ((m1.0 + tx, m1.1 + ty), (m2.0 + tx, m2.1 + ty))
}

fn distance(a: Xy, b: Xy) -> f64 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    (dx * dx + dy * dy).sqrt()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
