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
use crate::domain::limits::{masked_number, SendLimits};
use crate::infra::delivery::cngw::{GatewayClient, GatewaySetupError, ReportListener};
use crate::infra::delivery::email::{sender_mailbox, EmailSender, EmailSetupError};
use crate::infra::delivery::local::LocalOutbox;
use crate::infra::delivery::mm7::MmsSender;
use crate::infra::delivery::router::TextSender;
use crate::infra::delivery::router::{Gateway, SmsRouter};
use crate::infra::delivery::smpp::{DeliveryReport, SmppSetupError, SmsSender};
use crate::infra::delivery::{Accepted, Channel, Message, ReceiptMessage, SendError, Sender};
use crate::infra::store::{Counted, DeliveryRow, Store, StoreError};

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
    /// Texts to one number per minute, hour and day (`delivery.limits`), for receipts by SMS or
    /// MMS and for login codes alike.
    pub send_limits: SendLimits,
    /// The SMSC's delivery receipts when they were asked for (`smpp.registered_delivery`),
    /// until the task that records them takes them.
    pub(crate) sms_reports: std::sync::Mutex<Vec<mpsc::Receiver<DeliveryReport>>>,
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
    pub fn take_sms_reports(&self) -> Vec<mpsc::Receiver<DeliveryReport>> {
        std::mem::take(&mut *self.sms_reports.lock().unwrap_or_else(|e| e.into_inner()))
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
    /// `[delivery.routing]` sends a carrier to a gateway that is not set up.
    #[error("{0}")]
    Routing(String),
    /// A `[delivery.smgp]`, `[delivery.cmpp]` or `[delivery.sgip]` section cannot work (address,
    /// TLS, account), or SGIP's report listener cannot listen.
    #[error("{0}: {1}")]
    Gateway(&'static str, #[source] GatewaySetupError),
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
    let mut sms_reports = Vec::new();
    let smpp: Box<dyn TextSender> = match &d.smpp {
        Some(s) => {
            let sender = SmsSender::new(s).map_err(ChannelsError::Smpp)?;
            if s.registered_delivery {
                // Makes the session bind as a transceiver, so the receipts can come back.
                sms_reports.push(sender.delivery_reports());
            }
            Box::new(sender)
        }
        None => Box::new(LocalOutbox::sms(outbox)),
    };
    let mut router = SmsRouter::new(smpp, d.routing.clone(), d.templates.clone());
    // The carriers' own gateways; `[delivery.routing]` says whose numbers each one takes.
    if let Some(s) = &d.smgp {
        let client = GatewayClient::smgp(s).map_err(|e| ChannelsError::Gateway("smgp", e))?;
        if s.need_report {
            sms_reports.push(client.delivery_reports());
        }
        router = router.with_gateway(Gateway::Smgp, Box::new(client));
    }
    if let Some(s) = &d.cmpp {
        let client = GatewayClient::cmpp(s).map_err(|e| ChannelsError::Gateway("cmpp", e))?;
        if s.need_report {
            sms_reports.push(client.delivery_reports());
        }
        router = router.with_gateway(Gateway::Cmpp, Box::new(client));
    }
    if let Some(s) = &d.sgip {
        let client = GatewayClient::sgip(s).map_err(|e| ChannelsError::Gateway("sgip", e))?;
        if s.need_report {
            // The SMG brings SGIP's reports to a listener of ours, not over the client's link.
            let listener = ReportListener::bind(s).map_err(|e| ChannelsError::Gateway("sgip", e))?;
            sms_reports.push(listener.spawn().map_err(|e| ChannelsError::Gateway("sgip", e))?);
        }
        router = router.with_gateway(Gateway::Sgip, Box::new(client));
    }
    router.check().map_err(ChannelsError::Routing)?;
    let sms: Box<dyn Sender> = Box::new(router);
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
        send_limits: d.limits,
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
    /// Not sent: the number had its texts for a window; queued again for when it ends.
    Held { delivery_id: String, reason: String },
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
        masked_pan: r.card_masked.clone(),
        pull_code: crate::domain::pull_code::pull_code(&channels.link_key, &r.receipt_id, &d.recipient),
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
pub async fn try_execute_task(store: &Store, channels: &Channels, worker: &str) -> Result<Step, StoreError> {
    try_execute_task_at(store, channels, worker, chrono::Utc::now().timestamp_millis()).await
}

/// Counts a text to `d.recipient` at `now` against the send limits; the reason it is held back
/// and for how long, if a window is full.
async fn held_back(
    store: &Store,
    limits: &SendLimits,
    d: &DeliveryRow,
    now: i64,
) -> Result<Option<(String, i64)>, StoreError> {
    for (limit, per) in limits.limits() {
        if let Counted::Limited { retry_after_ms } = store.count_event(limit, &d.recipient, now).await? {
            let next = chrono::DateTime::from_timestamp_millis(now.saturating_add(retry_after_ms))
                .map_or_else(String::new, |t| t.format("%H:%M:%S UTC").to_string());
            let to = masked_number(&d.recipient);
            return Ok(Some((format!("held back: {} {per} to {to}; next try {next}", limit.max), retry_after_ms)));
        }
    }
    Ok(None)
}

/// [`try_execute_task`] with the time the send limits count at (tests move it on).
#[tracing::instrument(skip_all, fields(worker = %worker, delivery = tracing::field::Empty, receipt = tracing::field::Empty))]
pub async fn try_execute_task_at(
    store: &Store,
    channels: &Channels,
    worker: &str,
    now: i64,
) -> Result<Step, StoreError> {
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
    let texted = matches!(d.channel, Channel::Sms | Channel::Mms);
    if texted && d.interrupted().is_none() {
        if let Some((reason, retry_after_ms)) = held_back(store, &channels.send_limits, &d, now).await? {
            tracing::info!(delivery = %d.delivery_id, channel = %d.channel, %reason, "delivery held back");
            if store.delivery_held(&d.delivery_id, worker, &reason, retry_after_ms).await? {
                return Ok(Step::Held { delivery_id: d.delivery_id, reason });
            }
            return Ok(Step::Lost(d.delivery_id));
        }
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
