//! Both clients against the independent Python gateways on loopback (`smgp_gateway.py`,
//! `cmpp_gateway.py`): login and its refusal, short and three-part UCS-2 texts as the gateway
//! reassembles them, status reports, flow control, a dropped link, a malformed frame, keepalive
//! both ways and Exit.

use std::time::Duration;

use serde_json::Value;

use super::settings::tests::loopback;
use super::*;
use crate::infra::delivery::smpp::ReportState;
use crate::infra::delivery::SendError;
use ereceipt_test_peers::carrier_gateway::{Carrier, CarrierGateway};

const SECRET: &str = "s3cret-shared";
const WAIT: Duration = Duration::from_secs(10);

type Make<P> = fn(&GatewaySettings) -> Result<GatewayClient<P>, GatewaySetupError>;

fn account(carrier: Carrier) -> &'static str {
    match carrier {
        Carrier::Smgp => "ereceipt",
        Carrier::Cmpp => "901234",
    }
}

async fn gateway(carrier: Carrier, args: &[&str]) -> CarrierGateway {
    CarrierGateway::start(carrier, account(carrier), SECRET, args).await
}

fn client<P: Protocol>(make: Make<P>, gw: &CarrierGateway, carrier: Carrier) -> GatewayClient<P> {
    make(&loopback(gw.port(), account(carrier), SECRET)).unwrap()
}

/// 150 Chinese characters: three UCS-2 parts of at most 67.
fn long_text() -> String {
    "【电子签购单】上海浦东国金中心星巴克咖啡 CNY 128.50 卡号尾号1234 收据号POS1-0001-000123 "
        .repeat(4)
        .chars()
        .take(150)
        .collect()
}

fn taken(journal: &[Value]) -> Vec<&Value> {
    journal.iter().filter(|l| l["cmd"] == "submit" && l["taken"] == true).collect()
}

#[tokio::test]
async fn smgp_short_text_carries_the_settings_fields_and_the_gateways_msgid() {
    let gw = gateway(Carrier::Smgp, &["--no-report"]).await;
    let sender = client(GatewayClient::smgp, &gw, Carrier::Smgp);
    let accepted = sender.send_text("d-1", "+8613300000000", "收据 CNY 12.00").await.unwrap();
    let journal = gw.wait_journal(|j| !taken(j).is_empty(), WAIT).await;
    let submit = taken(&journal)[0];
    assert_eq!(submit["dest"], "13300000000", "the national number, without +86");
    assert_eq!(submit["src"], "106900001234");
    assert_eq!(submit["service_id"], "ERECEIPT");
    assert_eq!((submit["msg_type"].as_u64(), submit["msg_format"].as_u64()), (Some(6), Some(8)));
    assert_eq!(submit["fee_type"], "00");
    assert_eq!(submit["need_report"], 1);
    assert_eq!(submit["text"], "收据 CNY 12.00");
    assert_eq!(submit["udh"], Value::Null);
    assert_eq!(accepted.peer_id.as_deref(), submit["msg_id"].as_str(), "the MsgID as the reports print it");
    let login = &gw.lines("login")[0];
    assert_eq!((login["auth_ok"].as_bool(), login["login_mode"].as_u64()), (Some(true), Some(0)));
}

async fn wrong_secret_is_permanent<P: Protocol>(carrier: Carrier, make: Make<P>) {
    let gw = gateway(carrier, &[]).await;
    let sender = make(&loopback(gw.port(), account(carrier), "not-the-secret")).unwrap();
    let err = sender.send_text("d-1", "+8613300000000", "hi").await.unwrap_err();
    let SendError::Permanent(text) = err else { panic!("a wrong secret is for good: {err:?}") };
    assert!(text.contains("login refused") && text.contains("认证错") && text.contains("check account"), "{text}");
    assert_eq!(gw.lines("login")[0]["auth_ok"], false, "the gateway checked the authenticator");
    assert!(gw.lines("submit").is_empty());
}

#[tokio::test]
async fn smgp_login_with_a_wrong_secret_is_a_permanent_named_refusal() {
    wrong_secret_is_permanent(Carrier::Smgp, GatewayClient::smgp).await;
}

#[tokio::test]
async fn cmpp_connect_with_a_wrong_secret_is_a_permanent_named_refusal() {
    wrong_secret_is_permanent(Carrier::Cmpp, GatewayClient::cmpp).await;
}

async fn long_text_is_reassembled<P: Protocol>(carrier: Carrier, make: Make<P>) {
    let gw = gateway(carrier, &["--no-report"]).await;
    let sender = client(make, &gw, carrier);
    let text = long_text();
    let accepted = sender.send_text("d-long", "+8613800138000", &text).await.unwrap();
    let journal = gw.wait_journal(|j| j.iter().any(|l| l["event"] == "message"), WAIT).await;
    let message = journal.iter().find(|l| l["event"] == "message").unwrap();
    assert_eq!((message["parts"].as_u64(), message["text"].as_str()), (Some(3), Some(text.as_str())));
    let parts = taken(&journal);
    let numbers: Vec<_> = parts.iter().map(|p| (p["pk_total"].as_u64(), p["pk_number"].as_u64())).collect();
    assert_eq!(numbers, [(Some(3), Some(1)), (Some(3), Some(2)), (Some(3), Some(3))]);
    assert!(parts.iter().all(|p| p["udhi"] == 1 && p["udh"][1] == 3 && p["msg_format"] == 8));
    let ids: Vec<_> = parts.iter().map(|p| p["msg_id"].as_str().unwrap()).collect();
    assert_eq!(accepted.peer_id, Some(ids.join(",")));
}

#[tokio::test]
async fn smgp_three_part_text_is_reassembled_by_the_gateway() {
    long_text_is_reassembled(Carrier::Smgp, GatewayClient::smgp).await;
}

#[tokio::test]
async fn cmpp_three_part_text_is_reassembled_by_the_gateway() {
    long_text_is_reassembled(Carrier::Cmpp, GatewayClient::cmpp).await;
}

async fn report_arrives<P: Protocol>(carrier: Carrier, make: Make<P>) {
    let gw = gateway(carrier, &[]).await;
    let sender = client(make, &gw, carrier);
    let mut reports = sender.delivery_reports();
    let accepted = sender.send_text("d-r", "+8618912345678", "已送达?").await.unwrap();
    let report = tokio::time::timeout(WAIT, reports.recv()).await.unwrap().unwrap();
    assert_eq!(Some(report.message_id.clone()), accepted.peer_id, "the report names the submit's id");
    assert_eq!(report.state, ReportState::Delivered);
    assert_eq!(report.recipient, "18912345678");
    let journal = gw.wait_journal(|j| j.iter().any(|l| l["cmd"] == "deliver_resp"), WAIT).await;
    let answer = journal.iter().find(|l| l["cmd"] == "deliver_resp").unwrap();
    assert_eq!(answer["status"], 0, "the Deliver was answered with success");
}

#[tokio::test]
async fn smgp_status_report_reaches_the_delivery_reports() {
    report_arrives(Carrier::Smgp, GatewayClient::smgp).await;
}

#[tokio::test]
async fn cmpp_status_report_reaches_the_delivery_reports() {
    report_arrives(Carrier::Cmpp, GatewayClient::cmpp).await;
}

#[tokio::test]
async fn smgp_undelivered_report_keeps_its_state_and_error() {
    let gw = gateway(Carrier::Smgp, &["--stat", "UNDELIV"]).await;
    let sender = client(GatewayClient::smgp, &gw, Carrier::Smgp);
    let mut reports = sender.delivery_reports();
    sender.send_text("d-u", "+8613300000000", "x").await.unwrap();
    let report = tokio::time::timeout(WAIT, reports.recv()).await.unwrap().unwrap();
    assert_eq!((report.state, report.error.as_deref()), (ReportState::Undeliverable, Some("006")));
    assert_eq!(gw.lines("login")[0]["login_mode"], 2, "reports wanted: send and receive mode");
}

async fn throttling_is_retried<P: Protocol>(carrier: Carrier, make: Make<P>, status: u64) {
    let gw = gateway(carrier, &["--throttle", "2", "--no-report"]).await;
    let sender = client(make, &gw, carrier).with_throttle_pause(Duration::from_millis(50));
    sender.send_text("d-t", "+8613300000000", "慢一点").await.unwrap();
    let submits = gw.lines("submit");
    let statuses: Vec<_> = submits.iter().map(|s| (s["taken"].as_bool(), s["status"].as_u64())).collect();
    assert_eq!(statuses, [(Some(false), Some(status)), (Some(false), Some(status)), (Some(true), Some(0))]);

    let gw = gateway(carrier, &["--throttle", "1000", "--no-report"]).await;
    let settings = GatewaySettings { timeout_secs: 1, ..loopback(gw.port(), account(carrier), SECRET) };
    let sender = make(&settings).unwrap().with_throttle_pause(Duration::from_millis(100));
    let err = sender.send_text("d-t", "+8613300000000", "慢一点").await.unwrap_err();
    let SendError::Temporary(text) = err else { panic!("flow control passes later: {err:?}") };
    assert!(text.contains(&format!(" {status} ")), "{text}");
}

#[tokio::test]
async fn smgp_busy_gateway_is_retried_then_temporary() {
    throttling_is_retried(Carrier::Smgp, GatewayClient::smgp, 1).await;
}

#[tokio::test]
async fn cmpp_flow_control_is_retried_then_temporary() {
    throttling_is_retried(Carrier::Cmpp, GatewayClient::cmpp, 8).await;
}

async fn dropped_link_is_reopened<P: Protocol>(carrier: Carrier, make: Make<P>) {
    let gw = gateway(carrier, &["--drop-after", "1", "--no-report"]).await;
    let sender = client(make, &gw, carrier);
    let text = long_text();
    sender.send_text("d-drop", "+8613300000000", &text).await.unwrap();
    let journal = gw.wait_journal(|j| j.iter().any(|l| l["event"] == "message"), WAIT).await;
    assert_eq!(journal.iter().filter(|l| l["cmd"] == "login").count(), 2, "logged in again after the drop");
    let numbers: Vec<_> = taken(&journal).iter().map(|p| p["pk_number"].as_u64()).collect();
    assert_eq!(numbers, [Some(1), Some(2), Some(3)], "each part taken once");
    assert_eq!(journal.iter().find(|l| l["event"] == "message").unwrap()["text"], text.as_str());
}

#[tokio::test]
async fn smgp_dropped_link_is_reopened_and_nothing_is_sent_twice() {
    dropped_link_is_reopened(Carrier::Smgp, GatewayClient::smgp).await;
}

#[tokio::test]
async fn cmpp_dropped_link_is_reopened_and_nothing_is_sent_twice() {
    dropped_link_is_reopened(Carrier::Cmpp, GatewayClient::cmpp).await;
}

#[tokio::test]
async fn smgp_malformed_frame_is_named_and_the_next_send_logs_in_again() {
    let gw = gateway(Carrier::Smgp, &["--malformed-after", "0", "--no-report"]).await;
    let sender = client(GatewayClient::smgp, &gw, Carrier::Smgp);
    let err = sender.send_text("d-m", "+8613300000000", "坏帧").await.unwrap_err();
    let SendError::Temporary(text) = err else { panic!("a broken link passes later: {err:?}") };
    assert!(text.contains("SMGP 3.0 gateway sent a malformed frame") && text.contains("frame length 5"), "{text}");
    sender.send_text("d-m", "+8613300000000", "坏帧").await.unwrap();
    assert_eq!(gw.lines("login").len(), 2);
    assert_eq!(taken(&gw.journal()).len(), 1);
}

#[tokio::test]
async fn smgp_keepalive_goes_both_ways_and_drop_says_exit() {
    // Ours when idle: the gateway sends none and answers.
    let gw = gateway(Carrier::Smgp, &["--no-report"]).await;
    let settings = GatewaySettings { active_test_secs: 1, ..loopback(gw.port(), account(Carrier::Smgp), SECRET) };
    let sender = GatewayClient::smgp(&settings).unwrap();
    sender.send_text("d-k", "+8613300000000", "在吗").await.unwrap();
    gw.wait_journal(|j| j.iter().any(|l| l["cmd"] == "active_test" && l["dir"] == "in"), WAIT).await;
    drop(sender);
    gw.wait_journal(|j| j.iter().any(|l| l["cmd"] == "exit"), WAIT).await;

    // The gateway's: answered, though the client sends none of its own.
    let gw = gateway(Carrier::Smgp, &["--active-test-secs", "0.4", "--no-report"]).await;
    let settings = GatewaySettings { active_test_secs: 0, ..loopback(gw.port(), account(Carrier::Smgp), SECRET) };
    let sender = GatewayClient::smgp(&settings).unwrap();
    sender.send_text("d-k", "+8613300000000", "在吗").await.unwrap();
    let journal = gw.wait_journal(|j| j.iter().filter(|l| l["cmd"] == "active_test_resp").count() >= 2, WAIT).await;
    assert!(!journal.iter().any(|l| l["cmd"] == "active_test" && l["dir"] == "in"));
}

#[tokio::test]
async fn cmpp_link_without_active_test_answers_is_dropped() {
    let gw = gateway(Carrier::Cmpp, &["--silent", "--no-report"]).await;
    let settings =
        GatewaySettings { active_test_secs: 1, timeout_secs: 1, ..loopback(gw.port(), account(Carrier::Cmpp), SECRET) };
    let sender = GatewayClient::cmpp(&settings).unwrap();
    sender.send_text("d-s", "+8613800138000", "a").await.unwrap();
    let journal = gw.wait_journal(|j| j.iter().any(|l| l["cmd"] == "closed"), WAIT).await;
    let asked = journal.iter().filter(|l| l["cmd"] == "active_test").count();
    assert_eq!(asked, 3, "three unanswered Active_Tests, then the client closes: {journal:#?}");
    sender.send_text("d-s2", "+8613800138000", "b").await.unwrap();
    assert_eq!(gw.lines("login").len(), 2, "the next send logs in again");
}

#[tokio::test]
async fn numbers_outside_mainland_china_are_refused_before_any_connection() {
    let sender = GatewayClient::smgp(&loopback(9, "ereceipt", SECRET)).unwrap();
    let err = sender.send_text("d-x", "+85291234567", "hi").await.unwrap_err();
    assert!(matches!(err, SendError::Permanent(ref t) if t.contains("mainland China")), "{err:?}");
}

/// The SMS router over the three real clients: a China Telecom number's receipt goes by SMGP
/// with its link, a China Mobile number's by CMPP and a China Unicom number's by SGIP in the
/// link-free template with its pull code, each gateway receiving only its own.
#[tokio::test]
async fn the_router_sends_telecom_numbers_by_smgp_mobile_by_cmpp_and_unicom_by_sgip() {
    use crate::infra::delivery::router::{Gateway, RoutingSettings, SmsRouter, TemplateSettings, TextSender};
    use crate::infra::delivery::{Accepted, Message, ReceiptMessage, Sender, Sending};

    struct Nowhere;
    impl TextSender for Nowhere {
        fn send_text<'a>(&'a self, _: &'a str, to: &'a str, _: &'a str) -> Sending<'a> {
            panic!("{to} went to the default route")
        }
    }
    let (smgp, cmpp) = (gateway(Carrier::Smgp, &["--no-report"]).await, gateway(Carrier::Cmpp, &["--no-report"]).await);
    let sgip = ereceipt_test_peers::sgip::SgipGateway::start(&[]).await;
    let routing = RoutingSettings {
        telecom: Some(Gateway::Smgp),
        mobile: Some(Gateway::Cmpp),
        unicom: Some(Gateway::Sgip),
        ..RoutingSettings::default()
    };
    let sgip_settings = super::sgip_settings::tests::loopback(sgip.addr().port(), None);
    let router = SmsRouter::new(Box::new(Nowhere), routing, TemplateSettings::default())
        .with_gateway(Gateway::Smgp, Box::new(client(GatewayClient::smgp, &smgp, Carrier::Smgp)))
        .with_gateway(Gateway::Cmpp, Box::new(client(GatewayClient::cmpp, &cmpp, Carrier::Cmpp)))
        .with_gateway(Gateway::Sgip, Box::new(GatewayClient::sgip(&sgip_settings).unwrap()));
    router.check().unwrap();
    let receipt = |to: &str| {
        Message::Receipt(ReceiptMessage {
            delivery_id: format!("T0000501-000001-00000{}.sms", &to[to.len() - 1..]),
            receipt_id: "T0000501-000001-000001".into(),
            merchant_name: "海港书店".into(),
            amount: "CNY 128.50".into(),
            time_local: "2025-11-25 14:03".into(),
            masked_pan: "622202******3446".into(),
            pull_code: "K7M2QX9P".into(),
            link: "https://receipts.example/r/T0000501-000001-000001?t=abc".into(),
            png: Vec::new(),
            recipient: to.into(),
        })
    };
    let by_smgp: Accepted = router.send(&receipt("+8613312345671")).await.unwrap();
    let by_cmpp: Accepted = router.send(&receipt("+8613812345672")).await.unwrap();
    let by_sgip: Accepted = router.send(&receipt("+8618612345673")).await.unwrap();
    let whole = |gw: &CarrierGateway| {
        let gw_lines = gw.journal();
        gw_lines
            .iter()
            .filter(|l| l["event"] == "message")
            .map(|l| l["text"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    smgp.wait_journal(|j| j.iter().any(|l| l["event"] == "message"), WAIT).await;
    cmpp.wait_journal(|j| j.iter().any(|l| l["event"] == "message"), WAIT).await;
    let (telecom, mobile) = (whole(&smgp), whole(&cmpp));
    assert_eq!(telecom.len(), 1, "SMGP took only the Telecom number's: {telecom:?}");
    assert!(telecom[0].contains("https://receipts.example/r/"), "Telecom keeps the link: {}", telecom[0]);
    assert_eq!(mobile.len(), 1, "CMPP took only the Mobile number's: {mobile:?}");
    assert!(!mobile[0].contains("http"), "China Mobile's text has no link: {}", mobile[0]);
    assert!(mobile[0].contains("K7M2QX9P") && mobile[0].contains("622202******3446"), "{}", mobile[0]);
    assert!(by_smgp.peer_id.is_some() && by_cmpp.peer_id.is_some(), "each gateway's message ids are kept");
    let journal = sgip.wait_journal(|j| j.iter().any(|l| l["event"] == "message"), WAIT).await;
    let unicom: Vec<_> = journal.iter().filter(|l| l["event"] == "message").collect();
    assert_eq!(unicom.len(), 1, "SGIP took only the Unicom number's: {unicom:?}");
    assert_eq!(unicom[0]["user"], "8618612345673");
    let text = unicom[0]["text"].as_str().unwrap();
    assert!(!text.contains("http") && text.contains("K7M2QX9P"), "China Unicom's link-free text: {text}");
    assert!(by_sgip.peer_id.as_deref().is_some_and(|id| id.starts_with("3010012345-")), "{by_sgip:?}");
}
