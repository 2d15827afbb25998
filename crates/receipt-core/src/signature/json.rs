//! Reading and writing the JSON of signature_pad's `toData()`: an array of point groups, one per
//! stroke, `{"penColor", "dotSize", "minWidth", "maxWidth", "velocityFilterWeight",
//! "compositeOperation", "points": [{"x", "y", "time", "pressure"}]}`. signature_pad 3 writes
//! `{"color", "points"}` and signature_pad 2 bare arrays of points; all three are read. Only the
//! points matter: the drawing options are ignored on input and written as the library defaults.

use serde_json::{json, Map, Value};

use super::data::{RawPoint, Signature, MAX_POINTS, MAX_STROKES};
use super::error::SignatureError;

impl Signature {
    /// Parses signature_pad's `toData()` JSON. The caller bounds the input size (1 MiB is ample
    /// for [`MAX_POINTS`] points); the stroke and point limits are checked here.
    pub fn from_signature_pad_json(json: &str) -> Result<Self, SignatureError> {
        let value: Value = serde_json::from_str(json).map_err(|e| SignatureError::Json(e.to_string()))?;
        let Value::Array(groups) = value else {
            return Err(SignatureError::NotAnArray);
        };
        let mut strokes = Vec::with_capacity(groups.len().min(MAX_STROKES + 1));
        let mut total = 0usize;
        for (si, group) in groups.iter().enumerate() {
            let stroke = si + 1;
            let points = match group {
                Value::Array(points) => points,
                Value::Object(map) => match map.get("points") {
                    Some(Value::Array(points)) => points,
                    _ => return Err(SignatureError::BadStroke { stroke }),
                },
                _ => return Err(SignatureError::BadStroke { stroke }),
            };
            if points.is_empty() {
                continue;
            }
            // Fail on the limits before converting (and keeping) anything more.
            total += points.len();
            if strokes.len() >= MAX_STROKES {
                return Err(SignatureError::TooManyStrokes);
            }
            if total > MAX_POINTS {
                return Err(SignatureError::TooManyPoints);
            }
            let raw =
                points.iter().enumerate().map(|(pi, p)| raw_point(p, stroke, pi + 1)).collect::<Result<Vec<_>, _>>()?;
            strokes.push((stroke, raw));
        }
        Self::from_raw(&strokes)
    }

    /// Writes the signature as signature_pad 4/5 `toData()` JSON (loadable with `fromData()`),
    /// with signature_pad's default drawing options. `from_signature_pad_json` of the result
    /// gives back `self` for any signature that parsing could have produced.
    pub fn to_signature_pad_json(&self) -> String {
        let groups: Vec<Value> = self
            .strokes
            .iter()
            .map(|stroke| {
                let points: Vec<Value> = stroke
                    .points
                    .iter()
                    .map(|p| {
                        json!({
                            "time": self.started_at_ms.saturating_add(i64::from(p.t)),
                            "x": f64::from(p.x) / 10.0,
                            "y": f64::from(p.y) / 10.0,
                            "pressure": f64::from(p.pressure) / 1000.0,
                        })
                    })
                    .collect();
                json!({
                    "penColor": "black",
                    "dotSize": 0,
                    "minWidth": 0.5,
                    "maxWidth": 2.5,
                    "velocityFilterWeight": 0.7,
                    "compositeOperation": "source-over",
                    "points": points,
                })
            })
            .collect();
        Value::Array(groups).to_string()
    }
}

fn raw_point(value: &Value, stroke: usize, point: usize) -> Result<RawPoint, SignatureError> {
    let Value::Object(map) = value else {
        return Err(SignatureError::BadPoint { stroke, point });
    };
    let required = |field: &'static str| match number(map, field, stroke, point)? {
        Some(v) => Ok(v),
        None => Err(SignatureError::MissingField { stroke, point, field }),
    };
    let x = required("x")?;
    let y = required("y")?;
    let time = required("time")?;
    // A `null` pressure is what JSON.stringify makes of NaN; treat it as "no pressure".
    let pressure = match map.get("pressure") {
        Some(Value::Null) => None,
        _ => number(map, "pressure", stroke, point)?,
    };
    Ok(RawPoint { x, y, time, pressure })
}

/// The field as a finite number, `None` when absent.
fn number(
    map: &Map<String, Value>,
    field: &'static str,
    stroke: usize,
    point: usize,
) -> Result<Option<f64>, SignatureError> {
    match map.get(field) {
        None => Ok(None),
        Some(Value::Null) => Err(SignatureError::NonFinite { stroke, point, field }),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(v) if v.is_finite() => Ok(Some(v)),
            _ => Err(SignatureError::NonFinite { stroke, point, field }),
        },
        Some(_) => Err(SignatureError::NotANumber { stroke, point, field }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::data::{SignaturePoint, Stroke, DEFAULT_PRESSURE, MAX_DURATION_MS};
    use super::*;
    use proptest::prelude::*;

    const V4: &str = r#"[{"penColor":"black","dotSize":0,"minWidth":0.5,"maxWidth":2.5,
        "velocityFilterWeight":0.7,"compositeOperation":"source-over",
        "points":[{"time":1700000000000,"x":10.5,"y":20,"pressure":0.5},
                  {"time":1700000000016,"x":30.25,"y":22.5,"pressure":0}]},
        {"penColor":"black","points":[{"time":1700000000400,"x":5,"y":5,"pressure":1}]}]"#;

    #[test]
    fn reads_signature_pad_4() {
        let sig = Signature::from_signature_pad_json(V4).unwrap();
        assert_eq!(sig.started_at_ms, 1_700_000_000_000);
        assert_eq!(sig.strokes.len(), 2);
        assert_eq!(sig.strokes[0].points[1], SignaturePoint { x: 303, y: 225, t: 16, pressure: 0 });
        assert_eq!(sig.strokes[1].points[0], SignaturePoint { x: 50, y: 50, t: 400, pressure: 1000 });
        assert_eq!(sig.point_count(), 3);
    }

    #[test]
    fn reads_signature_pad_2_and_3_without_pressure() {
        let v2 = r#"[[{"x":1,"y":2,"time":100},{"x":3,"y":4,"time":120}]]"#;
        let v3 = r#"[{"color":"black","points":[{"x":1,"y":2,"time":100},{"x":3,"y":4,"time":120}]}]"#;
        let a = Signature::from_signature_pad_json(v2).unwrap();
        let b = Signature::from_signature_pad_json(v3).unwrap();
        assert_eq!(a, b);
        assert!(a.points().all(|p| p.pressure == DEFAULT_PRESSURE));
    }

    #[test]
    fn errors_name_the_problem() {
        let cases = [
            ("{", "signature JSON: not valid JSON"),
            ("{}", "signature JSON: the top level is not an array of strokes"),
            ("[3]", "signature JSON: stroke 1 is neither"),
            ("[[5]]", "signature JSON: point 1 of stroke 1 is not an object"),
            (r#"[[],[{"x":1,"time":0}]]"#, "signature JSON: point 1 of stroke 2 has no y"),
            (r#"[[{"x":"1","y":1,"time":0}]]"#, "has a non-numeric x"),
            (r#"[[{"x":1,"y":null,"time":0}]]"#, "has a non-finite y"),
            (r#"[[{"x":1,"y":1,"time":0,"pressure":"hi"}]]"#, "has a non-numeric pressure"),
            (r#"[[{"x":1e6,"y":1,"time":0}]]"#, "has x = 1000000 px, beyond the limit of ±100000 px"),
            (r#"[[{"x":1,"y":1,"time":1e300}]]"#, "has a time that is not epoch milliseconds"),
            (
                r#"[[{"x":1,"y":1,"time":5}],[{"x":1,"y":1,"time":4}]]"#,
                "point 1 of stroke 2 is timed before the point preceding it",
            ),
        ];
        for (input, expected) in cases {
            let message = Signature::from_signature_pad_json(input).unwrap_err().to_string();
            assert!(message.contains(expected), "{input}: {message}");
            assert!(!message.contains('\n'), "{message}");
        }
    }

    #[test]
    fn null_pressure_means_default_and_equal_times_are_fine() {
        let sig =
            Signature::from_signature_pad_json(r#"[[{"x":1,"y":1,"time":7,"pressure":null},{"x":2,"y":1,"time":7}]]"#)
                .unwrap();
        assert!(sig.points().all(|p| p.pressure == DEFAULT_PRESSURE && p.t == 0));
    }

    #[test]
    fn oversize_input_names_the_limit() {
        let stroke = r#"{"points":[{"x":1,"y":1,"time":0}]}"#;
        let many = format!("[{}]", vec![stroke; MAX_STROKES + 1].join(","));
        let e = Signature::from_signature_pad_json(&many).unwrap_err();
        assert_eq!(e.to_string(), "signature JSON: more than the limit of 50 strokes");
        let point = r#"{"x":1,"y":1,"time":0}"#;
        let big = format!("[[{}]]", vec![point; MAX_POINTS + 1].join(","));
        let e = Signature::from_signature_pad_json(&big).unwrap_err();
        assert_eq!(e.to_string(), "signature JSON: more than the limit of 10000 points");
    }

    #[test]
    fn empty_array_is_an_empty_signature() {
        assert_eq!(Signature::from_signature_pad_json("[]").unwrap(), Signature::default());
        assert_eq!(Signature::default().to_signature_pad_json(), "[]");
    }

    fn arb_signature() -> impl Strategy<Value = Signature> {
        let point = (-1_000_000i32..=1_000_000, -1_000_000i32..=1_000_000, 0u32..2_000, 0u16..=1000);
        let stroke = prop::collection::vec(point, 1..20);
        (-(1i64 << 50)..(1i64 << 50), prop::collection::vec(stroke, 0..8)).prop_map(|(start, strokes)| {
            // Turn time steps into running times, starting at 0.
            let mut t = 0u32;
            let strokes: Vec<Stroke> = strokes
                .into_iter()
                .map(|pts| Stroke {
                    points: pts
                        .into_iter()
                        .map(|(x, y, dt, pressure)| {
                            t = (t + dt).min(MAX_DURATION_MS);
                            SignaturePoint { x, y, t, pressure }
                        })
                        .collect(),
                })
                .collect();
            // The first point is the origin of time.
            let shift = strokes.first().map_or(0, |s| s.points[0].t);
            let strokes = strokes
                .into_iter()
                .map(|s| Stroke {
                    points: s.points.into_iter().map(|p| SignaturePoint { t: p.t - shift, ..p }).collect(),
                })
                .collect::<Vec<_>>();
            let started_at_ms = if strokes.is_empty() { 0 } else { start };
            Signature { started_at_ms, strokes }
        })
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<f64>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            "[a-z]{0,6}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                prop::collection::btree_map(
                    prop_oneof![
                        Just("x".to_string()),
                        Just("y".to_string()),
                        Just("time".to_string()),
                        Just("pressure".to_string()),
                        Just("points".to_string()),
                        "[a-z]{1,4}",
                    ],
                    inner,
                    0..6
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn round_trips(sig in arb_signature()) {
            let json = sig.to_signature_pad_json();
            prop_assert_eq!(Signature::from_signature_pad_json(&json), Ok(sig));
        }

        #[test]
        fn never_panics_on_text(s in "\\PC{0,200}") {
            let _ = Signature::from_signature_pad_json(&s);
        }

        #[test]
        fn never_panics_on_json_values(v in arb_json()) {
            let _ = Signature::from_signature_pad_json(&v.to_string());
        }

        #[test]
        fn never_panics_on_point_like_json(
            points in prop::collection::vec(
                (any::<f64>(), any::<f64>(), any::<f64>(), prop::option::of(any::<f64>())), 0..10)
        ) {
            let pts: Vec<Value> = points.iter().map(|(x, y, t, p)| json!({"x": x, "y": y, "time": t, "pressure": p})).collect();
            let _ = Signature::from_signature_pad_json(&json!([{"points": pts}]).to_string());
        }
    }
}
