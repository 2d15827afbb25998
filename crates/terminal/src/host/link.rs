//! The ISO 8583 link to the acquirer's host over TCP: one connection per message (as UnionPay
//! hosts expect), the frame's length and TPDU, the MAC on every message that carries one, and
//! the working keys from the sign-in, kept in memory only.

use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::authoriser::{
    AdviceRequest, AuthorisationError, AuthorisationRequest, AuthoriseFuture, Authoriser, AuthoriserInfo, ReversalAck,
    ReversalRequest, ReverseFuture, SettleFuture, SettlementRequest, SignInAnswer, SignInFuture, SignInRequest,
};
use super::codec::{pack, unpack, Message};
use super::frame::Framing;
use super::keys::{MasterKey, WorkingKeys};
use super::layout::Layout;
use super::mac::{self, MacAlgorithm};
use super::messages;

/// How the terminal reaches and speaks to its acquirer's host ([`crate::settings::HostSettings`]
/// builds it from `terminal.toml`).
#[derive(Clone)]
pub struct Iso8583Config {
    /// `host:port`.
    pub address: String,
    pub connect_timeout: Duration,
    /// From the request written to the whole answer read.
    pub answer_timeout: Duration,
    pub framing: Framing,
    pub layout: Layout,
    pub mac: MacAlgorithm,
    /// The message types that carry field 64, requests and answers (`0200`, `0210`…).
    pub mac_mtis: Vec<String>,
    /// The terminal master key the sign-in's working keys are encrypted under.
    pub master_key: MasterKey,
    /// Also send the PAN in field 2 (some acquirers want it beside track 2).
    pub send_pan: bool,
    /// The binary field an encrypting reader's KSN and encrypted track 2 go in.
    pub encrypted_card_field: u8,
}

impl fmt::Debug for Iso8583Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iso8583Config")
            .field("address", &self.address)
            .field("connect_timeout", &self.connect_timeout)
            .field("answer_timeout", &self.answer_timeout)
            .field("mac", &self.mac)
            .field("master_key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// MTIs that carry a MAC unless the settings say otherwise.
pub const DEFAULT_MAC_MTIS: [&str; 10] =
    ["0100", "0110", "0200", "0210", "0220", "0230", "0400", "0410", "0500", "0510"];

/// The acquirer link over ISO 8583. Signs in when it has no working keys (after a start, or when
/// the host asked for a new sign-in), and reports [`AuthorisationError::SignInRequired`] until
/// then, before anything is sent.
pub struct Iso8583Authoriser {
    config: Iso8583Config,
    keys: Mutex<Option<WorkingKeys>>,
}

impl fmt::Debug for Iso8583Authoriser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iso8583Authoriser").field("config", &self.config).finish_non_exhaustive()
    }
}

/// How one exchange with the host failed, before any answer was read.
enum Exchange {
    /// Nothing left the terminal.
    NotSent(String),
    /// The request may have reached the host; no answer came.
    NoAnswer(String),
}

impl Iso8583Authoriser {
    pub fn new(config: Iso8583Config) -> Self {
        Self { config, keys: Mutex::new(None) }
    }

    fn mac_key(&self) -> Result<Option<WorkingKeys>, AuthorisationError> {
        if self.config.mac == MacAlgorithm::None {
            return Ok(None);
        }
        let keys = self.keys.lock().map_err(|_| AuthorisationError::NotSent("key store poisoned".into()))?;
        keys.clone().map(Some).ok_or_else(|| AuthorisationError::SignInRequired("no working keys yet".into()))
    }

    /// Forgets the working keys: the next request signs in first.
    fn drop_keys(&self) {
        if let Ok(mut keys) = self.keys.lock() {
            *keys = None;
        }
    }

    fn carries_mac(&self, m: &Message) -> bool {
        self.config.mac != MacAlgorithm::None && self.config.mac_mtis.iter().any(|t| t == m.mti.as_str())
    }

    /// The framed bytes of `m`, with its MAC when its type carries one.
    fn seal(&self, m: &mut Message, keys: Option<&WorkingKeys>) -> Result<Vec<u8>, AuthorisationError> {
        let name = m.mti;
        let not_sent = |e: &dyn fmt::Display| AuthorisationError::NotSent(format!("the {name} cannot be encoded: {e}"));
        let mac_key = match keys {
            Some(k) if self.carries_mac(m) => Some(k.mak()),
            _ => None,
        };
        if mac_key.is_some() {
            m.set_bytes(64, vec![0; 8]);
        }
        let mut body = pack(m, &self.config.layout).map_err(|e| not_sent(&e))?;
        if let Some(key) = mac_key {
            mac::seal(self.config.mac, key, &mut body).map_err(|e| not_sent(&e))?;
        }
        self.config.framing.encode(&body).map_err(|e| not_sent(&e))
    }

    /// The answer in `payload` (after the length header), its MAC checked when its type
    /// carries one. An answer with 39 = A0 (the host could not check ours) may come without.
    fn open(&self, payload: &[u8], keys: Option<&WorkingKeys>) -> Result<Message, AuthorisationError> {
        let bad = |e: &dyn fmt::Display| AuthorisationError::BadAnswer(e.to_string());
        let body = self.config.framing.split(payload).map_err(|e| bad(&e))?;
        let answer = unpack(body, &self.config.layout).map_err(|e| bad(&e))?;
        if let (Some(k), true) = (keys, self.carries_mac(&answer)) {
            match answer.bytes(64) {
                Some(_) => {
                    if mac::verify(self.config.mac, k.mak(), mac::mab(body), &body[body.len() - 8..]).is_err() {
                        return Err(AuthorisationError::BadAnswer(format!(
                            "the {}'s MAC (field 64) is wrong: it may not come from the host",
                            answer.mti
                        )));
                    }
                }
                None if answer.text(39) == Some("A0") => {}
                None => {
                    return Err(AuthorisationError::BadAnswer(format!("the {} carries no MAC (field 64)", answer.mti)))
                }
            }
        }
        Ok(answer)
    }

    /// Writes `frame` on a new connection and reads one answer frame's payload.
    async fn exchange(&self, frame: &[u8]) -> Result<Vec<u8>, Exchange> {
        let address = &self.config.address;
        let stream = tokio::time::timeout(self.config.connect_timeout, TcpStream::connect(address))
            .await
            .map_err(|_| {
                Exchange::NotSent(format!(
                    "host {address} did not accept a connection within {:?}",
                    self.config.connect_timeout
                ))
            })?
            .map_err(|e| Exchange::NotSent(format!("host {address} cannot be reached: {e}")))?;
        let _ = stream.set_nodelay(true);
        let timeout = self.config.answer_timeout;
        tokio::time::timeout(timeout, self.write_and_read(stream, frame))
            .await
            .map_err(|_| Exchange::NoAnswer(format!("host {address} did not answer within {timeout:?}")))?
    }

    async fn write_and_read(&self, mut stream: TcpStream, frame: &[u8]) -> Result<Vec<u8>, Exchange> {
        let address = &self.config.address;
        // Once connected, any failure may follow a request the host did read.
        let lost = |e: std::io::Error| Exchange::NoAnswer(format!("connection to host {address} lost: {e}"));
        stream.write_all(frame).await.map_err(lost)?;
        stream.flush().await.map_err(lost)?;
        let mut header = vec![0u8; self.config.framing.length.size()];
        stream.read_exact(&mut header).await.map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => {
                Exchange::NoAnswer(format!("host {address} closed the connection without answering"))
            }
            _ => lost(e),
        })?;
        // A length that cannot be right is an answer we cannot read: the caller reverses.
        let len = self
            .config
            .framing
            .length_of(&header)
            .map_err(|e| Exchange::NoAnswer(format!("unreadable answer: {e}")))?;
        let mut payload = vec![0u8; len];
        stream.read_exact(&mut payload).await.map_err(lost)?;
        Ok(payload)
    }

    /// Sends `request` and opens its answer, which must be to it.
    async fn ask(&self, mut request: Message, keys: Option<&WorkingKeys>) -> Result<Message, AuthorisationError> {
        let frame = self.seal(&mut request, keys)?;
        let payload = self.exchange(&frame).await.map_err(|e| match e {
            Exchange::NotSent(m) => AuthorisationError::NotSent(m),
            Exchange::NoAnswer(m) => AuthorisationError::Unavailable(m),
        })?;
        let answer = self.open(&payload, keys)?;
        messages::check_answer_to(&answer, &request)?;
        Ok(answer)
    }

    /// A decline that asks for a new sign-in drops the keys first.
    fn declined(&self, code: &str) -> AuthorisationError {
        if messages::needs_sign_in(code) {
            self.drop_keys();
        }
        messages::declined(code)
    }
}

impl Authoriser for Iso8583Authoriser {
    fn info(&self) -> AuthoriserInfo {
        // Not the address: the journal routes each reversal to the authoriser of the same name,
        // and a host that moves to a new address must still get the reversals it is owed.
        AuthoriserInfo { name: "ISO 8583 acquirer host".into(), simulator: false }
    }

    fn longest_wait(&self) -> Duration {
        // A sign-in may come first: two exchanges.
        (self.config.connect_timeout + self.config.answer_timeout) * 2
    }

    fn authorise<'a>(&'a self, request: AuthorisationRequest<'a>) -> AuthoriseFuture<'a> {
        Box::pin(async move {
            let keys = self.mac_key()?;
            let card =
                messages::CardFields { send_pan: self.config.send_pan, encrypted: self.config.encrypted_card_field };
            let message = messages::financial(&request, card)?;
            let answer = self.ask(message, keys.as_ref()).await?;
            messages::approval(&answer).map_err(|e| match e {
                AuthorisationError::Declined { code, .. } => self.declined(&code),
                other => other,
            })
        })
    }

    fn advise_again<'a>(&'a self, advice: AdviceRequest<'a>) -> AuthoriseFuture<'a> {
        Box::pin(async move {
            let keys = self.mac_key()?;
            let message = messages::advice_again(&advice)?;
            let answer = self.ask(message, keys.as_ref()).await?;
            messages::approval(&answer).map_err(|e| match e {
                AuthorisationError::Declined { code, .. } => self.declined(&code),
                other => other,
            })
        })
    }

    fn settle<'a>(&'a self, request: SettlementRequest<'a>) -> SettleFuture<'a> {
        Box::pin(async move {
            let keys = self.mac_key()?;
            let message = messages::settlement(&request)?;
            let sent = super::totals::field48(request.totals, '0')?;
            let answer = self.ask(message, keys.as_ref()).await?;
            messages::settlement_answer(&answer, sent).map_err(|e| match e {
                AuthorisationError::Declined { code, .. } => self.declined(&code),
                other => other,
            })
        })
    }

    fn reverse<'a>(&'a self, reversal: ReversalRequest<'a>) -> ReverseFuture<'a> {
        Box::pin(async move {
            let trace = reversal.trace.ok_or_else(|| {
                AuthorisationError::NotSent(format!(
                    "authorisation {} was journalled without a trace number, which the host needs to find it",
                    reversal.request_id
                ))
            })?;
            let keys = self.mac_key()?;
            let message = messages::reversal(&reversal, trace)?;
            let answer = self.ask(message, keys.as_ref()).await?;
            match messages::response_code(&answer)? {
                // 25: the host holds no such transaction, so nothing is held on the card.
                code @ ("00" | "25") => Ok(ReversalAck {
                    reference: format!(
                        "0410 code {code} trace {:06}{}",
                        trace.trace,
                        answer.text(37).map(|r| format!(" rrn {r}")).unwrap_or_default()
                    ),
                }),
                code => Err(self.declined(code)),
            }
        })
    }

    fn sign_in<'a>(&'a self, request: SignInRequest<'a>) -> SignInFuture<'a> {
        Box::pin(async move {
            let double = self.config.mac == MacAlgorithm::X919;
            let message = messages::sign_in(&request, double)?;
            let answer = self.ask(message, None).await?;
            let code = messages::response_code(&answer)?;
            if code != "00" {
                return Err(messages::declined(code));
            }
            let field62 = answer.bytes(62).ok_or_else(|| {
                AuthorisationError::BadAnswer("the sign-in answer carries no working keys (field 62)".into())
            })?;
            let keys = WorkingKeys::from_field62(&self.config.master_key, field62)
                .map_err(|e| AuthorisationError::BadAnswer(format!("the sign-in's working keys: {e}")))?;
            let host_batch = answer.digits(60).and_then(|f| f.get(2..8)).and_then(|b| b.parse().ok());
            *self.keys.lock().map_err(|_| AuthorisationError::NotSent("key store poisoned".into()))? = Some(keys);
            Ok(SignInAnswer { host_batch })
        })
    }
}
