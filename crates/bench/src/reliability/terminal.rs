//! Terminals driven through the `ereceipt terminal` CLI (registered with `platform terminal add
//! --test`, enrolled, selling from the documented example input), and the audit that compares
//! each terminal's outbox with what the platform stored.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::{FixedOffset, SecondsFormat, Utc};
use ereceipt_platform::infra::store::Store;
use ereceipt_terminal::outbox::{EntryState, Outbox};
use serde_json::{json, Value};
use tokio::runtime::Runtime;

use super::procs::{self, Bin, Platform, Ran, Running};

/// A sale or sync that takes longer than this is called hung.
pub const COMMAND_LIMIT: Duration = Duration::from_secs(180);

/// An enrolled terminal's data directory.
pub struct Terminal {
    pub id: String,
    pub dir: PathBuf,
    /// The sale or sync running now, for the chaos thread to SIGKILL.
    pub slot: Arc<Mutex<Option<Running>>>,
}

/// The transaction and signature files every sale reuses (the terminal numbers its receipts).
pub struct Inputs {
    pub transaction: PathBuf,
    pub signature: PathBuf,
}

impl Inputs {
    /// The documented example sale (a UnionPay test card, CNY 128.50) and a two-stroke signature.
    pub fn write(dir: &Path) -> Result<Inputs> {
        let beijing = FixedOffset::east_opt(8 * 3600).context("offset")?;
        let now = Utc::now().with_timezone(&beijing).to_rfc3339_opts(SecondsFormat::Secs, false);
        let tx = json!({
            "serial": "000123", "batch": "000001", "amount_minor": 12850, "currency": "CNY", "type": "SALE",
            "time": now, "card": {"track2": ";6222020200112233446=29121011234567890?"},
            "auth_code": "A1B2C3", "rrn": "332914567890", "operator": "01",
        });
        let stroke = |from: usize, n: usize, x0: f64, y0: f64| {
            let points: Vec<Value> = (0..n)
                .map(|i| {
                    let f = i as f64;
                    json!({"x": x0 + f * 7.5, "y": y0 + 35.0 * (f * 0.45).sin(),
                           "time": 1_700_000_000_000_i64 + (from + i) as i64 * 16, "pressure": 0.5})
                })
                .collect();
            json!({"penColor": "black", "dotSize": 0, "minWidth": 0.5, "maxWidth": 2.5, "points": points})
        };
        let inputs = Inputs { transaction: dir.join("tx.json"), signature: dir.join("sig.json") };
        std::fs::write(&inputs.transaction, tx.to_string()).context("write tx.json")?;
        std::fs::write(&inputs.signature, json!([stroke(0, 28, 30.0, 90.0), stroke(60, 14, 120.0, 70.0)]).to_string())
            .context("write sig.json")?;
        Ok(inputs)
    }
}

/// Registers `id` with `platform terminal add --test` and enrols it from `dir`.
pub fn enrol(bin: &Bin, platform: &Platform, id: &str, dir: &Path) -> Result<Terminal> {
    let mut add: Vec<OsString> = vec!["platform".into(), "terminal".into(), "add".into()];
    add.extend(platform.at());
    for (flag, value) in [
        ("--terminal-id", id),
        ("--merchant-id", "104110070110001"),
        ("--merchant-name", "Harbour Books"),
        ("--location", "1 Quay St; geo:22.28,114.16"),
    ] {
        add.extend([flag.into(), value.into()]);
    }
    add.push("--test".into());
    let added = bin.run(add, COMMAND_LIMIT)?.ok()?;
    let token = added.stdout.lines().find(|l| l.starts_with("ert1.")).context("no enrolment token printed")?;
    let mut enroll: Vec<OsString> = vec!["terminal".into(), "enroll".into(), "--platform".into()];
    enroll.extend([platform.url().into(), "--token".into(), token.into(), "--data-dir".into(), dir.into()]);
    enroll.push("--test-cards".into());
    bin.run(enroll, COMMAND_LIMIT)?.ok()?;
    Ok(Terminal { id: id.to_owned(), dir: dir.to_owned(), slot: Arc::default() })
}

/// How one `terminal sale` ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SaleEnd {
    /// Exit 0: stored and acknowledged.
    Uploaded,
    /// Exit 4: stored, queued for a later upload; with the reason it printed.
    Queued(String),
    /// Exit 5: refused by the platform.
    Refused(String),
    /// Nothing stored (exit 3), with the error.
    NotStored(String),
    /// SIGKILLed by the run (it may or may not have stored the receipt).
    Killed,
    /// Outlived [`COMMAND_LIMIT`].
    Hung,
    /// Any other end.
    Other(String),
}

/// One sale: how it ended, and the receipt id it printed (if it got that far).
pub struct Sale {
    pub end: SaleEnd,
    pub receipt_id: Option<String>,
}

impl Terminal {
    /// `terminal sale` (uploading at once unless `offline`), with `deliver` as the customer's
    /// choice; the process sits in [`Terminal::slot`] while it runs.
    pub fn sell(&self, bin: &Bin, inputs: &Inputs, deliver: Option<&str>, offline: bool) -> Result<Sale> {
        let mut args: Vec<OsString> =
            vec!["terminal".into(), "sale".into(), "--data-dir".into(), self.dir.clone().into()];
        args.extend(["--transaction".into(), inputs.transaction.clone().into()]);
        args.extend(["--signature".into(), inputs.signature.clone().into()]);
        if let Some(d) = deliver {
            args.extend(["--deliver".into(), d.into()]);
        }
        if offline {
            args.push("--offline".into());
        }
        let ran = self.run_in_slot(bin, args)?;
        let receipt_id = ran
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("receipt ")?.split_once(" stored in the outbox").map(|(id, _)| id.to_owned()));
        let said = |prefix: &str| {
            ran.stdout.lines().find_map(|l| l.strip_prefix(prefix)).unwrap_or_default().trim().to_owned()
        };
        let end = if ran.hung {
            SaleEnd::Hung
        } else if ran.killed() {
            SaleEnd::Killed
        } else {
            match ran.code() {
                Some(0) => SaleEnd::Uploaded,
                Some(4) => SaleEnd::Queued(said("queued")),
                Some(5) => SaleEnd::Refused(said("REFUSED by the platform:")),
                Some(3) => SaleEnd::NotStored(ran.stderr.trim().to_owned()),
                _ => SaleEnd::Other(format!("{}: {}", ran.status, ran.stderr.trim())),
            }
        };
        Ok(Sale { end, receipt_id })
    }

    /// `terminal sync --now --wait SECS`: uploads everything pending, retrying up to SECS.
    pub fn sync(&self, bin: &Bin, wait_secs: u64) -> Result<Ran> {
        let mut args: Vec<OsString> =
            vec!["terminal".into(), "sync".into(), "--data-dir".into(), self.dir.clone().into()];
        args.extend(["--now".into(), "--wait".into(), wait_secs.to_string().into()]);
        self.run_in_slot(bin, args)
    }

    fn run_in_slot(&self, bin: &Bin, args: Vec<OsString>) -> Result<Ran> {
        let running = bin.start(args)?;
        *self.slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(running);
        procs::finish(&self.slot, COMMAND_LIMIT)
    }

    /// Every receipt in the outbox: state, acknowledgement, attempts.
    pub fn outbox(&self, rt: &Runtime) -> Result<BTreeMap<String, OutboxEntry>> {
        rt.block_on(async {
            let outbox = Outbox::open(&self.dir.join("outbox.db")).await?;
            let mut found = BTreeMap::new();
            for s in outbox.entries(i64::MAX).await? {
                let entry = outbox.entry(&s.receipt_id).await?.context("a listed entry")?;
                found.insert(
                    s.receipt_id.clone(),
                    OutboxEntry { state: entry.state, ack: entry.ack, attempts: s.attempts },
                );
            }
            outbox.close().await;
            Ok(found)
        })
    }
}

/// One receipt in a terminal's outbox.
pub struct OutboxEntry {
    pub state: EntryState,
    pub ack: Option<Vec<u8>>,
    pub attempts: u32,
}

/// The terminals' outboxes held against the platform's store.
#[derive(Default, Debug)]
pub struct Audit {
    /// Receipts in the outboxes.
    pub made: usize,
    pub acked: usize,
    pub pending: usize,
    pub refused: usize,
    /// Receipts that needed more than one upload attempt (store-and-forward retried them).
    pub retried: usize,
    /// Rows in the platform's receipts table for these terminals.
    pub stored: usize,
    /// In an outbox, not on the platform.
    pub lost: Vec<String>,
    /// Stored more than once (by id or by chain sequence).
    pub doubled: Vec<String>,
    /// On the platform but in no outbox.
    pub unknown: Vec<String>,
    /// Acknowledged by the platform but with other bytes than the stored acknowledgement.
    pub ack_mismatch: Vec<String>,
    /// `platform terminal chain` anomalies, per terminal.
    pub chain_anomalies: Vec<String>,
    /// Delivery rows by state (one expected per stored receipt sold with a delivery choice).
    pub deliveries: BTreeMap<String, usize>,
    /// Stored receipts without any delivery row (when every sale chose one).
    pub without_delivery: usize,
    /// Receipts whose delivery reached its peer (sent or delivered).
    pub sent: Vec<String>,
}

impl Audit {
    /// Holds every terminal's outbox against the store at `platform` (which may be stopped).
    pub fn run(
        rt: &Runtime,
        bin: &Bin,
        platform: &Platform,
        terminals: &[Terminal],
        with_delivery: bool,
    ) -> Result<Audit> {
        let store = rt.block_on(Store::connect(&platform.store_url())).context("open the platform's store")?;
        let mut a = Audit::default();
        for t in terminals {
            let outbox = t.outbox(rt)?;
            let chain = rt.block_on(store.chain(&t.id))?;
            a.made += outbox.len();
            a.stored += chain.len();
            let mut ids = HashSet::new();
            let mut sequences: HashMap<i64, usize> = HashMap::new();
            for e in &chain {
                if !ids.insert(e.receipt_id.clone()) {
                    a.doubled.push(e.receipt_id.clone());
                }
                if let Some(s) = e.sequence {
                    *sequences.entry(s).or_default() += 1;
                }
                if !outbox.contains_key(&e.receipt_id) {
                    a.unknown.push(e.receipt_id.clone());
                }
            }
            a.doubled.extend(sequences.iter().filter(|(_, n)| **n > 1).map(|(s, _)| format!("{} sequence {s}", t.id)));
            for (id, entry) in &outbox {
                match entry.state {
                    EntryState::Acked => a.acked += 1,
                    EntryState::Pending => a.pending += 1,
                    EntryState::Refused => a.refused += 1,
                }
                if entry.attempts > 1 {
                    a.retried += 1;
                }
                if !ids.contains(id) {
                    a.lost.push(id.clone());
                    continue;
                }
                if entry.state == EntryState::Acked {
                    let stored = rt.block_on(store.receipt(id))?.context("a stored receipt")?;
                    if entry.ack.as_ref() != Some(&stored.ack) {
                        a.ack_mismatch.push(id.clone());
                    }
                }
                if with_delivery {
                    let rows = rt.block_on(store.deliveries_of(id))?;
                    if rows.is_empty() {
                        a.without_delivery += 1;
                    }
                    for (d, _) in rows {
                        if d.state.reached_peer() {
                            a.sent.push(id.clone());
                        }
                        *a.deliveries.entry(d.state.as_str().to_owned()).or_default() += 1;
                    }
                }
            }
            a.chain_anomalies.extend(chain_report(bin, platform, &t.id)?);
        }
        rt.block_on(store.close());
        Ok(a)
    }

    /// The invariants that broke, in words; empty when none did.
    pub fn broken(&self) -> Vec<String> {
        let mut broken = Vec::new();
        if self.made == 0 {
            broken.push("no receipt was made: nothing was tested".to_owned());
        }
        let mut list = |what: &str, items: &[String]| {
            if !items.is_empty() {
                let shown: Vec<&str> = items.iter().take(5).map(String::as_str).collect();
                broken.push(format!("{} {what} (e.g. {})", items.len(), shown.join(", ")));
            }
        };
        list("receipts lost (in an outbox, not stored)", &self.lost);
        list("receipts doubled", &self.doubled);
        list("stored receipts no outbox made", &self.unknown);
        list("acknowledgements differing from the stored one", &self.ack_mismatch);
        list("chain anomalies", &self.chain_anomalies);
        if self.pending > 0 {
            broken.push(format!("{} receipts still pending in the outboxes after the drain", self.pending));
        }
        if self.refused > 0 {
            broken.push(format!("{} receipts refused by the platform", self.refused));
        }
        if self.without_delivery > 0 {
            broken.push(format!("{} stored receipts have no delivery", self.without_delivery));
        }
        if let Some(n) = self.deliveries.get("failed") {
            broken.push(format!("{n} deliveries failed (parked)"));
        }
        broken
    }

    pub fn print(&self) {
        say!(
            "  outboxes     {} receipts made: {} acknowledged, {} pending, {} refused; {} needed more than one attempt",
            self.made,
            self.acked,
            self.pending,
            self.refused,
            self.retried
        );
        say!(
            "  platform     {} stored; lost {}, doubled {}, unknown {}, acknowledgement mismatches {}, chain anomalies {}",
            self.stored,
            self.lost.len(),
            self.doubled.len(),
            self.unknown.len(),
            self.ack_mismatch.len(),
            self.chain_anomalies.len()
        );
        if !self.deliveries.is_empty() || self.without_delivery > 0 {
            let states: Vec<String> = self.deliveries.iter().map(|(s, n)| format!("{n} {s}")).collect();
            say!("  deliveries   {}; {} stored receipts without one", states.join(", "), self.without_delivery);
        }
    }
}

/// `platform terminal chain ID`: its gaps, duplicates, broken links, out-of-order and unchained
/// receipts, as lines.
fn chain_report(bin: &Bin, platform: &Platform, id: &str) -> Result<Vec<String>> {
    let mut args: Vec<OsString> = vec!["platform".into(), "terminal".into(), "chain".into()];
    args.extend(platform.at());
    args.push(id.into());
    let ran = bin.run(args, COMMAND_LIMIT)?;
    let report: Value = serde_json::from_str(&ran.stdout)
        .with_context(|| format!("platform terminal chain {id}: {} {}", ran.stdout, ran.stderr))?;
    let mut anomalies = Vec::new();
    for key in ["gaps", "duplicates", "broken_links", "out_of_order"] {
        if let Some(items) = report[key].as_array().filter(|a| !a.is_empty()) {
            anomalies.push(format!("{id} {key}: {}", Value::Array(items.clone())));
        }
    }
    if report["unchained"].as_u64().unwrap_or(0) > 0 {
        anomalies.push(format!("{id} unchained: {}", report["unchained"]));
    }
    Ok(anomalies)
}

/// Every terminal's `terminal sync --now --wait SECS`, at the same time; the runs that did not
/// end with nothing pending.
pub fn drain_all(bin: &Bin, terminals: &[Terminal], wait_secs: u64) -> Result<Vec<String>> {
    std::thread::scope(|s| {
        let runs: Vec<_> = terminals.iter().map(|t| s.spawn(move || t.sync(bin, wait_secs))).collect();
        let mut problems = Vec::new();
        for (t, h) in terminals.iter().zip(runs) {
            let ran = h.join().map_err(|_| anyhow::anyhow!("sync thread panicked"))??;
            if !ran.status.success() {
                problems.push(format!("{}: sync {} ({}): {}", t.id, ran.status, ran.stdout.trim(), ran.stderr.trim()));
            }
        }
        Ok(problems)
    })
}

/// Waits until the platform's delivery queue is empty (queued or sending), up to `limit`,
/// asking the platform to retry waiting ones now every few seconds (`platform deliveries
/// retry`, the operator's command after an outage). Returns how many are still pending.
pub fn wait_for_deliveries(rt: &Runtime, bin: &Bin, platform: &Platform, limit: Duration) -> Result<i64> {
    let store = rt.block_on(Store::connect(&platform.store_url())).context("open the platform's store")?;
    let deadline = std::time::Instant::now() + limit;
    let mut retried = std::time::Instant::now();
    let pending = loop {
        let pending = rt.block_on(store.deliveries_pending())?;
        if pending == 0 || std::time::Instant::now() > deadline {
            break pending;
        }
        if retried.elapsed() > Duration::from_secs(5) {
            let mut args: Vec<OsString> = vec!["platform".into(), "deliveries".into(), "retry".into()];
            args.extend(platform.at());
            bin.run(args, COMMAND_LIMIT)?;
            retried = std::time::Instant::now();
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    rt.block_on(store.close());
    Ok(pending)
}
