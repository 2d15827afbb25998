//! MM7 delivery reports (3GPP TS 23.140 §8.7.8): the MMSC's DeliveryReportReq about a message we
//! submitted, read from its SOAP envelope, and the VASP's answers: a DeliveryReportRsp, or a
//! SOAP Fault carrying a VASPErrorRsp with the MM7 status of what went wrong.

use std::io;

use quick_xml::events::{BytesDecl, BytesText, Event};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;
use quick_xml::Writer;

use super::envelope::SOAP_ENV_NS;

/// What the MMSC reports about one recipient of one message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryReportReq {
    /// The SOAP header's TransactionID, echoed in the answer.
    pub transaction_id: String,
    /// The MM7 namespace the request was written in; the answer uses the same.
    pub namespace: String,
    pub mm7_version: Option<String>,
    /// The MMSC's id of the message, as its SubmitRsp gave it.
    pub message_id: String,
    /// The recipient's address as the MMSC writes it (Number, RFC2822Address or ShortCode).
    pub recipient: String,
    pub date: Option<String>,
    /// `Retrieved`, `Rejected`, `Expired`, `Indeterminate`, `Forwarded`, …
    pub mm_status: String,
    pub status_text: Option<String>,
}

/// Why a request is not a delivery report we can act on.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// Not well-formed XML, or not a SOAP envelope with a body (MM7 2007).
    #[error("malformed MM7 request: {0}")]
    Malformed(String),
    /// A DeliveryReportReq without an element it must have (MM7 4004).
    #[error("invalid DeliveryReportReq: {0}")]
    Invalid(String),
    /// Another MM7 request (DeliverReq, ReadReplyReq, …), which this VASP does not take (4003).
    #[error("unsupported MM7 request {request}")]
    Unsupported { request: String, transaction_id: String, namespace: String },
}

impl DeliveryReportReq {
    /// What the report means for the delivery: `Some(true)` delivered, `Some(false)` failed for
    /// good, `None` not final (Indeterminate, Forwarded, Deferred, Unrecognised, or a word this
    /// code does not know).
    pub fn outcome(&self) -> Option<bool> {
        match self.mm_status.to_ascii_lowercase().as_str() {
            "retrieved" => Some(true),
            "rejected" | "expired" | "deliveryconditionnotmet" => Some(false),
            _ => None,
        }
    }

    /// "MM7 DeliveryReport Retrieved (text) 2026-11-25T14:05:00+08:00" for the delivery history.
    pub fn describe(&self) -> String {
        let mut s = format!("MM7 DeliveryReport {}", one_line(&self.mm_status));
        if let Some(t) = &self.status_text {
            s.push_str(&format!(" ({})", one_line(t)));
        }
        if let Some(d) = &self.date {
            s.push_str(&format!(" {}", one_line(d)));
        }
        s
    }

    /// Whether the report is about `number` (E.164, "+8613800138000"). MMSCs write the
    /// recipient with or without "+", the country code or a "/TYPE=PLMN" suffix.
    pub fn is_about(&self, number: &str) -> bool {
        let digits = |s: &str| -> String {
            let s = s.split('/').next().unwrap_or_default();
            s.chars().filter(char::is_ascii_digit).collect()
        };
        let (reported, ours) = (digits(&self.recipient), digits(number));
        !reported.is_empty() && (reported == ours || (reported.len() >= 7 && ours.ends_with(&reported)))
    }
}

fn one_line(s: &str) -> String {
    s.split(|c: char| c.is_control() || c.is_whitespace()).filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ")
}

/// One element: the local names from the root down, its namespace and its text.
struct Node {
    path: Vec<String>,
    ns: String,
    text: String,
}

fn nodes(xml: &[u8]) -> Result<Vec<Node>, String> {
    let mut reader = NsReader::from_reader(xml);
    let (mut nodes, mut open, mut names) = (Vec::<Node>::new(), Vec::<usize>::new(), Vec::<String>::new());
    loop {
        let position = reader.buffer_position();
        let (resolved, event) = reader.read_resolved_event().map_err(|e| format!("at byte {position}: {e}"))?;
        let ns = match resolved {
            ResolveResult::Bound(n) => n.0.to_string(),
            _ => String::new(),
        };
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                if names.is_empty() && !nodes.is_empty() {
                    return Err(format!("at byte {position}: a second root element"));
                }
                names.push(e.local_name().as_ref().to_string());
                nodes.push(Node { path: names.clone(), ns, text: String::new() });
                if matches!(event, Event::Start(_)) {
                    open.push(nodes.len() - 1);
                } else {
                    names.pop();
                }
            }
            Event::End(_) => {
                open.pop();
                names.pop();
            }
            Event::Text(t) => {
                if let Some(&i) = open.last() {
                    nodes[i].text.push_str(&t.xml10_content());
                }
            }
            Event::CData(t) => {
                if let Some(&i) = open.last() {
                    nodes[i].text.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                let c = match r.resolve_char_ref().map_err(|e| format!("at byte {position}: {e}"))? {
                    Some(c) => c.to_string(),
                    None => quick_xml::escape::resolve_predefined_entity(&r)
                        .ok_or_else(|| format!("at byte {position}: unknown entity &{};", &*r))?
                        .to_string(),
                };
                if let Some(&i) = open.last() {
                    nodes[i].text.push_str(&c);
                }
            }
            Event::Eof if !open.is_empty() => return Err(format!("the document ends inside <{}>", names.join("/"))),
            Event::Eof => return Ok(nodes),
            _ => {}
        }
    }
}

/// Reads a DeliveryReportReq from a request body: SOAP alone, or SOAP with attachments (the
/// first part of a multipart/related body), as `content_type` says.
pub fn parse_request(content_type: &str, body: &[u8]) -> Result<DeliveryReportReq, ReportError> {
    parse_delivery_report(super::response::soap_part(content_type, body))
}

/// Reads a DeliveryReportReq from the SOAP part of a request (elements matched by local name,
/// so any prefix and any MM7 release read alike).
pub fn parse_delivery_report(xml: &[u8]) -> Result<DeliveryReportReq, ReportError> {
    let nodes = nodes(xml).map_err(ReportError::Malformed)?;
    let root = nodes.first().ok_or_else(|| ReportError::Malformed("empty body".into()))?;
    if root.path != ["Envelope"] || root.ns != SOAP_ENV_NS {
        let found = root.path.first().map(String::as_str).unwrap_or_default();
        return Err(ReportError::Malformed(format!("<{found}> in {:?} is not a SOAP 1.1 Envelope", root.ns)));
    }
    let request = nodes
        .iter()
        .find(|n| n.path.len() == 3 && n.path[1] == "Body")
        .ok_or_else(|| ReportError::Malformed("no request in the SOAP Body".into()))?;
    let transaction_id = nodes
        .iter()
        .find(|n| n.path.len() == 3 && n.path[1] == "Header" && n.path[2] == "TransactionID")
        .map(|n| n.text.trim().to_string())
        .unwrap_or_default();
    let name = &request.path[2];
    if name != "DeliveryReportReq" {
        return Err(ReportError::Unsupported { request: name.clone(), transaction_id, namespace: request.ns.clone() });
    }
    // The first element named `name` inside the request (at any depth: Recipient holds Number).
    let field = |name: &str| {
        nodes
            .iter()
            .filter(|n| n.path.len() > 3 && n.path[..3] == request.path[..] && n.path.contains(&name.to_string()))
            .map(|n| n.text.trim().to_string())
            .find(|t| !t.is_empty())
    };
    let required = |name: &str| field(name).ok_or_else(|| ReportError::Invalid(format!("no {name}")));
    Ok(DeliveryReportReq {
        transaction_id,
        namespace: request.ns.clone(),
        mm7_version: field("MM7Version"),
        message_id: required("MessageID")?,
        recipient: required("Recipient")?,
        date: field("Date"),
        mm_status: required("MMStatus")?,
        status_text: field("StatusText"),
    })
}

/// The status of an answer: an MM7 code and its text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status<'a> {
    pub code: u16,
    pub text: &'a str,
}

/// 1000: the report was taken.
pub const SUCCESS: Status<'static> = Status { code: 1000, text: "Success" };

/// The DeliveryReportRsp for a report taken, with `status`.
pub fn delivery_report_rsp(ns: &str, mm7_version: &str, transaction_id: &str, status: Status<'_>) -> Vec<u8> {
    answer(transaction_id, ns, |w| {
        w.create_element("DeliveryReportRsp").with_attribute(("xmlns", ns)).write_inner_content(|w| {
            leaf(w, "MM7Version", mm7_version)?;
            status_element(w, status, None)
        })?;
        Ok(())
    })
}

/// A SOAP Fault with a VASPErrorRsp of `status` and `details`, for a request that could not be
/// carried out. The fault code follows the status class: `Server` for a server error (3xxx: the
/// same request may succeed later), `Client` otherwise (it cannot succeed as sent).
pub fn vasp_error(ns: &str, mm7_version: &str, transaction_id: &str, status: Status<'_>, details: &str) -> Vec<u8> {
    let fault_code = match super::StatusClass::of(status.code) {
        super::StatusClass::ServerError => "SOAP-ENV:Server",
        _ => "SOAP-ENV:Client",
    };
    answer(transaction_id, ns, |w| {
        w.create_element("SOAP-ENV:Fault").write_inner_content(|w| {
            leaf(w, "faultcode", fault_code)?;
            leaf(w, "faultstring", details)?;
            w.create_element("detail").write_inner_content(|w| {
                w.create_element("VASPErrorRsp").with_attribute(("xmlns", ns)).write_inner_content(|w| {
                    leaf(w, "MM7Version", mm7_version)?;
                    status_element(w, status, Some(details))
                })?;
                Ok(())
            })?;
            Ok(())
        })?;
        Ok(())
    })
}

fn status_element(w: &mut Writer<Vec<u8>>, status: Status<'_>, details: Option<&str>) -> io::Result<()> {
    w.create_element("Status").write_inner_content(|w| {
        leaf(w, "StatusCode", &status.code.to_string())?;
        leaf(w, "StatusText", status.text)?;
        if let Some(d) = details {
            leaf(w, "Details", d)?;
        }
        Ok(())
    })?;
    Ok(())
}

/// An envelope with the TransactionID header (when there is one) and `body` in the Body.
fn answer(transaction_id: &str, ns: &str, body: impl FnOnce(&mut Writer<Vec<u8>>) -> io::Result<()>) -> Vec<u8> {
    let mut w = Writer::new(Vec::new());
    let written: io::Result<()> = (|| {
        w.write_event(Event::Decl(BytesDecl::new("1.0", Some("utf-8"), None)))?;
        w.create_element("SOAP-ENV:Envelope").with_attribute(("xmlns:SOAP-ENV", SOAP_ENV_NS)).write_inner_content(
            |w| {
                if !transaction_id.is_empty() {
                    w.create_element("SOAP-ENV:Header").write_inner_content(|w| {
                        w.create_element("mm7:TransactionID")
                            .with_attribute(("xmlns:mm7", ns))
                            .with_attribute(("SOAP-ENV:mustUnderstand", "1"))
                            .write_text_content(BytesText::new(&xml_safe(transaction_id)))?;
                        Ok(())
                    })?;
                }
                w.create_element("SOAP-ENV:Body").write_inner_content(body)?;
                Ok(())
            },
        )?;
        Ok(())
    })();
    // Writing into a Vec cannot fail.
    if let Err(e) = written {
        tracing::error!(error = %e, "MM7 answer could not be written");
    }
    w.into_inner()
}

fn leaf(w: &mut Writer<Vec<u8>>, name: &str, text: &str) -> io::Result<()> {
    w.create_element(name).write_text_content(BytesText::new(&xml_safe(text)))?;
    Ok(())
}

/// Control characters cannot appear in XML 1.0, even escaped.
fn xml_safe(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}
