//! The router over recording gateways (they stand in for the SMPP, SMGP and CMPP clients, which
//! have their own tests against their peers): which gateway gets a number's text, and the exact
//! text and its length in SMS per carrier.

use std::sync::{Arc, Mutex};

use super::*;
use crate::domain::pull_code;
use crate::infra::delivery::smpp::segments;
use crate::infra::delivery::{LoginCode, ReceiptMessage};

/// Every text the recording gateways were given, as (gateway name, recipient, text).
type Log = Arc<Mutex<Vec<(&'static str, String, String)>>>;

/// Keeps every text it is given and accepts.
#[derive(Clone)]
struct Recording(&'static str, Log);

impl TextSender for Recording {
    fn send_text<'a>(&'a self, _delivery_id: &'a str, recipient: &'a str, text: &'a str) -> Sending<'a> {
        self.1.lock().unwrap().push((self.0, recipient.to_owned(), text.to_owned()));
        Box::pin(std::future::ready(Ok(Accepted { peer_id: None, answer: format!("{} took it", self.0) })))
    }
}

fn receipt(to: &str) -> Message {
    let receipt_id = "T0000501-000001-000001";
    Message::Receipt(ReceiptMessage {
        delivery_id: format!("{receipt_id}.sms"),
        receipt_id: receipt_id.into(),
        merchant_name: "海港书店 Harbour Books".into(),
        amount: "CNY 128.50".into(),
        time_local: "2025-11-25 14:03".into(),
        masked_pan: "622202******3446".into(),
        pull_code: pull_code::pull_code(b"test link key", receipt_id, to),
        link: "https://receipts.example/r/T0000501-000001-000001?t=abc".into(),
        png: Vec::new(),
        recipient: to.into(),
    })
}

fn login(to: &str) -> Message {
    Message::LoginCode(LoginCode {
        delivery_id: "login.7".into(),
        recipient: to.into(),
        code: "480215".into(),
        link: "https://receipts.example/pull".into(),
    })
}

/// A router whose default is "smpp" and China Mobile's numbers go to "cmpp".
fn router(log: &Log, routing: RoutingSettings) -> SmsRouter {
    SmsRouter::new(Box::new(Recording("smpp", log.clone())), routing, TemplateSettings::default())
        .with_gateway(Gateway::Cmpp, Box::new(Recording("cmpp", log.clone())))
}

#[tokio::test]
async fn each_number_goes_to_its_carriers_gateway_and_the_rest_to_smpp() {
    let log = Log::default();
    let routing = RoutingSettings { mobile: Some(Gateway::Cmpp), ..RoutingSettings::default() };
    let r = router(&log, routing);
    r.check().unwrap();
    for to in ["+8613800138000", "+8619212345678", "+8613312345678", "+12025550143", "+8613012345678"] {
        r.send(&receipt(to)).await.unwrap();
    }
    let went: Vec<(&str, String)> = log.lock().unwrap().iter().map(|(g, to, _)| (*g, to.clone())).collect();
    assert_eq!(
        went,
        [
            ("cmpp", "+8613800138000".into()),
            ("cmpp", "+8619212345678".into()),
            ("smpp", "+8613312345678".into()),
            ("smpp", "+12025550143".into()),
            ("smpp", "+8613012345678".into()),
        ],
        "China Mobile and Broadnet by CMPP; Telecom and Unicom not routed, so by SMPP; +1 by SMPP"
    );
}

#[tokio::test]
async fn a_ported_number_follows_its_override() {
    let log = Log::default();
    let routing = RoutingSettings {
        mobile: Some(Gateway::Cmpp),
        overrides: vec![Override { prefix: "+8613012345678".into(), carrier: Carrier::Mobile }],
        ..RoutingSettings::default()
    };
    router(&log, routing).send(&receipt("+8613012345678")).await.unwrap();
    let (gateway, _, text) = log.lock().unwrap()[0].clone();
    assert_eq!(gateway, "cmpp", "a Unicom block number ported to China Mobile");
    assert!(!text.contains("https://"), "and China Mobile's link-free text: {text}");
}

#[test]
fn routing_to_a_gateway_that_is_not_set_up_is_refused() {
    let log = Log::default();
    let routing = RoutingSettings { unicom: Some(Gateway::Sgip), ..RoutingSettings::default() };
    let e = router(&log, routing).check().unwrap_err();
    assert_eq!(e, "delivery.routing: unicom goes to sgip, which is not set up");
}

#[tokio::test]
async fn unicom_numbers_go_by_sgip_once_it_is_set_up() {
    let log = Log::default();
    let routing = RoutingSettings { unicom: Some(Gateway::Sgip), ..RoutingSettings::default() };
    let r = router(&log, routing).with_gateway(Gateway::Sgip, Box::new(Recording("sgip", log.clone())));
    assert_eq!(
        r.check(),
        Err("delivery.cmpp is set up but no carrier goes to it: set delivery.routing's \
        telecom, mobile, unicom or broadnet = \"cmpp\""
            .into()),
        "the check still looks at every gateway"
    );
    let routing =
        RoutingSettings { unicom: Some(Gateway::Sgip), mobile: Some(Gateway::Cmpp), ..RoutingSettings::default() };
    let r = router(&log, routing).with_gateway(Gateway::Sgip, Box::new(Recording("sgip", log.clone())));
    r.check().unwrap();
    r.send(&receipt("+8618612345678")).await.unwrap();
    r.send(&receipt("+8613012345678")).await.unwrap();
    let went: Vec<(&str, String)> = log.lock().unwrap().iter().map(|(g, to, _)| (*g, to.clone())).collect();
    assert_eq!(went, [("sgip", "+8618612345678".into()), ("sgip", "+8613012345678".into())]);
}

#[test]
fn the_receipt_texts_per_carrier_are_exact_and_fit_their_sms_count() {
    let r = SmsRouter::new(
        Box::new(Recording("smpp", Arc::default())),
        RoutingSettings::default(),
        TemplateSettings::default(),
    );
    let text = |to: &str| r.text(&receipt(to)).unwrap().2;
    let code = pull_code::pull_code(b"test link key", "T0000501-000001-000001", "+8613800138000");
    let mobile = text("+8613800138000");
    assert_eq!(
        mobile,
        format!(
            "【电子签购单】海港书店 Harbour Books CNY 128.50 卡/card 622202******3446 2025-11-25 14:03 \
             单号/no. T0000501-000001-000001 提取码/code {code}"
        )
    );
    let unicom = text("+8613012345678");
    assert_eq!(
        unicom.replace(&pull_code::pull_code(b"test link key", "T0000501-000001-000001", "+8613012345678"), &code),
        mobile
    );
    assert!(!unicom.contains("https://"), "{unicom}");
    let link = "【电子签购单】海港书店 Harbour Books CNY 128.50 收据/receipt: \
                https://receipts.example/r/T0000501-000001-000001?t=abc";
    assert_eq!(text("+12025550143"), link, "international: today's SMPP text");
    assert_eq!(text("+8613312345678"), link, "China Telecom lets links through");
    // UCS-2: 70 characters in one SMS, 67 per part of a long one.
    assert_eq!((mobile.chars().count(), segments(&mobile, 1).len()), (125, 2));
    assert_eq!(segments(link, 1).len(), 2);
}

#[test]
fn the_login_code_loses_its_link_where_links_are_forbidden() {
    let r = SmsRouter::new(
        Box::new(Recording("smpp", Arc::default())),
        RoutingSettings::default(),
        TemplateSettings::default(),
    );
    let text = |to: &str| r.text(&login(to)).unwrap().2;
    let without = "【电子签购单】验证码 480215，10分钟内有效。Receipt login code 480215, valid 10 min.";
    assert_eq!(text("+8613800138000"), without);
    assert_eq!(text("+8613012345678"), without);
    let with = "【电子签购单】验证码 480215，10分钟内有效。Receipt login code 480215, valid 10 min: \
                https://receipts.example/pull";
    assert_eq!(text("+12025550143"), with);
    assert_eq!(with, login("+12025550143").text(), "the same as the SMPP text of before");
    assert_eq!(segments(without, 1).len(), 1, "one SMS");
}

#[tokio::test]
async fn a_filed_template_from_the_settings_is_used_and_named_in_the_answer() {
    let log = Log::default();
    let filed = Template {
        template_id: Some("SMS_4801".into()),
        signature: "海港书店".into(),
        text: "您在{merchant}消费{amount}，提取码{code}".into(),
        links: false,
        long_digit_runs: false,
    };
    let templates = TemplateSettings {
        unicom: CarrierTemplates { receipt: Some(filed), login_code: None },
        ..TemplateSettings::default()
    };
    templates.check().unwrap();
    let r = SmsRouter::new(Box::new(Recording("smpp", log.clone())), RoutingSettings::default(), templates);
    let msg = receipt("+8613012345678");
    let Message::Receipt(out) = &msg else { unreachable!() };
    let answer = r.send(&msg).await.unwrap().answer;
    assert_eq!(answer, "smpp took it (template SMS_4801)");
    let text = log.lock().unwrap()[0].2.clone();
    assert_eq!(text, format!("【海港书店】您在海港书店 Harbour Books消费CNY 128.50，提取码{}", out.pull_code));
}

#[tokio::test]
async fn a_message_the_template_cannot_carry_fails_for_good() {
    let log = Log::default();
    let r = SmsRouter::new(
        Box::new(Recording("smpp", log.clone())),
        RoutingSettings::default(),
        TemplateSettings::default(),
    );
    let Message::Receipt(mut out) = receipt("+8613800138000") else { unreachable!() };
    out.merchant_name = "harbour.cn 海港书店".into();
    let e = r.send(&Message::Receipt(out)).await.unwrap_err();
    assert!(matches!(&e, SendError::Permanent(m) if m.contains("mobile template") && m.contains("merchant")), "{e}");
    assert!(log.lock().unwrap().is_empty(), "nothing went out");
}

#[test]
fn a_gateway_set_up_that_no_carrier_goes_to_is_refused() {
    let log = Log::default();
    // CMPP is set up, but China Mobile's numbers are left on SMPP.
    let err = router(&log, RoutingSettings::default()).check().unwrap_err();
    assert!(err.contains("delivery.cmpp is set up but no carrier goes to it") && err.contains("= \"cmpp\""), "{err}");
}
