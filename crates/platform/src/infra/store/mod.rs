//! The platform's storage: terminals, enrolment tokens, certificates, receipts and refusals,
//! and their retention.
//! One implementation over `sqlx::AnyPool`, so SQLite and PostgreSQL run the very same queries.
//!
//! Queries use `$1, $2 …` placeholders and only the types the Any driver carries (`i64`, `i32`,
//! `String`, `Vec<u8>` and their `Option`s); times are Unix milliseconds UTC. Several platform
//! processes may share one PostgreSQL database, so every write is a single conditional statement
//! (or a transaction that writes first) whose result says who won.

mod accounts;
mod admin;
mod codes;
mod decode;
mod deliveries;
mod limits;
mod lineage;
mod lookups;
mod model;
mod receipts;
mod retention;
mod search;
mod sessions;
mod settlements;
mod terminals;
#[cfg(test)]
pub(crate) mod tests;

use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{Any, AnyPool, Decode, Executor, Row, Type};

pub use accounts::{AccountRow, NewAccount};
pub use admin::{AuditRow, NewAudit, OperatorRow};
pub use deliveries::{DeliveryEvent, DeliveryRow, Resend, MAX_DELIVERIES_PER_RECEIPT, RETRY_HORIZON_MS};
pub use limits::Counted;
pub use model::{
    CertificateRow, ChainEntry, Family, NewReceipt, NewTerminal, NewToken, Page, ReceiptLineage, ReceiptQuery, Refusal,
    StoreOutcome, StoredLink, StoredReceipt, TerminalRow,
};
pub use retention::{ChainFloor, Hold, PurgeRun, PurgedBatch, MAX_BATCH as MAX_PURGE_BATCH};
pub use sessions::{SESSION_IDLE_MS, SESSION_MAX_MS, SESSION_TOUCH_MS};
pub use settlements::{BatchReceipt, NewSettlement, Reconciled, SettlementOutcome, SettlementRow};
pub use terminals::ResumeRow;

/// Connections per SQLite pool: readers run in parallel under WAL, writers queue on the file lock.
const SQLITE_POOL_SIZE: u32 = 4;
/// Connections per PostgreSQL pool; several processes may share the server's `max_connections`.
const POSTGRES_POOL_SIZE: u32 = 10;
/// Set on every SQLite connection: wait up to 10 s for the write lock, enforce foreign keys, WAL
/// so readers never block the writer, and `synchronous = FULL`: the platform acknowledges a
/// receipt only after its commit, and the terminal then forgets about it, so a commit must
/// survive a power cut, not only a crash of the process (WAL + NORMAL may lose the last ones).
const SQLITE_PRAGMAS: &str = "PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; \
                              PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;";

/// Whether a SQLite connection going back into the pool has no transaction open; one that has
/// is closed (which rolls back whatever it holds).
///
/// SQLite ends a transaction by itself when a statement or the COMMIT fails with `SQLITE_FULL`
/// or `SQLITE_IOERR` (a full disk). sqlx 0.8 does not notice: its ROLLBACK then fails ("no
/// transaction is active") and it keeps counting the transaction as open, so on that connection
/// the next `begin()` becomes a SAVEPOINT and the next commit a RELEASE. When that RELEASE fails
/// too, SQLite keeps the transaction, sqlx's ROLLBACK TO leaves it open, and from then on every
/// "commit" on the connection releases a savepoint inside a transaction that never commits: the
/// platform acknowledged receipts that no other connection ever saw and that vanished with the
/// process (R1 in docs/security.md; the reliability run's `disk` scenario found it, the store
/// test `full_disk` shows it).
async fn sqlite_fit_for_reuse(conn: &mut sqlx::AnyConnection) -> Result<bool, sqlx::Error> {
    use sqlx::Connection;
    // The common case costs nothing: sqlx counts no transaction (one that committed or rolled
    // back). Otherwise run the ROLLBACK a dropped transaction queued, and look again: a count
    // that stays up is the lost transaction above, and a failed ROLLBACK is the only way to it.
    if !conn.is_in_transaction() {
        return Ok(true);
    }
    conn.ping().await?;
    if conn.is_in_transaction() {
        tracing::warn!("a SQLite connection lost track of its transaction (a failed COMMIT or ROLLBACK); closing it");
        return Ok(false);
    }
    Ok(true)
}

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file (the default).
    Sqlite,
    /// A PostgreSQL server, possibly shared by several platform processes.
    Postgres,
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database failed or refused a statement; the text is sqlx's (never contains the URL).
    #[error("database error: {0}")]
    Database(String),
    /// The schema migrations could not be applied.
    #[error("database migration failed: {0}")]
    Migrate(String),
    /// The URL names neither SQLite (`sqlite:`) nor PostgreSQL (`postgres://`); carries the scheme.
    #[error("unsupported database URL scheme {0:?}: expected sqlite: or postgres://")]
    UnsupportedUrl(String),
    /// A terminal with this id is already registered.
    #[error("terminal {0} already exists")]
    TerminalExists(String),
    /// No terminal with this id is registered.
    #[error("unknown terminal {0}")]
    UnknownTerminal(String),
    /// The terminal is revoked: nothing more is issued to it.
    #[error("terminal {0} is revoked")]
    TerminalRevoked(String),
    /// No enrolment token has this hash.
    #[error("unknown enrolment token")]
    TokenUnknown,
    /// The enrolment token was already used.
    #[error("enrolment token already used")]
    TokenUsed,
    /// The enrolment token expired (or its terminal was revoked) before it was used.
    #[error("enrolment token expired")]
    TokenExpired,
    /// A portal account with this username already exists.
    #[error("account {0} already exists")]
    AccountExists(String),
    /// A search cursor that this store did not hand out.
    #[error("malformed search cursor")]
    BadCursor,
    /// A stored row does not decode into what the schema promises.
    #[error("corrupt row: {0}")]
    CorruptRow(String),
    /// A stored value is not one this version can read: an unknown currency, channel, state or
    /// role, an amount or time out of range (a row written by a newer version, or by hand).
    #[error("column {column}: stored value {value:?} does not decode: {reason}")]
    Undecodable {
        /// The column read.
        column: &'static str,
        /// The value found, shortened.
        value: String,
        /// What it should have been.
        reason: String,
    },
}

impl StoreError {
    /// The error for `value` of `column` that does not decode, for `reason`.
    pub(crate) fn undecodable(
        column: &'static str,
        value: impl std::fmt::Display,
        reason: impl std::fmt::Display,
    ) -> Self {
        StoreError::Undecodable {
            column,
            value: value.to_string().chars().take(40).collect(),
            reason: reason.to_string(),
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Database(e.to_string())
    }
}

/// The platform's database. Cheap to clone: clones share one connection pool.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// SQLite has one writer at a time, and connections that collide on its lock back off in
    /// SQLite's busy handler with sleeps of up to 100 ms; each commit also costs an fsync. So on
    /// SQLite, receipts are written by one task that commits whatever has queued up meanwhile in
    /// one transaction (group commit): see [`receipts::GroupCommit`].
    sqlite_writer: Option<receipts::GroupCommit>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("backend", &self.backend).finish_non_exhaustive()
    }
}

impl Store {
    /// Opens the database at `url` and brings its schema up to date.
    ///
    /// `sqlite:` URLs (`sqlite:///abs/path.db`, `sqlite:relative.db`, `sqlite::memory:`) create the
    /// file if it is missing, and run in WAL mode with foreign keys on and a busy timeout.
    /// `postgres://` URLs connect to an existing database; concurrent starts of several processes
    /// are safe (migrations hold an advisory lock).
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = backend_of(url)?;
        let pool = match backend {
            Backend::Sqlite => {
                let url = sqlite_url(url);
                let in_memory = url.contains(":memory:") || url.contains("mode=memory");
                let options = AnyPoolOptions::new()
                    .after_connect(|conn, _meta| {
                        Box::pin(async move { conn.execute(SQLITE_PRAGMAS).await.map(|_| ()) })
                    })
                    .after_release(|conn, _meta| Box::pin(sqlite_fit_for_reuse(conn)));
                // Every connection to `:memory:` is its own database: keep exactly one, forever.
                let options = if in_memory {
                    options.max_connections(1).min_connections(1).idle_timeout(None).max_lifetime(None)
                } else {
                    options.max_connections(SQLITE_POOL_SIZE)
                };
                options.connect(&url).await?
            }
            Backend::Postgres => {
                AnyPoolOptions::new()
                    .max_connections(POSTGRES_POOL_SIZE)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect(url)
                    .await?
            }
        };
        let migrator = match backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("./migrations/postgres"),
        };
        // PostgreSQL serialises concurrent migrators with an advisory lock. SQLite has none:
        // a second process starting on a fresh file at the same moment fails on the tables the
        // first one is creating; by then the first has committed, so trying again finds the
        // migrations applied (each runs in its own transaction).
        let mut attempt = 0;
        loop {
            match migrator.run(&pool).await {
                Ok(()) => break,
                Err(e) if backend == Backend::Sqlite && attempt < 5 => {
                    attempt += 1;
                    tracing::info!(error = %e, attempt, "SQLite migration raced another process; trying again");
                    tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
                }
                Err(e) => return Err(StoreError::Migrate(e.to_string())),
            }
        }
        let sqlite_writer = (backend == Backend::Sqlite).then(|| receipts::GroupCommit::start(pool.clone()));
        Ok(Store { pool, backend, sqlite_writer })
    }

    /// Which database this store talks to.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The database's clock, Unix milliseconds, as an SQL expression: what leases are judged by,
    /// so that every process sharing the database agrees on when one runs out whatever its own
    /// clock says. (PostgreSQL's `now()` is the transaction's start; SQLite's `'now'` is fixed
    /// for the statement.)
    pub(crate) fn now_sql(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "CAST(ROUND((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)",
            Backend::Postgres => "CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT)",
        }
    }

    /// Closes every connection, waiting for those in use to be returned (graceful shutdown; a
    /// SQLite file is checkpointed). Later calls fail.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Readiness check: one round trip to the database, and on SQLite the receipt writer is
    /// running.
    pub async fn ping(&self) -> Result<(), StoreError> {
        if self.sqlite_writer.as_ref().is_some_and(|w| !w.is_running()) {
            return Err(StoreError::Database("receipt writer stopped".into()));
        }
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

/// Tells the backend from the URL scheme.
fn backend_of(url: &str) -> Result<Backend, StoreError> {
    let scheme = url.split_once(':').map_or(url, |(scheme, _)| scheme);
    match scheme {
        "sqlite" => Ok(Backend::Sqlite),
        "postgres" | "postgresql" => Ok(Backend::Postgres),
        other => Err(StoreError::UnsupportedUrl(other.chars().take(32).collect())),
    }
}

/// Adds `mode=rwc` to a SQLite URL that names no mode, so a missing file is created.
fn sqlite_url(url: &str) -> String {
    if url.contains(":memory:") {
        return url.to_owned();
    }
    match url.split_once('?') {
        Some((_, query)) if query.split('&').any(|pair| pair.starts_with("mode=")) => url.to_owned(),
        Some(_) => format!("{url}&mode=rwc"),
        None => format!("{url}?mode=rwc"),
    }
}

/// Reads one column, reporting a type mismatch as a corrupt row rather than a database failure.
fn column<'r, T>(row: &'r AnyRow, name: &str) -> Result<T, StoreError>
where
    T: Decode<'r, Any> + Type<Any>,
{
    row.try_get(name).map_err(|e| StoreError::CorruptRow(format!("column {name}: {e}")))
}

/// Reads a SHA-256 column.
fn hash_column(row: &AnyRow, name: &str) -> Result<[u8; 32], StoreError> {
    let bytes: Vec<u8> = column(row, name)?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| StoreError::CorruptRow(format!("column {name}: {} bytes, expected 32", bytes.len())))
}

/// Whether the statement broke a foreign key (e.g. a row for a terminal that is not registered).
fn is_foreign_key_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.kind() == sqlx::error::ErrorKind::ForeignKeyViolation)
}

#[cfg(test)]
mod url_tests {
    use super::*;

    #[test]
    fn sqlite_urls_get_create_mode_unless_they_name_one() {
        assert_eq!(sqlite_url("sqlite:///tmp/a.db"), "sqlite:///tmp/a.db?mode=rwc");
        assert_eq!(sqlite_url("sqlite:a.db?cache=shared"), "sqlite:a.db?cache=shared&mode=rwc");
        assert_eq!(sqlite_url("sqlite:a.db?mode=ro"), "sqlite:a.db?mode=ro");
        assert_eq!(sqlite_url("sqlite::memory:"), "sqlite::memory:");
    }

    #[test]
    fn backend_follows_the_scheme_and_never_echoes_the_url() {
        assert_eq!(backend_of("sqlite:a.db").ok(), Some(Backend::Sqlite));
        assert_eq!(backend_of("postgres://u:secret@h/db").ok(), Some(Backend::Postgres));
        assert_eq!(backend_of("postgresql://h/db").ok(), Some(Backend::Postgres));
        let err = backend_of("mysql://u:secret@h/db").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("mysql") && !err.contains("secret"), "{err}");
    }
}
