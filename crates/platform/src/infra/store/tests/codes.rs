//! One-time login codes: single use, wrong tries, expiry, newest code only, rate limits,
//! concurrent logins, and the receipts a number unlocks.

use std::sync::Arc;

use tokio::sync::Barrier;

use super::{behaviours, receipt, register};
use crate::domain::login_codes::{code_hash, LoginOutcome, CODE_TTL_MS, MAX_FAILURES, PER_CLIENT, PER_NUMBER};
use crate::infra::store::{Issued, Store};

behaviours!(
    a_right_code_logs_in_once,
    wrong_codes_count_down_then_lock,
    a_code_expires_after_ten_minutes,
    only_the_newest_code_counts,
    codes_per_number_are_limited,
    codes_per_client_are_limited,
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

/// Issues `code` for `phone` from `client` at `now`, which must not be rate-limited.
async fn issue(store: &Store, phone: &str, client: &str, code: &str, now: i64) {
    match store.issue_code(phone, client, &hash(phone, code), now).await.expect("issue") {
        Issued::Code { expires_at, .. } => assert_eq!(expires_at, now + CODE_TTL_MS),
        other => panic!("{other:?}"),
    }
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

async fn codes_per_number_are_limited(store: &Store) {
    let window = PER_NUMBER.window_ms;
    for i in 0..PER_NUMBER.max {
        // Each from another client: the number's own limit applies.
        issue(store, PHONE, &format!("10.0.0.{i}"), "123456", T0 + i * 1_000).await;
    }
    let at = T0 + 5_000;
    let refused = store.issue_code(PHONE, "10.0.1.1", &hash(PHONE, "999999"), at).await.expect("issue");
    assert_eq!(refused, Issued::RateLimited { retry_after_ms: T0 + window - at });
    // A refused request stores nothing: the last issued code still logs in.
    assert_eq!(check(store, PHONE, "123456", at + 1).await, LoginOutcome::Ok);
    // Other numbers are unaffected.
    issue(store, "+8613800138001", "10.0.1.1", "123456", at).await;
    // When the oldest code leaves the window, one more may be issued — and then none again.
    assert!(matches!(
        store.issue_code(PHONE, "10.0.1.1", &hash(PHONE, "1"), T0 + window - 1).await.expect("issue"),
        Issued::RateLimited { retry_after_ms: 1 }
    ));
    issue(store, PHONE, "10.0.1.1", "345678", T0 + window).await;
    assert_eq!(
        store.issue_code(PHONE, "10.0.1.1", &hash(PHONE, "1"), T0 + window).await.expect("issue"),
        Issued::RateLimited { retry_after_ms: 1_000 }
    );
}

async fn codes_per_client_are_limited(store: &Store) {
    let client = "2001:db8::1";
    for i in 0..PER_CLIENT.max {
        issue(store, &format!("+86138001380{i:02}"), client, "123456", T0 + i).await;
    }
    let at = T0 + 60_000;
    let refused = store.issue_code("+8613900000000", client, &hash("+8613900000000", "1"), at).await.expect("issue");
    assert_eq!(refused, Issued::RateLimited { retry_after_ms: T0 + PER_CLIENT.window_ms - at });
    // Another client may still ask for that number.
    issue(store, "+8613900000000", "2001:db8::2", "123456", at).await;
    issue(store, "+8613900000001", client, "123456", T0 + PER_CLIENT.window_ms).await;
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
    let first = store.receipts_for_phone(other).await.expect("list").remove(0);
    assert_eq!(first.delivery, Some(super::choice("pull", other)));
}

/// M4: an attacker who asks for a fresh code whenever one is issued and spends every try on it,
/// for 24 simulated hours, gets at most the daily cap of wrong tries at the number (NIST
/// 800-63B §5.2.2 allows at most 100); after that even the right code is refused.
async fn wrong_codes_per_number_are_capped_over_a_day(store: &Store) {
    const DAY: i64 = 24 * 60 * 60 * 1000;
    let mut wrong = 0;
    let mut t = T0;
    while t < T0 + DAY {
        // A new client address each time: the number's own cap must hold.
        let client = format!("2001:db8:{:x}::1", (t - T0) / 60_000);
        if let Issued::Code { .. } = store.issue_code(PHONE, &client, &hash(PHONE, "424242"), t).await.expect("issue") {
            for k in 0..MAX_FAILURES {
                if let LoginOutcome::Wrong { .. } = check(store, PHONE, &format!("{k:06}"), t + 1_000).await {
                    wrong += 1;
                }
            }
        }
        t += 5 * 60 * 1000;
    }
    assert!(wrong <= 100, "{wrong} wrong tries at one number in 24 hours");
}
