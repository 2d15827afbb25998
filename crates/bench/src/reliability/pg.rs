//! Scenario `pg`: the platform on a throwaway PostgreSQL cluster, which `pg_ctl restart -m fast`
//! restarts while terminals sell and upload. The platform process is not restarted: it must
//! reconnect by itself; the terminals' store-and-forward must carry the receipts that could not
//! be uploaded during the outage.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use ereceipt_test_peers::pg_cluster::TempCluster;
use tokio::runtime::Runtime;

use super::kill::Tally;
use super::procs::{Bin, Platform};
use super::terminal::{self, Audit, Inputs, SaleEnd, Terminal};
use super::ReliabilityArgs;

pub fn run(rt: &Runtime, bin: &Bin, args: &ReliabilityArgs) -> Result<Vec<String>> {
    let receipts = args.pick(args.pg_receipts, 600, 30);
    let n = 2;
    say!("pg: {receipts} sales on {n} terminals against the platform on PostgreSQL, restarted a third of the way in");
    let tmp = tempfile::tempdir().context("temp dir")?;
    let cluster = TempCluster::start().context("PostgreSQL (scripts/install-deps)")?;
    let url = cluster.create_database("reliability")?;
    let data_dir = find_data_dir(&url)?;
    let data = tmp.path().join("platform");
    let mut platform = Platform::start(bin, &data, Some(&url), &tmp.path().join("serve.log"))?;
    let terminals: Vec<Terminal> = (0..n)
        .map(|i| {
            let id = format!("P{:07}", i + 1);
            terminal::enrol(bin, &platform, &id, &tmp.path().join(&id))
        })
        .collect::<Result<_>>()?;
    let inputs = Inputs::write(tmp.path())?;

    // Each sale: when it ended (after the start) and how.
    let ends: Mutex<Vec<(Duration, SaleEnd)>> = Mutex::default();
    let tally = Mutex::new(Tally::default());
    let started = Instant::now();
    let restart: Result<(Duration, Duration)> = std::thread::scope(|s| {
        let sellers: Vec<_> = terminals
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let (ends, tally, inputs) = (&ends, &tally, &inputs);
                s.spawn(move || -> Result<()> {
                    for _ in 0..receipts / n + usize::from(i < receipts % n) {
                        let sale = t.sell(bin, inputs, None, false)?;
                        tally.lock().unwrap_or_else(std::sync::PoisonError::into_inner).add(&sale);
                        ends.lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .push((started.elapsed(), sale.end));
                    }
                    Ok(())
                })
            })
            .collect();
        // A third of the way in, restart PostgreSQL.
        while ends.lock().unwrap_or_else(std::sync::PoisonError::into_inner).len() < receipts / 3
            && !sellers.iter().all(|h| h.is_finished())
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        let down_at = started.elapsed();
        pg_ctl(&data_dir, &["restart", "-m", "fast", "-w", "-t", "60"])?;
        let up_at = started.elapsed();
        for h in sellers {
            h.join().map_err(|_| anyhow::anyhow!("a seller panicked"))??;
        }
        Ok((down_at, up_at))
    });
    let (down_at, up_at) = restart?;
    let mut broken = Vec::new();
    if !platform.still_running() {
        broken.push(format!("the platform exited after the database restart:\n{}", platform.log_tail(20)));
        platform.restart()?;
    }
    let ends = ends.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    let failed: Vec<Duration> = ends.iter().filter(|(_, e)| *e != SaleEnd::Uploaded).map(|(t, _)| *t).collect();
    let first_after = ends.iter().filter(|(t, e)| *t > up_at && *e == SaleEnd::Uploaded).map(|(t, _)| *t).min();
    let drained = Instant::now();
    broken.extend(terminal::drain_all(bin, &terminals, 300)?);
    let drain_time = drained.elapsed();
    let audit = Audit::run(rt, bin, &platform, &terminals, false)?;

    say!(
        "  restart      PostgreSQL stopped at {:.1} s and accepted connections again at {:.1} s ({:.1} s down)",
        down_at.as_secs_f64(),
        up_at.as_secs_f64(),
        (up_at - down_at).as_secs_f64()
    );
    match (failed.first(), failed.last()) {
        (Some(a), Some(b)) => say!(
            "  failing      {} sales could not upload at once, between {:.1} s and {:.1} s ({:.1} s)",
            failed.len(),
            a.as_secs_f64(),
            b.as_secs_f64(),
            (*b - *a).as_secs_f64()
        ),
        _ => say!("  failing      no sale failed to upload at once"),
    }
    match first_after {
        Some(t) => say!(
            "  recovered    first sale uploaded at once {:.1} s after PostgreSQL was back",
            (t - up_at).as_secs_f64()
        ),
        None => broken.push("no sale uploaded at once after PostgreSQL was back".into()),
    }
    tally.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner).print();
    say!(
        "  drain        {:.1} s; the platform process was never restarted ({} start)",
        drain_time.as_secs_f64(),
        platform.starts
    );
    audit.print();
    broken.extend(audit.broken());
    drop(platform);
    drop(cluster);
    Ok(broken)
}

/// The data directory of the cluster serving `url`: the `ereceipt-pg-<our pid>-*` folder under
/// the temp dir whose `postmaster.pid` names the URL's port.
fn find_data_dir(url: &str) -> Result<PathBuf> {
    let port = url.rsplit_once(':').and_then(|(_, rest)| rest.split('/').next()).context("port in the URL")?;
    let prefix = format!("ereceipt-pg-{}-", std::process::id());
    for entry in std::fs::read_dir(std::env::temp_dir())? {
        let path = entry?.path();
        if !path.file_name().is_some_and(|n| n.to_string_lossy().starts_with(&prefix)) {
            continue;
        }
        let data = path.join("data");
        let pid_file = std::fs::read_to_string(data.join("postmaster.pid")).unwrap_or_default();
        if pid_file.lines().nth(3).map(str::trim) == Some(port) {
            return Ok(data);
        }
    }
    bail!("cannot find the data directory of the cluster on port {port}")
}

/// `pg_ctl ARGS -D DATA`, as the owner of DATA (the `postgres` user when we are root).
fn pg_ctl(data: &Path, args: &[&str]) -> Result<()> {
    let bin = newest_bin_dir().map(|d| d.join("pg_ctl")).unwrap_or_else(|| PathBuf::from("pg_ctl"));
    let log = data.with_file_name("restart.log");
    let mut cmd = if rustix::process::geteuid().is_root() {
        let (uid, gid) = owner(data)?;
        let mut c = Command::new("setpriv");
        c.args(["--reuid", &uid.to_string(), "--regid", &gid.to_string(), "--clear-groups", "--"]);
        c.arg(&bin);
        c
    } else {
        Command::new(&bin)
    };
    let mut full: Vec<OsString> = args.iter().map(OsString::from).collect();
    full.extend(["-D".into(), data.into(), "-l".into(), log.into()]);
    let out = cmd.args(&full).output().context("run pg_ctl")?;
    anyhow::ensure!(out.status.success(), "pg_ctl {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    Ok(())
}

fn owner(path: &Path) -> Result<(u32, u32)> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path)?;
    Ok((m.uid(), m.gid()))
}

/// `/usr/lib/postgresql/<highest>/bin`, Debian's layout.
fn newest_bin_dir() -> Option<PathBuf> {
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin): &(u32, PathBuf)| bin.join("pg_ctl").is_file())
        .collect();
    dirs.sort();
    dirs.pop().map(|(_, d)| d)
}
