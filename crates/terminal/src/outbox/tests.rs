//! The outbox's behaviour on a real SQLite file: chain links, FIFO draining, backoff, refusals,
//! acknowledgements, and what survives a restart.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;

use super::*;

pub(super) use ereceipt_core::digest::sha256;

/// A receipt composed on `link`, as the sale code would.
pub(super) fn compose(link: NextLink, id: &str) -> NewEntry {
    let record = format!("record {id} #{} after {}", link.sequence, hex::encode(link.previous)).into_bytes();
    NewEntry {
        receipt_id: id.to_owned(),
        sequence: link.sequence,
        record_hash: sha256(&record),
        record,
        png: b"\x89PNG fake image".to_vec(),
        batch: link.batch,
        serial: link.serial,
        delivery: Some("email:a@example.com".to_owned()),
    }
}

/// One sale: next link, compose, store.
pub(super) async fn sell(outbox: &Outbox, id: &str, now_ms: i64) -> NewEntry {
    let entry = compose(outbox.next_link().await.unwrap(), id);
    outbox.store(&entry, now_ms).await.unwrap();
    entry
}

async fn fresh() -> (tempfile::TempDir, Outbox) {
    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::open(&dir.path().join("outbox.db")).await.unwrap();
    (dir, outbox)
}

async fn due_id(outbox: &Outbox, now_ms: i64) -> Option<String> {
    outbox.next_due(now_ms).await.unwrap().map(|e| e.receipt_id)
}

#[tokio::test]
async fn first_link_is_sequence_one_after_zeros_with_serial_one() {
    let (_dir, outbox) = fresh().await;
    assert_eq!(outbox.next_link().await.unwrap(), NextLink { sequence: 1, previous: [0; 32], batch: 1, serial: 1 });
    assert_eq!(outbox.status().await.unwrap(), OutboxStatus::default());
}

#[tokio::test]
async fn links_follow_the_last_stored_receipt() {
    let (_dir, outbox) = fresh().await;
    let first = sell(&outbox, "r1", 1_000).await;
    let second = sell(&outbox, "r2", 2_000).await;
    assert_eq!((second.sequence, second.serial), (2, 2));
    assert!(second.record.ends_with(hex::encode(first.record_hash).as_bytes()), "composed after r1");
    let next = outbox.next_link().await.unwrap();
    assert_eq!(next, NextLink { sequence: 3, previous: second.record_hash, batch: 1, serial: 3 });
}

#[tokio::test]
async fn after_serial_999999_the_next_sale_is_serial_1_of_the_next_batch() {
    let (_dir, outbox) = fresh().await;
    let mut entry = compose(outbox.next_link().await.unwrap(), "POS00001-000001-999999");
    entry.serial = MAX_SERIAL;
    outbox.store(&entry, 0).await.unwrap();
    let next = outbox.next_link().await.unwrap();
    assert_eq!((next.sequence, next.batch, next.serial), (2, 2, 1));
    // The sale at the wrap is stored (its id is new), where it used to fail after the card was
    // authorised because serial 1 of batch 1 was taken.
    sell(&outbox, "POS00001-000002-000001", 0).await;
    assert_eq!(outbox.status().await.unwrap().pending, 2);

    entry.serial = MAX_SERIAL + 1;
    entry.sequence = 3;
    entry.receipt_id = "r3".into();
    assert!(matches!(outbox.store(&entry, 0).await, Err(OutboxError::Invalid(_))));
    entry.serial = 2;
    entry.batch = MAX_BATCH + 1;
    assert!(matches!(outbox.store(&entry, 0).await, Err(OutboxError::Invalid(_))));
}

#[tokio::test]
async fn a_resume_point_moves_the_first_link_and_survives_a_restart() {
    use ereceipt_core::contract::{ChainHead, ResumePoint};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.db");
    let outbox = Outbox::open(&path).await.unwrap();
    assert!(outbox.needs_resume().await.unwrap());
    let head = [0x5A; 32];
    let point = ResumePoint { batch: 3, last_serial: 0, head: Some(ChainHead::new(12, &head)) };
    outbox.set_resume(&point, 1_000).await.unwrap();
    assert!(!outbox.needs_resume().await.unwrap());
    assert_eq!(outbox.next_link().await.unwrap(), NextLink { sequence: 13, previous: head, batch: 3, serial: 1 });

    // A link below the platform's head would be a second receipt for a sequence it holds.
    let stale = compose(NextLink { sequence: 1, previous: [0; 32], batch: 3, serial: 1 }, "r1");
    assert!(matches!(outbox.store(&stale, 0).await, Err(OutboxError::Conflict(_))));
    let first = sell(&outbox, "POS00001-000003-000001", 2_000).await;
    assert_eq!((first.sequence, first.batch, first.serial), (13, 3, 1));
    outbox.close().await;

    let outbox = Outbox::open(&path).await.unwrap();
    let next = outbox.next_link().await.unwrap();
    assert_eq!(next, NextLink { sequence: 14, previous: first.record_hash, batch: 3, serial: 2 });
    // A stale point fetched again later does not move the outbox back.
    outbox.set_resume(&ResumePoint { batch: 3, last_serial: 0, head: None }, 3_000).await.unwrap();
    assert_eq!(outbox.next_link().await.unwrap(), next);
    assert!(outbox.set_resume(&ResumePoint { batch: 0, last_serial: 0, head: None }, 3_000).await.is_err());
}

#[tokio::test]
async fn storing_a_used_link_or_id_is_a_conflict_and_changes_nothing() {
    let (_dir, outbox) = fresh().await;
    let stale = outbox.next_link().await.unwrap();
    let stored = sell(&outbox, "r1", 1_000).await;
    let before = (outbox.status().await.unwrap(), outbox.entry("r1").await.unwrap());

    // Another sale composed on the same link.
    let err = outbox.store(&compose(stale, "r2"), 2_000).await.unwrap_err();
    assert!(matches!(err, OutboxError::Conflict(ref m) if m.contains("sequence 1 is already stored")), "{err}");
    // The same receipt stored twice, on a fresh link.
    let mut again = stored.clone();
    again.sequence = 2;
    let err = outbox.store(&again, 2_000).await.unwrap_err();
    assert!(matches!(err, OutboxError::Conflict(ref m) if m.contains("r1")), "{err}");
    // A link from the future would leave a hole in the chain.
    let mut ahead = compose(outbox.next_link().await.unwrap(), "r3");
    ahead.sequence = 5;
    assert!(matches!(outbox.store(&ahead, 2_000).await, Err(OutboxError::Conflict(_))));

    assert_eq!((outbox.status().await.unwrap(), outbox.entry("r1").await.unwrap()), before);
    assert!(outbox.entry("r2").await.unwrap().is_none());
    assert_eq!(outbox.next_link().await.unwrap().sequence, 2);
}

#[tokio::test]
async fn store_refuses_a_hash_that_is_not_the_records() {
    let (_dir, outbox) = fresh().await;
    let mut entry = compose(outbox.next_link().await.unwrap(), "r1");
    entry.record_hash[0] ^= 1;
    assert!(matches!(outbox.store(&entry, 0).await, Err(OutboxError::Invalid(_))));
    entry.record_hash[0] ^= 1;
    entry.receipt_id.clear();
    assert!(matches!(outbox.store(&entry, 0).await, Err(OutboxError::Invalid(_))));
    assert_eq!(outbox.status().await.unwrap().last_sequence, None);
}

#[tokio::test]
async fn stored_entry_reads_back_whole_and_due_now() {
    let (_dir, outbox) = fresh().await;
    let new = sell(&outbox, "r1", 5_000).await;
    let e = outbox.entry("r1").await.unwrap().unwrap();
    assert_eq!((e.sequence, e.record_hash, &e.record, &e.png), (1, new.record_hash, &new.record, &new.png));
    assert_eq!((e.serial, &e.delivery, e.state, e.attempts), (1, &new.delivery, EntryState::Pending, 0));
    assert_eq!(
        (e.created_at, e.next_attempt_at, e.acked_at, &e.ack, &e.last_error),
        (5_000, 5_000, None, &None, &None)
    );
    assert_eq!(outbox.next_due(5_000).await.unwrap(), Some(e));
    assert!(outbox.next_due(4_999).await.unwrap().is_none());
}

#[tokio::test]
async fn drains_oldest_first_and_a_waiting_head_holds_back_the_rest() {
    let (_dir, outbox) = fresh().await;
    for (i, id) in ["r1", "r2", "r3"].into_iter().enumerate() {
        sell(&outbox, id, 1_000 + i as i64).await;
    }
    assert_eq!(due_id(&outbox, 10_000).await.as_deref(), Some("r1"));
    outbox.mark_failed("r1", "platform unreachable", false, 10_000).await.unwrap();
    // r2 and r3 are due, but r1 is first in the chain and is waiting for its retry.
    assert_eq!(due_id(&outbox, 10_000).await, None);
    let retry_at = outbox.entry("r1").await.unwrap().unwrap().next_attempt_at;
    assert_eq!(due_id(&outbox, retry_at).await.as_deref(), Some("r1"));

    outbox.mark_acked("r1", b"ack r1", retry_at).await.unwrap();
    assert_eq!(due_id(&outbox, retry_at).await.as_deref(), Some("r2"));
    outbox.mark_acked("r2", b"ack r2", retry_at).await.unwrap();
    outbox.mark_acked("r3", b"ack r3", retry_at).await.unwrap();
    assert_eq!(due_id(&outbox, i64::MAX).await, None);
}

#[tokio::test]
async fn failures_back_off_exponentially_up_to_the_cap() {
    let (_dir, outbox) = fresh().await;
    sell(&outbox, "r1", 0).await;
    let mut now = 0;
    for attempts in 1..=12u32 {
        outbox.mark_failed("r1", &format!("timeout {attempts}"), false, now).await.unwrap();
        let e = outbox.entry("r1").await.unwrap().unwrap();
        let delay = e.next_attempt_at - now;
        let (low, high) = (backoff_ms(attempts, 0.0), backoff_ms(attempts, 0.999));
        assert!((low..=high + 1).contains(&delay), "attempt {attempts}: {delay} not in {low}..={high}");
        assert!(delay <= BACKOFF_CAP_MS);
        assert_eq!((e.attempts, e.state), (attempts, EntryState::Pending));
        assert_eq!(e.last_error, Some(format!("timeout {attempts}")));
        now = e.next_attempt_at;
    }
    let status = outbox.status().await.unwrap();
    assert_eq!((status.pending, status.next_attempt_at), (1, Some(now)));
    assert_eq!(status.last_error.as_deref(), Some("timeout 12"));
}

#[tokio::test]
async fn long_error_texts_are_cut() {
    let (_dir, outbox) = fresh().await;
    sell(&outbox, "r1", 0).await;
    outbox.mark_failed("r1", &"é".repeat(5_000), false, 0).await.unwrap();
    let error = outbox.entry("r1").await.unwrap().unwrap().last_error.unwrap();
    assert_eq!(error.chars().count(), MAX_ERROR_CHARS);
}

#[tokio::test]
async fn refused_receipts_are_parked_skipped_and_counted() {
    let (_dir, outbox) = fresh().await;
    sell(&outbox, "r1", 1_000).await;
    sell(&outbox, "r2", 2_000).await;
    outbox.mark_failed("r1", "409 conflicting receipt", true, 3_000).await.unwrap();

    let refused = outbox.entry("r1").await.unwrap().unwrap();
    assert_eq!((refused.state, refused.attempts), (EntryState::Refused, 1));
    assert_eq!(refused.state.to_string(), "refused");
    assert_eq!(due_id(&outbox, 3_000).await.as_deref(), Some("r2"), "a refusal does not block the queue");
    // Neither a later failure nor "retry now" revives it.
    outbox.mark_failed("r1", "timeout", false, 4_000).await.unwrap();
    assert_eq!(outbox.retry_now(4_000).await.unwrap(), 1);
    assert_eq!(outbox.entry("r1").await.unwrap().unwrap(), refused);

    let status = outbox.status().await.unwrap();
    assert_eq!((status.pending, status.acked, status.refused), (1, 0, 1));
    assert_eq!((status.oldest_pending_at, status.last_sequence, status.last_error), (Some(2_000), Some(2), None));
}

#[tokio::test]
async fn retry_now_makes_every_pending_receipt_due() {
    let (_dir, outbox) = fresh().await;
    sell(&outbox, "r1", 0).await;
    sell(&outbox, "r2", 0).await;
    for _ in 0..10 {
        outbox.mark_failed("r1", "offline", false, 0).await.unwrap();
    }
    assert_eq!(due_id(&outbox, 60_000).await, None);
    assert_eq!(outbox.retry_now(60_000).await.unwrap(), 2);
    assert_eq!(due_id(&outbox, 60_000).await.as_deref(), Some("r1"));
    // r2 was already due earlier; it keeps its earlier time.
    assert_eq!(outbox.entry("r2").await.unwrap().unwrap().next_attempt_at, 0);
    assert_eq!(outbox.entry("r1").await.unwrap().unwrap().attempts, 10);
}

#[tokio::test]
async fn acknowledging_is_idempotent_and_keeps_the_first_ack() {
    let (_dir, outbox) = fresh().await;
    sell(&outbox, "r1", 1_000).await;
    outbox.mark_acked("r1", b"signed ack", 2_000).await.unwrap();
    outbox.mark_acked("r1", b"another ack", 3_000).await.unwrap();
    // A failure reported late by a slower attempt does not undo the ack.
    outbox.mark_failed("r1", "timeout", false, 4_000).await.unwrap();

    let e = outbox.entry("r1").await.unwrap().unwrap();
    assert_eq!((e.state, e.ack.as_deref(), e.acked_at), (EntryState::Acked, Some(&b"signed ack"[..]), Some(2_000)));
    assert_eq!(e.state.to_string(), "uploaded");
    assert!(!e.png.is_empty());
    let status = outbox.status().await.unwrap();
    assert_eq!((status.pending, status.acked, status.next_attempt_at), (0, 1, None));
    assert_eq!(outbox.next_link().await.unwrap().previous, e.record_hash, "the chain continues from acked rows");

    assert!(matches!(outbox.mark_acked("nope", b"ack", 0).await, Err(OutboxError::NotFound(_))));
    assert!(matches!(outbox.mark_failed("nope", "x", false, 0).await, Err(OutboxError::NotFound(_))));
    assert!(matches!(outbox.mark_acked("r1", b"", 0).await, Err(OutboxError::Invalid(_))));
}

#[tokio::test]
async fn an_ack_after_a_refusal_counts() {
    let (_dir, outbox) = fresh().await;
    sell(&outbox, "r1", 0).await;
    outbox.mark_failed("r1", "409", true, 0).await.unwrap();
    outbox.mark_acked("r1", b"ack", 1).await.unwrap();
    let status = outbox.status().await.unwrap();
    assert_eq!((status.refused, status.acked), (0, 1));
}

/// Security review L6: once the platform holds a receipt, the phone has no more use for the
/// customer's phone number or email address; a receipt still to deliver keeps it.
#[tokio::test]
async fn an_acknowledged_receipt_keeps_its_channel_but_not_the_address() {
    let (_dir, outbox) = fresh().await;
    let acked = sell(&outbox, "acked", 0).await;
    sell(&outbox, "refused", 0).await;
    sell(&outbox, "pending", 0).await;
    sell(&outbox, "refused then acked", 0).await;
    outbox.mark_acked("acked", b"ack", 1_000).await.unwrap();
    outbox.mark_failed("refused", "409", true, 1_000).await.unwrap();
    outbox.mark_failed("pending", "offline", false, 1_000).await.unwrap();
    outbox.mark_failed("refused then acked", "409", true, 1_000).await.unwrap();
    outbox.mark_acked("refused then acked", b"ack", 2_000).await.unwrap();

    for id in ["acked", "refused then acked"] {
        let e = outbox.entry(id).await.unwrap().unwrap();
        assert_eq!(e.delivery.as_deref(), Some("email"), "{id}: the channel stays, the address goes");
    }
    let e = outbox.entry("acked").await.unwrap().unwrap();
    assert_eq!(e.record, acked.record, "the record stays");
    assert!(!e.png.is_empty(), "the image stays until the image retention");
    for id in ["refused", "pending"] {
        let e = outbox.entry(id).await.unwrap().unwrap();
        assert_eq!(e.delivery.as_deref(), Some("email:a@example.com"), "{id} is still to deliver");
    }
}

#[tokio::test]
async fn images_of_receipts_acked_over_30_days_ago_are_dropped() {
    let (_dir, outbox) = fresh().await;
    let old = sell(&outbox, "old", 0).await;
    sell(&outbox, "recent", 0).await;
    sell(&outbox, "pending", 0).await;
    outbox.mark_acked("old", b"ack", 1_000).await.unwrap();
    let later = 1_000 + IMAGE_RETENTION_MS + 1;
    outbox.mark_acked("recent", b"ack", later).await.unwrap();

    let e = outbox.entry("old").await.unwrap().unwrap();
    assert!(e.png.is_empty());
    assert_eq!((e.record, e.ack.as_deref()), (old.record, Some(&b"ack"[..])));
    assert!(!outbox.entry("recent").await.unwrap().unwrap().png.is_empty());
    assert!(!outbox.entry("pending").await.unwrap().unwrap().png.is_empty());
    assert_eq!(outbox.prune_images(later).await.unwrap(), 0);
}

#[tokio::test]
async fn entries_lists_newest_first() {
    let (_dir, outbox) = fresh().await;
    for id in ["r1", "r2", "r3"] {
        sell(&outbox, id, 0).await;
    }
    outbox.mark_failed("r1", "offline", false, 0).await.unwrap();
    let list = outbox.entries(2).await.unwrap();
    let ids: Vec<_> = list.iter().map(|e| (e.receipt_id.as_str(), e.sequence, e.serial)).collect();
    assert_eq!(ids, [("r3", 3, 3), ("r2", 2, 2)]);
    let all = outbox.entries(100).await.unwrap();
    assert_eq!((all.len(), all[2].attempts, all[2].last_error.as_deref()), (3, 1, Some("offline")));
    assert!(outbox.entries(-1).await.unwrap().is_empty());
}

#[tokio::test]
async fn everything_survives_closing_and_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.db");
    let outbox = Outbox::open(&path).await.unwrap();
    let r1 = sell(&outbox, "r1", 0).await;
    sell(&outbox, "r2", 0).await;
    outbox.mark_acked("r1", b"ack", 10).await.unwrap();
    outbox.mark_failed("r2", "offline", false, 10).await.unwrap();
    let before = (outbox.status().await.unwrap(), outbox.entry("r2").await.unwrap(), outbox.next_link().await.unwrap());
    outbox.close().await;
    drop(outbox);

    let outbox = Outbox::open(&path).await.unwrap();
    let after = (outbox.status().await.unwrap(), outbox.entry("r2").await.unwrap(), outbox.next_link().await.unwrap());
    assert_eq!(after, before);
    assert_eq!(outbox.entry("r1").await.unwrap().unwrap().ack.as_deref(), Some(&b"ack"[..]));
    assert_eq!(outbox.entry("r1").await.unwrap().unwrap().record, r1.record);
}

#[tokio::test]
async fn receipts_stored_before_a_crash_are_pending_and_due() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.db");
    let outbox = Outbox::open(&path).await.unwrap();
    sell(&outbox, "r1", 100).await;
    sell(&outbox, "r2", 200).await;
    // No close, no checkpoint: the handle just goes away, with the writes only in the WAL.
    drop(outbox);

    let outbox = Outbox::open(&path).await.unwrap();
    assert_eq!(due_id(&outbox, 200).await.as_deref(), Some("r1"));
    let status = outbox.status().await.unwrap();
    assert_eq!((status.pending, status.oldest_pending_at, status.last_sequence), (2, Some(100), Some(2)));
}

#[tokio::test]
async fn the_file_is_durable_wal_with_full_sync() {
    let (_dir, outbox) = fresh().await;
    let mut conn = outbox.pool.acquire().await.unwrap();
    let (mode,): (String,) = sqlx::query_as("PRAGMA journal_mode").fetch_one(&mut *conn).await.unwrap();
    let (sync,): (i64,) = sqlx::query_as("PRAGMA synchronous").fetch_one(&mut *conn).await.unwrap();
    assert_eq!((mode.as_str(), sync), ("wal", 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_sales_racing_for_one_link_exactly_one_wins() {
    let (_dir, outbox) = fresh().await;
    for round in 0..5 {
        let link = outbox.next_link().await.unwrap();
        let tasks: Vec<_> = (0..6)
            .map(|i| {
                let outbox = outbox.clone();
                let entry = compose(link, &format!("round {round} sale {i}"));
                tokio::spawn(async move { outbox.store(&entry, 0).await })
            })
            .collect();
        let mut won = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(()) => won += 1,
                Err(OutboxError::Conflict(_)) => {}
                Err(e) => panic!("round {round}: {e}"),
            }
        }
        assert_eq!(won, 1, "round {round}");
    }
    let sequences: HashSet<_> = outbox.entries(100).await.unwrap().iter().map(|e| e.sequence).collect();
    assert_eq!(sequences, (1..=5).collect());
}

#[tokio::test]
async fn debug_output_shows_sizes_not_contents() {
    let (_dir, outbox) = fresh().await;
    sell(&outbox, "r1", 0).await;
    let shown = format!("{:?}", outbox.entry("r1").await.unwrap().unwrap());
    assert!(shown.contains("png: <15 bytes>") && shown.contains("receipt_id: \"r1\""), "{shown}");
}

/// A sale on a full disk fails with the disk named, stores nothing, and once space is back the
/// next sales store on every connection of the pool (they used to fail until a restart: sqlx
/// still counted the transaction that SQLite had ended when its COMMIT failed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_the_sale_and_sales_store_again_when_space_is_back() {
    let fs = ereceipt_test_peers::small_fs::SmallFs::mount(4).expect("a small filesystem to fill");
    let outbox = Outbox::open(&fs.dir().join("outbox.db")).await.unwrap();
    sell(&outbox, "r1", 1_000).await;
    fs.fill("filler").expect("fill the disk");
    let mut refused = 0;
    for k in 2..6 {
        let mut entry = compose(outbox.next_link().await.unwrap(), &format!("r{k}"));
        entry.png = vec![u8::try_from(k).unwrap(); 300_000];
        match outbox.store(&entry, 2_000).await {
            Ok(()) => {}
            Err(e) => {
                assert!(e.to_string().contains("full"), "the error names the full disk: {e}");
                refused += 1;
            }
        }
    }
    assert!(refused > 0, "the disk was not full: every sale stored");
    let stored_while_full = outbox.status().await.unwrap().pending;
    std::fs::remove_file(fs.dir().join("filler")).unwrap();
    for k in 10..18 {
        let entry = compose(outbox.next_link().await.unwrap(), &format!("r{k}"));
        outbox.store(&entry, 3_000).await.unwrap_or_else(|e| panic!("space is back, r{k}: {e}"));
    }
    assert_eq!(outbox.status().await.unwrap().pending, stored_while_full + 8);
    // Another process sees the same.
    outbox.close().await;
    let reopened = Outbox::open(&fs.dir().join("outbox.db")).await.unwrap();
    assert_eq!(reopened.status().await.unwrap().pending, stored_while_full + 8);
}
