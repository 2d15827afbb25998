//! The MM7 SubmitReq on the wire (3GPP TS 23.140 §8.7.1, SOAP 1.1 with attachments): the SOAP
//! envelope, and the multipart/related body carrying it and the MMS (SMIL and parts, which
//! `content` lays out).

use std::io;

use base64::Engine as _;
use quick_xml::events::{BytesDecl, BytesText, Event};
use quick_xml::Writer;

use crate::infra::delivery::ReceiptMessage;

/// The SOAP 1.1 envelope namespace.
pub const SOAP_ENV_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// Content-ID of the SOAP part, named by the `start` parameter of the body.
pub(super) const SOAP_START: &str = "soap-start";
/// Content-ID of the MMS content, named by `<Content href="cid:…">`.
pub(super) const CONTENT_ID: &str = "receipt-content";
const SMIL_ID: &str = "receipt.smil";
/// Characters of the merchant name kept in the Subject (operators advise ≤ 40–80 in all).
const SUBJECT_MERCHANT_CHARS: usize = 40;

/// What the SOAP envelope says, apart from the content.
pub(super) struct Envelope<'a> {
    pub namespace: &'a str,
    pub mm7_version: &'a str,
    pub vasp_id: &'a str,
    pub vas_id: Option<&'a str>,
    pub sender_address: Option<&'a str>,
    pub transaction_id: &'a str,
    /// The recipient in international format without '+', as MMSCs document (e.g.
    /// "8613800138000").
    pub number: &'a str,
    pub subject: &'a str,
}

/// The SubmitReq envelope. Element order follows the REL-6-MM7-1-4 schema's `SubmitReqType`
/// sequence (MMSCs that validate reject other orders).
pub(super) fn soap_envelope(e: &Envelope<'_>) -> io::Result<Vec<u8>> {
    let mut w = Writer::new(Vec::new());
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("utf-8"), None)))?;
    w.create_element("SOAP-ENV:Envelope").with_attribute(("xmlns:SOAP-ENV", SOAP_ENV_NS)).write_inner_content(|w| {
        w.create_element("SOAP-ENV:Header").write_inner_content(|w| {
            w.create_element("mm7:TransactionID")
                .with_attribute(("xmlns:mm7", e.namespace))
                .with_attribute(("SOAP-ENV:mustUnderstand", "1"))
                .write_text_content(BytesText::new(e.transaction_id))?;
            Ok(())
        })?;
        w.create_element("SOAP-ENV:Body").write_inner_content(|w| {
            w.create_element("SubmitReq")
                .with_attribute(("xmlns", e.namespace))
                .write_inner_content(|w| submit_req(w, e))?;
            Ok(())
        })?;
        Ok(())
    })?;
    Ok(w.into_inner())
}

fn submit_req(w: &mut Writer<Vec<u8>>, e: &Envelope<'_>) -> io::Result<()> {
    leaf(w, "MM7Version", e.mm7_version)?;
    w.create_element("SenderIdentification").write_inner_content(|w| {
        leaf(w, "VASPID", e.vasp_id)?;
        if let Some(vas_id) = e.vas_id {
            leaf(w, "VASID", vas_id)?;
        }
        if let Some(code) = e.sender_address {
            w.create_element("SenderAddress").write_inner_content(|w| leaf(w, "ShortCode", code))?;
        }
        Ok(())
    })?;
    w.create_element("Recipients").write_inner_content(|w| {
        w.create_element("To").write_inner_content(|w| leaf(w, "Number", e.number))?;
        Ok(())
    })?;
    leaf(w, "MessageClass", "Informational")?;
    leaf(w, "DeliveryReport", "true")?;
    leaf(w, "Subject", e.subject)?;
    // No adaptation: an MMSC that fits the whole slip into a 640×480 handset scales it to a
    // third or at best under a half (576×1400 to 197×480, or 263×640 turned), far below what the
    // QR code (3 px modules) and the watermark (8×8 blocks) survive. The slides (`content`) fit
    // that class unscaled should an MMSC adapt anyway.
    w.create_element("Content")
        .with_attribute(("href", format!("cid:{CONTENT_ID}").as_str()))
        .with_attribute(("allowAdaptations", "false"))
        .write_empty()?;
    Ok(())
}

/// `<name>text</name>`, the text escaped.
fn leaf(w: &mut Writer<Vec<u8>>, name: &str, text: &str) -> io::Result<()> {
    w.create_element(name).write_text_content(BytesText::new(text))?;
    Ok(())
}

/// "电子签购单 Receipt: {merchant} {amount}", the merchant cut to a length handsets show.
pub(super) fn subject(out: &ReceiptMessage) -> String {
    let merchant: String = xml_safe(&out.merchant_name).chars().take(SUBJECT_MERCHANT_CHARS).collect();
    format!("电子签购单 Receipt: {} {}", merchant.trim(), xml_safe(&out.amount))
}

/// One part of the MMS after the SMIL: its type, its Content-ID (also its Content-Location) and
/// its bytes.
pub(super) struct Part {
    pub content_type: &'static str,
    pub id: String,
    pub body: Vec<u8>,
}

/// The SMIL presentation and the parts it shows, in slide order.
pub(super) struct Mms {
    pub smil: String,
    pub parts: Vec<Part>,
}

/// Control characters are not allowed in XML 1.0 even escaped, and mean nothing on a handset.
pub(super) fn xml_safe(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// Header-safe form of an id (Content-ID, Content-Location): no spaces, quotes or line breaks.
pub(super) fn token(s: &str) -> String {
    let t: String = s.chars().map(|c| if c.is_ascii_alphanumeric() || "-._".contains(c) { c } else { '_' }).collect();
    if t.is_empty() {
        "receipt".into()
    } else {
        t
    }
}

/// The HTTP body: multipart/related (RFC 2387) with the SOAP part first, then the MMS content,
/// itself multipart/related with the SMIL and then its parts. Returns (Content-Type, body).
///
/// Texts and images are base64, so the boundaries (which start with "=_", impossible in base64)
/// can only collide with the SOAP or SMIL part; they carry a digest of all parts, which no
/// merchant name can contain.
pub(super) fn multipart(soap: &[u8], mms: &Mms) -> (String, Vec<u8>) {
    let digest = {
        let mut d = ring::digest::Context::new(&ring::digest::SHA256);
        for part in [soap, mms.smil.as_bytes()].into_iter().chain(mms.parts.iter().map(|p| p.body.as_slice())) {
            d.update(&(part.len() as u64).to_be_bytes());
            d.update(part);
        }
        hex::encode(&d.finish().as_ref()[..12])
    };
    let outer = format!("=_mm7_{digest}");
    let inner = format!("=_mms_{digest}");

    let payload: usize = mms.parts.iter().map(|p| p.body.len()).sum();
    let mut b = Vec::with_capacity(soap.len() + mms.smil.len() + payload * 4 / 3 + 4096);
    head(
        &mut b,
        &outer,
        &[
            ("Content-Type", "text/xml; charset=utf-8"),
            ("Content-Transfer-Encoding", "8bit"),
            ("Content-ID", &format!("<{SOAP_START}>")),
        ],
    );
    b.extend_from_slice(soap);
    b.extend_from_slice(b"\r\n");
    let content_type =
        format!("multipart/related; boundary=\"{inner}\"; type=\"application/smil\"; start=\"<{SMIL_ID}>\"");
    head(&mut b, &outer, &[("Content-Type", &content_type), ("Content-ID", &format!("<{CONTENT_ID}>"))]);
    head(
        &mut b,
        &inner,
        &[
            ("Content-Type", "application/smil; charset=utf-8"),
            ("Content-ID", &format!("<{SMIL_ID}>")),
            ("Content-Location", SMIL_ID),
        ],
    );
    b.extend_from_slice(mms.smil.as_bytes());
    b.extend_from_slice(b"\r\n");
    for part in &mms.parts {
        head(
            &mut b,
            &inner,
            &[
                ("Content-Type", part.content_type),
                ("Content-Transfer-Encoding", "base64"),
                ("Content-ID", &format!("<{}>", part.id)),
                ("Content-Location", &part.id),
            ],
        );
        base64_lines(&mut b, &part.body);
    }
    b.extend_from_slice(format!("--{inner}--\r\n--{outer}--\r\n").as_bytes());

    let content_type = format!("multipart/related; boundary=\"{outer}\"; type=\"text/xml\"; start=\"<{SOAP_START}>\"");
    (content_type, b)
}

/// A delimiter line and the part's headers.
fn head(b: &mut Vec<u8>, boundary: &str, headers: &[(&str, &str)]) {
    b.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
    for (k, v) in headers {
        b.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    b.extend_from_slice(b"\r\n");
}

/// Base64 in lines of 76 characters (RFC 2045 §6.8), each ending in CRLF.
fn base64_lines(b: &mut Vec<u8>, data: &[u8]) {
    let encoded = base64::engine::general_purpose::STANDARD.encode(data);
    for line in encoded.as_bytes().chunks(76) {
        b.extend_from_slice(line);
        b.extend_from_slice(b"\r\n");
    }
}
