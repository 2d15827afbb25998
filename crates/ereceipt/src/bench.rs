//! `ereceipt bench upload`: a load generator for full ingest (TLS with client certificates,
//! HPKE open, signature + chain + watermark verification, store, signed acknowledgement) from
//! N concurrent enrolled terminals against an in-process platform on loopback.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::Utc;
use clap::Subcommand;
use ereceipt_core::card::CardPolicy;
use ereceipt_core::compose::{build_record, compose_receipt, Sale};
use ereceipt_core::identity::{CertifiedKey, Signer};
use ereceipt_core::model::ChainLink;
use ereceipt_core::render::slip::SlipWidth;
use ereceipt_core::samples;
use ereceipt_core::txjson::parse_transaction;
use ereceipt_core::upload::{Envelope, Payload};
use ereceipt_platform::app::App;
use ereceipt_platform::services::terminals::{self, Registration};
use ereceipt_platform::settings::Settings;
use ereceipt_terminal::client::PlatformClient;
use ereceipt_terminal::device::Device;

use crate::files;
use crate::platform::runtime;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Upload M receipts from each of N terminals; report receipts/s and latency percentiles.
    Upload {
        #[arg(long, default_value_t = 8)]
        terminals: usize,
        #[arg(long, default_value_t = 125)]
        receipts: usize,
        /// Open loop: offer this many receipts per second in total (default: closed loop, as
        /// fast as the platform acknowledges).
        #[arg(long)]
        rate: Option<f64>,
        /// Store on this PostgreSQL database instead of a fresh SQLite file.
        #[arg(long)]
        database_url: Option<String>,
        /// Start a throwaway PostgreSQL cluster and store there.
        #[arg(long)]
        postgres: bool,
        /// Also deliver every receipt by email and report the delay from acknowledgement to
        /// the SMTP server accepting it: `local` (the outbox folder) or `smtp://HOST:PORT` (a
        /// relay without TLS on loopback, e.g. the tests' aiosmtpd).
        #[arg(long, value_name = "local|smtp://HOST:PORT")]
        deliver: Option<String>,
    },
}

pub fn run(cmd: BenchCommand) -> Result<()> {
    let BenchCommand::Upload { terminals, receipts, rate, database_url, postgres, deliver } = cmd;
    runtime()?.block_on(upload(terminals.max(1), receipts.max(1), rate, database_url, postgres, deliver))
}

struct Loaded {
    client: PlatformClient,
    terminal_id: String,
    envelopes: Vec<(String, Payload)>,
}

async fn upload(
    n: usize,
    m: usize,
    rate: Option<f64>,
    database_url: Option<String>,
    postgres: bool,
    deliver: Option<String>,
) -> Result<()> {
    let dir = tempfile::tempdir().context("temp dir")?;
    let cluster = if postgres { Some(ereceipt_platform::pg_cluster::TempCluster::start()?) } else { None };
    let mut settings = Settings::load_with_env(dir.path(), std::iter::empty())?;
    settings.listen = "127.0.0.1:0".parse()?;
    if let Some(url) = database_url {
        settings.database_url = Some(url);
    } else if let Some(c) = &cluster {
        settings.database_url = Some(c.create_database("bench")?);
    }
    let backend = if settings.database_url().starts_with("postgres") { "PostgreSQL" } else { "SQLite" };
    match deliver.as_deref() {
        None | Some("local") => {}
        Some(relay) => {
            let (host, port) = relay
                .strip_prefix("smtp://")
                .and_then(|hp| hp.rsplit_once(':'))
                .context("--deliver: local or smtp://HOST:PORT")?;
            settings.delivery.smtp = Some(ereceipt_platform::infra::delivery::email::SmtpSettings {
                host: host.to_owned(),
                port: port.parse().context("--deliver: port")?,
                tls: ereceipt_platform::infra::delivery::email::TlsMode::None,
                username: None,
                password: None,
                from: "ereceipt bench <bench@localhost>".into(),
                timeout_secs: 30,
                extra_ca_pem: None,
            });
        }
    }
    let with_delivery = deliver.is_some();
    // The platform runs on its own runtime with named threads, so its CPU time can be told
    // apart from the load generator's, which shares the machine.
    let platform_rt = tokio::runtime::Builder::new_multi_thread()
        .thread_name("platform")
        // Idle blocking threads would exit and take their CPU time with them from /proc.
        .thread_keep_alive(Duration::from_secs(3600))
        .enable_all()
        .build()
        .context("platform runtime")?;
    let app = platform_rt.spawn(App::build(settings)).await.context("platform start")??;
    let url = format!("https://{}", app.local_addr());
    let state = app.state().clone();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = platform_rt.spawn(app.run_until_stopped(async {
        let _ = stop_rx.await;
    }));
    eprintln!("platform on {url} ({backend}); enrolling {n} terminals and composing {} receipts…", n * m);

    let fonts = Arc::new(files::load_fonts(None)?);
    let hpke = state.keys.hpke.public_bytes();
    let mut loaded = Vec::new();
    let mut tdirs = Vec::new();
    for i in 0..n {
        let tid = format!("B{:07}", i + 1);
        let reg = Registration {
            terminal_id: tid.clone(),
            merchant_id: "104110070110001".into(),
            merchant_name: "Bench Books".into(),
            location: "1 Bench St; geo:22.28,114.16".into(),
        };
        let token = terminals::register(&state.store, &state.keys, &reg, 1, Utc::now()).await?.token;
        let tdir = tempfile::tempdir()?;
        let device = Device::new(tdir.path());
        ereceipt_terminal::enrol::enrol(&device, &url, &token, Utc::now()).await?;
        let identity = device.identity()?;
        let fonts = fonts.clone();
        let id2 = CertifiedKey::from_pem(&identity.cert_pem(), &identity.key_pem())?;
        let envelopes = tokio::task::spawn_blocking(move || compose_many(&id2, &fonts, m, i as u64, with_delivery))
            .await
            .context("compose")??;
        loaded.push(Loaded {
            client: PlatformClient::new(&url, &device.ca_der()?, Some(&identity))?,
            terminal_id: tid,
            envelopes,
        });
        tdirs.push(tdir);
    }

    eprintln!("uploading…");
    let cpu_before = thread_cpu_ticks();
    let started = Instant::now();
    let mut latencies = match rate {
        None => closed_loop(loaded, hpke).await?,
        Some(r) => open_loop(loaded, hpke, r).await?,
    };
    let wall = started.elapsed();
    let cpu_after = thread_cpu_ticks();
    let mut delivery_delays = Vec::new();
    if with_delivery {
        let deadline = Instant::now() + Duration::from_secs(300);
        while state.store.deliveries_pending().await? > 0 {
            if Instant::now() > deadline {
                anyhow::bail!("deliveries still pending after 5 minutes");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        delivery_delays = state.store.delivery_delays_ms().await?;
    }
    let stored = state.store.receipt_count().await?;
    let _ = stop_tx.send(());
    let _ = server.await;
    platform_rt.shutdown_background();

    latencies.sort_unstable();
    let pct = |p: f64| {
        let i = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies.get(i).copied().unwrap_or_default().as_secs_f64() * 1000.0
    };
    say!("backend        {backend}");
    say!("terminals      {n}");
    say!("receipts       {} uploaded, {stored} stored", latencies.len());
    match rate {
        Some(r) => say!("offered rate   {r:.0}/s (open loop)"),
        None => say!("mode           closed loop (each terminal uploads as fast as acknowledged)"),
    }
    say!("throughput     {:.0} receipts/s", latencies.len() as f64 / wall.as_secs_f64());
    say!(
        "latency        p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        pct(0.5),
        pct(0.9),
        pct(0.99),
        pct(1.0)
    );
    if with_delivery {
        delivery_delays.sort_unstable();
        let pick = |p: f64| {
            let i = ((delivery_delays.len() as f64 - 1.0) * p).round() as usize;
            delivery_delays.get(i).copied().unwrap_or_default()
        };
        say!(
            "delivery       {} emails sent; acknowledgement → accepted by the relay: p50 {} ms, p99 {} ms, max {} ms",
            delivery_delays.len(),
            pick(0.5),
            pick(0.99),
            pick(1.0)
        );
    }
    if let (Some((p0, a0)), Some((p1, a1))) = (cpu_before, cpu_after) {
        // Clock ticks are 1/100 s on Linux.
        let platform_ms = (p1 - p0) as f64 * 10.0 / latencies.len() as f64;
        let all_ms = (a1 - a0) as f64 * 10.0 / latencies.len() as f64;
        say!(
            "cpu/receipt    platform {platform_ms:.2} ms, whole process {all_ms:.2} ms (platform alone: ~{:.0} receipts/s per core)",
            1000.0 / platform_ms.max(0.001)
        );
    }
    if stored as usize != latencies.len() {
        anyhow::bail!("stored {stored} receipts but {} were acknowledged", latencies.len());
    }
    Ok(())
}

fn compose_many(
    identity: &CertifiedKey,
    fonts: &ereceipt_core::render::slip::Fonts,
    m: usize,
    seed: u64,
    with_delivery: bool,
) -> Result<Vec<(String, Payload)>> {
    let signer = Signer::new(identity)?;
    let policy = CardPolicy { accept_clear_tracks: true, allow_chip_fallback: false };
    let mut previous = [0u8; 32];
    let mut out = Vec::with_capacity(m);
    let time = Utc::now().to_rfc3339();
    for k in 0..m {
        let (mut tx, _) = parse_transaction(&samples::transaction_json(seed * 1_000_003 + k as u64, &time), &policy)?;
        tx.serial = ereceipt_core::model::Stan::new(k as u32 + 1)?;
        let chain = Some(ChainLink { sequence: k as u64 + 1, previous });
        let record = build_record(Sale { transaction: tx, signature: samples::signature(k as u64), chain }, &signer)?;
        let r = compose_receipt(record, &signer, fonts, SlipWidth::W576)?;
        previous = r.record_hash;
        out.push((
            r.record.id.to_string(),
            Payload {
                record: r.record_bytes,
                png: r.png,
                delivery: with_delivery.then(|| format!("email:customer{k}@example.com")),
            },
        ));
    }
    Ok(out)
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
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.context("uploader task")??);
    }
    Ok(all)
}

/// Offers receipts at a fixed total rate; latency counts from the scheduled send time, so a
/// slow platform cannot hide queueing (no coordinated omission). Each terminal still uploads
/// its own receipts in order, one at a time, as a real terminal does.
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
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.context("uploader task")??);
    }
    Ok(all)
}

/// CPU clock ticks (user + system) of this process's threads named `platform*` (from
/// `/proc/self/task/*/stat`), and of the whole process including threads that ended (from
/// `/proc/self/stat`); Linux only, `None` elsewhere.
fn thread_cpu_ticks() -> Option<(u64, u64)> {
    let mut platform = 0;
    let fields_of = |stat: &str| -> u64 {
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let f: Vec<&str> = rest.split_whitespace().collect();
        f.get(11).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0)
            + f.get(12).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0)
    };
    let all = fields_of(&std::fs::read_to_string("/proc/self/stat").ok()?);
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let path = task.ok()?.path();
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if comm.starts_with("platform") {
            // Fields after the parenthesised name: utime and stime are the 12th and 13th.
            platform += fields_of(&std::fs::read_to_string(path.join("stat")).unwrap_or_default());
        }
    }
    Some((platform, all))
}
