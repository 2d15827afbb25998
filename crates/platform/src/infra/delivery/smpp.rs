//! SMS over SMPP 3.4 (P2): a short bilingual text naming merchant and amount with the receipt
//! link, submitted with `submit_sm` on one kept-alive bound session, long texts as concatenated parts.

mod receipt;
mod session;
mod settings;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use rusmpp::pdus::SubmitSm;
use rusmpp::tlvs::MessageSubmissionRequestTlvValue;
use rusmpp::types::{COctetString, OctetString};
use rusmpp::values::{DataCoding, EsmClass, Npi, RegisteredDelivery, Ton, UserMessageReference};
use rusmpp::{CommandStatus, Pdu};
use tokio::sync::{mpsc, Mutex};
use tokio::time::Instant;

use super::segment::{delivery_hash, reference};
pub use super::segment::{segments, Coding, Segment, MAX_SEGMENTS};
use super::{tls, Accepted, Message, ReceiptMessage, SendError, Sender, Sending};
pub use receipt::{parse_receipt_text, DeliveryReport, ReceiptText, ReportState};
use session::{BindMode, Lost, OpenError, Peer, Session, TlsLink};
use settings::server_name;
pub use settings::{SmppSettings, SmppSetupError, SmppTls};

/// How long to hold back after the SMSC says it is overloaded.
#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    /// After ESME_RTHROTTLED (0x58); operators commonly ask for a minute.
    pub throttled: Duration,
    /// After ESME_RMSGQFUL (0x14).
    pub queue_full: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { throttled: Duration::from_secs(60), queue_full: Duration::from_secs(10) }
    }
}

/// Segments the SMSC took for a message whose later segments it refused: a retry of the same
/// delivery sends only the rest, so the handset never gets a part twice.
struct Progress {
    delivery_id: String,
    text: String,
    message_ids: Vec<String>,
}

/// How many partly sent messages are remembered.
const PROGRESS_KEPT: usize = 64;

struct State {
    session: Option<Session>,
    /// No submit before this instant (the SMSC asked us to slow down).
    resume_at: Option<Instant>,
    progress: VecDeque<Progress>,
}

/// Sends receipt texts over one SMPP session, opened on first use and re-bound after a failure;
/// an enquire_link checks it when idle, and dropping the sender unbinds it.
///
/// Delivery receipts (asked for by `registered_delivery`) come back as `deliver_sm`, which an
/// SMSC sends only on a receiver or transceiver bind. The sender binds as a transmitter unless
/// [`SmsSender::delivery_reports`] was called; then it binds as a transceiver and hands the
/// parsed receipts to that channel. Receipts arrive while the session is bound; the SMSC keeps
/// the others until the next bind.
pub struct SmsSender {
    peer: Peer,
    source_addr: String,
    registered_delivery: bool,
    backoff: Backoff,
    state: Mutex<State>,
    reports: std::sync::Mutex<Option<mpsc::Sender<DeliveryReport>>>,
}

impl SmsSender {
    /// Checks the settings ([`SmppSettings::check`]) and reads the CA file; binds on its first send.
    pub fn new(s: &SmppSettings) -> Result<Self, SmppSetupError> {
        s.check().map_err(SmppSetupError::Invalid)?;
        let tls = match s.tls {
            SmppTls::Required => {
                let config = tls::client_config(s.extra_ca_pem.as_deref()).map_err(SmppSetupError::Tls)?;
                let name = server_name(s).map_err(SmppSetupError::Invalid)?;
                Some(TlsLink::new(Arc::new(config), name))
            }
            SmppTls::None => {
                if !tls::is_loopback(&s.host) {
                    tracing::warn!(
                        host = %s.host,
                        "SMPP in clear to a host that is not loopback (insecure_plaintext = true): \
                         the bind password, login codes and receipt links can be read on the way"
                    );
                }
                None
            }
        };
        let peer = Peer {
            host: s.host.clone(),
            port: s.port,
            system_id: s.system_id.clone(),
            password: s.password.0.clone(),
            system_type: s.system_type.clone(),
            enquire_link: (s.enquire_link_secs > 0).then(|| Duration::from_secs(s.enquire_link_secs)),
            timeout: Duration::from_secs(s.timeout_secs.max(1)),
            tls,
        };
        Ok(SmsSender {
            peer,
            source_addr: s.source_addr.clone(),
            registered_delivery: s.registered_delivery,
            backoff: Backoff::default(),
            state: Mutex::new(State { session: None, resume_at: None, progress: VecDeque::new() }),
            reports: std::sync::Mutex::new(None),
        })
    }

    /// Replaces the default pauses after throttling and a full queue.
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Receipts from now on: the session is re-bound as a transceiver at the next send. A second
    /// call replaces the first channel (and the session, at the next send). A receipt nobody
    /// takes (receiver dropped, or 1024 waiting) is answered ESME_RX_T_APPN so the SMSC retries.
    pub fn delivery_reports(&self) -> mpsc::Receiver<DeliveryReport> {
        let (tx, rx) = mpsc::channel(1024);
        *self.reports.lock().unwrap_or_else(|e| e.into_inner()) = Some(tx);
        rx
    }

    /// The text: bilingual, short, naming merchant and amount, with the receipt link.
    pub fn text(out: &ReceiptMessage) -> String {
        format!(
            "【电子签购单】{} {} 收据/receipt: {}",
            one_line(&out.merchant_name),
            one_line(&out.amount),
            one_line(&out.link)
        )
    }

    /// Submits [`SmsSender::text`] (in segments if long). `Accepted::peer_id` holds the SMSC's
    /// message_ids, one per segment in order, joined by commas.
    pub async fn send(&self, out: &ReceiptMessage) -> Result<Accepted, SendError> {
        self.send_text(&out.delivery_id, &out.recipient, &Self::text(out)).await
    }

    /// Submits any text to an E.164 number, as [`SmsSender::send`] does. A retry with the same
    /// `delivery_id` and text uses the same concatenation reference and skips the segments the
    /// SMSC already took.
    pub async fn send_text(&self, delivery_id: &str, recipient: &str, text: &str) -> Result<Accepted, SendError> {
        let (dest_ton, dest) = destination(recipient)?;
        let parts = segments(text, reference(delivery_id));
        if parts.iter().map(|p| p.text.as_str()).collect::<String>() != text {
            return Err(SendError::Permanent(format!("text longer than {MAX_SEGMENTS} SMS")));
        }
        let (source_ton, source_npi, source) = source(&self.source_addr)?;
        let timeout = self.peer.timeout;

        let mut state = self.state.lock().await;
        if let Some(resume_at) = state.resume_at {
            let wait = resume_at.saturating_duration_since(Instant::now());
            if wait > timeout {
                let secs = wait.as_secs_f64().ceil();
                return Err(SendError::Temporary(format!("SMSC asked to slow down; retry in {secs} s")));
            }
            tokio::time::sleep(wait).await;
            state.resume_at = None;
        }
        let mut ids = state.take_progress(delivery_id, text);
        let mut retried = false;
        while let Some(part) = parts.get(ids.len()) {
            let (session, fresh) = self.session(&mut state).await?;
            let mut submit = SubmitSm::builder()
                .source_addr_ton(source_ton)
                .source_addr_npi(source_npi)
                .source_addr(source.clone())
                .dest_addr_ton(dest_ton)
                .dest_addr_npi(Npi::Isdn)
                .destination_addr(dest.clone())
                .registered_delivery(RegisteredDelivery::from(u8::from(self.registered_delivery)))
                .data_coding(DataCoding::from(part.coding.data_coding()))
                .esm_class(EsmClass::default())
                .short_message(octets(part.short_message())?)
                .build();
            // Every part of every attempt carries the same reference: a resend after a crash
            // (the SMSC may have taken the first) is recognisable by it.
            submit.push_tlv(MessageSubmissionRequestTlvValue::UserMessageReference(UserMessageReference::new(
                user_reference(delivery_id),
            )));
            if part.udh.is_some() {
                submit = submit.with_udhi_indicator();
            }
            let answer = session.call(submit, timeout).await;
            let status = match answer {
                Ok(command) if command.status() == CommandStatus::EsmeRok => {
                    let id = match command.pdu() {
                        Some(Pdu::SubmitSmResp(resp)) => resp.message_id().to_string(),
                        _ => String::new(),
                    };
                    ids.push(id);
                    continue;
                }
                Ok(command) => command.status(),
                // An idle connection the SMSC had dropped: one fresh bind, the part again.
                Err(Lost::Closed) if !fresh && !retried => {
                    tracing::info!("SMPP session was closed; binding again");
                    state.session = None;
                    retried = true;
                    continue;
                }
                Err(lost) => {
                    state.session = None;
                    state.keep_progress(delivery_id, text, ids);
                    return Err(SendError::Temporary(match lost {
                        Lost::Closed => "SMSC closed the connection before answering".into(),
                        Lost::Timeout => format!(
                            "no submit_sm_resp within {} s (the SMSC may have taken it: a retry can duplicate)",
                            timeout.as_secs()
                        ),
                    }));
                }
            };
            state.keep_progress(delivery_id, text, ids);
            return Err(self.refused(status, &mut state));
        }
        let answer = format!("submit_sm_resp ESME_ROK: {} SMS, message_id {}", ids.len(), ids.join(","));
        Ok(Accepted { peer_id: Some(ids.join(",")), answer })
    }

    /// The open session in the wanted mode, binding one if needed (then `true`).
    async fn session<'s>(&self, state: &'s mut State) -> Result<(&'s Session, bool), SendError> {
        let reports = self.reports.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mode = if reports.is_some() { BindMode::Transceiver } else { BindMode::Transmitter };
        let usable = state.session.as_ref().is_some_and(|s| s.serves(mode, reports.as_ref()));
        if !usable {
            state.session = None;
            let session = Session::open(&self.peer, mode, reports).await.map_err(|e| match e {
                OpenError::Network(e) => SendError::Temporary(format!("SMSC unreachable: {e}")),
                OpenError::Tls(e) => SendError::Temporary(format!("SMSC TLS: {e}")),
                OpenError::Refused(status) => SendError::Temporary(format!("bind refused: {}", status_name(status))),
                OpenError::Settings(e) => SendError::Temporary(format!("SMPP settings: {e}")),
            })?;
            state.session = Some(session);
        }
        let session = state.session.as_ref().ok_or_else(|| SendError::Temporary("SMPP session lost".into()))?;
        Ok((session, !usable))
    }

    /// The error for a refused submit; pauses the session when the SMSC is overloaded.
    fn refused(&self, status: CommandStatus, state: &mut State) -> SendError {
        let name = status_name(status);
        let pause = match status {
            CommandStatus::EsmeRthrottled => Some(self.backoff.throttled),
            CommandStatus::EsmeRmsgqful => Some(self.backoff.queue_full),
            _ => None,
        };
        if let Some(pause) = pause {
            state.resume_at = Some(Instant::now() + pause);
            let secs = pause.as_secs_f64();
            tracing::warn!(status = %name, pause_secs = secs, "SMSC overloaded; SMS submits paused");
            return SendError::Temporary(format!("{name}: SMSC overloaded; next submit in {secs} s"));
        }
        if status == CommandStatus::EsmeRinvbndsts {
            state.session = None;
        }
        if permanent(status) {
            SendError::Permanent(name)
        } else {
            SendError::Temporary(name)
        }
    }
}

impl State {
    fn take_progress(&mut self, delivery_id: &str, text: &str) -> Vec<String> {
        match self.progress.iter().position(|p| p.delivery_id == delivery_id) {
            Some(i) => match self.progress.remove(i) {
                Some(p) if p.text == text => p.message_ids,
                _ => Vec::new(),
            },
            None => Vec::new(),
        }
    }

    fn keep_progress(&mut self, delivery_id: &str, text: &str, message_ids: Vec<String>) {
        if message_ids.is_empty() {
            return;
        }
        if self.progress.len() >= PROGRESS_KEPT {
            self.progress.pop_front();
        }
        let (delivery_id, text) = (delivery_id.to_string(), text.to_string());
        self.progress.push_back(Progress { delivery_id, text, message_ids });
    }
}

/// Statuses that mean this message will never be taken as it is: bad address, bad content,
/// bad parameters. Everything else (system errors, unknown and vendor codes) may pass later.
fn permanent(status: CommandStatus) -> bool {
    use CommandStatus::*;
    matches!(
        status,
        EsmeRinvmsglen
            | EsmeRinvcmdlen
            | EsmeRinvcmdid
            | EsmeRinvprtflg
            | EsmeRinvregdlvflg
            | EsmeRinvsrcadr
            | EsmeRinvdstadr
            | EsmeRinvesmclass
            | EsmeRinvsrcton
            | EsmeRinvsrcnpi
            | EsmeRinvdstton
            | EsmeRinvdstnpi
            | EsmeRinvsertyp
            | EsmeRinvsched
            | EsmeRinvexpiry
            | EsmeRinvdftmsgid
            | EsmeRxPAppn
            | EsmeRxRAppn
            | EsmeRinvtlvstream
            | EsmeRtlvnotallwd
            | EsmeRinvtlvlen
            | EsmeRmissingtlv
            | EsmeRinvtlvval
            | EsmeRsertypunauth
            | EsmeRprohibited
            | EsmeRsertypdenied
            | EsmeRinvdcs
    )
}

/// "ESME_RTHROTTLED (0x00000058)": the spec's name and the code.
fn status_name(status: CommandStatus) -> String {
    let code = u32::from(status);
    let debug = format!("{status:?}");
    match debug.strip_prefix("Esme") {
        Some(rest) => {
            let mut name = String::from("ESME_");
            for (i, c) in rest.chars().enumerate() {
                if i > 0 && c.is_ascii_uppercase() {
                    name.push('_');
                }
                name.push(c.to_ascii_uppercase());
            }
            format!("{name} ({code:#010x})")
        }
        None => format!("command_status {code:#010x}"),
    }
}

/// The `user_message_reference` of a delivery (SMPP 3.4 §5.3.2.17), the same on every attempt.
pub fn user_reference(delivery_id: &str) -> u16 {
    let h = delivery_hash(delivery_id);
    ((h >> 16) ^ (h & 0xffff)) as u16
}

/// An E.164 number ("+8613800138000") as TON and digits; anything else will never work.
/// Receipts and login codes alike go as their [`Message::text`].
impl Sender for SmsSender {
    fn send<'a>(&'a self, msg: &'a Message) -> Sending<'a> {
        Box::pin(async move { self.send_text(msg.delivery_id(), msg.recipient(), &msg.text()).await })
    }
}

impl super::router::TextSender for SmsSender {
    fn send_text<'a>(&'a self, delivery_id: &'a str, recipient: &'a str, text: &'a str) -> Sending<'a> {
        Box::pin(SmsSender::send_text(self, delivery_id, recipient, text))
    }
}

fn destination(recipient: &str) -> Result<(Ton, COctetString<1, 21>), SendError> {
    let (ton, digits) = match recipient.trim().strip_prefix('+') {
        Some(digits) => (Ton::International, digits),
        None => (Ton::Unknown, recipient.trim()),
    };
    let valid = (1..=20).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
    let not_a_number = || SendError::Permanent(format!("not a phone number: {recipient:?}"));
    if !valid {
        return Err(not_a_number());
    }
    COctetString::from_string(digits.to_string()).map(|d| (ton, d)).map_err(|_| not_a_number())
}

/// The sender: "+" number, digits (short code or national number) or an alphanumeric id.
fn source(addr: &str) -> Result<(Ton, Npi, COctetString<1, 21>), SendError> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (ton, npi, value) = match addr.strip_prefix('+') {
        Some(rest) if digits(rest) => (Ton::International, Npi::Isdn, rest),
        _ if digits(addr) => (Ton::Unknown, Npi::Isdn, addr),
        _ if addr.is_empty() => (Ton::Unknown, Npi::Unknown, addr),
        _ => (Ton::Alphanumeric, Npi::Unknown, addr),
    };
    COctetString::from_string(value.to_string())
        .map(|v| (ton, npi, v))
        .map_err(|e| SendError::Temporary(format!("SMPP settings: source_addr {addr:?}: {e}")))
}

fn octets(bytes: Vec<u8>) -> Result<OctetString<0, 255>, SendError> {
    OctetString::from_vec(bytes).map_err(|e| SendError::Permanent(format!("short_message: {e}")))
}

/// Control characters and runs of spaces become one space, so a name cannot break the text.
fn one_line(s: &str) -> String {
    s.split(|c: char| c.is_control() || c.is_whitespace()).filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ")
}
