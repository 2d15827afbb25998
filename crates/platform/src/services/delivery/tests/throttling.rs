//! SMSC throttling through the queue: ESME_RTHROTTLED and then ESME_RMSGQFUL are retries, each
//! next attempt waits out the SMSC's pause, and the text is delivered once.

use std::time::{Duration, Instant};

use rusmpp::CommandStatus;

use super::super::{try_execute_task, Step};
use super::{channels, store_with_receipt};
use crate::infra::delivery::email::tests::settings;
use crate::infra::delivery::email::TlsMode;
use crate::infra::delivery::smpp::{Backoff, SmppSettings, SmppTls, SmsSender};
use crate::infra::secret::Secret;
use ereceipt_test_peers::smsc::{reassemble, Smsc};

#[tokio::test]
async fn smsc_throttling_and_a_full_queue_back_off_then_deliver_once() {
    let smsc = Smsc::start("ereceipt", "s3cret").await;
    smsc.with(|log| log.answers.extend([CommandStatus::EsmeRthrottled, CommandStatus::EsmeRmsgqful]));
    let smpp = SmppSettings {
        host: smsc.addr.ip().to_string(),
        port: smsc.addr.port(),
        system_id: "ereceipt".into(),
        password: Secret("s3cret".into()),
        system_type: String::new(),
        source_addr: "10690000".into(),
        enquire_link_secs: 0,
        timeout_secs: 5,
        registered_delivery: false,
        tls: SmppTls::None,
        extra_ca_pem: None,
        server_name: None,
        insecure_plaintext: false,
    };
    let pauses = Backoff { throttled: Duration::from_millis(400), queue_full: Duration::from_millis(300) };
    let (store, dir, _) = store_with_receipt(("sms", "+8613800138000")).await;
    let mut ch = channels(&settings(25, TlsMode::None), dir.path());
    ch.sms = Box::new(SmsSender::new(&smpp).unwrap().with_backoff(pauses));

    let mut refusals = Vec::new();
    for _ in 0..2 {
        match try_execute_task(&store, &ch, "w1").await.unwrap() {
            Step::Retry { error, .. } => refusals.push((error, Instant::now())),
            other => panic!("expected a retry, got {other:?}"),
        }
        assert_eq!(try_execute_task(&store, &ch, "w1").await.unwrap(), Step::Idle, "the queue backs off too");
        store.make_due_now().await.unwrap();
    }
    assert!(refusals[0].0.contains("ESME_RTHROTTLED"), "{}", refusals[0].0);
    assert!(refusals[1].0.contains("ESME_RMSGQFUL"), "{}", refusals[1].0);
    // The pause starts just before the refusal is returned: a little slack for that.
    let slack = Duration::from_millis(50);
    assert!(refusals[1].1 - refusals[0].1 >= pauses.throttled - slack, "the submit after throttling waited");

    assert_eq!(try_execute_task(&store, &ch, "w1").await.unwrap(), Step::Sent("T0000501-000001-000001.sms".into()));
    assert!(refusals[1].1.elapsed() >= pauses.queue_full - slack, "the submit after a full queue waited");
    let submits = smsc.with(|log| log.submits.clone());
    let statuses: Vec<CommandStatus> = submits.iter().map(|s| s.status).collect();
    assert_eq!(statuses[..2], [CommandStatus::EsmeRthrottled, CommandStatus::EsmeRmsgqful]);
    let parts = submits[2].udh.map_or(1, |(_, total, _)| usize::from(total));
    assert_eq!(statuses[2..], vec![CommandStatus::EsmeRok; parts], "each part accepted once");
    assert_eq!(reassemble(&submits).len(), 1, "delivered once");
    let reference = submits[0].user_reference;
    assert!(reference.is_some() && submits.iter().all(|s| s.user_reference == reference), "{submits:?}");
    let (d, events) = &store.deliveries_of("T0000501-000001-000001").await.unwrap()[0];
    assert_eq!(d.state.as_str(), "sent");
    let states: Vec<&str> = events.iter().map(|e| e.state.as_str()).collect();
    assert_eq!(states, ["queued", "retry", "retry", "sent"]);
}
