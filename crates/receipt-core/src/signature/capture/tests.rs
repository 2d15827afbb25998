//! Capture tests with a fake clock: times are plain integers.

use super::*;
use proptest::prelude::*;

const T0: i64 = 1_700_000_000_000;

fn capture() -> SignatureCapture {
    SignatureCapture::new(CaptureConfig::default())
}

/// Draws a zigzag stroke 200×60 px of 12 points, 10 ms apart, starting at `start`; returns the
/// time of the pen-up.
fn sign(c: &mut SignatureCapture, start: i64) -> i64 {
    c.pointer_down(0.0, 0.0, start, 0.5);
    let mut t = start;
    for i in 1..11 {
        t += 10;
        c.pointer_move(f64::from(i) * 20.0, if i % 2 == 0 { 0.0 } else { 60.0 }, t, 0.5);
    }
    t += 10;
    c.pointer_up(220.0, 60.0, t, 0.5);
    t
}

#[test]
fn waits_until_input() {
    let mut c = capture();
    assert_eq!(c.poll(T0), CaptureState::Waiting);
    c.pointer_move(1.0, 1.0, T0, 0.0); // hovering mouse
    c.pointer_up(1.0, 1.0, T0, 0.0);
    assert_eq!(c.poll(T0 + 10_000), CaptureState::Waiting);
}

#[test]
fn finishes_exactly_idle_ms_after_the_last_pen_up() {
    let mut c = capture();
    let up = sign(&mut c, T0);
    assert_eq!(c.poll(up), CaptureState::Signing { idle_remaining_ms: 2_500 });
    assert_eq!(c.poll(up + 2_499), CaptureState::Signing { idle_remaining_ms: 1 });
    let CaptureState::Finished(sig) = c.poll(up + 2_500) else { panic!("not finished") };
    assert_eq!(sig.started_at_ms, T0);
    assert_eq!(sig.point_count(), 12);
    assert_eq!(sig.strokes[0].points[11].t, 110);
}

#[test]
fn a_new_stroke_within_the_interval_extends() {
    let mut c = capture();
    let up = sign(&mut c, T0);
    let up2 = sign(&mut c, up + 2_499);
    assert!(matches!(c.poll(up2 + 2_499), CaptureState::Signing { .. }));
    let CaptureState::Finished(sig) = c.poll(up2 + 2_500) else { panic!("not finished") };
    assert_eq!(sig.strokes.len(), 2);
}

#[test]
fn pen_held_down_never_finishes() {
    let mut c = capture();
    c.pointer_down(0.0, 0.0, T0, 0.5);
    c.pointer_move(100.0, 50.0, T0 + 10, 0.5);
    for k in 1..100 {
        assert_eq!(c.poll(T0 + k * 10_000), CaptureState::Signing { idle_remaining_ms: 2_500 });
    }
}

#[test]
fn finished_is_final_until_clear_and_clear_restarts() {
    let mut c = capture();
    let up = sign(&mut c, T0);
    let done = c.poll(up + 3_000);
    assert!(matches!(done, CaptureState::Finished(_)));
    sign(&mut c, up + 4_000);
    assert_eq!(c.poll(up + 10_000), done);
    c.clear();
    assert_eq!(c.poll(up + 10_000), CaptureState::Waiting);
    let up2 = sign(&mut c, up + 20_000);
    let CaptureState::Finished(sig) = c.poll(up2 + 2_500) else { panic!("not finished") };
    assert_eq!(sig.started_at_ms, up + 20_000);
    assert_eq!(sig.strokes.len(), 1);
}

#[test]
fn clear_while_signing_discards() {
    let mut c = capture();
    c.pointer_down(0.0, 0.0, T0, 0.5);
    c.clear();
    assert_eq!(c.poll(T0 + 1), CaptureState::Waiting);
    assert!(!c.is_pen_down());
    c.pointer_move(10.0, 10.0, T0 + 2, 0.5);
    assert_eq!(c.poll(T0 + 10_000), CaptureState::Waiting);
}

#[test]
fn a_dot_is_rejected_and_the_next_pen_down_starts_over() {
    let mut c = capture();
    c.pointer_down(50.0, 50.0, T0, 0.5);
    c.pointer_up(51.0, 50.0, T0 + 40, 0.5);
    assert_eq!(c.poll(T0 + 40 + 2_500), CaptureState::Rejected(SignatureRejected::Dot));
    assert_eq!(c.poll(T0 + 99_000), CaptureState::Rejected(SignatureRejected::Dot));
    let up = sign(&mut c, T0 + 100_000);
    let CaptureState::Finished(sig) = c.poll(up + 2_500) else { panic!("not finished") };
    assert_eq!(sig.strokes.len(), 1, "the dot was discarded");
    assert_eq!(sig.started_at_ms, T0 + 100_000);
}

#[test]
fn too_small_is_rejected() {
    let mut c = capture();
    c.pointer_down(0.0, 0.0, T0, 0.5);
    for i in 1..12 {
        c.pointer_move(f64::from(i) * 2.0, f64::from(i % 2) * 6.0, T0 + i64::from(i) * 10, 0.5);
    }
    c.pointer_up(24.0, 0.0, T0 + 120, 0.5);
    assert!(matches!(c.poll(T0 + 5_000), CaptureState::Rejected(SignatureRejected::TooSmall { .. })));
}

#[test]
fn events_back_in_time_are_clamped() {
    let mut c = capture();
    c.pointer_down(0.0, 0.0, T0 + 100, 0.5);
    c.pointer_move(100.0, 40.0, T0 + 50, 0.5);
    for i in 0..10 {
        c.pointer_move(f64::from(i) * 20.0, f64::from(i % 2) * 40.0, T0 + 200 + i64::from(i), 0.5);
    }
    c.pointer_up(0.0, 40.0, T0 + 10, 0.5);
    let CaptureState::Finished(sig) = c.poll(T0 + 209 + 2_500) else { panic!("not finished") };
    let times: Vec<u32> = sig.points().map(|p| p.t).collect();
    assert_eq!(times[..2], [0, 0]);
    assert_eq!(*times.last().unwrap_or(&0), 109);
}

#[test]
fn outcome_does_not_depend_on_polling() {
    // An event after the deadline settles the signature as of the deadline, polled or not.
    let mut c = capture();
    let up = sign(&mut c, T0);
    sign(&mut c, up + 2_500);
    let CaptureState::Finished(sig) = c.poll(up + 100_000) else { panic!("not finished") };
    assert_eq!(sig.strokes.len(), 1);
}

#[test]
fn holding_the_pen_past_the_limits_is_rejected() {
    let mut c = capture();
    c.pointer_down(0.0, 0.0, T0, 0.5);
    for i in 0..(MAX_POINTS as i64 + 10) {
        c.pointer_move((i % 300) as f64, (i % 70) as f64, T0 + i, 0.5);
    }
    c.pointer_up(0.0, 0.0, T0 + 20_000, 0.5);
    assert_eq!(c.poll(T0 + 30_000), CaptureState::Rejected(SignatureRejected::TooLarge));
    let mut c = capture();
    c.pointer_down(0.0, 0.0, T0, 0.5);
    c.pointer_move(300.0, 90.0, T0 + 600_001, 0.5);
    c.pointer_up(f64::NAN, 0.0, T0 + 600_002, f64::NAN);
    assert_eq!(c.poll(T0 + 700_000), CaptureState::Rejected(SignatureRejected::TooLarge));
}

#[derive(Debug, Clone)]
enum Event {
    Down(f64, f64, i64, f64),
    Move(f64, f64, i64, f64),
    Up(f64, f64, i64, f64),
    Poll(i64),
    Clear,
}

fn arb_event() -> impl Strategy<Value = Event> {
    let coord = prop_oneof![-500.0..500.0f64, any::<f64>()];
    let dt = prop_oneof![0i64..50, -100i64..4_000, any::<i64>()];
    let p = prop_oneof![0.0..1.0f64, any::<f64>()];
    prop_oneof![
        (coord.clone(), coord.clone(), dt.clone(), p.clone()).prop_map(|(x, y, t, p)| Event::Down(x, y, t, p)),
        (coord.clone(), coord.clone(), dt.clone(), p.clone()).prop_map(|(x, y, t, p)| Event::Move(x, y, t, p)),
        (coord.clone(), coord, dt.clone(), p).prop_map(|(x, y, t, p)| Event::Up(x, y, t, p)),
        dt.prop_map(Event::Poll),
        Just(Event::Clear),
    ]
}

proptest! {
    #[test]
    fn never_panics_nor_finishes_with_the_pen_down(
        events in prop::collection::vec(arb_event(), 0..200),
        idle_ms in 0u32..5_000,
    ) {
        let mut c = SignatureCapture::new(CaptureConfig { idle_ms, ..CaptureConfig::default() });
        let mut now = T0;
        for e in events {
            // Events carry time offsets, so the clock mostly goes forward but can jump anywhere.
            match e {
                Event::Down(x, y, dt, p) => { now = now.saturating_add(dt); c.pointer_down(x, y, now, p) }
                Event::Move(x, y, dt, p) => { now = now.saturating_add(dt); c.pointer_move(x, y, now, p) }
                Event::Up(x, y, dt, p) => { now = now.saturating_add(dt); c.pointer_up(x, y, now, p) }
                Event::Poll(dt) => now = now.saturating_add(dt),
                Event::Clear => c.clear(),
            }
            let pen_down = c.is_pen_down();
            let state = c.poll(now);
            if pen_down {
                prop_assert!(!matches!(state, CaptureState::Finished(_)));
                prop_assert!(!matches!(state, CaptureState::Rejected(_)));
            }
            if let CaptureState::Finished(sig) = state {
                prop_assert_eq!(sig.check(&CaptureConfig::default().rules), Ok(()));
                prop_assert_eq!(Signature::from_signature_pad_json(&sig.to_signature_pad_json()), Ok(sig));
            }
        }
    }
}
