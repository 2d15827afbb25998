//! Delivery to customers (P2, P3): the push channels (email over SMTP, SMS over SMPP 3.4 or the
//! carriers' SMGP 3.0 and CMPP 3.0 gateways, MMS over MM7) and the local outbox folder used when
//! a channel has no server. Every way of sending is a [`Sender`] (lettre's `AsyncTransport`
//! pattern): it turns one [`Message`] into one attempt with the peer and says whether the peer
//! accepted it, refused it for now (retry later) or for good. A new way of sending is one module
//! implementing [`Sender`]; a new channel is one more [`Channel`] arm. SMS go through
//! [`router::SmsRouter`], which picks the carrier's gateway (a [`router::TextSender`]) and
//! template by the recipient's number.

pub mod cngw;
pub mod email;
pub mod local;
pub mod mm7;
pub mod reports;
pub mod router;
pub mod segment;
pub mod smpp;
mod tls;

use std::future::Future;
use std::pin::Pin;

pub use crate::domain::delivery::Channel;

/// What goes to a customer.
#[derive(Clone, Debug)]
pub enum Message {
    /// A stored receipt, pushed by the delivery worker.
    Receipt(ReceiptMessage),
    /// A code to log in to the customer pages, texted on request.
    LoginCode(LoginCode),
}

impl Message {
    /// Unique per message: peers that support it get it as a message id / client reference, so
    /// a retry after a crash can be recognised.
    pub fn delivery_id(&self) -> &str {
        match self {
            Message::Receipt(r) => &r.delivery_id,
            Message::LoginCode(c) => &c.delivery_id,
        }
    }

    /// An E.164 number ("+8613800138000") or an email address.
    pub fn recipient(&self) -> &str {
        match self {
            Message::Receipt(r) => &r.recipient,
            Message::LoginCode(c) => &c.recipient,
        }
    }

    /// The message as one short text (an SMS, a line of the local outbox's log).
    pub fn text(&self) -> String {
        match self {
            Message::Receipt(r) => smpp::SmsSender::text(r),
            Message::LoginCode(c) => c.text(),
        }
    }
}

/// A login code for the customer pages.
#[derive(Clone, Debug)]
pub struct LoginCode {
    /// `login.CODE_ID`.
    pub delivery_id: String,
    pub recipient: String,
    /// The six digits.
    pub code: String,
    /// The page where the code is entered.
    pub link: String,
}

impl LoginCode {
    /// The text: bilingual, with the code first so handsets can offer to fill it in.
    pub fn text(&self) -> String {
        let (code, link) = (&self.code, &self.link);
        format!("【电子签购单】验证码 {code}，10分钟内有效。Receipt login code {code}, valid 10 min: {link}")
    }
}

/// What a customer receives about one receipt.
#[derive(Clone, Debug)]
pub struct ReceiptMessage {
    /// Delivery id (unique per receipt and channel): peers that support it get it as a
    /// message id / client reference, so a retry after a crash can be recognised.
    pub delivery_id: String,
    pub receipt_id: String,
    pub merchant_name: String,
    /// Formatted amount with currency, e.g. "CNY 128.50".
    pub amount: String,
    /// Local time of the sale as printed, e.g. "2026-11-25 14:03".
    pub time_local: String,
    /// The card as stored, BIN and last 4 with the middle masked ("622202******3446").
    pub masked_pan: String,
    /// The code that, with the recipient's number, opens this receipt
    /// ([`crate::domain::pull_code`]): what a link-free SMS carries instead of the link.
    pub pull_code: String,
    /// Short link to the receipt in the portal.
    pub link: String,
    /// The watermarked receipt image.
    pub png: Vec<u8>,
    /// Where it goes: an E.164 number ("+8613800138000") or an email address.
    pub recipient: String,
}

/// The peer took the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// The peer's id for it (SMTP queue id, SMPP message_id, MM7 MessageID), if it gave one.
    pub peer_id: Option<String>,
    /// The peer's answer, for the delivery history ("250 2.0.0 Ok: queued as …").
    pub answer: String,
}

/// The peer did not take the message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// Try again later: connection refused, timeout, 4xx, throttling, queue full.
    #[error("temporary failure: {0}")]
    Temporary(String),
    /// Will never work: bad address, 5xx permanent refusal, rejected content.
    #[error("permanent failure: {0}")]
    Permanent(String),
}

/// The future of one attempt; boxed so that [`Sender`] can be a trait object, one chosen per
/// channel at start.
pub type Sending<'a> = Pin<Box<dyn Future<Output = Result<Accepted, SendError>> + Send + 'a>>;

/// One way of sending messages: an SMTP relay, an SMSC, an MMSC, the local folder.
pub trait Sender: Send + Sync {
    /// One attempt to hand `msg` to the peer.
    fn send<'a>(&'a self, msg: &'a Message) -> Sending<'a>;

    /// What an earlier attempt at `msg` that ended without a recorded outcome (the worker was
    /// killed) already delivered, when this sender can tell: the local folder can look; a server
    /// cannot be asked, so the default says nothing and the message goes again.
    fn already_sent(&self, _msg: &Message) -> Option<Accepted> {
        None
    }
}

/// The error for a message a sender cannot carry (a login code by MMS): never retried.
pub(crate) fn not_carried(channel: Channel, msg: &Message) -> SendError {
    let what = match msg {
        Message::Receipt(_) => "receipts",
        Message::LoginCode(_) => "login codes",
    };
    SendError::Permanent(format!("{what} do not go by {channel}"))
}
