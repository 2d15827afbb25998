//! Per-number send limits through the queue: the fourth text to one number within a minute is
//! held back (queued again, not failed, with the reason in its history) and sent once the
//! minute is over; the texts that went are China Mobile's link-free ones with the pull code.

use super::super::{try_execute_task_at, Step};
use super::{channels, store_with_receipt};
use crate::domain::delivery::Channel;
use crate::domain::limits::SendLimits;
use crate::domain::pull_code;
use crate::infra::delivery::email::tests::settings;
use crate::infra::delivery::email::TlsMode;
use crate::infra::delivery::local::LocalOutbox;
use crate::infra::delivery::router::{RoutingSettings, SmsRouter, TemplateSettings};
use crate::infra::store::Resend;

const RECEIPT: &str = "T0000501-000001-000001";
const NUMBER: &str = "+8613800131234";

#[tokio::test]
async fn the_fourth_text_to_a_number_in_a_minute_is_held_then_sent_after_it() {
    let (store, dir, _) = store_with_receipt(("sms", NUMBER)).await;
    let mut ch = channels(&settings(25, TlsMode::None), dir.path());
    ch.send_limits = SendLimits::default();
    let outbox = Box::new(LocalOutbox::sms(dir.path()));
    ch.sms = Box::new(SmsRouter::new(outbox, RoutingSettings::default(), TemplateSettings::default()));
    let now = chrono::Utc::now().timestamp_millis();
    // The terminal resent the receipt to the same number three times: four texts are due.
    for _ in 0..3 {
        assert!(matches!(store.resend(RECEIPT, Channel::Sms, NUMBER, now).await.unwrap(), Resend::Queued { .. }));
    }
    for i in 0..3 {
        let step = try_execute_task_at(&store, &ch, "w1", now + i).await.unwrap();
        assert!(matches!(step, Step::Sent(_)), "text {i}: {step:?}");
    }
    let Step::Held { delivery_id, reason } = try_execute_task_at(&store, &ch, "w1", now + 10).await.unwrap() else {
        panic!("the fourth text in the minute must be held back");
    };
    assert!(reason.starts_with("held back: 3 per minute to +86138…1234; next try "), "{reason}");
    assert_eq!(try_execute_task_at(&store, &ch, "w1", now + 20).await.unwrap(), Step::Idle, "not due yet");

    let deliveries = store.deliveries_of(RECEIPT).await.unwrap();
    let (held, events) = deliveries.iter().find(|(d, _)| d.delivery_id == delivery_id).unwrap();
    assert_eq!((held.state.as_str(), held.attempts), ("queued", 0), "held back, not failed, not an attempt");
    assert_eq!(events.last().map(|e| (e.state.as_str(), e.answer.as_str())), Some(("held", reason.as_str())));

    // The minute is over (the queue's wait moved forward, the limit's clock moved on).
    store.make_due_now().await.unwrap();
    let step = try_execute_task_at(&store, &ch, "w1", now + 61_000).await.unwrap();
    assert_eq!(step, Step::Sent(delivery_id.clone()));
    let deliveries = store.deliveries_of(RECEIPT).await.unwrap();
    let (_, events) = deliveries.iter().find(|(d, _)| d.delivery_id == delivery_id).unwrap();
    let steps: Vec<&str> = events.iter().map(|e| e.state.as_str()).collect();
    assert_eq!(steps, ["queued", "held", "sent"]);

    let log = std::fs::read_to_string(dir.path().join("sms.log")).unwrap();
    assert_eq!(log.lines().count(), 4, "every text once: {log}");
    let code = pull_code::pull_code(b"test link key", RECEIPT, NUMBER);
    for line in log.lines() {
        assert!(line.ends_with(&format!("提取码/code {code}")) && !line.contains("https://"), "{line}");
    }
}
