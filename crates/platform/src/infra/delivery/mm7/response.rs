//! The MMSC's answer to a SubmitReq (a SubmitRsp, or an RSErrorRsp inside a SOAP Fault) and what
//! its status code means for the delivery: accepted, retry later, or give up.

use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::Event;
use quick_xml::Reader;

use crate::infra::delivery::{Accepted, SendError};

/// What the MMSC said about one SubmitReq.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubmitRsp {
    /// The four-digit MM7 status code. A SOAP Fault that carries no MM7 status gets the code of
    /// its class: 2000 for a `Client` fault (SOAP 1.1: do not resend unchanged), 3000 otherwise.
    pub status_code: u16,
    pub status_text: String,
    /// The optional `Details` element of the status (e.g. which element failed validation).
    pub details: Option<String>,
    /// The MMSC's id of the accepted message; delivery reports refer to it.
    pub message_id: Option<String>,
    /// The `TransactionID` of the SOAP header, which should echo the request's.
    pub transaction_id: Option<String>,
    /// The SOAP `faultcode` when the answer was a SOAP Fault.
    pub fault_code: Option<String>,
}

/// The class of an MM7 status code: its first digit (3GPP TS 23.140 §8.7.x "Request and error
/// status codes", Table 12.21 in the Rel-6 numbering). Unknown codes count as the `x000` code of
/// their class, and codes outside the four classes as 3000 (server error).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusClass {
    /// 1xxx: the request was carried out (1000 Success, 1100 Partial success).
    Success,
    /// 2xxx: the request was invalid (2002 Address Error, 2004 Multimedia content refused,
    /// 2007 Message format corrupt, …).
    ClientError,
    /// 3xxx: the server failed an apparently valid request (3000 Server Error, 3001 Not
    /// Possible, 3002 Message rejected, …).
    ServerError,
    /// 4xxx: the service cannot be given (4001 Improper identification, 4004 Validation error,
    /// 4006 Service unavailable, 4007 Service denied, …).
    ServiceError,
}

impl StatusClass {
    /// The class of `code`.
    pub fn of(code: u16) -> Self {
        match code / 1000 {
            1 => Self::Success,
            2 => Self::ClientError,
            4 => Self::ServiceError,
            _ => Self::ServerError,
        }
    }
}

/// 4006 Service unavailable: "the server is temporarily unavailable, e.g. busy".
const SERVICE_UNAVAILABLE: u16 = 4006;

impl SubmitRsp {
    /// The class of the status code.
    pub fn class(&self) -> StatusClass {
        StatusClass::of(self.status_code)
    }

    /// The outcome for the delivery. Success accepts; a client error (2xxx) or a service error
    /// (4xxx) is permanent, since the same request would be refused again, except 4006 Service
    /// unavailable, which the spec describes as temporary; a server error (3xxx) is temporary.
    pub fn into_result(self) -> Result<Accepted, SendError> {
        let answer = self.describe();
        match self.class() {
            StatusClass::Success => Ok(Accepted { peer_id: self.message_id, answer }),
            StatusClass::ServerError => Err(SendError::Temporary(answer)),
            StatusClass::ServiceError if self.status_code == SERVICE_UNAVAILABLE => Err(SendError::Temporary(answer)),
            StatusClass::ClientError | StatusClass::ServiceError => Err(SendError::Permanent(answer)),
        }
    }

    /// "MM7 4007 Service denied (details)" for the delivery history.
    fn describe(&self) -> String {
        let mut s = format!("MM7 {} {}", self.status_code, self.status_text);
        if let Some(d) = &self.details {
            s.push_str(&format!(" ({d})"));
        }
        if let Some(f) = &self.fault_code {
            s.push_str(&format!(" [SOAP fault {f}]"));
        }
        s
    }
}

/// Parses an MM7 SubmitRsp (or a SOAP Fault / RSErrorRsp) into status code, text and MessageID.
///
/// Elements are matched by local name, so any prefix and any MM7 schema release parse alike.
/// An answer that is not a SOAP envelope with a status is `Temporary`: the MMSC may have taken
/// the message, and resending (at least once) beats losing the receipt.
pub fn parse_submit_rsp(xml: &[u8]) -> Result<SubmitRsp, SendError> {
    let unreadable = |why: String| SendError::Temporary(format!("unreadable MM7 answer: {why}"));
    let fields = read_fields(xml).map_err(|e| unreadable(e.to_string()))?;
    if !fields.envelope {
        return Err(unreadable("not a SOAP envelope".into()));
    }
    let fault_code = fields.get(Field::FaultCode);
    let status_code = match (fields.get(Field::StatusCode), &fault_code) {
        (Some(code), _) => {
            code.parse::<u16>().map_err(|_| unreadable(format!("status code {code:?} is not a number")))?
        }
        (None, Some(fault)) if local(fault) == "Client" => 2000,
        (None, Some(_)) => 3000,
        (None, None) => return Err(unreadable("no Status in the answer".into())),
    };
    let status_text = fields.get(Field::StatusText).or_else(|| fields.get(Field::FaultString)).unwrap_or_default();
    Ok(SubmitRsp {
        status_code,
        status_text,
        details: fields.get(Field::Details),
        message_id: fields.get(Field::MessageId),
        transaction_id: fields.get(Field::TransactionId),
        fault_code,
    })
}

/// `SOAP-ENV:Client` → `Client`.
fn local(qname: &str) -> &str {
    qname.rsplit(':').next().unwrap_or(qname)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    StatusCode,
    StatusText,
    Details,
    MessageId,
    TransactionId,
    FaultCode,
    FaultString,
}

impl Field {
    fn from_local_name(name: &str) -> Option<Self> {
        Some(match name {
            "StatusCode" => Self::StatusCode,
            "StatusText" => Self::StatusText,
            "Details" => Self::Details,
            "MessageID" => Self::MessageId,
            "TransactionID" => Self::TransactionId,
            "faultcode" => Self::FaultCode,
            "faultstring" => Self::FaultString,
            _ => return None,
        })
    }
}

#[derive(Default)]
struct Fields {
    envelope: bool,
    found: Vec<(Field, String)>,
}

impl Fields {
    /// The first occurrence of `field`, trimmed; empty counts as absent.
    fn get(&self, field: Field) -> Option<String> {
        self.found.iter().find(|(f, v)| *f == field && !v.trim().is_empty()).map(|(_, v)| v.trim().to_string())
    }
}

/// One pass over the document: the text of every element of interest, wherever it sits.
fn read_fields(xml: &[u8]) -> Result<Fields, quick_xml::Error> {
    let mut reader = Reader::from_reader(xml);
    let mut fields = Fields::default();
    // The innermost element of interest being read, and its text so far.
    let mut open: Option<(Field, usize, String)> = None;
    let mut depth = 0usize;
    loop {
        match reader.read_event()? {
            Event::Start(e) => {
                let name = e.local_name();
                let name = name.as_ref();
                if depth == 0 {
                    fields.envelope = name == "Envelope";
                }
                depth += 1;
                if let Some(field) = Field::from_local_name(name) {
                    open = Some((field, depth, String::new()));
                }
            }
            Event::End(_) => {
                if let Some((field, at, text)) = open.take() {
                    if at == depth {
                        fields.found.push((field, text));
                    } else {
                        open = Some((field, at, text));
                    }
                }
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    // The root is closed: what follows (a MIME epilogue, say) is not XML.
                    break;
                }
            }
            Event::Text(t) => {
                if let Some((_, _, text)) = open.as_mut() {
                    text.push_str(&t.xml10_content());
                }
            }
            Event::CData(t) => {
                if let Some((_, _, text)) = open.as_mut() {
                    text.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                if let Some((_, _, text)) = open.as_mut() {
                    if let Some(c) = r.resolve_char_ref()? {
                        text.push(c);
                    } else if let Some(s) = resolve_predefined_entity(&r) {
                        text.push_str(s);
                    }
                }
            }
            Event::Empty(e) if depth == 0 => {
                fields.envelope = e.local_name().as_ref() == "Envelope";
                break;
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(fields)
}

/// The SOAP part of an answer: the body itself, or the first part of a multipart answer (some
/// MMSCs answer with SOAP with attachments too).
pub(super) fn soap_part<'a>(content_type: &str, body: &'a [u8]) -> &'a [u8] {
    let Some(boundary) = multipart_boundary(content_type) else {
        return body;
    };
    let delimiter = format!("--{boundary}");
    let Some(start) = find(body, delimiter.as_bytes()) else {
        return body;
    };
    let part = &body[start + delimiter.len()..];
    let part = match find(part, delimiter.as_bytes()) {
        Some(end) => &part[..end],
        None => part,
    };
    match find(part, b"\r\n\r\n") {
        Some(h) => &part[h + 4..],
        None => match find(part, b"\n\n") {
            Some(h) => &part[h + 2..],
            None => part,
        },
    }
}

/// The `boundary` parameter of a `multipart/*` content type.
fn multipart_boundary(content_type: &str) -> Option<String> {
    let mut params = content_type.split(';');
    let media = params.next()?.trim();
    if !media.to_ascii_lowercase().starts_with("multipart/") {
        return None;
    }
    params.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        (k.trim().eq_ignore_ascii_case("boundary")).then(|| v.trim().trim_matches('"').to_string())
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
