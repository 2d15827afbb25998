//! The delivery queue end to end with a real SMTP server (aiosmtpd): a stored receipt's email
//! arrives once with its attachment; with the server down it waits, retries, and arrives once
//! when the server is back; a worker that died mid-send is taken over after its lease.

mod interrupted;
mod limits;
mod stub;
mod throttling;

use std::ffi::OsStr;

use super::{try_execute_task, Channel, Channels, Step};
use crate::infra::delivery::email::tests::settings;
use crate::infra::delivery::email::{EmailSender, SmtpSettings, TlsMode};
use crate::infra::delivery::local::LocalOutbox;
use crate::infra::store::{NewReceipt, NewTerminal, NewToken, Store, StoreOutcome};
use ereceipt_core::model::{Currency, LocalTime, Money};
use ereceipt_test_peers::smtp::SmtpServer;

/// A SQLite store in a fresh directory holding one receipt of merchant `104110070110001` that
/// the customer chose `delivery` for.
pub(crate) async fn store_with_receipt(delivery: (&str, &str)) -> (Store, tempfile::TempDir, Vec<u8>) {
    let choice = format!("{}:{}", delivery.0, delivery.1).parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&format!("sqlite://{}", dir.path().join("p.db").display())).await.unwrap();
    let terminal = NewTerminal {
        terminal_id: "T0000501".into(),
        merchant_id: "104110070110001".into(),
        merchant_name: "海港书店 Harbour Books".into(),
        location: "1 Quay St".into(),
        mode: ereceipt_core::identity::TerminalMode::Test,
    };
    let token = NewToken { terminal_id: "T0000501".into(), token_hash: [1; 32], expires_at: i64::MAX };
    store.add_terminal(&terminal, &token, 0).await.unwrap();
    let png = b"\x89PNG\r\n\x1a\n not really a png, but the bytes must arrive unchanged".to_vec();
    let record = b"record".to_vec();
    let r = NewReceipt {
        receipt_id: "T0000501-000001-000001".into(),
        terminal_id: "T0000501".into(),
        merchant_id: "104110070110001".into(),
        merchant_name: "海港书店 Harbour Books".into(),
        batch: 1,
        serial: 1,
        sequence: Some(1),
        previous_hash: Some(vec![0; 32]),
        record_hash: ereceipt_core::digest::sha256(&record),
        record,
        png: png.clone(),
        amount: Money::new(12_850, Currency::CNY).unwrap(),
        time: LocalTime::new(1_764_050_591, 480).unwrap(),
        rrn: "332914567890".into(),
        auth_code: "A1B2C3".into(),
        card_masked: "622202******3446".into(),
        card_last4: "3446".into(),
        card_brand: "UP".into(),
        signer_serial: "01".into(),
        received_at: chrono::Utc::now().timestamp_millis(),
        ack: b"ack".to_vec(),
        delivery: Some(choice),
        lineage: crate::infra::store::ReceiptLineage::sale(1, LocalTime::new(1_764_050_591, 480).unwrap()),
    };
    assert!(matches!(store.store_receipt(&r).await.unwrap(), StoreOutcome::Stored(_)));
    (store, dir, png)
}

pub(crate) fn channels(smtp: &SmtpSettings, outbox: &std::path::Path) -> Channels {
    Channels {
        email: Box::new(EmailSender::new(smtp).unwrap()),
        sms: Box::new(LocalOutbox::sms(outbox)),
        mms: Box::new(LocalOutbox::mms(outbox)),
        portal_url: "https://receipts.example".into(),
        link_key: zeroize::Zeroizing::new(b"test link key".to_vec()),
        link_days: 90,
        lease: std::time::Duration::from_secs(120),
        // Out of the way of the retry tests; the limits have their own test (`limits.rs`).
        send_limits: crate::domain::limits::SendLimits { per_minute: 1000, per_hour: 1000, per_day: 1000 },
        sms_reports: std::sync::Mutex::new(Vec::new()),
    }
}

#[tokio::test]
async fn an_email_arrives_once_with_the_receipt_attached() {
    let server = SmtpServer::start(&[]).await;
    let (store, dir, png) = store_with_receipt(("email", "li.na@example.com")).await;
    let ch = channels(&settings(server.port, TlsMode::None), dir.path());
    assert_eq!(try_execute_task(&store, &ch, "w1").await.unwrap(), Step::Sent("T0000501-000001-000001.email".into()));
    assert_eq!(try_execute_task(&store, &ch, "w1").await.unwrap(), Step::Idle, "nothing twice");
    let received = server.received();
    assert_eq!(received.len(), 1);
    let msg = mail_parser::MessageParser::default().parse(&received[0].0).unwrap();
    assert!(msg.subject().unwrap().contains("Harbour Books"));
    let attachment = msg.attachments().next().unwrap();
    assert_eq!(attachment.contents(), png.as_slice());
    let text = msg.body_text(0).unwrap();
    assert!(text.contains("https://receipts.example/r/T0000501-000001-000001"), "{text}");
    let (d, events) = &store.deliveries_of("T0000501-000001-000001").await.unwrap()[0];
    assert_eq!(d.state.as_str(), "sent");
    assert!(d.last_answer.as_deref().unwrap_or("").starts_with("250"), "{d:?}");
    assert_eq!(events.len(), 2);
}

#[tokio::test]
async fn with_the_server_down_it_waits_and_arrives_once_when_back() {
    // A port nobody listens on yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (store, dir, _) = store_with_receipt(("email", "li.na@example.com")).await;
    let ch = channels(&settings(port, TlsMode::None), dir.path());
    match try_execute_task(&store, &ch, "w1").await.unwrap() {
        Step::Retry { error, .. } => assert!(error.contains("temporary"), "{error}"),
        other => panic!("expected a retry, got {other:?}"),
    }
    assert_eq!(try_execute_task(&store, &ch, "w1").await.unwrap(), Step::Idle, "backing off");
    let (d, _) = &store.deliveries_of("T0000501-000001-000001").await.unwrap()[0];
    assert_eq!((d.state.as_str(), d.attempts), ("queued", 1));

    // The server comes back on that port; the retry comes due (moved forward for the test).
    let port_arg = port.to_string();
    let server = SmtpServer::start(&[OsStr::new("--port"), OsStr::new(&port_arg)]).await;
    sqlx_due_now(&store).await;
    assert_eq!(try_execute_task(&store, &ch, "w1").await.unwrap(), Step::Sent("T0000501-000001-000001.email".into()));
    assert_eq!(try_execute_task(&store, &ch, "w1").await.unwrap(), Step::Idle);
    assert_eq!(server.received().len(), 1, "delivered once");
    let (_, events) = &store.deliveries_of("T0000501-000001-000001").await.unwrap()[0];
    let states: Vec<&str> = events.iter().map(|e| e.state.as_str()).collect();
    assert_eq!(states, ["queued", "retry", "sent"]);
}

#[tokio::test]
async fn a_claim_left_by_a_dead_worker_is_taken_over_after_its_lease_only() {
    let server = SmtpServer::start(&[]).await;
    let (store, dir, _) = store_with_receipt(("email", "li.na@example.com")).await;
    // Worker "dead" claims and never reports.
    let claimed = store.claim_delivery("dead", 60_000).await.unwrap().unwrap();
    assert_eq!(claimed.state.as_str(), "sending");
    let ch = channels(&settings(server.port, TlsMode::None), dir.path());
    assert_eq!(try_execute_task(&store, &ch, "w2").await.unwrap(), Step::Idle, "the lease holds");
    // The lease runs out (as if a minute passed).
    store.age_leases(61_000).await;
    assert!(store.claim_delivery("w2", 60_000).await.unwrap().is_some());
    assert!(!store.delivery_sent(&claimed.delivery_id, "dead", None, "late").await.unwrap());
    assert!(server.received().is_empty());
}

/// Makes every queued delivery due now (instead of waiting out the backoff).
async fn sqlx_due_now(store: &Store) {
    store.make_due_now().await.unwrap();
}

#[tokio::test]
async fn an_sms_delivery_report_for_any_segment_marks_the_delivery() {
    let (store, _dir, _) = store_with_receipt(("sms", "+8613800138000")).await;
    let now = chrono::Utc::now().timestamp_millis();
    let d = store.claim_delivery("w1", 60_000).await.unwrap().unwrap();
    assert!(store.delivery_sent(&d.delivery_id, "w1", Some("m-17,m-18"), "ok").await.unwrap());
    assert_eq!(store.delivery_reported(Channel::Sms, "m-1", Some(true), "Delivered", now + 1).await.unwrap(), None);
    assert_eq!(store.delivery_reported(Channel::Mms, "m-18", Some(true), "Delivered", now + 1).await.unwrap(), None);
    let reported = store.delivery_reported(Channel::Sms, "m-18", Some(true), "Delivered", now + 2).await.unwrap();
    assert_eq!(reported.as_deref(), Some("T0000501-000001-000001.sms"));
    let (row, events) = &store.deliveries_of("T0000501-000001-000001").await.unwrap()[0];
    assert_eq!(row.state.as_str(), "delivered");
    assert_eq!(events.last().unwrap().state.as_str(), "delivered");
}

/// The pure parts: backoff, and amounts and times as the message prints them.
mod pure {
    use super::super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff_ms(1, 0.0), 5_000);
        assert_eq!(backoff_ms(1, 1.0), 10_000);
        assert!(backoff_ms(3, 0.5) > backoff_ms(2, 0.5));
        assert_eq!(backoff_ms(40, 1.0), 30 * 60_000);
        assert_eq!(backoff_ms(0, 1.0), 10_000);
    }

    #[test]
    fn amounts_and_times_read_as_printed() {
        let amount = |minor, code: &str| {
            ereceipt_core::model::Money::new(minor, code.parse().unwrap()).unwrap().format(MoneyLayout::Message)
        };
        assert_eq!(amount(12_850, "CNY"), "CNY 128.50");
        assert_eq!(amount(174_355, "CNY"), "CNY 1743.55");
        assert_eq!(amount(500, "JPY"), "JPY 500");
        assert_eq!(amount(50_000, "KRW"), "KRW 50000");
        assert_eq!(amount(1_005, "BHD"), "BHD 1.005");
        let t = ereceipt_core::model::LocalTime::new(1_764_050_591, 480).unwrap();
        assert_eq!(t.format(TimeLayout::Message), "2025-11-25 14:03");
    }
}
