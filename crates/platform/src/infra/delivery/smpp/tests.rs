//! The sender against the test SMSC on loopback: segmentation as the SMSC sees it, throttling,
//! refusals, binds, keep-alive, re-binding and delivery receipts; TLS in `tls`.

mod tls;

use std::time::Duration;

use rusmpp::{CommandId, CommandStatus};
use tokio::time::Instant;

use super::*;
use crate::infra::delivery::LoginCode;
use crate::infra::secret::Secret;
use ereceipt_test_peers::smsc::{reassemble, Smsc};
use ereceipt_test_peers::tap::Tap;

const SYSTEM_ID: &str = "ereceipt";
const PASSWORD: &str = "s3cret";

/// Plain TCP to the stand-in SMSC on loopback.
fn settings(smsc: &Smsc) -> SmppSettings {
    settings_at(smsc.addr.port())
}

/// Plain TCP to port `port` of 127.0.0.1.
fn settings_at(port: u16) -> SmppSettings {
    SmppSettings {
        host: "127.0.0.1".into(),
        port,
        system_id: SYSTEM_ID.into(),
        password: Secret(PASSWORD.into()),
        system_type: String::new(),
        source_addr: "EReceipt".into(),
        enquire_link_secs: 0,
        timeout_secs: 5,
        registered_delivery: true,
        tls: SmppTls::None,
        extra_ca_pem: None,
        server_name: None,
        insecure_plaintext: false,
    }
}

fn outgoing(merchant: &str) -> ReceiptMessage {
    ReceiptMessage {
        delivery_id: "d-0001-sms".into(),
        receipt_id: "r-0001".into(),
        merchant_name: merchant.into(),
        amount: "CNY 128.50".into(),
        time_local: "2026-11-25 14:03".into(),
        masked_pan: "622202******3446".into(),
        pull_code: "K7M2QX9P".into(),
        link: "https://r.example.cn/r/AbCdEf12".into(),
        png: Vec::new(),
        recipient: "+8613800138000".into(),
    }
}

const LONG_MERCHANT: &str = "上海市浦东新区陆家嘴环路一千号国金中心商场三楼星巴克咖啡臻选旗舰店（国金中心店）分店";

#[tokio::test]
async fn chinese_long_text_goes_as_ucs2_parts_the_smsc_reassembles() {
    let smsc = Smsc::start(SYSTEM_ID, PASSWORD).await;
    let sender = SmsSender::new(&settings(&smsc)).unwrap();
    let out = outgoing(LONG_MERCHANT);
    let text = SmsSender::text(&out);
    assert!(text.contains(LONG_MERCHANT) && text.contains("CNY 128.50") && text.contains(&out.link));

    let accepted = sender.send(&out).await.unwrap();
    let submits = smsc.with(|log| log.submits.clone());
    assert!(submits.len() >= 2, "{} chars need several parts", text.chars().count());
    let ids: Vec<&str> = submits.iter().map(|s| s.message_id.as_str()).collect();
    assert_eq!(accepted.peer_id.as_deref(), Some(ids.join(",").as_str()));
    let reference = submits[0].udh.unwrap().0;
    for (i, s) in submits.iter().enumerate() {
        assert_eq!(s.data_coding, 0x08, "UCS-2");
        assert_eq!(s.esm_class & 0x40, 0x40, "UDHI set");
        assert_eq!(s.udh, Some((reference, submits.len() as u8, i as u8 + 1)));
        assert!(s.payload.len() <= 134);
        assert_eq!(s.registered_delivery, 0x01, "receipt on final outcome");
        assert_eq!((s.dest_ton, s.destination.as_str()), (1, "8613800138000"));
        assert_eq!(s.source, "EReceipt");
    }
    assert_eq!(reassemble(&submits), vec![text]);
    assert_eq!(smsc.with(|log| log.binds.clone()), vec![CommandId::BindTransmitter]);
}

#[tokio::test]
async fn ascii_text_goes_as_one_gsm_sms() {
    let smsc = Smsc::start(SYSTEM_ID, PASSWORD).await;
    let sender = SmsSender::new(&settings(&smsc)).unwrap();
    let text = "Your receipt: https://r.example.cn/r/AbCdEf12 {CNY 12.00}";
    sender.send_text("d-2", "8613800138000", text).await.unwrap();
    let submits = smsc.with(|log| log.submits.clone());
    assert_eq!(submits.len(), 1);
    assert_eq!((submits[0].data_coding, submits[0].esm_class & 0x40, submits[0].udh), (0x00, 0, None));
    assert_eq!(submits[0].dest_ton, 0, "no + : unknown type of number");
    assert_eq!(reassemble(&submits), vec![text.to_string()]);

    let long = "x".repeat(200);
    sender.send_text("d-3", "+8613800138000", &long).await.unwrap();
    let submits = smsc.with(|log| log.submits[1..].to_vec());
    assert_eq!(submits.iter().map(|s| s.payload.len()).collect::<Vec<_>>(), vec![153, 47]);
    assert_eq!(reassemble(&submits), vec![long]);
}

#[tokio::test]
async fn throttling_is_temporary_and_the_next_send_waits_out_the_pause() {
    let smsc = Smsc::start(SYSTEM_ID, PASSWORD).await;
    let pause = Duration::from_millis(300);
    let backoff = Backoff { throttled: pause, queue_full: Duration::from_secs(60) };
    let sender = SmsSender::new(&settings(&smsc)).unwrap().with_backoff(backoff);
    smsc.with(|log| log.answers.push_back(CommandStatus::EsmeRthrottled));

    let err = sender.send_text("d-1", "+8613800138000", "hello").await.unwrap_err();
    let refused_at = Instant::now();
    assert!(matches!(&err, SendError::Temporary(m) if m.contains("ESME_RTHROTTLED") && m.contains("0.3 s")), "{err}");
    sender.send_text("d-1", "+8613800138000", "hello").await.unwrap();
    let submits = smsc.with(|log| log.submits.clone());
    assert!(refused_at.elapsed() >= pause - Duration::from_millis(20), "waited out the pause");
    let statuses: Vec<_> = submits.iter().map(|s| s.status).collect();
    assert_eq!(statuses, vec![CommandStatus::EsmeRthrottled, CommandStatus::EsmeRok]);

    // A pause longer than the timeout is not slept through: the caller is told to come back.
    smsc.with(|log| log.answers.push_back(CommandStatus::EsmeRmsgqful));
    let err = sender.send_text("d-2", "+8613800138000", "hello").await.unwrap_err();
    assert!(matches!(&err, SendError::Temporary(m) if m.contains("ESME_RMSGQFUL")), "{err}");
    let err = sender.send_text("d-2", "+8613800138000", "hello").await.unwrap_err();
    assert!(matches!(&err, SendError::Temporary(m) if m.contains("retry in 60 s")), "{err}");
    assert_eq!(smsc.with(|log| log.submits.len()), 3, "nothing submitted during the pause");
}

#[tokio::test]
async fn a_full_queue_is_temporary_and_the_next_send_waits_out_the_pause_and_delivers() {
    let smsc = Smsc::start(SYSTEM_ID, PASSWORD).await;
    let pause = Duration::from_millis(300);
    let backoff = Backoff { throttled: Duration::from_secs(60), queue_full: pause };
    let sender = SmsSender::new(&settings(&smsc)).unwrap().with_backoff(backoff);
    smsc.with(|log| log.answers.push_back(CommandStatus::EsmeRmsgqful));

    let err = sender.send_text("d-1", "+8613800138000", "hello").await.unwrap_err();
    let refused_at = Instant::now();
    assert!(matches!(&err, SendError::Temporary(m) if m.contains("ESME_RMSGQFUL") && m.contains("0.3 s")), "{err}");
    let accepted = sender.send_text("d-1", "+8613800138000", "hello").await.unwrap();
    assert!(refused_at.elapsed() >= pause - Duration::from_millis(20), "waited out the pause");
    let submits = smsc.with(|log| log.submits.clone());
    let statuses: Vec<_> = submits.iter().map(|s| s.status).collect();
    assert_eq!(statuses, vec![CommandStatus::EsmeRmsgqful, CommandStatus::EsmeRok]);
    assert_eq!(accepted.peer_id.as_deref(), Some(submits[1].message_id.as_str()));
    assert_eq!(reassemble(&submits), vec!["hello".to_string()], "delivered once");
}

#[tokio::test]
async fn a_message_refused_midway_is_resumed_without_repeating_parts() {
    let smsc = Smsc::start(SYSTEM_ID, PASSWORD).await;
    let backoff = Backoff { throttled: Duration::ZERO, queue_full: Duration::ZERO };
    let sender = SmsSender::new(&settings(&smsc)).unwrap().with_backoff(backoff);
    let out = outgoing(&LONG_MERCHANT.repeat(2));
    smsc.with(|log| log.answers.extend([CommandStatus::EsmeRok, CommandStatus::EsmeRmsgqful]));

    assert!(matches!(sender.send(&out).await, Err(SendError::Temporary(_))));
    let accepted = sender.send(&out).await.unwrap();
    let submits = smsc.with(|log| log.submits.clone());
    let total = submits[0].udh.unwrap().1 as usize;
    assert!(total >= 3);
    assert_eq!(submits.len(), total + 1, "only the refused part was sent twice");
    let reference = Some(user_reference(&out.delivery_id));
    assert!(submits.iter().all(|s| s.user_reference == reference), "one user_message_reference for all");
    assert_eq!(reassemble(&submits), vec![SmsSender::text(&out)]);
    assert_eq!(accepted.peer_id.unwrap().split(',').count(), total);
}

#[tokio::test]
async fn a_bad_number_is_permanent() {
    let smsc = Smsc::start(SYSTEM_ID, PASSWORD).await;
    let sender = SmsSender::new(&settings(&smsc)).unwrap();
    smsc.with(|log| log.answers.push_back(CommandStatus::EsmeRinvdstadr));
    let err = sender.send(&outgoing("Shop")).await.unwrap_err();
    assert_eq!(err, SendError::Permanent("ESME_RINVDSTADR (0x0000000b)".into()));

    let mut out = outgoing("Shop");
    out.recipient = "someone@example.com".into();
    assert!(matches!(sender.send(&out).await, Err(SendError::Permanent(m)) if m.contains("not a phone number")));
    assert_eq!(smsc.with(|log| log.submits.len()), 1, "never submitted");
}

#[tokio::test]
async fn a_wrong_password_is_refused_at_bind() {
    let smsc = Smsc::start(SYSTEM_ID, "other").await;
    let sender = SmsSender::new(&settings(&smsc)).unwrap();
    let err = sender.send(&outgoing("Shop")).await.unwrap_err();
    assert!(matches!(&err, SendError::Temporary(m) if m.contains("bind refused: ESME_RINVPASWD")), "{err}");
    assert_eq!(smsc.with(|log| (log.refused_binds, log.submits.len())), (1, 0));
}

#[tokio::test]
async fn a_server_that_is_down_is_temporary() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let mut s = settings(&Smsc::start(SYSTEM_ID, PASSWORD).await);
    s.port = addr.port();
    let err = SmsSender::new(&s).unwrap().send(&outgoing("Shop")).await.unwrap_err();
    assert!(matches!(&err, SendError::Temporary(m) if m.contains("SMSC unreachable")), "{err}");
}

#[tokio::test]
async fn an_idle_session_sends_enquire_link_and_stays_bound() {
    let smsc = Smsc::start(SYSTEM_ID, PASSWORD).await;
    let mut s = settings(&smsc);
    s.enquire_link_secs = 1;
    let sender = SmsSender::new(&s).unwrap();
    sender.send(&outgoing("Shop")).await.unwrap();
    smsc.wait_for("an enquire_link", |log| log.enquire_links >= 1).await;
    sender.send(&outgoing("Shop")).await.unwrap();
    assert_eq!(smsc.with(|log| log.binds.len()), 1, "the same session");
}

#[tokio::test]
async fn the_session_binds_again_after_the_smsc_drops_it_and_unbinds_when_dropped() {
    let smsc = Smsc::start(SYSTEM_ID, PASSWORD).await;
    let sender = SmsSender::new(&settings(&smsc)).unwrap();
    sender.send(&outgoing("Shop")).await.unwrap();
    smsc.drop_connections();
    sender.send(&outgoing("Shop")).await.unwrap();
    assert_eq!(smsc.with(|log| log.binds.len()), 2);

    // Closed when the submit arrives: once on a fresh bind the part goes again, not twice.
    smsc.with(|log| log.drop_at_submit = 1);
    sender.send(&outgoing("Shop")).await.unwrap();
    smsc.with(|log| log.drop_at_submit = 2);
    let err = sender.send(&outgoing("Shop")).await.unwrap_err();
    assert!(matches!(&err, SendError::Temporary(m) if m.contains("closed the connection")), "{err}");
    assert_eq!(smsc.with(|log| (log.binds.len(), log.dropped_submits, log.submits.len())), (4, 3, 3));

    sender.send(&outgoing("Shop")).await.unwrap();
    drop(sender);
    smsc.wait_for("an unbind", |log| log.unbinds == 1).await;
}

#[tokio::test]
async fn delivery_receipts_arrive_on_a_transceiver_bind() {
    let smsc = Smsc::start(SYSTEM_ID, PASSWORD).await;
    smsc.with(|log| log.receipts = true);
    let sender = SmsSender::new(&settings(&smsc)).unwrap();
    sender.send_text("d-0", "+8613800138000", "before").await.unwrap();
    let mut reports = sender.delivery_reports();
    let accepted = sender.send(&outgoing(LONG_MERCHANT)).await.unwrap();
    let ids: Vec<String> = accepted.peer_id.unwrap().split(',').map(String::from).collect();
    let mut got = Vec::new();
    for _ in &ids {
        let report = tokio::time::timeout(Duration::from_secs(10), reports.recv()).await.unwrap().unwrap();
        assert_eq!(report.state, ReportState::Delivered);
        assert_eq!(report.recipient, "8613800138000");
        got.push(report.message_id);
    }
    assert_eq!(got, ids);
    let binds = smsc.with(|log| log.binds.clone());
    assert_eq!(binds, vec![CommandId::BindTransmitter, CommandId::BindTransceiver], "re-bound to receive");
    smsc.wait_for("receipts acknowledged", |log| log.receipt_answers.len() == ids.len()).await;
    assert!(smsc.with(|log| log.receipt_answers.iter().all(|s| *s == CommandStatus::EsmeRok)));
}

pub(super) fn login_code(code: &str) -> Message {
    Message::LoginCode(LoginCode {
        delivery_id: "login.7".into(),
        recipient: "+8613800138000".into(),
        code: code.into(),
        link: "https://r.example.cn/pull".into(),
    })
}

/// How the digits of a code look on the wire in a UCS-2 SMS (the login text is Chinese).
pub(super) fn ucs2(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_be_bytes).collect()
}

/// Security review L5: what an eavesdropper between the platform and the SMSC sees. Settings
/// that say nothing about TLS must not give away the bind password or a login code.
#[tokio::test]
async fn settings_silent_on_tls_never_put_the_password_or_a_login_code_on_the_wire() {
    let smsc = Smsc::start(SYSTEM_ID, PASSWORD).await;
    let tap = Tap::start(smsc.addr).await;
    let s: SmppSettings = serde_json::from_value(serde_json::json!({
        "host": "127.0.0.1", "port": tap.addr.port(), "system_id": SYSTEM_ID, "password": PASSWORD,
        "system_type": "", "source_addr": "EReceipt", "enquire_link_secs": 0, "timeout_secs": 5,
        "registered_delivery": false
    }))
    .unwrap();
    let sender = SmsSender::new(&s).unwrap();
    let result = Sender::send(&sender, &login_code("493817")).await;
    assert!(matches!(&result, Err(SendError::Temporary(m)) if m.contains("SMSC TLS")), "{result:?}");
    assert!(!tap.client_bytes().is_empty(), "the sender connected through the tap");
    assert!(!tap.saw(PASSWORD.as_bytes()), "the bind password crossed the network in clear");
    assert!(!tap.saw(&ucs2("493817")) && !tap.saw(b"493817"), "the login code crossed the network in clear");
}

#[test]
fn the_text_names_merchant_and_amount_with_the_link_on_one_line() {
    let mut out = outgoing("Café\n  Zhang\t");
    out.amount = "CNY 8.00".into();
    assert_eq!(
        SmsSender::text(&out),
        "【电子签购单】Café Zhang CNY 8.00 收据/receipt: https://r.example.cn/r/AbCdEf12"
    );
}

#[test]
fn status_names_follow_the_specification() {
    assert_eq!(status_name(CommandStatus::EsmeRthrottled), "ESME_RTHROTTLED (0x00000058)");
    assert_eq!(status_name(CommandStatus::EsmeRxTAppn), "ESME_RX_T_APPN (0x00000064)");
    assert_eq!(status_name(CommandStatus::Other(0x400)), "command_status 0x00000400");
    assert!(!permanent(CommandStatus::EsmeRsyserr) && permanent(CommandStatus::EsmeRinvdstadr));
    assert!(!permanent(CommandStatus::Other(0x400)), "vendor codes are retried");
}
