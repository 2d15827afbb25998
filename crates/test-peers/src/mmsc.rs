//! An MMSC stand-in on loopback: it parses each SubmitReq with a real MIME parser (mail-parser)
//! and a namespace-aware XML reader, checks it against TS 23.140, records it, and answers as
//! scripted.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use mail_parser::{MessageParser, MimeHeaders};
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;
use quick_xml::XmlVersion;

/// SOAP 1.1's envelope namespace, written out here rather than taken from the platform's MM7
/// client: a peer that shared the code it checks would agree with its mistakes.
pub const SOAP_ENV_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";

/// The order of SubmitReq's children in the REL-6-MM7-1-4 schema (a sequence).
const SUBMIT_REQ_ORDER: &[&str] = &[
    "MM7Version",
    "SenderIdentification",
    "Recipients",
    "PreferredChannels",
    "ServiceCode",
    "LinkedID",
    "MessageClass",
    "TimeStamp",
    "ReplyCharging",
    "EarliestDeliveryTime",
    "ExpiryDate",
    "DeliveryReport",
    "ReadReply",
    "Priority",
    "Subject",
    "ChargedParty",
    "ChargedPartyID",
    "DistributionIndicator",
    "DeliveryCondition",
    "ApplicID",
    "ReplyApplicID",
    "AuxApplicInfo",
    "ContentClass",
    "DRMContent",
    "Content",
];

/// How the stand-in answers the next SubmitReq.
#[derive(Clone, Debug)]
pub enum Script {
    /// HTTP 200 with a SubmitRsp of this status (and a MessageID when it is 1xxx).
    Rsp(u16, &'static str),
    /// HTTP 500 with a SOAP Fault of this faultcode, holding an RSErrorRsp when a status is given.
    Fault(&'static str, Option<(u16, &'static str)>),
    /// This HTTP status with a plain body.
    Http(u16, &'static str),
    /// Never answers.
    Hang,
}

/// One SubmitReq as the stand-in understood it.
#[derive(Clone, Debug)]
pub struct Submitted {
    pub transaction_id: String,
    pub mm7_version: String,
    pub vasp_id: String,
    pub vas_id: String,
    pub short_code: String,
    pub number: String,
    pub subject: String,
    /// The first text part (the first slide's).
    pub text: String,
    /// The last image/png part (the whole receipt, after any slides).
    pub png: Vec<u8>,
    pub png_location: String,
    /// Every image part in the order of the message: (Content-Location, bytes).
    pub images: Vec<(String, Vec<u8>)>,
    /// The image Content-IDs in the order the SMIL shows them.
    pub smil_images: Vec<String>,
    /// The Content element's allowAdaptations attribute as written, if any.
    pub allow_adaptations: Option<String>,
    /// The length of the MMS content part (SMIL and media, decoded): what an MMSC's size
    /// classes count.
    pub content_bytes: usize,
    pub authorization: Option<String>,
    pub soap_action: Option<String>,
    /// The MessageID the stand-in answered with, when it accepted the message.
    pub message_id: Option<String>,
}

#[derive(Clone)]
struct Shared {
    namespace: String,
    script: Arc<Mutex<Script>>,
    received: Arc<Mutex<Vec<Result<Submitted, String>>>>,
}

pub struct Mmsc {
    pub addr: std::net::SocketAddr,
    shared: Shared,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Mmsc {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Mmsc {
    /// Plain HTTP on 127.0.0.1, expecting MM7 in `namespace`.
    pub async fn start(namespace: &str, script: Script) -> Self {
        Self::start_with(namespace, script, None).await
    }

    /// As [`Mmsc::start`], over TLS with `tls` when given.
    pub async fn start_with(namespace: &str, script: Script, tls: Option<Arc<rustls::ServerConfig>>) -> Self {
        let shared =
            Shared { namespace: namespace.to_string(), script: Arc::new(Mutex::new(script)), received: Arc::default() };
        let router = axum::Router::new().route("/mm7", axum::routing::post(submit)).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = match tls {
            None => tokio::spawn(async move { axum::serve(listener, router).await.unwrap() }),
            Some(config) => tokio::spawn(crate::tls::serve(listener, config, router)),
        };
        Self { addr, shared, server }
    }

    pub fn url(&self, scheme: &str) -> String {
        format!("{scheme}://{}/mm7", self.addr)
    }

    pub fn script(&self, script: Script) {
        *self.shared.script.lock().unwrap() = script;
    }

    /// Everything received, failing the test on any request that broke the protocol.
    pub fn received(&self) -> Vec<Submitted> {
        let received = self.shared.received.lock().unwrap();
        received.iter().map(|r| r.clone().unwrap_or_else(|e| panic!("bad SubmitReq: {e}"))).collect()
    }
}

async fn submit(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let mut checked = check(&shared.namespace, &headers, &body);
    let tid = checked.as_ref().map(|s| s.transaction_id.clone()).unwrap_or_default();
    let failure = checked.as_ref().err().cloned();
    let script = shared.script.lock().unwrap().clone();
    let message_id = {
        let mut received = shared.received.lock().unwrap();
        // Each accepted message gets its own id: mmsc-4711, mmsc-4712, …
        let message_id = format!("mmsc-{}", 4711 + received.len());
        if let (Ok(s), Script::Rsp(code, _)) = (checked.as_mut(), &script) {
            s.message_id = (code / 1000 == 1).then(|| message_id.clone());
        }
        received.push(checked);
        message_id
    };
    let ns = &shared.namespace;
    if let Some(why) = failure {
        return soap(StatusCode::INTERNAL_SERVER_ERROR, fault(ns, &tid, "Client", Some((4004, &why))));
    }
    match script {
        Script::Rsp(code, text) => soap(StatusCode::OK, submit_rsp(ns, &tid, code, text, &message_id)),
        Script::Fault(code, status) => soap(StatusCode::INTERNAL_SERVER_ERROR, fault(ns, &tid, code, status)),
        Script::Http(code, body) => (StatusCode::from_u16(code).unwrap(), body).into_response(),
        Script::Hang => std::future::pending().await,
    }
}

fn soap(status: StatusCode, xml: String) -> Response {
    (status, [(header::CONTENT_TYPE, "text/xml; charset=utf-8")], xml).into_response()
}

/// A SubmitRsp written the way one commercial MMSC documents it: a prefix on the envelope, the
/// MM7 namespace as the default on the envelope.
fn submit_rsp(ns: &str, tid: &str, code: u16, text: &str, message_id: &str) -> String {
    let id = if code / 1000 == 1 { format!("<MessageID>{message_id}</MessageID>") } else { String::new() };
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<env:Envelope xmlns:env="{SOAP_ENV_NS}" xmlns="{ns}"><env:Header>
<TransactionID env:mustUnderstand="1">{tid}</TransactionID></env:Header>
<env:Body><SubmitRsp><MM7Version>6.8.0</MM7Version>
<Status><StatusCode>{code}</StatusCode><StatusText>{text}</StatusText></Status>{id}
</SubmitRsp></env:Body></env:Envelope>"#
    )
}

fn fault(ns: &str, tid: &str, code: &str, status: Option<(u16, &str)>) -> String {
    let detail = status
        .map(|(c, t)| {
            let t = quick_xml::escape::escape(t);
            format!(
                "<detail><mm7:RSErrorRsp xmlns:mm7=\"{ns}\"><mm7:MM7Version>6.8.0</mm7:MM7Version>\
                 <mm7:Status><mm7:StatusCode>{c}</mm7:StatusCode><mm7:StatusText>{t}</mm7:StatusText>\
                 </mm7:Status></mm7:RSErrorRsp></detail>"
            )
        })
        .unwrap_or_default();
    format!(
        r#"<?xml version="1.0"?><S:Envelope xmlns:S="{SOAP_ENV_NS}"><S:Header><mm7:TransactionID xmlns:mm7="{ns}" S:mustUnderstand="1">{tid}</mm7:TransactionID></S:Header>
<S:Body><S:Fault><faultcode>S:{code}</faultcode><faultstring>refused</faultstring>{detail}</S:Fault></S:Body></S:Envelope>"#
    )
}

/// One element: its path of local names from the root, namespace, attributes and text.
struct Node {
    path: String,
    ns: String,
    attrs: Vec<(String, String, String)>,
    text: String,
}

fn ns_of(r: ResolveResult<'_>) -> String {
    match r {
        ResolveResult::Bound(n) => n.0.to_string(),
        _ => String::new(),
    }
}

fn parse_xml(xml: &str) -> Result<Vec<Node>, String> {
    let mut reader = NsReader::from_str(xml);
    let (mut nodes, mut open, mut names) = (Vec::<Node>::new(), Vec::<usize>::new(), Vec::new());
    loop {
        let (resolved, event) = reader.read_resolved_event().map_err(|e| e.to_string())?;
        let ns = ns_of(resolved);
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                names.push(e.local_name().as_ref().to_string());
                let mut attrs = Vec::new();
                for a in e.attributes() {
                    let a = a.map_err(|e| e.to_string())?;
                    if a.key.0.starts_with("xmlns") {
                        continue;
                    }
                    let (ans, local) = reader.resolver().resolve_attribute(a.key);
                    let value = a.normalized_value(XmlVersion::Implicit1_0).map_err(|e| e.to_string())?;
                    attrs.push((ns_of(ans), local.as_ref().to_string(), value.into_owned()));
                }
                nodes.push(Node { path: names.join("/"), ns, attrs, text: String::new() });
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
            Event::GeneralRef(r) => {
                let s = match r.resolve_char_ref().map_err(|e| e.to_string())? {
                    Some(c) => c.to_string(),
                    None => quick_xml::escape::resolve_predefined_entity(&r)
                        .ok_or_else(|| format!("unknown entity &{};", &*r))?
                        .to_string(),
                };
                if let Some(&i) = open.last() {
                    nodes[i].text.push_str(&s);
                }
            }
            Event::Eof => return Ok(nodes),
            _ => {}
        }
    }
}

fn check(ns: &str, headers: &HeaderMap, body: &[u8]) -> Result<Submitted, String> {
    let hv = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let content_type = hv(header::CONTENT_TYPE).ok_or("no Content-Type")?;
    let mut raw = format!("Content-Type: {content_type}\r\n\r\n").into_bytes();
    raw.extend_from_slice(body);
    let msg = MessageParser::default().parse(&raw).ok_or("MIME does not parse")?;
    let root = &msg.parts[0];
    let ct = root.content_type().ok_or("no root content type")?;
    if (ct.ctype(), ct.subtype()) != ("multipart", Some("related")) {
        return Err(format!("body is {}/{:?}", ct.ctype(), ct.subtype()));
    }
    if ct.attribute("type") != Some("text/xml") {
        return Err(format!("type parameter {:?}", ct.attribute("type")));
    }
    let cid =
        |p: &mail_parser::MessagePart<'_>| p.content_id().unwrap_or_default().trim_matches(['<', '>']).to_string();
    let children: Vec<_> = root.sub_parts().ok_or("no parts")?.iter().map(|&i| &msg.parts[i as usize]).collect();
    let soap_part = children.first().ok_or("no SOAP part")?;
    let start = ct.attribute("start").ok_or("no start parameter")?.trim_matches(['<', '>']);
    if cid(soap_part) != start {
        return Err(format!("start {start:?} but the first part is {:?}", cid(soap_part)));
    }
    let xml = soap_part.text_contents().ok_or("SOAP part is not text")?;
    let nodes = parse_xml(xml)?;
    let node = |path: &str| nodes.iter().find(|n| n.path == path).ok_or_else(|| format!("no {path}"));
    let text = |path: &str| node(path).map(|n| n.text.trim().to_string());
    let envelope = node("Envelope")?;
    if envelope.ns != SOAP_ENV_NS {
        return Err(format!("Envelope in {:?}", envelope.ns));
    }
    let tid = node("Envelope/Header/TransactionID")?;
    let must = tid.attrs.iter().find(|(ans, l, _)| ans == SOAP_ENV_NS && l == "mustUnderstand");
    if tid.ns != ns || must.map(|a| a.2.as_str()) != Some("1") {
        return Err(format!("TransactionID in {:?}, mustUnderstand {must:?}", tid.ns));
    }
    let req = "Envelope/Body/SubmitReq";
    for n in nodes.iter().filter(|n| n.path.starts_with(req)) {
        if n.ns != ns {
            return Err(format!("{} in namespace {:?}", n.path, n.ns));
        }
    }
    let order: Vec<usize> = nodes
        .iter()
        .filter_map(|n| n.path.strip_prefix(&format!("{req}/")).filter(|p| !p.contains('/')))
        .map(|name| SUBMIT_REQ_ORDER.iter().position(|o| *o == name).ok_or(format!("unknown {name}")))
        .collect::<Result<_, _>>()?;
    if !order.windows(2).all(|w| w[0] < w[1]) {
        return Err(format!("SubmitReq children out of schema order: {order:?}"));
    }
    let number = text(&format!("{req}/Recipients/To/Number"))?;
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("Number {number:?}"));
    }
    let content = node(&format!("{req}/Content"))?;
    let href = content.attrs.iter().find(|a| a.1 == "href").map(|a| a.2.clone()).unwrap_or_default();
    let content_id = href.strip_prefix("cid:").ok_or(format!("href {href:?}"))?;
    let content_part =
        children.iter().find(|p| cid(p) == content_id).ok_or(format!("no part with Content-ID {content_id}"))?;
    let slides: Vec<_> =
        content_part.sub_parts().ok_or("content is not multipart")?.iter().map(|&i| &msg.parts[i as usize]).collect();
    let of_type = |t: &str, s: &str| {
        slides
            .iter()
            .find(|p| p.content_type().is_some_and(|c| c.ctype() == t && c.subtype() == Some(s)))
            .ok_or(format!("no {t}/{s} part"))
    };
    let images: Vec<_> = slides.iter().filter(|p| p.content_type().is_some_and(|c| c.ctype() == "image")).collect();
    let png = images
        .iter()
        .rev()
        .find(|p| p.content_type().and_then(|c| c.subtype()) == Some("png"))
        .ok_or("no image/png part")?;
    if images.iter().any(|p| cid(p).is_empty()) {
        return Err("image without Content-ID".into());
    }
    let slide_text = of_type("text", "plain")?.text_contents().ok_or("text is not text")?;
    let smil = of_type("application", "smil")?.text_contents().ok_or("SMIL is not text")?;
    // The images in the order the SMIL's <img> elements name them.
    let smil_images: Vec<String> = smil
        .split("<img ")
        .skip(1)
        .filter_map(|tag| tag.split("src=\"cid:").nth(1)?.split('"').next().map(str::to_string))
        .collect();
    if let Some(unshown) = images.iter().find(|p| !smil_images.contains(&cid(p))) {
        return Err(format!("SMIL does not show the image {:?}", cid(unshown)));
    }
    let allow_adaptations = content.attrs.iter().find(|a| a.1 == "allowAdaptations").map(|a| a.2.clone());
    let content_bytes: usize = slides.iter().map(|p| p.contents().len()).sum();
    Ok(Submitted {
        transaction_id: tid.text.trim().to_string(),
        mm7_version: text(&format!("{req}/MM7Version"))?,
        vasp_id: text(&format!("{req}/SenderIdentification/VASPID"))?,
        vas_id: text(&format!("{req}/SenderIdentification/VASID"))?,
        short_code: text(&format!("{req}/SenderIdentification/SenderAddress/ShortCode"))?,
        number,
        subject: text(&format!("{req}/Subject"))?,
        text: slide_text.to_string(),
        png: png.contents().to_vec(),
        png_location: png.content_location().unwrap_or_default().to_string(),
        images: images
            .iter()
            .map(|p| (p.content_location().unwrap_or_default().to_string(), p.contents().to_vec()))
            .collect(),
        smil_images,
        allow_adaptations,
        content_bytes,
        authorization: hv(header::AUTHORIZATION),
        soap_action: headers.get("SOAPAction").and_then(|v| v.to_str().ok()).map(str::to_string),
        message_id: None,
    })
}

/// A DeliveryReportReq as an MMSC posts it to the VASP: `message_id` (from its SubmitRsp) reached
/// `number` (written "+86…/TYPE=PLMN", as MMSCs do) with `mm_status` ("Retrieved", "Rejected" …).
pub fn delivery_report_req(ns: &str, transaction_id: &str, message_id: &str, number: &str, mm_status: &str) -> String {
    let esc = |s: &str| quick_xml::escape::escape(s).into_owned();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<env:Envelope xmlns:env="{SOAP_ENV_NS}"><env:Header>
<mm7:TransactionID xmlns:mm7="{ns}" env:mustUnderstand="1">{tid}</mm7:TransactionID></env:Header>
<env:Body><mm7:DeliveryReportReq xmlns:mm7="{ns}"><mm7:MM7Version>6.8.0</mm7:MM7Version>
<mm7:MMSRelayServerID>mmsc.test</mm7:MMSRelayServerID><mm7:MessageID>{id}</mm7:MessageID>
<mm7:Recipient><mm7:Number>{number}/TYPE=PLMN</mm7:Number></mm7:Recipient>
<mm7:Sender><mm7:ShortCode>1069000123</mm7:ShortCode></mm7:Sender>
<mm7:Date>2026-11-25T14:05:09+08:00</mm7:Date><mm7:MMStatus>{status}</mm7:MMStatus>
<mm7:StatusText>{status} by the handset</mm7:StatusText></mm7:DeliveryReportReq></env:Body></env:Envelope>"#,
        tid = esc(transaction_id),
        id = esc(message_id),
        number = esc(number),
        status = esc(mm_status),
    )
}
