//! Fault tests of the real processes: the platform SIGKILLed mid-stream and restarted, a terminal
//! dying between storing a receipt and uploading it, two platforms on one PostgreSQL database,
//! the platform killed mid-delivery, the terminal killed while its acquirer's host is asked.

mod cashier;
mod delivery;
mod host;
mod procs;
mod refused;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ereceipt_platform::infra::store::Store;
use ereceipt_terminal::outbox::{EntryState, Outbox};
use ereceipt_test_peers::pg_cluster::TempCluster;
use serde_json::Value;
use tempfile::TempDir;
use tokio::runtime::Runtime;

use crate::helpers::{ereceipt, signature, transaction, Run};
use procs::{free_addr, poll_until, spawn, Serve};

/// A `terminal sync --wait 60` has this long to exit before the test calls it stuck.
const SYNC_LIMIT: Duration = Duration::from_secs(90);

/// The transaction and signature files every sale reuses (the terminal numbers its receipts).
struct Inputs {
    transaction: PathBuf,
    signature: PathBuf,
}

impl Inputs {
    fn write(dir: &Path) -> Inputs {
        let inputs = Inputs { transaction: dir.join("tx.json"), signature: dir.join("sig.json") };
        fs::write(&inputs.transaction, transaction().to_string()).expect("write tx.json");
        fs::write(&inputs.signature, signature().to_string()).expect("write sig.json");
        inputs
    }
}

/// An enrolled terminal's data directory.
struct Terminal {
    id: String,
    dir: PathBuf,
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime")
}

/// `--data-dir DATA [--database-url URL]` of the platform admin commands.
fn at(data: &Path, database_url: Option<&str>) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec!["--data-dir".into(), data.into()];
    if let Some(url) = database_url {
        args.extend(["--database-url".into(), url.into()]);
    }
    args
}

/// Registers `id` with `platform terminal add` and enrols it with the platform at `url`.
fn enrol(data: &Path, database_url: Option<&str>, url: &str, id: &str, dir: &Path) -> Terminal {
    let mut add: Vec<OsString> = vec!["platform".into(), "terminal".into(), "add".into()];
    add.extend(at(data, database_url));
    for (flag, value) in [
        ("--terminal-id", id),
        ("--merchant-id", "104110070110001"),
        ("--merchant-name", "Harbour Books"),
        ("--location", "1 Quay St; geo:22.28,114.16"),
    ] {
        add.extend([flag.into(), value.into()]);
    }
    // The faults tests sell with clear test-card tracks: a test terminal.
    add.push("--test".into());
    let added = ereceipt(add);
    added.assert_ok();
    let token = added.stdout.lines().find(|l| l.starts_with("ert1.")).unwrap_or_else(|| panic!("no token:\n{added}"));
    let enrolled = ereceipt([
        OsString::from("terminal"),
        "enroll".into(),
        "--platform".into(),
        url.into(),
        "--token".into(),
        token.into(),
        "--data-dir".into(),
        dir.into(),
        "--test-cards".into(),
    ]);
    enrolled.assert_ok();
    Terminal { id: id.to_owned(), dir: dir.to_owned() }
}

/// `terminal sale --offline`, `n` times; returns the receipt ids in sale order.
fn sell(t: &Terminal, inputs: &Inputs, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            let run = ereceipt(sale_args(t, inputs, true));
            run.assert_exit(4);
            stored_id(&run)
        })
        .collect()
}

fn sale_args(t: &Terminal, inputs: &Inputs, offline: bool) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec!["terminal".into(), "sale".into(), "--data-dir".into(), t.dir.clone().into()];
    args.extend(["--transaction".into(), inputs.transaction.clone().into()]);
    args.extend(["--signature".into(), inputs.signature.clone().into()]);
    if offline {
        args.push("--offline".into());
    }
    args
}

/// The id in "receipt ID stored in the outbox".
fn stored_id(run: &Run) -> String {
    run.stdout
        .lines()
        .find_map(|l| l.strip_prefix("receipt ")?.split_once(" stored in the outbox").map(|(id, _)| id.to_owned()))
        .unwrap_or_else(|| panic!("no receipt stored:\n{run}"))
}

/// `n` offline sales on each terminal, the terminals selling at the same time.
fn sell_everywhere(terminals: &[Terminal], inputs: &Inputs, n: usize) -> Vec<Vec<String>> {
    std::thread::scope(|s| {
        let sellers: Vec<_> = terminals.iter().map(|t| s.spawn(move || sell(t, inputs, n))).collect();
        sellers.into_iter().map(|h| h.join().expect("sales")).collect()
    })
}

/// `terminal sync --data-dir DIR` plus `extra`, in the background.
fn spawn_sync(out: &Path, t: &Terminal, extra: &[&str]) -> procs::Bg {
    let mut args: Vec<OsString> = vec!["terminal".into(), "sync".into(), "--data-dir".into(), t.dir.clone().into()];
    args.extend(extra.iter().map(OsString::from));
    spawn(out, args, &[])
}

/// `terminal status --json`.
fn status(t: &Terminal) -> Value {
    let run = ereceipt([
        OsString::from("terminal"),
        "status".into(),
        "--data-dir".into(),
        t.dir.clone().into(),
        "--json".into(),
    ]);
    run.assert_ok();
    run.json()
}

/// Asserts the outbox is drained: `uploaded` acknowledged, nothing pending or refused.
fn assert_drained(t: &Terminal, uploaded: u64) {
    let st = status(t);
    assert_eq!(
        (st["pending"].as_u64(), st["uploaded"].as_u64(), st["refused"].as_u64()),
        (Some(0), Some(uploaded), Some(0)),
        "outbox of {} ({}): {st}",
        t.id,
        t.dir.display()
    );
}

/// `platform terminal chain`: asserts it reports a clean chain of exactly `receipts` receipts
/// numbered 1..=receipts.
fn assert_clean_chain(data: &Path, database_url: Option<&str>, id: &str, receipts: usize) {
    let mut args: Vec<OsString> = vec!["platform".into(), "terminal".into(), "chain".into()];
    args.extend(at(data, database_url));
    args.push(id.into());
    let run = ereceipt(args);
    let report: Value = serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("chain report ({e}):\n{run}"));
    run.assert_ok();
    assert_eq!(report["receipts"], receipts, "{id}: {report}");
    let last = if receipts == 0 { Value::Null } else { receipts.into() };
    assert_eq!(report["last_sequence"], last, "{id}: {report}");
    assert_eq!(report["unchained"], 0, "{id}: {report}");
    for anomaly in ["gaps", "duplicates", "broken_links", "out_of_order"] {
        assert_eq!(report[anomaly], serde_json::json!([]), "{id}: {anomaly} in {report}");
    }
}

/// Each receipt in the terminal's outbox with its state and acknowledgement bytes.
fn outbox(rt: &Runtime, t: &Terminal) -> BTreeMap<String, (EntryState, Option<Vec<u8>>)> {
    rt.block_on(async {
        let outbox = Outbox::open(&t.dir.join("outbox.db")).await.expect("open the outbox");
        let mut found = BTreeMap::new();
        for summary in outbox.entries(i64::MAX).await.expect("outbox entries") {
            let entry = outbox.entry(&summary.receipt_id).await.expect("outbox entry").expect("listed entry");
            found.insert(summary.receipt_id, (entry.state, entry.ack));
        }
        outbox.close().await;
        found
    })
}

/// Asserts every receipt the terminal holds as acknowledged is stored on the platform with the
/// very acknowledgement the terminal holds; returns how many that is.
fn assert_acked_are_stored(rt: &Runtime, store: &Store, t: &Terminal) -> usize {
    let mut acked = 0;
    for (id, (state, ack)) in outbox(rt, t) {
        if state != EntryState::Acked {
            continue;
        }
        let stored = rt.block_on(store.receipt(&id)).expect("read the receipt");
        let stored = stored.unwrap_or_else(|| panic!("{id} is acknowledged in {} but not stored", t.dir.display()));
        // Not assert_eq: the bytes say nothing to a reader.
        assert!(
            ack.as_ref() == Some(&stored.ack),
            "{id}: the terminal holds another acknowledgement than the stored one"
        );
        acked += 1;
    }
    acked
}

/// The receipt ids stored for a terminal, in arrival order.
fn stored_ids(rt: &Runtime, store: &Store, terminal_id: &str) -> Vec<String> {
    let chain = rt.block_on(store.chain(terminal_id)).expect("read the chain");
    chain.into_iter().map(|e| e.receipt_id).collect()
}

fn receipt_count(rt: &Runtime, store: &Store) -> usize {
    let n = rt.block_on(store.receipt_count()).expect("count receipts");
    usize::try_from(n).expect("a count")
}

/// Points a terminal at another platform URL (same CA and keys, so TLS and HPKE still work).
fn set_platform_url(t: &Terminal, url: &str) {
    let path = t.dir.join("platform.json");
    let mut link: Value = serde_json::from_str(&fs::read_to_string(&path).expect("read platform.json")).expect("JSON");
    link["url"] = url.into();
    fs::write(&path, link.to_string()).expect("write platform.json");
}

/// Copies a terminal's data directory (its files; no process may have the outbox open).
fn copy_terminal(t: &Terminal, id_dir: &Path) -> Terminal {
    fs::create_dir_all(id_dir).expect("mkdir");
    for entry in fs::read_dir(&t.dir).expect("read terminal dir") {
        let path = entry.expect("dir entry").path();
        if path.is_file() {
            fs::copy(&path, id_dir.join(path.file_name().expect("file name"))).expect("copy terminal file");
        }
    }
    Terminal { id: t.id.clone(), dir: id_dir.to_owned() }
}

#[test]
fn platform_killed_mid_stream_and_restarted_stores_each_receipt_once() {
    const SALES: usize = 10;
    let tmp = TempDir::new().expect("temp dir");
    let data = tmp.path().join("platform");
    let log = tmp.path().join("serve.log");
    // A fixed port, so the terminals find the restarted platform where they left it.
    let listen = free_addr();
    let mut serve = Serve::start(&data, listen, None, &log);
    let url = serve.url();
    let terminals: Vec<Terminal> =
        ["T0000001", "T0000002"].iter().map(|id| enrol(&data, None, &url, id, &tmp.path().join(id))).collect();
    let inputs = Inputs::write(tmp.path());
    let sold = sell_everywhere(&terminals, &inputs, SALES);
    let total = SALES * terminals.len();

    let rt = runtime();
    let db_url = format!("sqlite://{}", data.join("platform.db").display());
    let store = rt.block_on(Store::connect(&db_url)).expect("open the platform database");
    assert_eq!(receipt_count(&rt, &store), 0, "offline sales upload nothing");

    let streams: Vec<_> = terminals.iter().map(|t| spawn_sync(tmp.path(), t, &["--wait", "60"])).collect();
    poll_until(Duration::from_secs(30), "3 receipts are stored", || receipt_count(&rt, &store) >= 3);
    serve.kill();
    let at_kill = receipt_count(&rt, &store);
    assert!(
        at_kill < total,
        "all {total} receipts were stored before the kill: the stream was not interrupted; log:\n{}",
        serve.log_text()
    );
    // Nothing a terminal holds an acknowledgement for may be missing after the crash.
    let acked_at_kill: usize = terminals.iter().map(|t| assert_acked_are_stored(&rt, &store, t)).sum();
    assert!(acked_at_kill <= at_kill);
    eprintln!("killed the platform with {at_kill} of {total} receipts stored, {acked_at_kill} acknowledged");

    drop(serve);
    let mut serve = Serve::start(&data, listen, None, &log);
    let drains: Vec<_> = terminals.iter().map(|t| spawn_sync(tmp.path(), t, &["--now", "--wait", "60"])).collect();
    for bg in drains.into_iter().chain(streams) {
        bg.finish(SYNC_LIMIT).0.assert_ok();
    }
    serve.assert_running();

    assert_eq!(receipt_count(&rt, &store), total, "stored {at_kill} before the kill; log:\n{}", serve.log_text());
    for (t, ids) in terminals.iter().zip(&sold) {
        assert_eq!(&stored_ids(&rt, &store, &t.id), ids, "{}: stored once each, in sale order", t.id);
        assert_clean_chain(&data, None, &t.id, SALES);
        assert_drained(t, SALES as u64);
        assert_eq!(assert_acked_are_stored(&rt, &store, t), SALES);
    }
    assert!(rt.block_on(store.refusals(100)).expect("refusals").is_empty(), "nothing was refused");
}

#[test]
fn terminal_killed_between_storing_and_uploading_uploads_on_the_next_sync() {
    let tmp = TempDir::new().expect("temp dir");
    let data = tmp.path().join("platform");
    let serve = Serve::start(&data, "127.0.0.1:0".parse().expect("addr"), None, &tmp.path().join("serve.log"));
    let t = enrol(&data, None, &serve.url(), "T0000003", &tmp.path().join("terminal"));
    let inputs = Inputs::write(tmp.path());

    // Not --offline: without the fault the sale would upload at once.
    let abort = [("EReceipt_TEST_ABORT_AFTER_STORE", "1")];
    let (run, exit) = spawn(tmp.path(), sale_args(&t, &inputs, false), &abort).finish(Duration::from_secs(30));
    assert!(exit.signal().is_some(), "the sale should die of a signal (abort), not exit:\n{run}");
    let id = stored_id(&run);
    let st = status(&t);
    assert_eq!((st["pending"].as_u64(), st["uploaded"].as_u64()), (Some(1), Some(0)), "{st}");
    assert_eq!(st["recent"][0]["receipt_id"], id.as_str(), "{st}");
    assert_clean_chain(&data, None, &t.id, 0);

    let sync = ereceipt([OsString::from("terminal"), "sync".into(), "--data-dir".into(), t.dir.clone().into()]);
    sync.assert_ok();
    assert!(sync.stdout.contains("uploaded 1,"), "{sync}");
    assert_drained(&t, 1);
    assert_clean_chain(&data, None, &t.id, 1);

    // The chain goes on from the receipt that survived the crash.
    ereceipt(sale_args(&t, &inputs, false)).assert_ok();
    assert_clean_chain(&data, None, &t.id, 2);
    let rt = runtime();
    let store =
        rt.block_on(Store::connect(&format!("sqlite://{}", data.join("platform.db").display()))).expect("database");
    assert_eq!(stored_ids(&rt, &store, &t.id)[0], id);
    assert_eq!(assert_acked_are_stored(&rt, &store, &t), 2);
}

#[test]
fn two_platforms_on_one_postgres_store_concurrent_uploads_once() {
    const SALES: usize = 8;
    let tmp = TempDir::new().expect("temp dir");
    let cluster = TempCluster::start().expect("PostgreSQL for tests (scripts/install-deps)");
    let db = cluster.url();
    // One data directory: the first process makes the CA and keys, the second reuses them.
    let data = tmp.path().join("platform");
    let any_port = "127.0.0.1:0".parse().expect("addr");
    let mut a = Serve::start(&data, any_port, Some(&db), &tmp.path().join("a.log"));
    let mut b = Serve::start(&data, any_port, Some(&db), &tmp.path().join("b.log"));
    let (url_a, url_b) = (a.url(), b.url());

    // T1 and T3 upload to A; T2 enrols with B; T4 enrols with A and is then moved to B.
    let terminals: Vec<Terminal> = ["T0000011", "T0000012", "T0000013", "T0000014"]
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let url = if i == 1 { &url_b } else { &url_a };
            enrol(&data, Some(&db), url, id, &tmp.path().join(id))
        })
        .collect();
    set_platform_url(&terminals[3], &url_b);
    let inputs = Inputs::write(tmp.path());
    let sold = sell_everywhere(&terminals, &inputs, SALES);

    // A restored backup of T1 uploads the same receipts to B while T1 uploads them to A.
    let twin = copy_terminal(&terminals[0], &tmp.path().join("T0000011-copy"));
    set_platform_url(&twin, &url_b);
    let syncs: Vec<_> = terminals.iter().chain([&twin]).map(|t| spawn_sync(tmp.path(), t, &["--wait", "60"])).collect();
    for bg in syncs {
        bg.finish(SYNC_LIMIT).0.assert_ok();
    }
    a.assert_running();
    b.assert_running();

    let rt = runtime();
    let store = rt.block_on(Store::connect(&db)).expect("connect to PostgreSQL");
    assert_eq!(receipt_count(&rt, &store), SALES * terminals.len(), "A:\n{}\nB:\n{}", a.log_text(), b.log_text());
    for (t, ids) in terminals.iter().zip(&sold) {
        assert_eq!(&stored_ids(&rt, &store, &t.id), ids, "{}: stored once each, in sale order", t.id);
        assert_clean_chain(&data, Some(&db), &t.id, SALES);
        assert_drained(t, SALES as u64);
        assert_eq!(assert_acked_are_stored(&rt, &store, t), SALES);
    }
    assert_drained(&twin, SALES as u64);
    assert_eq!(assert_acked_are_stored(&rt, &store, &twin), SALES);
    let (original, copy) = (outbox(&rt, &terminals[0]), outbox(&rt, &twin));
    assert_eq!(original.keys().collect::<Vec<_>>(), copy.keys().collect::<Vec<_>>());
    let differ: Vec<&String> =
        original.iter().filter(|(id, entry)| copy.get(*id) != Some(entry)).map(|(id, _)| id).collect();
    assert!(differ.is_empty(), "the copies hold different acknowledgements for {differ:?}");
    assert!(rt.block_on(store.refusals(100)).expect("refusals").is_empty(), "nothing was refused");
}

/// The customer's choice from the command line to the platform's outbox folder (no delivery
/// servers configured): a bad choice is refused before anything is stored; a good one arrives.
#[test]
fn a_sale_with_a_delivery_choice_reaches_the_outbox_folder_and_a_bad_choice_stores_nothing() {
    let tmp = TempDir::new().expect("temp dir");
    let data = tmp.path().join("platform");
    let serve = Serve::start(&data, "127.0.0.1:0".parse().expect("addr"), None, &tmp.path().join("serve.log"));
    let t = enrol(&data, None, &serve.url(), "T0000004", &tmp.path().join("terminal"));
    let inputs = Inputs::write(tmp.path());

    let mut bad = sale_args(&t, &inputs, false);
    bad.extend(["--deliver".into(), "sms:13800138000".into()]);
    let run = ereceipt(bad);
    run.assert_exit(3);
    assert!(run.stderr.contains("--deliver") && run.stderr.contains("E.164"), "{run}");
    assert_eq!(status(&t)["pending"].as_u64(), Some(0));
    assert_eq!(status(&t)["uploaded"].as_u64(), Some(0), "nothing stored");

    let mut good = sale_args(&t, &inputs, false);
    good.extend(["--deliver".into(), "email:li.na@example.com".into()]);
    let run = ereceipt(good);
    run.assert_ok();
    let id = stored_id(&run);
    let eml = data.join("outbox").join("email").join(format!("{id}.email.eml"));
    poll_until(Duration::from_secs(20), "the email in the outbox folder", || eml.exists());
    let text = fs::read_to_string(&eml).expect("eml");
    assert!(text.contains("To: li.na@example.com"), "{text}");
    assert!(text.contains(&format!("{id}.png")), "the receipt is attached");
}

/// Processes starting together on a fresh data directory (SQLite) all come up: one creates the
/// keys under a lock, and a migration that raced another process is tried again.
#[test]
fn processes_starting_together_on_a_fresh_directory_all_start() {
    for round in 0..3 {
        let tmp = TempDir::new().expect("temp dir");
        let data = tmp.path().join("platform");
        let runs: Vec<_> = (0..6)
            .map(|_| {
                let mut args: Vec<OsString> = vec!["platform".into(), "terminal".into(), "list".into()];
                args.extend(at(&data, None));
                spawn(tmp.path(), args, &[])
            })
            .collect();
        for bg in runs {
            let (run, exit) = bg.finish(Duration::from_secs(60));
            assert!(exit.success(), "round {round}: a process failed to start:\n{run}");
        }
    }
}
