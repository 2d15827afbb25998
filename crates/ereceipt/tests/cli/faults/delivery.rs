//! The platform killed mid-delivery: SIGKILLed while a real SMTP server (aiosmtpd) holds the
//! receipt's email unanswered, then restarted; the email is accepted exactly once and the
//! delivery's history shows the interrupted attempt and the one that was sent. And the
//! operator's `platform deliveries retry` after a relay outage: the waiting email goes at once.

use std::ffi::OsStr;
use std::fs;
use std::time::Duration;

use ereceipt_platform::infra::store::Store;
use ereceipt_test_peers::smtp::SmtpServer;
use tempfile::TempDir;

use super::procs::{free_addr, poll_until, Serve};
use super::{at, enrol, runtime, sale_args, stored_id, Inputs};
use crate::helpers::ereceipt;

/// The claim on a delivery in this test: short, so the restarted platform takes over quickly.
const LEASE_SECONDS: u64 = 3;
/// The SMTP attempt's own limit; it must fit in 3/4 of the lease.
const SMTP_TIMEOUT_SECS: u64 = 2;

#[test]
fn platform_killed_mid_delivery_delivers_the_email_exactly_once() {
    let tmp = TempDir::new().expect("temp dir");
    let rt = runtime();
    // The first message is held after its data arrived: no 250 until the client goes away.
    let smtp = rt.block_on(SmtpServer::start(&[OsStr::new("--hold"), OsStr::new("1")]));
    let data = tmp.path().join("platform");
    fs::create_dir_all(&data).expect("mkdir");
    let settings = format!(
        "[platform.delivery]\nlease_seconds = {LEASE_SECONDS}\n\n[platform.delivery.smtp]\nhost = \"127.0.0.1\"\n\
         port = {}\ntls = \"none\"\nfrom = \"ereceipt <receipts@example.com>\"\ntimeout_secs = {SMTP_TIMEOUT_SECS}\n",
        smtp.port
    );
    fs::write(data.join("platform.toml"), settings).expect("write platform.toml");
    let (listen, log) = (free_addr(), tmp.path().join("serve.log"));
    let mut serve = Serve::start(&data, listen, None, &log);
    let t = enrol(&data, None, &serve.url(), "T0000005", &tmp.path().join("terminal"));
    let inputs = Inputs::write(tmp.path());

    let mut sale = sale_args(&t, &inputs, false);
    sale.extend(["--deliver".into(), "email:li.na@example.com".into()]);
    let run = ereceipt(sale);
    run.assert_ok();
    let id = stored_id(&run);
    poll_until(Duration::from_secs(20), "the SMTP server holds the email", || smtp.held() == 1);
    serve.kill();

    let store = rt
        .block_on(Store::connect(&format!("sqlite://{}", data.join("platform.db").display())))
        .expect("open the platform database");
    let delivery = |store: &Store| rt.block_on(store.deliveries_of(&id)).expect("deliveries").remove(0);
    let (at_kill, _) = delivery(&store);
    assert_eq!(
        at_kill.state.as_str(),
        "sending",
        "killed while the SMTP transaction was open; log:\n{}",
        serve.log_text()
    );
    assert!(smtp.received().is_empty(), "the held email was not accepted");

    drop(serve);
    let mut serve = Serve::start(&data, listen, None, &log);
    poll_until(Duration::from_secs(30), "the restarted platform records the email as sent", || {
        delivery(&store).0.state.as_str() == "sent"
    });
    serve.assert_running();

    let received = smtp.received();
    assert_eq!(received.len(), 1, "accepted exactly once; log:\n{}", serve.log_text());
    let (raw, envelope) = &received[0];
    let text = String::from_utf8_lossy(raw);
    assert!(text.contains(&format!("Message-ID: <{id}.email@ereceipt>")), "{text}");
    assert!(text.contains(&format!("{id}.png")), "the receipt is attached");
    assert_eq!(envelope["rcpt_tos"], serde_json::json!(["li.na@example.com"]));
    let (sent, history) = delivery(&store);
    assert_eq!(sent.attempts, 2);
    assert_eq!(sent.last_answer.as_deref(), Some("250 2.0.0 Ok: queued as Q0001"));
    let states: Vec<&str> = history.iter().map(|e| e.state.as_str()).collect();
    assert_eq!(states, ["queued", "interrupted", "sent"], "{history:?}");
    assert!(history[1].answer.contains("attempt 1"), "{history:?}");
    assert_eq!(rt.block_on(store.deliveries_pending()).expect("pending"), 0, "nothing left to send");
}

#[test]
fn after_a_relay_outage_the_operators_retry_sends_the_waiting_email_at_once() {
    let tmp = TempDir::new().expect("temp dir");
    let rt = runtime();
    let relay = free_addr();
    let data = tmp.path().join("platform");
    fs::create_dir_all(&data).expect("mkdir");
    let settings = format!(
        "[platform.delivery.smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\n\
         from = \"ereceipt <receipts@example.com>\"\ntimeout_secs = {SMTP_TIMEOUT_SECS}\n",
        relay.port()
    );
    fs::write(data.join("platform.toml"), settings).expect("write platform.toml");
    let (listen, log) = (free_addr(), tmp.path().join("serve.log"));
    let serve = Serve::start(&data, listen, None, &log);
    let t = enrol(&data, None, &serve.url(), "T0000006", &tmp.path().join("terminal"));
    let inputs = Inputs::write(tmp.path());
    let mut sale = sale_args(&t, &inputs, false);
    sale.extend(["--deliver".into(), "email:li.na@example.com".into()]);
    let run = ereceipt(sale);
    run.assert_ok();
    let id = stored_id(&run);

    // The relay is down: the first attempt fails and the email waits out a back-off (10 s+).
    let store = rt
        .block_on(Store::connect(&format!("sqlite://{}", data.join("platform.db").display())))
        .expect("open the platform database");
    let delivery = |store: &Store| rt.block_on(store.deliveries_of(&id)).expect("deliveries").remove(0).0;
    poll_until(Duration::from_secs(20), "the first attempt fails", || {
        let d = delivery(&store);
        d.attempts == 1 && d.state.as_str() == "queued"
    });
    let waiting = delivery(&store);
    assert_eq!(waiting.state.as_str(), "queued", "log:\n{}", serve.log_text());
    let retry_at = waiting.next_attempt_at;

    // The relay is back; the operator does not wait for the back-off.
    let smtp = rt.block_on(SmtpServer::start(&[OsStr::new("--port"), OsStr::new(&relay.port().to_string())]));
    let mut retry: Vec<std::ffi::OsString> = vec!["platform".into(), "deliveries".into(), "retry".into()];
    retry.extend(at(&data, None));
    let answer = ereceipt(retry.clone());
    answer.assert_ok();
    assert!(answer.stdout.starts_with("1 waiting deliveries are due now"), "{}", answer.stdout);
    poll_until(Duration::from_secs(5), "the email is sent after the retry", || {
        delivery(&store).state.as_str() == "sent"
    });
    let sent_at = rt.block_on(store.deliveries_of(&id)).expect("deliveries").remove(0).1.last().expect("events").at;
    assert!(sent_at < retry_at, "sent at {sent_at}, before the back-off's {retry_at}");
    assert_eq!(smtp.received().len(), 1, "log:\n{}", serve.log_text());

    // Nothing is waiting any more.
    let again = ereceipt(retry);
    again.assert_ok();
    assert!(again.stdout.starts_with("0 waiting deliveries"), "{}", again.stdout);
}
