//! The canonical records the outbox keeps for ever, read back by receipt or by batch: what a
//! reprint (重打印) composes its duplicate from, and what the reprint screen lists.

use super::{Outbox, OutboxError};

/// A stored receipt's id and canonical record, whatever its upload state.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredRecord {
    pub receipt_id: String,
    /// The canonical record bytes, as signed.
    pub record: Vec<u8>,
}

impl std::fmt::Debug for StoredRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StoredRecord({}, <{} bytes>)", self.receipt_id, self.record.len())
    }
}

impl Outbox {
    /// The record of receipt `receipt_id`, if this outbox holds it.
    pub async fn stored_record(&self, receipt_id: &str) -> Result<Option<StoredRecord>, OutboxError> {
        let row: Option<(String, Vec<u8>)> =
            sqlx::query_as("SELECT receipt_id, record FROM outbox_entries WHERE receipt_id = ?1")
                .bind(receipt_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(receipt_id, record)| StoredRecord { receipt_id, record }))
    }

    /// The record of the terminal's last receipt (the chain head), if it made any.
    pub async fn last_record(&self) -> Result<Option<StoredRecord>, OutboxError> {
        let row: Option<(String, Vec<u8>)> =
            sqlx::query_as("SELECT receipt_id, record FROM outbox_entries ORDER BY sequence DESC LIMIT 1")
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(receipt_id, record)| StoredRecord { receipt_id, record }))
    }

    /// At most `limit` receipts of `batch`, newest first (none if `limit <= 0`).
    pub async fn batch_records(&self, batch: u32, limit: i64) -> Result<Vec<StoredRecord>, OutboxError> {
        let rows: Vec<(String, Vec<u8>)> = sqlx::query_as(
            "SELECT receipt_id, record FROM outbox_entries WHERE batch = ?1 ORDER BY sequence DESC LIMIT ?2",
        )
        .bind(i64::from(batch))
        .bind(limit.max(0))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|(receipt_id, record)| StoredRecord { receipt_id, record }).collect())
    }
}
