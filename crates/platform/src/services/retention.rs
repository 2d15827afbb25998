//! Retention (P1, security review L6): a worker that purges, in bounded batches, receipts whose
//! retention period has passed (never one on hold), login codes, refusals and ended sessions,
//! and logs every run; and the legal holds an acquirer puts on disputed receipts.
//! `purge_once` is one run, so tests drive it exactly; `run` repeats it on an interval.

use std::time::Duration;

use serde::Deserialize;

use crate::infra::store::{Hold, PurgeRun, Store, StoreError, MAX_PURGE_BATCH};

const DAY_MS: i64 = 24 * 3600 * 1000;

/// The shortest receipt retention accepted: card schemes let an issuer dispute a sale for up to
/// 540 days, and a receipt purged before then cannot answer the dispute.
pub const MIN_RECEIPT_DAYS: u32 = 540;

/// Login codes are kept this long after they were issued. They hold a phone number and the
/// client address that asked; the per-number limits count codes over windows of up to 24 hours,
/// so codes are kept for twice that, and every limit still sees every code it counts.
pub const LOGIN_CODE_KEEP_MS: i64 = 2 * DAY_MS;

/// `[platform.retention]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSettings {
    /// Receipts (with their deliveries and delivery history) are purged this many days after the
    /// sale (and after their arrival, whichever is later); at least [`MIN_RECEIPT_DAYS`].
    pub receipt_days: u32,
    /// Refused uploads stay in the operator's list this many days.
    pub refusal_days: u32,
    /// Minutes between purge runs.
    pub interval_minutes: u32,
    /// Rows deleted per transaction, 1..=500: short transactions keep uploads flowing.
    pub batch_size: u32,
}

impl RetentionSettings {
    /// A receipt period shorter than the schemes' dispute window, or values that stop the purge.
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.receipt_days < MIN_RECEIPT_DAYS {
            return Err(format!(
                "retention.receipt_days = {} is below {MIN_RECEIPT_DAYS}: card schemes accept disputes up to \
                 540 days after the sale",
                self.receipt_days
            ));
        }
        if self.refusal_days == 0 {
            return Err("retention.refusal_days = 0: at least 1".into());
        }
        if self.interval_minutes == 0 {
            return Err("retention.interval_minutes = 0: at least 1".into());
        }
        if !(1..=MAX_PURGE_BATCH).contains(&i64::from(self.batch_size)) {
            return Err(format!("retention.batch_size = {} is not in 1..={MAX_PURGE_BATCH}", self.batch_size));
        }
        Ok(())
    }

    /// Receipts sold and received before this instant are due at `now`.
    pub fn receipt_cutoff(&self, now: i64) -> i64 {
        now.saturating_sub(i64::from(self.receipt_days).saturating_mul(DAY_MS))
    }

    pub fn interval(&self) -> Duration {
        Duration::from_secs(u64::from(self.interval_minutes) * 60)
    }
}

/// Why a hold could not be placed or released.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HoldError {
    /// No receipt (or no hold, on release) with this id.
    #[error("no receipt {0} is stored")]
    NotFound(String),
    /// The reason is empty or too long.
    #[error("the reason for a hold must be 1 to 200 characters (a dispute or case reference)")]
    BadReason,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Puts a stored receipt on hold for a dispute: it is never purged while held. Holding a held
/// receipt keeps the first hold.
pub async fn hold(store: &Store, receipt_id: &str, by: &str, reason: &str, now: i64) -> Result<Hold, HoldError> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 200 {
        return Err(HoldError::BadReason);
    }
    let hold = store
        .hold_receipt(receipt_id, by, reason, now)
        .await?
        .ok_or_else(|| HoldError::NotFound(receipt_id.to_owned()))?;
    tracing::info!(receipt = %receipt_id, by, "receipt put on hold");
    Ok(hold)
}

/// Releases a hold: the receipt is purged at the next run if its retention has passed.
pub async fn release(store: &Store, receipt_id: &str, by: &str) -> Result<(), HoldError> {
    if !store.release_hold(receipt_id).await? {
        return Err(HoldError::NotFound(receipt_id.to_owned()));
    }
    tracing::info!(receipt = %receipt_id, by, "hold released");
    Ok(())
}

/// Deletes rows of one kind in batches until a batch comes back short.
async fn drain<F, Fut>(mut batch: F, limit: i64) -> Result<u64, StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<u64, StoreError>>,
{
    let mut total = 0;
    loop {
        let n = batch().await?;
        total += n;
        if n < u64::try_from(limit).unwrap_or(0) {
            return Ok(total);
        }
    }
}

/// One purge run at `now` (Unix ms): receipts past their retention with everything that refers
/// to them, login codes older than [`LOGIN_CODE_KEEP_MS`], refusals older than `refusal_days`,
/// ended sessions; then the run is logged (tracing and `purge_runs`).
pub async fn purge_once(store: &Store, s: &RetentionSettings, now: i64) -> Result<PurgeRun, StoreError> {
    let limit = i64::from(s.batch_size).clamp(1, MAX_PURGE_BATCH);
    let cutoff = s.receipt_cutoff(now);
    let mut run = PurgeRun { started_at: now, cutoff, ..PurgeRun::default() };
    loop {
        let b = store.purge_receipts(cutoff, limit, now).await?;
        run.receipts += b.receipts;
        run.deliveries += b.deliveries;
        run.delivery_events += b.delivery_events;
        if b.receipts < u64::try_from(limit).unwrap_or(0) {
            break;
        }
    }
    run.held_kept = store.held_past(cutoff).await?;
    run.login_codes = drain(|| store.purge_login_codes(now - LOGIN_CODE_KEEP_MS, limit), limit).await?;
    let refusals_before = now.saturating_sub(i64::from(s.refusal_days).saturating_mul(DAY_MS));
    run.refusals = drain(|| store.purge_refusals(refusals_before, limit), limit).await?;
    run.sessions = drain(|| store.purge_sessions(now, limit), limit).await?;
    run.finished_at = chrono::Utc::now().timestamp_millis().max(now);
    store.record_purge_run(&run).await?;
    tracing::info!(
        cutoff,
        receipts = run.receipts,
        deliveries = run.deliveries,
        delivery_events = run.delivery_events,
        login_codes = run.login_codes,
        refusals = run.refusals,
        sessions = run.sessions,
        held_kept = run.held_kept,
        "retention purge"
    );
    Ok(run)
}

/// Runs [`purge_once`] at start and then every `interval_minutes` until `stop` turns true;
/// `purged` counts the receipts purged (the `receipts_purged` metric).
pub async fn run(
    store: Store,
    settings: RetentionSettings,
    purged: prometheus_client::metrics::counter::Counter,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        if *stop.borrow() {
            return;
        }
        match purge_once(&store, &settings, chrono::Utc::now().timestamp_millis()).await {
            Ok(run) => {
                purged.inc_by(run.receipts);
            }
            Err(e) => tracing::error!(error = %e, "retention purge failed; trying again at the next run"),
        }
        tokio::select! {
            () = tokio::time::sleep(settings.interval()) => {}
            _ = stop.changed() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One run purges what is due, in batches of one, and logs itself where the admin API reads.
    #[tokio::test]
    async fn one_run_purges_in_batches_and_is_logged() {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        let now = 1_700_000_000_000 + 10 * DAY_MS;
        for (i, at) in [now - 3 * DAY_MS, now - 3 * DAY_MS + 1000, now - DAY_MS].into_iter().enumerate() {
            store.issue_code(&format!("+861380013800{i}"), "192.0.2.1", &[7; 32], at).await.unwrap();
        }
        store.create_session(&[1; 32], "staff", "alice", now - DAY_MS).await.unwrap();
        let s = RetentionSettings { receipt_days: 1827, refusal_days: 90, interval_minutes: 60, batch_size: 1 };
        let run = purge_once(&store, &s, now).await.unwrap();
        assert_eq!((run.login_codes, run.sessions, run.receipts, run.cutoff), (2, 1, 0, now - 1827 * DAY_MS));
        assert_eq!(store.purge_runs(10).await.unwrap(), vec![run]);
    }
}
