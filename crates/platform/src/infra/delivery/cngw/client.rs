//! A gateway client over one connection, for either protocol: texts cut into UCS-2 parts, a
//! window of submits in flight, pacing to the contracted rate, a pause and retry when the
//! gateway asks to slow down, and a fresh login when the link is lost, without sending twice
//! a part the gateway already took.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, Mutex, Semaphore};
use tokio::time::Instant;

use super::protocol::{Part, Protocol, StatusKind, RESPONSE};
use super::session::{Lost, OpenError, Peer, Session};
use super::settings::GatewaySettings;
use crate::infra::delivery::segment::{reference, ucs2_segments, MAX_SEGMENTS};
use crate::infra::delivery::smpp::DeliveryReport;
use crate::infra::delivery::{tls, Accepted, SendError};

/// Parts the gateway took of a text whose later parts it refused: a retry of the same delivery
/// sends only the rest.
struct Progress {
    delivery_id: String,
    text: String,
    ids: Vec<String>,
}

/// How many partly sent texts are remembered.
const PROGRESS_KEPT: usize = 64;

/// Sends texts over one gateway connection, opened on first use and again after a failure.
pub struct GatewayClient<P: Protocol> {
    protocol: Arc<P>,
    peer: Peer,
    source: String,
    window: Semaphore,
    /// Time between two submits; zero: no pacing.
    interval: Duration,
    next_slot: Mutex<Instant>,
    /// The first pause after a flow-control answer; doubled on each further one.
    throttle_pause: Duration,
    session: Mutex<Option<Session>>,
    reports: std::sync::Mutex<Option<mpsc::Sender<DeliveryReport>>>,
    progress: std::sync::Mutex<VecDeque<Progress>>,
}

/// Why a client could not be built from its settings.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewaySetupError {
    /// A combination of settings that cannot work or would be unsafe.
    #[error("gateway settings: {0}")]
    Invalid(String),
    /// The TLS client could not be set up (the CA file is unreadable or holds no certificate).
    #[error("gateway TLS: {0}")]
    Tls(String),
    /// SGIP's report listener could not listen (address in use, not this host's).
    #[error("gateway report listener: {0}")]
    Listen(String),
}

impl<P: Protocol> GatewayClient<P> {
    /// Checks the settings and reads the CA file; logs in on its first send.
    pub(super) fn build(protocol: P, s: &GatewaySettings) -> Result<Self, GatewaySetupError> {
        s.check().map_err(GatewaySetupError::Invalid)?;
        let tls = match s.tls {
            crate::infra::delivery::smpp::SmppTls::Required => {
                let config = tls::client_config(s.extra_ca_pem.as_deref()).map_err(GatewaySetupError::Tls)?;
                let name = s.server_name.as_deref().unwrap_or(&s.host);
                let bare = name.trim_start_matches('[').trim_end_matches(']').to_string();
                let name = rustls::pki_types::ServerName::try_from(bare)
                    .map_err(|e| GatewaySetupError::Invalid(format!("server_name {name:?}: {e}")))?;
                Some((tokio_rustls::TlsConnector::from(Arc::new(config)), name))
            }
            crate::infra::delivery::smpp::SmppTls::None => None,
        };
        let peer = Peer {
            host: s.host.clone(),
            port: s.port,
            account: s.account.clone(),
            secret: s.secret.0.clone(),
            active_test: (s.active_test_secs > 0).then(|| Duration::from_secs(s.active_test_secs)),
            idle_unbind: None,
            sequence: Arc::default(),
            timeout: Duration::from_secs(s.timeout_secs),
            tls,
        };
        let interval = match s.submits_per_second {
            0 => Duration::ZERO,
            n => Duration::from_secs(1) / n,
        };
        Ok(GatewayClient {
            protocol: Arc::new(protocol),
            peer,
            source: s.source_number.clone(),
            window: Semaphore::new(s.window),
            interval,
            next_slot: Mutex::new(Instant::now()),
            throttle_pause: Duration::from_secs(1),
            session: Mutex::new(None),
            reports: std::sync::Mutex::new(None),
            progress: std::sync::Mutex::new(VecDeque::new()),
        })
    }

    /// Logs out (SGIP Unbind) after `idle` without traffic, instead of keeping the link with
    /// Active_Tests; the next send logs in again.
    pub(super) fn with_idle_unbind(mut self, idle: Duration) -> Self {
        self.peer.active_test = None;
        self.peer.idle_unbind = Some(idle);
        self
    }

    /// Replaces the first pause after a flow-control answer (1 s).
    pub fn with_throttle_pause(mut self, pause: Duration) -> Self {
        self.throttle_pause = pause;
        self
    }

    /// Status reports from now on: the next login asks for them (SMGP LoginMode 2; CMPP
    /// gateways send them on any connection). A second call replaces the first channel.
    pub fn delivery_reports(&self) -> mpsc::Receiver<DeliveryReport> {
        let (tx, rx) = mpsc::channel(1024);
        *self.reports.lock().unwrap_or_else(|e| e.into_inner()) = Some(tx);
        rx
    }

    /// Submits `text` to an E.164 number of mainland China ("+86…"; the gateway gets the
    /// national number). `Accepted::peer_id` holds the gateway's message ids, one per part in
    /// order, joined by commas, in the form the status reports carry. A retry with the same
    /// `delivery_id` and text uses the same concatenation reference and skips the parts the
    /// gateway already took.
    pub async fn send_text(&self, delivery_id: &str, recipient: &str, text: &str) -> Result<Accepted, SendError> {
        let dest = national_number(recipient)?;
        let parts = ucs2_segments(text, reference(delivery_id));
        if parts.iter().map(|p| p.text.as_str()).collect::<String>() != text {
            return Err(SendError::Permanent(format!("text longer than {MAX_SEGMENTS} SMS")));
        }
        let total = u8::try_from(parts.len()).unwrap_or(u8::MAX);
        let mut ids = self.take_progress(delivery_id, text);
        let mut reopened = false;
        let mut pause = self.throttle_pause;
        let mut paused = Duration::ZERO;
        while let Some(segment) = parts.get(ids.len()) {
            let number = u8::try_from(ids.len() + 1).unwrap_or(u8::MAX);
            let part =
                Part { dest: &dest, source: &self.source, udh: segment.udh, payload: &segment.payload, total, number };
            let body = self.protocol.submit(&part).map_err(|e| SendError::Permanent(format!("{}: {e}", P::NAME)))?;
            let outcome = self.submit(body).await;
            let (session_was_fresh, answer) = match outcome {
                Ok(pair) => pair,
                Err(e) => {
                    self.keep_progress(delivery_id, text, ids);
                    return Err(e);
                }
            };
            let lost = match answer {
                Ok(frame) if frame.command == P::SUBMIT | RESPONSE => {
                    let (id, status) = self.protocol.submit_answer(&frame).map_err(|e| {
                        SendError::Temporary(format!("{} gateway sent a malformed Submit_Resp: {e}", P::NAME))
                    })?;
                    let (kind, name) = self.protocol.status(status);
                    match kind {
                        StatusKind::Ok => {
                            ids.push(id);
                            pause = self.throttle_pause;
                            continue;
                        }
                        StatusKind::Throttled if paused + pause < self.peer.timeout => {
                            tracing::warn!(protocol = P::NAME, status = %name, pause_ms = pause.as_millis(), "gateway asks to slow down");
                            tokio::time::sleep(pause).await;
                            paused += pause;
                            pause *= 2;
                            continue;
                        }
                        StatusKind::Permanent => {
                            self.keep_progress(delivery_id, text, ids);
                            return Err(SendError::Permanent(name));
                        }
                        StatusKind::Throttled | StatusKind::Temporary => {
                            self.keep_progress(delivery_id, text, ids);
                            return Err(SendError::Temporary(name));
                        }
                    }
                }
                Ok(frame) => {
                    Lost::Broken(format!("{} gateway answered a Submit with command {:#010x}", P::NAME, frame.command))
                }
                Err(lost) => lost,
            };
            self.drop_session().await;
            // A link the gateway had dropped while idle, or dropped after answering: one fresh
            // login, the part again (the gateway never answered it, so it did not take it).
            if lost == Lost::Closed && !session_was_fresh && !reopened {
                tracing::info!(protocol = P::NAME, "gateway link was closed; logging in again");
                reopened = true;
                continue;
            }
            self.keep_progress(delivery_id, text, ids);
            return Err(SendError::Temporary(match lost {
                Lost::Closed => format!("{} gateway closed the connection before answering", P::NAME),
                Lost::Timeout => format!(
                    "no {} Submit_Resp within {} s (the gateway may have taken it: a retry can duplicate)",
                    P::NAME,
                    self.peer.timeout.as_secs()
                ),
                Lost::Broken(why) => why,
            }));
        }
        let answer = format!("{} Submit_Resp status 0: {} SMS, message id {}", P::NAME, ids.len(), ids.join(","));
        Ok(Accepted { peer_id: Some(ids.join(",")), answer })
    }

    /// One submit inside the window and the pacing: whether the session was opened for it, and
    /// the answer.
    async fn submit(&self, body: Vec<u8>) -> Result<(bool, Result<super::protocol::Frame, Lost>), SendError> {
        let _permit = self.window.acquire().await.map_err(|_| SendError::Temporary("client closed".into()))?;
        self.pace().await;
        let (session, fresh) = self.session().await?;
        Ok((fresh, session.call(P::SUBMIT, body, self.peer.timeout).await))
    }

    /// Waits for this submit's slot at the contracted rate.
    async fn pace(&self) {
        if self.interval.is_zero() {
            return;
        }
        let slot = {
            let mut next = self.next_slot.lock().await;
            let slot = (*next).max(Instant::now());
            *next = slot + self.interval;
            slot
        };
        tokio::time::sleep_until(slot).await;
    }

    /// The open session, logging in if there is none (then `true`).
    async fn session(&self) -> Result<(Session, bool), SendError> {
        let reports = self.reports.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut current = self.session.lock().await;
        if let Some(session) = current.as_ref().filter(|s| s.serves(reports.as_ref())) {
            return Ok((session.clone(), false));
        }
        *current = None;
        let session = Session::open(&self.peer, self.protocol.clone(), reports).await.map_err(|e| match e {
            OpenError::Network(e) => SendError::Temporary(format!("{} gateway unreachable: {e}", P::NAME)),
            OpenError::Tls(e) => SendError::Temporary(format!("{} gateway TLS: {e}", P::NAME)),
            OpenError::Refused(StatusKind::Permanent, name) => {
                SendError::Permanent(format!("{} login refused: {name}", P::NAME))
            }
            OpenError::Refused(_, name) => SendError::Temporary(format!("{} login refused: {name}", P::NAME)),
            OpenError::Settings(e) => SendError::Permanent(format!("{} settings: {e}", P::NAME)),
        })?;
        *current = Some(session.clone());
        Ok((session, true))
    }

    async fn drop_session(&self) {
        *self.session.lock().await = None;
    }

    fn take_progress(&self, delivery_id: &str, text: &str) -> Vec<String> {
        let mut progress = self.progress.lock().unwrap_or_else(|e| e.into_inner());
        match progress.iter().position(|p| p.delivery_id == delivery_id) {
            Some(i) => match progress.remove(i) {
                Some(p) if p.text == text => p.ids,
                _ => Vec::new(),
            },
            None => Vec::new(),
        }
    }

    fn keep_progress(&self, delivery_id: &str, text: &str, ids: Vec<String>) {
        if ids.is_empty() {
            return;
        }
        let mut progress = self.progress.lock().unwrap_or_else(|e| e.into_inner());
        if progress.len() >= PROGRESS_KEPT {
            progress.pop_front();
        }
        progress.push_back(Progress { delivery_id: delivery_id.into(), text: text.into(), ids });
    }
}

/// The national number of a mainland China E.164 number: "+8613300000000" → "13300000000".
/// The carriers' gateways reach only their own country's numbers; anything else (another
/// country, not a number) is refused for good, so the router sends it by SMPP instead.
pub fn national_number(recipient: &str) -> Result<String, SendError> {
    let r = recipient.trim();
    let national = r.strip_prefix("+86").or_else(|| r.strip_prefix("0086")).unwrap_or(r);
    let mobile = national.len() == 11 && national.starts_with('1') && national.bytes().all(|b| b.is_ascii_digit());
    if (r.starts_with('+') && !r.starts_with("+86")) || !mobile {
        return Err(SendError::Permanent(format!("not a mainland China mobile number: {recipient:?}")));
    }
    Ok(national.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_mainland_mobile_numbers_become_national_numbers() {
        assert_eq!(national_number("+8613300000000").unwrap(), "13300000000");
        assert_eq!(national_number("13800138000").unwrap(), "13800138000");
        assert_eq!(national_number("008618912345678").unwrap(), "18912345678");
        for bad in ["+85291234567", "+1415555012", "+86010123456", "+86133000000001", "abc", ""] {
            assert!(matches!(national_number(bad), Err(SendError::Permanent(_))), "{bad}");
        }
    }
}
