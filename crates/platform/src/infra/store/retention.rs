//! Retention (security review L6): purging receipts whose retention has passed with everything
//! that refers to them, in bounded batches each in one transaction; legal holds that keep a
//! disputed receipt; each terminal's purged chain prefix; old login codes, refusals and ended
//! sessions; and the log of purge runs.

use std::collections::BTreeMap;

use super::{column, hash_column, Store, StoreError, SESSION_IDLE_MS};

/// A legal hold on a receipt: while it stands the receipt is never purged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub receipt_id: String,
    /// Who put it on hold (the acquirer's username, or `admin-api`).
    pub held_by: String,
    /// Why, e.g. the dispute's case number.
    pub reason: String,
    pub held_at: i64,
}

/// Where a terminal's purged chain prefix ends: receipts up to `last_sequence` were purged under
/// retention (held ones stay), and the first receipt kept after it links to `last_hash`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainFloor {
    pub last_sequence: i64,
    pub last_hash: [u8; 32],
    /// The newest purged receipt of the chain.
    pub last_receipt_id: String,
    /// Receipts of the terminal purged so far.
    pub receipts: i64,
    /// When the newest of them was purged.
    pub purged_at: i64,
}

/// What one batch of [`Store::purge_receipts`] deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgedBatch {
    pub receipts: u64,
    pub deliveries: u64,
    pub delivery_events: u64,
}

/// One purge run, as logged in `purge_runs`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PurgeRun {
    pub started_at: i64,
    pub finished_at: i64,
    /// Receipts sold and received before this instant were due.
    pub cutoff: i64,
    pub receipts: u64,
    pub deliveries: u64,
    pub delivery_events: u64,
    pub login_codes: u64,
    pub sessions: u64,
    pub refusals: u64,
    /// Receipts that were due but are on hold, so kept.
    pub held_kept: u64,
}

/// The most ids one statement lists.
pub const MAX_BATCH: i64 = 500;

/// Receipts due at `cutoff`: sold and received before it (a terminal's clock cannot make a receipt
/// due early), not held, and unchained or in the chain prefix before the terminal's first receipt
/// that is not due, so what is purged of a chain is always a prefix.
const DUE: &str = "r.tx_time < $1 AND r.received_at < $1 \
     AND NOT EXISTS (SELECT 1 FROM receipt_holds h WHERE h.receipt_id = r.receipt_id) \
     AND (r.sequence IS NULL OR NOT EXISTS (SELECT 1 FROM receipts y WHERE y.terminal_id = r.terminal_id \
          AND y.sequence <= r.sequence AND (y.tx_time >= $1 OR y.received_at >= $1)))";

/// A purged chain link: sequence, record hash, receipt id.
type Link = (i64, [u8; 32], String);

/// `$from, $from+1, …` for `n` values.
fn placeholders(from: usize, n: usize) -> String {
    (from..from + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

impl Store {
    /// Deletes at most `limit` (1..=[`MAX_BATCH`]) due receipts (see [`DUE`]) with their
    /// deliveries and delivery history, in one transaction, and moves each terminal's
    /// [`ChainFloor`] up to the newest chained receipt purged. Call again until it purges fewer
    /// than `limit`. A hold placed meanwhile wins: the delete then fails on the hold's foreign key
    /// and nothing of the batch is deleted.
    pub async fn purge_receipts(&self, cutoff: i64, limit: i64, now: i64) -> Result<PurgedBatch, StoreError> {
        let mut tx = self.pool.begin().await?;
        // Write first: on SQLite this takes the write lock now rather than failing to upgrade later.
        sqlx::query("UPDATE chain_purges SET receipts = receipts WHERE 1 = 0").execute(&mut *tx).await?;
        let sql = format!(
            "SELECT r.receipt_id, r.terminal_id, r.sequence, r.record_hash FROM receipts r WHERE {DUE} \
             ORDER BY r.terminal_id, r.sequence, r.ingest_seq LIMIT $2"
        );
        let rows = sqlx::query(&sql).bind(cutoff).bind(limit.clamp(1, MAX_BATCH)).fetch_all(&mut *tx).await?;
        if rows.is_empty() {
            return Ok(PurgedBatch::default());
        }
        let mut ids = Vec::with_capacity(rows.len());
        // Per terminal: receipts purged, and the newest chained one.
        let mut floors: BTreeMap<String, (i64, Option<Link>)> = BTreeMap::new();
        for row in &rows {
            let id: String = column(row, "receipt_id")?;
            let floor = floors.entry(column(row, "terminal_id")?).or_default();
            floor.0 += 1;
            if let Some(seq) = column::<Option<i64>>(row, "sequence")? {
                if floor.1.as_ref().is_none_or(|(s, _, _)| seq > *s) {
                    floor.1 = Some((seq, hash_column(row, "record_hash")?, id.clone()));
                }
            }
            ids.push(id);
        }
        let list = placeholders(1, ids.len());
        let events_sql = format!(
            "DELETE FROM delivery_events WHERE delivery_id IN \
             (SELECT delivery_id FROM deliveries WHERE receipt_id IN ({list}))"
        );
        let peer_ids_sql = format!(
            "DELETE FROM delivery_peer_ids WHERE delivery_id IN \
             (SELECT delivery_id FROM deliveries WHERE receipt_id IN ({list}))"
        );
        let deliveries_sql = format!("DELETE FROM deliveries WHERE receipt_id IN ({list})");
        let receipts_sql = format!("DELETE FROM receipts WHERE receipt_id IN ({list})");
        // Children first: every table that refers to a receipt (or to its deliveries).
        let events = bind_all(&events_sql, &ids).execute(&mut *tx).await?.rows_affected();
        bind_all(&peer_ids_sql, &ids).execute(&mut *tx).await?;
        let deliveries = bind_all(&deliveries_sql, &ids).execute(&mut *tx).await?.rows_affected();
        let receipts = bind_all(&receipts_sql, &ids).execute(&mut *tx).await?.rows_affected();
        for (terminal_id, (count, newest)) in floors {
            let Some((seq, hash, id)) = newest else { continue };
            sqlx::query(
                "INSERT INTO chain_purges (terminal_id, last_sequence, last_hash, last_receipt_id, receipts, purged_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (terminal_id) DO UPDATE SET \
                 last_sequence = excluded.last_sequence, last_hash = excluded.last_hash, \
                 last_receipt_id = excluded.last_receipt_id, receipts = chain_purges.receipts + excluded.receipts, \
                 purged_at = excluded.purged_at WHERE excluded.last_sequence > chain_purges.last_sequence",
            )
            .bind(&terminal_id)
            .bind(seq)
            .bind(hash.as_slice())
            .bind(&id)
            .bind(count)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(PurgedBatch { receipts, deliveries, delivery_events: events })
    }

    /// How many receipts would be due at `cutoff` but for a hold.
    pub async fn held_past(&self, cutoff: i64) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM receipt_holds h JOIN receipts r ON r.receipt_id = h.receipt_id \
             WHERE r.tx_time < $1 AND r.received_at < $1",
        )
        .bind(cutoff)
        .fetch_one(&self.pool)
        .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Deletes at most `limit` login codes issued before `before`.
    pub async fn purge_login_codes(&self, before: i64, limit: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM login_codes WHERE code_id IN \
             (SELECT code_id FROM login_codes WHERE created_at < $1 ORDER BY code_id LIMIT $2)",
        )
        .bind(before)
        .bind(limit.clamp(1, MAX_BATCH))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Deletes at most `limit` refusals recorded before `before`.
    pub async fn purge_refusals(&self, before: i64, limit: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM refusals WHERE id IN (SELECT id FROM refusals WHERE at < $1 ORDER BY id LIMIT $2)",
        )
        .bind(before)
        .bind(limit.clamp(1, MAX_BATCH))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Deletes at most `limit` sessions that have ended by `now` (idle or past their absolute
    /// limit), which [`Store::session`] would refuse anyway.
    pub async fn purge_sessions(&self, now: i64, limit: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM sessions WHERE session_hash IN (SELECT session_hash FROM sessions \
             WHERE expires_at <= $1 OR last_seen_at <= $2 LIMIT $3)",
        )
        .bind(now)
        .bind(now - SESSION_IDLE_MS)
        .bind(limit.clamp(1, MAX_BATCH))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Logs a purge run.
    pub async fn record_purge_run(&self, run: &PurgeRun) -> Result<(), StoreError> {
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        sqlx::query(
            "INSERT INTO purge_runs (started_at, finished_at, cutoff, receipts, deliveries, delivery_events, \
             login_codes, sessions, refusals, held_kept) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(run.started_at)
        .bind(run.finished_at)
        .bind(run.cutoff)
        .bind(n(run.receipts))
        .bind(n(run.deliveries))
        .bind(n(run.delivery_events))
        .bind(n(run.login_codes))
        .bind(n(run.sessions))
        .bind(n(run.refusals))
        .bind(n(run.held_kept))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The latest `limit` (1..=1000) purge runs, newest first.
    pub async fn purge_runs(&self, limit: i64) -> Result<Vec<PurgeRun>, StoreError> {
        let rows = sqlx::query(
            "SELECT started_at, finished_at, cutoff, receipts, deliveries, delivery_events, login_codes, sessions, \
             refusals, held_kept FROM purge_runs ORDER BY started_at DESC, run_id DESC LIMIT $1",
        )
        .bind(limit.clamp(1, 1000))
        .fetch_all(&self.pool)
        .await?;
        let count =
            |row: &sqlx::any::AnyRow, name: &str| column::<i64>(row, name).map(|v| u64::try_from(v).unwrap_or(0));
        rows.iter()
            .map(|row| {
                Ok(PurgeRun {
                    started_at: column(row, "started_at")?,
                    finished_at: column(row, "finished_at")?,
                    cutoff: column(row, "cutoff")?,
                    receipts: count(row, "receipts")?,
                    deliveries: count(row, "deliveries")?,
                    delivery_events: count(row, "delivery_events")?,
                    login_codes: count(row, "login_codes")?,
                    sessions: count(row, "sessions")?,
                    refusals: count(row, "refusals")?,
                    held_kept: count(row, "held_kept")?,
                })
            })
            .collect()
    }

    /// Where the terminal's purged chain prefix ends, if any of its chain was purged.
    pub async fn chain_floor(&self, terminal_id: &str) -> Result<Option<ChainFloor>, StoreError> {
        let row = sqlx::query(
            "SELECT last_sequence, last_hash, last_receipt_id, receipts, purged_at FROM chain_purges \
             WHERE terminal_id = $1",
        )
        .bind(terminal_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(ChainFloor {
                last_sequence: column(&row, "last_sequence")?,
                last_hash: hash_column(&row, "last_hash")?,
                last_receipt_id: column(&row, "last_receipt_id")?,
                receipts: column(&row, "receipts")?,
                purged_at: column(&row, "purged_at")?,
            })
        })
        .transpose()
    }

    /// Puts the stored receipt on hold; `Ok(None)` when no receipt has this id. Holding a held
    /// receipt keeps the first hold.
    pub async fn hold_receipt(
        &self,
        receipt_id: &str,
        held_by: &str,
        reason: &str,
        now: i64,
    ) -> Result<Option<Hold>, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO receipt_holds (receipt_id, held_by, reason, held_at) \
             SELECT receipt_id, $2, $3, $4 FROM receipts WHERE receipt_id = $1 \
             ON CONFLICT (receipt_id) DO NOTHING",
        )
        .bind(receipt_id)
        .bind(held_by)
        .bind(reason)
        .bind(now)
        .execute(&self.pool)
        .await?;
        tracing::debug!(receipt_id, new = inserted.rows_affected() > 0, "hold requested");
        self.hold_of(receipt_id).await
    }

    /// Releases the hold; whether there was one.
    pub async fn release_hold(&self, receipt_id: &str) -> Result<bool, StoreError> {
        let done =
            sqlx::query("DELETE FROM receipt_holds WHERE receipt_id = $1").bind(receipt_id).execute(&self.pool).await?;
        Ok(done.rows_affected() > 0)
    }

    /// The receipt's hold, if it is held.
    pub async fn hold_of(&self, receipt_id: &str) -> Result<Option<Hold>, StoreError> {
        let row = sqlx::query("SELECT receipt_id, held_by, reason, held_at FROM receipt_holds WHERE receipt_id = $1")
            .bind(receipt_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            Ok(Hold {
                receipt_id: column(&row, "receipt_id")?,
                held_by: column(&row, "held_by")?,
                reason: column(&row, "reason")?,
                held_at: column(&row, "held_at")?,
            })
        })
        .transpose()
    }
}

/// `sql` with each of `ids` bound in turn.
fn bind_all<'q>(sql: &'q str, ids: &'q [String]) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    ids.iter().fold(sqlx::query(sql), |q, id| q.bind(id))
}
