//! Scenario `disk`: the SQLite platform's data directory on a small tmpfs (or, where tmpfs cannot
//! be mounted, an ext4 loop file) that a filler file fills up while terminals sell. Uploads must
//! fail with a clear error and store nothing half-written (`PRAGMA integrity_check` while full
//! and after); once the filler is removed the terminals' backlog drains.

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use ereceipt_test_peers::small_fs::SmallFs;
use sqlx::Connection;
use tokio::runtime::Runtime;

use super::kill::Tally;
use super::procs::{Bin, Platform};
use super::terminal::{self, Audit, Inputs, SaleEnd, Terminal};
use super::ReliabilityArgs;

/// The small filesystem: big enough for the platform's keys, database and a few receipts.
const SIZE_MB: u64 = 32;

/// `PRAGMA integrity_check` and the receipt count of the SQLite file, opened read-only.
fn check_sqlite(rt: &Runtime, db: &Path) -> Result<(String, i64)> {
    rt.block_on(async {
        let mut c = sqlx::sqlite::SqliteConnection::connect(&format!("sqlite://{}?mode=ro", db.display())).await?;
        let verdict: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check").fetch_all(&mut c).await?;
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM receipts").fetch_one(&mut c).await?;
        c.close().await?;
        Ok((verdict.join("; "), n))
    })
}

pub fn run(rt: &Runtime, bin: &Bin, args: &ReliabilityArgs) -> Result<Vec<String>> {
    let receipts = args.pick(args.disk_receipts, 200, 12);
    let n = 2;
    say!("disk: the SQLite platform's data directory fills up while {n} terminals sell {receipts} receipts (an email each)");
    let tmp = tempfile::tempdir().context("temp dir")?;
    let mount = SmallFs::mount_at(&tmp.path().join("mnt"), &tmp.path().join("disk.img"), SIZE_MB)?;
    say!("  filesystem   {}", mount.how());
    let data = mount.dir().join("platform");
    let mut platform = Platform::start(bin, &data, None, &tmp.path().join("serve.log"))?;
    let terminals: Vec<Terminal> = (0..n)
        .map(|i| {
            let id = format!("D{:07}", i + 1);
            terminal::enrol(bin, &platform, &id, &tmp.path().join(&id))
        })
        .collect::<Result<_>>()?;
    let inputs = Inputs::write(tmp.path())?;
    // A few sales with room to spare.
    for t in &terminals {
        t.sell(bin, &inputs, Some("email:before@example.com"), false)?;
    }
    let filler = mount.dir().join("filler");
    let filled = mount.fill("filler")?;
    say!("  filled       {:.1} MiB of filler: the filesystem is full", filled as f64 / 1048576.0);

    let tally = Mutex::new(Tally::default());
    let stored_on_full = Mutex::new(0usize);
    let started = Instant::now();
    std::thread::scope(|s| -> Result<()> {
        let sellers: Vec<_> = terminals
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let (tally, inputs, stored_on_full) = (&tally, &inputs, &stored_on_full);
                s.spawn(move || -> Result<()> {
                    for k in 0..receipts / n + usize::from(i < receipts % n) {
                        let sale = t.sell(bin, inputs, Some(&format!("email:full{i}x{k}@example.com")), false)?;
                        if sale.end == SaleEnd::Uploaded {
                            *stored_on_full.lock().unwrap_or_else(std::sync::PoisonError::into_inner) += 1;
                        }
                        tally.lock().unwrap_or_else(std::sync::PoisonError::into_inner).add(&sale);
                    }
                    Ok(())
                })
            })
            .collect();
        for h in sellers {
            h.join().map_err(|_| anyhow::anyhow!("a seller panicked"))??;
        }
        Ok(())
    })?;
    let mut broken = Vec::new();
    let tally = tally.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    tally.print();
    say!("  while full   {:.1} s of sales", started.elapsed().as_secs_f64());
    let alive_when_full = platform.still_running();
    let db = data.join("platform.db");
    match check_sqlite(rt, &db) {
        Ok((verdict, count)) => {
            say!("  integrity    while full: {verdict}, {count} receipts stored");
            if verdict != "ok" {
                broken.push(format!("integrity_check while full: {verdict}"));
            }
        }
        Err(e) => say!("  integrity    while full: cannot open read-only ({e:#})"),
    }
    if !alive_when_full {
        say!("  platform     exited on the full disk; log:\n{}", platform.log_tail(10));
    }

    std::fs::remove_file(&filler).context("remove the filler")?;
    let freed = Instant::now();
    if !platform.still_running() {
        platform.restart()?;
    }
    broken.extend(terminal::drain_all(bin, &terminals, 300)?);
    say!("  space back   the backlog drained in {:.1} s", freed.elapsed().as_secs_f64());
    let pending = terminal::wait_for_deliveries(rt, bin, &platform, Duration::from_secs(120))?;
    let audit = Audit::run(rt, bin, &platform, &terminals, true)?;
    audit.print();
    say!("  deliveries   {pending} still pending after the drain");
    platform.kill()?;
    let (verdict, count) = check_sqlite(rt, &db)?;
    say!("  integrity    after the drain and a SIGKILL: {verdict}, {count} receipts stored");
    if verdict != "ok" {
        broken.push(format!("integrity_check after the drain: {verdict}"));
    }
    if usize::try_from(count).ok() != Some(audit.stored) {
        broken.push(format!("the store counts {count} receipts, the audit {}", audit.stored));
    }
    if tally.ends.get("stored and queued").copied().unwrap_or(0) == 0 {
        broken.push("no upload failed on the full disk: the scenario did not fill it".into());
    }
    if !alive_when_full {
        broken.push("the platform exited on the full disk".into());
    }
    broken.extend(audit.broken());
    drop(platform);
    drop(mount);
    Ok(broken)
}
