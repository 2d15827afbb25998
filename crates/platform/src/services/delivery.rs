//! Delivery workers: claim one due delivery, build the message from the stored receipt, hand it
//! to the channel (or the local outbox folder when the channel has no server), record the
//! answer. `try_execute_task` is one step, so tests drive it exactly; `run` loops, woken at once
//! when a receipt is stored (real time) and otherwise polling for retries that came due.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, Utc};
use rand::Rng;

use crate::infra::delivery::email::EmailSender;
use crate::infra::delivery::local::LocalOutbox;
use crate::infra::delivery::mm7::MmsSender;
use crate::infra::delivery::smpp::SmsSender;
use crate::infra::delivery::{Accepted, Outgoing, SendError};
use crate::infra::store::{DeliveryRow, Store, StoreError};

mod settings;
#[cfg(test)]
mod tests;

pub use settings::{attempt_limit, DeliverySettings};

/// The configured channels. A channel without a server writes to the local outbox.
pub struct Channels {
    pub email: Option<EmailSender>,
    pub sms: Option<SmsSender>,
    pub mms: Option<MmsSender>,
    pub local: LocalOutbox,
    /// Base URL of the portal, for the link in messages.
    pub portal_url: String,
    /// Key of the link tokens that let a message's holder open its receipt
    /// ([`crate::services::links::receipt_link`]); the platform's `otp.key`.
    pub link_key: zeroize::Zeroizing<Vec<u8>>,
    /// Builds `.eml` files for the local outbox when no SMTP server is configured.
    pub eml_builder: EmailSender,
    /// How long a worker's claim on a delivery lasts (`delivery.lease_seconds`); each attempt
    /// is cut off at [`attempt_limit`] of it.
    pub lease: Duration,
}

/// The channels as configured: servers where set, the local outbox folder otherwise.
pub fn channels(d: &DeliverySettings, listen: std::net::SocketAddr, link_key: &[u8]) -> Result<Channels, String> {
    let portal_url = if d.portal_url.is_empty() { format!("https://{listen}") } else { d.portal_url.clone() };
    let local_smtp = crate::infra::delivery::email::SmtpSettings {
        host: "localhost".into(),
        port: 25,
        tls: crate::infra::delivery::email::TlsMode::None,
        username: None,
        password: None,
        from: d.email_from.clone(),
        timeout_secs: 30,
        extra_ca_pem: None,
    };
    Ok(Channels {
        email: d
            .smtp
            .as_ref()
            .map(crate::infra::delivery::email::EmailSender::new)
            .transpose()
            .map_err(|e| format!("smtp: {e}"))?,
        sms: d.smpp.as_ref().map(crate::infra::delivery::smpp::SmsSender::new),
        mms: d
            .mm7
            .as_ref()
            .map(crate::infra::delivery::mm7::MmsSender::new)
            .transpose()
            .map_err(|e| format!("mm7: {e}"))?,
        local: crate::infra::delivery::local::LocalOutbox::new(std::path::Path::new(&d.outbox_dir)),
        portal_url,
        link_key: zeroize::Zeroizing::new(link_key.to_vec()),
        lease: d.lease(),
        eml_builder: crate::infra::delivery::email::EmailSender::new(&local_smtp).map_err(|e| format!("email: {e}"))?,
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

fn local_time(ms: i64, offset_minutes: i32) -> String {
    let offset = FixedOffset::east_opt(offset_minutes * 60).unwrap_or_else(|| chrono::Utc.fix());
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.with_timezone(&offset).format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

use chrono::Offset;

fn amount(minor: i64, currency: &str) -> String {
    // Two decimals for the currencies of our markets; JPY and KRW have none.
    match currency {
        "JPY" | "KRW" => format!("{currency} {minor}"),
        _ => format!("{currency} {}.{:02}", minor / 100, minor % 100),
    }
}

async fn outgoing(store: &Store, d: &DeliveryRow, channels: &Channels) -> Result<Option<Outgoing>, StoreError> {
    let (Some(r), Some(png)) = (store.receipt(&d.receipt_id).await?, store.receipt_image(&d.receipt_id).await?) else {
        return Ok(None);
    };
    Ok(Some(Outgoing {
        delivery_id: d.delivery_id.clone(),
        receipt_id: r.receipt_id.clone(),
        merchant_name: r.merchant_name.clone(),
        amount: amount(r.amount_minor, &r.currency),
        time_local: local_time(r.tx_time, r.tx_offset_minutes),
        link: crate::services::links::receipt_link(&channels.link_key, &channels.portal_url, &r.receipt_id),
        png,
        recipient: d.recipient.clone(),
    }))
}

/// Hands `out` to its channel. `resumed`: an earlier attempt ended without an outcome, so the
/// local outbox looks for what it may already have written (a server peer cannot be asked).
async fn send(channels: &Channels, channel: &str, out: &Outgoing, resumed: bool) -> Result<Accepted, SendError> {
    let local_only = match channel {
        "email" => channels.email.is_none(),
        "sms" => channels.sms.is_none(),
        "mms" => channels.mms.is_none(),
        _ => false,
    };
    if resumed && local_only {
        if let Some(done) = channels.local.already_written(channel, out) {
            return Ok(done);
        }
    }
    let now = Utc::now().to_rfc3339();
    match channel {
        "email" => match &channels.email {
            Some(sender) => sender.send(out).await,
            None => {
                let eml = channels.eml_builder.message(out)?.formatted();
                channels.local.email(out, &eml)
            }
        },
        "sms" => match &channels.sms {
            Some(sender) => sender.send(out).await,
            None => channels.local.sms(out, &SmsSender::text(out), &now),
        },
        "mms" => match &channels.mms {
            Some(sender) => sender.send(out).await,
            None => channels.local.mms(out, &format!("{} {}", out.merchant_name, out.amount), &now),
        },
        other => Err(SendError::Permanent(format!("unknown channel {other}"))),
    }
}

/// The outcome of an attempt that reached the end of its share of the lease.
fn cut_off(limit: Duration) -> SendError {
    SendError::Temporary(format!(
        "no outcome within {} s (3/4 of the delivery lease): the peer may have taken it; a retry carries the \
         same message id",
        limit.as_secs_f64()
    ))
}

/// Claims and performs one delivery. The attempt is cut off at 3/4 of the lease, so its outcome
/// is recorded while the claim still holds and no other worker can be sending the same message.
pub async fn try_execute_task(store: &Store, channels: &Channels, worker: &str) -> Result<Step, StoreError> {
    let now = Utc::now().timestamp_millis();
    let lease_ms = i64::try_from(channels.lease.as_millis()).unwrap_or(i64::MAX);
    let Some(d) = store.claim_delivery(worker, now, lease_ms).await? else { return Ok(Step::Idle) };
    let resumed = d.interrupted().is_some();
    if let Some(note) = d.interrupted() {
        tracing::warn!(delivery = %d.delivery_id, channel = %d.channel, %note, "resuming an interrupted delivery");
    }
    let limit = attempt_limit(channels.lease);
    let result = match outgoing(store, &d, channels).await? {
        Some(out) => match tokio::time::timeout(limit, send(channels, &d.channel, &out, resumed)).await {
            Ok(result) => result,
            Err(_) => Err(cut_off(limit)),
        },
        None => Err(SendError::Permanent(format!("receipt {} not found", d.receipt_id))),
    };
    let now = Utc::now().timestamp_millis();
    match result {
        Ok(accepted) => {
            let id = d.delivery_id.clone();
            if store.delivery_sent(&id, worker, accepted.peer_id.as_deref(), &accepted.answer, now).await? {
                tracing::info!(delivery = %id, channel = %d.channel, "delivered to the peer");
                Ok(Step::Sent(id))
            } else {
                Ok(Step::Lost(id))
            }
        }
        Err(e) => {
            let permanent = matches!(e, SendError::Permanent(_));
            let retry_at = now + backoff_ms(d.attempts, rand::thread_rng().gen::<f64>());
            store.delivery_failed(&d.delivery_id, worker, &e.to_string(), permanent, retry_at, now).await?;
            tracing::warn!(delivery = %d.delivery_id, channel = %d.channel, error = %e, "delivery attempt failed");
            if permanent || now >= d.give_up_at {
                Ok(Step::Failed { delivery_id: d.delivery_id, error: e.to_string() })
            } else {
                Ok(Step::Retry { delivery_id: d.delivery_id, error: e.to_string() })
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
