//! DeliveryReportReq as MMSCs write them, what each MMStatus means, and our answers read back by
//! the same parser that reads an MMSC's answers.

use super::super::report::*;
use super::super::*;

/// A report shaped like a commercial MMSC's (REL-5 namespace, prefixed elements, a
/// "/TYPE=PLMN" recipient).
const RETRIEVED: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/">
 <SOAP-ENV:Header>
  <mm7:TransactionID SOAP-ENV:mustUnderstand="1" xmlns:mm7="http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-2">bddf328cc0e36a25</mm7:TransactionID>
 </SOAP-ENV:Header>
 <SOAP-ENV:Body>
  <mm7:DeliveryReportReq xmlns:mm7="http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-2">
   <mm7:MM7Version>5.3.0</mm7:MM7Version>
   <mm7:MMSRelayServerID>mmsc.example</mm7:MMSRelayServerID>
   <mm7:MessageID>369500617770864640</mm7:MessageID>
   <mm7:Recipient><mm7:Number>+8613800138000/TYPE=PLMN</mm7:Number></mm7:Recipient>
   <mm7:Sender><mm7:ShortCode>1069000123</mm7:ShortCode></mm7:Sender>
   <mm7:Date>2026-11-25T14:05:09+08:00</mm7:Date>
   <mm7:MMStatus>Retrieved</mm7:MMStatus>
   <mm7:StatusText>Message retrieved &amp; read</mm7:StatusText>
  </mm7:DeliveryReportReq>
 </SOAP-ENV:Body>
</SOAP-ENV:Envelope>"#;

const REL5: &str = "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-2";

#[test]
fn a_report_is_read_whatever_the_prefix_and_release() {
    let req = parse_delivery_report(RETRIEVED.as_bytes()).unwrap();
    assert_eq!(
        req,
        DeliveryReportReq {
            transaction_id: "bddf328cc0e36a25".into(),
            namespace: REL5.into(),
            mm7_version: Some("5.3.0".into()),
            message_id: "369500617770864640".into(),
            recipient: "+8613800138000/TYPE=PLMN".into(),
            date: Some("2026-11-25T14:05:09+08:00".into()),
            mm_status: "Retrieved".into(),
            status_text: Some("Message retrieved & read".into()),
        }
    );
    assert_eq!(req.outcome(), Some(true));
    assert_eq!(req.describe(), "MM7 DeliveryReport Retrieved (Message retrieved & read) 2026-11-25T14:05:09+08:00");

    // The same report without prefixes, in multipart/related (SOAP with attachments).
    let plain = RETRIEVED.replace("mm7:", "").replace("xmlns:mm7=", "xmlns=");
    let body = format!("--b1\r\nContent-Type: text/xml\r\n\r\n{plain}\r\n--b1--\r\n");
    let again = parse_request("multipart/related; boundary=b1; type=\"text/xml\"", body.as_bytes()).unwrap();
    assert_eq!(again.message_id, req.message_id);
    assert_eq!(again.namespace, REL5);
}

#[test]
fn each_mm_status_means_delivered_failed_or_not_yet() {
    let with = |status: &str| {
        parse_delivery_report(RETRIEVED.replace(">Retrieved<", &format!(">{status}<")).as_bytes()).unwrap().outcome()
    };
    assert_eq!(with("Retrieved"), Some(true));
    for failed in ["Rejected", "Expired", "rejected", "DeliveryConditionNotMet"] {
        assert_eq!(with(failed), Some(false), "{failed}");
    }
    for open in ["Indeterminate", "Forwarded", "Deferred", "Unrecognised", "Sparkling"] {
        assert_eq!(with(open), None, "{open}");
    }
}

#[test]
fn the_recipient_matches_with_or_without_plus_country_code_or_type() {
    let with = |recipient: &str| {
        let xml = RETRIEVED.replace("+8613800138000/TYPE=PLMN", recipient);
        parse_delivery_report(xml.as_bytes()).unwrap()
    };
    for same in ["+8613800138000", "8613800138000", "13800138000", "+8613800138000/TYPE=PLMN"] {
        assert!(with(same).is_about("+8613800138000"), "{same}");
    }
    for other in ["+8613800138001", "138001", "someone@example.com", "0"] {
        assert!(!with(other).is_about("+8613800138000"), "{other}");
    }
}

#[test]
fn what_is_not_a_delivery_report_says_why() {
    let malformed = |xml: &str| match parse_delivery_report(xml.as_bytes()) {
        Err(ReportError::Malformed(m)) => m,
        other => panic!("{xml:?} gave {other:?}"),
    };
    let m = malformed(&RETRIEVED.replace("</mm7:MessageID>", "</mm7:MessageId>"));
    assert!(m.contains("at byte"), "{m}");
    assert!(malformed("").contains("empty"));
    assert!(malformed("<html><body>hi</body></html>").contains("not a SOAP 1.1 Envelope"));
    let cut = malformed(&RETRIEVED[..RETRIEVED.len() - 30]);
    assert!(cut.contains("ends inside") || cut.contains("at byte"), "{cut}");
    assert!(malformed(&RETRIEVED[..RETRIEVED.len() - 21]).contains("ends inside <Envelope>"));
    let no_body = "<E:Envelope xmlns:E=\"http://schemas.xmlsoap.org/soap/envelope/\"><E:Header/></E:Envelope>";
    assert!(malformed(no_body).contains("no request"));

    let invalid = |without: &str| match parse_delivery_report(
        RETRIEVED.lines().filter(|l| !l.contains(without)).collect::<String>().as_bytes(),
    ) {
        Err(ReportError::Invalid(m)) => m,
        other => panic!("without {without}: {other:?}"),
    };
    assert_eq!(invalid("MessageID"), "no MessageID");
    assert_eq!(invalid("MMStatus"), "no MMStatus");
    assert_eq!(invalid("Recipient"), "no Recipient");

    let deliver = RETRIEVED.replace("DeliveryReportReq", "DeliverReq");
    assert_eq!(
        parse_delivery_report(deliver.as_bytes()).unwrap_err(),
        ReportError::Unsupported {
            request: "DeliverReq".into(),
            transaction_id: "bddf328cc0e36a25".into(),
            namespace: REL5.into()
        }
    );
}

#[test]
fn our_answers_read_back_as_mm7_answers() {
    let rsp = delivery_report_rsp(REL5, "5.3.0", "t<&>1", SUCCESS);
    let read = parse_submit_rsp(&rsp).unwrap();
    assert_eq!((read.status_code, read.status_text.as_str()), (1000, "Success"));
    assert_eq!(read.transaction_id.as_deref(), Some("t<&>1"), "the TransactionID is echoed, escaped");
    assert!(String::from_utf8_lossy(&rsp).contains(&format!("<DeliveryReportRsp xmlns=\"{REL5}\">")));

    let not_found = Status { code: 2005, text: "Message ID Not found" };
    let fault = parse_submit_rsp(&vasp_error(REL5, "5.3.0", "t2", not_found, "no MMS with MessageID x")).unwrap();
    assert_eq!((fault.status_code, fault.fault_code.as_deref()), (2005, Some("SOAP-ENV:Client")));
    assert_eq!(fault.details.as_deref(), Some("no MMS with MessageID x"));
    assert!(String::from_utf8_lossy(&vasp_error(REL5, "5.3.0", "", not_found, "x")).contains("VASPErrorRsp"));
    let busy = Status { code: 3000, text: "Server Error" };
    let fault = parse_submit_rsp(&vasp_error(REL5, "5.3.0", "t3", busy, "later")).unwrap();
    assert_eq!(fault.fault_code.as_deref(), Some("SOAP-ENV:Server"), "a server error may be retried");
}
