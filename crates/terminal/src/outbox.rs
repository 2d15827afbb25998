//! The terminal's local outbox (store-and-forward, T6/T7): every receipt is written here durably
//! before upload, then drained oldest first; it also owns the terminal's hash chain, batches and
//! serials, which continue from the platform's resume point after an enrolment.
//!
//! One SQLite file in WAL mode with `synchronous = FULL`: a committed [`Outbox::store`] survives a
//! kill or a power cut. Every write is a single statement or an `IMMEDIATE` transaction, so a crash
//! at any moment leaves each receipt either wholly stored or absent, and acknowledged only with the
//! acknowledgement's bytes (a table constraint enforces it).

mod backoff;
mod entry;
mod journal;
mod late;
mod operation;
mod originals;
mod records;
mod resume;
mod settlement;
mod slips;
mod trace;

use std::path::Path;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

pub use backoff::{backoff_ms, BACKOFF_BASE_MS, BACKOFF_CAP_MS};
pub use entry::{Entry, EntryState, EntrySummary, NewEntry, NextLink, OutboxStatus};
use entry::{EntryRow, SummaryRow, ENTRY_COLUMNS, SUMMARY_COLUMNS};
pub use journal::{new_request_id, AuthorisationRecord, AuthorisationState, NewAuthorisation, ReversalReason};
pub use late::{LateRefund, ReceiptParts};
pub use operation::Operation;
pub use originals::{completion_limit, Refundable, COMPLETION_TOLERANCE_PERCENT};
pub use records::StoredRecord;
pub use resume::{Resume, MAX_BATCH};
pub use settlement::{BatchTotals, SettlementRecord, Side};
pub use slips::{NewSlip, StoredSlip};
pub use trace::Trace;

/// Receipt serials run 1..=MAX_SERIAL, then start again at 1.
pub const MAX_SERIAL: u32 = 999_999;
/// How long an acknowledged receipt keeps its image before [`Outbox::prune_images`] drops it.
pub const IMAGE_RETENTION_MS: i64 = 30 * 24 * 60 * 60 * 1_000;
/// Longer error texts are cut: they are for the operator, and the outbox lives on a phone.
const MAX_ERROR_CHARS: usize = 1_000;

/// What can go wrong with the outbox.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutboxError {
    /// SQLite failed (file unreadable, disk full, locked past the busy timeout, migration failed).
    /// Nothing was changed; the operation may succeed if retried.
    #[error("outbox database: {0}")]
    Database(String),
    /// The sequence or receipt id is already stored, or the sequence does not follow the chain
    /// head: another sale took the link first. Nothing was stored; compose again from
    /// [`Outbox::next_link`].
    #[error("outbox conflict: {0}")]
    Conflict(String),
    /// A stored row holds a value the outbox never writes (the file was damaged or edited).
    #[error("outbox is corrupt: {0}")]
    Corrupt(String),
    /// The caller passed something that cannot be stored (serial out of range, record hash not
    /// the SHA-256 of the record, empty receipt id or acknowledgement). Nothing was changed.
    #[error("outbox refused the entry: {0}")]
    Invalid(String),
    /// No receipt (or authorisation) with this id is in the outbox.
    #[error("no receipt or authorisation {0} in the outbox")]
    NotFound(String),
    /// The authorisation is not in a state that allows this step (a receipt for a reversed
    /// authorisation, a reversal of a completed one…). Nothing was changed.
    #[error("{0}")]
    Authorisation(String),
    /// The original a void, refund or completion names cannot take it (not found on this
    /// terminal, already voided, settled, the amount above what remains). Nothing was sent.
    #[error("{0}")]
    Original(String),
}

impl From<sqlx::Error> for OutboxError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => OutboxError::Conflict(db.message().to_owned()),
            _ => OutboxError::Database(e.to_string()),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for OutboxError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        OutboxError::Database(format!("creating the outbox schema: {e}"))
    }
}

/// The outbox: a handle on its SQLite file, cheap to clone and share between tasks.
#[derive(Clone, Debug)]
pub struct Outbox {
    pool: SqlitePool,
    /// Queues this process's writers (sales, the journal, the uploader): SQLite lets one write
    /// at a time, and a writer that finds the lock taken sleeps in its busy handler (1 ms up to
    /// 100 ms at a go), so writers in flight waited far longer than their writes take. Another
    /// process (the CLI) still meets the busy handler, as before.
    writer: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// One receipt at a time from its chain link to its storing ([`Outbox::chain_turn`]): two
    /// receipts composed at once would both take the same next link, and the second would fail
    /// after its approval.
    chain: std::sync::Arc<tokio::sync::Mutex<()>>,
}

impl Outbox {
    /// Opens the outbox at `path`, creating the file and its schema if missing. The parent
    /// directory must exist.
    pub async fn open(path: &Path) -> Result<Outbox, OutboxError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            // The uploader and a sale may write at once, possibly from two processes.
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .after_release(|conn, _meta| Box::pin(fit_for_reuse(conn)))
            .connect_with(options)
            .await?;
        let mut migrator = sqlx::migrate!("./migrations/outbox");
        // Other parts of the terminal may keep their own tables (and migrations) in this file.
        migrator.set_ignore_missing(true);
        migrator.run(&pool).await?;
        Ok(Outbox { pool, writer: Default::default(), chain: Default::default() })
    }

    /// Waits for open connections to finish and closes them. Dropping the handle is also safe:
    /// everything returned `Ok` is already on disk.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The chain link, batch and serial the next sale must use: they follow the later of the last
    /// stored receipt and the resume point ([`Outbox::set_resume`]).
    /// This process's turn to add a receipt to the chain: hold it from [`Outbox::next_link`]
    /// until the receipt of that link is stored (or given up). Another process on the same
    /// outbox (the CLI beside the UI) is not queued by it: its store meets
    /// [`OutboxError::Conflict`] and takes the next link again.
    pub async fn chain_turn(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.chain.lock().await
    }

    pub async fn next_link(&self) -> Result<NextLink, OutboxError> {
        resume::follow(self.own_head().await?, self.resume().await?)
    }

    /// Durably stores a composed receipt as pending, due now. Atomic: when this returns `Ok` the
    /// receipt is on disk; on any error nothing was stored.
    ///
    /// `r.sequence` must be the chain head (the outbox's or the resume point's, whichever is
    /// later) + 1, what [`Outbox::next_link`] returned, else
    /// [`OutboxError::Conflict`]: this is what keeps two sales from sharing a link.
    pub async fn store(&self, r: &NewEntry, now_ms: i64) -> Result<(), OutboxError> {
        self.store_sale(r, None, now_ms).await
    }

    /// [`Outbox::store`], and with `authorisation` marks that journalled authorisation
    /// `completed` by this receipt in the same transaction (security review L4): the receipt is
    /// stored if and only if its approval is recorded as completed. An authorisation that is not
    /// `approved` (reversed meanwhile, or already completed) is [`OutboxError::Authorisation`],
    /// and nothing is stored.
    pub async fn store_sale(&self, r: &NewEntry, authorisation: Option<&str>, now_ms: i64) -> Result<(), OutboxError> {
        let _queued = self.writer.lock().await;
        check_new(r)?;
        let sequence = db_sequence(r.sequence)?;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        // "Is it the next link?" and the insert are one statement; the primary key and the
        // unique receipt id are the backstop.
        let inserted = sqlx::query(
            "INSERT INTO outbox_entries \
                 (sequence, receipt_id, record_hash, record, png, serial, delivery, state, attempts, \
                  next_attempt_at, created_at, batch) \
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', 0, ?8, ?8, ?9 \
             WHERE max((SELECT COALESCE(MAX(sequence), 0) FROM outbox_entries), \
                       (SELECT COALESCE(MAX(sequence), 0) FROM outbox_resume)) + 1 = ?1",
        )
        .bind(sequence)
        .bind(&r.receipt_id)
        .bind(&r.record_hash[..])
        .bind(&r.record)
        .bind(&r.png)
        .bind(i64::from(r.serial))
        .bind(&r.delivery)
        .bind(now_ms)
        .bind(i64::from(r.batch))
        .execute(&mut *tx)
        .await
        .map_err(|e| match OutboxError::from(e) {
            OutboxError::Conflict(_) => OutboxError::Conflict(format!("receipt {} is already stored", r.receipt_id)),
            other => other,
        })?;
        if inserted.rows_affected() == 1 {
            if let Some(request_id) = authorisation {
                // On an error the transaction is dropped, which rolls the receipt back too.
                journal::complete_in(&mut tx, request_id, &r.receipt_id, now_ms).await?;
            }
            tx.commit().await?;
            tracing::debug!(receipt_id = %r.receipt_id, sequence = r.sequence, "receipt stored in the outbox");
            return Ok(());
        }
        tx.rollback().await?;
        let head = self.next_link().await?.sequence - 1;
        Err(OutboxError::Conflict(if r.sequence <= head {
            format!("sequence {} is already stored", r.sequence)
        } else {
            format!("sequence {} does not follow the last stored sequence {head}", r.sequence)
        }))
    }

    /// The oldest pending entry if it is due (its `next_attempt_at <= now_ms`), else `None`.
    /// Strict FIFO: while the oldest pending entry is not due, younger ones are not returned
    /// either. Refused entries are skipped.
    pub async fn next_due(&self, now_ms: i64) -> Result<Option<Entry>, OutboxError> {
        let head = self.head().await?;
        Ok(head.filter(|e| e.next_attempt_at <= now_ms))
    }

    /// The oldest pending entry, due or not.
    async fn head(&self) -> Result<Option<Entry>, OutboxError> {
        let sql =
            format!("SELECT {ENTRY_COLUMNS} FROM outbox_entries WHERE state = 'pending' ORDER BY sequence LIMIT 1");
        let row: Option<EntryRow> = sqlx::query_as(&sql).fetch_optional(&self.pool).await?;
        row.map(Entry::try_from).transpose()
    }

    /// Records the platform's acknowledgement (signed bytes, already verified by the caller) and
    /// drops old images ([`Outbox::prune_images`]). Idempotent: acking an acked receipt keeps
    /// the first acknowledgement. Also acks a refused receipt (the platform has it after all).
    ///
    /// The delivery choice keeps only its channel (`sms:+86…` becomes `sms`): the platform now
    /// delivers the receipt, and the phone has no further use for the customer's number or
    /// address (security review L6).
    pub async fn mark_acked(&self, receipt_id: &str, ack: &[u8], now_ms: i64) -> Result<(), OutboxError> {
        if ack.is_empty() {
            return Err(OutboxError::Invalid("an empty acknowledgement".into()));
        }
        let queued = self.writer.lock().await;
        let done = sqlx::query(
            "UPDATE outbox_entries SET state = 'acked', ack = ?1, acked_at = ?2, \
             delivery = CASE WHEN instr(delivery, ':') > 0 THEN substr(delivery, 1, instr(delivery, ':') - 1) \
                        ELSE NULL END \
             WHERE receipt_id = ?3 AND state <> 'acked'",
        )
        .bind(ack)
        .bind(now_ms)
        .bind(receipt_id)
        .execute(&self.pool)
        .await?;
        // Released before prune_images, which queues for it again.
        drop(queued);
        if done.rows_affected() == 0 {
            // Either acknowledged before (fine) or unknown.
            self.state_of(receipt_id).await?;
        } else {
            tracing::debug!(receipt_id, "receipt acknowledged");
        }
        self.prune_images(now_ms).await?;
        Ok(())
    }

    /// Records a failed upload attempt: one more attempt, the error text, and the next attempt at
    /// `now_ms + backoff_ms(attempts, random jitter)`. With `permanent` (the platform refused the
    /// receipt itself, e.g. 400 or 409) the receipt is parked as refused: never retried, shown
    /// by [`Outbox::status`], skipped by [`Outbox::next_due`]. A receipt that is no longer
    /// pending (acked meanwhile by another attempt, or refused) is left as it is.
    pub async fn mark_failed(
        &self,
        receipt_id: &str,
        error: &str,
        permanent: bool,
        now_ms: i64,
    ) -> Result<(), OutboxError> {
        let _queued = self.writer.lock().await;
        let error: String = error.chars().take(MAX_ERROR_CHARS).collect();
        // IMMEDIATE takes the write lock up front, so the attempts read here are the ones updated.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let (state, attempts) = state_in(&mut tx, receipt_id).await?;
        if state != EntryState::Pending {
            tracing::debug!(receipt_id, %state, "failure reported for a receipt no longer pending");
            return Ok(());
        }
        let attempts = attempts.saturating_add(1);
        let (state, next) = backoff::after_failure(permanent, attempts, now_ms);
        sqlx::query(
            "UPDATE outbox_entries SET state = ?1, attempts = ?2, last_error = ?3, next_attempt_at = ?4 \
             WHERE receipt_id = ?5",
        )
        .bind(state.as_db())
        .bind(i64::from(attempts))
        .bind(&error)
        .bind(next)
        .bind(receipt_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        if permanent {
            tracing::warn!(receipt_id, error, "the platform refused the receipt; it will not be retried");
        } else {
            tracing::debug!(receipt_id, attempts, next_attempt_at = next, error, "upload failed; retry scheduled");
        }
        Ok(())
    }

    /// Makes every pending entry due now (the operator pressed "retry now", or connectivity came
    /// back). Returns how many receipts are pending. Refused receipts stay refused; the attempt
    /// count is kept, so a receipt that fails again backs off from where it was.
    pub async fn retry_now(&self, now_ms: i64) -> Result<u64, OutboxError> {
        let _queued = self.writer.lock().await;
        let done =
            sqlx::query("UPDATE outbox_entries SET next_attempt_at = MIN(next_attempt_at, ?1) WHERE state = 'pending'")
                .bind(now_ms)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected())
    }

    /// Counts and the state of the queue head, in one consistent read.
    pub async fn status(&self) -> Result<OutboxStatus, OutboxError> {
        type Row = (i64, i64, i64, Option<i64>, Option<i64>, Option<String>, Option<i64>);
        let (pending, acked, refused, oldest, next, last_error, last_sequence): Row = sqlx::query_as(
            "SELECT \
                 (SELECT COUNT(*) FROM outbox_entries WHERE state = 'pending'), \
                 (SELECT COUNT(*) FROM outbox_entries WHERE state = 'acked'), \
                 (SELECT COUNT(*) FROM outbox_entries WHERE state = 'refused'), \
                 (SELECT MIN(created_at) FROM outbox_entries WHERE state = 'pending'), \
                 head.next_attempt_at, head.last_error, \
                 (SELECT MAX(sequence) FROM outbox_entries) \
             FROM (SELECT 1) LEFT JOIN ( \
                 SELECT next_attempt_at, last_error FROM outbox_entries WHERE state = 'pending' \
                 ORDER BY sequence LIMIT 1) AS head",
        )
        .fetch_one(&self.pool)
        .await?;
        let count = |n: i64| u64::try_from(n).map_err(|_| OutboxError::Corrupt(format!("count {n}")));
        Ok(OutboxStatus {
            pending: count(pending)?,
            acked: count(acked)?,
            refused: count(refused)?,
            oldest_pending_at: oldest,
            next_attempt_at: next,
            last_error,
            last_sequence: last_sequence.map(entry::sequence).transpose()?,
        })
    }

    /// The stored receipt with this id, whatever its state.
    pub async fn entry(&self, receipt_id: &str) -> Result<Option<Entry>, OutboxError> {
        let sql = format!("SELECT {ENTRY_COLUMNS} FROM outbox_entries WHERE receipt_id = ?1");
        let row: Option<EntryRow> = sqlx::query_as(&sql).bind(receipt_id).fetch_optional(&self.pool).await?;
        row.map(Entry::try_from).transpose()
    }

    /// At most `limit` entries, newest first, for a status listing (none if `limit <= 0`).
    pub async fn entries(&self, limit: i64) -> Result<Vec<EntrySummary>, OutboxError> {
        let sql = format!("SELECT {SUMMARY_COLUMNS} FROM outbox_entries ORDER BY sequence DESC LIMIT ?1");
        let rows: Vec<SummaryRow> = sqlx::query_as(&sql).bind(limit.max(0)).fetch_all(&self.pool).await?;
        rows.into_iter().map(EntrySummary::try_from).collect()
    }

    /// At most `limit` refused receipts, newest first: the ones the operator must act on.
    pub async fn refused(&self, limit: i64) -> Result<Vec<EntrySummary>, OutboxError> {
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS} FROM outbox_entries WHERE state = 'refused' ORDER BY sequence DESC LIMIT ?1"
        );
        let rows: Vec<SummaryRow> = sqlx::query_as(&sql).bind(limit.max(0)).fetch_all(&self.pool).await?;
        rows.into_iter().map(EntrySummary::try_from).collect()
    }

    /// Drops the images of receipts acknowledged more than [`IMAGE_RETENTION_MS`] before
    /// `now_ms` (the record, its hash and the acknowledgement are kept). Returns how many.
    pub async fn prune_images(&self, now_ms: i64) -> Result<u64, OutboxError> {
        let _queued = self.writer.lock().await;
        let done = sqlx::query(
            "UPDATE outbox_entries SET png = NULL \
             WHERE state = 'acked' AND png IS NOT NULL AND acked_at < ?1",
        )
        .bind(now_ms.saturating_sub(IMAGE_RETENTION_MS))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn state_of(&self, receipt_id: &str) -> Result<(EntryState, u32), OutboxError> {
        let mut conn = self.pool.acquire().await?;
        state_in(&mut conn, receipt_id).await
    }
}

/// The state and failed attempts of a receipt, read on `conn` (so inside its transaction).
/// Whether a connection going back into the pool is outside any transaction; one that is not
/// is closed. When a COMMIT fails for a full disk, SQLite has
/// already ended the transaction; sqlx's ROLLBACK then fails and it goes on counting the
/// transaction as open, so every later sale on that connection failed ("begin_with at non-zero
/// transaction depth") until the terminal restarted, even with space back. The platform's store
/// has the same check, where the consequence was worse (its `sqlite_fit_for_reuse`).
async fn fit_for_reuse(conn: &mut sqlx::SqliteConnection) -> Result<bool, sqlx::Error> {
    use sqlx::Connection;
    if conn.is_in_transaction() {
        conn.ping().await?; // runs the ROLLBACK a dropped transaction queued
        if conn.is_in_transaction() {
            tracing::warn!("an outbox connection lost track of its transaction (a failed COMMIT); closing it");
            return Ok(false);
        }
    }
    Ok(true)
}

async fn state_in(conn: &mut sqlx::SqliteConnection, receipt_id: &str) -> Result<(EntryState, u32), OutboxError> {
    let sql = format!("SELECT {SUMMARY_COLUMNS} FROM outbox_entries WHERE receipt_id = ?1");
    let row: Option<SummaryRow> = sqlx::query_as(&sql).bind(receipt_id).fetch_optional(&mut *conn).await?;
    let summary = EntrySummary::try_from(row.ok_or_else(|| OutboxError::NotFound(receipt_id.to_owned()))?)?;
    Ok((summary.state, summary.attempts))
}

/// Checks what the schema cannot express (or would only report as an opaque constraint failure).
fn check_new(r: &NewEntry) -> Result<(), OutboxError> {
    if r.receipt_id.is_empty() {
        return Err(OutboxError::Invalid("an empty receipt id".into()));
    }
    if !(1..=MAX_SERIAL).contains(&r.serial) {
        return Err(OutboxError::Invalid(format!("serial {} is not in 1..={MAX_SERIAL}", r.serial)));
    }
    if !(1..=MAX_BATCH).contains(&r.batch) {
        return Err(OutboxError::Invalid(format!("batch {} is not in 1..={MAX_BATCH}", r.batch)));
    }
    if ereceipt_core::digest::sha256(&r.record) != r.record_hash {
        // The next receipt chains to this hash: a wrong one would break the chain for good.
        return Err(OutboxError::Invalid(format!(
            "record hash of receipt {} is not the record's SHA-256",
            r.receipt_id
        )));
    }
    Ok(())
}

fn db_sequence(sequence: u64) -> Result<i64, OutboxError> {
    i64::try_from(sequence)
        .ok()
        .filter(|s| *s >= 1)
        .ok_or_else(|| OutboxError::Invalid(format!("sequence {sequence} is not in 1..={}", i64::MAX)))
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod crash_tests;

#[cfg(test)]
mod journal_tests;
