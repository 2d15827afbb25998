//! The platform killed mid-delivery: SIGKILLed while a real SMTP server (aiosmtpd) holds the
//! receipt's email unanswered, then restarted; the email is accepted exactly once and the
//! delivery's history shows the interrupted attempt and the one that was sent.

use std::ffi::OsStr;
use std::fs;
use std::time::Duration;

use ereceipt_platform::infra::store::Store;
use ereceipt_platform::testing::smtp::SmtpServer;
use tempfile::TempDir;

use super::procs::{free_addr, poll_until, Serve};
use super::{enrol, runtime, sale_args, stored_id, Inputs};
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
    assert_eq!(at_kill.state, "sending", "killed while the SMTP transaction was open; log:\n{}", serve.log_text());
    assert!(smtp.received().is_empty(), "the held email was not accepted");

    drop(serve);
    let mut serve = Serve::start(&data, listen, None, &log);
    poll_until(Duration::from_secs(30), "the restarted platform records the email as sent", || {
        delivery(&store).0.state == "sent"
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
