//! The delivery queue: leases and their takeover, concurrent claims, and peer reports matched by
//! whole id on their own channel.

use super::{behaviours, receipt, register};
use crate::domain::delivery::Channel;
use crate::infra::store::Store;

behaviours!(
    an_expired_lease_is_taken_over_and_the_history_says_so,
    concurrent_claims_get_each_delivery_once,
    reports_match_whole_ids_on_their_own_channel,
    report_matching_uses_the_peer_id_index,
    resends_queue_up_to_a_limit_and_reach_the_new_number,
    a_held_delivery_is_queued_again_unsent_and_not_counted;
    url: a_process_whose_clock_runs_ahead_does_not_steal_a_live_lease,
);

const T0: i64 = 1_764_050_591_000;

/// Stores receipts 1..=n of POS00001, each with a push delivery on `channel`, received now (in
/// whole seconds): leases and the retry horizon run on the database's clock.
async fn queued(store: &Store, channel: &str, to: &str, n: i64) {
    register(store, "POS00001", "M1").await;
    let now = chrono::Utc::now().timestamp() * 1000;
    for serial in 1..=n {
        let mut r = receipt("POS00001", serial, T0, 100);
        r.received_at = now;
        r.delivery = Some(super::choice(channel, to));
        store.store_receipt(&r).await.expect("store");
    }
}

async fn history(store: &Store, receipt_id: &str) -> Vec<(String, String)> {
    let deliveries = store.deliveries_of(receipt_id).await.expect("deliveries");
    deliveries[0].1.iter().map(|e| (e.state.to_string(), e.answer.clone())).collect()
}

async fn a_held_delivery_is_queued_again_unsent_and_not_counted(store: &Store) {
    queued(store, "sms", "+8613800131234", 1).await;
    let d = store.claim_delivery("w1", 60_000).await.expect("claim").expect("due");
    let reason = "held back: 3 per minute to +86138…1234; next try 14:03:00 UTC";
    assert!(!store.delivery_held(&d.delivery_id, "w2", reason, 60_000).await.expect("held"), "not w2's claim");
    assert!(store.delivery_held(&d.delivery_id, "w1", reason, 60_000).await.expect("held"));
    assert!(store.claim_delivery("w1", 60_000).await.expect("claim").is_none(), "not due before the window ends");
    let (row, _) = &store.deliveries_of("POS00001-000001-000001").await.expect("deliveries")[0];
    assert_eq!((row.state.as_str(), row.attempts), ("queued", 0), "held is not an attempt");
    assert_eq!(row.last_answer.as_deref(), Some(reason));
    assert_eq!(store.make_due_now().await.expect("due"), 1);
    let again = store.claim_delivery("w1", 60_000).await.expect("claim").expect("due after the window");
    assert_eq!((again.attempts, again.interrupted()), (1, None));
    assert!(store.delivery_sent(&again.delivery_id, "w1", Some("M1"), "ok").await.expect("sent"));
    let h = history(store, "POS00001-000001-000001").await;
    assert_eq!(h.iter().map(|e| e.0.as_str()).collect::<Vec<_>>(), ["queued", "held", "sent"]);
    assert_eq!(h[1].1, reason);
}

async fn an_expired_lease_is_taken_over_and_the_history_says_so(store: &Store) {
    queued(store, "email", "li.na@example.com", 1).await;
    let first = store.claim_delivery("w1", 60_000).await.expect("claim").expect("due");
    assert_eq!((first.state.as_str(), first.attempts, first.interrupted()), ("sending", 1, None));
    assert!(store.claim_delivery("w2", 60_000).await.expect("claim").is_none(), "the lease holds");

    // w1 died mid-send: once its lease ran out, w2 takes over and knows it.
    store.age_leases(60_001).await;
    let second = store.claim_delivery("w2", 60_000).await.expect("claim").expect("taken over");
    assert_eq!((second.delivery_id.as_str(), second.attempts), (first.delivery_id.as_str(), 2));
    let note = second.interrupted().expect("marked as resuming an interrupted attempt");
    assert!(note.contains("attempt 1 (worker w1)") && note.contains("may have accepted"), "{note}");
    assert!(!store.delivery_sent(&first.delivery_id, "w1", None, "late").await.expect("sent"));
    assert!(store.delivery_sent(&first.delivery_id, "w2", Some("Q1"), "250 ok").await.expect("sent"));
    let states: Vec<String> = history(store, "POS00001-000001-000001").await.into_iter().map(|e| e.0).collect();
    assert_eq!(states, ["queued", "interrupted", "sent"]);

    // A claim after an ordinary retry is not an interrupted one.
    queued_again(store, &first.delivery_id).await;
    let third = store.claim_delivery("w3", 60_000).await.expect("claim").expect("due");
    assert_eq!(third.interrupted(), None);
}

/// Fails the sent delivery's next attempt temporarily, so it is queued again (a test shortcut:
/// a sent delivery is never claimed again in real life).
async fn queued_again(store: &Store, delivery_id: &str) {
    sqlx::query("UPDATE deliveries SET state = 'sending', worker = 'w2' WHERE delivery_id = $1")
        .bind(delivery_id)
        .execute(&store.pool)
        .await
        .expect("reset");
    let left = store.delivery_failed(delivery_id, "w2", "451 busy", false, 0).await.expect("failed");
    assert_eq!(left, Some(crate::domain::delivery::DeliveryState::Queued));
}

async fn concurrent_claims_get_each_delivery_once(store: &Store) {
    queued(store, "sms", "+8613800138000", 12).await;
    let mut claimers = tokio::task::JoinSet::new();
    for w in 0..4 {
        let store = store.clone();
        claimers.spawn(async move {
            let mut got = Vec::new();
            while let Some(d) = store.claim_delivery(&format!("w{w}"), 60_000).await.expect("claim") {
                got.push(d.delivery_id);
            }
            got
        });
    }
    let mut all = Vec::new();
    while let Some(got) = claimers.join_next().await {
        all.extend(got.expect("claimer"));
    }
    all.sort();
    let expected: Vec<String> = (1..=12).map(|s| format!("POS00001-000001-{s:06}.sms")).collect();
    assert_eq!(all, expected, "every delivery claimed by exactly one worker");
}

async fn reports_match_whole_ids_on_their_own_channel(store: &Store) {
    register(store, "POS00001", "M1").await;
    let sent = |serial: i64, channel: &str, to: &str, peer_id: &str| {
        let (channel, to, peer_id) = (channel.to_owned(), to.to_owned(), peer_id.to_owned());
        async move {
            let mut r = receipt("POS00001", serial, T0, 100);
            r.received_at = T0;
            r.delivery = Some(super::choice(&channel, &to));
            store.store_receipt(&r).await.expect("store");
            let d = store.claim_delivery("w", 60_000).await.expect("claim").expect("due");
            assert!(store.delivery_sent(&d.delivery_id, "w", Some(&peer_id), "accepted").await.expect("sent"));
            d.delivery_id
        }
    };
    let sms = sent(1, "sms", "+8613800138000", "a_1,b%2,c3").await;
    let mms = sent(2, "mms", "+8613800138000", "mmsc_7").await;

    let report = |channel: &'static str, id: &'static str, delivered: Option<bool>| async move {
        let channel = channel.parse().expect("a channel");
        store.delivery_reported(channel, id, delivered, &format!("report {id}"), T0 + 1).await.expect("report")
    };
    // Wildcards in a reported id are plain characters; an id of one channel means nothing on another.
    for (channel, id) in [("sms", "a%"), ("sms", "a_"), ("sms", "%"), ("sms", "_1"), ("sms", "mmsc_7"), ("mms", "a_1")]
    {
        assert_eq!(report(channel, id, Some(false)).await, None, "{channel} {id}");
    }
    assert_eq!(store.deliveries_of("POS00001-000001-000001").await.expect("of")[0].0.state.as_str(), "sent");

    // Not final yet: recorded in the history, the state stays.
    assert_eq!(report("mms", "mmsc_7", None).await.as_deref(), Some(mms.as_str()));
    assert_eq!(store.deliveries_of("POS00001-000001-000002").await.expect("of")[0].0.state.as_str(), "sent");
    assert_eq!(report("mms", "mmsc_7", Some(true)).await.as_deref(), Some(mms.as_str()));
    assert_eq!(report("mms", "mmsc_7", Some(true)).await.as_deref(), Some(mms.as_str()), "a repeat");
    let (d, _) = &store.deliveries_of("POS00001-000001-000002").await.expect("of")[0];
    assert_eq!((d.state.as_str(), d.last_answer.as_deref()), ("delivered", Some("report mmsc_7")));
    let states: Vec<String> = history(store, "POS00001-000001-000002").await.into_iter().map(|e| e.0).collect();
    assert_eq!(states, ["queued", "sent", "report", "delivered"]);

    // Any segment's id, first, middle or last, with its wildcard characters taken literally; the
    // receipts of the later segments say nothing new and leave no trace.
    for id in ["a_1", "b%2", "c3"] {
        let found = store.delivery_reported(Channel::Sms, id, Some(true), "DELIVRD", T0 + 2).await.expect("report");
        assert_eq!(found.as_deref(), Some(sms.as_str()), "{id}");
    }
    assert_eq!(store.deliveries_of("POS00001-000001-000001").await.expect("of")[0].0.state.as_str(), "delivered");
    let states: Vec<String> = history(store, "POS00001-000001-000001").await.into_iter().map(|e| e.0).collect();
    assert_eq!(states, ["queued", "sent", "delivered"]);
}

/// Two platform processes on one database, the second one's clock ahead of the first by the
/// lease and a second. The claim takes no time from its caller, so however far a process's
/// clock is off, the lease runs out on the database's clock: the second process claims nothing
/// while the first one's lease holds, takes over only once it has run out (a second of real
/// time here), and the first one's late outcome is then refused, so one of them sends.
async fn a_process_whose_clock_runs_ahead_does_not_steal_a_live_lease(store: &Store, url: &str) {
    queued(store, "email", "li.na@example.com", 1).await;
    let other = Store::connect(url).await.expect("a second process on the same database");
    let started = std::time::Instant::now();
    let first = store.claim_delivery("a", 1_000).await.expect("claim").expect("due");
    assert!(other.claim_delivery("b", 1_000).await.expect("claim").is_none(), "a live lease was stolen");
    let taken = loop {
        if let Some(d) = other.claim_delivery("b", 60_000).await.expect("claim") {
            break d;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "the lease never ran out");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(started.elapsed() >= std::time::Duration::from_secs(1), "taken over early: {:?}", started.elapsed());
    assert_eq!(taken.delivery_id, first.delivery_id);
    assert!(!store.delivery_sent(&first.delivery_id, "a", Some("Q1"), "250 ok").await.expect("sent"), "late");
    assert!(other.delivery_sent(&taken.delivery_id, "b", Some("Q2"), "250 ok").await.expect("sent"));
}

/// A delivery report is looked up by an index on (channel, peer id), not by scanning every
/// delivery (the lookup runs once per SMS segment).
async fn report_matching_uses_the_peer_id_index(store: &Store) {
    let mut conn = store.pool.acquire().await.expect("connection");
    let (explain, column) = match store.backend() {
        crate::infra::store::Backend::Sqlite => ("EXPLAIN QUERY PLAN", "detail"),
        crate::infra::store::Backend::Postgres => {
            // The test tables are tiny, so the planner would scan them anyway: ask whether the
            // index can serve the lookup at all.
            sqlx::query("SET enable_seqscan = off").execute(&mut *conn).await.expect("planner setting");
            ("EXPLAIN", "QUERY PLAN")
        }
    };
    let sql = format!("{explain} {}", crate::infra::store::deliveries::peer_lookup_sql());
    let plan: Vec<String> = sqlx::query(&sql)
        .bind("sms")
        .bind("m-17")
        .fetch_all(&mut *conn)
        .await
        .expect("explain")
        .iter()
        .map(|row| sqlx::Row::try_get::<String, _>(row, column).expect("plan text"))
        .collect();
    let plan = plan.join("\n");
    assert!(plan.contains("delivery_peer_ids_lookup"), "the report lookup does not use the index:\n{plan}");
}

async fn resends_queue_up_to_a_limit_and_reach_the_new_number(store: &Store) {
    queued(store, "email", "li.na@example.com", 1).await;
    let id = "POS00001-000001-000001";
    let now = chrono::Utc::now().timestamp_millis();
    assert!(store.receipts_for_phone("+8613700137000").await.expect("list").is_empty());
    assert!(!store.has_receipts_for_phone("+8613700137000").await.expect("probe"));
    let first = store.resend(id, Channel::Sms, "+8613700137000", now).await.expect("resend");
    assert_eq!(first, crate::infra::store::Resend::Queued { delivery_id: format!("{id}.sms.2") });
    let listed = store.receipts_for_phone("+8613700137000").await.expect("list");
    assert_eq!(listed.iter().map(|r| r.receipt_id.as_str()).collect::<Vec<_>>(), [id], "the new number sees it");
    assert!(store.has_receipts_for_phone("+8613700137000").await.expect("probe"));
    for n in 3..=crate::infra::store::MAX_DELIVERIES_PER_RECEIPT {
        let r = store.resend(id, Channel::Email, "other@example.com", now).await.expect("resend");
        assert_eq!(r, crate::infra::store::Resend::Queued { delivery_id: format!("{id}.email.{n}") });
    }
    assert_eq!(
        store.resend(id, Channel::Sms, "+8613700137001", now).await.expect("resend"),
        crate::infra::store::Resend::Limit
    );
    let deliveries = store.deliveries_of(id).await.expect("deliveries");
    assert_eq!(deliveries.len() as i64, crate::infra::store::MAX_DELIVERIES_PER_RECEIPT, "nothing past the limit");
    assert!(deliveries.iter().all(|(d, _)| d.state.as_str() == "queued"));
}
