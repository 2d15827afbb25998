//! W3C WebDriver input: pointer strokes (pen, touch, mouse) and keystrokes as action sequences,
//! plus the raw session command used for what fantoccini does not expose.

use std::time::Duration;

use serde_json::{json, Value};

/// Time each pointer move takes, so that every point of a stroke is its own event with its
/// own timestamp, as from a real digitiser.
const MOVE_DURATION: Duration = Duration::from_millis(16);

/// The kind of pointer a stroke is drawn with (W3C `pointerType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PointerKind {
    /// A stylus: events have `pointerType == "pen"` and the given pressure.
    Pen,
    /// A finger: events have `pointerType == "touch"`.
    Touch,
    /// A mouse with its left button held.
    Mouse,
}

impl PointerKind {
    /// The W3C name.
    pub fn as_str(self) -> &'static str {
        match self {
            PointerKind::Pen => "pen",
            PointerKind::Touch => "touch",
            PointerKind::Mouse => "mouse",
        }
    }
}

/// The body of `POST /session/{id}/actions` for one stroke through viewport `points`.
pub(crate) fn stroke(points: &[(f64, f64)], kind: PointerKind, pressure: f64) -> Value {
    let mut actions = Vec::with_capacity(points.len() + 2);
    let mut points = points.iter();
    if let Some((x, y)) = points.next() {
        actions.push(json!({"type": "pointerMove", "duration": 0, "origin": "viewport",
            "x": x, "y": y}));
        actions.push(json!({"type": "pointerDown", "button": 0, "pressure": pressure,
            "width": 1, "height": 1}));
        for (x, y) in points {
            actions.push(json!({"type": "pointerMove", "origin": "viewport", "x": x, "y": y,
                "duration": MOVE_DURATION.as_millis() as u64, "pressure": pressure,
                "width": 1, "height": 1}));
        }
        actions.push(json!({"type": "pointerUp", "button": 0}));
    }
    json!({"actions": [{
        "type": "pointer",
        "id": format!("ereceipt-{}", kind.as_str()),
        "parameters": {"pointerType": kind.as_str()},
        "actions": actions,
    }]})
}

/// The body of `POST /session/{id}/actions` typing `text` key by key; `\n` and `\r` press
/// Enter, `\t` Tab, and WebDriver key codes (`fantoccini::key::Key`) pass through.
pub(crate) fn keystrokes(text: &str) -> Value {
    let mut actions = Vec::with_capacity(text.len() * 2);
    for c in text.chars() {
        let key = match c {
            '\n' | '\r' => '\u{E007}',
            '\t' => '\u{E004}',
            c => c,
        };
        actions.push(json!({"type": "keyDown", "value": key.to_string()}));
        actions.push(json!({"type": "keyUp", "value": key.to_string()}));
    }
    json!({"actions": [{"type": "key", "id": "ereceipt-keyboard", "actions": actions}]})
}

/// A WebDriver command on the current session at `path` (relative to `/session/{id}/`).
#[derive(Debug)]
pub(crate) struct SessionCommand {
    pub(crate) method: http::Method,
    pub(crate) path: &'static str,
    pub(crate) body: Option<Value>,
}

impl fantoccini::wd::WebDriverCompatibleCommand for SessionCommand {
    fn endpoint(&self, base_url: &url::Url, session_id: Option<&str>) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!("session/{}/{}", session_id.unwrap_or_default(), self.path))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (self.method.clone(), self.body.as_ref().map(Value::to_string))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stroke_is_down_moves_up_with_pressure() {
        let body = stroke(&[(1.0, 2.0), (3.0, 4.0), (5.0, 6.0)], PointerKind::Pen, 0.7);
        let seq = &body["actions"][0];
        assert_eq!(seq["parameters"]["pointerType"], "pen");
        let kinds: Vec<&str> =
            seq["actions"].as_array().into_iter().flatten().filter_map(|a| a["type"].as_str()).collect();
        assert_eq!(kinds, ["pointerMove", "pointerDown", "pointerMove", "pointerMove", "pointerUp"]);
        assert_eq!(seq["actions"][1]["pressure"], 0.7);
        assert_eq!(seq["actions"][3]["x"], 5.0);
    }

    #[test]
    fn newline_presses_enter() {
        let body = keystrokes("4\n");
        let values: Vec<&str> = body["actions"][0]["actions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a["value"].as_str())
            .collect();
        assert_eq!(values, ["4", "4", "\u{E007}", "\u{E007}"]);
    }
}
