//! The answer parser on answers written as MMSCs write them.

use super::super::response::soap_part;
use super::super::*;

#[test]
fn a_submit_rsp_with_the_namespace_as_default_on_the_envelope() {
    let xml = br#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/" xmlns=
"http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-4">
   <soap-env:Header>
      <TransactionID soap-env:mustUnderstand="1">1000001</TransactionID>
   </soap-env:Header>
   <soap-env:Body>
      <SubmitRsp>
         <MM7Version>6.8.0</MM7Version>
         <Status>
            <StatusCode>1000</StatusCode>
            <StatusText>Successfully parsed &amp; validated request</StatusText>
         </Status>
         <MessageID>369500617770864640</MessageID>
      </SubmitRsp>
   </soap-env:Body>
</soap-env:Envelope>"#;
    let rsp = parse_submit_rsp(xml).unwrap();
    assert_eq!(rsp.status_code, 1000);
    assert_eq!(rsp.status_text, "Successfully parsed & validated request");
    assert_eq!(rsp.message_id.as_deref(), Some("369500617770864640"));
    assert_eq!(rsp.transaction_id.as_deref(), Some("1000001"));
    assert_eq!(rsp.class(), StatusClass::Success);
    let accepted = rsp.into_result().unwrap();
    assert_eq!(accepted.peer_id.as_deref(), Some("369500617770864640"));
}

#[test]
fn a_fault_carrying_an_rs_error_rsp_gives_its_status() {
    let xml = br#"<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"><env:Body>
<env:Fault><faultcode>env:Client</faultcode><faultstring>Client error</faultstring>
<detail><RSErrorRsp xmlns="urn:any-mm7-release"><MM7Version>5.3.0</MM7Version>
<Status><StatusCode> 2007 </StatusCode><StatusText>Unable to parse request</StatusText>
<Details>Message format <![CDATA[<corrupt>]]> &#x4E2D;</Details></Status></RSErrorRsp></detail>
</env:Fault></env:Body></env:Envelope>"#;
    let rsp = parse_submit_rsp(xml).unwrap();
    assert_eq!(rsp.status_code, 2007);
    assert_eq!(rsp.status_text, "Unable to parse request");
    assert_eq!(rsp.details.as_deref(), Some("Message format <corrupt> 中"));
    assert_eq!(rsp.fault_code.as_deref(), Some("env:Client"));
    let err = rsp.into_result().unwrap_err();
    assert!(matches!(&err, SendError::Permanent(m) if m.contains("2007") && m.contains("<corrupt>")), "{err:?}");
}

#[test]
fn a_bare_fault_counts_by_its_faultcode() {
    let fault = |code: &str| {
        format!(
            "<S:Envelope xmlns:S=\"http://schemas.xmlsoap.org/soap/envelope/\"><S:Body><S:Fault>\
             <faultcode>S:{code}</faultcode><faultstring>no</faultstring></S:Fault></S:Body></S:Envelope>"
        )
    };
    let client = parse_submit_rsp(fault("Client").as_bytes()).unwrap();
    assert_eq!((client.status_code, client.status_text.as_str()), (2000, "no"));
    assert_eq!(parse_submit_rsp(fault("Server").as_bytes()).unwrap().status_code, 3000);
    assert_eq!(parse_submit_rsp(fault("MustUnderstand").as_bytes()).unwrap().status_code, 3000);
}

#[test]
fn status_classes_follow_the_first_digit() {
    use StatusClass::*;
    let cases = [
        (1000, Success),
        (1100, Success),
        (1999, Success),
        (2000, ClientError),
        (2599, ClientError),
        (3000, ServerError),
        (4000, ServiceError),
        (4999, ServiceError),
        (0, ServerError),
        (999, ServerError),
        (5000, ServerError),
        (9999, ServerError),
    ];
    for (code, class) in cases {
        assert_eq!(StatusClass::of(code), class, "{code}");
    }
}

#[test]
fn what_is_not_an_answer_is_a_temporary_failure() {
    for bad in [
        &b""[..],
        b"<html><body>502 Bad Gateway</body></html>",
        b"<Envelope><Body><SubmitRsp><MM7Version>6.8.0</MM7Version></SubmitRsp></Body></Envelope>",
        b"<Envelope><Body><SubmitRsp><Status><StatusCode>OK</StatusCode></Status></SubmitRsp></Body></Envelope>",
        b"<Envelope><Body><Status><StatusCode>1000</StatusCode></Body></Envelope>",
        b"\xff\xfe<\x00",
    ] {
        let err = parse_submit_rsp(bad).unwrap_err();
        assert!(matches!(err, SendError::Temporary(_)), "{:?}: {err:?}", String::from_utf8_lossy(bad));
    }
}

#[test]
fn a_multipart_answer_is_read_from_its_soap_part() {
    let body = b"preamble\r\n--b1\r\nContent-Type: text/xml\r\nContent-ID: <x>\r\n\r\n\
<E:Envelope xmlns:E=\"http://schemas.xmlsoap.org/soap/envelope/\"><E:Body><SubmitRsp>\
<Status><StatusCode>1000</StatusCode><StatusText>ok</StatusText></Status><MessageID>m1</MessageID>\
</SubmitRsp></E:Body></E:Envelope>\r\n--b1--\r\n";
    let part = soap_part("Multipart/Related; type=\"text/xml\"; boundary=\"b1\"", body);
    let rsp = parse_submit_rsp(part).unwrap();
    assert_eq!((rsp.status_code, rsp.message_id.as_deref()), (1000, Some("m1")));
    assert_eq!(soap_part("text/xml", body), body, "a single-part answer is used whole");
}
