//! Settlement (结算) in the outbox: a batch's totals from the journal, and the host's answer
//! recorded with the batch closed in one transaction.

use ereceipt_core::card::CardBrand;
use ereceipt_core::model::TransactionType;

use super::journal::rows_where;
use super::trace::Trace;
use super::{Outbox, OutboxError, MAX_SERIAL};

/// Counts and amounts of one card group in a batch (field 48's half).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Side {
    /// Sales and completions not voided.
    pub debit_count: u64,
    pub debit_minor: u64,
    /// Refunds.
    pub credit_count: u64,
    pub credit_minor: u64,
}

/// A batch's totals: domestic cards (UnionPay) and foreign ones (every other brand).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatchTotals {
    pub batch: u32,
    pub domestic: Side,
    pub foreign: Side,
    /// Voids (in neither side: a voided sale and its void both leave the totals).
    pub voids: u64,
}

/// A settlement the host answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettlementRecord {
    pub batch: u32,
    pub trace: u32,
    /// Field 48 as sent and as answered.
    pub totals: String,
    pub answer: String,
    pub domestic_balanced: bool,
    pub foreign_balanced: bool,
    pub settled_at: i64,
}

impl Outbox {
    /// The totals of `batch` from the journal: every request with its receipt, a voided sale
    /// or completion and its void left out.
    pub async fn batch_totals(&self, batch: u32) -> Result<BatchTotals, OutboxError> {
        let rows = rows_where(&self.pool, "batch = ?1 AND state = 'completed'", &[i64::from(batch)]).await?;
        let voided: Vec<String> = rows
            .iter()
            .filter(|r| r.operation.kind == TransactionType::Void)
            .filter_map(|r| r.operation.original.as_ref()?.receipt_id.as_ref().map(|id| id.to_string()))
            .collect();
        let mut t = BatchTotals { batch, ..BatchTotals::default() };
        for r in &rows {
            let side = if r.masked_pan.brand() == CardBrand::UnionPay { &mut t.domestic } else { &mut t.foreign };
            let minor = r.amount.minor();
            match r.operation.kind {
                TransactionType::Sale | TransactionType::PreAuthCompletion => {
                    if r.receipt_id.as_ref().is_some_and(|id| voided.contains(id)) {
                        continue;
                    }
                    side.debit_count += 1;
                    side.debit_minor += minor;
                }
                TransactionType::Refund => {
                    side.credit_count += 1;
                    side.credit_minor += minor;
                }
                TransactionType::Void => t.voids += 1,
                TransactionType::PreAuth => {}
            }
        }
        Ok(t)
    }

    /// Records the host's answer to the settlement of `trace`'s batch and closes that batch: the
    /// trace counter stands at its last trace, so the next request opens the next batch. A
    /// batch is settled once.
    pub async fn settled(
        &self,
        record: &SettlementRecord,
        operator: &str,
        authoriser: &str,
    ) -> Result<(), OutboxError> {
        let _queued = self.writer.lock().await;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query(
            "INSERT INTO settlements (batch, trace, operator, authoriser, totals, answer, domestic_balanced, \
                 foreign_balanced, settled_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )
        .bind(i64::from(record.batch))
        .bind(i64::from(record.trace))
        .bind(operator)
        .bind(authoriser)
        .bind(&record.totals)
        .bind(&record.answer)
        .bind(i64::from(record.domestic_balanced))
        .bind(i64::from(record.foreign_balanced))
        .bind(record.settled_at)
        .execute(&mut *tx)
        .await?;
        let used_up = Trace { batch: record.batch, trace: MAX_SERIAL };
        sqlx::query(
            "INSERT INTO trace_counter (id, batch, trace) VALUES (1, ?1, ?2) \
             ON CONFLICT (id) DO UPDATE SET batch = excluded.batch, trace = excluded.trace \
             WHERE trace_counter.batch <= excluded.batch",
        )
        .bind(i64::from(used_up.batch))
        .bind(i64::from(used_up.trace))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The settlement of `batch`, if it was settled.
    pub async fn settlement(&self, batch: u32) -> Result<Option<SettlementRecord>, OutboxError> {
        let row: Option<(i64, i64, String, String, i64, i64, i64)> = sqlx::query_as(
            "SELECT batch, trace, totals, answer, domestic_balanced, foreign_balanced, settled_at \
             FROM settlements WHERE batch = ?1",
        )
        .bind(i64::from(batch))
        .fetch_optional(&self.pool)
        .await?;
        let corrupt = |e: std::num::TryFromIntError| OutboxError::Corrupt(format!("settlement of batch {batch}: {e}"));
        row.map(|(b, t, totals, answer, d, f, at)| {
            Ok(SettlementRecord {
                batch: u32::try_from(b).map_err(corrupt)?,
                trace: u32::try_from(t).map_err(corrupt)?,
                totals,
                answer,
                domestic_balanced: d != 0,
                foreign_balanced: f != 0,
                settled_at: at,
            })
        })
        .transpose()
    }
}
