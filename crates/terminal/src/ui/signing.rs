//! The signature pad's server side: the page streams pointer events in small batches, and the
//! receipt core's `SignatureCapture` (the one implementation of the idle rule) decides when the
//! signature is finished. The page only shows the state it is told, countdown included.

use ereceipt_core::signature::{CaptureConfig, CaptureState, Signature, SignatureCapture};
use serde::{Deserialize, Serialize};

use super::error::UiError;

/// Most events one batch may carry (the page sends every ~50 ms, a few events each).
pub const MAX_BATCH_EVENTS: usize = 1_000;

/// A pointer event as the page saw it. Coordinates are CSS pixels from the pad's top left,
/// `time` and `pressure` as in signature_pad's `toData()` (epoch ms, 0..1).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointerEvent {
    #[serde(rename = "type")]
    pub kind: PointerKind,
    /// `pen`, `touch` or `mouse` (DOM `PointerEvent.pointerType`).
    #[serde(rename = "pointerType")]
    pub pointer_type: String,
    pub x: f64,
    pub y: f64,
    pub time: f64,
    pub pressure: f64,
}

/// Pen down, move, up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PointerKind {
    Down,
    Move,
    Up,
}

/// One request from the pad: the events since the last one (possibly none: a poll) and the
/// page's clock when it sent them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointerBatch {
    /// The page's `Date.now()` when sending.
    pub now: f64,
    #[serde(default)]
    pub events: Vec<PointerEvent>,
}

/// What the pad shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum PadState {
    Waiting,
    Signing { pen_down: bool, idle_remaining_ms: u32, idle_ms: u32 },
    Finished { strokes: usize, points: usize },
    Rejected { reason_en: String, reason_zh: String },
}

/// One sale's signature capture, on the server's clock.
#[derive(Debug, Clone)]
pub struct SigningSession {
    capture: SignatureCapture,
    idle_ms: u32,
    /// Server clock minus page clock, fixed by the first batch of a signature, so event times
    /// and the idle countdown are on one clock and never run backwards.
    offset_ms: Option<i64>,
}

impl SigningSession {
    pub fn new(config: CaptureConfig) -> Self {
        Self { idle_ms: config.idle_ms, capture: SignatureCapture::new(config), offset_ms: None }
    }

    /// Feeds a batch received at `server_now_ms` and answers with the state after it.
    pub fn apply(&mut self, batch: &PointerBatch, server_now_ms: i64) -> Result<PadState, UiError> {
        if batch.events.len() > MAX_BATCH_EVENTS {
            return Err(UiError::invalid(
                "signature",
                format!("signature: at most {MAX_BATCH_EVENTS} pointer events per batch"),
                "签名数据过多，请清除后重签",
            ));
        }
        if !batch.now.is_finite() {
            return Err(UiError::invalid("signature", "signature: the page's clock is not a number", "签名数据无效"));
        }
        let offset = *self.offset_ms.get_or_insert(server_now_ms - batch.now as i64);
        for e in &batch.events {
            let time = if e.time.is_finite() { e.time as i64 + offset } else { server_now_ms };
            // A mouse has no pressure: let the core store its default rather than 0.5 or 0.
            let pressure = if e.pointer_type == "mouse" { f64::NAN } else { e.pressure };
            match e.kind {
                PointerKind::Down => self.capture.pointer_down(e.x, e.y, time, pressure),
                PointerKind::Move => self.capture.pointer_move(e.x, e.y, time, pressure),
                PointerKind::Up => self.capture.pointer_up(e.x, e.y, time, pressure),
            }
        }
        Ok(self.poll(server_now_ms))
    }

    /// The state at `server_now_ms`.
    pub fn poll(&mut self, server_now_ms: i64) -> PadState {
        match self.capture.poll(server_now_ms) {
            CaptureState::Waiting => PadState::Waiting,
            CaptureState::Signing { idle_remaining_ms } => {
                PadState::Signing { pen_down: self.capture.is_pen_down(), idle_remaining_ms, idle_ms: self.idle_ms }
            }
            CaptureState::Finished(sig) => PadState::Finished { strokes: sig.strokes.len(), points: sig.point_count() },
            CaptureState::Rejected(reason) => {
                // The next pen-down starts afresh, on a clock fixed again by its batch.
                self.offset_ms = None;
                PadState::Rejected { reason_en: reason.message_en(), reason_zh: reason.message_zh() }
            }
        }
    }

    /// The finished signature, if the capture has finished by `server_now_ms`.
    pub fn signature(&mut self, server_now_ms: i64) -> Option<Signature> {
        match self.capture.poll(server_now_ms) {
            CaptureState::Finished(sig) => Some(sig),
            _ => None,
        }
    }

    /// Clear: everything discarded, back to waiting.
    pub fn clear(&mut self) {
        self.capture.clear();
        self.offset_ms = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE_T0: f64 = 1_764_050_591_000.0;
    const SERVER_T0: i64 = 1_764_050_600_000; // the server's clock is 9 s ahead of the page's

    fn ev(kind: PointerKind, x: f64, y: f64, t: f64) -> PointerEvent {
        PointerEvent { kind, pointer_type: "pen".into(), x, y, time: PAGE_T0 + t, pressure: 0.6 }
    }

    /// A wavy stroke of `n` points, 16 ms apart, starting at page time `t0`.
    fn stroke(t0: f64, n: usize, dx: f64) -> Vec<PointerEvent> {
        let mut out = Vec::new();
        for i in 0..n {
            let kind = match i {
                0 => PointerKind::Down,
                i if i + 1 == n => PointerKind::Up,
                _ => PointerKind::Move,
            };
            let x = dx + i as f64 * 8.0;
            let y = 60.0 + 25.0 * (i as f64 * 0.5).sin();
            out.push(ev(kind, x, y, t0 + i as f64 * 16.0));
        }
        out
    }

    fn batch(now_page_ms: f64, events: Vec<PointerEvent>) -> PointerBatch {
        PointerBatch { now: PAGE_T0 + now_page_ms, events }
    }

    #[test]
    fn batches_feed_the_core_state_machine_and_finish_after_the_idle_time() {
        let mut s = SigningSession::new(CaptureConfig::default());
        assert_eq!(s.poll(SERVER_T0), PadState::Waiting);
        let events = stroke(0.0, 30, 20.0);
        let (first, rest) = events.split_at(10);
        // Pen down and moving: the countdown does not run.
        let st = s.apply(&batch(160.0, first.to_vec()), SERVER_T0 + 160).expect("batch");
        assert_eq!(st, PadState::Signing { pen_down: true, idle_remaining_ms: 2_500, idle_ms: 2_500 });
        // Pen up at page time 464 ms: the countdown runs from the up event, on the server's clock.
        let st = s.apply(&batch(470.0, rest.to_vec()), SERVER_T0 + 470).expect("batch");
        assert_eq!(st, PadState::Signing { pen_down: false, idle_remaining_ms: 2_494, idle_ms: 2_500 });
        let st = s.apply(&batch(1_464.0, vec![]), SERVER_T0 + 1_464).expect("poll");
        assert_eq!(st, PadState::Signing { pen_down: false, idle_remaining_ms: 1_500, idle_ms: 2_500 });
        // A second stroke within the idle time continues the signature.
        let st = s.apply(&batch(2_000.0, stroke(1_900.0, 20, 300.0)), SERVER_T0 + 2_000).expect("batch");
        assert!(matches!(st, PadState::Signing { pen_down: false, .. }), "{st:?}");
        assert!(s.signature(SERVER_T0 + 2_500).is_none());
        let last_up = 1_900 + 19 * 16;
        assert!(matches!(s.poll(SERVER_T0 + last_up + 2_499), PadState::Signing { idle_remaining_ms: 1, .. }));
        assert_eq!(s.poll(SERVER_T0 + last_up + 2_500), PadState::Finished { strokes: 2, points: 50 });
        let sig = s.signature(SERVER_T0 + last_up + 2_500).expect("finished");
        assert_eq!(sig.started_at_ms, SERVER_T0, "times are on the server's clock");
        assert_eq!(sig.strokes[0].points[0].pressure, 600);
        assert_eq!(sig.strokes[0].points[0].x, 200, "tenths of a CSS pixel, as in the core");
        // Finished is final: more input changes nothing.
        let st = s.apply(&batch(9_000.0, stroke(9_000.0, 10, 0.0)), SERVER_T0 + 9_000).expect("batch");
        assert_eq!(st, PadState::Finished { strokes: 2, points: 50 });
    }

    #[test]
    fn polls_do_not_move_the_outcome_and_clear_starts_over() {
        let mut s = SigningSession::new(CaptureConfig::default());
        s.apply(&batch(500.0, stroke(0.0, 30, 20.0)), SERVER_T0 + 500).expect("batch");
        s.clear();
        assert_eq!(s.poll(SERVER_T0 + 10_000), PadState::Waiting);
        // After a clear the clock offset is taken afresh (here the page clock jumped by 1 h).
        let later = 3_600_000.0;
        s.apply(&batch(later + 500.0, stroke(later, 30, 20.0)), SERVER_T0 + 20_000).expect("batch");
        let up = 20_000 - 500 + 29 * 16;
        assert!(matches!(s.poll(SERVER_T0 + up + 2_000), PadState::Signing { .. }));
        assert!(matches!(s.poll(SERVER_T0 + up + 2_500), PadState::Finished { .. }));
    }

    #[test]
    fn a_dot_is_rejected_with_the_cores_reason_and_the_next_stroke_starts_afresh() {
        let mut s = SigningSession::new(CaptureConfig::default());
        let dot = vec![ev(PointerKind::Down, 50.0, 50.0, 0.0), ev(PointerKind::Up, 51.0, 50.0, 30.0)];
        s.apply(&batch(40.0, dot), SERVER_T0 + 40).expect("batch");
        match s.poll(SERVER_T0 + 40 + 2_500) {
            PadState::Rejected { reason_en, reason_zh } => {
                assert!(reason_en.contains("only a dot"), "{reason_en}");
                assert!(reason_zh.contains("点"), "{reason_zh}");
            }
            other => panic!("expected a rejection, got {other:?}"),
        }
        s.apply(&batch(5_000.0, stroke(4_000.0, 30, 20.0)), SERVER_T0 + 5_000).expect("batch");
        assert!(matches!(s.poll(SERVER_T0 + 60_000), PadState::Finished { strokes: 1, points: 30 }));
    }

    #[test]
    fn mouse_pressure_is_the_cores_default_and_oversized_batches_are_refused() {
        let mut s = SigningSession::new(CaptureConfig::default());
        let mut events = stroke(0.0, 30, 20.0);
        for e in &mut events {
            e.pointer_type = "mouse".into();
            e.pressure = 0.5;
        }
        s.apply(&batch(500.0, events), SERVER_T0 + 500).expect("batch");
        let sig = s.signature(SERVER_T0 + 10_000).expect("finished");
        assert!(sig.points().all(|p| p.pressure == ereceipt_core::signature::DEFAULT_PRESSURE));
        let too_many = vec![ev(PointerKind::Move, 1.0, 1.0, 0.0); MAX_BATCH_EVENTS + 1];
        let e = s.apply(&batch(0.0, too_many), SERVER_T0).expect_err("refused");
        assert_eq!(e.field, Some("signature"));
        let json = r#"{"now":1.0,"events":[{"type":"down","pointerType":"pen","x":1,"y":2,"time":3,"pressure":0.5,"tilt":9}]}"#;
        assert!(serde_json::from_str::<PointerBatch>(json).is_err(), "unknown fields refused");
    }
}
