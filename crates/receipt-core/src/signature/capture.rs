//! The signing screen's state machine: pointer events and the time go in, a finished or
//! rejected signature comes out. No clock inside, so it runs the same in tests and on a server.

use super::check::{SignatureRejected, SignatureRules};
use super::data::{RawPoint, Signature, MAX_COORDINATE_PX, MAX_POINTS, MAX_STROKES};

/// How the capture decides that the cardholder is done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureConfig {
    /// The signature is finished this long after the last event with the pen up.
    pub idle_ms: u32,
    /// What the finished signature must pass.
    pub rules: SignatureRules,
}

impl Default for CaptureConfig {
    fn default() -> Self {
        Self { idle_ms: 2_500, rules: SignatureRules::default() }
    }
}

/// What the signing screen shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaptureState {
    /// Nothing drawn yet.
    Waiting,
    /// Input seen; the pen may be down or up. While the pen is down, `idle_remaining_ms` stays
    /// at the full `idle_ms`, since the countdown only runs with the pen up.
    Signing { idle_remaining_ms: u32 },
    /// Done and plausible; final until [`SignatureCapture::clear`].
    Finished(Signature),
    /// Done but implausible; the next pen-down starts a new signature.
    Rejected(SignatureRejected),
}

#[derive(Debug, Clone)]
enum Phase {
    Waiting,
    Signing,
    Finished(Signature),
    Rejected(SignatureRejected),
}

/// Turns pointer events into a [`Signature`].
///
/// Every event first settles the past: if the idle time ran out before the event, the
/// signature is finished (or rejected) as of then, whether or not `poll` was called in between.
/// The outcome thus depends only on the events and their times, never on how often the UI polls.
#[derive(Debug, Clone)]
pub struct SignatureCapture {
    config: CaptureConfig,
    phase: Phase,
    strokes: Vec<Vec<RawPoint>>,
    points: usize,
    pen_down: bool,
    last_event_ms: i64,
    /// Input went past a storage limit; further points are dropped and the result is rejected.
    overflow: bool,
}

impl SignatureCapture {
    pub fn new(config: CaptureConfig) -> Self {
        Self {
            config,
            phase: Phase::Waiting,
            strokes: Vec::new(),
            points: 0,
            pen_down: false,
            last_event_ms: i64::MIN,
            overflow: false,
        }
    }

    /// The pen touches the pad: starts a stroke (and, after a rejection, a new signature).
    pub fn pointer_down(&mut self, x: f64, y: f64, time_ms: i64, pressure: f64) {
        let time_ms = self.settle_before(time_ms);
        match self.phase {
            Phase::Finished(_) => return,
            Phase::Rejected(_) => self.clear(),
            Phase::Waiting | Phase::Signing => {}
        }
        self.phase = Phase::Signing;
        self.pen_down = true;
        if self.strokes.len() >= MAX_STROKES {
            self.overflow = true;
        } else {
            self.strokes.push(Vec::new());
        }
        self.record(x, y, time_ms, pressure);
    }

    /// The pen moves. Moves with the pen up (a mouse hovering) are not part of the signature.
    pub fn pointer_move(&mut self, x: f64, y: f64, time_ms: i64, pressure: f64) {
        let time_ms = self.settle_before(time_ms);
        if self.pen_down {
            self.record(x, y, time_ms, pressure);
        }
    }

    /// The pen leaves the pad: the up position is the stroke's last point (as in signature_pad).
    pub fn pointer_up(&mut self, x: f64, y: f64, time_ms: i64, pressure: f64) {
        let time_ms = self.settle_before(time_ms);
        if self.pen_down {
            self.record(x, y, time_ms, pressure);
            self.pen_down = false;
        }
    }

    /// The state at `now_ms`.
    pub fn poll(&mut self, now_ms: i64) -> CaptureState {
        self.settle(now_ms);
        match &self.phase {
            Phase::Waiting => CaptureState::Waiting,
            Phase::Signing => CaptureState::Signing { idle_remaining_ms: self.idle_remaining(now_ms) },
            Phase::Finished(sig) => CaptureState::Finished(sig.clone()),
            Phase::Rejected(reason) => CaptureState::Rejected(reason.clone()),
        }
    }

    /// Back to [`CaptureState::Waiting`], everything discarded.
    pub fn clear(&mut self) {
        *self = Self::new(self.config.clone());
    }

    /// Whether the pen is on the pad.
    pub fn is_pen_down(&self) -> bool {
        self.pen_down
    }

    /// Settles the state as of an event at `time_ms` and returns that time clamped so events
    /// never go back in time.
    fn settle_before(&mut self, time_ms: i64) -> i64 {
        let time_ms = time_ms.max(self.last_event_ms);
        self.settle(time_ms);
        time_ms
    }

    fn idle_remaining(&self, now_ms: i64) -> u32 {
        if self.pen_down {
            return self.config.idle_ms;
        }
        let elapsed = now_ms.saturating_sub(self.last_event_ms).max(0);
        (i64::from(self.config.idle_ms) - elapsed).max(0) as u32
    }

    /// Finishes the signature if the pen is up and the idle time has run out by `now_ms`.
    fn settle(&mut self, now_ms: i64) {
        // With the pen down nothing finishes, whatever the idle time (even a configured 0).
        if !matches!(self.phase, Phase::Signing) || self.pen_down || self.idle_remaining(now_ms) > 0 {
            return;
        }
        let strokes: Vec<(usize, Vec<RawPoint>)> =
            std::mem::take(&mut self.strokes).into_iter().enumerate().map(|(i, s)| (i + 1, s)).collect();
        self.phase = match (self.overflow, Signature::from_raw(&strokes)) {
            // Inputs are sanitised in `record`, so the only possible errors are the limits.
            (true, _) | (_, Err(_)) => Phase::Rejected(SignatureRejected::TooLarge),
            (false, Ok(sig)) => match sig.check(&self.config.rules) {
                Ok(()) => Phase::Finished(sig),
                Err(reason) => Phase::Rejected(reason),
            },
        };
        self.points = 0;
        self.overflow = false;
    }

    /// Appends a point to the current stroke. A point with a non-finite position is dropped;
    /// positions are clamped to the stored range and a non-finite pressure counts as absent.
    fn record(&mut self, x: f64, y: f64, time_ms: i64, pressure: f64) {
        self.last_event_ms = time_ms;
        if !x.is_finite() || !y.is_finite() {
            return;
        }
        if self.overflow || self.points >= MAX_POINTS {
            self.overflow = true;
            return;
        }
        let limit = MAX_COORDINATE_PX as f64;
        let point = RawPoint {
            x: x.clamp(-limit, limit),
            y: y.clamp(-limit, limit),
            time: time_ms as f64,
            pressure: pressure.is_finite().then_some(pressure),
        };
        if let Some(stroke) = self.strokes.last_mut() {
            stroke.push(point);
            self.points += 1;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
