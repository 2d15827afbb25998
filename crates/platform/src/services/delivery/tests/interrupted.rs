//! Attempts that end without an outcome: a worker killed after the relay accepted (the one
//! window where a resend can duplicate, with the same Message-ID), an attempt cut off before its
//! lease runs out, and the local outbox, which a resend never writes twice.

use std::ffi::OsStr;
use std::time::{Duration, Instant};

use super::super::{try_execute_task, Step};
use super::{channels, store_with_receipt};
use crate::infra::delivery::email::tests::settings;
use crate::infra::delivery::email::{EmailSender, TlsMode};
use crate::infra::delivery::local::LocalOutbox;
use crate::infra::delivery::{Message, ReceiptMessage, Sender};
use crate::infra::store::Store;
use ereceipt_test_peers::smtp::SmtpServer;

const RECEIPT: &str = "T0000501-000001-000001";

/// Claims the delivery as worker "dead" with a lease that has already run out, as a worker
/// that was killed long enough ago would have left it.
async fn claimed_by_a_dead_worker(store: &Store) -> crate::infra::store::DeliveryRow {
    store.claim_delivery("dead", -1).await.unwrap().unwrap()
}

fn outgoing(d: &crate::infra::store::DeliveryRow, png: &[u8]) -> ReceiptMessage {
    ReceiptMessage {
        delivery_id: d.delivery_id.clone(),
        receipt_id: d.receipt_id.clone(),
        merchant_name: "海港书店 Harbour Books".into(),
        amount: "CNY 128.50".into(),
        time_local: "2025-11-25 14:03".into(),
        masked_pan: "622202******3446".into(),
        pull_code: "K7M2QX9P".into(),
        link: format!("https://receipts.example/r/{}", d.receipt_id),
        png: png.to_vec(),
        recipient: d.recipient.clone(),
    }
}

fn history(events: &[crate::infra::store::DeliveryEvent]) -> Vec<&str> {
    events.iter().map(|e| e.state.as_str()).collect()
}

/// The honest limit of SMTP: killed between the relay's 250 and recording it, the worker that
/// takes over sends again. The resend is the same message with the same Message-ID, and the
/// history says the first attempt's outcome is unknown.
#[tokio::test]
async fn killed_after_the_relay_accepted_the_resend_carries_the_same_message_id() {
    let server = SmtpServer::start(&[]).await;
    let (store, dir, png) = store_with_receipt(("email", "li.na@example.com")).await;
    let ch = channels(&settings(server.port, TlsMode::None), dir.path());
    let dead = claimed_by_a_dead_worker(&store).await;
    // The dead worker's attempt reached the relay, which accepted; then the process died.
    EmailSender::new(&settings(server.port, TlsMode::None)).unwrap().send(&outgoing(&dead, &png)).await.unwrap();

    assert_eq!(try_execute_task(&store, &ch, "w2").await.unwrap(), Step::Sent(format!("{RECEIPT}.email")));
    let received = server.received();
    assert_eq!(received.len(), 2, "the window where a resend duplicates");
    let message_id =
        |raw: &[u8]| mail_parser::MessageParser::default().parse(raw).unwrap().message_id().map(String::from);
    assert_eq!(message_id(&received[0].0), Some(format!("{RECEIPT}.email@ereceipt")));
    assert_eq!(message_id(&received[0].0), message_id(&received[1].0), "recognisable as the same message");
    let (d, events) = &store.deliveries_of(RECEIPT).await.unwrap()[0];
    assert_eq!((d.state.as_str(), d.attempts), ("sent", 2));
    assert_eq!(history(events), ["queued", "interrupted", "sent"]);
    assert!(events[1].answer.contains("attempt 1 (worker dead)"), "{}", events[1].answer);
}

/// A relay that holds the data without answering: the attempt is cut off at 3/4 of the lease
/// and recorded while the claim holds, so no second worker can be sending it meanwhile; the
/// held message was never accepted, and the retry delivers it once.
#[tokio::test]
async fn an_attempt_is_cut_off_and_recorded_before_its_lease_runs_out() {
    let server = SmtpServer::start(&[OsStr::new("--hold"), OsStr::new("1")]).await;
    let (store, dir, _) = store_with_receipt(("email", "li.na@example.com")).await;
    let mut ch = channels(&settings(server.port, TlsMode::None), dir.path());
    ch.lease = Duration::from_secs(2);
    let started = Instant::now();
    match try_execute_task(&store, &ch, "w1").await.unwrap() {
        Step::Retry { error, .. } => assert!(error.contains("no outcome within 1.5 s"), "{error}"),
        other => panic!("expected a cut-off attempt, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(2), "recorded within the lease: {:?}", started.elapsed());
    assert_eq!(store.deliveries_of(RECEIPT).await.unwrap()[0].0.state.as_str(), "queued");
    assert_eq!((server.held(), server.received().len()), (1, 0));

    store.make_due_now().await.unwrap();
    assert_eq!(try_execute_task(&store, &ch, "w1").await.unwrap(), Step::Sent(format!("{RECEIPT}.email")));
    assert_eq!(server.received().len(), 1);
}

/// With no server, a resend after a crash finds what the interrupted attempt wrote and writes
/// nothing: the outbox folder gets each message exactly once.
#[tokio::test]
async fn the_local_outbox_gets_an_interrupted_message_exactly_once() {
    for (channel, to, written) in [("sms", "+8613800138000", "sms.log"), ("mms", "+8613800138000", "mms.log")] {
        let (store, dir, png) = store_with_receipt((channel, to)).await;
        let outbox = dir.path().join("outbox");
        let ch = channels(&settings(25, TlsMode::None), &outbox);
        let dead = claimed_by_a_dead_worker(&store).await;
        let msg = Message::Receipt(outgoing(&dead, &png));
        // The dead worker wrote the message, then died before recording it.
        let local = if channel == "sms" { LocalOutbox::sms(&outbox) } else { LocalOutbox::mms(&outbox) };
        local.send(&msg).await.unwrap();

        let id = format!("{RECEIPT}.{channel}");
        assert_eq!(try_execute_task(&store, &ch, "w2").await.unwrap(), Step::Sent(id.clone()));
        let log = std::fs::read_to_string(outbox.join(written)).unwrap();
        assert_eq!(log.lines().filter(|l| l.contains(&id)).count(), 1, "{channel}: {log}");
        let (d, events) = &store.deliveries_of(RECEIPT).await.unwrap()[0];
        assert_eq!(history(events), ["queued", "interrupted", "sent"], "{channel}");
        assert!(d.last_answer.as_deref().is_some_and(|a| a.contains("already in")), "{channel}: {d:?}");

        // Without the crash, a message is written once too (and the log gets its line).
        let (store, dir, _) = store_with_receipt((channel, to)).await;
        let outbox = dir.path().join("outbox");
        let ch = channels(&settings(25, TlsMode::None), &outbox);
        assert_eq!(try_execute_task(&store, &ch, "w1").await.unwrap(), Step::Sent(id.clone()));
        let log = std::fs::read_to_string(outbox.join(written)).unwrap();
        assert_eq!(log.lines().filter(|l| l.contains(&id)).count(), 1, "{channel}: {log}");
    }
}
