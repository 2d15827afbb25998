//! Terminals, enrolment tokens, certificates and revocation.

use std::sync::Arc;

use tokio::sync::Barrier;

use super::{assert_err, behaviours, new_terminal, receipt, register, token};
use crate::infra::store::{CertificateRow, ResumeRow, Store, StoreError, TerminalRow};

behaviours!(
    adding_a_terminal_twice_is_refused,
    a_terminal_keeps_the_mode_it_was_registered_in,
    a_token_enrols_once,
    of_eight_concurrent_enrolments_one_wins,
    expired_and_unknown_tokens_are_refused,
    revocation_revokes_every_certificate_once,
    each_enrolment_gets_a_batch_no_receipt_or_enrolment_used,
    the_resume_point_is_the_highest_serial_and_the_chain_head,
    no_certificate_is_recorded_for_a_revoked_terminal,
    a_certificate_recorded_across_a_revocation_ends_up_revoked,
    a_certificate_the_revocation_missed_reads_as_revoked,
);

async fn adding_a_terminal_twice_is_refused(store: &Store) {
    let first = new_terminal("POS00002", "M1");
    store.add_terminal(&first, &token("POS00002", 1, 10_000), 1_000).await.expect("add");
    let mut other = new_terminal("POS00002", "M2");
    other.location = "Back door".to_owned();
    assert_err(
        store.add_terminal(&other, &token("POS00002", 2, 10_000), 2_000).await,
        |e| matches!(e, StoreError::TerminalExists(id) if id == "POS00002"),
    );

    let expected = TerminalRow {
        terminal_id: "POS00002".to_owned(),
        merchant_id: "M1".to_owned(),
        merchant_name: "Shop M1".to_owned(),
        location: "Counter 1".to_owned(),
        created_at: 1_000,
        revoked_at: None,
        revoke_reason: None,
        mode: ereceipt_core::identity::TerminalMode::Production,
    };
    assert_eq!(store.terminal("POS00002").await.expect("read"), Some(expected.clone()));
    // The refused registration left no token behind; the first one still works.
    assert_err(store.consume_token(&[2; 32], 3_000).await, |e| matches!(e, StoreError::TokenUnknown));
    assert_eq!(store.consume_token(&[1; 32], 3_000).await.expect("enrol"), expected);

    store.add_terminal(&new_terminal("POS00001", "M1"), &token("POS00001", 3, 10_000), 4_000).await.expect("add");
    let ids: Vec<String> = store.terminals().await.expect("list").into_iter().map(|t| t.terminal_id).collect();
    assert_eq!(ids, ["POS00001", "POS00002"]);
    assert_eq!(store.terminal("POS09999").await.expect("read"), None);
}

/// M8: the registration's mode is what enrolment reads back (and the CA then writes).
async fn a_terminal_keeps_the_mode_it_was_registered_in(store: &Store) {
    use ereceipt_core::identity::TerminalMode;
    let mut test = new_terminal("POS00003", "M1");
    test.mode = TerminalMode::Test;
    store.add_terminal(&test, &token("POS00003", 4, 10_000), 1_000).await.expect("add");
    store.add_terminal(&new_terminal("POS00004", "M1"), &token("POS00004", 5, 10_000), 1_000).await.expect("add");
    assert_eq!(store.consume_token(&[4; 32], 2_000).await.expect("enrol").mode, TerminalMode::Test);
    assert_eq!(store.consume_token(&[5; 32], 2_000).await.expect("enrol").mode, TerminalMode::Production);
    let modes: Vec<_> = store.terminals().await.expect("list").into_iter().map(|t| t.mode).collect();
    assert_eq!(modes, [TerminalMode::Test, TerminalMode::Production]);
}

async fn a_token_enrols_once(store: &Store) {
    store.add_terminal(&new_terminal("POS00001", "M1"), &token("POS00001", 7, 10_000), 1_000).await.expect("add");
    let enrolled = store.consume_token(&[7; 32], 9_999).await.expect("first use");
    assert_eq!(enrolled.terminal_id, "POS00001");
    assert_err(store.consume_token(&[7; 32], 9_999).await, |e| matches!(e, StoreError::TokenUsed));
    // Used stays used, also once it would have expired.
    assert_err(store.consume_token(&[7; 32], 20_000).await, |e| matches!(e, StoreError::TokenUsed));

    // A fresh token re-enrols the same terminal.
    store.issue_token(&token("POS00001", 8, 30_000), 20_000).await.expect("issue");
    assert_eq!(store.consume_token(&[8; 32], 20_001).await.expect("second token").terminal_id, "POS00001");
}

async fn of_eight_concurrent_enrolments_one_wins(store: &Store) {
    register(store, "POS00001", "M1").await;
    store.issue_token(&token("POS00001", 9, 10_000), 1_000).await.expect("issue");
    let barrier = Arc::new(Barrier::new(8));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (store, barrier) = (store.clone(), barrier.clone());
        tasks.spawn(async move {
            barrier.wait().await;
            store.consume_token(&[9; 32], 2_000).await
        });
    }
    let (mut won, mut used) = (0, 0);
    while let Some(result) = tasks.join_next().await {
        match result.expect("task") {
            Ok(terminal) if terminal.terminal_id == "POS00001" => won += 1,
            Err(StoreError::TokenUsed) => used += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((won, used), (1, 7));
}

async fn expired_and_unknown_tokens_are_refused(store: &Store) {
    store.add_terminal(&new_terminal("POS00001", "M1"), &token("POS00001", 1, 5_000), 1_000).await.expect("add");
    // expires_at is the first instant the token is refused.
    assert_err(store.consume_token(&[1; 32], 5_000).await, |e| matches!(e, StoreError::TokenExpired));
    assert_err(store.consume_token(&[1; 32], 9_000).await, |e| matches!(e, StoreError::TokenExpired));
    store.issue_token(&token("POS00001", 2, 5_000), 1_000).await.expect("issue");
    assert!(store.consume_token(&[2; 32], 4_999).await.is_ok());

    assert_err(store.consume_token(&[0xEE; 32], 1_000).await, |e| matches!(e, StoreError::TokenUnknown));
    assert_err(
        store.issue_token(&token("POS09999", 3, 5_000), 1_000).await,
        |e| matches!(e, StoreError::UnknownTerminal(id) if id == "POS09999"),
    );
}

fn certificate(serial_hex: &str, terminal_id: &str, revoked_at: Option<i64>) -> CertificateRow {
    CertificateRow {
        serial_hex: serial_hex.to_owned(),
        terminal_id: terminal_id.to_owned(),
        fingerprint: format!("fp-{serial_hex}"),
        not_before: 1_000,
        not_after: 1_000_000,
        issued_at: 1_500,
        revoked_at,
    }
}

async fn revocation_revokes_every_certificate_once(store: &Store) {
    store.add_terminal(&new_terminal("POS00001", "M1"), &token("POS00001", 1, 90_000), 1_000).await.expect("add");
    register(store, "POS00002", "M1").await;
    for c in [
        certificate("01", "POS00001", None),
        certificate("02", "POS00001", None),
        certificate("03", "POS00001", Some(2_000)),
        certificate("04", "POS00002", None),
    ] {
        store.record_certificate(&c, 1).await.expect("record");
    }
    assert_eq!(store.certificate("02").await.expect("read"), Some(certificate("02", "POS00001", None)));
    assert_eq!(store.certificate("99").await.expect("read"), None);
    assert_err(
        store.record_certificate(&certificate("05", "POS09999", None), 1).await,
        |e| matches!(e, StoreError::UnknownTerminal(id) if id == "POS09999"),
    );
    assert!(store.record_certificate(&certificate("01", "POS00001", None), 1).await.is_err(), "serial reused");

    assert_eq!(store.revoke_terminal("POS00001", "stolen", 5_000).await.expect("revoke"), 2);
    let revoked = store.terminal("POS00001").await.expect("read").expect("terminal");
    assert_eq!((revoked.revoked_at, revoked.revoke_reason.as_deref()), (Some(5_000), Some("stolen")));
    let crl: Vec<(String, Option<i64>)> =
        store.revoked_certificates().await.expect("crl").into_iter().map(|c| (c.serial_hex, c.revoked_at)).collect();
    let expected = [("03", Some(2_000)), ("01", Some(5_000)), ("02", Some(5_000))];
    assert_eq!(crl, expected.map(|(s, t)| (s.to_owned(), t)));
    // Its unused enrolment token died with it.
    assert_err(store.consume_token(&[1; 32], 6_000).await, |e| matches!(e, StoreError::TokenExpired));

    // Revoking again changes nothing: the earliest revocation and its reason stand.
    assert_eq!(store.revoke_terminal("POS00001", "lost", 7_000).await.expect("revoke again"), 0);
    let again = store.terminal("POS00001").await.expect("read").expect("terminal");
    assert_eq!((again.revoked_at, again.revoke_reason.as_deref()), (Some(5_000), Some("stolen")));
    assert_eq!(store.certificate("01").await.expect("read").and_then(|c| c.revoked_at), Some(5_000));
    assert_eq!(store.certificate("04").await.expect("read").and_then(|c| c.revoked_at), None);
    assert_eq!(store.terminal("POS00002").await.expect("read").and_then(|t| t.revoked_at), None);

    assert_err(
        store.revoke_terminal("POS09999", "typo", 8_000).await,
        |e| matches!(e, StoreError::UnknownTerminal(id) if id == "POS09999"),
    );
}

async fn each_enrolment_gets_a_batch_no_receipt_or_enrolment_used(store: &Store) {
    register(store, "POS00001", "M1").await;
    assert_eq!(store.allocate_batch("POS00001").await.expect("first"), 1);
    assert_eq!(store.allocate_batch("POS00001").await.expect("second"), 2);
    // Receipts in a later batch (a terminal moves on after serial 999999): the next enrolment
    // starts above them.
    let mut wrapped = receipt("POS00001", 3, 1_700_000_000_000, 100);
    wrapped.batch = 7;
    wrapped.receipt_id = "POS00001-000007-000003".to_owned();
    store.store_receipt(&wrapped).await.expect("store");
    assert_eq!(store.allocate_batch("POS00001").await.expect("third"), 8);
    assert_err(store.allocate_batch("POS09999").await, |e| matches!(e, StoreError::UnknownTerminal(_)));

    // Eight enrolments at once get eight different batches.
    register(store, "POS00002", "M1").await;
    let mut racing = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let store = store.clone();
        racing.spawn(async move { store.allocate_batch("POS00002").await.expect("allocate") });
    }
    let mut got = Vec::new();
    while let Some(b) = racing.join_next().await {
        got.push(b.expect("task"));
    }
    got.sort_unstable();
    assert_eq!(got, (1..=8).collect::<Vec<i64>>());

    store.record_certificate(&certificate("0a", "POS00001", None), 8).await.expect("record");
    assert_eq!(store.certificate_batch("0a").await.expect("read"), Some(8));
    assert_eq!(store.certificate_batch("0b").await.expect("read"), None);
}

async fn the_resume_point_is_the_highest_serial_and_the_chain_head(store: &Store) {
    register(store, "POS00001", "M1").await;
    let empty = store.resume_of("POS00001", 2).await.expect("resume");
    assert_eq!(empty, ResumeRow { batch: 2, last_serial: 0, head: None });
    let mut stored = Vec::new();
    for serial in 1..=3 {
        let r = receipt("POS00001", serial, 1_700_000_000_000 + serial * 1_000, 100);
        store.store_receipt(&r).await.expect("store");
        stored.push(r);
    }
    // Batch 1 holds serials 1 to 3; an enrolment of batch 1 continues after 3, one of batch 2
    // starts at 1; both continue the chain after sequence 3.
    let head = Some((3, stored[2].record_hash));
    assert_eq!(store.resume_of("POS00001", 1).await.expect("resume"), ResumeRow { batch: 1, last_serial: 3, head });
    assert_eq!(store.resume_of("POS00001", 2).await.expect("resume"), ResumeRow { batch: 2, last_serial: 0, head });
    assert_eq!(
        store.resume_of("POS00009", 1).await.expect("resume"),
        ResumeRow { batch: 1, last_serial: 0, head: None }
    );
}

const T0: i64 = 1_700_000_000_000;

async fn no_certificate_is_recorded_for_a_revoked_terminal(store: &Store) {
    register(store, "POS00001", "M1").await;
    store.revoke_terminal("POS00001", "stolen", T0).await.expect("revoke");
    assert_err(
        store.record_certificate(&certificate("0b", "POS00001", None), 1).await,
        |e| matches!(e, StoreError::TerminalRevoked(id) if id == "POS00001"),
    );
    assert_eq!(store.certificate("0b").await.expect("read"), None);
}

/// Issuance and revocation at the same moment, for eight terminals: whichever commits first,
/// no certificate of a revoked terminal is left unrevoked.
async fn a_certificate_recorded_across_a_revocation_ends_up_revoked(store: &Store) {
    let barrier = Arc::new(Barrier::new(16));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8_u8 {
        let tid = format!("POS0010{i}");
        register(store, &tid, "M1").await;
        let (s, b, t) = (store.clone(), barrier.clone(), tid.clone());
        tasks.spawn(async move {
            b.wait().await;
            s.revoke_terminal(&t, "stolen", T0 + 1_000).await.map(|_| ())
        });
        let (s, b) = (store.clone(), barrier.clone());
        tasks.spawn(async move {
            b.wait().await;
            match s.record_certificate(&certificate(&format!("1{i}"), &tid, None), 1).await {
                Err(StoreError::TerminalRevoked(_)) => Ok(()),
                other => other,
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("task").expect("revoke or record");
    }
    for i in 0..8_u8 {
        if let Some(c) = store.certificate(&format!("1{i}")).await.expect("read") {
            assert!(c.revoked_at.is_some(), "certificate {} of a revoked terminal is not revoked", c.serial_hex);
        }
    }
}

/// A certificate row left unrevoked beside a revoked terminal (written before the revocation
/// took certificates into account) is revoked as of the terminal: what the upload check reads.
async fn a_certificate_the_revocation_missed_reads_as_revoked(store: &Store) {
    register(store, "POS00001", "M1").await;
    store.record_certificate(&certificate("0c", "POS00001", None), 1).await.expect("record");
    store.revoke_terminal("POS00001", "stolen", T0).await.expect("revoke");
    sqlx::query("UPDATE certificates SET revoked_at = NULL WHERE serial_hex = '0c'")
        .execute(&store.pool)
        .await
        .expect("undo the certificate's revocation");
    assert_eq!(store.certificate("0c").await.expect("read").and_then(|c| c.revoked_at), Some(T0));
}
