//! Portal accounts: unique usernames, roles round-trip, sign-in attempts taken one at a time
//! with a wait after each (also under concurrent attempts), TOTP steps used at most once,
//! disable ends sessions.

use std::sync::Arc;

use tokio::sync::Barrier;

use super::behaviours;
use crate::domain::credentials::Role;
use crate::infra::store::{NewAccount, Store, StoreError};

behaviours!(
    accounts_are_unique_and_keep_their_role,
    a_taken_attempt_counts_as_a_failure_and_sets_the_wait,
    of_concurrent_attempts_exactly_one_is_taken,
    a_totp_step_logs_in_once,
    disabling_ends_sessions_and_logins,
    a_reset_replaces_credentials_and_clears_lock_and_sessions,
    a_reset_that_cannot_end_the_sessions_changes_nothing,
);

const T0: i64 = 1_700_000_000_000;

fn merchant(username: &str, merchant_id: &str) -> NewAccount {
    NewAccount {
        username: username.to_owned(),
        role: Role::Merchant { merchant_id: merchant_id.to_owned() },
        password_hash: format!("hash of {username}"),
        totp_sealed: vec![1, 2, 3],
    }
}

async fn accounts_are_unique_and_keep_their_role(store: &Store) {
    store.create_account(&merchant("alice", "M-1"), T0).await.expect("create");
    let acq = NewAccount { role: Role::Acquirer, ..merchant("bank", "unused") };
    store.create_account(&acq, T0).await.expect("create acquirer");
    let again = store.create_account(&merchant("alice", "M-2"), T0).await;
    assert!(matches!(again, Err(StoreError::AccountExists(ref u)) if u == "alice"), "{again:?}");
    let alice = store.account("alice").await.expect("read").expect("alice exists");
    assert_eq!(alice.role, Role::Merchant { merchant_id: "M-1".into() }, "the first alice is kept");
    assert_eq!((alice.failures, alice.locked_until, alice.totp_last_step), (0, 0, 0));
    assert_eq!(store.account("bank").await.expect("read").map(|a| a.role), Some(Role::Acquirer));
    assert_eq!(store.account("nobody").await.expect("read"), None);
    let names: Vec<String> = store.accounts().await.expect("list").into_iter().map(|a| a.username).collect();
    assert_eq!(names, ["alice", "bank"]);
}

async fn a_taken_attempt_counts_as_a_failure_and_sets_the_wait(store: &Store) {
    store.create_account(&merchant("alice", "M-1"), T0).await.expect("create");
    // Taken at failures = 0: counted at once, the next attempt not before T0 + 2 s.
    assert!(store.claim_sign_in("alice", 0, T0, T0 + 2_000).await.expect("claim"));
    let a = store.account("alice").await.expect("read").expect("exists");
    assert_eq!((a.failures, a.locked_until), (1, T0 + 2_000));
    assert!(!store.claim_sign_in("alice", 1, T0 + 1_000, T0 + 5_000).await.expect("claim"), "still waiting");
    assert!(!store.claim_sign_in("alice", 0, T0 + 2_000, T0 + 5_000).await.expect("claim"), "a stale count");
    assert!(store.claim_sign_in("alice", 1, T0 + 2_000, T0 + 5_000).await.expect("claim"));
    // A success clears the failures and the wait, even one set by the attempt itself.
    assert!(store.login_succeeded("alice", 5).await.expect("login"));
    let a = store.account("alice").await.expect("read").expect("exists");
    assert_eq!((a.failures, a.locked_until, a.totp_last_step), (0, 0, 5));
    assert!(!store.claim_sign_in("nobody", 0, T0, T0).await.expect("unknown user"));
    // An administrator can lift a wait early.
    assert!(store.claim_sign_in("alice", 0, T0 + 6_000, T0 + 3_600_000).await.expect("claim"));
    assert!(store.unlock_account("alice").await.expect("unlock"));
    assert!(store.claim_sign_in("alice", 0, T0 + 7_000, T0 + 7_000).await.expect("unlocked"));
}

/// M5: attempts at the same instant cannot overrun the budget: of twenty, one is taken (and
/// counted once); the others are refused without a look at their credentials.
async fn of_concurrent_attempts_exactly_one_is_taken(store: &Store) {
    store.create_account(&merchant("alice", "M-1"), T0).await.expect("create");
    let tasks = 20;
    let barrier = Arc::new(Barrier::new(tasks));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..tasks {
        let (store, barrier) = (store.clone(), barrier.clone());
        set.spawn(async move {
            barrier.wait().await;
            store.claim_sign_in("alice", 0, T0, T0).await.expect("claim")
        });
    }
    let mut taken = 0;
    while let Some(done) = set.join_next().await {
        taken += usize::from(done.expect("task"));
    }
    assert_eq!(taken, 1);
    assert_eq!(store.account("alice").await.expect("read").map(|a| a.failures), Some(1));
}

async fn a_totp_step_logs_in_once(store: &Store) {
    store.create_account(&merchant("alice", "M-1"), T0).await.expect("create");
    assert!(store.claim_sign_in("alice", 0, T0, T0).await.expect("claim"));
    assert!(store.login_succeeded("alice", 1000).await.expect("login"));
    assert_eq!(store.account("alice").await.expect("read").map(|a| a.failures), Some(0), "success clears");
    assert!(!store.login_succeeded("alice", 1000).await.expect("replay"), "same step twice");
    assert!(!store.login_succeeded("alice", 999).await.expect("older"), "an older step");
    assert!(store.login_succeeded("alice", 1001).await.expect("next"));
}

async fn disabling_ends_sessions_and_logins(store: &Store) {
    store.create_account(&merchant("alice", "M-1"), T0).await.expect("create");
    store.create_session(&[9; 32], "staff", "alice", T0).await.expect("session");
    assert_eq!(store.session(&[9; 32], "staff", T0 + 1).await.expect("read").as_deref(), Some("alice"));
    assert!(store.disable_account("alice", T0 + 2).await.expect("disable"));
    assert_eq!(store.session(&[9; 32], "staff", T0 + 3).await.expect("read"), None);
    assert!(!store.login_succeeded("alice", 1).await.expect("login"));
    assert!(!store.claim_sign_in("alice", 0, T0 + 4, T0 + 4).await.expect("claim"), "disabled");
    assert!(!store.disable_account("alice", T0 + 5).await.expect("again"), "already disabled");
}

async fn a_reset_replaces_credentials_and_clears_lock_and_sessions(store: &Store) {
    store.create_account(&merchant("alice", "M-1"), T0).await.expect("create");
    assert!(store.login_succeeded("alice", 500).await.expect("login"));
    assert!(store.claim_sign_in("alice", 0, T0, T0 + 900_000).await.expect("claim"));
    store.create_session(&[7; 32], "staff", "alice", T0).await.expect("session");
    assert!(store.reset_account("alice", "new hash", &[9, 9]).await.expect("reset"));
    let a = store.account("alice").await.expect("read").expect("exists");
    assert_eq!((a.password_hash.as_str(), a.totp_sealed.as_slice()), ("new hash", &[9u8, 9][..]));
    assert_eq!((a.failures, a.locked_until, a.totp_last_step), (0, 0, 0), "unlocked, steps forgotten");
    assert_eq!(store.session(&[7; 32], "staff", T0 + 1).await.expect("read"), None, "signed out");
    assert!(store.login_succeeded("alice", 1).await.expect("login"), "a new authenticator's step works");
    assert!(!store.reset_account("nobody", "h", &[1]).await.expect("reset"));
    store.disable_account("alice", T0 + 3).await.expect("disable");
    assert!(!store.reset_account("alice", "h", &[1]).await.expect("reset"), "a disabled account stays disabled");
}

/// Credentials and sessions change together or not at all: a reset whose sign-out fails (here a
/// trigger refuses it) leaves the old credentials, so no one holds new credentials while the
/// old sessions live on.
async fn a_reset_that_cannot_end_the_sessions_changes_nothing(store: &Store) {
    store.create_account(&merchant("alice", "M-1"), T0).await.expect("create");
    store.create_session(&[7; 32], "staff", "alice", T0).await.expect("session");
    let refuse: &[&str] = match store.backend() {
        crate::infra::store::Backend::Sqlite => &["CREATE TRIGGER sessions_stay BEFORE DELETE ON sessions \
             BEGIN SELECT RAISE(ABORT, 'sessions cannot be ended'); END"],
        crate::infra::store::Backend::Postgres => &[
            "CREATE FUNCTION sessions_stay() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'sessions cannot be ended'; END $$",
            "CREATE TRIGGER sessions_stay BEFORE DELETE ON sessions FOR EACH ROW EXECUTE PROCEDURE sessions_stay()",
        ],
    };
    for sql in refuse {
        sqlx::query(sql).execute(&store.pool).await.expect("install the trigger");
    }
    assert!(store.reset_account("alice", "new hash", &[9, 9]).await.is_err(), "the sign-out failed");
    let a = store.account("alice").await.expect("read").expect("exists");
    assert_eq!((a.password_hash.as_str(), a.totp_sealed.as_slice()), ("hash of alice", &[1u8, 2, 3][..]));
    assert_eq!(store.session(&[7; 32], "staff", T0 + 1).await.expect("read").as_deref(), Some("alice"));
}
