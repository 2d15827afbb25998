//! Email delivery (P2): one receipt becomes one bilingual MIME message with the slip shown
//! inline and the signed PNG attached, handed to an SMTP relay over STARTTLS or implicit TLS,
//! with optional AUTH.

mod body;
mod message;
#[cfg(test)]
pub(crate) mod tests;

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::response::{Category, Response};

use super::tls::is_loopback;
use super::{not_carried, Accepted, Channel, Message, ReceiptMessage, SendError, Sender, Sending};
use crate::infra::secret::Secret;
use crate::infra::setting;

/// How the connection to the relay is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Plain connection upgraded with STARTTLS, which is required (usually port 587).
    Starttls,
    /// TLS from the first byte (SMTPS, usually port 465).
    Implicit,
    /// No TLS at all: only for a relay on the loopback interface (tests, a local MTA), and
    /// never with credentials. [`EmailSender::new`] refuses it for any other host.
    None,
}

/// The `[platform.smtp]` settings: which relay to hand receipts to, and as whom.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    /// Relay host name or IP address; also the name its TLS certificate must carry.
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    /// AUTH user name; not set means no AUTH. Requires `password`.
    #[serde(default, deserialize_with = "setting::text")]
    pub username: Option<String>,
    #[serde(default, deserialize_with = "setting::secret")]
    pub password: Option<Secret>,
    /// The From of every receipt, e.g. `ereceipt <receipts@example.com>`.
    pub from: String,
    /// Limit for one attempt, seconds: connecting, TLS, AUTH and the transfer together.
    pub timeout_secs: u64,
    /// A PEM file of CA certificates trusted in addition to the built-in web PKI roots (a
    /// private relay's CA, the tests' CA).
    #[serde(default, deserialize_with = "setting::path")]
    pub extra_ca_pem: Option<PathBuf>,
}

/// Why an [`EmailSender`] could not be built from its settings.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmailSetupError {
    /// `from` is not a mailbox (`Name <user@domain>` or `user@domain`).
    #[error("smtp.from {0:?} is not an email address: {1}")]
    From(String, #[source] lettre::address::AddressError),
    /// The extra CA file could not be read or holds no usable certificate.
    #[error("smtp.extra_ca_pem {0}: {1}")]
    ExtraCa(PathBuf, String),
    /// The TLS library refused the parameters.
    #[error("smtp TLS setup: {0}")]
    Tls(#[source] lettre::transport::smtp::Error),
    /// A combination of settings that cannot work or would be unsafe.
    #[error("smtp settings: {0}")]
    Invalid(String),
}

/// How long the polite QUIT after an accepted message may take; nobody waits for it.
const QUIT_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends receipts through one SMTP relay. A connection is opened per message, so a sender can
/// be shared by concurrent workers.
pub struct EmailSender {
    host: String,
    port: u16,
    tls: Tls,
    credentials: Option<Credentials>,
    hello: ClientId,
    from: Mailbox,
    timeout: Duration,
}

impl std::fmt::Debug for EmailSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailSender").field("from", &self.from.to_string()).finish_non_exhaustive()
    }
}

impl EmailSender {
    /// Checks the settings and reads the extra CA; does not contact the relay.
    pub fn new(s: &SmtpSettings) -> Result<Self, EmailSetupError> {
        let from = sender_mailbox(&s.from)?;
        if s.timeout_secs == 0 {
            return Err(EmailSetupError::Invalid("timeout_secs must be at least 1".into()));
        }
        let credentials = match (s.username.as_deref(), s.password.as_ref().map(|p| p.0.as_str())) {
            (Some(u), Some(p)) => Some(Credentials::new(u.to_owned(), p.to_owned())),
            (None, None) => None,
            _ => return Err(EmailSetupError::Invalid("username and password go together".into())),
        };
        let tls = match s.tls {
            TlsMode::Starttls => Tls::Required(tls_parameters(s)?),
            TlsMode::Implicit => Tls::Wrapper(tls_parameters(s)?),
            TlsMode::None if !is_loopback(&s.host) => {
                return Err(EmailSetupError::Invalid(format!(
                    "tls = \"none\" is only allowed for a relay on loopback, not {:?}",
                    s.host
                )))
            }
            TlsMode::None if credentials.is_some() => {
                return Err(EmailSetupError::Invalid("credentials are never sent without TLS".into()))
            }
            TlsMode::None => Tls::None,
        };
        let timeout = Duration::from_secs(s.timeout_secs);
        Ok(Self { host: s.host.clone(), port: s.port, tls, credentials, hello: ClientId::default(), from, timeout })
    }

    /// The MIME message for `out`, as it would be sent (pure; a fresh `Date` each call).
    pub fn message(&self, out: &ReceiptMessage) -> Result<lettre::Message, SendError> {
        receipt_email(&self.from, out)
    }

    /// One attempt to hand `out` to the relay. A timeout after the message went out may
    /// hide a delivery; the retry then carries the same Message-ID.
    ///
    /// Returns as soon as the relay's final reply to the data arrives: the QUIT that ends the
    /// session is left to a background task, so the caller can record the acceptance without
    /// another round trip in between (a crash in that window is what could make a resend).
    pub async fn send(&self, out: &ReceiptMessage) -> Result<Accepted, SendError> {
        let message = self.message(out)?;
        let attempt = async {
            let mut conn = self.connect().await?;
            let response = conn.send(message.envelope(), &message.formatted()).await?;
            tokio::spawn(async move {
                let _ = tokio::time::timeout(QUIT_TIMEOUT, conn.quit()).await;
            });
            Ok::<_, lettre::transport::smtp::Error>(response)
        };
        // lettre bounds only the TCP connect, not the replies it waits for.
        let response = tokio::time::timeout(self.timeout, attempt)
            .await
            .map_err(|_| SendError::Temporary(format!("no answer from the relay within {:?}", self.timeout)))?
            .map_err(classify)?;
        Ok(accepted(&response))
    }

    /// A session ready for MAIL FROM: connected, greeted, TLS as configured, logged in.
    async fn connect(&self) -> Result<AsyncSmtpConnection, lettre::transport::smtp::Error> {
        let implicit = match &self.tls {
            Tls::Wrapper(parameters) => Some(parameters.clone()),
            _ => None,
        };
        let server = (self.host.as_str(), self.port);
        let mut conn =
            AsyncSmtpConnection::connect_tokio1(server, Some(self.timeout), &self.hello, implicit, None).await?;
        if let Tls::Required(parameters) = &self.tls {
            // Fails when the relay does not offer STARTTLS: never falls back to plain text.
            conn.starttls(parameters.clone(), &self.hello).await?;
        }
        if let Some(credentials) = &self.credentials {
            conn.auth(DEFAULT_MECHANISMS, credentials).await?;
        }
        Ok(conn)
    }
}

impl Sender for EmailSender {
    fn send<'a>(&'a self, msg: &'a Message) -> Sending<'a> {
        match msg {
            // The inherent `send`, which takes the receipt itself.
            Message::Receipt(out) => Box::pin(EmailSender::send(self, out)),
            other => Box::pin(std::future::ready(Err(not_carried(Channel::Email, other)))),
        }
    }
}

/// The From of every receipt, parsed from `smtp.from` (or `delivery.email_from`).
pub fn sender_mailbox(from: &str) -> Result<Mailbox, EmailSetupError> {
    from.parse().map_err(|e| EmailSetupError::From(from.to_owned(), e))
}

/// The receipt email for `out` from `from`, as the SMTP channel sends it and the local outbox
/// keeps it (pure; a fresh `Date` each call). Needs no relay settings.
pub fn receipt_email(from: &Mailbox, out: &ReceiptMessage) -> Result<lettre::Message, SendError> {
    message::compose(from, out)
}

fn tls_parameters(s: &SmtpSettings) -> Result<TlsParameters, EmailSetupError> {
    let mut builder = TlsParameters::builder(s.host.clone());
    if let Some(path) = &s.extra_ca_pem {
        let ca_error = |e: &dyn std::fmt::Display| EmailSetupError::ExtraCa(path.clone(), e.to_string());
        let pem = std::fs::read(path).map_err(|e| ca_error(&e))?;
        if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
            return Err(ca_error(&"no PEM certificate in the file"));
        }
        builder = builder.add_root_certificate(Certificate::from_pem(&pem).map_err(|e| ca_error(&e))?);
    }
    builder.build_rustls().map_err(EmailSetupError::Tls)
}

/// 5xx is final for this message, except the x3x codes of RFC 4954 (530 authentication
/// required, 535 credentials invalid, …): those concern our account at the relay, which an
/// operator can fix, so the receipt stays queued. Everything else (4xx, refused connection,
/// timeout, TLS failure, a relay without STARTTLS) may work later.
fn classify(e: lettre::transport::smtp::Error) -> SendError {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text = format!("{text}: {s_text}");
        }
        source = s.source();
    }
    match e.status() {
        Some(code) if e.is_permanent() && code.category != Category::Unspecified3 => SendError::Permanent(text),
        _ => SendError::Temporary(text),
    }
}

/// The relay's final answer as one line, and its queue id when it names one: Postfix and
/// aiosmtpd say "queued as ID", Exim "id=ID".
fn accepted(r: &Response) -> Accepted {
    let code = u16::from(r.code());
    let answer = std::iter::once(code.to_string()).chain(r.message().map(str::to_owned)).collect::<Vec<_>>().join(" ");
    let peer_id = r.message().find_map(queue_id);
    Accepted { peer_id, answer }
}

fn queue_id(line: &str) -> Option<String> {
    let rest = match line.split_once("queued as ") {
        Some((_, rest)) => rest,
        None => line.split_whitespace().find_map(|w| w.strip_prefix("id="))?,
    };
    let id: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c)).collect();
    let id = id.trim_end_matches('.');
    (!id.is_empty()).then(|| id.to_owned())
}
