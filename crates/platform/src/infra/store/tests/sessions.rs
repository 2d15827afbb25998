//! Session checks (finding L7): every portal request checks its session, and anyone can send a
//! cookie, so a check must not take the database's write lock (on SQLite the one the ingest
//! group commit needs) unless it has something to record: a touch at most once a minute, and
//! the deletion of a session it found ended.

use std::time::Duration;

use super::behaviours;
use crate::infra::store::{Backend, Store, SESSION_IDLE_MS, SESSION_TOUCH_MS};

behaviours!(
    a_check_of_an_unknown_or_recent_session_takes_no_write_lock,
    a_session_is_touched_once_a_minute_and_idles_from_the_touch,
);

const T0: i64 = 1_700_000_000_000;
const ALICE: [u8; 32] = [5; 32];

async fn last_seen(store: &Store, hash: &[u8; 32]) -> Option<i64> {
    sqlx::query_scalar("SELECT last_seen_at FROM sessions WHERE session_hash = $1")
        .bind(hash.as_slice())
        .fetch_optional(&store.pool)
        .await
        .expect("read last_seen_at")
}

/// Another connection holds the write lock (as a long group commit does); checks that only read
/// must answer at once instead of queueing behind it. Today's code wrote on every check: an
/// UPDATE for a live session, a DELETE for an unknown cookie, and both waited for the lock.
async fn a_check_of_an_unknown_or_recent_session_takes_no_write_lock(store: &Store) {
    store.create_session(&ALICE, "staff", "alice", T0).await.expect("session");
    let mut writer = store.pool.acquire().await.expect("a second connection");
    let lock: &[&str] = match store.backend() {
        Backend::Sqlite => &["BEGIN IMMEDIATE"],
        // SHARE mode lets readers in and makes every UPDATE or DELETE of the table wait.
        Backend::Postgres => &["BEGIN", "LOCK TABLE sessions IN SHARE MODE"],
    };
    for sql in lock {
        sqlx::query(sql).execute(&mut *writer).await.expect("take the write lock");
    }
    let checks = async {
        let unknown = store.session(&[6; 32], "staff", T0 + 1_000).await.expect("unknown cookie");
        let wrong_kind = store.session(&ALICE, "pull", T0 + 1_000).await.expect("other kind");
        let recent = store.session(&ALICE, "staff", T0 + SESSION_TOUCH_MS - 1_000).await.expect("recent");
        (unknown, wrong_kind, recent)
    };
    // The SQLite busy timeout is 10 s and PostgreSQL waits for ever: 5 s means "it queued".
    let (unknown, wrong_kind, recent) =
        tokio::time::timeout(Duration::from_secs(5), checks).await.expect("a session check waited for the write lock");
    assert_eq!(unknown, None);
    assert_eq!(wrong_kind, None, "a staff session is not a pull session");
    assert_eq!(recent.as_deref(), Some("alice"));
    sqlx::query("ROLLBACK").execute(&mut *writer).await.expect("release the lock");
    drop(writer);
    assert_eq!(last_seen(store, &ALICE).await, Some(T0), "nothing was written");
}

async fn a_session_is_touched_once_a_minute_and_idles_from_the_touch(store: &Store) {
    store.create_session(&ALICE, "staff", "alice", T0).await.expect("session");
    let at = |t: i64| async move { store.session(&ALICE, "staff", t).await.expect("check") };

    assert_eq!(at(T0 + 30_000).await.as_deref(), Some("alice"));
    assert_eq!(last_seen(store, &ALICE).await, Some(T0), "30 s after the last touch: not touched");
    let touched = T0 + SESSION_TOUCH_MS + 1_000;
    assert_eq!(at(touched).await.as_deref(), Some("alice"));
    assert_eq!(last_seen(store, &ALICE).await, Some(touched), "a minute on: touched");

    // Idle time counts from the touch: alive just before, ended (and deleted) after.
    assert_eq!(at(touched + SESSION_IDLE_MS - 1_000).await.as_deref(), Some("alice"));
    let later = touched + SESSION_IDLE_MS - 1_000;
    assert_eq!(at(later + SESSION_IDLE_MS).await, None, "idle for 15 minutes since the last touch");
    assert_eq!(last_seen(store, &ALICE).await, None, "an ended session is deleted when presented");
    assert_eq!(at(later + SESSION_IDLE_MS + 1_000).await, None);
}
