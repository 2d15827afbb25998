//! The bench's setup: a platform on its own runtime (SQLite, a given PostgreSQL, or a throwaway
//! cluster), optionally delivering by email, and N terminals enrolled with it, each holding its
//! M receipts composed and signed before the clock starts.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::Utc;
use clap::Args;
use ereceipt_core::card::CardPolicy;
use ereceipt_core::compose::{build_record, compose_receipt, Sale};
use ereceipt_core::identity::{CertifiedKey, Signer};
use ereceipt_core::model::ChainLink;
use ereceipt_core::render::slip::{Fonts, SlipWidth, DEFAULT_FONT_PATHS};
use ereceipt_core::samples;
use ereceipt_core::txjson::parse_transaction;
use ereceipt_core::upload::Payload;
use ereceipt_platform::app::App;
use ereceipt_platform::domain::delivery::DeliveryStep;
use ereceipt_platform::infra::delivery::email::{SmtpSettings, TlsMode};
use ereceipt_platform::services::terminals::{self, Registration};
use ereceipt_platform::settings::Settings;
use ereceipt_platform::web::state::SharedState;
use ereceipt_terminal::client::PlatformClient;
use ereceipt_terminal::device::Device;
use ereceipt_test_peers::pg_cluster::TempCluster;
use tempfile::TempDir;

use crate::load::Loaded;

/// `ereceipt-bench upload`'s flags (the same as the former `ereceipt bench upload`).
#[derive(Args)]
pub struct UploadArgs {
    #[arg(long, default_value_t = 8)]
    pub terminals: usize,
    #[arg(long, default_value_t = 125)]
    pub receipts: usize,
    /// Open loop: offer this many receipts per second in total (default: closed loop, as
    /// fast as the platform acknowledges).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Store on this PostgreSQL database instead of a fresh SQLite file.
    #[arg(long)]
    pub database_url: Option<String>,
    /// Start a throwaway PostgreSQL cluster and store there.
    #[arg(long)]
    pub postgres: bool,
    /// Also deliver every receipt by email and report the delay from acknowledgement to
    /// the SMTP server accepting it: `local` (the outbox folder) or `smtp://HOST:PORT` (a
    /// relay without TLS on loopback, e.g. the tests' aiosmtpd).
    #[arg(long, value_name = "local|smtp://HOST:PORT")]
    pub deliver: Option<String>,
}

/// A running platform under test, and what the bench needs of it.
pub struct Bench {
    pub backend: &'static str,
    pub with_delivery: bool,
    url: String,
    state: SharedState,
    fonts: Arc<Fonts>,
    platform_rt: tokio::runtime::Runtime,
    server: tokio::task::JoinHandle<()>,
    stop: tokio::sync::oneshot::Sender<()>,
    // Dropped last: the platform's data directory and database.
    _cluster: Option<TempCluster>,
    _dir: TempDir,
}

impl Bench {
    /// Starts the platform as `args` say, on a runtime of threads named `platform*`.
    pub async fn start(args: &UploadArgs) -> Result<Bench> {
        let dir = tempfile::tempdir().context("temp dir")?;
        let cluster = if args.postgres { Some(TempCluster::start()?) } else { None };
        let mut settings = Settings::load_with_env(dir.path(), std::iter::empty())?;
        settings.listen = "127.0.0.1:0".parse()?;
        if let Some(url) = &args.database_url {
            settings.database_url = Some(url.clone());
        } else if let Some(c) = &cluster {
            settings.database_url = Some(c.create_database("bench")?);
        }
        let backend = if settings.database_url().starts_with("postgres") { "PostgreSQL" } else { "SQLite" };
        if let Some(relay) = args.deliver.as_deref().filter(|d| *d != "local") {
            settings.delivery.smtp = Some(smtp_relay(relay)?);
        }
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
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = platform_rt.spawn(app.run_until_stopped(async {
            let _ = stopped.await;
        }));
        eprintln!("platform on {url} ({backend})");
        Ok(Bench {
            backend,
            with_delivery: args.deliver.is_some(),
            url,
            state,
            fonts: Arc::new(load_fonts()?),
            platform_rt,
            server,
            stop,
            _cluster: cluster,
            _dir: dir,
        })
    }

    /// The platform's HPKE public key, which terminals seal uploads to.
    pub fn hpke(&self) -> [u8; 32] {
        self.state.keys.hpke.public_bytes()
    }

    /// Registers and enrols `n` terminals and composes `m` chained receipts for each.
    pub async fn load_terminals(&self, n: usize, m: usize) -> Result<Vec<Loaded>> {
        eprintln!("enrolling {n} terminals and composing {} receipts…", n * m);
        let mut loaded = Vec::with_capacity(n);
        for i in 0..n {
            let terminal_id = format!("B{:07}", i + 1);
            let reg = Registration {
                terminal_id: terminal_id.clone(),
                merchant_id: "104110070110001".into(),
                merchant_name: "Bench Books".into(),
                location: "1 Bench St; geo:22.28,114.16".into(),
                // The bench sells with clear test-card tracks.
                mode: ereceipt_core::identity::TerminalMode::Test,
            };
            let token = terminals::register(&self.state.store, &self.state.keys, &reg, 1, Utc::now()).await?.token;
            let dir = tempfile::tempdir()?;
            let device = Device::new(dir.path());
            ereceipt_terminal::enrol::enrol(&device, &self.url, &token, Utc::now()).await?;
            let identity = device.identity()?;
            let key = CertifiedKey::from_pem(&identity.cert_pem(), &identity.key_pem())?;
            let (fonts, with_delivery) = (self.fonts.clone(), self.with_delivery);
            let envelopes = tokio::task::spawn_blocking(move || compose_many(&key, &fonts, m, i as u64, with_delivery))
                .await
                .context("compose")??;
            let client = PlatformClient::new(&self.url, &device.ca_der()?, Some(&identity))?;
            loaded.push(Loaded { client, terminal_id, envelopes, _dir: dir });
        }
        Ok(loaded)
    }

    /// Waits (up to 5 minutes) until no delivery is pending, then returns, for each email sent,
    /// the milliseconds from the receipt being stored (and acknowledged) to the relay accepting
    /// it, read from the deliveries' histories as the portal shows them.
    pub async fn delivery_delays(&self, receipt_ids: &[String]) -> Result<Vec<i64>> {
        let deadline = std::time::Instant::now() + Duration::from_secs(300);
        while self.state.store.deliveries_pending().await? > 0 {
            anyhow::ensure!(std::time::Instant::now() < deadline, "deliveries still pending after 5 minutes");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut delays = Vec::with_capacity(receipt_ids.len());
        for id in receipt_ids {
            for (_, history) in self.state.store.deliveries_of(id).await? {
                // The queued event is stamped with the receipt's storing time.
                let queued = history.iter().find(|e| e.state == DeliveryStep::Queued).map(|e| e.at);
                let sent = history.iter().find(|e| e.state == DeliveryStep::Sent).map(|e| e.at);
                if let (Some(queued), Some(sent)) = (queued, sent) {
                    delays.push(sent - queued);
                }
            }
        }
        Ok(delays)
    }

    /// Stops the platform; returns how many receipts it stored.
    pub async fn stop(self) -> Result<i64> {
        let stored = self.state.store.receipt_count().await?;
        let _ = self.stop.send(());
        let _ = self.server.await;
        self.platform_rt.shutdown_background();
        Ok(stored)
    }
}

/// `smtp://HOST:PORT`: a relay on loopback without TLS or authentication.
fn smtp_relay(relay: &str) -> Result<SmtpSettings> {
    let (host, port) = relay
        .strip_prefix("smtp://")
        .and_then(|hp| hp.rsplit_once(':'))
        .context("--deliver: local or smtp://HOST:PORT")?;
    Ok(SmtpSettings {
        host: host.to_owned(),
        port: port.parse().context("--deliver: port")?,
        tls: TlsMode::None,
        username: None,
        password: None,
        from: "ereceipt bench <bench@localhost>".into(),
        timeout_secs: 30,
        extra_ca_pem: None,
    })
}

/// The first font of the usual system paths that exists (the `ereceipt` binary's default).
pub(crate) fn load_fonts() -> Result<Fonts> {
    for (path, index) in DEFAULT_FONT_PATHS {
        if let Ok(bytes) = std::fs::read(path) {
            return Fonts::from_bytes(vec![(path.to_string(), bytes, *index)])
                .with_context(|| format!("cannot use font {path}"));
        }
    }
    anyhow::bail!("no font covering Chinese found; install one with `apt-get install fonts-wqy-microhei`")
}

/// `m` receipts of one terminal, chained from sequence 1, each with its receipt id.
pub(crate) fn compose_many(
    identity: &CertifiedKey,
    fonts: &Fonts,
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
        let delivery = with_delivery.then(|| format!("email:customer{k}@example.com"));
        out.push((r.record.id.to_string(), Payload { record: r.record_bytes, png: r.png, delivery }));
    }
    Ok(out)
}
