//! MMS delivery over MM7 (3GPP TS 23.140): one SOAP SubmitReq per receipt, the slip as slides
//! and as the whole image (MIME attachments), POSTed to the operator's MMSC; its status code
//! decides accept or retry.

mod content;
mod envelope;
pub mod report;
mod response;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use super::{not_carried, tls, Accepted, Channel, Message, ReceiptMessage, SendError, Sender, Sending};
use crate::infra::secret::Secret;
use crate::infra::setting;

pub use envelope::SOAP_ENV_NS;
pub use response::{parse_submit_rsp, StatusClass, SubmitRsp};

/// Largest MMSC answer read: a SubmitRsp is well under 2 KiB.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Where and as whom to submit MMS.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mm7Settings {
    /// The MMSC's MM7 endpoint, `https://…`; `http://` only to a loopback host (a local TLS
    /// proxy) or with `insecure_plaintext`.
    #[serde(deserialize_with = "setting::web_url")]
    pub url: Url,
    /// The VASP id the operator gave (SenderIdentification/VASPID).
    pub vasp_id: String,
    /// The service id under the VASP; not set leaves VASID out.
    #[serde(default, deserialize_with = "setting::text")]
    pub vas_id: Option<String>,
    /// The short code messages come from (SenderAddress/ShortCode); not set leaves it out.
    #[serde(default, deserialize_with = "setting::text")]
    pub sender_address: Option<String>,
    /// HTTP basic authentication, when the MMSC asks for it.
    #[serde(default, deserialize_with = "setting::text")]
    pub username: Option<String>,
    #[serde(default, deserialize_with = "setting::secret")]
    pub password: Option<Secret>,
    /// The HTTP basic credentials the MMSC must present when it posts delivery reports to
    /// `/api/v1/mm7`; not set turns that endpoint off.
    #[serde(default, deserialize_with = "setting::text")]
    pub report_username: Option<String>,
    #[serde(default, deserialize_with = "setting::secret")]
    pub report_password: Option<Secret>,
    /// The MM7Version element: the schema release the MMSC speaks.
    #[serde(default = "default_mm7_version")]
    pub mm7_version: String,
    /// The MM7 XML namespace, which must match `mm7_version`.
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// Limit on one submission, connection to answer.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// A PEM file of CA certificates trusted besides the built-in web PKI roots (an operator's
    /// private CA, the tests' CA).
    #[serde(default, deserialize_with = "setting::path")]
    pub extra_ca_pem: Option<PathBuf>,
    /// Allows an `http://` URL to a host that is not loopback. The Basic credentials, the
    /// customers' numbers and their receipts then cross the network readable by anyone on the path.
    #[serde(default)]
    pub insecure_plaintext: bool,
}

impl Mm7Settings {
    /// Refuses a URL that is not http(s), and `http://` away from loopback without the opt-out.
    /// Reads no file: the CA file is read by [`MmsSender::new`].
    pub fn check(&self) -> Result<(), String> {
        let host = self.url.host_str().unwrap_or_default();
        match self.url.scheme() {
            "https" if self.insecure_plaintext => Err("insecure_plaintext = true goes only with an http:// url".into()),
            "https" => Ok(()),
            "http" => tls::plaintext_allowed(host, self.insecure_plaintext, EXPOSED)
                .map_err(|e| format!("url {:?} is http://: {e}", self.url.as_str())),
            _ => Err(format!("url {:?} is not http(s)", self.url.as_str())),
        }
    }
}

/// What MM7 over plain HTTP exposes, for the refusal.
const EXPOSED: &str = "the HTTP Basic credentials, the customers' numbers and their receipts";

fn default_mm7_version() -> String {
    "6.8.0".into()
}

fn default_namespace() -> String {
    "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-4".into()
}

fn default_timeout_secs() -> u64 {
    30
}

/// Submits receipts to one MMSC.
#[derive(Clone, Debug)]
pub struct MmsSender {
    settings: Mm7Settings,
    url: reqwest::Url,
    http: reqwest::Client,
}

impl MmsSender {
    /// A sender for `s`; a bad URL or certificate is a permanent error (no message can go).
    pub fn new(s: &Mm7Settings) -> Result<Self, SendError> {
        let bad = |what: String| SendError::Permanent(format!("MM7 settings: {what}"));
        // The loader checks the same; settings made in code are checked here.
        s.check().map_err(bad)?;
        let url = s.url.clone();
        if s.vasp_id.is_empty() {
            return Err(bad("vasp_id is empty".into()));
        }
        if url.scheme() == "http" && !tls::is_loopback(url.host_str().unwrap_or_default()) {
            tracing::warn!(
                url = %url,
                "MM7 over plain HTTP to a host that is not loopback (insecure_plaintext = true): the \
                 credentials, numbers and receipts can be read on the way"
            );
        }
        let mut tls = tls::client_config(s.extra_ca_pem.as_deref()).map_err(bad)?;
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .timeout(Duration::from_secs(s.timeout_secs.max(1)))
            // A redirected POST would be resent as GET: an MMSC that moved is a settings error.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| bad(format!("HTTP client: {e}")))?;
        Ok(Self { settings: s.clone(), url, http })
    }

    /// The HTTP request body of a SubmitReq for `out`: (Content-Type header, body). Pure: the same
    /// message and transaction id give the same bytes.
    pub fn submit_req(&self, out: &ReceiptMessage, transaction_id: &str) -> (String, Vec<u8>) {
        let s = &self.settings;
        let subject = envelope::subject(out);
        let soap = envelope::soap_envelope(&envelope::Envelope {
            namespace: &s.namespace,
            mm7_version: &s.mm7_version,
            vasp_id: &s.vasp_id,
            vas_id: s.vas_id.as_deref(),
            sender_address: s.sender_address.as_deref(),
            transaction_id,
            number: out.recipient.trim().trim_start_matches('+'),
            subject: &subject,
        });
        // Writing XML into a Vec cannot fail; an empty envelope would be refused as malformed.
        let soap = soap.unwrap_or_else(|e| {
            tracing::error!(error = %e, "MM7 envelope could not be written");
            Vec::new()
        });
        envelope::multipart(&soap, &content::mms(out))
    }

    /// Submits `out` (its `delivery_id` is the TransactionID) and says what the MMSC made of it.
    /// The MM7 status in the answer decides when there is one (SOAP faults come with HTTP 500);
    /// otherwise the HTTP status does: 408, 429 and 5xx are temporary, other 4xx and 3xx
    /// permanent. Network errors and timeouts are temporary.
    pub async fn send(&self, out: &ReceiptMessage) -> Result<Accepted, SendError> {
        check_number(&out.recipient)?;
        let (content_type, body) = self.submit_req(out, &out.delivery_id);
        let mut request = self
            .http
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .header("SOAPAction", "\"\"")
            .body(body);
        if let Some(user) = &self.settings.username {
            request = request.basic_auth(user, self.settings.password.as_ref().map(|p| &p.0));
        }
        let mut response = request.send().await.map_err(|e| self.unreachable(e))?;
        let status = response.status();
        let answer_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let mut answer = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.unreachable(e))? {
            answer.extend_from_slice(&chunk);
            if answer.len() > MAX_ANSWER_BYTES {
                break;
            }
        }
        match parse_submit_rsp(response::soap_part(&answer_type, &answer)) {
            Ok(rsp) => {
                if rsp.transaction_id.as_deref().is_some_and(|t| t != out.delivery_id) {
                    tracing::warn!(
                        sent = %out.delivery_id,
                        answered = ?rsp.transaction_id,
                        "MM7 answer names another TransactionID"
                    );
                }
                rsp.into_result()
            }
            Err(unreadable) if status.is_success() => Err(unreadable),
            Err(_) => Err(http_refusal(status, &answer)),
        }
    }

    fn unreachable(&self, e: reqwest::Error) -> SendError {
        let host = self.url.host_str().unwrap_or_default();
        if e.is_timeout() {
            let secs = self.settings.timeout_secs.max(1);
            return SendError::Temporary(format!("MMSC {host}: no answer within {secs} s"));
        }
        // reqwest keeps the cause (refused, reset, TLS alert) in the source chain.
        let mut msg = format!("MMSC {host}: {e}");
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            msg.push_str(&format!(": {s}"));
            source = s.source();
        }
        SendError::Temporary(msg)
    }
}

impl Sender for MmsSender {
    fn send<'a>(&'a self, msg: &'a Message) -> Sending<'a> {
        match msg {
            // The inherent `send`, which takes the receipt itself.
            Message::Receipt(out) => Box::pin(MmsSender::send(self, out)),
            other => Box::pin(std::future::ready(Err(not_carried(Channel::Mms, other)))),
        }
    }
}

/// MM7 addresses a number in international format: only E.164 numbers can go by MMS.
fn check_number(recipient: &str) -> Result<(), SendError> {
    let digits = recipient.strip_prefix('+').unwrap_or_default();
    if (1..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(SendError::Permanent(format!("{recipient:?} is not an E.164 number (+…)")))
    }
}

/// An HTTP error status without an MM7 answer in the body.
fn http_refusal(status: reqwest::StatusCode, body: &[u8]) -> SendError {
    let text: String =
        String::from_utf8_lossy(body).chars().map(|c| if c.is_control() { ' ' } else { c }).take(200).collect();
    let msg = format!("MMSC answered HTTP {status}: {}", text.trim());
    let code = status.as_u16();
    if code == 408 || code == 429 || status.is_server_error() {
        SendError::Temporary(msg)
    } else {
        SendError::Permanent(msg)
    }
}
