//! One-time login codes: single use, wrong tries, expiry, newest code only, the daily cap of
//! tries per number, concurrent logins, and the receipts a number unlocks.

use std::sync::Arc;

use tokio::sync::Barrier;

use super::{behaviours, receipt, register};
use crate::domain::limits::LOGINS_PER_NUMBER;
use crate::domain::login_codes::{code_hash, LoginOutcome, CODE_TTL_MS, MAX_FAILURES};
use crate::infra::store::Store;

behaviours!(
    a_right_code_logs_in_once,
    wrong_codes_count_down_then_lock,
    a_code_expires_after_ten_minutes,
    only_the_newest_code_counts,
    of_concurrent_right_codes_one_logs_in,
    concurrent_wrong_codes_lock_after_exactly_five,
    receipts_for_phone_lists_only_that_number,
    wrong_codes_per_number_are_capped_over_a_day,
);

const KEY: &[u8] = b"server secret for tests";
const PHONE: &str = "+8613800138000";
const T0: i64 = 1_700_000_000_000;

fn hash(phone: &str, code: &str) -> [u8; 32] {
    code_hash(KEY, phone, code)
}

/// Issues `code` for `phone` from `client` at `now`.
async fn issue(store: &Store, phone: &str, client: &str, code: &str, now: i64) {
    store.issue_code(phone, client, &hash(phone, code), now).await.expect("issue");
}

async fn check(store: &Store, phone: &str, code: &str, now: i64) -> LoginOutcome {
    store.check_code(phone, &hash(phone, code), now).await.expect("check")
}

async fn a_right_code_logs_in_once(store: &Store) {
    assert_eq!(check(store, PHONE, "123456", T0).await, LoginOutcome::NoCode);
    issue(store, PHONE, "10.0.0.1", "123456", T0).await;
    // The code is bound to its number.
    assert_eq!(check(store, "+8613800138001", "123456", T0 + 1).await, LoginOutcome::NoCode);
    assert_eq!(check(store, PHONE, "123456", T0 + 1_000).await, LoginOutcome::Ok);
    assert_eq!(check(store, PHONE, "123456", T0 + 2_000).await, LoginOutcome::Used);
    assert_eq!(check(store, PHONE, "654321", T0 + 3_000).await, LoginOutcome::Used);
}

async fn wrong_codes_count_down_then_lock(store: &Store) {
    issue(store, PHONE, "10.0.0.1", "123456", T0).await;
    for left in (0..MAX_FAILURES).rev() {
        assert_eq!(check(store, PHONE, "000000", T0 + 1).await, LoginOutcome::Wrong { tries_left: left });
    }
    assert_eq!(check(store, PHONE, "123456", T0 + 2).await, LoginOutcome::Locked);
    assert_eq!(check(store, PHONE, "000000", T0 + 3).await, LoginOutcome::Locked);
    // A new code starts afresh.
    issue(store, PHONE, "10.0.0.1", "234567", T0 + 4).await;
    assert_eq!(check(store, PHONE, "000000", T0 + 5).await, LoginOutcome::Wrong { tries_left: MAX_FAILURES - 1 });
    assert_eq!(check(store, PHONE, "234567", T0 + 6).await, LoginOutcome::Ok);
}

async fn a_code_expires_after_ten_minutes(store: &Store) {
    issue(store, PHONE, "10.0.0.1", "123456", T0).await;
    assert_eq!(check(store, PHONE, "123456", T0 + CODE_TTL_MS).await, LoginOutcome::Expired);
    // A wrong try on an expired code counts nothing and says expired.
    assert_eq!(check(store, PHONE, "000000", T0 + CODE_TTL_MS).await, LoginOutcome::Expired);

    issue(store, PHONE, "10.0.0.1", "234567", T0 + 1).await;
    assert_eq!(check(store, PHONE, "234567", T0 + 1 + CODE_TTL_MS - 1).await, LoginOutcome::Ok);
}

async fn only_the_newest_code_counts(store: &Store) {
    issue(store, PHONE, "10.0.0.1", "111111", T0).await;
    issue(store, PHONE, "10.0.0.1", "222222", T0 + 1_000).await;
    assert_eq!(check(store, PHONE, "111111", T0 + 2_000).await, LoginOutcome::Wrong { tries_left: MAX_FAILURES - 1 });
    assert_eq!(check(store, PHONE, "222222", T0 + 3_000).await, LoginOutcome::Ok);
    assert_eq!(check(store, PHONE, "111111", T0 + 4_000).await, LoginOutcome::Used);
}

async fn of_concurrent_right_codes_one_logs_in(store: &Store) {
    for round in 0..5_i64 {
        let phone = format!("+861380013800{round}");
        issue(store, &phone, "10.0.0.1", "424242", T0).await;
        let tasks = 8;
        let barrier = Arc::new(Barrier::new(tasks));
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..tasks {
            let (store, barrier, phone) = (store.clone(), barrier.clone(), phone.clone());
            set.spawn(async move {
                barrier.wait().await;
                store.check_code(&phone, &hash(&phone, "424242"), T0 + 1).await
            });
        }
        let mut outcomes = Vec::new();
        while let Some(done) = set.join_next().await {
            outcomes.push(done.expect("task").expect("check"));
        }
        let ok = outcomes.iter().filter(|o| **o == LoginOutcome::Ok).count();
        assert_eq!(ok, 1, "{outcomes:?}");
        assert!(outcomes.iter().all(|o| matches!(o, LoginOutcome::Ok | LoginOutcome::Used)), "{outcomes:?}");
    }
}

async fn concurrent_wrong_codes_lock_after_exactly_five(store: &Store) {
    issue(store, PHONE, "10.0.0.1", "424242", T0).await;
    let tasks = 12;
    let barrier = Arc::new(Barrier::new(tasks));
    let mut set = tokio::task::JoinSet::new();
    for i in 0..tasks {
        let (store, barrier) = (store.clone(), barrier.clone());
        set.spawn(async move {
            barrier.wait().await;
            store.check_code(PHONE, &hash(PHONE, &format!("{i:06}")), T0 + 1).await
        });
    }
    let mut left = Vec::new();
    while let Some(done) = set.join_next().await {
        match done.expect("task").expect("check") {
            LoginOutcome::Wrong { tries_left } => left.push(tries_left),
            LoginOutcome::Locked => {}
            other => panic!("{other:?}"),
        }
    }
    left.sort_unstable();
    // Every wrong try is counted once: 4, 3, 2, 1, 0 left, and the rest find the code locked.
    assert_eq!(left, (0..MAX_FAILURES).collect::<Vec<_>>());
    assert_eq!(check(store, PHONE, "424242", T0 + 2).await, LoginOutcome::Locked);
}

async fn receipts_for_phone_lists_only_that_number(store: &Store) {
    register(store, "POS00001", "M1").await;
    let other = "+8613800138001";
    let with = |serial, tx_time: i64, to: Option<(&str, &str)>| {
        let mut r = receipt("POS00001", serial, T0 + tx_time * 1_000, 100 * serial);
        r.delivery = to.map(|(channel, to)| super::choice(channel, to));
        r
    };
    for r in [
        with(1, 1_000, Some(("pull", PHONE))),
        with(2, 3_000, Some(("sms", PHONE))),
        with(3, 2_000, Some(("pull", other))),
        with(4, 4_000, None),
        with(5, 2_500, Some(("pull", PHONE))),
    ] {
        store.store_receipt(&r).await.expect("store");
    }
    let ids = |list: Vec<crate::infra::store::StoredReceipt>| list.into_iter().map(|r| r.serial).collect::<Vec<_>>();
    assert_eq!(ids(store.receipts_for_phone(PHONE).await.expect("list")), [2, 5, 1]);
    assert_eq!(ids(store.receipts_for_phone(other).await.expect("list")), [3]);
    assert!(store.receipts_for_phone("+10000000000").await.expect("list").is_empty());
    assert!(store.has_receipts_for_phone(PHONE).await.expect("exists"));
    assert!(store.has_receipts_for_phone(other).await.expect("exists"));
    assert!(!store.has_receipts_for_phone("+10000000000").await.expect("exists"));
    let first = store.receipts_for_phone(other).await.expect("list").remove(0);
    assert_eq!(first.delivery, Some(super::choice("pull", other)));
}

/// M4: an attacker who gets a fresh code every five minutes and spends every try on it, for 24
/// simulated hours, gets exactly the daily cap of tries at the number (NIST SP 800-63B §5.2.2
/// allows at most 100); after that even the right code is refused, until the day is over; a
/// login starts the count again.
async fn wrong_codes_per_number_are_capped_over_a_day(store: &Store) {
    const DAY: i64 = 24 * 60 * 60 * 1000;
    let mut wrong = 0;
    let mut t = T0;
    while t < T0 + DAY {
        // A new client address each time: the number's own cap must hold.
        let client = format!("2001:db8:{:x}::1", (t - T0) / 60_000);
        store.issue_code(PHONE, &client, &hash(PHONE, "424242"), t).await.expect("issue");
        for k in 0..MAX_FAILURES {
            if let LoginOutcome::Wrong { .. } = check(store, PHONE, &format!("{k:06}"), t + 1_000).await {
                wrong += 1;
            }
        }
        t += 5 * 60 * 1000;
    }
    const { assert!(LOGINS_PER_NUMBER.max <= 100) };
    assert_eq!(wrong, LOGINS_PER_NUMBER.max, "wrong tries at one number in 24 hours");
    // The cap counted from the first try at T0 + 1 s; the last code is still fresh.
    let last = t - 5 * 60 * 1000;
    store.issue_code(PHONE, "10.0.0.1", &hash(PHONE, "424242"), last + 2_000).await.expect("issue");
    assert_eq!(
        check(store, PHONE, "424242", last + 3_000).await,
        LoginOutcome::TooManyTries { retry_after_ms: T0 + 1_000 + DAY - (last + 3_000) },
        "the right code is refused past the cap"
    );
    let next_day = T0 + 1_000 + DAY;
    store.issue_code(PHONE, "10.0.0.1", &hash(PHONE, "135790"), next_day).await.expect("issue");
    assert_eq!(check(store, PHONE, "000000", next_day + 1_000).await, LoginOutcome::Wrong { tries_left: 4 });
    assert_eq!(check(store, PHONE, "135790", next_day + 2_000).await, LoginOutcome::Ok);
    // The login started the count again: a full day's tries are there.
    store.issue_code(PHONE, "10.0.0.1", &hash(PHONE, "246801"), next_day + 3_000).await.expect("issue");
    for _ in 0..MAX_FAILURES {
        assert!(matches!(check(store, PHONE, "000000", next_day + 4_000).await, LoginOutcome::Wrong { .. }));
    }
    // Other numbers were never held.
    store.issue_code("+8613800138001", "10.0.0.1", &hash("+8613800138001", "111111"), last).await.expect("issue");
    assert_eq!(check(store, "+8613800138001", "111111", last + 1_000).await, LoginOutcome::Ok);
}
