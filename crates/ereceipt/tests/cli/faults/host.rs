//! `ereceipt terminal ui` SIGKILLed while the acquirer's host holds its request unanswered: the
//! next start signs in and reverses it, exactly once, and no receipt is ever made for it.

use std::ffi::OsString;
use std::fs;
use std::time::Duration;

use ereceipt_terminal::outbox::{AuthorisationState, Outbox, ReversalReason};
use ereceipt_test_peers::iso_host::IsoHost;
use serde_json::{json, Value};
use tempfile::TempDir;

use super::procs::{poll_until, spawn, Bg, Serve};
use super::{enrol, runtime, Terminal};
use crate::helpers::ereceipt;

/// The host's default terminal master key (`iso_host.py --tmk`).
const TMK: &str = "0123456789ABCDEFFEDCBA9876543210";
/// What a keyboard-wedge reader types for the test card.
const SWIPE: &str = ";6222020200112233446=29121011234567890?";

/// The UI of `t`, started; returns it with its launch URL once printed.
fn start_ui(out: &std::path::Path, t: &Terminal) -> (Bg, String) {
    let args: Vec<OsString> = vec![
        "terminal".into(),
        "ui".into(),
        "--data-dir".into(),
        t.dir.clone().into(),
        "--listen".into(),
        "127.0.0.1:0".into(),
    ];
    let ui = spawn(out, args, &[]);
    let mut url = String::new();
    poll_until(Duration::from_secs(30), "the terminal UI prints its URL", || {
        let run = ui.read();
        match run.stdout.lines().find_map(|l| l.strip_prefix("terminal UI on ")) {
            Some(line) => {
                url = line.split_whitespace().next().unwrap_or_default().to_owned();
                true
            }
            None => false,
        }
    });
    (ui, url)
}

/// A POST to the UI's API from its own page.
async fn post(http: &reqwest::Client, url: &str, path: &str, body: Value) -> reqwest::Result<reqwest::Response> {
    let (base, token) = url.split_once("/#token=").expect("launch URL");
    http.post(format!("{base}{path}"))
        .header("origin", base)
        .header("x-ereceipt-ui-token", token)
        .json(&body)
        .send()
        .await
}

fn has(journal: &[Value], dir: &str, mti: &str) -> Vec<Value> {
    journal.iter().filter(|l| l["dir"] == dir && l["mti"] == mti).cloned().collect()
}

#[test]
fn terminal_killed_between_request_and_answer_reverses_it_at_the_next_start() {
    let tmp = TempDir::new().expect("temp dir");
    let data = tmp.path().join("platform");
    let serve = Serve::start(&data, "127.0.0.1:0".parse().expect("addr"), None, &tmp.path().join("serve.log"));
    let t = enrol(&data, None, &serve.url(), "T0000061", &tmp.path().join("terminal"));
    let rt = runtime();
    let host = rt.block_on(IsoHost::start(&[]));
    let settings = t.dir.join("terminal.toml");
    let mut toml = fs::read_to_string(&settings).expect("terminal.toml");
    toml.push_str(&format!(
        "\n[host]\naddress = \"127.0.0.1:{}\"\nanswer_timeout_ms = 60000\nmaster_key = \"{TMK}\"\n",
        host.port()
    ));
    fs::write(&settings, toml).expect("write terminal.toml");
    // It holds the master key now: readable by its owner only, or the UI refuses to start.
    let refused = ereceipt([OsString::from("terminal"), "ui".into(), "--data-dir".into(), t.dir.clone().into()]);
    refused.assert_exit(3).assert_error(&["host.master_key", "chmod 600"]);
    fs::set_permissions(&settings, std::os::unix::fs::PermissionsExt::from_mode(0o600)).expect("chmod");

    let (ui, url) = start_ui(tmp.path(), &t);
    // reqwest wants a TLS provider even for plain HTTP.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    // 签到: the cashier signs in (the host is told, and hands out the working keys).
    let signed =
        rt.block_on(async { post(&http, &url, "/api/operator", json!({"operator": "01"})).await.expect("sign in") });
    assert!(signed.status().is_success(), "{}", signed.status());
    // …98: the host reads the sale and never answers.
    let sale: Value = rt.block_on(async {
        post(&http, &url, "/api/sales", json!({"amount": "10098"})).await.expect("start").json().await.expect("json")
    });
    let sale_id = sale["sale"].as_str().expect("sale id").to_owned();
    let asking = {
        let (http, url, path) = (http.clone(), url.clone(), format!("/api/sales/{sale_id}/card"));
        rt.spawn(async move { post(&http, &url, &path, json!({"swipe": SWIPE})).await })
    };
    let seen = rt.block_on(host.wait_journal(|j| !has(j, "in", "0200").is_empty(), Duration::from_secs(30)));
    let trace = has(&seen, "in", "0200")[0]["11"].as_str().expect("trace").to_owned();
    ui.kill();
    rt.block_on(async { assert!(asking.await.expect("task").is_err(), "the UI died before answering") });

    let outbox = rt.block_on(Outbox::open(&t.dir.join("outbox.db"))).expect("outbox");
    let open = rt.block_on(outbox.open_authorisations()).expect("journal");
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0].state, AuthorisationState::Requested);
    let id = open[0].request_id.clone();

    // The next start signs in again and reverses it before anything else.
    let (ui, _) = start_ui(tmp.path(), &t);
    let journal = rt.block_on(
        host.wait_journal(|j| has(j, "out", "0410").iter().any(|l| l["11"] == trace.as_str()), Duration::from_secs(60)),
    );
    // The host has sent its 0410; the terminal records it a moment later. Kill it only once the
    // journal says so, or the kill races the terminal's own bookkeeping.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let row = loop {
        let row = rt.block_on(outbox.authorisation(&id)).expect("journal").expect("row");
        if row.state == AuthorisationState::Reversed || std::time::Instant::now() > deadline {
            break row;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    ui.kill();
    let acked = has(&journal, "out", "0410");
    assert_eq!(acked.len(), 1, "exactly one reversal: {journal:?}");
    assert_eq!(acked[0]["39"], "00", "the host held the sale and reversed it");
    assert_eq!(has(&journal, "in", "0800").len(), 2, "each start signed in");
    assert_eq!((row.state, row.reversal), (AuthorisationState::Reversed, Some(ReversalReason::NoAnswer)));
    assert!(row.receipt_id.is_none());
    let status = ereceipt([
        OsString::from("terminal"),
        "status".into(),
        "--data-dir".into(),
        t.dir.clone().into(),
        "--json".into(),
    ]);
    status.assert_ok();
    let st: Value = serde_json::from_str(&status.stdout).expect("status json");
    assert_eq!(st["pending"].as_u64(), Some(0), "no receipt was made for it: {st}");
    assert!(
        ereceipt([OsString::from("terminal"), "authorisations".into(), "--data-dir".into(), t.dir.clone().into()]).code
            == Some(0),
        "no authorisation is left open"
    );
}

/// A terminal run from the CLI (no touch UI, so no background pass): a refund whose advice
/// (0220) gets no answer leaves the cashier without a receipt; `terminal authorisations recover`
/// sends the advice again, the host acknowledges it, and the refund's receipt is made exactly
/// once, from the signature and delivery choice kept before the first advice went out, and
/// uploaded by `terminal sync`. Nothing is ever reversed.
#[test]
fn a_refund_left_unanswered_gets_its_receipt_from_authorisations_recover() {
    let tmp = TempDir::new().expect("temp dir");
    let data = tmp.path().join("platform");
    let serve = Serve::start(&data, "127.0.0.1:0".parse().expect("addr"), None, &tmp.path().join("serve.log"));
    let t = enrol(&data, None, &serve.url(), "T0000062", &tmp.path().join("terminal"));
    let rt = runtime();
    let host = rt.block_on(IsoHost::start(&["--fault".as_ref(), "refund:silent:1".as_ref()]));
    let settings = t.dir.join("terminal.toml");
    let mut toml = fs::read_to_string(&settings).expect("terminal.toml");
    toml.push_str(&format!(
        "\n[host]\naddress = \"127.0.0.1:{}\"\nanswer_timeout_ms = 1500\nmaster_key = \"{TMK}\"\n",
        host.port()
    ));
    fs::write(&settings, toml).expect("write terminal.toml");
    fs::set_permissions(&settings, std::os::unix::fs::PermissionsExt::from_mode(0o600)).expect("chmod");
    let card = tmp.path().join("card.json");
    fs::write(&card, json!({ "track2": SWIPE }).to_string()).expect("card");
    let sig = tmp.path().join("signature.json");
    fs::write(&sig, crate::helpers::signature().to_string()).expect("signature");
    let cashier = |op: &str, args: &[&str]| {
        let mut all: Vec<OsString> = vec!["terminal".into(), op.into(), "--data-dir".into(), t.dir.clone().into()];
        all.extend(["--card".into(), card.clone().into(), "--signature".into(), sig.clone().into()]);
        all.extend(args.iter().map(OsString::from));
        ereceipt(all)
    };
    let dir_args = |cmd: &[&str]| {
        let mut all: Vec<OsString> = cmd.iter().map(OsString::from).collect();
        all.extend(["--data-dir".into(), t.dir.clone().into()]);
        ereceipt(all)
    };

    let sale = cashier("sell", &["--amount", "100.00"]);
    sale.assert_ok();
    let rrn = sale.stdout.split("RRN ").nth(1).and_then(|s| s.split([',', ' ']).next()).expect("RRN").to_owned();
    let day = (chrono::Utc::now() + chrono::Duration::hours(8)).format("%Y-%m-%d").to_string();
    let refund = cashier(
        "refund",
        &["--rrn", &rrn, "--date", &day, "--amount", "30.00", "--deliver", "email:li.na@example.com", "--offline"],
    );
    refund.assert_exit(4);
    assert!(refund.stdout.contains("NOT acknowledged") && refund.stdout.contains("authorisations recover"), "{refund}");
    let receipts = |outbox: &Outbox| {
        rt.block_on(async {
            let st = outbox.status().await.expect("status");
            st.pending + st.acked
        })
    };
    let outbox = rt.block_on(Outbox::open(&t.dir.join("outbox.db"))).expect("outbox");
    assert_eq!(receipts(&outbox), 1, "the sale's receipt only");
    dir_args(&["terminal", "authorisations"]).assert_exit(6);

    let recovered = dir_args(&["terminal", "authorisations", "recover"]);
    recovered.assert_ok();
    assert!(recovered.stdout.contains("late refund receipts made 1"), "{recovered}");
    assert!(recovered.stdout.contains("no authorisation needs attention"), "{recovered}");
    assert_eq!(receipts(&outbox), 2, "the refund's receipt, once");
    let again = dir_args(&["terminal", "authorisations", "recover"]);
    again.assert_ok();
    assert!(again.stdout.contains("late refund receipts made 0"), "{again}");
    assert_eq!(receipts(&outbox), 2, "a second pass makes nothing");

    let journal = host.journal();
    assert_eq!(has(&journal, "in", "0220").len(), 2, "the advice, then once again: {journal:?}");
    assert_eq!(has(&journal, "out", "0230").len(), 1, "acknowledged once");
    assert!(has(&journal, "in", "0400").is_empty(), "a refund is never reversed");

    dir_args(&["terminal", "sync"]).assert_ok();
    let entries = rt.block_on(outbox.entries(10)).expect("entries");
    let made = entries.iter().find(|e| e.sequence == 2).expect("the refund's receipt");
    let entry = rt.block_on(outbox.entry(&made.receipt_id)).expect("entry").expect("stored");
    let record = ereceipt_core::encoding::decode_record(&entry.record).expect("record");
    assert_eq!(record.transaction.kind, ereceipt_core::model::TransactionType::Refund);
    assert_eq!(record.transaction.amount.minor(), 3_000);
    assert_eq!(record.transaction.original.and_then(|o| o.rrn).map(|r| r.as_str().to_owned()), Some(rrn));
    assert_eq!(entry.delivery.as_deref(), Some("email"), "the customer's choice was kept");
    assert_eq!(rt.block_on(outbox.status()).expect("status").acked, 2, "both uploaded");
}
