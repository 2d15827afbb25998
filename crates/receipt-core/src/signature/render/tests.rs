//! Rendering tests: pixels counted and located, never compared to golden images.

use super::*;
use crate::render::canvas::PAPER;
use crate::signature::data::Stroke;

const W: u32 = 540;
const H: u32 = 180;

/// One stroke through `points` (CSS px), `dt` ms apart.
fn stroke(points: &[(f64, f64)], dt: u32) -> Stroke {
    let points = points
        .iter()
        .enumerate()
        .map(|(i, &(x, y))| SignaturePoint {
            x: (x * 10.0).round() as i32,
            y: (y * 10.0).round() as i32,
            t: i as u32 * dt,
            pressure: 500,
        })
        .collect();
    Stroke { points }
}

fn signature(strokes: Vec<Stroke>) -> Signature {
    Signature { started_at_ms: 1_700_000_000_000, strokes }
}

/// A cursive-looking loop: a wave with loops, 80 points.
fn scrawl(dt: u32) -> Signature {
    let pts: Vec<(f64, f64)> = (0..80)
        .map(|i| {
            let t = f64::from(i) / 79.0;
            // A polynomial wave (no trigonometry needed).
            let s = 4.0 * (t * 6.0 - (t * 6.0).floor()) - 2.0;
            (20.0 + 300.0 * t + 15.0 * s, 60.0 + 25.0 * (s * s - 2.0))
        })
        .collect();
    signature(vec![stroke(&pts, dt), stroke(&[(40.0, 100.0), (200.0, 95.0), (330.0, 105.0)], dt)])
}

fn ink(c: &Canvas) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    for y in 0..c.height() {
        for x in 0..c.width() {
            if c.get(i64::from(x), i64::from(y)) == Some(INK) {
                out.push((x, y));
            }
        }
    }
    out
}

#[test]
fn bilevel_nonempty_and_inside_the_margin() {
    let style = StrokeStyle::default();
    let c = render(&scrawl(12), W, H, &style);
    assert_eq!((c.width(), c.height()), (W, H));
    assert!(c.pixels().iter().all(|&p| p == INK || p == PAPER));
    let ink = ink(&c);
    assert!(ink.len() > 500, "{}", ink.len());
    let edge = style.margin_px as u32 - 1;
    assert!(ink.iter().all(|&(x, y)| x >= edge && y >= edge && x < W - edge && y < H - edge));
    // Fitted: the drawing reaches near both sides (it is wider than the box's aspect).
    let (min_x, max_x) = ink.iter().fold((W, 0), |(a, b), &(x, _)| (a.min(x), b.max(x)));
    assert!(min_x < 12 && max_x > W - 12, "{min_x}..{max_x}");
}

#[test]
fn same_input_same_pixels() {
    let style = StrokeStyle::default();
    assert_eq!(render(&scrawl(12), W, H, &style), render(&scrawl(12), W, H, &style));
}

#[test]
fn a_horizontal_stroke_is_a_horizontal_band() {
    let pts: Vec<(f64, f64)> = (0..20).map(|i| (f64::from(i) * 15.0, 50.0)).collect();
    let c = render(&signature(vec![stroke(&pts, 16)]), W, H, &StrokeStyle::default());
    let ink = ink(&c);
    let rows: std::collections::BTreeSet<u32> = ink.iter().map(|&(_, y)| y).collect();
    assert!(rows.len() <= 5, "{rows:?}");
    let centre = H / 2;
    assert!(rows.iter().all(|&y| y.abs_diff(centre) <= 3), "{rows:?}");
    // Every column between the ends is inked: no gaps.
    let cols: std::collections::BTreeSet<u32> = ink.iter().map(|&(x, _)| x).collect();
    let (first, last) = (cols.iter().min().copied().unwrap_or(0), cols.iter().max().copied().unwrap_or(0));
    assert_eq!(cols.len() as u32, last - first + 1);
    assert!(last - first > W - 20);
}

#[test]
fn fast_strokes_are_thinner_than_slow_ones() {
    let style = StrokeStyle::default();
    let slow = ink(&render(&scrawl(200), W, H, &style)).len();
    let fast = ink(&render(&scrawl(2), W, H, &style)).len();
    assert!(fast * 10 < slow * 7, "fast {fast} vs slow {slow}");
}

#[test]
fn thinnest_line_is_still_at_least_about_1_5_px() {
    // Very fast: every segment at minimum width; each column crossing must have ≥ 1 px, and
    // on average more than one.
    let pts: Vec<(f64, f64)> = (0..20).map(|i| (f64::from(i) * 15.0, f64::from(i) * 3.0)).collect();
    let c = render(&signature(vec![stroke(&pts, 1)]), W, H, &StrokeStyle::default());
    let ink = ink(&c);
    let cols: std::collections::BTreeMap<u32, usize> = ink.iter().fold(Default::default(), |mut m, &(x, _)| {
        *m.entry(x).or_default() += 1;
        m
    });
    let mean = ink.len() as f64 / cols.len() as f64;
    assert!(cols.values().all(|&n| n >= 1) && mean >= 1.4, "mean {mean}");
}

#[test]
fn dots_empty_and_degenerate_inputs_do_not_fail() {
    let style = StrokeStyle::default();
    assert!(ink(&render(&Signature::default(), W, H, &style)).is_empty());
    let dot = render(&signature(vec![stroke(&[(5.0, 5.0)], 0)]), W, H, &style);
    let dot_ink = ink(&dot);
    assert!(!dot_ink.is_empty() && dot_ink.iter().all(|&(x, y)| x.abs_diff(W / 2) <= 3 && y.abs_diff(H / 2) <= 3));
    let same = signature(vec![stroke(&[(5.0, 5.0), (5.0, 5.0), (5.0, 5.0)], 0)]);
    assert!(!ink(&render(&same, W, H, &style)).is_empty());
    let two = signature(vec![stroke(&[(0.0, 0.0), (100.0, 40.0)], 50)]);
    assert!(ink(&render(&two, W, H, &style)).len() > 300, "2-point strokes are drawn");
    let extreme = Signature {
        started_at_ms: 0,
        strokes: vec![Stroke {
            points: vec![
                SignaturePoint { x: i32::MIN, y: i32::MAX, t: 0, pressure: 0 },
                SignaturePoint { x: i32::MAX, y: i32::MIN, t: u32::MAX, pressure: 1000 },
            ],
        }],
    };
    let weird = StrokeStyle {
        min_width_px: f32::NAN,
        max_width_px: -3.0,
        velocity_filter_weight: 9.0,
        margin_px: f32::INFINITY,
    };
    let _ = render(&extreme, W, H, &weird);
    let _ = render(&scrawl(10), 0, 0, &style);
    let _ = render(&scrawl(10), 3, 1, &style);
}

#[test]
fn the_largest_signature_renders_in_reasonable_time() {
    // 10 000 points scribbled across the whole area, 50 strokes.
    let strokes = (0..50)
        .map(|s| {
            let pts: Vec<(f64, f64)> =
                (0..200).map(|i| (f64::from((i * 37 + s * 11) % 400), f64::from((i * 53 + s * 7) % 150))).collect();
            stroke(&pts, 8)
        })
        .collect();
    let started = std::time::Instant::now();
    let c = render(&signature(strokes), W, H, &StrokeStyle::default());
    assert!(!ink(&c).is_empty());
    assert!(started.elapsed().as_secs() < 20, "{:?}", started.elapsed());
}

proptest::proptest! {
    #[test]
    fn any_signature_renders_bilevel_without_panicking(
        strokes in proptest::collection::vec(
            proptest::collection::vec((-5_000i32..5_000, -5_000i32..5_000, 0u32..50), 1..12), 0..4),
        w in 0u32..80,
        h in 0u32..40,
    ) {
        let strokes = strokes
            .into_iter()
            .map(|pts| Stroke {
                points: pts
                    .into_iter()
                    .scan(0u32, |t, (x, y, dt)| {
                        *t += dt;
                        Some(SignaturePoint { x, y, t: *t, pressure: 500 })
                    })
                    .collect(),
            })
            .collect();
        let sig = signature(strokes);
        let c = render(&sig, w, h, &StrokeStyle::default());
        proptest::prop_assert!(c.pixels().iter().all(|&p| p == INK || p == PAPER));
        proptest::prop_assert_eq!(c, render(&sig, w, h, &StrokeStyle::default()));
    }
}
