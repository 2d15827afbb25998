//! One-time login codes for pull delivery (P3): issued, checked against the newest code of the
//! number under a daily cap of tries per number, and the receipts they unlock.

use super::limits::Counted;
use super::receipts::{receipt_from_row, RECEIPT_COLUMNS};
use super::{column, hash_column, Store, StoreError, StoredReceipt};
use crate::domain::limits::LOGINS_PER_NUMBER;
use crate::domain::login_codes::{self, LoginOutcome, CODE_TTL_MS, MAX_FAILURES};

impl Store {
    /// Stores a new code for `phone`, asked for by `client` (its network, for the record), and
    /// returns its id. It replaces every earlier code of the number. `code_hash` is
    /// [`login_codes::code_hash`] of the code. How often codes may be asked for is
    /// [`crate::domain::limits`]' business, counted before this is called.
    pub async fn issue_code(
        &self,
        phone: &str,
        client: &str,
        code_hash: &[u8; 32],
        now: i64,
    ) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "INSERT INTO login_codes (phone, code_hash, created_at, expires_at, failures, client) \
             VALUES ($1, $2, $3, $4, 0, $5) RETURNING code_id",
        )
        .bind(phone)
        .bind(code_hash.to_vec())
        .bind(now)
        .bind(now + CODE_TTL_MS)
        .bind(client)
        .fetch_one(&self.pool)
        .await?;
        column(&row, "code_id")
    }

    /// Checks a code for `phone` against the newest code issued for it (earlier ones no longer
    /// count). On a match with a code that is unused, unexpired and not locked, marks it used and
    /// returns [`LoginOutcome::Ok`] — to exactly one of several concurrent callers; on a mismatch,
    /// counts a failure. `code_hash` is [`login_codes::code_hash`] of what the customer typed.
    ///
    /// Every try that does not log in also counts against the number's daily cap
    /// ([`LOGINS_PER_NUMBER`]), before anything is compared, so concurrent tries cannot exceed
    /// it; past the cap, even the right code gives [`LoginOutcome::TooManyTries`]. A login
    /// starts the count again.
    pub async fn check_code(&self, phone: &str, code_hash: &[u8; 32], now: i64) -> Result<LoginOutcome, StoreError> {
        if let Counted::Limited { retry_after_ms } = self.count_event(LOGINS_PER_NUMBER, phone, now).await? {
            return Ok(LoginOutcome::TooManyTries { retry_after_ms });
        }
        let outcome = self.check_newest_code(phone, code_hash, now).await?;
        if outcome == LoginOutcome::Ok {
            self.reset_count(LOGINS_PER_NUMBER, phone).await?;
        }
        Ok(outcome)
    }

    /// [`Store::check_code`] without the daily cap.
    async fn check_newest_code(&self, phone: &str, code_hash: &[u8; 32], now: i64) -> Result<LoginOutcome, StoreError> {
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

    /// Whether any receipt's customer chose delivery to `phone`, or was resent to it: index probes, the same work
    /// whatever the answer (the code request must not tell who has receipts, M3).
    pub async fn has_receipts_for_phone(&self, phone: &str) -> Result<bool, StoreError> {
        // EXISTS as a count of at most one row: a BIGINT on both backends (EXISTS itself is a
        // boolean on PostgreSQL and an integer on SQLite). No receipt column is read.
        let found: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM (SELECT 1 FROM receipts WHERE delivery_to = $1 \
             UNION ALL SELECT 1 FROM deliveries WHERE recipient = $1 LIMIT 1) AS any_receipt",
        )
        .bind(phone)
        .fetch_one(&self.pool)
        .await?;
        Ok(found > 0)
    }

    /// Whether receipt `receipt_id` was sent to `phone`: the customer's choice at the sale, or a
    /// resend to it.
    pub async fn was_sent_to(&self, receipt_id: &str, phone: &str) -> Result<bool, StoreError> {
        let found: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM (SELECT 1 FROM receipts WHERE receipt_id = $1 AND delivery_to = $2 \
             UNION ALL SELECT 1 FROM deliveries WHERE receipt_id = $1 AND recipient = $2 LIMIT 1) AS sent",
        )
        .bind(receipt_id)
        .bind(phone)
        .fetch_one(&self.pool)
        .await?;
        Ok(found > 0)
    }

    /// Every receipt whose customer chose delivery to `phone` (any channel), or that was resent
    /// to it, newest first.
    pub async fn receipts_for_phone(&self, phone: &str) -> Result<Vec<StoredReceipt>, StoreError> {
        let sql = format!(
            "SELECT {RECEIPT_COLUMNS} FROM receipts WHERE delivery_to = $1 \
             OR receipt_id IN (SELECT receipt_id FROM deliveries WHERE recipient = $1) \
             ORDER BY tx_time DESC, receipt_id DESC"
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
