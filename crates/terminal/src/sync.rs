//! Store-and-forward upload: takes the oldest due receipt from the outbox, seals it to the
//! platform's HPKE key, uploads it over mutual TLS and records the verified acknowledgement.
//! One step is one function call (`upload_next`), so tests drive it exactly. It also fetches the
//! resume point an outbox needs before its first sale (after enrolment, or once it was lost).

use chrono::Utc;
use ereceipt_core::upload::{verify_ack, Envelope, Payload};

use crate::client::{ClientError, PlatformClient};
use crate::device::{Device, DeviceError, PlatformLink};
use crate::outbox::{Outbox, OutboxError};

/// Why a sync step could not run at all (as opposed to an upload that failed and will retry).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// The outbox database.
    #[error("outbox: {0}")]
    Outbox(OutboxError),
    /// The data directory.
    #[error("{0}")]
    Device(DeviceError),
    /// The client could not be set up.
    #[error("{0}")]
    Client(ClientError),
}

impl From<OutboxError> for SyncError {
    fn from(e: OutboxError) -> Self {
        Self::Outbox(e)
    }
}
impl From<DeviceError> for SyncError {
    fn from(e: DeviceError) -> Self {
        Self::Device(e)
    }
}
impl From<ClientError> for SyncError {
    fn from(e: ClientError) -> Self {
        Self::Client(e)
    }
}

/// What one step did.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Nothing is due now.
    Idle,
    /// The receipt is stored on the platform and acknowledged.
    Uploaded(String),
    /// The upload failed; it will be retried after a backoff.
    Failed { receipt_id: String, error: String },
    /// The platform refused the receipt itself; it is parked and not retried.
    Refused { receipt_id: String, error: String },
}

/// Everything an upload needs, loaded once.
#[derive(Clone)]
pub struct Uploader {
    pub outbox: Outbox,
    client: PlatformClient,
    link: PlatformLink,
    terminal_id: String,
    hpke_public: Vec<u8>,
    ack_public: Vec<u8>,
}

impl Uploader {
    pub async fn open(device: &Device) -> Result<Self, SyncError> {
        let link = device.platform()?;
        let identity = device.identity()?;
        let cert = device.certificate()?;
        let client = PlatformClient::new(&link.url, &device.ca_der()?, Some(&identity))?;
        let bad = |what: &str| {
            SyncError::Device(DeviceError::Bad {
                path: device.path("platform.json"),
                detail: format!("{what} is not hex"),
            })
        };
        let hpke_public = hex::decode(&link.info.hpke_public_key).map_err(|_| bad("hpke_public_key"))?;
        let ack_public = hex::decode(&link.info.ack_public_key).map_err(|_| bad("ack_public_key"))?;
        let outbox = Outbox::open(&device.outbox_path()).await?;
        let uploader =
            Self { outbox, client, terminal_id: cert.terminal.terminal_id.to_string(), link, hpke_public, ack_public };
        // An outbox that lost its receipts would restart at serial 1 in batch 1: learn where
        // they continue now if the platform is reachable; a sale asks again (ensure_resume).
        if let Err(e) = uploader.ensure_resume().await {
            tracing::warn!(error = %e, "the outbox has no resume point and the platform did not give one");
        }
        Ok(uploader)
    }

    /// Fetches and stores the resume point if the outbox has neither receipts nor one
    /// ([`Outbox::needs_resume`]); a sale must not start while this fails. True when fetched.
    pub async fn ensure_resume(&self) -> Result<bool, SyncError> {
        if !self.outbox.needs_resume().await? {
            return Ok(false);
        }
        self.fetch_resume().await?;
        Ok(true)
    }

    /// Asks the platform where this enrolment's receipts continue and stores the answer.
    pub async fn fetch_resume(&self) -> Result<crate::outbox::Resume, SyncError> {
        let point = self.client.resume().await?;
        self.outbox.set_resume(&point, Utc::now().timestamp_millis()).await?;
        Ok(crate::outbox::Resume::try_from(&point)?)
    }

    pub fn platform_url(&self) -> &str {
        &self.link.url
    }

    /// The mutual-TLS client to the platform, for reads such as delivery states.
    pub fn client(&self) -> &PlatformClient {
        &self.client
    }

    /// Uploads the oldest due receipt, if any.
    pub async fn upload_next(&self) -> Result<Step, SyncError> {
        let now = Utc::now().timestamp_millis();
        let Some(entry) = self.outbox.next_due(now).await? else { return Ok(Step::Idle) };
        let id = entry.receipt_id.clone();
        let payload = Payload { record: entry.record, png: entry.png, delivery: entry.delivery };
        let result = match Envelope::seal(&payload, &self.terminal_id, &id, &self.hpke_public) {
            Ok(envelope) => self.client.upload(envelope.to_bytes()).await,
            Err(e) => Err(ClientError::Protocol(format!("cannot seal: {e}"))),
        };
        let now = Utc::now().timestamp_millis();
        match result {
            Ok(ack) => match verify_ack(&ack, &self.ack_public) {
                Ok(a) if a.receipt_id == id && a.record_hash == entry.record_hash => {
                    self.outbox.mark_acked(&id, &ack, now).await?;
                    Ok(Step::Uploaded(id))
                }
                Ok(_) => self.failed(&id, "acknowledgement is for another receipt".into(), false, now).await,
                Err(e) => self.failed(&id, format!("acknowledgement rejected: {e}"), false, now).await,
            },
            Err(e) => self.failed(&id, e.to_string(), e.is_permanent(), now).await,
        }
    }

    async fn failed(&self, id: &str, error: String, permanent: bool, now: i64) -> Result<Step, SyncError> {
        self.outbox.mark_failed(id, &error, permanent, now).await?;
        tracing::info!(receipt = id, permanent, error = %error, "upload failed");
        Ok(if permanent {
            Step::Refused { receipt_id: id.to_owned(), error }
        } else {
            Step::Failed { receipt_id: id.to_owned(), error }
        })
    }

    /// Uploads the oldest due settlement slip, if any: after the receipts, so that the
    /// platform reconciles it against all of them (it reconciles again when one comes late).
    pub async fn upload_next_slip(&self) -> Result<Option<SlipStep>, SyncError> {
        let now = Utc::now().timestamp_millis();
        let Some(slip) = self.outbox.next_due_slip(now).await? else { return Ok(None) };
        let result = self.client.upload_settlement(slip.png).await;
        let now = Utc::now().timestamp_millis();
        match result {
            Ok(stored) if stored.slip_hash == hex::encode(slip.slip_hash) => {
                let reconciliation = serde_json::to_string(&stored.reconciliation).unwrap_or_default();
                self.outbox.mark_slip_acked(slip.batch, &reconciliation, now).await?;
                Ok(Some(SlipStep::Uploaded { batch: slip.batch, reconciliation: stored.reconciliation }))
            }
            Ok(_) => {
                let error = "the platform answered for another slip".to_owned();
                self.outbox.mark_slip_failed(slip.batch, &error, false, now).await?;
                Ok(Some(SlipStep::Failed { batch: slip.batch, error }))
            }
            Err(e) => {
                self.outbox.mark_slip_failed(slip.batch, &e.to_string(), e.is_permanent(), now).await?;
                tracing::info!(batch = slip.batch, error = %e, "settlement slip upload failed");
                Ok(Some(SlipStep::Failed { batch: slip.batch, error: e.to_string() }))
            }
        }
    }

    /// Uploads due receipts until none is due or one fails (the rest then wait their turn),
    /// then, with every receipt uploaded, the due settlement slips.
    pub async fn drain_due(&self) -> Result<DrainReport, SyncError> {
        let mut report = DrainReport::default();
        loop {
            match self.upload_next().await? {
                Step::Idle => {
                    if self.outbox.status().await?.pending == 0 {
                        while let Some(step) = self.upload_next_slip().await? {
                            match step {
                                SlipStep::Uploaded { batch, reconciliation } => {
                                    report.slips.push((batch, reconciliation))
                                }
                                SlipStep::Failed { error, .. } => {
                                    report.last_error = Some(error);
                                    break;
                                }
                            }
                        }
                    }
                    return Ok(report);
                }
                Step::Uploaded(_) => report.uploaded += 1,
                Step::Refused { .. } => report.refused += 1,
                Step::Failed { error, .. } => {
                    report.last_error = Some(error);
                    return Ok(report);
                }
            }
        }
    }

    /// Keeps uploading, waiting out backoffs, until nothing is pending or `deadline` passes.
    pub async fn drain_until(&self, deadline: std::time::Instant) -> Result<DrainReport, SyncError> {
        let mut total = DrainReport::default();
        loop {
            let r = self.drain_due().await?;
            total.uploaded += r.uploaded;
            total.refused += r.refused;
            total.slips.extend(r.slips);
            if r.last_error.is_some() {
                total.last_error = r.last_error;
            }
            let status = self.outbox.status().await?;
            if status.pending == 0 {
                total.last_error = None;
                return Ok(total);
            }
            let now = Utc::now().timestamp_millis();
            let wait_ms = status.next_attempt_at.map_or(200, |t| (t - now).clamp(10, 5_000));
            let wake =
                std::time::Instant::now() + std::time::Duration::from_millis(u64::try_from(wait_ms).unwrap_or(200));
            if wake > deadline {
                return Ok(total);
            }
            tokio::time::sleep_until(wake.into()).await;
        }
    }
}

/// What one settlement slip upload did.
#[derive(Debug, PartialEq, Eq)]
pub enum SlipStep {
    /// The platform stored the slip of `batch` and reconciled it.
    Uploaded { batch: u32, reconciliation: ereceipt_core::contract::Reconciliation },
    /// The upload failed (retried after a backoff unless the platform refused the slip).
    Failed { batch: u32, error: String },
}

/// What a drain did.
#[derive(Debug, Default)]
pub struct DrainReport {
    pub uploaded: u64,
    pub refused: u64,
    /// Settlement slips uploaded: each batch and the platform's reconciliation of it.
    pub slips: Vec<(u32, ereceipt_core::contract::Reconciliation)>,
    pub last_error: Option<String>,
}
