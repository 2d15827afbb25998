//! Rate counters in the database: a fixed window per scope and subject, exact under concurrent
//! requests, and shared by every store (platform process) on the same database.

use std::sync::Arc;

use tokio::sync::Barrier;

use super::behaviours;
use crate::domain::limits::Limit;
use crate::infra::store::{Counted, Store};

behaviours!(
    a_window_admits_its_limit_then_refuses_until_it_ends,
    of_concurrent_requests_exactly_the_limit_pass;
    url: another_process_on_the_same_database_sees_the_count,
);

const T0: i64 = 1_700_000_000_000;
const LIMIT: Limit = Limit { scope: "test.network", max: 3, window_ms: 60_000 };

async fn a_window_admits_its_limit_then_refuses_until_it_ends(store: &Store) {
    for i in 0..LIMIT.max {
        assert_eq!(store.count_event(LIMIT, "192.0.2.1", T0 + i * 1_000).await.expect("count"), Counted::Allowed);
    }
    let at = T0 + 10_000;
    assert_eq!(
        store.count_event(LIMIT, "192.0.2.1", at).await.expect("count"),
        Counted::Limited { retry_after_ms: T0 + LIMIT.window_ms - at }
    );
    // A refused request is not counted: it does not push the window's end.
    assert_eq!(
        store.count_event(LIMIT, "192.0.2.1", T0 + LIMIT.window_ms - 1_000).await.expect("count"),
        Counted::Limited { retry_after_ms: 1_000 }
    );
    // Other subjects and other scopes have counts of their own.
    assert_eq!(store.count_event(LIMIT, "192.0.2.2", at).await.expect("count"), Counted::Allowed);
    let other_scope = Limit { scope: "test.number", ..LIMIT };
    assert_eq!(store.count_event(other_scope, "192.0.2.1", at).await.expect("count"), Counted::Allowed);
    // The window ended: a new one starts at this request.
    let later = T0 + LIMIT.window_ms;
    for _ in 0..LIMIT.max {
        assert_eq!(store.count_event(LIMIT, "192.0.2.1", later).await.expect("count"), Counted::Allowed);
    }
    assert_eq!(
        store.count_event(LIMIT, "192.0.2.1", later + 5_000).await.expect("count"),
        Counted::Limited { retry_after_ms: LIMIT.window_ms - 5_000 }
    );
    // A reset forgets the count.
    store.reset_count(LIMIT, "192.0.2.1").await.expect("reset");
    assert_eq!(store.count_event(LIMIT, "192.0.2.1", later + 6_000).await.expect("count"), Counted::Allowed);
}

async fn of_concurrent_requests_exactly_the_limit_pass(store: &Store) {
    let limit = Limit { max: 10, ..LIMIT };
    let tasks = 40;
    let barrier = Arc::new(Barrier::new(tasks));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..tasks {
        let (store, barrier) = (store.clone(), barrier.clone());
        set.spawn(async move {
            barrier.wait().await;
            store.count_event(limit, "2001:db8::/64", T0).await.expect("count")
        });
    }
    let mut allowed = 0;
    while let Some(done) = set.join_next().await {
        allowed += i64::from(done.expect("task") == Counted::Allowed);
    }
    assert_eq!(allowed, limit.max);
}

async fn another_process_on_the_same_database_sees_the_count(store: &Store, url: &str) {
    let other = Store::connect(url).await.expect("a second store");
    for i in 0..LIMIT.max {
        let by = if i % 2 == 0 { store } else { &other };
        assert_eq!(by.count_event(LIMIT, "192.0.2.9", T0 + i * 1_000).await.expect("count"), Counted::Allowed);
    }
    assert!(matches!(
        other.count_event(LIMIT, "192.0.2.9", T0 + 10_000).await.expect("count"),
        Counted::Limited { .. }
    ));
    assert!(matches!(
        store.count_event(LIMIT, "192.0.2.9", T0 + 10_000).await.expect("count"),
        Counted::Limited { .. }
    ));
    other.close().await;
}
