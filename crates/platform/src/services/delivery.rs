//! Delivery workers: claim one due delivery, build the message from the stored receipt, hand it
//! to the channel (or the local outbox folder when the channel has no server), record the
//! answer. `try_execute_task` is one step, so tests drive it exactly; `run` loops, woken at once
//! when a receipt is stored (real time) and otherwise polling for retries that came due.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ereceipt_core::model::{MoneyLayout, TimeLayout};
use rand::Rng;
use tokio::sync::mpsc;

use crate::domain::delivery::DeliveryState;
use crate::infra::delivery::email::{sender_mailbox, EmailSender, EmailSetupError};
use crate::infra::delivery::local::LocalOutbox;
use crate::infra::delivery::mm7::MmsSender;
use crate::infra::delivery::smpp::{DeliveryReport, SmppSetupError, SmsSender};
use crate::infra::delivery::{Accepted, Channel, Message, ReceiptMessage, SendError, Sender};
use crate::infra::store::{DeliveryRow, Store, StoreError};

mod settings;
#[cfg(test)]
pub(crate) mod tests;

pub use settings::{attempt_limit, DeliverySettings};

/// One sender per channel, chosen once at start: the channel's server where one is configured,
/// the local outbox folder otherwise.
pub struct Channels {
    pub email: Box<dyn Sender>,
    pub sms: Box<dyn Sender>,
    pub mms: Box<dyn Sender>,
    /// Base URL of the portal, for the link in messages.
    pub portal_url: String,
    /// Key of the link tokens that let a message's holder open its receipt
    /// ([`crate::services::links::receipt_link`]); the platform's `link.key`.
    pub link_key: zeroize::Zeroizing<Vec<u8>>,
    /// Days a message's link opens its receipt, counted from when the receipt was stored
    /// (`delivery.link_days`), so every attempt of a delivery sends the same link.
    pub link_days: u32,
    /// How long a worker's claim on a delivery lasts (`delivery.lease_seconds`); each attempt
    /// is cut off at [`attempt_limit`] of it.
    pub lease: Duration,
    /// The SMSC's delivery receipts when they were asked for (`smpp.registered_delivery`),
    /// until the task that records them takes them.
    sms_reports: std::sync::Mutex<Option<mpsc::Receiver<DeliveryReport>>>,
}

impl Channels {
    /// The sender of `channel`.
    pub fn sender(&self, channel: Channel) -> &dyn Sender {
        match channel {
            Channel::Email => self.email.as_ref(),
            Channel::Sms => self.sms.as_ref(),
            Channel::Mms => self.mms.as_ref(),
        }
    }

    /// The SMSC's delivery receipts, once (`None` when not asked for or already taken).
    pub fn take_sms_reports(&self) -> Option<mpsc::Receiver<DeliveryReport>> {
        self.sms_reports.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// Why the channels could not be set up from their settings.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChannelsError {
    /// `delivery.email_from` is not a mailbox.
    #[error("email: {0}")]
    EmailFrom(#[source] EmailSetupError),
    /// The `[delivery.smtp]` section cannot work (bad sender, CA file, TLS or AUTH settings).
    #[error("smtp: {0}")]
    Smtp(#[source] EmailSetupError),
    /// The `[delivery.smpp]` section cannot work or would be unsafe (plain TCP away from
    /// loopback, CA file).
    #[error("smpp: {0}")]
    Smpp(#[source] SmppSetupError),
    /// The `[delivery.mm7]` section cannot work (URL scheme, VASP id, CA certificates).
    #[error("mm7: {0}")]
    Mm7(#[source] SendError),
}

/// The channels as configured: servers where set, the local outbox folder `outbox` otherwise.
/// Links in messages point to `delivery.portal_url`, else to `https://` `listen`.
pub fn channels(
    d: &DeliverySettings,
    outbox: &Path,
    listen: std::net::SocketAddr,
    link_key: &[u8],
) -> Result<Channels, ChannelsError> {
    let portal_url = d.portal_url.as_ref().map_or_else(|| format!("https://{listen}"), |u| u.as_str().to_owned());
    // Checked even with a relay configured: a bad sender address is a settings error either way.
    let from = sender_mailbox(&d.email_from).map_err(ChannelsError::EmailFrom)?;
    let email: Box<dyn Sender> = match &d.smtp {
        Some(s) => Box::new(EmailSender::new(s).map_err(ChannelsError::Smtp)?),
        None => Box::new(LocalOutbox::email(outbox, from)),
    };
    let mut sms_reports = None;
    let sms: Box<dyn Sender> = match &d.smpp {
        Some(s) => {
            let sender = SmsSender::new(s).map_err(ChannelsError::Smpp)?;
            if s.registered_delivery {
                // Makes the session bind as a transceiver, so the receipts can come back.
                sms_reports = Some(sender.delivery_reports());
            }
            Box::new(sender)
        }
        None => Box::new(LocalOutbox::sms(outbox)),
    };
    let mms: Box<dyn Sender> = match &d.mm7 {
        Some(s) => Box::new(MmsSender::new(s).map_err(ChannelsError::Mm7)?),
        None => Box::new(LocalOutbox::mms(outbox)),
    };
    Ok(Channels {
        email,
        sms,
        mms,
        portal_url,
        link_key: zeroize::Zeroizing::new(link_key.to_vec()),
        link_days: d.link_days,
        lease: d.lease(),
        sms_reports: std::sync::Mutex::new(sms_reports),
    })
}

/// What one step did.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Nothing was due.
    Idle,
    /// The peer accepted the message.
    Sent(String),
    /// A temporary failure; queued again.
    Retry { delivery_id: String, error: String },
    /// Given up: permanent failure or the retry horizon passed.
    Failed { delivery_id: String, error: String },
    /// The claim was lost meanwhile (another worker took over after the lease ran out).
    Lost(String),
}

/// Capped exponential backoff with jitter for deliveries: 10 s, 20 s, … up to 30 min.
pub fn backoff_ms(attempts: i64, jitter: f64) -> i64 {
    let exp = attempts.clamp(1, 20) - 1;
    let base = (10_000_i64.saturating_mul(1_i64 << exp.min(18))).min(30 * 60_000);
    base / 2 + (base as f64 / 2.0 * jitter.clamp(0.0, 1.0)) as i64
}

/// The receipt message for delivery `d`, or `None` when its receipt is gone.
async fn receipt_message(store: &Store, d: &DeliveryRow, channels: &Channels) -> Result<Option<Message>, StoreError> {
    let (Some(r), Some(png)) = (store.receipt(&d.receipt_id).await?, store.receipt_image(&d.receipt_id).await?) else {
        return Ok(None);
    };
    Ok(Some(Message::Receipt(ReceiptMessage {
        delivery_id: d.delivery_id.clone(),
        receipt_id: r.receipt_id.clone(),
        merchant_name: r.merchant_name.clone(),
        amount: r.amount.format(MoneyLayout::Message),
        time_local: r.time.format(TimeLayout::Message),
        link: crate::services::links::receipt_link(
            &channels.link_key,
            &channels.portal_url,
            &r.receipt_id,
            r.received_at.saturating_add(i64::from(channels.link_days) * 86_400_000),
        ),
        png,
        recipient: d.recipient.clone(),
    })))
}

/// Hands `msg` to `sender`. `resumed`: an earlier attempt ended without an outcome, so the
/// sender is asked what it may already have delivered (only the local outbox can tell).
async fn send(sender: &dyn Sender, msg: &Message, resumed: bool) -> Result<Accepted, SendError> {
    if resumed {
        if let Some(done) = sender.already_sent(msg) {
            return Ok(done);
        }
    }
    sender.send(msg).await
}

/// The outcome of an attempt that reached the end of its share of the lease.
fn cut_off(limit: Duration) -> SendError {
    SendError::Temporary(format!(
        "no outcome within {} s (3/4 of the delivery lease): the peer may have taken it; a retry carries the \
         same message id",
        limit.as_secs_f64()
    ))
}

/// Claims and performs one delivery. The attempt — reading the receipt and handing it over —
/// is cut off at 3/4 of the lease counted from just before the claim, so its outcome is
/// recorded while the claim still holds and no other worker can be sending the same message.
/// The lease itself runs on the database's clock ([`Store::claim_delivery`]).
#[tracing::instrument(skip_all, fields(worker = %worker, delivery = tracing::field::Empty, receipt = tracing::field::Empty))]
pub async fn try_execute_task(store: &Store, channels: &Channels, worker: &str) -> Result<Step, StoreError> {
    let lease_ms = i64::try_from(channels.lease.as_millis()).unwrap_or(i64::MAX);
    let limit = attempt_limit(channels.lease);
    // Before the claim: the budget must not outlast the lease, which starts during the claim.
    let deadline = tokio::time::Instant::now() + limit;
    let Some(d) = store.claim_delivery(worker, lease_ms).await? else { return Ok(Step::Idle) };
    // Known only once claimed; the recipient stays out of the span (it is a phone or address).
    let span = tracing::Span::current();
    span.record("delivery", d.delivery_id.as_str());
    span.record("receipt", d.receipt_id.as_str());
    if let Some(note) = d.interrupted() {
        tracing::warn!(delivery = %d.delivery_id, channel = %d.channel, %note, "resuming an interrupted delivery");
    }
    let work = async {
        Ok::<_, StoreError>(match receipt_message(store, &d, channels).await? {
            Some(msg) => send(channels.sender(d.channel), &msg, d.interrupted().is_some()).await,
            None => Err(SendError::Permanent(format!("receipt {} not found", d.receipt_id))),
        })
    };
    let result = match tokio::time::timeout_at(deadline, work).await {
        Ok(outcome) => outcome?,
        Err(_) => Err(cut_off(limit)),
    };
    match result {
        Ok(accepted) => {
            let id = d.delivery_id.clone();
            if store.delivery_sent(&id, worker, accepted.peer_id.as_deref(), &accepted.answer).await? {
                tracing::info!(delivery = %id, channel = %d.channel, "delivered to the peer");
                Ok(Step::Sent(id))
            } else {
                Ok(Step::Lost(id))
            }
        }
        Err(e) => {
            let permanent = matches!(e, SendError::Permanent(_));
            let retry_after = backoff_ms(d.attempts, rand::thread_rng().gen::<f64>());
            let left = store.delivery_failed(&d.delivery_id, worker, &e.to_string(), permanent, retry_after).await?;
            tracing::warn!(delivery = %d.delivery_id, channel = %d.channel, error = %e, "delivery attempt failed");
            match left {
                Some(DeliveryState::Failed) => Ok(Step::Failed { delivery_id: d.delivery_id, error: e.to_string() }),
                Some(_) => Ok(Step::Retry { delivery_id: d.delivery_id, error: e.to_string() }),
                None => Ok(Step::Lost(d.delivery_id)),
            }
        }
    }
}

/// Runs one worker until `stop` turns true: works while there is work, then waits for `wake`
/// (a receipt was stored) or a poll interval (a retry may have come due).
pub async fn run(
    store: Store,
    channels: Arc<Channels>,
    worker: String,
    wake: Arc<tokio::sync::Notify>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        if *stop.borrow() {
            return;
        }
        match try_execute_task(&store, &channels, &worker).await {
            Ok(Step::Idle) => {
                tokio::select! {
                    () = wake.notified() => {}
                    () = tokio::time::sleep(Duration::from_millis(500)) => {}
                    _ = stop.changed() => {}
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::error!(error = %e, "delivery worker: storage error");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
