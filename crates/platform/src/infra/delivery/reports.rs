//! Delivery reports from the peers (P2): SMS delivery receipts from the SMSC and MM7
//! DeliveryReportReqs from the MMSC move a sent delivery to `delivered` or `failed`.

use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::smpp::{DeliveryReport, ReportState};
use super::Channel;
use crate::infra::store::{DeliveryRow, Store, StoreError};

/// How long a report that matches no sent delivery is tried again while a delivery on its
/// channel is being sent: a peer can report before the worker has recorded its acceptance
/// (an SMSC may send the receipt right after `submit_sm_resp`).
pub const REPORT_PATIENCE: Duration = Duration::from_secs(10);

/// The sent delivery on `channel` that the peer knows as `peer_id`. When none is found yet, looks
/// again with growing pauses up to `patience`, as long as some delivery on `channel` is still
/// being sent: the report may be about that one, its acceptance not recorded yet.
pub async fn find_reported(
    store: &Store,
    channel: Channel,
    peer_id: &str,
    patience: Duration,
) -> Result<Option<DeliveryRow>, StoreError> {
    let deadline = Instant::now() + patience;
    let mut pause = Duration::from_millis(20);
    loop {
        if let Some(d) = store.delivery_with_peer_id(channel, peer_id).await? {
            return Ok(Some(d));
        }
        if Instant::now() + pause > deadline || store.deliveries_sending(channel).await? == 0 {
            return Ok(None);
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}

/// Records a report about the delivery the peer knows as `peer_id` (see
/// [`Store::delivery_reported`]), waiting up to `patience` for it as [`find_reported`] does.
/// Returns the delivery's id, or `None` when it matches no delivery.
pub async fn record_report(
    store: &Store,
    channel: Channel,
    peer_id: &str,
    delivered: Option<bool>,
    answer: &str,
    patience: Duration,
) -> Result<Option<String>, StoreError> {
    if find_reported(store, channel, peer_id, patience).await?.is_none() {
        return Ok(None);
    }
    let now = chrono::Utc::now().timestamp_millis();
    store.delivery_reported(channel, peer_id, delivered, answer, now).await
}

/// Stores the SMSC's delivery receipts as they arrive: `delivered` or `failed` for a final
/// state, nothing for an intermediate one (ENROUTE, ACCEPTD, UNKNOWN).
pub async fn record_sms_reports(
    store: Store,
    mut reports: mpsc::Receiver<DeliveryReport>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let report = tokio::select! {
            r = reports.recv() => match r { Some(r) => r, None => return },
            _ = stop.changed() => return,
        };
        if !report.state.is_final() {
            continue;
        }
        let delivered = report.state == ReportState::Delivered;
        let answer =
            format!("{:?}{}", report.state, report.error.as_deref().map(|e| format!(" err:{e}")).unwrap_or_default());
        let store = store.clone();
        // Each on its own: one that waits for its delivery to be recorded holds up no other.
        tokio::spawn(async move {
            let id = &report.message_id;
            match record_report(&store, Channel::Sms, id, Some(delivered), &answer, REPORT_PATIENCE).await {
                Ok(Some(delivery)) => {
                    tracing::info!(message_id = %id, %delivery, %answer, "SMS delivery report stored")
                }
                Ok(None) => tracing::info!(message_id = %id, "SMS delivery report for no known delivery"),
                Err(e) => tracing::error!(error = %e, "cannot store an SMS delivery report"),
            }
        });
    }
}
