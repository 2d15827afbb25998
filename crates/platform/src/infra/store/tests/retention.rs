//! Retention (security review L6): what a purge takes and what it must keep, on both backends.

use super::{behaviours, choice, receipt, register, sha256};
use crate::infra::store::{NewReceipt, PurgeRun, Refusal, Store, StoreOutcome, SESSION_IDLE_MS, SESSION_MAX_MS};
use crate::services::chain::analyse_after;

behaviours!(
    old_receipts_go_with_their_deliveries_held_and_recent_stay,
    a_purged_chain_start_leaves_a_floor_the_chain_verifies_from,
    old_login_codes_refusals_and_ended_sessions_are_purged,
    holds_are_placed_once_shown_and_released,
    purge_runs_are_logged_newest_first,
);

const DAY: i64 = 86_400_000;
const T0: i64 = 1_700_000_000_000;

/// Receipt `serial` of `terminal` sold at `tx_time`, chained after `previous` (its sequence is
/// its serial), its delivery by SMS.
fn chained(terminal: &str, serial: i64, tx_time: i64, previous: [u8; 32]) -> NewReceipt {
    let mut r = receipt(terminal, serial, tx_time, 100);
    r.previous_hash = Some(previous.to_vec());
    r.delivery = Some(choice("sms", "+8613800138000"));
    r
}

/// Stores a chain of receipts of `terminal` sold at `times`; returns them.
async fn sell_chain(store: &Store, terminal: &str, times: &[i64]) -> Vec<NewReceipt> {
    let mut previous = [0u8; 32];
    let mut out = Vec::new();
    for (i, &t) in times.iter().enumerate() {
        let r = chained(terminal, i64::try_from(i).expect("small") + 1, t, previous);
        previous = r.record_hash;
        assert!(matches!(store.store_receipt(&r).await.expect("store"), StoreOutcome::Stored(_)));
        out.push(r);
    }
    out
}

/// Purges at `cutoff` in batches of `limit` until one comes back short; the totals.
async fn purge_all(store: &Store, cutoff: i64, limit: i64) -> (u64, u64, u64) {
    let mut total = (0, 0, 0);
    loop {
        let b = store.purge_receipts(cutoff, limit, cutoff + 1000).await.expect("purge");
        total = (total.0 + b.receipts, total.1 + b.deliveries, total.2 + b.delivery_events);
        if b.receipts < u64::try_from(limit).expect("positive") {
            return total;
        }
    }
}

async fn count(store: &Store, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}")).fetch_one(&store.pool).await.expect("count")
}

async fn old_receipts_go_with_their_deliveries_held_and_recent_stay(store: &Store) {
    register(store, "T1", "M-T1").await;
    register(store, "T2", "M-T2").await;
    let cutoff = T0 + 100 * DAY;
    // T1: three old receipts, the third on hold, then a recent one, then one whose terminal clock
    // says "old" again: it follows a receipt still kept, so it stays (a chain loses only a prefix).
    let t1 = sell_chain(store, "T1", &[T0, T0 + DAY, T0 + 2 * DAY, T0 + 200 * DAY, T0 + 3 * DAY]).await;
    // T2: two old receipts, one of them unchained.
    let t2 = sell_chain(store, "T2", &[T0]).await;
    let mut loose = receipt("T2", 9, T0 + DAY, 100);
    (loose.sequence, loose.previous_hash) = (None, None);
    store.store_receipt(&loose).await.expect("store");
    // A receipt sold long ago by the terminal's clock but received recently is not due.
    let mut late = receipt("T2", 10, T0, 100);
    (late.sequence, late.previous_hash, late.received_at) = (None, None, cutoff + DAY);
    store.store_receipt(&late).await.expect("store");
    assert!(store.hold_receipt(&t1[2].receipt_id, "acquirer", "case 77", T0).await.expect("hold").is_some());
    assert_eq!((count(store, "deliveries").await, count(store, "delivery_events").await), (6, 6));

    // Batches of two, each its own transaction, until a short one.
    let (receipts, deliveries, events) = purge_all(store, cutoff, 2).await;
    assert_eq!((receipts, deliveries, events), (4, 3, 3), "T1 #1, #2, T2 #1 and the unchained one");

    for (r, kept) in [
        (&t1[0].receipt_id, false),
        (&t1[1].receipt_id, false),
        (&t1[2].receipt_id, true),
        (&t1[3].receipt_id, true),
        (&t1[4].receipt_id, true),
        (&t2[0].receipt_id, false),
        (&loose.receipt_id, false),
        (&late.receipt_id, true),
    ] {
        assert_eq!(store.receipt(r).await.expect("read").is_some(), kept, "{r}");
        assert_eq!(store.receipt_image(r).await.expect("read").is_some(), kept, "{r}");
        let deliveries = store.deliveries_of(r).await.expect("deliveries");
        assert_eq!(deliveries.is_empty(), !kept || r == &late.receipt_id, "{r}: deliveries go with the receipt");
    }
    assert_eq!((count(store, "deliveries").await, count(store, "delivery_events").await), (3, 3));
    assert_eq!(store.held_past(cutoff).await.expect("held"), 1);
    assert_eq!(purge_all(store, cutoff, 2).await, (0, 0, 0), "a second run finds nothing");

    // Released, the held receipt goes at the next run; the recent one never does.
    assert!(store.release_hold(&t1[2].receipt_id).await.expect("release"));
    assert_eq!(purge_all(store, cutoff, 500).await.0, 1);
    assert!(store.receipt(&t1[2].receipt_id).await.expect("read").is_none());
    assert!(store.receipt(&t1[3].receipt_id).await.expect("read").is_some());
}

async fn a_purged_chain_start_leaves_a_floor_the_chain_verifies_from(store: &Store) {
    register(store, "T1", "M-T1").await;
    let cutoff = T0 + 100 * DAY;
    let sold =
        sell_chain(store, "T1", &[T0, T0 + DAY, T0 + 2 * DAY, T0 + 3 * DAY, cutoff + DAY, cutoff + 2 * DAY]).await;
    store.hold_receipt(&sold[1].receipt_id, "acquirer", "case 1", T0).await.expect("hold");
    assert_eq!(purge_all(store, cutoff, 1).await.0, 3);

    let floor = store.chain_floor("T1").await.expect("floor").expect("a floor is recorded");
    assert_eq!((floor.last_sequence, floor.last_receipt_id.as_str()), (4, sold[3].receipt_id.as_str()));
    assert_eq!((floor.last_hash, floor.receipts, floor.purged_at), (sold[3].record_hash, 3, cutoff + 1000));
    let report = analyse_after(&store.chain("T1").await.expect("chain"), Some(&floor));
    assert!(report.is_clean(), "{report:?}");
    let purged = report.purged.expect("the purged prefix is reported");
    assert_eq!(purged.verified_from.as_deref(), Some(sold[4].receipt_id.as_str()));
    assert!(purged.summary().starts_with(&format!("verified from receipt {}", sold[4].receipt_id)));

    // Where a new enrolment resumes: after the kept head; with everything purged, after the floor.
    assert_eq!(store.resume_of("T1", 1).await.expect("resume").head, Some((6, sold[5].record_hash)));
    store.release_hold(&sold[1].receipt_id).await.expect("release");
    assert_eq!(purge_all(store, cutoff + 10 * DAY, 500).await.0, 3);
    let floor = store.chain_floor("T1").await.expect("floor").expect("floor");
    assert_eq!((floor.last_sequence, floor.receipts), (6, 6));
    assert_eq!(store.resume_of("T1", 1).await.expect("resume").head, Some((6, sold[5].record_hash)));
    let report = analyse_after(&store.chain("T1").await.expect("chain"), Some(&floor));
    assert!(report.is_clean() && report.receipts == 0, "{report:?}");
}

async fn old_login_codes_refusals_and_ended_sessions_are_purged(store: &Store) {
    let now = T0 + 10 * DAY;
    store.issue_code("+8613800138000", "192.0.2.1", &sha256(b"old"), now - 3 * DAY).await.expect("code");
    store.issue_code("+8613800138000", "192.0.2.1", &sha256(b"new"), now - DAY).await.expect("code");
    assert_eq!(store.purge_login_codes(now - 2 * DAY, 500).await.expect("purge"), 1);
    assert_eq!(count(store, "login_codes").await, 1, "the code within 48 hours stays");

    for (at, id) in [(now - 100 * DAY, "R-old"), (now - DAY, "R-new")] {
        let r = Refusal { at, terminal_id: "T1".into(), receipt_id: id.into(), reason: "conflict".into() };
        store.record_refusal(&r).await.expect("refusal");
    }
    assert_eq!(store.purge_refusals(now - 90 * DAY, 500).await.expect("purge"), 1);
    let left: Vec<String> = store.refusals(10).await.expect("list").into_iter().map(|r| r.receipt_id).collect();
    assert_eq!(left, vec!["R-new".to_string()]);

    let (alive, idle, expired) = ([1u8; 32], [2u8; 32], [3u8; 32]);
    store.create_session(&alive, "staff", "alice", now - 60_000).await.expect("session");
    store.create_session(&idle, "staff", "bob", now - SESSION_IDLE_MS - 1000).await.expect("session");
    store.create_session(&expired, "pull", "+8613800138000", now - SESSION_MAX_MS - 1000).await.expect("session");
    // Never presented again, the ended ones are still deleted.
    assert_eq!(store.purge_sessions(now, 1).await.expect("purge"), 1, "bounded by the batch");
    assert_eq!(store.purge_sessions(now, 500).await.expect("purge"), 1);
    assert_eq!(count(store, "sessions").await, 1);
    assert_eq!(store.session(&alive, "staff", now).await.expect("session").as_deref(), Some("alice"));
}

async fn holds_are_placed_once_shown_and_released(store: &Store) {
    register(store, "T1", "M-T1").await;
    let r = receipt("T1", 1, T0, 100);
    store.store_receipt(&r).await.expect("store");
    let first = store.hold_receipt(&r.receipt_id, "acq1", "case 1", T0).await.expect("hold").expect("held");
    assert_eq!((first.held_by.as_str(), first.reason.as_str(), first.held_at), ("acq1", "case 1", T0));
    let again = store.hold_receipt(&r.receipt_id, "acq2", "case 2", T0 + 1000).await.expect("hold");
    assert_eq!(again, Some(first.clone()), "the first hold stands");
    assert_eq!(store.hold_of(&r.receipt_id).await.expect("read"), Some(first));
    assert_eq!(store.hold_receipt("T1-000001-999999", "acq1", "x", T0).await.expect("hold"), None);
    assert!(store.release_hold(&r.receipt_id).await.expect("release"));
    assert!(!store.release_hold(&r.receipt_id).await.expect("release"), "nothing left to release");
    assert_eq!(store.hold_of(&r.receipt_id).await.expect("read"), None);
}

async fn purge_runs_are_logged_newest_first(store: &Store) {
    for i in 0..3 {
        let run = PurgeRun {
            started_at: T0 + i * 1000,
            finished_at: T0 + i * 1000,
            cutoff: T0 - 1827 * DAY,
            receipts: 10 + i as u64,
            deliveries: 2,
            delivery_events: 4,
            login_codes: 5,
            sessions: 6,
            refusals: 7,
            held_kept: 1,
        };
        store.record_purge_run(&run).await.expect("log");
    }
    let runs = store.purge_runs(2).await.expect("list");
    assert_eq!(runs.iter().map(|r| r.receipts).collect::<Vec<_>>(), vec![12, 11]);
    assert_eq!((runs[0].cutoff, runs[0].sessions, runs[0].held_kept), (T0 - 1827 * DAY, 6, 1));
}
