//! Resend (重发): one more delivery of a stored receipt to a new address, by the platform
//! (mutual TLS), the same signed receipt; the CLI's `terminal resend` and the reprint screen
//! both come here.

use ereceipt_core::model::DeliveryChoice;

use crate::client::ClientError;
use crate::outbox::{EntryState, OutboxError};
use crate::sync::Uploader;

/// How a resend ended when the platform was asked, or need not be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResendOutcome {
    /// The platform queued one more delivery.
    Queued { channel: String, delivery_id: String },
    /// The receipt is still on this terminal only (pending or refused): the platform cannot
    /// send what it does not hold. Nothing was asked.
    NotUploaded { state: EntryState },
}

/// Why a receipt was not resent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResendError {
    /// This terminal holds no receipt with this id.
    #[error("no receipt {0} on this terminal")]
    NotFound(String),
    /// The receipt has had as many deliveries as the platform allows.
    #[error("{0}")]
    Limit(String),
    /// The platform refused this resend (a pull choice, a receipt it does not hold from this
    /// terminal…), with its reason.
    #[error("{0}")]
    Refused(String),
    /// The platform could not be reached, or answered out of protocol: try again.
    #[error("{0}")]
    Unavailable(String),
    /// The outbox could not be read.
    #[error("{0}")]
    Outbox(#[from] OutboxError),
}

/// Asks the platform to deliver receipt `receipt_id` once more to `choice`, if the receipt is
/// uploaded; a receipt still on this terminal only is [`ResendOutcome::NotUploaded`].
pub async fn resend_receipt(
    uploader: &Uploader,
    receipt_id: &str,
    choice: &DeliveryChoice,
) -> Result<ResendOutcome, ResendError> {
    let entry = uploader.outbox.entry(receipt_id).await?;
    match entry {
        None => return Err(ResendError::NotFound(receipt_id.to_owned())),
        Some(e) if e.state != EntryState::Acked => return Ok(ResendOutcome::NotUploaded { state: e.state }),
        Some(_) => {}
    }
    match uploader.client().resend(receipt_id, &choice.to_string()).await {
        Ok(resent) => {
            tracing::info!(receipt = receipt_id, channel = resent.channel, "receipt resent to a new address");
            Ok(ResendOutcome::Queued { channel: resent.channel, delivery_id: resent.delivery_id })
        }
        Err(e) if matches!(&e, ClientError::Refused { code, .. } if code == "limit") => {
            Err(ResendError::Limit(e.to_string()))
        }
        Err(e @ ClientError::Refused { status, .. }) if status < 500 => Err(ResendError::Refused(e.to_string())),
        Err(e) => Err(ResendError::Unavailable(e.to_string())),
    }
}
