//! One-time login codes for pull delivery (P3): issued at a limited rate per number and per
//! client address, checked against the newest code of the number, and the receipts they unlock.

use super::receipts::{receipt_from_row, RECEIPT_COLUMNS};
use super::{column, hash_column, Store, StoreError, StoredReceipt};
use crate::domain::login_codes::{self, LoginOutcome, RateLimit, CODE_TTL_MS, MAX_FAILURES, PER_CLIENT, PER_NUMBER};

/// What asking for a code gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Issued {
    /// The code is stored; send it. It replaces every earlier code of the number.
    Code { code_id: i64, expires_at: i64 },
    /// Too many codes for this number or from this client lately: nothing was stored, and
    /// asking again succeeds at the earliest after `retry_after_ms`.
    RateLimited { retry_after_ms: i64 },
}

impl Store {
    /// Stores a new code for `phone`, asked for by `client` (its address), unless that would
    /// exceed [`PER_NUMBER`] codes for the number or [`PER_CLIENT`] codes from the client within
    /// their windows. `code_hash` is [`login_codes::code_hash`] of the code.
    ///
    /// The counts and the insert are one statement: on SQLite (one writer) the limits hold
    /// exactly; on PostgreSQL, requests for the same number at the very same instant may each
    /// see the other's row missing and both pass, so a limit can be exceeded by the number of
    /// truly concurrent requests, never more.
    pub async fn issue_code(
        &self,
        phone: &str,
        client: &str,
        code_hash: &[u8; 32],
        now: i64,
    ) -> Result<Issued, StoreError> {
        let expires_at = now + CODE_TTL_MS;
        let row = sqlx::query(
            "INSERT INTO login_codes (phone, code_hash, created_at, expires_at, failures, client) \
             SELECT $1, $2, $3, $4, 0, $5 \
             WHERE (SELECT COUNT(*) FROM login_codes WHERE phone = $1 AND created_at > $6) < $7 \
             AND (SELECT COUNT(*) FROM login_codes WHERE client = $5 AND created_at > $8) < $9 \
             RETURNING code_id",
        )
        .bind(phone)
        .bind(code_hash.to_vec())
        .bind(now)
        .bind(expires_at)
        .bind(client)
        .bind(now - PER_NUMBER.window_ms)
        .bind(PER_NUMBER.max)
        .bind(now - PER_CLIENT.window_ms)
        .bind(PER_CLIENT.max)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(row) = row {
            return Ok(Issued::Code { code_id: column(&row, "code_id")?, expires_at });
        }
        let by_number = self.retry_after("phone", phone, PER_NUMBER, now).await?;
        let by_client = self.retry_after("client", client, PER_CLIENT, now).await?;
        Ok(Issued::RateLimited { retry_after_ms: by_number.max(by_client).max(1) })
    }

    /// How long until fewer than `limit.max` codes with this `key_column` value lie within the
    /// window: until the `max`-th newest one leaves it (0 if there are fewer already).
    async fn retry_after(&self, key_column: &str, key: &str, limit: RateLimit, now: i64) -> Result<i64, StoreError> {
        // `key_column` is one of two names fixed in this file, never input.
        let sql = format!(
            "SELECT created_at FROM login_codes WHERE {key_column} = $1 AND created_at > $2 \
             ORDER BY created_at DESC LIMIT 1 OFFSET $3"
        );
        let oldest: Option<i64> = sqlx::query_scalar(&sql)
            .bind(key)
            .bind(now - limit.window_ms)
            .bind(limit.max - 1)
            .fetch_optional(&self.pool)
            .await?;
        Ok(oldest.map_or(0, |at| at + limit.window_ms - now))
    }

    /// Checks a code for `phone` against the newest code issued for it (earlier ones no longer
    /// count). On a match with a code that is unused, unexpired and not locked, marks it used and
    /// returns [`LoginOutcome::Ok`] — to exactly one of several concurrent callers; on a mismatch,
    /// counts a failure. `code_hash` is [`login_codes::code_hash`] of what the customer typed.
    pub async fn check_code(&self, phone: &str, code_hash: &[u8; 32], now: i64) -> Result<LoginOutcome, StoreError> {
        let row = sqlx::query(
            "SELECT code_id, code_hash, expires_at, used_at, failures FROM login_codes WHERE phone = $1 \
             ORDER BY created_at DESC, code_id DESC LIMIT 1",
        )
        .bind(phone)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(LoginOutcome::NoCode) };
        let code_id: i64 = column(&row, "code_id")?;
        let stored = hash_column(&row, "code_hash")?;
        let expires_at: i64 = column(&row, "expires_at")?;
        let used_at: Option<i64> = column(&row, "used_at")?;
        let failures: i64 = column(&row, "failures")?;
        if let Some(settled) = settled(used_at, failures, expires_at, now) {
            return Ok(settled);
        }
        if login_codes::hashes_match(&stored, code_hash) {
            // Conditional: of two concurrent logins with the right code, one sets used_at.
            let won = sqlx::query(
                "UPDATE login_codes SET used_at = $1 WHERE code_id = $2 AND used_at IS NULL AND failures < $3 \
                 AND expires_at > $1",
            )
            .bind(now)
            .bind(code_id)
            .bind(MAX_FAILURES)
            .execute(&self.pool)
            .await?
            .rows_affected();
            if won == 1 {
                return Ok(LoginOutcome::Ok);
            }
        } else {
            let counted: Option<i64> = sqlx::query_scalar(
                "UPDATE login_codes SET failures = failures + 1 WHERE code_id = $1 AND used_at IS NULL \
                 AND failures < $2 AND expires_at > $3 RETURNING failures",
            )
            .bind(code_id)
            .bind(MAX_FAILURES)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
            if let Some(failures) = counted {
                return Ok(LoginOutcome::Wrong { tries_left: MAX_FAILURES - failures });
            }
        }
        // Someone else changed the code between our read and our write: report its state now.
        self.code_state(code_id, now).await
    }

    /// The settled state of a code that a concurrent check changed under us.
    async fn code_state(&self, code_id: i64, now: i64) -> Result<LoginOutcome, StoreError> {
        let row = sqlx::query("SELECT expires_at, used_at, failures FROM login_codes WHERE code_id = $1")
            .bind(code_id)
            .fetch_one(&self.pool)
            .await?;
        let (expires_at, used_at, failures) =
            (column(&row, "expires_at")?, column(&row, "used_at")?, column(&row, "failures")?);
        settled(used_at, failures, expires_at, now)
            .ok_or_else(|| StoreError::CorruptRow(format!("login code {code_id} neither usable nor settled")))
    }

    /// Every receipt whose customer chose delivery to `phone` (any channel), newest first.
    pub async fn receipts_for_phone(&self, phone: &str) -> Result<Vec<StoredReceipt>, StoreError> {
        let sql = format!(
            "SELECT {RECEIPT_COLUMNS} FROM receipts WHERE delivery_to = $1 ORDER BY tx_time DESC, receipt_id DESC"
        );
        let rows = sqlx::query(&sql).bind(phone).fetch_all(&self.pool).await?;
        rows.iter().map(receipt_from_row).collect()
    }
}

/// The outcome for a code that can no longer log anyone in, or `None` if it still can.
fn settled(used_at: Option<i64>, failures: i64, expires_at: i64, now: i64) -> Option<LoginOutcome> {
    if used_at.is_some() {
        Some(LoginOutcome::Used)
    } else if failures >= MAX_FAILURES {
        Some(LoginOutcome::Locked)
    } else if expires_at <= now {
        Some(LoginOutcome::Expired)
    } else {
        None
    }
}
