//! The worker over a [`StubSender`] (lettre's `StubTransport`): retry, give-up, cut-off, leases
//! and resumed attempts, without sockets. The real peers are for the protocol tests.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::super::{try_execute_task, Step};
use super::{channels, store_with_receipt};
use crate::infra::delivery::email::tests::settings;
use crate::infra::delivery::email::TlsMode;
use crate::infra::delivery::{Accepted, Message, SendError, Sender, Sending};

const RECEIPT: &str = "T0000501-000001-000001";

/// What the stub answers to one attempt.
#[derive(Clone, Copy, Debug)]
enum Answer {
    Accept,
    Temporary,
    Permanent,
    /// Never answers, like a peer that holds the data.
    Hang,
}

#[derive(Default)]
struct Script {
    answers: Mutex<VecDeque<Answer>>,
    /// Every message handed to `send`, in order.
    sent: Mutex<Vec<Message>>,
    /// What `already_sent` reports.
    already: Option<Accepted>,
}

/// Answers from a script (accepting once it runs out) and keeps what it was given.
#[derive(Clone, Default)]
struct StubSender(Arc<Script>);

impl StubSender {
    fn answering(answers: &[Answer]) -> Self {
        Self(Arc::new(Script { answers: Mutex::new(answers.iter().copied().collect()), ..Script::default() }))
    }

    fn that_already_sent(answer: &str) -> Self {
        let already = Some(Accepted { peer_id: None, answer: answer.into() });
        Self(Arc::new(Script { already, ..Script::default() }))
    }

    fn sent(&self) -> Vec<Message> {
        self.0.sent.lock().unwrap().clone()
    }
}

impl Sender for StubSender {
    fn send<'a>(&'a self, msg: &'a Message) -> Sending<'a> {
        self.0.sent.lock().unwrap().push(msg.clone());
        let answer = self.0.answers.lock().unwrap().pop_front().unwrap_or(Answer::Accept);
        Box::pin(async move {
            match answer {
                Answer::Accept => Ok(Accepted { peer_id: Some("stub-1".into()), answer: "stub took it".into() }),
                Answer::Temporary => Err(SendError::Temporary("stub is busy".into())),
                Answer::Permanent => Err(SendError::Permanent("stub refuses".into())),
                Answer::Hang => std::future::pending().await,
            }
        })
    }

    fn already_sent(&self, _msg: &Message) -> Option<Accepted> {
        self.0.already.clone()
    }
}

/// Channels whose SMS sender is `stub`.
fn with_sms(stub: &StubSender, dir: &std::path::Path) -> super::Channels {
    let mut ch = channels(&settings(25, TlsMode::None), dir);
    ch.sms = Box::new(stub.clone());
    ch
}

async fn history(store: &crate::infra::store::Store) -> (String, Vec<String>) {
    let (d, events) = store.deliveries_of(RECEIPT).await.unwrap().remove(0);
    (d.state.to_string(), events.into_iter().map(|e| e.state.to_string()).collect())
}

#[tokio::test]
async fn a_temporary_refusal_is_retried_with_the_same_message_and_a_permanent_one_gives_up() {
    let (store, dir, png) = store_with_receipt(("sms", "+8613800138000")).await;
    let stub = StubSender::answering(&[Answer::Temporary]);
    let ch = with_sms(&stub, dir.path());
    let id = format!("{RECEIPT}.sms");
    assert!(
        matches!(try_execute_task(&store, &ch, "w1").await.unwrap(), Step::Retry { error, .. } if error.contains("stub is busy"))
    );
    assert_eq!(try_execute_task(&store, &ch, "w1").await.unwrap(), Step::Idle, "backing off");
    store.make_due_now().await.unwrap();
    assert_eq!(try_execute_task(&store, &ch, "w1").await.unwrap(), Step::Sent(id.clone()));
    assert_eq!(history(&store).await, ("sent".into(), vec!["queued".into(), "retry".into(), "sent".into()]));
    let sent = stub.sent();
    assert_eq!(sent.len(), 2);
    for msg in &sent {
        let Message::Receipt(r) = msg else { panic!("a receipt message: {msg:?}") };
        assert_eq!(
            (r.delivery_id.as_str(), r.recipient.as_str(), r.amount.as_str()),
            (id.as_str(), "+8613800138000", "CNY 128.50")
        );
        assert_eq!((r.time_local.as_str(), r.png.as_slice()), ("2025-11-25 14:03", png.as_slice()));
        assert!(r.link.starts_with("https://receipts.example/r/T0000501-000001-000001"), "{}", r.link);
    }

    let (store, dir, _) = store_with_receipt(("sms", "+8613800138000")).await;
    let stub = StubSender::answering(&[Answer::Permanent]);
    let ch = with_sms(&stub, dir.path());
    assert!(
        matches!(try_execute_task(&store, &ch, "w1").await.unwrap(), Step::Failed { error, .. } if error.contains("stub refuses"))
    );
    assert_eq!(try_execute_task(&store, &ch, "w1").await.unwrap(), Step::Idle, "never again");
    assert_eq!(history(&store).await.0, "failed");
    assert_eq!(stub.sent().len(), 1);
}

#[tokio::test]
async fn a_sender_that_never_answers_is_cut_off_while_the_claim_holds() {
    let (store, dir, _) = store_with_receipt(("sms", "+8613800138000")).await;
    let stub = StubSender::answering(&[Answer::Hang]);
    let mut ch = with_sms(&stub, dir.path());
    ch.lease = Duration::from_secs(2);
    let started = Instant::now();
    match try_execute_task(&store, &ch, "w1").await.unwrap() {
        Step::Retry { error, .. } => assert!(error.contains("no outcome within 1.5 s"), "{error}"),
        other => panic!("expected a cut-off attempt, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(2), "recorded within the lease: {:?}", started.elapsed());
    assert_eq!(history(&store).await.0, "queued");
}

#[tokio::test]
async fn a_live_claim_is_left_alone_and_a_resumed_attempt_asks_what_was_already_sent() {
    let (store, dir, _) = store_with_receipt(("sms", "+8613800138000")).await;
    let stub = StubSender::that_already_sent("already in the stub");
    let ch = with_sms(&stub, dir.path());
    store.claim_delivery("alive", 60_000).await.unwrap().unwrap();
    assert_eq!(try_execute_task(&store, &ch, "w2").await.unwrap(), Step::Idle, "the lease holds");
    assert!(stub.sent().is_empty());

    // The claim of a worker that died ran out: the next attempt is a resumed one, and a sender
    // that can tell what the dead worker delivered is not asked to send again.
    let (store, dir, _) = store_with_receipt(("sms", "+8613800138000")).await;
    let ch = with_sms(&stub, dir.path());
    store.claim_delivery("dead", -1).await.unwrap().unwrap();
    assert_eq!(try_execute_task(&store, &ch, "w2").await.unwrap(), Step::Sent(format!("{RECEIPT}.sms")));
    assert!(stub.sent().is_empty(), "nothing sent twice");
    assert_eq!(history(&store).await.1, ["queued", "interrupted", "sent"]);
    let (d, _) = store.deliveries_of(RECEIPT).await.unwrap().remove(0);
    assert_eq!(d.last_answer.as_deref(), Some("already in the stub"));

    // A first attempt sends, whatever the sender would say about earlier ones.
    let (store, dir, _) = store_with_receipt(("sms", "+8613800138000")).await;
    let ch = with_sms(&stub, dir.path());
    assert_eq!(try_execute_task(&store, &ch, "w1").await.unwrap(), Step::Sent(format!("{RECEIPT}.sms")));
    assert_eq!(stub.sent().len(), 1);
}
