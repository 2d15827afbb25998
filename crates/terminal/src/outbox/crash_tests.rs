//! Kill -9 at a random moment: a child process (this test binary again) sells, fails and acks
//! receipts as fast as it can until SIGKILLed; the outbox it leaves must have lost nothing it
//! reported stored, hold a whole chain, and carry on.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use super::tests::{sell, sha256};
use super::*;

const CHILD_ENV: &str = "EReceipt_OUTBOX_CRASH_CHILD";
const CHILD_TEST: &str = "outbox::crash_tests::child_works_until_killed";

/// The child: started by the test below, never on its own (it loops until killed).
#[tokio::test]
#[ignore = "the child process of a_kill_at_any_moment_loses_and_duplicates_nothing"]
async fn child_works_until_killed() {
    let Ok(path) = std::env::var(CHILD_ENV) else { return };
    let outbox = Outbox::open(Path::new(&path)).await.unwrap();
    for now in 1.. {
        let sold = sell(&outbox, &format!("c{now}"), now).await;
        // The uploader's writes, interleaved with sales: a failure, then an ack, for each head.
        if let Some(head) = outbox.next_due(i64::MAX).await.unwrap() {
            if head.attempts == 0 {
                outbox.mark_failed(&head.receipt_id, "offline", false, now).await.unwrap();
            } else {
                outbox.mark_acked(&head.receipt_id, format!("ack {}", head.receipt_id).as_bytes(), now).await.unwrap();
            }
        }
        println!("stored {}", sold.sequence);
    }
}

#[test]
fn a_kill_at_any_moment_loses_and_duplicates_nothing() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for kill_after in [1, 5, 40, 150] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("outbox.db");
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", CHILD_TEST, "--ignored", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut reported = 0u64;
        for line in BufReader::new(child.stdout.take().unwrap()).lines() {
            // The harness's "test ... " header precedes the first line without a newline.
            if let Some((_, n)) = line.unwrap().split_once("stored ") {
                reported = n.parse().unwrap();
                if reported >= kill_after {
                    break;
                }
            }
        }
        assert_eq!(reported, kill_after, "the child stopped early");
        // A store, a failure and an ack with their fsyncs take a few ms: land anywhere in them.
        std::thread::sleep(std::time::Duration::from_micros(rand::random::<u64>() % 4_000));
        child.kill().unwrap(); // SIGKILL: no destructors, no close, no checkpoint
        child.wait().unwrap();
        runtime.block_on(check_after_crash(&path, reported));
    }
}

async fn check_after_crash(path: &Path, reported: u64) {
    let outbox = Outbox::open(path).await.unwrap();
    let status = outbox.status().await.unwrap();
    let last = status.last_sequence.unwrap();
    // The child goes on until the kill lands, so it may have stored more than it reported.
    assert!(last >= reported, "reported {reported}, stored {last}");

    let mut entries = outbox.entries(i64::MAX).await.unwrap();
    entries.reverse();
    assert_eq!(entries.iter().map(|e| e.sequence).collect::<Vec<_>>(), (1..=last).collect::<Vec<_>>());
    let mut previous = [0u8; 32];
    let mut seen_pending = false;
    for summary in &entries {
        let e = outbox.entry(&summary.receipt_id).await.unwrap().unwrap();
        assert_eq!(e.record_hash, sha256(&e.record));
        assert!(e.record.ends_with(hex::encode(previous).as_bytes()), "#{} chains to #{}", e.sequence, e.sequence - 1);
        previous = e.record_hash;
        match e.state {
            EntryState::Acked => {
                assert!(!seen_pending, "acked #{} after a pending one: not FIFO", e.sequence);
                assert_eq!(e.ack, Some(format!("ack {}", e.receipt_id).into_bytes()));
            }
            EntryState::Pending => seen_pending = true,
            EntryState::Refused => panic!("nothing was refused"),
        }
    }
    assert_eq!(status.pending + status.acked, last);

    // The terminal carries on where it stopped, and the queue drains.
    let next = outbox.next_link().await.unwrap();
    assert_eq!((next.sequence, next.previous), (last + 1, previous));
    sell(&outbox, "after restart", 0).await;
    outbox.retry_now(0).await.unwrap();
    while let Some(head) = outbox.next_due(0).await.unwrap() {
        outbox.mark_acked(&head.receipt_id, b"ack", 0).await.unwrap();
    }
    assert_eq!(outbox.status().await.unwrap().acked, last + 1);
}
