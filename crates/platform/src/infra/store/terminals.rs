//! Terminals, their single-use enrolment tokens, the certificates issued to them and the batch
//! each enrolment owns. Token consumption, batch allocation and revocation are single
//! conditional statements, safe across processes.

use sqlx::any::AnyRow;
use sqlx::AnyConnection;

use super::{
    column, hash_column, is_foreign_key_violation, CertificateRow, NewTerminal, NewToken, Store, StoreError,
    TerminalRow,
};

const TERMINAL_COLUMNS: &str =
    "terminal_id, merchant_id, merchant_name, location, created_at, revoked_at, revoke_reason, mode";
const CERTIFICATE_COLUMNS: &str = "serial_hex, terminal_id, fingerprint, not_before, not_after, issued_at, revoked_at";

/// Where an enrolment's receipts continue, as stored: see [`Store::resume_of`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResumeRow {
    /// The highest batch the terminal's receipts reached from the enrolment's own batch on (the
    /// enrolment's batch when none is stored): a terminal moves to the next batch after serial
    /// 999999.
    pub batch: i64,
    /// The highest serial stored in `batch`; 0 when none.
    pub last_serial: i64,
    /// The stored receipt with the highest sequence number: (sequence, record hash); the newest
    /// purged one ([`super::ChainFloor`]) when that is higher.
    pub head: Option<(i64, [u8; 32])>,
}

impl Store {
    /// Registers a terminal together with its first enrolment token, in one transaction.
    ///
    /// The token is issued for `t.terminal_id` (its own `terminal_id` is not consulted).
    /// Fails with [`StoreError::TerminalExists`] if the id is taken; nothing is written then.
    pub async fn add_terminal(&self, t: &NewTerminal, token: &NewToken, now: i64) -> Result<(), StoreError> {
        // Write first: a SQLite transaction that starts with a write takes the lock up front.
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO terminals (terminal_id, merchant_id, merchant_name, location, created_at, mode) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (terminal_id) DO NOTHING",
        )
        .bind(&t.terminal_id)
        .bind(&t.merchant_id)
        .bind(&t.merchant_name)
        .bind(&t.location)
        .bind(now)
        .bind(t.mode.code())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            tx.rollback().await?;
            return Err(StoreError::TerminalExists(t.terminal_id.clone()));
        }
        insert_token(&mut tx, &t.terminal_id, token, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Issues a fresh enrolment token for a registered terminal ([`StoreError::UnknownTerminal`]
    /// otherwise). Earlier unused tokens stay valid until they expire.
    pub async fn issue_token(&self, token: &NewToken, now: i64) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        insert_token(&mut conn, &token.terminal_id, token, now).await
    }

    /// The terminal with this id, if registered.
    pub async fn terminal(&self, id: &str) -> Result<Option<TerminalRow>, StoreError> {
        let sql = format!("SELECT {TERMINAL_COLUMNS} FROM terminals WHERE terminal_id = $1");
        let row = sqlx::query(&sql).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(terminal_from_row).transpose()
    }

    /// Every registered terminal, revoked ones included, by id.
    pub async fn terminals(&self) -> Result<Vec<TerminalRow>, StoreError> {
        let sql = format!("SELECT {TERMINAL_COLUMNS} FROM terminals ORDER BY terminal_id");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter().map(terminal_from_row).collect()
    }

    /// Atomically marks the token used and returns its terminal. Exactly one of N concurrent
    /// callers wins; the rest get [`StoreError::TokenUsed`]. Otherwise [`StoreError::TokenUnknown`]
    /// or [`StoreError::TokenExpired`] (`now` at or after `expires_at`).
    ///
    /// The terminal is returned as it is, revoked or not: the caller refuses a revoked one.
    pub async fn consume_token(&self, token_hash: &[u8; 32], now: i64) -> Result<TerminalRow, StoreError> {
        let won: Option<String> = sqlx::query_scalar(
            "UPDATE enrolment_tokens SET used_at = $1 \
             WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1 RETURNING terminal_id",
        )
        .bind(now)
        .bind(token_hash.as_slice())
        .fetch_optional(&self.pool)
        .await?;
        if let Some(terminal_id) = won {
            return self
                .terminal(&terminal_id)
                .await?
                .ok_or_else(|| StoreError::CorruptRow(format!("token of missing terminal {terminal_id}")));
        }
        // Lost: tell why. The row cannot change back to unused, so this read is conclusive.
        let state = sqlx::query("SELECT used_at, expires_at FROM enrolment_tokens WHERE token_hash = $1")
            .bind(token_hash.as_slice())
            .fetch_optional(&self.pool)
            .await?;
        let Some(state) = state else { return Err(StoreError::TokenUnknown) };
        let used_at: Option<i64> = column(&state, "used_at")?;
        let expires_at: i64 = column(&state, "expires_at")?;
        if used_at.is_none() && expires_at <= now {
            Err(StoreError::TokenExpired)
        } else {
            Err(StoreError::TokenUsed)
        }
    }

    /// Hands the terminal the next batch for a new enrolment: one above every batch handed out
    /// before and every batch its stored receipts carry. Two enrolments racing get two batches.
    /// [`StoreError::UnknownTerminal`] if it is not registered.
    pub async fn allocate_batch(&self, terminal_id: &str) -> Result<i64, StoreError> {
        let seen = "(SELECT MAX(r.batch) FROM receipts r WHERE r.terminal_id = $1)";
        let batch: Option<i64> = sqlx::query_scalar(&format!(
            "UPDATE terminals SET last_batch = 1 + CASE WHEN last_batch >= COALESCE({seen}, 0) \
             THEN last_batch ELSE {seen} END WHERE terminal_id = $1 RETURNING last_batch"
        ))
        .bind(terminal_id)
        .fetch_optional(&self.pool)
        .await?;
        batch.ok_or_else(|| StoreError::UnknownTerminal(terminal_id.to_owned()))
    }

    /// The batch of the enrolment a certificate belongs to, if the certificate is recorded.
    pub async fn certificate_batch(&self, serial_hex: &str) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar("SELECT batch FROM certificates WHERE serial_hex = $1")
            .bind(serial_hex)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Where the terminal's receipts continue for an enrolment of `batch`: the highest (batch,
    /// serial) stored from `batch` on, and the head of the terminal's chain.
    pub async fn resume_of(&self, terminal_id: &str, batch: i64) -> Result<ResumeRow, StoreError> {
        let last = sqlx::query(
            "SELECT batch, serial FROM receipts WHERE terminal_id = $1 AND batch >= $2 \
             ORDER BY batch DESC, serial DESC LIMIT 1",
        )
        .bind(terminal_id)
        .bind(batch)
        .fetch_optional(&self.pool)
        .await?;
        let (batch, last_serial) = match &last {
            Some(row) => (column(row, "batch")?, column(row, "serial")?),
            None => (batch, 0),
        };
        let head = sqlx::query(
            "SELECT sequence, record_hash FROM receipts WHERE terminal_id = $1 AND sequence IS NOT NULL \
             ORDER BY sequence DESC, ingest_seq DESC LIMIT 1",
        )
        .bind(terminal_id)
        .fetch_optional(&self.pool)
        .await?;
        let head = match &head {
            Some(row) => Some((column(row, "sequence")?, hash_column(row, "record_hash")?)),
            None => None,
        };
        // Purged under retention, the chain's head may be gone: it continues from the floor.
        let floor = self.chain_floor(terminal_id).await?.map(|f| (f.last_sequence, f.last_hash));
        let head = match (head, floor) {
            (Some(h), Some(f)) if f.0 > h.0 => Some(f),
            (None, f) => f,
            (h, _) => h,
        };
        Ok(ResumeRow { batch, last_serial, head })
    }

    /// Records a certificate the CA issued to an enrolment of `batch`: [`StoreError::UnknownTerminal`]
    /// if its terminal is not registered, [`StoreError::TerminalRevoked`] if it is revoked (then
    /// nothing is recorded). A serial recorded twice is a database error.
    ///
    /// One transaction that first writes the terminal's row (a no-op) where it is not revoked:
    /// that takes the row's lock (PostgreSQL) or the write lock (SQLite), so a concurrent
    /// [`Store::revoke_terminal`] either commits first and this refuses, or waits and then
    /// revokes this certificate too.
    pub async fn record_certificate(&self, c: &CertificateRow, batch: i64) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let live =
            sqlx::query("UPDATE terminals SET last_batch = last_batch WHERE terminal_id = $1 AND revoked_at IS NULL")
                .bind(&c.terminal_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if live == 0 {
            tx.rollback().await?;
            return Err(match self.terminal(&c.terminal_id).await? {
                Some(_) => StoreError::TerminalRevoked(c.terminal_id.clone()),
                None => StoreError::UnknownTerminal(c.terminal_id.clone()),
            });
        }
        sqlx::query(
            "INSERT INTO certificates \
             (serial_hex, terminal_id, fingerprint, not_before, not_after, issued_at, revoked_at, batch) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&c.serial_hex)
        .bind(&c.terminal_id)
        .bind(&c.fingerprint)
        .bind(c.not_before)
        .bind(c.not_after)
        .bind(c.issued_at)
        .bind(c.revoked_at)
        .bind(batch)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The certificate with this serial (lowercase hex), if recorded. It counts as revoked once
    /// its terminal is, even where the certificate's own row missed the revocation: what the
    /// upload and renewal checks read.
    pub async fn certificate(&self, serial_hex: &str) -> Result<Option<CertificateRow>, StoreError> {
        let sql = "SELECT c.serial_hex, c.terminal_id, c.fingerprint, c.not_before, c.not_after, c.issued_at, \
                   COALESCE(c.revoked_at, t.revoked_at) AS revoked_at \
                   FROM certificates c JOIN terminals t ON t.terminal_id = c.terminal_id WHERE c.serial_hex = $1";
        let row = sqlx::query(sql).bind(serial_hex).fetch_optional(&self.pool).await?;
        row.as_ref().map(certificate_from_row).transpose()
    }

    /// Marks the terminal and every certificate of it revoked at `now`, keeping the earliest
    /// `revoked_at` (and its reason) where already revoked, and expires its unused enrolment tokens.
    /// [`StoreError::UnknownTerminal`] if absent. Returns the number of certificates newly revoked.
    pub async fn revoke_terminal(&self, terminal_id: &str, reason: &str, now: i64) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let found = sqlx::query(
            "UPDATE terminals SET revoked_at = COALESCE(revoked_at, $1), revoke_reason = COALESCE(revoke_reason, $2) \
             WHERE terminal_id = $3",
        )
        .bind(now)
        .bind(reason)
        .bind(terminal_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if found == 0 {
            tx.rollback().await?;
            return Err(StoreError::UnknownTerminal(terminal_id.to_owned()));
        }
        let revoked =
            sqlx::query("UPDATE certificates SET revoked_at = $1 WHERE terminal_id = $2 AND revoked_at IS NULL")
                .bind(now)
                .bind(terminal_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        sqlx::query(
            "UPDATE enrolment_tokens SET expires_at = $1 \
             WHERE terminal_id = $2 AND used_at IS NULL AND expires_at > $1",
        )
        .bind(now)
        .bind(terminal_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(revoked)
    }

    /// Every revoked certificate, for the CRL, in order of revocation.
    pub async fn revoked_certificates(&self) -> Result<Vec<CertificateRow>, StoreError> {
        let sql = format!(
            "SELECT {CERTIFICATE_COLUMNS} FROM certificates WHERE revoked_at IS NOT NULL \
             ORDER BY revoked_at, serial_hex"
        );
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter().map(certificate_from_row).collect()
    }
}

/// Stores a token for `terminal_id`; a terminal that is not registered breaks the foreign key.
async fn insert_token(
    conn: &mut AnyConnection,
    terminal_id: &str,
    token: &NewToken,
    now: i64,
) -> Result<(), StoreError> {
    let result = sqlx::query(
        "INSERT INTO enrolment_tokens (token_hash, terminal_id, issued_at, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(token.token_hash.as_slice())
    .bind(terminal_id)
    .bind(now)
    .bind(token.expires_at)
    .execute(conn)
    .await;
    match result {
        Ok(_) => Ok(()),
        Err(e) if is_foreign_key_violation(&e) => Err(StoreError::UnknownTerminal(terminal_id.to_owned())),
        Err(e) => Err(e.into()),
    }
}

fn terminal_from_row(row: &AnyRow) -> Result<TerminalRow, StoreError> {
    let mode: String = column(row, "mode")?;
    Ok(TerminalRow {
        terminal_id: column(row, "terminal_id")?,
        merchant_id: column(row, "merchant_id")?,
        merchant_name: column(row, "merchant_name")?,
        location: column(row, "location")?,
        created_at: column(row, "created_at")?,
        revoked_at: column(row, "revoked_at")?,
        revoke_reason: column(row, "revoke_reason")?,
        mode: mode
            .parse()
            .map_err(|_| StoreError::CorruptRow("terminals.mode is neither production nor test".into()))?,
    })
}

fn certificate_from_row(row: &AnyRow) -> Result<CertificateRow, StoreError> {
    Ok(CertificateRow {
        serial_hex: column(row, "serial_hex")?,
        terminal_id: column(row, "terminal_id")?,
        fingerprint: column(row, "fingerprint")?,
        not_before: column(row, "not_before")?,
        not_after: column(row, "not_after")?,
        issued_at: column(row, "issued_at")?,
        revoked_at: column(row, "revoked_at")?,
    })
}
