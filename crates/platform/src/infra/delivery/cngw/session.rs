//! One logged-in gateway connection: a task owns it (TLS over TCP, or plain TCP), matches answers
//! to requests by sequence id, answers the gateway's Active_Test, Deliver and Exit, sends its own
//! Active_Test when idle and drops the link after three unanswered (or, in SGIP, which has no
//! Active_Test, says Unbind when idle), and says Exit when dropped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_rustls::TlsConnector;
use tokio_util::codec::Framed;

use super::protocol::{timestamp_now, Frame, FrameError, Login, Protocol, StatusKind, RESPONSE};
use crate::infra::delivery::smpp::DeliveryReport;
use crate::infra::delivery::tls::describe;

/// Active_Test requests left unanswered before the link counts as dead.
const MISSED_ACTIVE_TESTS: u32 = 3;

/// Where and as whom to log in, and the clocks of the link.
#[derive(Clone)]
pub(super) struct Peer {
    pub host: String,
    pub port: u16,
    pub account: String,
    pub secret: String,
    /// Idle time before an Active_Test; `None` sends none.
    pub active_test: Option<Duration>,
    /// Idle time before the client logs out (SGIP's Unbind) and closes; `None` stays. Only
    /// without `active_test`.
    pub idle_unbind: Option<Duration>,
    /// The last sequence id used, shared by every connection of one client: SGIP's reports
    /// name a submit by its sequence, so a fresh login must not start the count again.
    pub sequence: Arc<AtomicU32>,
    pub timeout: Duration,
    /// TLS from the first byte; `None` is plain TCP.
    pub tls: Option<(TlsConnector, ServerName<'static>)>,
}

/// Why a connection could not be opened.
#[derive(Debug)]
pub(super) enum OpenError {
    /// Could not connect, or the link broke or timed out before the login answer.
    Network(String),
    /// The TLS handshake failed.
    Tls(String),
    /// The gateway refused the login: how to treat it, and the status named.
    Refused(StatusKind, String),
    /// The account does not fit the login (too long).
    Settings(String),
}

/// Why a request got no usable answer.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Lost {
    /// The connection closed before the answer came.
    Closed,
    /// No answer within the timeout.
    Timeout,
    /// The gateway sent a frame that cannot be read; the connection was dropped.
    Broken(String),
}

struct Call {
    command: u32,
    body: Vec<u8>,
    reply: oneshot::Sender<Result<Frame, Lost>>,
}

/// A handle on the task that owns a logged-in connection; when the last clone is dropped the
/// task says Exit and closes.
#[derive(Clone)]
pub(super) struct Session {
    calls: mpsc::Sender<Call>,
    reports: Option<mpsc::Sender<DeliveryReport>>,
}

impl Session {
    /// Connects (TLS when asked for), logs in, and leaves the connection to a task.
    pub async fn open<P: Protocol>(
        peer: &Peer,
        protocol: Arc<P>,
        reports: Option<mpsc::Sender<DeliveryReport>>,
    ) -> Result<Self, OpenError> {
        let login = Login {
            account: &peer.account,
            secret: &peer.secret,
            timestamp: timestamp_now(),
            receive: reports.is_some(),
        };
        let body = protocol.login(&login).map_err(OpenError::Settings)?;
        let at = format!("{}:{}", peer.host, peer.port);
        let tcp = match tokio::time::timeout(peer.timeout, TcpStream::connect((peer.host.as_str(), peer.port))).await {
            Ok(Ok(tcp)) => tcp,
            Ok(Err(e)) => return Err(OpenError::Network(format!("connect {at}: {e}"))),
            Err(_) => return Err(OpenError::Network(format!("connect {at}: timed out"))),
        };
        let _ = tcp.set_nodelay(true);
        let Some((connector, name)) = &peer.tls else {
            return Self::login(peer, protocol, reports, body, tcp).await;
        };
        let stream = match tokio::time::timeout(peer.timeout, connector.connect(name.clone(), tcp)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => return Err(OpenError::Tls(format!("{at} (as {}): {}", name.to_str(), describe(&e)))),
            Err(_) => return Err(OpenError::Tls(format!("{at}: no TLS handshake within {:?}", peer.timeout))),
        };
        Self::login(peer, protocol, reports, body, stream).await
    }

    async fn login<P: Protocol>(
        peer: &Peer,
        protocol: Arc<P>,
        reports: Option<mpsc::Sender<DeliveryReport>>,
        body: Vec<u8>,
        stream: impl AsyncRead + AsyncWrite + Unpin + Send + 'static,
    ) -> Result<Self, OpenError> {
        let mut framed = Framed::new(stream, protocol.codec());
        let lost = |e: &dyn std::fmt::Display| OpenError::Network(format!("{} login: {e}", P::NAME));
        let (sequence, stamp) = (next_sequence(&peer.sequence), protocol.stamp(timestamp_now()));
        framed.send(Frame { command: P::LOGIN, sequence, stamp, body }).await.map_err(|e| lost(&e))?;
        let answer = tokio::time::timeout(peer.timeout, async {
            while let Some(incoming) = framed.next().await {
                let frame = incoming.map_err(|e| lost(&e))?;
                if frame.command == P::LOGIN | RESPONSE && frame.sequence == sequence {
                    return Ok(frame);
                }
            }
            Err(lost(&"connection closed"))
        });
        let answer = answer.await.map_err(|_| lost(&"no answer in time"))??;
        let status = protocol.login_status(&answer.body).map_err(|e| lost(&e))?;
        if status != 0 {
            let (kind, name) = protocol.login_refusal(status);
            return Err(OpenError::Refused(kind, name));
        }
        tracing::info!(protocol = P::NAME, host = %peer.host, port = peer.port, tls = peer.tls.is_some(), "gateway login");
        let (calls, queue) = mpsc::channel(64);
        let link = Link {
            protocol,
            active_test: peer.active_test,
            idle_unbind: peer.idle_unbind.filter(|_| peer.active_test.is_none()),
            sequence: peer.sequence.clone(),
            timeout: peer.timeout,
            reports: reports.clone(),
        };
        tokio::spawn(link.run(framed, queue));
        Ok(Session { calls, reports })
    }

    /// Still connected, handing reports to `reports`.
    pub fn serves(&self, reports: Option<&mpsc::Sender<DeliveryReport>>) -> bool {
        let same = match (&self.reports, reports) {
            (None, None) => true,
            (Some(a), Some(b)) => a.same_channel(b),
            _ => false,
        };
        !self.calls.is_closed() && same
    }

    /// Sends a request and waits for the answer with the same sequence id.
    pub async fn call(&self, command: u32, body: Vec<u8>, timeout: Duration) -> Result<Frame, Lost> {
        let (reply, answer) = oneshot::channel();
        self.calls.send(Call { command, body, reply }).await.map_err(|_| Lost::Closed)?;
        match tokio::time::timeout(timeout, answer).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err(Lost::Closed),
            Err(_) => Err(Lost::Timeout),
        }
    }
}

/// The next sequence id after `last`: wraps before the top bit so that no id looks like a
/// response flag, and skips 0.
fn next_sequence(last: &AtomicU32) -> u32 {
    let next = |s: u32| if s >= 0x7FFF_FFFF { 1 } else { s + 1 };
    let previous = last.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |s| Some(next(s)));
    next(previous.unwrap_or_else(|s| s))
}

/// The connection task.
struct Link<P> {
    protocol: Arc<P>,
    active_test: Option<Duration>,
    idle_unbind: Option<Duration>,
    sequence: Arc<AtomicU32>,
    timeout: Duration,
    reports: Option<mpsc::Sender<DeliveryReport>>,
}

type Pending = HashMap<u32, oneshot::Sender<Result<Frame, Lost>>>;

impl<P: Protocol> Link<P> {
    /// A request of ours, with the next sequence id.
    fn request(&self, command: u32, body: Vec<u8>) -> Frame {
        let stamp = self.protocol.stamp(timestamp_now());
        Frame { command, sequence: next_sequence(&self.sequence), stamp, body }
    }

    async fn run<S>(self, mut framed: Framed<S, P::Codec>, mut calls: mpsc::Receiver<Call>)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let mut pending = Pending::new();
        let mut last_traffic = Instant::now();
        let mut missed = 0u32;
        let mut asked: Option<Instant> = None;
        let far = Duration::from_secs(365 * 24 * 3600);
        loop {
            let deadline = match (asked, self.active_test.or(self.idle_unbind)) {
                (Some(at), _) => at + self.timeout,
                (None, Some(idle)) => last_traffic + idle,
                (None, None) => last_traffic + far,
            };
            tokio::select! {
                call = calls.recv() => {
                    let Some(call) = call else {
                        self.exit(&mut framed).await;
                        return;
                    };
                    let frame = self.request(call.command, call.body);
                    let seq = frame.sequence;
                    if let Err(e) = framed.send(frame).await {
                        tracing::warn!(protocol = P::NAME, error = %e, "gateway link lost while sending");
                        return;
                    }
                    pending.insert(seq, call.reply);
                    last_traffic = Instant::now();
                }
                incoming = framed.next() => {
                    let frame = match incoming {
                        Some(Ok(frame)) => frame,
                        Some(Err(FrameError::Io(e))) => {
                            tracing::info!(protocol = P::NAME, error = %e, "gateway link broke");
                            return;
                        }
                        Some(Err(e)) => {
                            let why = format!("{} gateway sent a malformed frame: {e}", P::NAME);
                            tracing::warn!("{why}; closing the link");
                            for (_, reply) in pending.drain() {
                                let _ = reply.send(Err(Lost::Broken(why.clone())));
                            }
                            return;
                        }
                        None => {
                            tracing::info!(protocol = P::NAME, "gateway closed the link");
                            return;
                        }
                    };
                    last_traffic = Instant::now();
                    if frame.command & RESPONSE != 0 {
                        if frame.command == P::ACTIVE_TEST | RESPONSE {
                            asked = None;
                            missed = 0;
                        }
                        if let Some(reply) = pending.remove(&frame.sequence) {
                            let _ = reply.send(Ok(frame));
                        }
                        continue;
                    }
                    if !self.answer(&mut framed, frame, &mut pending).await {
                        return;
                    }
                }
                () = tokio::time::sleep_until(deadline) => {
                    if self.active_test.is_none() && self.idle_unbind.is_some() {
                        // Callers that gave up waiting no longer count as traffic in flight.
                        pending.retain(|_, reply| !reply.is_closed());
                        if pending.is_empty() {
                            tracing::info!(protocol = P::NAME, "gateway link idle; logging out");
                            self.exit(&mut framed).await;
                            return;
                        }
                        last_traffic = Instant::now();
                        continue;
                    }
                    if asked.is_some() {
                        missed += 1;
                        if missed >= MISSED_ACTIVE_TESTS {
                            tracing::warn!(protocol = P::NAME, missed, "gateway answers no Active_Test; closing the link");
                            return;
                        }
                    }
                    let frame = self.request(P::ACTIVE_TEST, Vec::new());
                    if framed.send(frame).await.is_err() {
                        return;
                    }
                    asked = Some(Instant::now());
                }
            }
        }
    }

    /// Answers a request from the gateway; `false` when the link is over.
    async fn answer<S>(&self, framed: &mut Framed<S, P::Codec>, frame: Frame, pending: &mut Pending) -> bool
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let answer =
            |body| Frame { command: frame.command | RESPONSE, sequence: frame.sequence, stamp: frame.stamp, body };
        let (reply, go_on) = match frame.command {
            c if c == P::ACTIVE_TEST => (answer(self.protocol.active_test_answer()), true),
            c if c == P::EXIT => {
                tracing::info!(protocol = P::NAME, "gateway said Exit");
                (answer(Vec::new()), false)
            }
            c if c == P::DELIVER => match self.protocol.deliver(&frame.body) {
                Ok((report, body)) => {
                    self.hand_on(report);
                    (answer(body), true)
                }
                Err(e) => {
                    let why = format!("{} gateway sent a malformed Deliver: {e}", P::NAME);
                    tracing::warn!("{why}; closing the link");
                    for (_, reply) in pending.drain() {
                        let _ = reply.send(Err(Lost::Broken(why.clone())));
                    }
                    return false;
                }
            },
            other => {
                tracing::info!(protocol = P::NAME, command = %format!("{other:#010x}"), "gateway request ignored");
                return true;
            }
        };
        framed.send(reply).await.is_ok() && go_on
    }

    /// Hands a report on. The Deliver is answered with success either way: neither protocol
    /// has a status that makes the gateway send it again later, so a report nobody takes
    /// (no listener, or 1024 waiting) is logged and lost.
    fn hand_on(&self, report: Option<DeliveryReport>) {
        let Some(report) = report else {
            tracing::info!(protocol = P::NAME, "Deliver that is no status report, ignored");
            return;
        };
        match &self.reports {
            Some(reports) => {
                if let Err(e) = reports.try_send(report) {
                    tracing::warn!(protocol = P::NAME, error = %e, "status report not taken");
                }
            }
            None => tracing::info!(protocol = P::NAME, id = %report.message_id, "status report with no listener"),
        }
    }

    /// Says Exit; waits a moment for its answer so the gateway does not see a dropped link.
    async fn exit<S>(&self, framed: &mut Framed<S, P::Codec>)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        if framed.send(self.request(P::EXIT, Vec::new())).await.is_err() {
            return;
        }
        let answered = async {
            while let Some(Ok(frame)) = framed.next().await {
                if frame.command == P::EXIT | RESPONSE {
                    return true;
                }
            }
            false
        };
        let said = tokio::time::timeout(self.timeout, answered).await.unwrap_or(false);
        tracing::info!(protocol = P::NAME, answered = said, "gateway link closed with Exit");
    }
}
