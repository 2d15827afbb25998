//! SGIP's way back: the SMG connects to the SP to bring status reports. This listener takes its
//! Bind (Login Type 2 with the login and password from the settings), answers each Report and
//! hands it on as the same [`DeliveryReport`] SMPP and SMGP produce, and answers Deliver and
//! Unbind.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::codec::Framed;

use super::protocol::{Frame, RESPONSE};
use super::sgip::{read_bind, read_report, result_body, SgipCodec, BIND, DELIVER, REPORT, SMG_TO_SP, UNBIND};
use super::sgip_settings::SgipSettings;
use super::GatewaySetupError;
use crate::infra::delivery::smpp::DeliveryReport;

/// A connection with no frame for this long is closed (the SMG unbinds after its reports).
const IDLE: Duration = Duration::from_secs(300);
/// SGIP result codes the listener answers with.
const OK: u8 = 0;
const BAD_LOGIN: u8 = 1;
const BAD_LOGIN_TYPE: u8 = 4;
const BAD_FORMAT: u8 = 5;

/// The SMG's login on the listener.
struct Credentials {
    login: String,
    password: String,
}

/// A bound report listener; [`ReportListener::spawn`] serves it.
pub struct ReportListener {
    listener: std::net::TcpListener,
    credentials: Arc<Credentials>,
    timeout: Duration,
}

impl ReportListener {
    /// Binds `report_listen` (checked settings: it and the SMG's login are set).
    pub fn bind(s: &SgipSettings) -> Result<Self, GatewaySetupError> {
        let (Some(addr), Some((login, password))) = (s.report_listen, s.report_credentials()) else {
            return Err(GatewaySetupError::Invalid("report_listen, report_login and report_password".into()));
        };
        let listener = std::net::TcpListener::bind(addr)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(|e| GatewaySetupError::Listen(format!("report_listen = {addr}: {e}")))?;
        Ok(Self {
            listener,
            credentials: Arc::new(Credentials { login, password }),
            timeout: Duration::from_secs(s.timeout_secs),
        })
    }

    /// The address bound (port 0 in the settings picks a free one).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Serves on a task of the current runtime until the receiver is dropped; the reports come
    /// out of the receiver.
    pub fn spawn(self) -> Result<mpsc::Receiver<DeliveryReport>, GatewaySetupError> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|e| GatewaySetupError::Listen(format!("report listener outside a runtime: {e}")))?;
        let _entered = runtime.enter();
        let listener = tokio::net::TcpListener::from_std(self.listener)
            .map_err(|e| GatewaySetupError::Listen(format!("report listener: {e}")))?;
        let (tx, rx) = mpsc::channel(1024);
        let (credentials, timeout) = (self.credentials, self.timeout);
        runtime.spawn(async move {
            loop {
                let accepted = tokio::select! {
                    accepted = listener.accept() => accepted,
                    () = tx.closed() => return,
                };
                match accepted {
                    Ok((stream, from)) => {
                        let _ = stream.set_nodelay(true);
                        tokio::spawn(serve(stream, from, credentials.clone(), tx.clone(), timeout));
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "SGIP report listener: accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        });
        Ok(rx)
    }
}

/// One SMG connection: Bind first (within `timeout`), then Reports, Delivers, Unbind.
async fn serve(
    stream: TcpStream,
    from: SocketAddr,
    credentials: Arc<Credentials>,
    reports: mpsc::Sender<DeliveryReport>,
    timeout: Duration,
) {
    let mut framed = Framed::new(stream, SgipCodec);
    let answer = |frame: &Frame, body: Vec<u8>| Frame {
        command: frame.command | RESPONSE,
        sequence: frame.sequence,
        stamp: frame.stamp,
        body,
    };
    let bind = match tokio::time::timeout(timeout, framed.next()).await {
        Ok(Some(Ok(frame))) if frame.command == BIND => frame,
        Ok(Some(Ok(frame))) => {
            tracing::warn!(%from, command = %format!("{:#x}", frame.command), "SGIP report listener: no Bind first");
            return;
        }
        _ => return,
    };
    let result = match read_bind(&bind.body) {
        Ok((SMG_TO_SP, login, password)) => {
            let same = |a: &str, b: &str| ereceipt_core::digest::constant_time_eq(a.as_bytes(), b.as_bytes());
            if same(&login, &credentials.login) & same(&password, &credentials.password) {
                OK
            } else {
                BAD_LOGIN
            }
        }
        Ok(_) => BAD_LOGIN_TYPE,
        Err(_) => BAD_FORMAT,
    };
    if framed.send(answer(&bind, result_body(result))).await.is_err() || result != OK {
        tracing::warn!(%from, result, "SGIP report listener: Bind refused");
        return;
    }
    loop {
        let frame = match tokio::time::timeout(IDLE, framed.next()).await {
            Ok(Some(Ok(frame))) => frame,
            Ok(Some(Err(e))) => {
                tracing::warn!(%from, error = %e, "SGIP report listener: malformed frame; closing");
                return;
            }
            Ok(None) | Err(_) => return,
        };
        let reply = match frame.command {
            REPORT => match read_report(&frame.body) {
                Ok(report) => {
                    hand_on(report, &reports);
                    answer(&frame, result_body(OK))
                }
                Err(e) => {
                    tracing::warn!(%from, error = %e, "SGIP report listener: malformed Report");
                    answer(&frame, result_body(BAD_FORMAT))
                }
            },
            DELIVER => {
                tracing::info!(%from, "SGIP Deliver (a message from a handset), not taken");
                answer(&frame, result_body(OK))
            }
            UNBIND => {
                let _ = framed.send(answer(&frame, Vec::new())).await;
                return;
            }
            c if c & RESPONSE != 0 => continue,
            _ => answer(&frame, result_body(BAD_FORMAT)),
        };
        if framed.send(reply).await.is_err() {
            return;
        }
    }
}

/// Hands a report on. The Report is answered with success either way, as SMGP's Deliver is:
/// a report nobody takes (1024 waiting) is logged and lost.
fn hand_on(report: Option<DeliveryReport>, reports: &mpsc::Sender<DeliveryReport>) {
    let Some(report) = report else {
        tracing::info!("SGIP Report on a forwarded Deliver, ignored");
        return;
    };
    if let Err(e) = reports.try_send(report) {
        tracing::warn!(error = %e, "SGIP status report not taken");
    }
}
