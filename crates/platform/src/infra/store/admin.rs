//! Administration's records: operator certificates (added and revoked on the host), the audit
//! log of every admin action, and the one-time enrolment links of reset portal users.

use serde::Serialize;

use super::{column, Store, StoreError};

/// An operator certificate as recorded when it was issued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OperatorRow {
    pub name: String,
    /// SHA-256 of the certificate, hex.
    pub fingerprint: String,
    pub serial: String,
    /// Unix ms.
    pub not_after: i64,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// One audit record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditRow {
    pub id: i64,
    /// Unix ms.
    pub at: i64,
    pub operator: String,
    pub action: String,
    pub target: String,
    pub outcome: String,
    pub client: String,
}

/// What an admin action leaves in the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAudit<'a> {
    pub at: i64,
    pub operator: &'a str,
    pub action: &'a str,
    pub target: &'a str,
    pub outcome: &'a str,
    pub client: &'a str,
}

fn operator_from_row(row: &sqlx::any::AnyRow) -> Result<OperatorRow, StoreError> {
    Ok(OperatorRow {
        name: column(row, "name")?,
        fingerprint: column(row, "fingerprint")?,
        serial: column(row, "serial")?,
        not_after: column(row, "not_after")?,
        created_at: column(row, "created_at")?,
        revoked_at: column(row, "revoked_at")?,
    })
}

const OPERATOR_COLUMNS: &str = "name, fingerprint, serial, not_after, created_at, revoked_at";

impl Store {
    /// Records an operator certificate.
    pub async fn add_operator(&self, o: &OperatorRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO operator_certificates (fingerprint, name, serial, not_after, created_at, revoked_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&o.fingerprint)
        .bind(&o.name)
        .bind(&o.serial)
        .bind(o.not_after)
        .bind(o.created_at)
        .bind(o.revoked_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The operator certificate with this fingerprint, revoked or not.
    pub async fn operator_by_fingerprint(&self, fingerprint: &str) -> Result<Option<OperatorRow>, StoreError> {
        let sql = format!("SELECT {OPERATOR_COLUMNS} FROM operator_certificates WHERE fingerprint = $1");
        let row = sqlx::query(&sql).bind(fingerprint).fetch_optional(&self.pool).await?;
        row.as_ref().map(operator_from_row).transpose()
    }

    /// Every operator certificate, by name then issue time.
    pub async fn operators(&self) -> Result<Vec<OperatorRow>, StoreError> {
        let sql = format!("SELECT {OPERATOR_COLUMNS} FROM operator_certificates ORDER BY name, created_at");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter().map(operator_from_row).collect()
    }

    /// Revokes every unrevoked certificate of operator `name`; returns how many.
    pub async fn revoke_operator(&self, name: &str, now: i64) -> Result<u64, StoreError> {
        let done =
            sqlx::query("UPDATE operator_certificates SET revoked_at = $2 WHERE name = $1 AND revoked_at IS NULL")
                .bind(name)
                .bind(now)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected())
    }

    /// Appends to the audit log.
    pub async fn audit(&self, a: &NewAudit<'_>) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO admin_audit (at, operator, action, target, outcome, client) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(a.at)
        .bind(a.operator)
        .bind(a.action)
        .bind(a.target)
        .bind(a.outcome)
        .bind(a.client)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The newest `limit` audit records, newest first.
    pub async fn audit_log(&self, limit: i64) -> Result<Vec<AuditRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, at, operator, action, target, outcome, client FROM admin_audit ORDER BY at DESC, id DESC \
             LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(AuditRow {
                    id: column(row, "id")?,
                    at: column(row, "at")?,
                    operator: column(row, "operator")?,
                    action: column(row, "action")?,
                    target: column(row, "target")?,
                    outcome: column(row, "outcome")?,
                    client: column(row, "client")?,
                })
            })
            .collect()
    }

    /// Starts a reset of active account `username`: its password and TOTP secret stop working
    /// at once (the hash is replaced by one no password matches), the lock is lifted, its
    /// sessions end, earlier unused links are dropped and the link `token_hash` is stored.
    /// `false` when there is no active account of that name.
    pub async fn begin_staff_reset(
        &self,
        username: &str,
        token_hash: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE accounts SET password_hash = '!reset', totp_last_step = 0, failures = 0, locked_until = 0 \
             WHERE username = $1 AND disabled_at IS NULL",
        )
        .bind(username)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM staff_enrolments WHERE username = $1 AND used_at IS NULL")
            .bind(username)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO staff_enrolments (token_hash, username, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash)
        .bind(username)
        .bind(now)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM sessions WHERE kind = 'staff' AND subject = $1")
            .bind(username)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The user an unused, unexpired enrolment link is for.
    pub async fn staff_enrolment(&self, token_hash: &str, now: i64) -> Result<Option<String>, StoreError> {
        let row = sqlx::query(
            "SELECT username FROM staff_enrolments WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(|r| column(r, "username")).transpose()
    }

    /// Uses the link once: marks it used and sets the account's new credentials, in one
    /// transaction. `false` when the link was used, expired or its account disabled meanwhile.
    pub async fn finish_staff_reset(
        &self,
        token_hash: &str,
        username: &str,
        now: i64,
        password_hash: &str,
        totp_sealed: &[u8],
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let used = sqlx::query(
            "UPDATE staff_enrolments SET used_at = $3 WHERE token_hash = $1 AND username = $2 AND used_at IS NULL \
             AND expires_at > $3",
        )
        .bind(token_hash)
        .bind(username)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if used.rows_affected() != 1 {
            return Ok(false);
        }
        let set = sqlx::query(
            "UPDATE accounts SET password_hash = $2, totp_sealed = $3, totp_last_step = 0, failures = 0, \
             locked_until = 0 WHERE username = $1 AND disabled_at IS NULL",
        )
        .bind(username)
        .bind(password_hash)
        .bind(totp_sealed.to_vec())
        .execute(&mut *tx)
        .await?;
        if set.rows_affected() != 1 {
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }
}
