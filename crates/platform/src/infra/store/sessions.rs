//! Portal sessions: created at login, ended at logout, after idle time or at an absolute limit.

use super::{column, Store, StoreError};

/// A session ends after this long without a request.
pub const SESSION_IDLE_MS: i64 = 15 * 60 * 1000;
/// And in any case this long after login.
pub const SESSION_MAX_MS: i64 = 12 * 3600 * 1000;
/// A session in use is marked seen at most this often.
pub const SESSION_TOUCH_MS: i64 = 60 * 1000;

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

    /// The session's subject if it is alive at `now`. A session check is a read: it writes only
    /// to mark the session seen, at most once every [`SESSION_TOUCH_MS`] (so idle time counts
    /// from the last touch, up to a minute early), and to delete a session it found ended. An
    /// unknown cookie, which anyone can send, writes nothing: on SQLite every write queues on the
    /// file lock that the ingest group commit needs.
    pub async fn session(&self, hash: &[u8; 32], kind: &str, now: i64) -> Result<Option<String>, StoreError> {
        let row =
            sqlx::query("SELECT subject, last_seen_at, expires_at FROM sessions WHERE session_hash = $1 AND kind = $2")
                .bind(hash.as_slice())
                .bind(kind)
                .fetch_optional(&self.pool)
                .await?;
        let Some(row) = row else { return Ok(None) };
        let subject: String = column(&row, "subject")?;
        let last_seen: i64 = column(&row, "last_seen_at")?;
        let expires: i64 = column(&row, "expires_at")?;
        if last_seen <= now - SESSION_IDLE_MS || expires <= now {
            self.end_session(hash).await?;
            return Ok(None);
        }
        if now - last_seen >= SESSION_TOUCH_MS {
            // Conditional on the row still being alive: a logout or a reset between the read and
            // this write wins, and the request is then refused.
            let touched = sqlx::query(
                "UPDATE sessions SET last_seen_at = $1 WHERE session_hash = $2 AND kind = $3 \
                 AND last_seen_at > $4 AND expires_at > $1",
            )
            .bind(now)
            .bind(hash.as_slice())
            .bind(kind)
            .bind(now - SESSION_IDLE_MS)
            .execute(&self.pool)
            .await?;
            if touched.rows_affected() == 0 {
                return Ok(None);
            }
        }
        Ok(Some(subject))
    }

    /// Ends a session (logout).
    pub async fn end_session(&self, hash: &[u8; 32]) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE session_hash = $1").bind(hash.as_slice()).execute(&self.pool).await?;
        Ok(())
    }
}
