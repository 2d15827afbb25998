//! Portal sessions: created at login, ended at logout, after idle time or at an absolute limit.

use super::{column, Store, StoreError};

/// A session ends after this long without a request.
pub const SESSION_IDLE_MS: i64 = 15 * 60 * 1000;
/// And in any case this long after login.
pub const SESSION_MAX_MS: i64 = 12 * 3600 * 1000;

impl Store {
    /// Records a new session (the caller hands out the secret, we keep its hash).
    pub async fn create_session(&self, hash: &[u8; 32], kind: &str, subject: &str, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sessions (session_hash, kind, subject, created_at, last_seen_at, expires_at) \
             VALUES ($1, $2, $3, $4, $4, $5)",
        )
        .bind(hash.as_slice())
        .bind(kind)
        .bind(subject)
        .bind(now)
        .bind(now + SESSION_MAX_MS)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The session's subject if it is alive at `now` (and marks it seen); ended sessions are
    /// deleted.
    pub async fn session(&self, hash: &[u8; 32], kind: &str, now: i64) -> Result<Option<String>, StoreError> {
        let row = sqlx::query(
            "UPDATE sessions SET last_seen_at = $1 WHERE session_hash = $2 AND kind = $3 \
             AND last_seen_at > $4 AND expires_at > $1 RETURNING subject",
        )
        .bind(now)
        .bind(hash.as_slice())
        .bind(kind)
        .bind(now - SESSION_IDLE_MS)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(r) => Ok(Some(column(&r, "subject")?)),
            None => {
                self.end_session(hash).await?;
                Ok(None)
            }
        }
    }

    /// Ends a session (logout).
    pub async fn end_session(&self, hash: &[u8; 32]) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE session_hash = $1").bind(hash.as_slice()).execute(&self.pool).await?;
        Ok(())
    }
}
