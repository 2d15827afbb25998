//! From a sale to the customer's phone through the real protocols: the text through the in-test
//! SMSC (SMPP 3.4) and the picture message through the MMSC stand-in (MM7), each marked delivered
//! by the peer's own report; and the refusals of the MM7 delivery report endpoint.

use std::time::{Duration, Instant};

use ereceipt_core::compose::ComposedReceipt;
use ereceipt_platform::infra::delivery::mm7::{parse_submit_rsp, Mm7Settings, SubmitRsp};
use ereceipt_platform::infra::delivery::smpp::{SmppSettings, SmppTls};
use ereceipt_platform::infra::store::{DeliveryEvent, DeliveryRow};
use ereceipt_platform::settings::Secret;
use ereceipt_terminal::sync::Step;
use ereceipt_test_peers::mmsc::{delivery_report_req, Mmsc, Script, Submitted};
use ereceipt_test_peers::smsc::{reassemble, Smsc};

use crate::helpers::{Db, TestPlatform, TestTerminal};

const NS: &str = "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-4";
const MMSC_USER: &str = "mmsc-gw";
const MMSC_PASSWORD: &str = "r3port:pw";
const PHONE: &str = "+8613900139000";

/// A platform that sends SMS through `smsc` and MMS through `mmsc`, which may post reports.
async fn platform(smsc: &Smsc, mmsc: &Mmsc) -> TestPlatform {
    let (smsc_addr, mmsc_url) = (smsc.addr, mmsc.url("http"));
    TestPlatform::start_with(move |s| {
        s.delivery.smpp = Some(SmppSettings {
            host: smsc_addr.ip().to_string(),
            port: smsc_addr.port(),
            system_id: "ereceipt".into(),
            password: Secret("s3cret".into()),
            system_type: String::new(),
            source_addr: "10690000".into(),
            enquire_link_secs: 0,
            timeout_secs: 5,
            registered_delivery: true,
            tls: SmppTls::None,
            extra_ca_pem: None,
            server_name: None,
            insecure_plaintext: false,
        });
        s.delivery.mm7 = Some(Mm7Settings {
            url: mmsc_url.parse().expect("the MMSC's URL"),
            vasp_id: "vasp01".into(),
            vas_id: Some("receipts".into()),
            sender_address: Some("1069000123".into()),
            username: None,
            password: None,
            report_username: Some(MMSC_USER.into()),
            report_password: Some(Secret(MMSC_PASSWORD.into())),
            mm7_version: "6.8.0".into(),
            namespace: NS.into(),
            timeout_secs: 10,
            extra_ca_pem: None,
            insecure_plaintext: false,
        });
    })
    .await
}

async fn peers() -> (Smsc, Mmsc) {
    let smsc = Smsc::start("ereceipt", "s3cret").await;
    smsc.with(|log| log.receipts = true);
    (smsc, Mmsc::start(NS, Script::Rsp(1000, "Success")).await)
}

/// A sale to `choice`, uploaded.
async fn sold(t: &mut TestTerminal, choice: &str) -> (ComposedReceipt, String) {
    let r = t.sale_to(Some(choice)).await;
    let id = r.record.id.to_string();
    assert_eq!(t.uploader.upload_next().await.unwrap(), Step::Uploaded(id.clone()));
    (r, id)
}

/// Waits (20 s at most) until the receipt's delivery is in `state`; returns it with its history.
async fn delivery_in(platform: &TestPlatform, receipt_id: &str, state: &str) -> (DeliveryRow, Vec<DeliveryEvent>) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut deliveries = platform.state.store.deliveries_of(receipt_id).await.unwrap();
        assert_eq!(deliveries.len(), 1);
        if deliveries[0].0.state.as_str() == state {
            return deliveries.remove(0);
        }
        assert!(Instant::now() < deadline, "{receipt_id} never became {state}: {:?}", deliveries[0]);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn states(events: &[DeliveryEvent]) -> Vec<&str> {
    events.iter().map(|e| e.state.as_str()).collect()
}

/// The amount as the messages write it: "CNY 1743.55" (the samples are in yuan).
fn amount(r: &ComposedReceipt) -> String {
    let a = r.record.transaction.amount;
    format!("{} {}.{:02}", a.currency(), a.minor() / 100, a.minor() % 100)
}

/// Waits until the MMSC has taken `n` submissions.
async fn mmsc_received(mmsc: &Mmsc, n: usize) -> Vec<Submitted> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = mmsc.received();
        if got.len() >= n {
            return got;
        }
        assert!(Instant::now() < deadline, "the MMSC got {} of {n} submissions", got.len());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// POSTs `xml` to the platform's MM7 endpoint as the MMSC would, with `auth` if given.
async fn post_report(platform: &TestPlatform, auth: Option<(&str, &str)>, xml: String) -> reqwest::Response {
    let mut request = platform
        .anonymous_client()
        .post(format!("{}/api/v1/mm7", platform.url))
        .header("content-type", "text/xml; charset=utf-8")
        .header("soapaction", "\"\"")
        .body(xml);
    if let Some((user, password)) = auth {
        request = request.basic_auth(user, Some(password));
    }
    request.send().await.unwrap()
}

/// The MM7 answer in a response body (our parser of MMSC answers reads VASP answers alike).
async fn mm7_answer(response: reqwest::Response) -> SubmitRsp {
    let body = response.bytes().await.unwrap();
    parse_submit_rsp(&body).unwrap_or_else(|e| panic!("{e:?}: {}", String::from_utf8_lossy(&body)))
}

#[tokio::test]
async fn a_sale_by_sms_reaches_the_smsc_and_its_delivery_receipt_marks_it_delivered() {
    let (smsc, mmsc) = peers().await;
    let platform = platform(&smsc, &mmsc).await;
    let mut t = platform.terminal("T0000701").await;
    // A China Telecom number: its texts keep the link (China Mobile's and Unicom's carry a pull
    // code instead, `pull_code.rs`).
    let (r, id) = sold(&mut t, "sms:+8618900189000").await;

    smsc.wait_for("every part of the receipt's text", |log| {
        let parts = log.submits.first().map_or(0, |s| s.udh.map_or(1, |(_, total, _)| usize::from(total)));
        parts > 0 && log.submits.len() >= parts
    })
    .await;
    let submits = smsc.with(|log| log.submits.clone());
    let texts = reassemble(&submits);
    assert_eq!(texts.len(), 1, "one text, each part once");
    let text = &texts[0];
    assert!(text.contains("Harbour Books 海港书店"), "names the merchant: {text}");
    assert!(text.contains(&amount(&r)), "names the amount {}: {text}", amount(&r));
    assert!(text.contains(&format!("{}/r/{id}", platform.url)), "links to the receipt: {text}");
    // The link opens this receipt, verified, for whoever holds the text (no login needed).
    let at = text.find(&format!("{}/r/", platform.url)).unwrap();
    let link: String = text[at..].chars().take_while(|c| !c.is_whitespace() && *c != '}').collect();
    let page = platform.anonymous_client().get(&link).send().await.unwrap();
    assert_eq!(page.status(), 200, "{link}");
    assert!(page.text().await.unwrap().contains("data-verdict=\"authentic\""), "{link}");
    for s in &submits {
        assert_eq!((s.dest_ton, s.destination.as_str()), (1, "8618900189000"));
        assert_eq!((s.data_coding, s.registered_delivery), (0x08, 0x01), "UCS-2, a receipt asked for");
    }

    // The SMSC's delivery receipt (deliver_sm on the transceiver bind) marks it delivered.
    let (d, events) = delivery_in(&platform, &id, "delivered").await;
    let ids: Vec<&str> = submits.iter().map(|s| s.message_id.as_str()).collect();
    assert_eq!(d.peer_id.as_deref(), Some(ids.join(",").as_str()));
    assert_eq!(states(&events), ["queued", "sent", "delivered"], "{events:?}");
    assert!(events[2].answer.starts_with("Delivered"), "the peer's answer: {events:?}");
    smsc.wait_for("every receipt acknowledged", |log| log.receipt_answers.len() == submits.len()).await;
    assert_eq!(smsc.with(|log| log.submits.len()), submits.len(), "sent once");
}

#[tokio::test]
async fn a_sale_by_mms_reaches_the_mmsc_as_slides_of_the_receipt_and_its_report_marks_it_delivered() {
    let (smsc, mmsc) = peers().await;
    let platform = platform(&smsc, &mmsc).await;
    let mut t = platform.terminal("T0000702").await;
    let (r, id) = sold(&mut t, &format!("mms:{PHONE}")).await;

    let got = mmsc_received(&mmsc, 1).await.remove(0);
    let stored = platform.state.store.receipt_image(&id).await.unwrap().unwrap();
    // The slides are the stored image's pixels, band by band (not assert_eq: the bytes say
    // nothing to a reader), and the stored image is the terminal's.
    let pixels = |png: &[u8]| ereceipt_core::render::png::decode(png).unwrap().canvas.into_pixels();
    assert!(got.images.len() > 1, "{} slides", got.images.len());
    let stacked: Vec<u8> = got.images.iter().flat_map(|(_, slide)| pixels(slide)).collect();
    assert!(stacked == pixels(&stored), "the slides stack to the stored receipt image");
    assert!(stored == r.png, "… which is the terminal's image");
    assert_eq!(got.allow_adaptations.as_deref(), Some("false"));
    assert_eq!(got.number, PHONE.trim_start_matches('+'));
    assert_eq!(got.transaction_id, format!("{id}.mms"), "the delivery id is the TransactionID");
    assert!(got.subject.contains("Harbour Books 海港书店") && got.subject.contains(&amount(&r)), "{}", got.subject);
    assert!(got.text.contains(&format!("{}/r/{id}", platform.url)), "{}", got.text);
    let message_id = got.message_id.clone().expect("the MMSC's MessageID");
    let (d, _) = delivery_in(&platform, &id, "sent").await;
    assert_eq!(d.peer_id.as_deref(), Some(message_id.as_str()), "the SubmitRsp's MessageID is stored");

    // The MMSC reports the handset retrieved it.
    let report = delivery_report_req(NS, "dr-0001", &message_id, PHONE, "Retrieved");
    let answered = post_report(&platform, Some((MMSC_USER, MMSC_PASSWORD)), report).await;
    assert_eq!(answered.status(), 200);
    assert!(answered.headers()["content-type"].to_str().unwrap().starts_with("text/xml"));
    let rsp = mm7_answer(answered).await;
    assert_eq!((rsp.status_code, rsp.transaction_id.as_deref(), rsp.fault_code), (1000, Some("dr-0001"), None));
    let (_, events) = delivery_in(&platform, &id, "delivered").await;
    assert_eq!(states(&events), ["queued", "sent", "delivered"]);
    assert!(events[2].answer.contains("MM7 DeliveryReport Retrieved"), "{events:?}");
    assert_eq!(mmsc.received().len(), 1, "sent once");
}

#[tokio::test]
async fn the_mm7_report_endpoint_refuses_strangers_unknown_ids_and_garbage_changing_nothing() {
    let (smsc, mmsc) = peers().await;
    let platform = platform(&smsc, &mmsc).await;
    let mut t = platform.terminal("T0000703").await;
    let (_, id) = sold(&mut t, &format!("mms:{PHONE}")).await;
    let message_id = mmsc_received(&mmsc, 1).await[0].message_id.clone().unwrap();
    delivery_in(&platform, &id, "sent").await;
    let creds = Some((MMSC_USER, MMSC_PASSWORD));
    let rejected = delivery_report_req(NS, "dr-0002", &message_id, PHONE, "Rejected");

    for auth in [None, Some((MMSC_USER, "wrong")), Some(("someone", MMSC_PASSWORD))] {
        let refused = post_report(&platform, auth, rejected.clone()).await;
        assert_eq!(refused.status(), 401, "{auth:?}");
        assert!(refused.headers()["www-authenticate"].to_str().unwrap().starts_with("Basic"));
    }

    let garbage = post_report(&platform, creds, rejected[..rejected.len() - 40].to_string()).await;
    assert_eq!(garbage.status(), 400);
    let text = garbage.text().await.unwrap();
    assert!(text.contains("malformed MM7 request") && text.contains("2007"), "{text}");
    let incomplete = post_report(&platform, creds, rejected.replace("<mm7:MMStatus>Rejected</mm7:MMStatus>", "")).await;
    assert_eq!(incomplete.status(), 400);
    assert!(incomplete.text().await.unwrap().contains("no MMStatus"));

    let faults = [
        (delivery_report_req(NS, "dr-0003", "mmsc-0001", PHONE, "Rejected"), 2005, "mmsc-0001"),
        (delivery_report_req(NS, "dr-0003", &message_id, "+8613900139001", "Rejected"), 2002, "+8613900139001"),
        (rejected.replace("DeliveryReportReq", "DeliverReq"), 4003, "DeliverReq"),
    ];
    for (xml, code, named) in faults {
        let answered = post_report(&platform, creds, xml).await;
        assert_eq!(answered.status(), 500, "{code}");
        let fault = mm7_answer(answered).await;
        assert_eq!((fault.status_code, fault.fault_code.as_deref()), (code, Some("SOAP-ENV:Client")));
        assert!(fault.details.as_deref().is_some_and(|d| d.contains(named)), "{fault:?}");
        assert!(fault.transaction_id.as_deref().is_some_and(|t| t.starts_with("dr-")), "echoed: {fault:?}");
    }
    let (_, events) = delivery_in(&platform, &id, "sent").await;
    assert_eq!(states(&events), ["queued", "sent"], "nothing changed");

    // The right report, from the MMSC: failed, with the MMSC's words in the history.
    let answered = post_report(&platform, creds, rejected).await;
    assert_eq!(mm7_answer(answered).await.status_code, 1000);
    let (d, events) = delivery_in(&platform, &id, "failed").await;
    assert!(d.last_answer.as_deref().is_some_and(|a| a.contains("Rejected by the handset")), "{d:?}");
    assert_eq!(states(&events), ["queued", "sent", "failed"]);

    // A platform without report credentials has no MM7 endpoint.
    let plain = TestPlatform::start(Db::Sqlite).await;
    let off = post_report(&plain, creds, delivery_report_req(NS, "x", "y", PHONE, "Retrieved")).await;
    assert_eq!(off.status(), 404);
    assert!(off.text().await.unwrap().contains("report_username"));
}
