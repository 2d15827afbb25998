//! Settlement slips (结算单) in the outbox: the receipts of a batch read back for its slip, and
//! each settled batch's signed slip kept and queued for upload like a receipt.

use ereceipt_core::encoding::decode_record;
use ereceipt_core::model::ReceiptRecord;

use super::backoff::after_failure;
use super::entry::EntryState;
use super::{Outbox, OutboxError, MAX_ERROR_CHARS};

/// A settlement slip to store: the batch it closes, its canonical bytes, hash and image.
#[derive(Clone, Debug)]
pub struct NewSlip {
    pub batch: u32,
    pub slip_hash: [u8; 32],
    pub slip: Vec<u8>,
    pub png: Vec<u8>,
}

/// A stored settlement slip and its upload state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredSlip {
    pub batch: u32,
    pub slip_hash: [u8; 32],
    pub slip: Vec<u8>,
    pub png: Vec<u8>,
    pub state: EntryState,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub next_attempt_at: i64,
    /// The platform's reconciliation (JSON) once it stored the slip.
    pub reconciliation: Option<String>,
}

type SlipRow = (i64, Vec<u8>, Vec<u8>, Vec<u8>, String, i64, Option<String>, i64, Option<String>);
const SLIP_COLUMNS: &str = "batch, slip_hash, slip, png, state, attempts, last_error, next_attempt_at, reconciliation";

fn slip_of(row: SlipRow) -> Result<StoredSlip, OutboxError> {
    let (batch, hash, slip, png, state, attempts, last_error, next_attempt_at, reconciliation) = row;
    let corrupt = |what: &str| OutboxError::Corrupt(format!("settlement slip of batch {batch}: {what}"));
    Ok(StoredSlip {
        batch: u32::try_from(batch).map_err(|_| corrupt("batch"))?,
        slip_hash: hash.try_into().map_err(|_| corrupt("hash"))?,
        slip,
        png,
        state: EntryState::from_db(&state)?,
        attempts: u32::try_from(attempts).map_err(|_| corrupt("attempts"))?,
        last_error,
        next_attempt_at,
        reconciliation,
    })
}

impl Outbox {
    /// The records of every receipt of `batch` this terminal made, in chain order.
    pub async fn settlement_records(&self, batch: u32) -> Result<Vec<ReceiptRecord>, OutboxError> {
        // Receipt ids are TERMINAL-BATCH-SERIAL: the batch is the middle part.
        let pattern = format!("%-{batch:06}-%");
        let rows: Vec<(Vec<u8>,)> =
            sqlx::query_as("SELECT record FROM outbox_entries WHERE receipt_id LIKE ?1 ORDER BY sequence")
                .bind(pattern)
                .fetch_all(&self.pool)
                .await?;
        let mut out = Vec::with_capacity(rows.len());
        for (bytes,) in rows {
            let record = decode_record(&bytes).map_err(|e| OutboxError::Corrupt(format!("stored record: {e}")))?;
            if record.transaction.batch.value() == batch {
                out.push(record);
            }
        }
        Ok(out)
    }

    /// Stores the settlement slip of a settled batch, pending and due now. A batch has one slip:
    /// storing it again is a conflict.
    pub async fn store_slip(&self, s: &NewSlip, now_ms: i64) -> Result<(), OutboxError> {
        if ereceipt_core::digest::sha256(&s.slip) != s.slip_hash {
            return Err(OutboxError::Invalid("the slip hash is not the SHA-256 of the slip".into()));
        }
        let _queued = self.writer.lock().await;
        sqlx::query(
            "INSERT INTO settlement_slips (batch, slip_hash, slip, png, state, next_attempt_at, created_at) \
             VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?5)",
        )
        .bind(i64::from(s.batch))
        .bind(s.slip_hash.as_slice())
        .bind(&s.slip)
        .bind(&s.png)
        .bind(now_ms)
        .execute(&self.pool)
        .await
        .map_err(|e| match e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                OutboxError::Conflict(format!("batch {:06} already has its settlement slip", s.batch))
            }
            other => other.into(),
        })?;
        Ok(())
    }

    /// The settlement slip of `batch`, if one is stored.
    pub async fn slip(&self, batch: u32) -> Result<Option<StoredSlip>, OutboxError> {
        let sql = format!("SELECT {SLIP_COLUMNS} FROM settlement_slips WHERE batch = ?1");
        let row: Option<SlipRow> = sqlx::query_as(&sql).bind(i64::from(batch)).fetch_optional(&self.pool).await?;
        row.map(slip_of).transpose()
    }

    /// The oldest pending slip that is due, if any.
    pub async fn next_due_slip(&self, now_ms: i64) -> Result<Option<StoredSlip>, OutboxError> {
        let sql = format!(
            "SELECT {SLIP_COLUMNS} FROM settlement_slips WHERE state = 'pending' AND next_attempt_at <= ?1 \
             ORDER BY batch LIMIT 1"
        );
        let row: Option<SlipRow> = sqlx::query_as(&sql).bind(now_ms).fetch_optional(&self.pool).await?;
        row.map(slip_of).transpose()
    }

    /// When the next pending slip is due, if one is pending.
    pub async fn next_slip_attempt(&self) -> Result<Option<i64>, OutboxError> {
        let (next,): (Option<i64>,) =
            sqlx::query_as("SELECT MIN(next_attempt_at) FROM settlement_slips WHERE state = 'pending'")
                .fetch_one(&self.pool)
                .await?;
        Ok(next)
    }

    /// Records that the platform stored the slip of `batch`, with its reconciliation (JSON).
    pub async fn mark_slip_acked(&self, batch: u32, reconciliation: &str, now_ms: i64) -> Result<(), OutboxError> {
        let _queued = self.writer.lock().await;
        sqlx::query(
            "UPDATE settlement_slips SET state = 'acked', acked_at = ?1, reconciliation = ?2, last_error = NULL \
             WHERE batch = ?3",
        )
        .bind(now_ms)
        .bind(reconciliation)
        .bind(i64::from(batch))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records a failed upload of the slip of `batch`: retried after a backoff, or parked as
    /// refused when `permanent`.
    pub async fn mark_slip_failed(
        &self,
        batch: u32,
        error: &str,
        permanent: bool,
        now_ms: i64,
    ) -> Result<(), OutboxError> {
        let _queued = self.writer.lock().await;
        let error: String = error.chars().take(MAX_ERROR_CHARS).collect();
        let attempts: Option<(i64,)> =
            sqlx::query_as("SELECT attempts FROM settlement_slips WHERE batch = ?1 AND state = 'pending'")
                .bind(i64::from(batch))
                .fetch_optional(&self.pool)
                .await?;
        let Some((attempts,)) = attempts else { return Ok(()) };
        let attempts = u32::try_from(attempts).unwrap_or(u32::MAX).saturating_add(1);
        let (state, next) = after_failure(permanent, attempts, now_ms);
        sqlx::query(
            "UPDATE settlement_slips SET state = ?1, attempts = ?2, last_error = ?3, next_attempt_at = ?4 \
             WHERE batch = ?5 AND state = 'pending'",
        )
        .bind(state.as_db())
        .bind(i64::from(attempts))
        .bind(&error)
        .bind(next)
        .bind(i64::from(batch))
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
