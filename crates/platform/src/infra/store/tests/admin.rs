//! Administration's records: operator certificates revoked by name, the audit log newest
//! first, and enrolment links that work once, before they expire, for an active account only.

use super::behaviours;
use crate::domain::credentials::Role;
use crate::infra::store::{NewAccount, NewAudit, OperatorRow, Store};

behaviours!(
    operators_are_revoked_by_name,
    the_audit_log_lists_newest_first,
    an_enrolment_link_works_once_and_not_after_expiry,
);

const T0: i64 = 1_700_000_000_000;

fn operator(name: &str, n: i64) -> OperatorRow {
    OperatorRow {
        name: name.to_owned(),
        fingerprint: format!("{name}-{n}"),
        serial: format!("{n:032x}"),
        not_after: T0 + 365 * 86_400_000,
        created_at: T0 + n * 1000,
        revoked_at: None,
    }
}

async fn operators_are_revoked_by_name(store: &Store) {
    store.add_operator(&operator("alice", 1)).await.expect("add");
    store.add_operator(&operator("bob", 2)).await.expect("add");
    assert_eq!(store.revoke_operator("alice", T0 + 3000).await.expect("revoke"), 1);
    assert_eq!(store.revoke_operator("alice", T0 + 4000).await.expect("revoke"), 0, "already revoked");
    let alice = store.operator_by_fingerprint("alice-1").await.expect("read").expect("kept");
    assert_eq!(alice.revoked_at, Some(T0 + 3000));
    let bob = store.operator_by_fingerprint("bob-2").await.expect("read").expect("kept");
    assert_eq!(bob.revoked_at, None, "bob is untouched");
    assert!(store.operator_by_fingerprint("nobody").await.expect("read").is_none());
    assert_eq!(store.operators().await.expect("list").len(), 2);
}

async fn the_audit_log_lists_newest_first(store: &Store) {
    for (n, action) in ["first", "second", "third"].iter().enumerate() {
        let at = T0 + i64::try_from(n).expect("small") * 1000;
        let a = NewAudit { at, operator: "alice", action, target: "T1", outcome: "200", client: "127.0.0.1:5" };
        store.audit(&a).await.expect("audit");
    }
    let log = store.audit_log(2).await.expect("list");
    let actions: Vec<_> = log.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(actions, ["third", "second"]);
    assert_eq!((log[0].operator.as_str(), log[0].client.as_str(), log[0].at), ("alice", "127.0.0.1:5", T0 + 2000));
}

async fn an_enrolment_link_works_once_and_not_after_expiry(store: &Store) {
    let account = NewAccount {
        username: "shop.alice".into(),
        role: Role::Merchant { merchant_id: "M-1".into() },
        password_hash: "old hash".into(),
        totp_sealed: vec![1],
    };
    store.create_account(&account, T0).await.expect("create");
    assert!(!store.begin_staff_reset("nobody", "h0", T0, T0 + 10_000).await.expect("reset"), "no such user");
    assert!(store.begin_staff_reset("shop.alice", "h1", T0, T0 + 10_000).await.expect("reset"));
    let a = store.account("shop.alice").await.expect("read").expect("there");
    assert_ne!(a.password_hash, "old hash", "the old password stops working at once");
    // A newer link replaces the older.
    assert!(store.begin_staff_reset("shop.alice", "h2", T0 + 1000, T0 + 10_000).await.expect("reset"));
    assert_eq!(store.staff_enrolment("h1", T0 + 2000).await.expect("read"), None);
    assert_eq!(store.staff_enrolment("h2", T0 + 2000).await.expect("read").as_deref(), Some("shop.alice"));
    assert_eq!(store.staff_enrolment("h2", T0 + 10_000).await.expect("read"), None, "expired");
    assert!(!store.finish_staff_reset("h2", "shop.alice", T0 + 10_000, "new", &[2]).await.expect("finish"));
    assert!(store.finish_staff_reset("h2", "shop.alice", T0 + 3000, "new", &[2]).await.expect("finish"));
    assert!(!store.finish_staff_reset("h2", "shop.alice", T0 + 4000, "newer", &[3]).await.expect("finish"), "once");
    let a = store.account("shop.alice").await.expect("read").expect("there");
    assert_eq!((a.password_hash.as_str(), a.totp_sealed.as_slice()), ("new", &[2u8][..]));
}
