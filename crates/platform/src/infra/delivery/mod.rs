//! Delivery of receipts to customers (P2, P3): the push channels (email over SMTP, SMS over
//! SMPP 3.4, MMS over MM7) and the local outbox folder used when no server is configured. Each
//! channel turns one [`Outgoing`] message into one attempt with the peer and says whether the
//! peer accepted it, refused it for now (retry later) or for good.

pub mod email;
pub mod local;
pub mod mm7;
pub mod reports;
pub mod smpp;

/// What a customer receives about one receipt.
#[derive(Clone, Debug)]
pub struct Outgoing {
    /// Delivery id (unique per receipt and channel): peers that support it get it as a
    /// message id / client reference, so a retry after a crash can be recognised.
    pub delivery_id: String,
    pub receipt_id: String,
    pub merchant_name: String,
    /// Formatted amount with currency, e.g. "CNY 128.50".
    pub amount: String,
    /// Local time of the sale as printed, e.g. "2026-11-25 14:03".
    pub time_local: String,
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
