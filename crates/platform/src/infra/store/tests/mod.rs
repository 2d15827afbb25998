//! The store's behaviour, each written once as an async fn over a `&Store` and run twice by
//! [`behaviours!`]: on a fresh SQLite file and on a fresh database of a throwaway PostgreSQL cluster.

mod accounts;
mod admin;
mod codes;
mod decoding;
mod deliveries;
mod limits;
mod lineage;
mod lookups;
mod receipts;
mod retention;
mod search;
mod sessions;
mod settlements;
mod terminals;

use std::sync::LazyLock;

use tempfile::TempDir;

use super::{NewReceipt, NewTerminal, NewToken, ReceiptLineage, Store, StoreError};
use ereceipt_core::model::{DeliveryChoice, LocalTime, Money};
use ereceipt_test_peers::pg_cluster::TempCluster;

/// One cluster per test binary, a database per test. A missing PostgreSQL fails the tests loudly.
static CLUSTER: LazyLock<Result<TempCluster, String>> =
    LazyLock::new(|| TempCluster::start().map_err(|e| e.to_string()));

/// A store to test, and how to reach its database again.
pub(crate) struct Fixture {
    pub store: Store,
    pub url: String,
    /// Holds the SQLite file's directory until the test ends.
    _dir: Option<TempDir>,
}

pub(crate) async fn sqlite_fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    // A plain `sqlite:` URL without `mode=rwc`: connect must create the file.
    let url = format!("sqlite:{}", dir.path().join("store.db").display());
    let store = Store::connect(&url).await.expect("open SQLite store");
    Fixture { store, url, _dir: Some(dir) }
}

pub(crate) async fn postgres_fixture(test: &str) -> Fixture {
    let cluster = match &*CLUSTER {
        Ok(cluster) => cluster,
        Err(e) => panic!("cannot run the PostgreSQL half of the store tests: {e}"),
    };
    let url = cluster.create_database(test).expect("create test database");
    let store = Store::connect(&url).await.expect("open PostgreSQL store");
    Fixture { store, url, _dir: None }
}

/// Makes `sqlite::NAME` and `postgres::NAME` tests of each behaviour `NAME(&Store)`; behaviours
/// listed after `url:` take `(&Store, url)` to open the same database again.
macro_rules! behaviours {
    ($($name:ident),* $(,)? $(; url: $($url_name:ident),* $(,)?)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let fixture = $crate::infra::store::tests::sqlite_fixture().await;
                    super::$name(&fixture.store).await;
                }
            )*
            $($(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $url_name() {
                    let fixture = $crate::infra::store::tests::sqlite_fixture().await;
                    super::$url_name(&fixture.store, &fixture.url).await;
                }
            )*)?
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let fixture = $crate::infra::store::tests::postgres_fixture(stringify!($name)).await;
                    super::$name(&fixture.store).await;
                }
            )*
            $($(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $url_name() {
                    let fixture = $crate::infra::store::tests::postgres_fixture(stringify!($url_name)).await;
                    super::$url_name(&fixture.store, &fixture.url).await;
                }
            )*)?
        }
    };
}
pub(crate) use behaviours;

pub(super) fn new_terminal(terminal_id: &str, merchant_id: &str) -> NewTerminal {
    NewTerminal {
        terminal_id: terminal_id.to_owned(),
        merchant_id: merchant_id.to_owned(),
        merchant_name: format!("Shop {merchant_id}"),
        location: "Counter 1".to_owned(),
        mode: ereceipt_core::identity::TerminalMode::Production,
    }
}

pub(super) fn token(terminal_id: &str, byte: u8, expires_at: i64) -> NewToken {
    NewToken { terminal_id: terminal_id.to_owned(), token_hash: [byte; 32], expires_at }
}

/// Registers a terminal of `merchant_id` (with a token nobody uses).
pub(super) async fn register(store: &Store, terminal_id: &str, merchant_id: &str) {
    let hash = sha256(terminal_id.as_bytes());
    let token = NewToken { terminal_id: terminal_id.to_owned(), token_hash: hash, expires_at: i64::MAX };
    store.add_terminal(&new_terminal(terminal_id, merchant_id), &token, 1).await.expect("register terminal");
}

pub(super) use ereceipt_core::digest::sha256;

/// A delivery choice as a terminal writes it, e.g. `("sms", "+8613800138000")`.
pub(super) fn choice(channel: &str, to: &str) -> DeliveryChoice {
    format!("{channel}:{to}").parse().expect("a valid delivery choice")
}

/// `minor` units of `currency`.
pub(super) fn money(minor: i64, currency: &str) -> Money {
    Money::new(u64::try_from(minor).expect("positive"), currency.parse().expect("a currency")).expect("an amount")
}

/// The sale time `tx_time` (Unix ms, whole seconds) at the terminal's `offset_minutes`.
pub(super) fn at(tx_time: i64, offset_minutes: i16) -> LocalTime {
    assert_eq!(tx_time % 1000, 0, "receipts carry whole seconds");
    LocalTime::new(tx_time / 1000, offset_minutes).expect("a sale time")
}

/// A receipt of `terminal_id` (merchant `M-<terminal_id>`), its record and image derived from
/// the id, sold at `tx_time` (Unix ms, whole seconds) for `amount_minor` fen.
pub(super) fn receipt(terminal_id: &str, serial: i64, tx_time: i64, amount_minor: i64) -> NewReceipt {
    let receipt_id = format!("{terminal_id}-000001-{serial:06}");
    let record = format!("record of {receipt_id}").into_bytes();
    NewReceipt {
        delivery: None,
        terminal_id: terminal_id.to_owned(),
        merchant_id: format!("M-{terminal_id}"),
        merchant_name: "Noodle Bar 面馆".to_owned(),
        batch: 1,
        serial,
        sequence: Some(serial),
        previous_hash: Some(vec![0xAB; 32]),
        record_hash: sha256(&record),
        record,
        png: format!("\u{89}PNG image of {receipt_id}").into_bytes(),
        amount: money(amount_minor, "CNY"),
        time: at(tx_time, 480),
        rrn: format!("RRN{serial:09}"),
        auth_code: "A1B2C3".to_owned(),
        card_masked: "622202*********3446".to_owned(),
        card_last4: "3446".to_owned(),
        card_brand: "UnionPay".to_owned(),
        signer_serial: "0a1b2c".to_owned(),
        received_at: tx_time + 5_000,
        ack: format!("ack of {receipt_id}").into_bytes(),
        lineage: ReceiptLineage::sale(serial, at(tx_time, 480)),
        receipt_id,
    }
}

/// Asserts that `result` failed with the error `matches` accepts.
pub(super) fn assert_err<T: std::fmt::Debug>(result: Result<T, StoreError>, matches: fn(&StoreError) -> bool) {
    match result {
        Err(e) if matches(&e) => {}
        other => panic!("unexpected result {other:?}"),
    }
}

#[tokio::test]
async fn sqlite_runs_in_wal_mode_with_foreign_keys_and_a_busy_timeout() {
    let fixture = sqlite_fixture().await;
    let mut conn = fixture.store.pool.acquire().await.expect("connection");
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&mut *conn).await.expect("journal_mode");
    assert_eq!(mode, "wal");
    let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys").fetch_one(&mut *conn).await.expect("fk");
    assert_eq!(foreign_keys, 1);
    let busy_timeout: i64 = sqlx::query_scalar("PRAGMA busy_timeout").fetch_one(&mut *conn).await.expect("busy");
    assert!(busy_timeout >= 5_000, "{busy_timeout}");
    // 2 = FULL: an acknowledged receipt survives a power cut.
    let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous").fetch_one(&mut *conn).await.expect("sync");
    assert_eq!(synchronous, 2);
}

#[tokio::test]
async fn sqlite_url_forms_all_open_a_store() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("forms.db");
    for url in [
        format!("sqlite://{}", path.display()),
        format!("sqlite:{}", path.display()),
        format!("sqlite://{}?mode=rwc", path.display()),
    ] {
        let store = Store::connect(&url).await.unwrap_or_else(|e| panic!("{url}: {e}"));
        store.ping().await.expect("ping");
        store.close().await;
    }
    assert!(path.is_file());

    // In memory: one connection for the life of the store, so the data stays.
    let store = Store::connect("sqlite::memory:").await.expect("in memory");
    register(&store, "POS00001", "M1").await;
    assert_eq!(store.terminals().await.expect("list").len(), 1);

    assert_err(Store::connect("mysql://localhost/x").await, |e| matches!(e, StoreError::UnsupportedUrl(_)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_processes_starting_at_once_migrate_once() {
    let cluster = match &*CLUSTER {
        Ok(cluster) => cluster,
        Err(e) => panic!("cannot run the PostgreSQL half of the store tests: {e}"),
    };
    let url = cluster.create_database("concurrent_starts").expect("create test database");
    let mut starts = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let url = url.clone();
        starts.spawn(async move { Store::connect(&url).await });
    }
    let mut stores = Vec::new();
    while let Some(started) = starts.join_next().await {
        stores.push(started.expect("task").expect("connect while others migrate"));
    }
    register(&stores[0], "POS00001", "M1").await;
    assert_eq!(stores[3].terminal("POS00001").await.expect("read").map(|t| t.merchant_id), Some("M1".to_owned()));
}
