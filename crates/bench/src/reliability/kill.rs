//! Scenario `kill`: terminals sell (each sale uploads at once, with an email to an SMTP sink)
//! while a seeded chaos thread SIGKILLs the platform, or the sale process of a random terminal,
//! at random points; the platform is restarted each time. After the drain every receipt an
//! outbox made must be stored once, and every delivery sent or still pending.

use std::collections::{BTreeMap, HashSet};
use std::ffi::OsStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use ereceipt_test_peers::smtp::{venv_dir, SmtpServer};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::runtime::Runtime;

use super::procs::{kill_slot, Bin, Platform};
use super::terminal::{self, Audit, Inputs, SaleEnd, Terminal};
use super::ReliabilityArgs;

/// How the sales ended, by kind, with example reasons.
#[derive(Default)]
pub struct Tally {
    pub ends: BTreeMap<&'static str, usize>,
    pub reasons: BTreeMap<String, usize>,
    pub hung: Vec<String>,
}

impl Tally {
    pub fn add(&mut self, sale: &terminal::Sale) {
        let (kind, reason) = match &sale.end {
            SaleEnd::Uploaded => ("uploaded at once", None),
            SaleEnd::Queued(r) => ("stored and queued", Some(r.clone())),
            SaleEnd::Refused(r) => ("refused", Some(r.clone())),
            SaleEnd::NotStored(r) => ("nothing stored", Some(r.clone())),
            SaleEnd::Killed => ("killed mid-sale", None),
            SaleEnd::Hung => ("hung", None),
            SaleEnd::Other(r) => ("other", Some(r.clone())),
        };
        *self.ends.entry(kind).or_default() += 1;
        if let Some(r) = reason {
            // Receipt ids and ports vary; the first 90 characters name the cause.
            *self.reasons.entry(r.chars().take(90).collect()).or_default() += 1;
        }
        if sale.end == SaleEnd::Hung {
            self.hung.push(sale.receipt_id.clone().unwrap_or_default());
        }
    }

    pub fn print(&self) {
        let ends: Vec<String> = self.ends.iter().map(|(k, n)| format!("{n} {k}")).collect();
        say!("  sales        {}", ends.join(", "));
        let mut reasons: Vec<(&String, &usize)> = self.reasons.iter().collect();
        reasons.sort_by(|a, b| b.1.cmp(a.1));
        for (r, n) in reasons.into_iter().take(4) {
            say!("    {n:>6} × {r}");
        }
    }
}

/// The SMTP sink (aiosmtpd from the test venv) if it is installed, else `None`: the platform
/// then writes emails to its outbox folder.
fn smtp_sink(rt: &Runtime) -> Option<SmtpServer> {
    let python = venv_dir().join("bin/python");
    let ready = std::process::Command::new(&python)
        .args(["-c", "import aiosmtpd"])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ready.then(|| rt.block_on(SmtpServer::start(&[] as &[&OsStr])))
}

pub fn run(rt: &Runtime, bin: &Bin, args: &ReliabilityArgs, seed: u64) -> Result<Vec<String>> {
    let receipts = args.pick(args.kill_receipts, 10_000, 40);
    let n = args.pick(args.kill_terminals, 4, 2).max(1);
    let every = args.pick(args.kill_every, 8.0, 2.0).max(0.2);
    say!("kill: {receipts} sales on {n} terminals, each uploaded at once with an email; a SIGKILL every ~{every} s (seed {seed})");
    let tmp = tempfile::tempdir().context("temp dir")?;
    let data = tmp.path().join("platform");
    std::fs::create_dir_all(&data)?;
    let smtp = smtp_sink(rt);
    // A short lease: a delivery claimed by a killed platform is taken over 8 s later.
    let mut settings = "[platform.delivery]\nlease_seconds = 8\n".to_owned();
    match &smtp {
        Some(s) => {
            say!("  email        to aiosmtpd on 127.0.0.1:{}", s.port);
            settings += &format!(
                "\n[platform.delivery.smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\n\
                 from = \"ereceipt <receipts@example.com>\"\ntimeout_secs = 5\n",
                s.port
            );
        }
        None => say!("  email        to the platform's outbox folder (no aiosmtpd: set EReceipt_TEST_VENV)"),
    }
    std::fs::write(data.join("platform.toml"), settings)?;
    let platform = Platform::start(bin, &data, None, &tmp.path().join("serve.log"))?;
    let terminals: Vec<Terminal> = (0..n)
        .map(|i| {
            let id = format!("K{:07}", i + 1);
            terminal::enrol(bin, &platform, &id, &tmp.path().join(&id))
        })
        .collect::<Result<_>>()?;
    let inputs = Inputs::write(tmp.path())?;

    let platform = Mutex::new(platform);
    let tally = Mutex::new(Tally::default());
    let done = AtomicUsize::new(0);
    let (platform_kills, terminal_kills) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let started = Instant::now();
    let chaos: Result<()> = std::thread::scope(|s| {
        let mut sellers = Vec::new();
        for (i, t) in terminals.iter().enumerate() {
            let quota = receipts / n + usize::from(i < receipts % n);
            let (tally, done, inputs) = (&tally, &done, &inputs);
            sellers.push(s.spawn(move || -> Result<()> {
                for k in 0..quota {
                    let sale = t.sell(bin, inputs, Some(&format!("email:c{i}x{k}@example.com")), false);
                    let sale = sale.inspect_err(|_| {
                        done.fetch_add(1, Ordering::Relaxed);
                    })?;
                    tally.lock().unwrap_or_else(std::sync::PoisonError::into_inner).add(&sale);
                }
                done.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }));
        }
        // The chaos: at random intervals, SIGKILL the platform (and restart it after a random
        // pause) or the process a random terminal is running.
        let mut rng = StdRng::seed_from_u64(seed);
        let mut last_report = Instant::now();
        while done.load(Ordering::Relaxed) < n {
            let wait = Duration::from_secs_f64(rng.gen_range(0.25..1.75) * every);
            let until = Instant::now() + wait;
            while Instant::now() < until && done.load(Ordering::Relaxed) < n {
                std::thread::sleep(Duration::from_millis(20));
            }
            if done.load(Ordering::Relaxed) >= n {
                break;
            }
            if rng.gen_bool(0.5) {
                let down = Duration::from_secs_f64(rng.gen_range(0.0..2.0));
                let mut p = platform.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                p.kill()?;
                platform_kills.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(down);
                p.restart()?;
            } else {
                let t = &terminals[rng.gen_range(0..n)];
                if kill_slot(&t.slot) {
                    terminal_kills.fetch_add(1, Ordering::Relaxed);
                }
            }
            if last_report.elapsed() > Duration::from_secs(30) {
                let sold: usize = tally.lock().unwrap_or_else(std::sync::PoisonError::into_inner).ends.values().sum();
                eprintln!("  … {sold}/{receipts} sales after {:.0} s", started.elapsed().as_secs_f64());
                last_report = Instant::now();
            }
        }
        for h in sellers {
            h.join().map_err(|_| anyhow::anyhow!("a seller panicked"))??;
        }
        Ok(())
    });
    chaos?;
    let selling = started.elapsed();
    let mut platform = platform.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut broken = Vec::new();
    if !platform.still_running() {
        broken.push(format!("the platform died on its own:\n{}", platform.log_tail(20)));
        platform.restart()?;
    }
    let drained = Instant::now();
    broken.extend(terminal::drain_all(bin, &terminals, 300)?);
    let drain_time = drained.elapsed();
    let pending_deliveries = terminal::wait_for_deliveries(rt, bin, &platform, Duration::from_secs(300))?;
    let tally = tally.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    let audit = Audit::run(rt, bin, &platform, &terminals, true)?;
    if !platform.still_running() {
        broken.push(format!("the platform died during the drain:\n{}", platform.log_tail(20)));
    }

    say!(
        "  chaos        {} platform SIGKILLs (started {} times), {} terminal processes SIGKILLed, over {:.0} s",
        platform_kills.load(Ordering::Relaxed),
        platform.starts,
        terminal_kills.load(Ordering::Relaxed),
        selling.as_secs_f64()
    );
    tally.print();
    say!(
        "  drain        {:.1} s for the outboxes; {pending_deliveries} deliveries still pending after it",
        drain_time.as_secs_f64()
    );
    audit.print();
    let emails = match &smtp {
        Some(s) => message_ids(s.received().iter().map(|(raw, _)| String::from_utf8_lossy(raw).into_owned())),
        None => outbox_emails(&data.join("outbox").join("email"))?,
    };
    let distinct: HashSet<&String> = emails.iter().collect();
    say!(
        "  emails       {} accepted by the sink for {} receipts ({} sent again after a kill mid-send)",
        emails.len(),
        distinct.len(),
        emails.len() - distinct.len()
    );
    let unsent: Vec<&String> = audit.sent.iter().filter(|id| !distinct.contains(id)).collect();
    if !unsent.is_empty() {
        broken.push(format!("{} deliveries recorded as sent but no email arrived (e.g. {})", unsent.len(), unsent[0]));
    }
    let not_stored = tally.ends.get("nothing stored").copied().unwrap_or(0);
    if not_stored * 10 > receipts {
        broken.push(format!("{not_stored} of {receipts} sales stored nothing (see the reasons above)"));
    }
    if !tally.hung.is_empty() {
        broken.push(format!("{} sales hung past {:?}", tally.hung.len(), terminal::COMMAND_LIMIT));
    }
    broken.extend(audit.broken());
    Ok(broken)
}

/// The receipt ids in the emails' `Message-ID: <ID.email@ereceipt>` headers, one per email.
fn message_ids(emails: impl Iterator<Item = String>) -> Vec<String> {
    emails
        .filter_map(|text| {
            text.lines().find_map(|l| {
                let v = l.strip_prefix("Message-ID: <").or_else(|| l.strip_prefix("Message-Id: <"))?;
                v.split_once(".email@").map(|(id, _)| id.to_owned())
            })
        })
        .collect()
}

/// The receipt ids of the emails in the platform's outbox folder (`ID.email.eml`).
fn outbox_emails(dir: &std::path::Path) -> Result<Vec<String>> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(Vec::new()) };
    let mut ids = Vec::new();
    for e in entries {
        let name = e?.file_name().to_string_lossy().into_owned();
        if let Some(id) = name.strip_suffix(".email.eml") {
            ids.push(id.to_owned());
        }
    }
    Ok(ids)
}
