//! The timed part: every terminal uploads its receipts in order, one at a time as a real
//! terminal does, either as fast as acknowledged (closed loop) or at a fixed total rate (open
//! loop); the run records each upload's latency, the wall time and the CPU time spent.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use ereceipt_core::upload::{Envelope, Payload};
use ereceipt_terminal::client::PlatformClient;
use tempfile::TempDir;

/// One enrolled terminal and its receipts, composed before the clock starts.
pub struct Loaded {
    pub client: PlatformClient,
    pub terminal_id: String,
    /// (receipt id, payload) in chain order.
    pub envelopes: Vec<(String, Payload)>,
    /// The terminal's data directory, kept while it uploads.
    pub _dir: TempDir,
}

/// What one run measured.
pub struct Run {
    /// One per acknowledged upload, sorted.
    pub latencies: Vec<Duration>,
    pub wall: Duration,
    /// CPU ticks before and after, as [`cpu_ticks`] reads them.
    pub cpu: Option<((u64, u64), (u64, u64))>,
    /// Every receipt offered.
    pub receipt_ids: Vec<String>,
}

/// Offers every terminal's receipts, closed loop or at `rate` receipts/s in total.
pub async fn offer(loaded: Vec<Loaded>, hpke: [u8; 32], rate: Option<f64>) -> Result<Run> {
    let receipt_ids = loaded.iter().flat_map(|l| l.envelopes.iter().map(|(id, _)| id.clone())).collect();
    let cpu_before = cpu_ticks();
    let started = Instant::now();
    let mut latencies = match rate {
        None => closed_loop(loaded, hpke).await?,
        Some(r) => open_loop(loaded, hpke, r).await?,
    };
    let wall = started.elapsed();
    let cpu = cpu_before.zip(cpu_ticks());
    latencies.sort_unstable();
    Ok(Run { latencies, wall, cpu, receipt_ids })
}

async fn upload_one(client: &PlatformClient, tid: &str, id: &str, payload: &Payload, hpke: &[u8; 32]) -> Result<()> {
    let env = Envelope::seal(payload, tid, id, hpke)?;
    client.upload(env.to_bytes()).await.with_context(|| format!("upload {id}"))?;
    Ok(())
}

async fn closed_loop(loaded: Vec<Loaded>, hpke: [u8; 32]) -> Result<Vec<Duration>> {
    let mut tasks = Vec::new();
    for l in loaded {
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(l.envelopes.len());
            for (id, payload) in &l.envelopes {
                let t = Instant::now();
                upload_one(&l.client, &l.terminal_id, id, payload, &hpke).await?;
                lat.push(t.elapsed());
            }
            anyhow::Ok(lat)
        }));
    }
    collect(tasks).await
}

/// Offers receipts at a fixed total rate; latency counts from the scheduled send time, so a
/// slow platform cannot hide queueing (no coordinated omission).
async fn open_loop(loaded: Vec<Loaded>, hpke: [u8; 32], rate: f64) -> Result<Vec<Duration>> {
    let n = loaded.len();
    let interval = Duration::from_secs_f64(n as f64 / rate.max(1.0));
    let start = Instant::now() + Duration::from_millis(50);
    let mut tasks = Vec::new();
    for (i, l) in loaded.into_iter().enumerate() {
        let offset = interval.mul_f64(i as f64 / n as f64);
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(l.envelopes.len());
            for (k, (id, payload)) in l.envelopes.iter().enumerate() {
                let due = start + offset + interval * k as u32;
                tokio::time::sleep_until(due.into()).await;
                upload_one(&l.client, &l.terminal_id, id, payload, &hpke).await?;
                lat.push(due.elapsed());
            }
            anyhow::Ok(lat)
        }));
    }
    collect(tasks).await
}

async fn collect(tasks: Vec<tokio::task::JoinHandle<Result<Vec<Duration>>>>) -> Result<Vec<Duration>> {
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.context("uploader task")??);
    }
    Ok(all)
}

/// CPU clock ticks (user + system) of this process's threads named `platform*` (from
/// `/proc/self/task/*/stat`), and of the whole process including threads that ended (from
/// `/proc/self/stat`); Linux only, `None` elsewhere.
fn cpu_ticks() -> Option<(u64, u64)> {
    // Fields after the parenthesised name: utime and stime are the 12th and 13th.
    let ticks_of = |stat: &str| -> u64 {
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let f: Vec<&str> = rest.split_whitespace().collect();
        f.get(11).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0)
            + f.get(12).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0)
    };
    let all = ticks_of(&std::fs::read_to_string("/proc/self/stat").ok()?);
    let mut platform = 0;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let path = task.ok()?.path();
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if comm.starts_with("platform") {
            platform += ticks_of(&std::fs::read_to_string(path.join("stat")).unwrap_or_default());
        }
    }
    Some((platform, all))
}
