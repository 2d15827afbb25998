//! The SGIP client and report listener against the independent Python SMG on loopback
//! (`sgip_gateway.py`): Bind and its refusal, a three-part UCS-2 text as the SMG reassembles it,
//! status reports the SMG brings to the listener (and its login there refused), node busy,
//! a dropped link, a malformed frame, and Unbind when idle.

use std::ffi::OsStr;
use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;

use super::sgip_settings::tests::loopback;
use super::*;
use crate::infra::delivery::smpp::{DeliveryReport, ReportState};
use crate::infra::delivery::SendError;
use ereceipt_test_peers::sgip::SgipGateway;
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(10);
const UNICOM: &str = "+8618612345678";

/// 150 Chinese characters: three UCS-2 parts of at most 67.
fn long_text() -> String {
    "【电子签购单】北京朝阳大悦城海港书店 CNY 128.50 卡号尾号3446 收据号POS1-0001-000123 "
        .repeat(4)
        .chars()
        .take(150)
        .collect()
}

/// A report listener on a free loopback port: its address and the reports it takes.
fn listener() -> (SocketAddr, mpsc::Receiver<DeliveryReport>) {
    let listener = ReportListener::bind(&loopback(0, Some("127.0.0.1:0".parse().unwrap()))).unwrap();
    let addr = listener.local_addr().unwrap();
    (addr, listener.spawn().unwrap())
}

async fn gateway(args: &[&str]) -> SgipGateway {
    let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
    SgipGateway::start(&args).await
}

/// A client of `gw`; reports wanted when `listen` is given.
fn client(gw: &SgipGateway, listen: Option<SocketAddr>) -> SgipSender {
    GatewayClient::sgip(&loopback(gw.addr().port(), listen)).unwrap()
}

fn lines<'a>(journal: &'a [Value], cmd: &str) -> Vec<&'a Value> {
    journal.iter().filter(|l| l["dir"] == "in" && l["cmd"] == cmd).collect()
}

/// The message id of a journalled submit: its sequence, as the reports name it.
fn id_of(submit: &Value) -> String {
    let seq: Vec<u64> = submit["seq"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    format!("{}-{:010}-{}", seq[0], seq[1], seq[2])
}

#[tokio::test]
async fn sgip_binds_and_a_long_chinese_text_is_reassembled_by_the_smg() {
    let gw = gateway(&[]).await;
    let sender = client(&gw, None);
    let text = long_text();
    let accepted = sender.send_text("d-long", UNICOM, &text).await.unwrap();
    let journal = gw.wait_journal(|j| j.iter().any(|l| l["event"] == "message"), WAIT).await;
    let message = journal.iter().find(|l| l["event"] == "message").unwrap();
    assert_eq!((message["parts"].as_u64(), message["text"].as_str()), (Some(3), Some(text.as_str())));
    assert_eq!(message["user"], "8618612345678", "the number with 86 before it, as SGIP wants");
    let bind = lines(&journal, "bind")[0];
    assert_eq!(
        (bind["login_type"].as_u64(), bind["login"].as_str(), bind["result"].as_u64()),
        (Some(1), Some("ereceipt"), Some(0))
    );
    let submits = lines(&journal, "submit");
    let parts: Vec<_> = submits.iter().map(|s| (s["udh"]["total"].as_u64(), s["udh"]["part"].as_u64())).collect();
    assert_eq!(parts, [(Some(3), Some(1)), (Some(3), Some(2)), (Some(3), Some(3))]);
    let s = submits[0];
    assert_eq!(
        (s["sp_number"].as_str(), s["corp_id"].as_str(), s["service_type"].as_str()),
        (Some("106550001234"), Some("12345"), Some("ERECEIPT"))
    );
    assert_eq!((s["fee_type"].as_u64(), s["charge_number"].as_str()), (Some(1), Some("000000000000000000000")));
    assert_eq!((s["coding"].as_u64(), s["udhi"].as_u64(), s["report_flag"].as_u64()), (Some(8), Some(1), Some(2)));
    assert_eq!(s["seq"][0], 3_010_012_345_u64, "the sequence starts with the SP's node id");
    let ids: Vec<_> = submits.iter().map(|s| id_of(s)).collect();
    assert_eq!(accepted.peer_id, Some(ids.join(",")), "each part's id is its submit's sequence");
}

#[tokio::test]
async fn sgip_status_report_comes_to_the_listener_and_names_the_submit() {
    let (listen, mut reports) = listener();
    let gw = gateway(&["--report-to", &listen.to_string()]).await;
    let sender = client(&gw, Some(listen));
    let accepted = sender.send_text("d-r", UNICOM, "已送达?").await.unwrap();
    let report = tokio::time::timeout(WAIT, reports.recv()).await.unwrap().unwrap();
    assert_eq!(Some(report.message_id.clone()), accepted.peer_id, "the report names the submit's sequence");
    assert_eq!((report.state, report.recipient.as_str()), (ReportState::Delivered, "18612345678"));
    let journal =
        gw.wait_journal(|j| j.iter().any(|l| l["event"] == "report" && l.get("unbind_answered").is_some()), WAIT).await;
    let sent = journal.iter().find(|l| l["event"] == "report").unwrap();
    assert_eq!((sent["bind_result"].as_u64(), sent["result"].as_u64()), (Some(0), Some(0)), "{sent}");
    assert_eq!(sent["unbind_answered"], true);
    assert_eq!(lines(&journal, "submit")[0]["report_flag"], 1, "every part's report asked for");
}

#[tokio::test]
async fn sgip_failed_number_reports_undeliverable_with_its_error_code() {
    let (listen, mut reports) = listener();
    let gw = gateway(&["--report-to", &listen.to_string(), "--fault", "fail:8618612345678"]).await;
    let sender = client(&gw, Some(listen));
    sender.send_text("d-f", UNICOM, "x").await.unwrap();
    let report = tokio::time::timeout(WAIT, reports.recv()).await.unwrap().unwrap();
    assert_eq!((report.state.clone(), report.error.as_deref()), (ReportState::Undeliverable, Some("29")));
    assert!(report.state.is_final(), "a final state: the delivery is marked failed");
}

#[tokio::test]
async fn sgip_report_listener_refuses_an_smg_with_the_wrong_password() {
    let (listen, mut reports) = listener();
    let gw = gateway(&["--report-to", &listen.to_string(), "--report-password", "not-it"]).await;
    let sender = client(&gw, Some(listen));
    sender.send_text("d-w", UNICOM, "x").await.unwrap();
    let journal = gw.wait_journal(|j| j.iter().any(|l| l["event"] == "report"), WAIT).await;
    let sent = journal.iter().find(|l| l["event"] == "report").unwrap();
    assert_eq!(sent["bind_result"], 1, "Result 1 (非法登录) to the wrong password: {sent}");
    assert!(sent.get("result").is_none(), "and no Report got through: {sent}");
    assert!(reports.try_recv().is_err());
}

#[tokio::test]
async fn sgip_node_busy_is_retried_then_delivered() {
    let gw = gateway(&["--fault", "throttle:2"]).await;
    let sender = client(&gw, None).with_throttle_pause(Duration::from_millis(50));
    sender.send_text("d-t", UNICOM, "慢一点").await.unwrap();
    let journal = gw.wait_journal(|j| j.iter().any(|l| l["event"] == "message"), WAIT).await;
    let results: Vec<_> = lines(&journal, "submit").iter().map(|s| s["result"].as_u64()).collect();
    assert_eq!(results, [Some(11), Some(11), Some(0)], "answered node busy twice, then taken");
    assert_eq!(journal.iter().filter(|l| l["event"] == "message").count(), 1);
}

#[tokio::test]
async fn sgip_dropped_link_is_bound_again_and_nothing_is_sent_twice() {
    let gw = gateway(&["--fault", "drop:2"]).await;
    let sender = client(&gw, None);
    let text = long_text();
    sender.send_text("d-drop", UNICOM, &text).await.unwrap();
    let journal = gw.wait_journal(|j| j.iter().any(|l| l["event"] == "message"), WAIT).await;
    assert_eq!(lines(&journal, "bind").len(), 2, "bound again after the drop");
    let answered: Vec<_> = lines(&journal, "submit").into_iter().filter(|s| s["result"] == 0).collect();
    let parts: Vec<_> = answered.iter().map(|s| s["udh"]["part"].as_u64()).collect();
    assert_eq!(parts, [Some(1), Some(2), Some(3)], "each part taken once");
    assert!(!journal.iter().any(|l| l["duplicate"] == true));
    let messages: Vec<_> = journal.iter().filter(|l| l["event"] == "message").collect();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["text"], text.as_str());
}

#[tokio::test]
async fn sgip_malformed_frame_is_named_and_the_next_send_binds_again() {
    let gw = gateway(&["--fault", "garbage:1"]).await;
    let sender = client(&gw, None);
    let err = sender.send_text("d-m", UNICOM, "坏帧").await.unwrap_err();
    let SendError::Temporary(text) = err else { panic!("a broken link passes later: {err:?}") };
    assert!(text.contains("SGIP 1.2 gateway sent a malformed frame") && text.contains("frame length 9"), "{text}");
    sender.send_text("d-m", UNICOM, "坏帧").await.unwrap();
    let journal = gw.wait_journal(|j| j.iter().any(|l| l["event"] == "message"), WAIT).await;
    assert_eq!(lines(&journal, "bind").len(), 2);
    assert_eq!(journal.iter().filter(|l| l["event"] == "message").count(), 1);
}

#[tokio::test]
async fn sgip_refused_bind_is_a_permanent_named_refusal() {
    let gw = gateway(&["--fault", "refuse-bind"]).await;
    let sender = client(&gw, None);
    let err = sender.send_text("d-b", UNICOM, "hi").await.unwrap_err();
    let SendError::Permanent(text) = err else { panic!("a refused login is for good: {err:?}") };
    assert!(
        text.contains("SGIP 1.2 login refused") && text.contains("非法登录") && text.contains("check login"),
        "{text}"
    );
    assert!(lines(&gw.journal(), "submit").is_empty());
}

#[tokio::test]
async fn sgip_idle_link_is_unbound_and_the_next_send_binds_again() {
    let gw = gateway(&[]).await;
    let settings = SgipSettings { idle_unbind_secs: 1, ..loopback(gw.addr().port(), None) };
    let sender = GatewayClient::sgip(&settings).unwrap();
    sender.send_text("d-i1", UNICOM, "一").await.unwrap();
    gw.wait_journal(|j| !lines(j, "unbind").is_empty(), WAIT).await;
    sender.send_text("d-i2", UNICOM, "二").await.unwrap();
    let journal = gw.wait_journal(|j| j.iter().filter(|l| l["event"] == "message").count() == 2, WAIT).await;
    assert_eq!(lines(&journal, "bind").len(), 2, "bound again for the second text");
    assert_eq!(journal.iter().filter(|l| l["event"] == "message").count(), 2);
    let ids: Vec<_> = lines(&journal, "submit").iter().map(|s| id_of(s)).collect();
    assert_ne!(ids[0], ids[1], "a fresh Bind does not reuse a sequence");
}
