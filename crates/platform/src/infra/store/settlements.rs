//! Settlement slips (结算单): one per terminal and batch, stored once with the platform's
//! reconciliation of it, which is replaced each time the batch is reconciled again.

use super::receipts::{receipt_from_row, RECEIPT_COLUMNS};
use super::{column, hash_column, is_foreign_key_violation, Store, StoreError, StoredReceipt};

/// A verified settlement slip to store, with its first reconciliation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewSettlement {
    pub terminal_id: String,
    pub batch: i64,
    pub merchant_id: String,
    pub slip_hash: [u8; 32],
    pub slip: Vec<u8>,
    pub png: Vec<u8>,
    pub signer_serial: String,
    /// Unix milliseconds, and the terminal's offset.
    pub settled_at: i64,
    pub settled_offset_minutes: i64,
    pub host_balanced: bool,
    pub received_at: i64,
    pub reconciled: Reconciled,
}

/// A reconciliation as stored: balanced, the differences as JSON, when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reconciled {
    pub balanced: bool,
    /// JSON: the `ereceipt_core::contract::Reconciliation` (before the platform named missing
    /// receipts, an array of its differences only).
    pub differences: String,
    pub at: i64,
}

/// A receipt of a settled batch, as the batch pages and the reconciliation read it.
#[derive(Clone, Debug)]
pub struct BatchReceipt {
    pub receipt: StoredReceipt,
    /// Whether its `kind` column is filled in (see [`Store::batch_receipts`]).
    pub kind_known: bool,
}

/// A stored settlement slip: what was stored, with its latest reconciliation.
pub type SettlementRow = NewSettlement;

/// What storing a slip did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SettlementOutcome {
    /// Newly stored.
    Stored,
    /// The same slip (same hash) was stored before.
    Duplicate,
    /// Another slip is stored for this terminal and batch.
    Conflict,
}

const COLUMNS: &str = "terminal_id, batch, merchant_id, slip_hash, slip, png, signer_serial, settled_at, \
                       settled_offset_minutes, host_balanced, received_at, balanced, differences, reconciled_at";

fn row_of(row: &sqlx::any::AnyRow) -> Result<SettlementRow, StoreError> {
    Ok(SettlementRow {
        terminal_id: column(row, "terminal_id")?,
        batch: column(row, "batch")?,
        merchant_id: column(row, "merchant_id")?,
        slip_hash: hash_column(row, "slip_hash")?,
        slip: column(row, "slip")?,
        png: column(row, "png")?,
        signer_serial: column(row, "signer_serial")?,
        settled_at: column(row, "settled_at")?,
        settled_offset_minutes: column(row, "settled_offset_minutes")?,
        host_balanced: column::<i64>(row, "host_balanced")? != 0,
        received_at: column(row, "received_at")?,
        reconciled: Reconciled {
            balanced: column::<i64>(row, "balanced")? != 0,
            differences: column(row, "differences")?,
            at: column(row, "reconciled_at")?,
        },
    })
}

impl Store {
    /// Stores a settlement slip once per terminal and batch.
    pub async fn store_settlement(&self, s: &NewSettlement) -> Result<SettlementOutcome, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO settlements (terminal_id, batch, merchant_id, slip_hash, slip, png, signer_serial, \
                 settled_at, settled_offset_minutes, host_balanced, received_at, balanced, differences, reconciled_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
             ON CONFLICT (terminal_id, batch) DO NOTHING",
        )
        .bind(&s.terminal_id)
        .bind(s.batch)
        .bind(&s.merchant_id)
        .bind(s.slip_hash.as_slice())
        .bind(&s.slip)
        .bind(&s.png)
        .bind(&s.signer_serial)
        .bind(s.settled_at)
        .bind(s.settled_offset_minutes)
        .bind(i64::from(s.host_balanced))
        .bind(s.received_at)
        .bind(i64::from(s.reconciled.balanced))
        .bind(&s.reconciled.differences)
        .bind(s.reconciled.at)
        .execute(&self.pool)
        .await
        .map_err(|e| {
            if is_foreign_key_violation(&e) {
                StoreError::UnknownTerminal(s.terminal_id.clone())
            } else {
                e.into()
            }
        })?;
        if inserted.rows_affected() == 1 {
            return Ok(SettlementOutcome::Stored);
        }
        match self.settlement(&s.terminal_id, s.batch).await? {
            Some(row) if row.slip_hash == s.slip_hash => Ok(SettlementOutcome::Duplicate),
            _ => Ok(SettlementOutcome::Conflict),
        }
    }

    /// The settlement slip of `terminal_id`'s `batch`, if stored.
    pub async fn settlement(&self, terminal_id: &str, batch: i64) -> Result<Option<SettlementRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM settlements WHERE terminal_id = $1 AND batch = $2");
        let row = sqlx::query(&sql).bind(terminal_id).bind(batch).fetch_optional(&self.pool).await?;
        row.as_ref().map(row_of).transpose()
    }

    /// The settlement slips of `merchant_id`, newest first, at most `limit`.
    pub async fn merchant_settlements(&self, merchant_id: &str, limit: i64) -> Result<Vec<SettlementRow>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM settlements WHERE merchant_id = $1 ORDER BY settled_at DESC, terminal_id, batch \
             LIMIT $2"
        );
        let rows = sqlx::query(&sql).bind(merchant_id).bind(limit).fetch_all(&self.pool).await?;
        rows.iter().map(row_of).collect()
    }

    /// Replaces the reconciliation of `terminal_id`'s `batch` (after a late receipt); false when
    /// no slip is stored for it.
    pub async fn set_reconciliation(
        &self,
        terminal_id: &str,
        batch: i64,
        reconciled: &Reconciled,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE settlements SET balanced = $1, differences = $2, reconciled_at = $3 \
             WHERE terminal_id = $4 AND batch = $5",
        )
        .bind(i64::from(reconciled.balanced))
        .bind(&reconciled.differences)
        .bind(reconciled.at)
        .bind(terminal_id)
        .bind(batch)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Every receipt of `terminal_id`'s `batch` the platform holds, by serial, each with
    /// whether its kind column is filled in (a receipt stored before migration 0015 and not yet
    /// classified reads as a sale; the reconciliation reads such a one's record instead).
    pub async fn batch_receipts(&self, terminal_id: &str, batch: i64) -> Result<Vec<BatchReceipt>, StoreError> {
        let sql = format!(
            "SELECT {RECEIPT_COLUMNS}, CASE WHEN kind IS NULL THEN 0 ELSE 1 END AS kind_known FROM receipts \
             WHERE terminal_id = $1 AND batch = $2 ORDER BY serial, receipt_id"
        );
        let rows = sqlx::query(&sql).bind(terminal_id).bind(batch).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(BatchReceipt { receipt: receipt_from_row(r)?, kind_known: column::<i64>(r, "kind_known")? != 0 })
            })
            .collect()
    }

    /// The lowest sequence number held of `terminal_id` above `sequence`: where the next run of
    /// its chain the platform holds starts.
    pub async fn next_sequence_after(&self, terminal_id: &str, sequence: i64) -> Result<Option<i64>, StoreError> {
        let next: Option<i64> =
            sqlx::query_scalar("SELECT MIN(sequence) FROM receipts WHERE terminal_id = $1 AND sequence > $2")
                .bind(terminal_id)
                .bind(sequence)
                .fetch_one(&self.pool)
                .await?;
        Ok(next)
    }
}
