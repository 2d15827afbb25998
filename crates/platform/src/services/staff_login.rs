//! Staff sign-in (merchant users and the acquirer): username, Argon2id password and a TOTP code.
//! Every refusal is the same, after the same hash (M5): an unknown user, a wrong password or
//! code, and an account that is waiting out its delay all answer "wrong". Failures make the
//! account wait, growing from 1 s to 15 minutes (`domain::limits`), instead of a 30-minute lock
//! anyone could set off; at 100 consecutive failures it waits for an administrator.

use std::sync::Arc;

use crate::domain::credentials;
use crate::domain::limits::sign_in_delay_ms;
use crate::infra::store::{AccountRow, Store, StoreError};

/// Argon2id checks at once by default: each takes 19 MiB and a core for tens of milliseconds.
pub const DEFAULT_ARGON2_CONCURRENCY: usize = 4;

/// Bounds how many Argon2id checks run at once, over every request (anonymous sign-ins must not
/// tie up the blocking pool and its memory); the others wait their turn.
#[derive(Clone)]
pub struct PasswordGate {
    permits: Arc<tokio::sync::Semaphore>,
}

impl PasswordGate {
    /// At most `concurrency` checks at once (at least one).
    pub fn new(concurrency: usize) -> Self {
        Self { permits: Arc::new(tokio::sync::Semaphore::new(concurrency.max(1))) }
    }

    /// Runs `work` on the blocking pool once a permit is free. The permit goes with the work,
    /// so a request that gives up waiting does not free it while the hash still runs. `None`
    /// when the work panicked.
    pub async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
        let permit = self.permits.clone().acquire_owned().await.ok()?;
        tokio::task::spawn_blocking(move || {
            let out = work();
            drop(permit);
            out
        })
        .await
        .ok()
    }

    /// Whether `password` matches `phc`, under the gate (`false` if the check failed to run).
    pub async fn verify(&self, phc: String, password: String) -> bool {
        self.run(move || credentials::verify_password(&phc, &password)).await.unwrap_or(false)
    }
}

/// What a sign-in is checked with.
pub struct SignIn<'a> {
    pub store: &'a Store,
    /// Opens the sealed TOTP secrets (`totp.key`).
    pub totp_key: &'a [u8],
    pub gate: &'a PasswordGate,
}

/// The account whose credentials these are, or `None` — the one answer for every refusal.
/// A known account's attempt is counted as a failure before anything is checked (one
/// conditional update: of concurrent attempts one is looked at, the others are refused), and a
/// success clears it.
pub async fn sign_in(
    s: &SignIn<'_>,
    username: &str,
    password: &str,
    code: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<AccountRow>, StoreError> {
    let now_ms = now.timestamp_millis();
    let username = username.trim().to_ascii_lowercase();
    let account = s.store.account(&username).await?.filter(|a| a.disabled_at.is_none());
    let claimed = match &account {
        Some(a) => match sign_in_delay_ms(a.failures + 1) {
            Some(delay) => s.store.claim_sign_in(&a.username, a.failures, now_ms, now_ms + delay).await?,
            None => false,
        },
        None => false,
    };
    let Some(account) = account.filter(|_| claimed) else {
        // Unknown, waiting or at the hard limit: the same hash and the same answer as a wrong
        // password, so neither the answer nor its time tells who exists or who is held.
        s.gate.verify(credentials::dummy_hash().to_owned(), password.to_owned()).await;
        return Ok(None);
    };
    let password_ok = s.gate.verify(account.password_hash.clone(), password.to_owned()).await;
    let step = match credentials::open_secret(s.totp_key, &account.username, &account.totp_sealed) {
        Ok(secret) => credentials::check_totp(
            &secret,
            code.trim(),
            u64::try_from(now.timestamp()).unwrap_or(0),
            account.totp_last_step,
        )
        .unwrap_or(None),
        Err(e) => {
            tracing::error!(username = %account.username, error = %e, "cannot open the TOTP secret");
            None
        }
    };
    if let (true, Some(step)) = (password_ok, step) {
        if s.store.login_succeeded(&account.username, step).await? {
            return Ok(Some(account));
        }
    }
    tracing::warn!(username = %account.username, failures = account.failures + 1, "staff sign-in failed");
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// M5: however many checks are asked for at once, no more than the bound run together.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn parallel_password_checks_never_exceed_the_bound() {
        let gate = PasswordGate::new(3);
        let (running, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..24 {
            let (gate, running, peak) = (gate.clone(), running.clone(), peak.clone());
            tasks.spawn(async move {
                gate.run(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(20));
                    running.fetch_sub(1, Ordering::SeqCst);
                })
                .await
            });
        }
        while let Some(done) = tasks.join_next().await {
            assert_eq!(done.expect("task"), Some(()));
        }
        assert_eq!(peak.load(Ordering::SeqCst), 3, "at most 3 at once, and the bound is used");
    }

    /// A request that stops waiting (its client went away) does not free the permit of a hash
    /// still running.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_abandoned_check_keeps_its_permit_until_the_hash_ends() {
        let gate = PasswordGate::new(1);
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let (started_tx, started) = tokio::sync::oneshot::channel::<()>();
        let first = tokio::spawn({
            let gate = gate.clone();
            async move {
                gate.run(move || {
                    let _ = started_tx.send(());
                    rx.recv().ok()
                })
                .await
            }
        });
        started.await.expect("the first hash started");
        first.abort();
        let second = tokio::time::timeout(Duration::from_millis(200), gate.run(|| ())).await;
        assert!(second.is_err(), "the second check ran beside the first");
        tx.send(()).expect("release the first");
        assert_eq!(tokio::time::timeout(Duration::from_secs(5), gate.run(|| 7)).await.expect("runs"), Some(7));
    }
}
