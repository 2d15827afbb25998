//! Rate counters in the database, so every platform process behind a balancer counts the same
//! attempts (M3, M4, M5): a fixed window per scope and subject, counted and checked in one
//! statement, so concurrent requests never pass a limit together.

use super::{column, Store, StoreError};
use crate::domain::limits::Limit;

/// What counting an event gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// Within the limit; this event is counted.
    Allowed,
    /// The limit is reached: nothing was counted, and the window ends after `retry_after_ms`.
    Limited { retry_after_ms: i64 },
}

impl Store {
    /// Counts one event of `limit.scope` for `subject` at `now`, unless `limit.max` events are
    /// already in the subject's window. A window starts at the first event and, once it has
    /// ended, the next event starts a new one.
    ///
    /// One upsert whose update is conditional: PostgreSQL locks the row and re-checks the
    /// condition on the newest version, SQLite has one writer, so of any number of concurrent
    /// callers exactly `max` are allowed per window.
    pub async fn count_event(&self, limit: Limit, subject: &str, now: i64) -> Result<Counted, StoreError> {
        let ended_before = now - limit.window_ms;
        let counted: Option<i64> = sqlx::query_scalar(
            "INSERT INTO rate_counters (scope, subject, window_start, events) VALUES ($1, $2, $3, 1) \
             ON CONFLICT (scope, subject) DO UPDATE SET \
               events = CASE WHEN rate_counters.window_start <= $4 THEN 1 ELSE rate_counters.events + 1 END, \
               window_start = CASE WHEN rate_counters.window_start <= $4 THEN $3 ELSE rate_counters.window_start END \
             WHERE rate_counters.window_start <= $4 OR rate_counters.events < $5 \
             RETURNING events",
        )
        .bind(limit.scope)
        .bind(subject)
        .bind(now)
        .bind(ended_before)
        .bind(limit.max)
        .fetch_optional(&self.pool)
        .await?;
        if counted.is_some() {
            return Ok(Counted::Allowed);
        }
        let row = sqlx::query("SELECT window_start FROM rate_counters WHERE scope = $1 AND subject = $2")
            .bind(limit.scope)
            .bind(subject)
            .fetch_optional(&self.pool)
            .await?;
        let start: i64 = match row {
            Some(row) => column(&row, "window_start")?,
            None => now,
        };
        Ok(Counted::Limited { retry_after_ms: (start + limit.window_ms - now).max(1) })
    }

    /// Forgets `subject`'s count of `limit.scope` (a success ends a run of failures).
    pub async fn reset_count(&self, limit: Limit, subject: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM rate_counters WHERE scope = $1 AND subject = $2")
            .bind(limit.scope)
            .bind(subject)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
