//! One bound SMPP session: a task owns the connection (TLS over TCP, or plain TCP), matches
//! responses to requests by sequence number, answers the SMSC's enquire_link and deliver_sm,
//! and keeps the link alive.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rusmpp::pdus::{BindTransceiver, BindTransmitter, DeliverSm, DeliverSmResp};
use rusmpp::tokio_codec::CommandCodec;
use rusmpp::types::COctetString;
use rusmpp::values::{InterfaceVersion, Npi, Ton};
use rusmpp::{Command, CommandId, CommandStatus, Pdu};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_rustls::TlsConnector;
use tokio_util::codec::Framed;

use super::receipt::{self, DeliveryReport};
use super::status_name;
use crate::infra::delivery::tls::describe;

/// How the session binds: transmitter only sends; transceiver also receives delivery receipts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum BindMode {
    Transmitter,
    Transceiver,
}

/// Where and as whom to bind, and the clocks of the link.
#[derive(Clone, Debug)]
pub(super) struct Peer {
    pub host: String,
    pub port: u16,
    pub system_id: String,
    pub password: String,
    pub system_type: String,
    /// Idle time before an enquire_link; `None` never sends one.
    pub enquire_link: Option<Duration>,
    pub timeout: Duration,
    /// TLS from the first byte; `None` is plain TCP.
    pub tls: Option<TlsLink>,
}

/// How to start TLS on a new connection: the client configuration and the name the SMSC's
/// certificate must carry.
#[derive(Clone)]
pub(super) struct TlsLink {
    connector: TlsConnector,
    name: ServerName<'static>,
}

impl TlsLink {
    pub fn new(config: Arc<rustls::ClientConfig>, name: ServerName<'static>) -> Self {
        TlsLink { connector: TlsConnector::from(config), name }
    }
}

impl std::fmt::Debug for TlsLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsLink").field("name", &self.name).finish_non_exhaustive()
    }
}

/// What a session can run over: a TCP stream, or TLS on one.
pub(super) trait Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> Stream for S {}

/// Why a session could not be opened.
#[derive(Debug)]
pub(super) enum OpenError {
    /// Could not connect, or the connection broke or timed out before the bind answer.
    Network(String),
    /// The TLS handshake failed: the SMSC's certificate is not trusted or not for its name, or
    /// the SMSC speaks no TLS.
    Tls(String),
    /// The SMSC answered the bind with an error status.
    Refused(CommandStatus),
    /// A setting cannot be put in a bind PDU (too long, not ASCII).
    Settings(String),
}

/// Why a request got no answer.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Lost {
    /// The connection closed before the answer came.
    Closed,
    /// No answer within the timeout.
    Timeout,
}

type Framing<S> = Framed<S, CommandCodec>;

struct Call {
    pdu: Pdu,
    reply: oneshot::Sender<Command>,
}

/// A handle on the task that owns a bound connection; dropping it unbinds.
pub(super) struct Session {
    calls: mpsc::Sender<Call>,
    mode: BindMode,
    /// Where its task hands delivery receipts.
    reports: Option<mpsc::Sender<DeliveryReport>>,
}

impl Session {
    /// Connects (and starts TLS when asked for) and binds, then leaves the connection to a task.
    pub async fn open(
        peer: &Peer,
        mode: BindMode,
        reports: Option<mpsc::Sender<DeliveryReport>>,
    ) -> Result<Self, OpenError> {
        let request = bind_pdu(peer, mode)?;
        let addr = (peer.host.as_str(), peer.port);
        let at = format!("{}:{}", peer.host, peer.port);
        let tcp = match tokio::time::timeout(peer.timeout, TcpStream::connect(addr)).await {
            Ok(Ok(tcp)) => tcp,
            Ok(Err(e)) => return Err(OpenError::Network(format!("connect {at}: {e}"))),
            Err(_) => return Err(OpenError::Network(format!("connect {at}: timed out"))),
        };
        let Some(tls) = &peer.tls else {
            return Self::bind(peer, mode, reports, request, tcp).await;
        };
        let handshake = tls.connector.connect(tls.name.clone(), tcp);
        let stream = match tokio::time::timeout(peer.timeout, handshake).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => return Err(OpenError::Tls(format!("{at} (as {}): {}", tls.name.to_str(), describe(&e)))),
            Err(_) => return Err(OpenError::Tls(format!("{at}: no TLS handshake within {:?}", peer.timeout))),
        };
        Self::bind(peer, mode, reports, request, stream).await
    }

    /// Binds on a connected stream, then leaves it to a task.
    async fn bind(
        peer: &Peer,
        mode: BindMode,
        reports: Option<mpsc::Sender<DeliveryReport>>,
        request: Pdu,
        stream: impl Stream,
    ) -> Result<Self, OpenError> {
        let mut framed = Framed::new(stream, CommandCodec::new());
        let lost = |e: &dyn std::fmt::Display| OpenError::Network(format!("bind: {e}"));
        framed.send(Command::new(CommandStatus::EsmeRok, 1, request)).await.map_err(|e| lost(&e))?;
        let answer = tokio::time::timeout(peer.timeout, async {
            while let Some(incoming) = framed.next().await {
                let command = incoming.map_err(|e| lost(&e))?;
                if command.sequence_number() == 1 && command.id().is_response() {
                    return Ok(command);
                }
            }
            Err(lost(&"connection closed"))
        });
        let answer = answer.await.map_err(|_| lost(&"no answer in time"))??;
        if answer.status() != CommandStatus::EsmeRok {
            return Err(OpenError::Refused(answer.status()));
        }
        tracing::info!(host = %peer.host, port = peer.port, ?mode, tls = peer.tls.is_some(), "SMPP session bound");
        let (calls, queue) = mpsc::channel(8);
        let link = Link { enquire_link: peer.enquire_link, timeout: peer.timeout, reports: reports.clone() };
        tokio::spawn(link.run(framed, queue));
        Ok(Session { calls, mode, reports })
    }

    /// The task still holds the connection.
    pub fn is_open(&self) -> bool {
        !self.calls.is_closed()
    }

    /// Open, bound in `mode`, handing receipts to `reports`.
    pub fn serves(&self, mode: BindMode, reports: Option<&mpsc::Sender<DeliveryReport>>) -> bool {
        let same_reports = match (&self.reports, reports) {
            (None, None) => true,
            (Some(a), Some(b)) => a.same_channel(b),
            _ => false,
        };
        self.is_open() && self.mode == mode && same_reports
    }

    /// Sends a request and waits for the response with the same sequence number (or a
    /// generic_nack for it).
    pub async fn call(&self, pdu: impl Into<Pdu>, timeout: Duration) -> Result<Command, Lost> {
        let (reply, answer) = oneshot::channel();
        let call = Call { pdu: pdu.into(), reply };
        self.calls.send(call).await.map_err(|_| Lost::Closed)?;
        match tokio::time::timeout(timeout, answer).await {
            Ok(Ok(command)) => Ok(command),
            Ok(Err(_)) => Err(Lost::Closed),
            Err(_) => Err(Lost::Timeout),
        }
    }
}

fn bind_pdu(peer: &Peer, mode: BindMode) -> Result<Pdu, OpenError> {
    fn c<const MAX: usize>(name: &str, value: &str) -> Result<COctetString<1, MAX>, OpenError> {
        COctetString::from_string(value.to_string())
            .map_err(|e| OpenError::Settings(format!("{name} ({} characters at most): {e}", MAX - 1)))
    }
    let system_id = c("system_id", &peer.system_id)?;
    let password = c("password", &peer.password)?;
    let system_type = c("system_type", &peer.system_type)?;
    Ok(match mode {
        BindMode::Transmitter => BindTransmitter::builder()
            .system_id(system_id)
            .password(password)
            .system_type(system_type)
            .interface_version(InterfaceVersion::Smpp3_4)
            .addr_ton(Ton::Unknown)
            .addr_npi(Npi::Unknown)
            .address_range(COctetString::empty())
            .build()
            .into(),
        BindMode::Transceiver => BindTransceiver::builder()
            .system_id(system_id)
            .password(password)
            .system_type(system_type)
            .interface_version(InterfaceVersion::Smpp3_4)
            .addr_ton(Ton::Unknown)
            .addr_npi(Npi::Unknown)
            .address_range(COctetString::empty())
            .build()
            .into(),
    })
}

/// The connection task's settings.
struct Link {
    enquire_link: Option<Duration>,
    timeout: Duration,
    reports: Option<mpsc::Sender<DeliveryReport>>,
}

/// What the task does after handling one incoming PDU.
enum Next {
    Go,
    Stop,
}

impl Link {
    async fn run(self, mut framed: Framing<impl Stream>, mut calls: mpsc::Receiver<Call>) {
        let mut sequence: u32 = 1;
        let mut next_sequence = move || {
            // 0x00000001..=0x7FFFFFFF (SMPP 3.4 §3.2); 1 was the bind.
            sequence = if sequence >= 0x7FFF_FFFF { 1 } else { sequence + 1 };
            sequence
        };
        let mut pending: HashMap<u32, oneshot::Sender<Command>> = HashMap::new();
        let mut last_traffic = Instant::now();
        let mut link_asked: Option<Instant> = None;
        let far = Duration::from_secs(365 * 24 * 3600);
        loop {
            let deadline = match (link_asked, self.enquire_link) {
                (Some(asked), _) => asked + self.timeout,
                (None, Some(idle)) => last_traffic + idle,
                (None, None) => last_traffic + far,
            };
            tokio::select! {
                call = calls.recv() => {
                    let Some(call) = call else {
                        self.unbind(&mut framed, next_sequence()).await;
                        return;
                    };
                    let seq = next_sequence();
                    let command = Command::new(CommandStatus::EsmeRok, seq, call.pdu);
                    if let Err(e) = framed.send(command).await {
                        tracing::warn!(error = %e, "SMPP session lost while sending");
                        return;
                    }
                    pending.insert(seq, call.reply);
                    last_traffic = Instant::now();
                }
                incoming = framed.next() => {
                    let command = match incoming {
                        Some(Ok(command)) => command,
                        Some(Err(e)) => {
                            tracing::warn!(error = %e, "SMPP session: unreadable PDU, closing");
                            return;
                        }
                        None => {
                            tracing::info!("SMPP session closed by the SMSC");
                            return;
                        }
                    };
                    last_traffic = Instant::now();
                    let id = command.id();
                    if id.is_response() {
                        if let Some(reply) = pending.remove(&command.sequence_number()) {
                            let _ = reply.send(command);
                        } else if id == CommandId::EnquireLinkResp {
                            link_asked = None;
                        }
                        continue;
                    }
                    if let Next::Stop = self.answer(&mut framed, command).await {
                        return;
                    }
                }
                () = tokio::time::sleep_until(deadline) => {
                    if link_asked.is_some() {
                        tracing::warn!("SMPP session: no enquire_link_resp in time, closing");
                        return;
                    }
                    let command = Command::new(CommandStatus::EsmeRok, next_sequence(), Pdu::EnquireLink);
                    if framed.send(command).await.is_err() {
                        return;
                    }
                    link_asked = Some(Instant::now());
                }
            }
        }
    }

    /// Answers a request from the SMSC.
    async fn answer(&self, framed: &mut Framing<impl Stream>, command: Command) -> Next {
        let seq = command.sequence_number();
        let (status, pdu, next) = match command.pdu() {
            Some(Pdu::EnquireLink) => (CommandStatus::EsmeRok, Pdu::EnquireLinkResp, Next::Go),
            Some(Pdu::Unbind) => (CommandStatus::EsmeRok, Pdu::UnbindResp, Next::Stop),
            Some(Pdu::DeliverSm(sm)) => (self.deliver(sm), DeliverSmResp::default().into(), Next::Go),
            _ => (CommandStatus::EsmeRinvcmdid, Pdu::GenericNack, Next::Go),
        };
        if let Next::Stop = next {
            tracing::info!("SMPP session unbound by the SMSC");
        }
        match framed.send(Command::new(status, seq, pdu)).await {
            Ok(()) => next,
            Err(_) => Next::Stop,
        }
    }

    /// Hands a delivery receipt on; the status tells the SMSC to try again later when nobody
    /// takes it now (no listener, or the listener is behind).
    fn deliver(&self, sm: &DeliverSm) -> CommandStatus {
        let Some(report) = receipt::from_deliver_sm(sm) else {
            tracing::info!(esm_class = u8::from(sm.esm_class), "SMPP deliver_sm that is no receipt, ignored");
            return CommandStatus::EsmeRok;
        };
        let Some(reports) = &self.reports else {
            return CommandStatus::EsmeRxTAppn;
        };
        match reports.try_send(report) {
            Ok(()) => CommandStatus::EsmeRok,
            Err(e) => {
                tracing::warn!(error = %e, "SMPP delivery receipt not taken, the SMSC will retry");
                CommandStatus::EsmeRxTAppn
            }
        }
    }

    /// Says goodbye; waits a moment for unbind_resp so the SMSC does not see a dropped link.
    async fn unbind(&self, framed: &mut Framing<impl Stream>, seq: u32) {
        if framed.send(Command::new(CommandStatus::EsmeRok, seq, Pdu::Unbind)).await.is_err() {
            return;
        }
        let answered = async {
            while let Some(Ok(command)) = framed.next().await {
                if command.id() == CommandId::UnbindResp {
                    return Some(command.status());
                }
            }
            None
        };
        match tokio::time::timeout(self.timeout, answered).await {
            Ok(Some(status)) => tracing::info!(status = status_name(status), "SMPP session unbound"),
            _ => tracing::info!("SMPP session closed without unbind_resp"),
        }
    }
}
