//! MM7 against the loopback MMSC stand-in (`ereceipt_test_peers::mmsc`), and the answer parser on its
//! own.

mod answers;
mod reports;
mod slides;

use base64::Engine as _;

use super::*;
use ereceipt_test_peers::mmsc::{Mmsc, Script};
use ereceipt_test_peers::tls::TestPki;

const NS: &str = "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-4";

/// Bytes shaped like a PNG that hold every byte value, CRLFs and boundary-like runs.
fn png_like() -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    for i in 0..40u32 {
        png.extend((0..=255u8).map(|b| b.wrapping_mul(31).wrapping_add(i as u8)));
        png.extend_from_slice(b"\r\n--=_mm7_\r\n\r\n.\r\n--\n");
    }
    png
}

fn outgoing() -> ReceiptMessage {
    ReceiptMessage {
        delivery_id: "r-0001/mms".into(),
        receipt_id: "R20261125-0001".into(),
        merchant_name: "长城书店 Great Wall Books".into(),
        amount: "CNY 128.50".into(),
        time_local: "2026-11-25 14:03".into(),
        masked_pan: "622202******3446".into(),
        pull_code: "K7M2QX9P".into(),
        link: "https://r.example.cn/r/AbC123".into(),
        png: png_like(),
        recipient: "+8613800138000".into(),
    }
}

fn settings(url: String) -> Mm7Settings {
    Mm7Settings {
        url: url.parse().expect("a URL"),
        vasp_id: "vasp<&>1".into(),
        vas_id: Some("receipts".into()),
        sender_address: Some("1069000123".into()),
        username: None,
        password: None,
        report_username: None,
        report_password: None,
        mm7_version: "6.8.0".into(),
        namespace: NS.into(),
        timeout_secs: 5,
        extra_ca_pem: None,
        insecure_plaintext: false,
    }
}

fn sender(mmsc: &Mmsc) -> MmsSender {
    MmsSender::new(&settings(mmsc.url("http"))).unwrap()
}

#[tokio::test]
async fn an_accepted_submission_arrives_whole() {
    let mmsc = Mmsc::start(NS, Script::Rsp(1000, "Success")).await;
    let out = outgoing();
    let accepted = sender(&mmsc).send(&out).await.unwrap();
    assert_eq!(accepted.peer_id.as_deref(), Some("mmsc-4711"));
    assert_eq!(accepted.answer, "MM7 1000 Success");
    let got = mmsc.received();
    assert_eq!(got.len(), 1);
    let got = &got[0];
    assert!(got.png == out.png, "the attachment is byte-identical");
    assert_eq!(got.png_location, "R20261125-0001.png");
    assert_eq!(got.transaction_id, "r-0001/mms", "the delivery id is the TransactionID");
    assert_eq!(got.number, "8613800138000", "international format without '+'");
    assert_eq!((got.mm7_version.as_str(), got.vasp_id.as_str()), ("6.8.0", "vasp<&>1"));
    assert_eq!((got.vas_id.as_str(), got.short_code.as_str()), ("receipts", "1069000123"));
    assert_eq!(got.subject, "电子签购单 Receipt: 长城书店 Great Wall Books CNY 128.50");
    for part in ["长城书店 Great Wall Books", "金额 Amount: CNY 128.50", "2026-11-25 14:03", &out.link] {
        assert!(got.text.contains(part), "{part:?} in {:?}", got.text);
    }
    assert_eq!(got.authorization, None, "no credentials configured, none sent");
    assert_eq!(got.soap_action.as_deref(), Some("\"\""));
}

#[tokio::test]
async fn markup_in_a_merchant_name_is_escaped() {
    let mmsc = Mmsc::start(NS, Script::Rsp(1000, "Success")).await;
    let mut out = outgoing();
    out.merchant_name = "<b>&\"'Tom & Jerry's</b>\u{1} ]]> &amp;".into();
    sender(&mmsc).send(&out).await.unwrap();
    let got = &mmsc.received()[0];
    let shown = "<b>&\"'Tom & Jerry's</b>  ]]> &amp;";
    assert_eq!(got.subject, format!("电子签购单 Receipt: {shown} CNY 128.50"));
    assert!(got.text.starts_with(shown), "{:?}", got.text);
}

#[derive(Debug, PartialEq)]
enum Outcome {
    Accepted,
    Temporary,
    Permanent,
}

fn outcome(r: &Result<Accepted, SendError>) -> (Outcome, String) {
    match r {
        Ok(a) => (Outcome::Accepted, a.answer.clone()),
        Err(SendError::Temporary(m)) => (Outcome::Temporary, m.clone()),
        Err(SendError::Permanent(m)) => (Outcome::Permanent, m.clone()),
    }
}

#[tokio::test]
async fn status_codes_decide_between_retry_and_giving_up() {
    use Outcome::{Accepted, Permanent, Temporary};
    let mmsc = Mmsc::start(NS, Script::Hang).await;
    let sender = sender(&mmsc);
    let cases = [
        (Script::Rsp(1100, "Partial success"), Accepted, "1100"),
        (Script::Rsp(2002, "Address Error"), Permanent, "2002"),
        (Script::Rsp(2004, "Multimedia content refused"), Permanent, "2004"),
        (Script::Rsp(3001, "Not Possible"), Temporary, "3001"),
        (Script::Rsp(3510, "Throughput exceeded"), Temporary, "3510"),
        (Script::Rsp(4004, "Validation error"), Permanent, "4004"),
        (Script::Rsp(4006, "Service unavailable"), Temporary, "4006"),
        (Script::Rsp(4007, "Service denied"), Permanent, "4007"),
        (Script::Rsp(5000, "No such class"), Temporary, "5000"),
        (Script::Fault("Client", Some((2007, "Message format corrupt"))), Permanent, "2007"),
        (Script::Fault("Server", Some((3000, "Server Error"))), Temporary, "3000"),
        (Script::Fault("Client", None), Permanent, "2000"),
        (Script::Fault("Server", None), Temporary, "3000"),
        (Script::Http(503, "busy"), Temporary, "503"),
        (Script::Http(429, "slow down"), Temporary, "429"),
        (Script::Http(408, "too slow"), Temporary, "408"),
        (Script::Http(401, "who are you"), Permanent, "401"),
        (Script::Http(404, "no MM7 here"), Permanent, "404"),
        (Script::Http(200, "<html>ok</html>"), Temporary, "not a SOAP envelope"),
    ];
    for (script, expected, mentions) in &cases {
        mmsc.script(script.clone());
        let (got, text) = outcome(&sender.send(&outgoing()).await);
        assert_eq!(&got, expected, "{script:?}: {text}");
        assert!(text.contains(mentions), "{script:?}: {text:?} should mention {mentions:?}");
    }
    assert_eq!(mmsc.received().len(), cases.len(), "every answer was to a well-formed SubmitReq");
}

#[tokio::test]
async fn a_server_that_is_down_is_temporary() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/mm7", listener.local_addr().unwrap());
    drop(listener);
    let err = MmsSender::new(&settings(url)).unwrap().send(&outgoing()).await.unwrap_err();
    assert!(matches!(err, SendError::Temporary(_)), "{err:?}");
}

#[tokio::test]
async fn no_answer_in_time_is_temporary() {
    let mmsc = Mmsc::start(NS, Script::Hang).await;
    let mut s = settings(mmsc.url("http"));
    s.timeout_secs = 1;
    let started = std::time::Instant::now();
    let err = MmsSender::new(&s).unwrap().send(&outgoing()).await.unwrap_err();
    assert!(matches!(&err, SendError::Temporary(m) if m.contains("within 1 s")), "{err:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
}

#[tokio::test]
async fn basic_auth_is_sent_when_configured() {
    let mmsc = Mmsc::start(NS, Script::Rsp(1000, "Success")).await;
    let mut s = settings(mmsc.url("http"));
    s.username = Some("vasp01".into());
    s.password = Some(crate::infra::secret::Secret("s3cret:pw".into()));
    assert!(!format!("{s:?}").contains("s3cret"), "the password stays out of Debug");
    MmsSender::new(&s).unwrap().send(&outgoing()).await.unwrap();
    let auth = mmsc.received()[0].authorization.clone().unwrap();
    let encoded = auth.strip_prefix("Basic ").unwrap();
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded).unwrap();
    assert_eq!(decoded, b"vasp01:s3cret:pw");
}

#[tokio::test]
async fn https_trusts_the_extra_ca_and_nothing_unknown() {
    let pki = TestPki::new("MMSC test CA", &["localhost"]);
    let mmsc = Mmsc::start_with(NS, Script::Rsp(1000, "Success"), Some(pki.server_config(&[b"http/1.1"]))).await;
    let url = format!("https://localhost:{}/mm7", mmsc.addr.port());
    let mut s = settings(url);
    let err = MmsSender::new(&s).unwrap().send(&outgoing()).await.unwrap_err();
    assert!(matches!(&err, SendError::Temporary(m) if m.contains("UnknownIssuer")), "{err:?}");
    s.extra_ca_pem = Some(pki.ca_pem.clone());
    let accepted = MmsSender::new(&s).unwrap().send(&outgoing()).await.unwrap();
    assert_eq!(accepted.peer_id.as_deref(), Some("mmsc-4711"));
    assert_eq!(mmsc.received().len(), 1, "the untrusted attempt never got to send");
}

/// Security review L5: the MMSC's certificate must come from a trusted CA and name the URL's
/// host; either failure is a clear, retried refusal and nothing is sent.
#[tokio::test]
async fn a_certificate_from_another_ca_or_for_another_name_is_refused_by_name() {
    let pki = TestPki::new("MMSC test CA", &["mmsc.test"]);
    let stranger = TestPki::new("Another CA", &["localhost"]);
    let mmsc = Mmsc::start_with(NS, Script::Rsp(1000, "Success"), Some(pki.server_config(&[b"http/1.1"]))).await;
    let port = mmsc.addr.port();
    let mut s = settings(format!("https://localhost:{port}/mm7"));
    s.username = Some("vasp01".into());
    s.password = Some(crate::infra::secret::Secret("s3cret".into()));
    s.extra_ca_pem = Some(pki.ca_pem.clone());
    let err = MmsSender::new(&s).unwrap().send(&outgoing()).await.unwrap_err();
    assert!(
        matches!(&err, SendError::Temporary(m) if m.contains("MMSC localhost") && m.contains("not valid for name")),
        "{err:?}"
    );
    s.extra_ca_pem = Some(stranger.ca_pem.clone());
    let err = MmsSender::new(&s).unwrap().send(&outgoing()).await.unwrap_err();
    assert!(matches!(&err, SendError::Temporary(m) if m.contains("UnknownIssuer")), "{err:?}");
    assert!(mmsc.received().is_empty(), "no SubmitReq (nor the credentials) went out");
}

#[tokio::test]
async fn only_phone_numbers_go_by_mms() {
    let mmsc = Mmsc::start(NS, Script::Rsp(1000, "Success")).await;
    for bad in ["someone@example.com", "8613800138000", "+86 138", "+", "+1234567890123456"] {
        let mut out = outgoing();
        out.recipient = bad.into();
        let err = sender(&mmsc).send(&out).await.unwrap_err();
        assert!(matches!(err, SendError::Permanent(_)), "{bad}: {err:?}");
    }
    assert!(mmsc.received().is_empty());
}

#[test]
fn settings_have_defaults_and_refuse_unknown_keys() {
    let s: Mm7Settings = serde_json::from_value(serde_json::json!({
        "url": "https://mmsc.example/mm7", "vasp_id": "v", "vas_id": "s", "sender_address": "10690"
    }))
    .unwrap();
    assert_eq!((s.mm7_version.as_str(), s.namespace.as_str(), s.timeout_secs), ("6.8.0", NS, 30));
    assert!(!s.insecure_plaintext && s.extra_ca_pem.is_none());
    let typo = serde_json::from_value::<Mm7Settings>(serde_json::json!({
        "url": "https://mmsc.example/mm7", "vasp_id": "v", "vaspid": "v"
    }));
    assert!(typo.unwrap_err().to_string().contains("vaspid"));
    // Parsed at load: a URL that is none, or an empty optional value, is refused there.
    for (key, value, says) in
        [("url", "not a url", "not a URL"), ("url", "mmsc.example", "not a URL"), ("vas_id", "", "is empty")]
    {
        let mut v = serde_json::json!({"url": "https://mmsc.example/mm7", "vasp_id": "v"});
        v[key] = value.into();
        let err = serde_json::from_value::<Mm7Settings>(v).unwrap_err().to_string();
        assert!(err.contains(says), "{key} = {value:?}: {err}");
    }
}

/// Security review L5: `http://` to an MMSC on another host would carry the Basic credentials,
/// the customer's number and the receipt in clear.
#[test]
fn plain_http_to_an_mmsc_on_another_host_is_refused() {
    let mut s = settings("http://mmsc.example.net/mm7".into());
    s.username = Some("vasp01".into());
    s.password = Some(crate::infra::secret::Secret("s3cret".into()));
    match MmsSender::new(&s) {
        Err(SendError::Permanent(m)) => {
            assert!(m.contains("http://") && m.contains("insecure_plaintext"), "{m}");
        }
        other => panic!("plain HTTP to mmsc.example.net accepted: {other:?}"),
    }
    s.insecure_plaintext = true;
    assert!(MmsSender::new(&s).is_ok(), "the opt-out, named in the settings");
    s.url = "https://mmsc.example.net/mm7".parse().unwrap();
    let err = s.check().unwrap_err();
    assert!(err.contains("insecure_plaintext = true goes only with an http:// url"), "{err}");
    for loopback in ["http://127.0.0.1:9/mm7", "http://localhost/mm7", "http://[::1]:8080/mm7"] {
        assert!(settings(loopback.into()).check().is_ok(), "{loopback}");
    }
}

#[test]
fn bad_settings_are_refused_up_front() {
    let refuse = |s: Mm7Settings| match MmsSender::new(&s) {
        Err(SendError::Permanent(m)) => m,
        other => panic!("{other:?}"),
    };
    assert!(refuse(settings("ftp://mmsc.example/mm7".into())).contains("not http"));
    let mut s = settings("https://mmsc.example/mm7".into());
    s.extra_ca_pem = Some("/nonexistent/mmsc-ca.pem".into());
    assert!(refuse(s.clone()).contains("extra_ca_pem /nonexistent/mmsc-ca.pem"));
    s.extra_ca_pem = None;
    s.vasp_id = String::new();
    assert!(refuse(s).contains("vasp_id"));
}

#[test]
fn the_request_is_a_pure_function_of_message_and_transaction() {
    let sender = MmsSender::new(&settings("http://127.0.0.1:9/mm7".into())).unwrap();
    let out = outgoing();
    let (ct, body) = sender.submit_req(&out, "t-1");
    assert_eq!((ct.clone(), body.clone()), sender.submit_req(&out, "t-1"));
    assert_ne!(body, sender.submit_req(&out, "t-2").1);
    assert!(ct.starts_with("multipart/related; boundary=\"=_mm7_"), "{ct}");
    assert!(ct.ends_with("type=\"text/xml\"; start=\"<soap-start>\""), "{ct}");
    let boundary = ct.split('"').nth(1).unwrap();
    let occurrences = body.windows(boundary.len()).filter(|w| *w == boundary.as_bytes()).count();
    assert_eq!(occurrences, 3, "opening, SOAP/content delimiter and close only");
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains("<mm7:TransactionID xmlns:mm7=\"http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-4\" SOAP-ENV:mustUnderstand=\"1\">t-1</mm7:TransactionID>"));
    assert!(text.contains("<VASPID>vasp&lt;&amp;&gt;1</VASPID>"));
}
