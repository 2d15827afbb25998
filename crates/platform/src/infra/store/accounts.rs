//! Portal accounts (merchant staff, acquirer): created by an administrator, looked up at login,
//! sign-in attempts taken one at a time with growing waits, TOTP steps consumed at most once.

use super::{column, Store, StoreError};
use crate::domain::credentials::Role;

/// An account to create; hashes and sealed secrets come from [`crate::domain::credentials`].
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub username: String,
    pub role: Role,
    pub password_hash: String,
    pub totp_sealed: Vec<u8>,
}

/// An account as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRow {
    pub username: String,
    pub role: Role,
    pub password_hash: String,
    pub totp_sealed: Vec<u8>,
    pub totp_last_step: i64,
    /// Consecutive failed sign-ins since the last success (or an administrator's unlock).
    pub failures: i64,
    /// Unix ms before which the next sign-in attempt is not looked at (0 or past: none).
    pub locked_until: i64,
    pub created_at: i64,
    pub disabled_at: Option<i64>,
}

const ACCOUNT_COLUMNS: &str = "username, role, merchant_id, password_hash, totp_sealed, totp_last_step, failures, \
                               locked_until, created_at, disabled_at";

fn account_from_row(row: &sqlx::any::AnyRow) -> Result<AccountRow, StoreError> {
    let role: String = column(row, "role")?;
    let merchant_id: Option<String> = column(row, "merchant_id")?;
    let role = match (role.as_str(), merchant_id) {
        ("merchant", Some(merchant_id)) => Role::Merchant { merchant_id },
        ("acquirer", None) => Role::Acquirer,
        ("merchant", None) => {
            return Err(StoreError::undecodable("merchant_id", "NULL", "a merchant id for a merchant"))
        }
        ("acquirer", Some(m)) => return Err(StoreError::undecodable("merchant_id", m, "none for the acquirer")),
        (other, _) => return Err(StoreError::undecodable("role", other, "merchant or acquirer")),
    };
    Ok(AccountRow {
        username: column(row, "username")?,
        role,
        password_hash: column(row, "password_hash")?,
        totp_sealed: column(row, "totp_sealed")?,
        totp_last_step: column(row, "totp_last_step")?,
        failures: column(row, "failures")?,
        locked_until: column(row, "locked_until")?,
        created_at: column(row, "created_at")?,
        disabled_at: column(row, "disabled_at")?,
    })
}

impl Store {
    /// Creates an account; [`StoreError::AccountExists`] if the username is taken.
    pub async fn create_account(&self, a: &NewAccount, now: i64) -> Result<(), StoreError> {
        let merchant_id = a.role.merchant_id().map(str::to_owned);
        let done = sqlx::query(
            "INSERT INTO accounts (username, role, merchant_id, password_hash, totp_sealed, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (username) DO NOTHING",
        )
        .bind(&a.username)
        .bind(a.role.name())
        .bind(merchant_id)
        .bind(&a.password_hash)
        .bind(a.totp_sealed.clone())
        .bind(now)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::AccountExists(a.username.clone()));
        }
        Ok(())
    }

    /// The account named `username`, if any.
    pub async fn account(&self, username: &str) -> Result<Option<AccountRow>, StoreError> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE username = $1");
        let row = sqlx::query(&sql).bind(username).fetch_optional(&self.pool).await?;
        row.as_ref().map(account_from_row).transpose()
    }

    /// Every account, by username.
    pub async fn accounts(&self) -> Result<Vec<AccountRow>, StoreError> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY username");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter().map(account_from_row).collect()
    }

    /// Takes a sign-in attempt at `username` for checking: counts it as a failure at once (the
    /// `failures`-th one read before), and makes the next attempt wait until `next_at`. `false`
    /// — nothing changes — when the account is still waiting, is disabled, or another attempt
    /// was counted since `failures` was read. One conditional update, so of concurrent attempts
    /// exactly one is taken and the failure budget cannot be overrun; a success then clears it
    /// ([`Store::login_succeeded`]).
    pub async fn claim_sign_in(
        &self,
        username: &str,
        failures: i64,
        now: i64,
        next_at: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE accounts SET failures = failures + 1, locked_until = $3 \
             WHERE username = $1 AND failures = $2 AND locked_until <= $4 AND disabled_at IS NULL",
        )
        .bind(username)
        .bind(failures)
        .bind(next_at)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records a successful sign-in, taken by [`Store::claim_sign_in`], whose second factor was
    /// TOTP step `step`: clears the failures and the wait, and consumes the step. `false` when
    /// the step (or a later one) was already used — a replayed code — or the account is
    /// disabled; nothing changes then and the attempt stays a failure.
    pub async fn login_succeeded(&self, username: &str, step: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE accounts SET failures = 0, locked_until = 0, totp_last_step = $2 \
             WHERE username = $1 AND totp_last_step < $2 AND disabled_at IS NULL",
        )
        .bind(username)
        .bind(step)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Lifts a lockout and clears the failure count (an administrator's action).
    pub async fn unlock_account(&self, username: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE accounts SET failures = 0, locked_until = 0 WHERE username = $1")
            .bind(username)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// New credentials for an active account (forgotten password, lost authenticator): the
    /// password hash and sealed TOTP secret are replaced, the lock and failure count cleared,
    /// the used TOTP steps forgotten, and every session of the account ended, all in one
    /// transaction (new credentials never coexist with the old sessions). `false` when there
    /// is no active account of that name.
    pub async fn reset_account(
        &self,
        username: &str,
        password_hash: &str,
        totp_sealed: &[u8],
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE accounts SET password_hash = $2, totp_sealed = $3, totp_last_step = 0, failures = 0, \
             locked_until = 0 WHERE username = $1 AND disabled_at IS NULL",
        )
        .bind(username)
        .bind(password_hash)
        .bind(totp_sealed.to_vec())
        .execute(&mut *tx)
        .await?;
        end_staff_sessions(&mut tx, username).await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Disables an account for good and ends its sessions, in one transaction.
    pub async fn disable_account(&self, username: &str, now: i64) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("UPDATE accounts SET disabled_at = $2 WHERE username = $1 AND disabled_at IS NULL")
            .bind(username)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        end_staff_sessions(&mut tx, username).await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }
}

/// Signs `username` out everywhere, inside the caller's transaction.
async fn end_staff_sessions(conn: &mut sqlx::AnyConnection, username: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM sessions WHERE kind = 'staff' AND subject = $1").bind(username).execute(conn).await?;
    Ok(())
}
