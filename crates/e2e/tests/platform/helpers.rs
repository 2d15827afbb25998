//! Test harness: a real platform (HTTPS, mTLS, SQLite or PostgreSQL) on a random loopback port,
//! real terminals enrolled with it, the receipt fonts, polling, and the platform's log on
//! the test output when `TEST_LOG` is set (a failing test's "see the platform log" is then readable).

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use chrono::Utc;
use ereceipt_core::card::CardPolicy;
use ereceipt_core::compose::ComposedReceipt;
use ereceipt_core::identity::{Signer, TerminalMode};
use ereceipt_core::render::slip::{Fonts, SlipWidth};
use ereceipt_core::samples;
use ereceipt_core::txjson::parse_transaction;
use ereceipt_platform::app::App;
use ereceipt_platform::services::operators;
use ereceipt_platform::services::terminals::{self, Registration};
use ereceipt_platform::settings::Settings;
use ereceipt_platform::web::state::SharedState;
use ereceipt_terminal::device::Device;
use ereceipt_terminal::enrol;
use ereceipt_terminal::sale::record_sale;
use ereceipt_terminal::sync::Uploader;
use ereceipt_test_peers::pg_cluster::TempCluster;
use tempfile::TempDir;
use tokio::sync::oneshot;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

static CLUSTER: OnceLock<TempCluster> = OnceLock::new();
static DB_COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

fn postgres_url() -> String {
    let cluster = CLUSTER.get_or_init(|| TempCluster::start().expect("PostgreSQL for tests (scripts/install-deps)"));
    let n = DB_COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    cluster.create_database(&format!("api_{}_{n}", std::process::id())).unwrap()
}

/// The touch UI as the demo runs it for `device`: clear test cards, the simulator, CNY in
/// China's zone, operator 01, on a free loopback port.
pub fn demo_ui(device: Device) -> ereceipt_terminal::ui::UiConfig {
    ereceipt_terminal::ui::UiConfig {
        device,
        listen: "127.0.0.1:0".parse().unwrap(),
        demo: true,
        policy: CardPolicy { accept_clear_tracks: true, allow_chip_fallback: false },
        width: SlipWidth::W576,
        fonts: fonts(),
        currency: "CNY".parse().unwrap(),
        operator: Some("01".parse().unwrap()),
        authoriser: Arc::new(ereceipt_terminal::ui::SimulatedAuthoriser),
        capture: ereceipt_core::signature::CaptureConfig::default(),
        zone: ereceipt_terminal::settings::TerminalZone::Iana("Asia/Shanghai".parse().unwrap()),
    }
}

pub fn fonts() -> Arc<Fonts> {
    static FONTS: OnceLock<Arc<Fonts>> = OnceLock::new();
    FONTS
        .get_or_init(|| {
            let path = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc";
            let bytes = std::fs::read(path).unwrap_or_else(|_| panic!("{path} missing: run scripts/install-deps"));
            Arc::new(Fonts::from_bytes(vec![("wqy-microhei".into(), bytes, 0)]).unwrap())
        })
        .clone()
}

/// The platform's tracing output in the test's output (as `ereceipt platform serve` logs), once per test
/// binary, when `TEST_LOG` is set: `TEST_LOG=1` for the default filter, or a filter such as
/// `TEST_LOG=ereceipt_platform=debug`. Off by default, so passing runs stay quiet.
fn init_test_log() {
    static LOG: OnceLock<()> = OnceLock::new();
    LOG.get_or_init(|| {
        let Ok(filter) = std::env::var("TEST_LOG") else { return };
        let filter = if filter == "1" { "info,sqlx=warn,hyper=warn".to_owned() } else { filter };
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    });
}

/// Waits until `done` holds, checking every 20 ms, and fails the test naming `what` after
/// `limit`: the platform works in the background, so tests poll instead of sleeping.
pub async fn poll_until(limit: std::time::Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    while !done() {
        assert!(std::time::Instant::now() < deadline, "timed out after {limit:?} waiting for {what}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

pub struct TestPlatform {
    pub addr: SocketAddr,
    pub url: String,
    pub dir: Arc<TempDir>,
    pub database_url: String,
    pub state: SharedState,
    /// The browser-only listener, when `portal_listen` is set.
    pub portal_url: Option<String>,
    /// The admin listener (operators' client certificates only).
    pub admin_url: String,
    /// A client with the certificate of an operator made at start, for the admin API.
    admin: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestPlatform {
    pub async fn start(db: Db) -> Self {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        let database_url = match db {
            Db::Sqlite => format!("sqlite://{}", dir.path().join("platform.db").display()),
            Db::Postgres => postgres_url(),
        };
        Self::start_on(dir, database_url, "127.0.0.1:0".parse().unwrap(), 1 << 20).await
    }

    /// A platform on SQLite whose settings `configure` changes first (delivery servers …).
    pub async fn start_with(configure: impl FnOnce(&mut Settings)) -> Self {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        let database_url = format!("sqlite://{}", dir.path().join("platform.db").display());
        Self::start_configured(dir, database_url, "127.0.0.1:0".parse().unwrap(), 1 << 20, configure).await
    }

    pub async fn start_on(dir: Arc<TempDir>, database_url: String, listen: SocketAddr, max_upload: usize) -> Self {
        Self::start_configured(dir, database_url, listen, max_upload, |_| {}).await
    }

    async fn start_configured(
        dir: Arc<TempDir>,
        database_url: String,
        listen: SocketAddr,
        max_upload: usize,
        configure: impl FnOnce(&mut Settings),
    ) -> Self {
        init_test_log();
        let mut settings = Settings::load_with_env(dir.path(), []).unwrap();
        settings.listen = listen;
        settings.database_url = Some(database_url.clone());
        settings.max_upload_bytes = max_upload;
        configure(&mut settings);
        let app = App::build(settings).await.unwrap();
        let addr = app.local_addr();
        let portal_url = app.portal_addr().map(|a| format!("https://{a}"));
        let admin_url = format!("https://{}", app.admin_addr());
        let state = app.state().clone();
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(app.run_until_stopped(async {
            let _ = rx.await;
        }));
        static OPERATORS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let name = format!("tester-{}", OPERATORS.fetch_add(1, std::sync::atomic::Ordering::SeqCst));
        let pair = operators::add(&state.store, &state.keys, &name, "e2e", Utc::now()).await.unwrap();
        let admin = client_with(&state.keys.ca.cert_der, Some(&pair)).build().unwrap();
        Self {
            addr,
            url: format!("https://{addr}"),
            dir,
            database_url,
            state,
            portal_url,
            admin_url,
            admin,
            stop: Some(tx),
            task: Some(task),
        }
    }

    /// Stops serving and waits until the port is closed.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap();
        }
    }

    /// Starts again on the same port, data directory and database.
    pub async fn restart(&mut self) {
        self.stop().await;
        *self = Self::start_on(self.dir.clone(), self.database_url.clone(), self.addr, 1 << 20).await;
    }

    pub async fn register(&self, terminal_id: &str) -> String {
        self.register_for(terminal_id, "104110070110001", "Harbour Books 海港书店").await
    }

    /// Registers a test terminal of the given merchant (the harness sells with clear test-card
    /// tracks, which only test terminals may); returns its enrolment token.
    pub async fn register_for(&self, terminal_id: &str, merchant_id: &str, merchant_name: &str) -> String {
        self.register_in(terminal_id, merchant_id, merchant_name, TerminalMode::Test).await
    }

    /// Registers a terminal of the given merchant in `mode`; returns its enrolment token.
    pub async fn register_in(
        &self,
        terminal_id: &str,
        merchant_id: &str,
        merchant_name: &str,
        mode: TerminalMode,
    ) -> String {
        let reg = Registration {
            terminal_id: terminal_id.into(),
            merchant_id: merchant_id.into(),
            merchant_name: merchant_name.into(),
            location: "1 Quay St, Hong Kong; geo:22.2855,114.1577".into(),
            mode,
        };
        terminals::register(&self.state.store, &self.state.keys, &reg, 24, Utc::now()).await.unwrap().token
    }

    /// A registered and enrolled production terminal.
    pub async fn production_terminal(&self, terminal_id: &str) -> TestTerminal {
        let token =
            self.register_in(terminal_id, "104110070110001", "Harbour Books 海港书店", TerminalMode::Production).await;
        self.enrolled(&token).await
    }

    pub fn admin_token(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("admin.token")).unwrap().trim().to_string()
    }

    pub fn ca_der(&self) -> Vec<u8> {
        self.state.keys.ca.cert_der.clone()
    }

    /// A registered and enrolled terminal.
    pub async fn terminal(&self, terminal_id: &str) -> TestTerminal {
        let token = self.register(terminal_id).await;
        self.enrolled(&token).await
    }

    /// A registered and enrolled terminal of the given merchant.
    pub async fn terminal_for(&self, terminal_id: &str, merchant_id: &str, merchant_name: &str) -> TestTerminal {
        let token = self.register_for(terminal_id, merchant_id, merchant_name).await;
        self.enrolled(&token).await
    }

    /// A terminal enrolled with `token` in a fresh data directory (a new phone).
    pub async fn enrolled(&self, token: &str) -> TestTerminal {
        let dir = tempfile::tempdir().unwrap();
        let device = Device::new(dir.path());
        enrol::enrol(&device, &self.url, token, Utc::now()).await.unwrap();
        let uploader = Uploader::open(&device).await.unwrap();
        TestTerminal { _dir: dir, device, uploader, seed: 0 }
    }

    /// `GET path`: an admin path on the admin listener as the operator made at start, any other
    /// (the query API) on the main listener with the query token.
    pub async fn admin_get(&self, path: &str) -> reqwest::Response {
        if path.starts_with("/api/v1/admin") {
            self.admin.get(format!("{}{path}", self.admin_url)).send().await.unwrap()
        } else {
            self.anonymous_client()
                .get(format!("{}{path}", self.url))
                .bearer_auth(self.admin_token())
                .send()
                .await
                .unwrap()
        }
    }

    /// [`Self::admin_get`] as JSON.
    pub async fn admin_json(&self, path: &str) -> serde_json::Value {
        self.admin_get(path).await.json().await.unwrap()
    }

    /// `POST path` on the admin listener with a JSON body, as the operator made at start.
    pub async fn admin_post(&self, path: &str, body: serde_json::Value) -> reqwest::Response {
        self.admin.post(format!("{}{path}", self.admin_url)).json(&body).send().await.unwrap()
    }

    /// An HTTPS client trusting the platform CA and presenting `identity`'s certificate.
    pub fn client_as(&self, identity: &ereceipt_core::identity::CertifiedKey) -> reqwest::Client {
        client_with(&self.ca_der(), Some(identity)).build().unwrap()
    }

    /// An HTTPS client trusting the platform CA, without a client certificate.
    pub fn anonymous_client(&self) -> reqwest::Client {
        self.client_builder().build().unwrap()
    }

    /// The builder of [`Self::anonymous_client`], for clients that need more (no redirects).
    pub fn client_builder(&self) -> reqwest::ClientBuilder {
        client_with(&self.ca_der(), None)
    }
}

/// A client builder trusting `ca_der`, presenting `identity`'s certificate when given.
fn client_with(ca_der: &[u8], identity: Option<&ereceipt_core::identity::CertifiedKey>) -> reqwest::ClientBuilder {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(rustls::pki_types::CertificateDer::from(ca_der.to_vec())).unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match identity {
        Some(id) => builder
            .with_client_auth_cert(
                vec![rustls::pki_types::CertificateDer::from(id.cert_der.clone())],
                rustls::pki_types::PrivateKeyDer::Pkcs8(id.key_pkcs8.to_vec().into()),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    reqwest::Client::builder().use_preconfigured_tls(config)
}

pub struct TestTerminal {
    _dir: TempDir,
    pub device: Device,
    pub uploader: Uploader,
    seed: u64,
}

impl TestTerminal {
    /// Makes a sale now and stores it in the outbox (no upload).
    pub async fn sale(&mut self) -> ComposedReceipt {
        self.sale_to(None).await
    }

    /// A sale whose customer chose `delivery` (e.g. `email:li.na@example.com`).
    pub async fn sale_to(&mut self, delivery: Option<&str>) -> ComposedReceipt {
        self.sale_dated(Utc::now(), delivery).await
    }

    /// A sale stamped `at`, whatever the clock says (what a thief with the key can do).
    pub async fn sale_dated(&mut self, at: chrono::DateTime<Utc>, delivery: Option<&str>) -> ComposedReceipt {
        self.sale_edited(at, delivery, |_| {}).await
    }

    /// A sale whose transaction `edit` changes before it is signed (what a modified terminal
    /// can sign: the platform must judge it by the terminal's certificate, not by its claims).
    pub async fn sale_edited(
        &mut self,
        at: chrono::DateTime<Utc>,
        delivery: Option<&str>,
        edit: impl FnOnce(&mut ereceipt_core::model::Transaction),
    ) -> ComposedReceipt {
        self.seed += 1;
        let time = at.with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap()).to_rfc3339();
        let policy = CardPolicy { accept_clear_tracks: true, allow_chip_fallback: false };
        let (mut tx, _) = parse_transaction(&samples::transaction_json(self.seed, &time), &policy).unwrap();
        edit(&mut tx);
        let signer = Signer::new(&self.device.identity().unwrap()).unwrap();
        let delivery = delivery.map(str::to_owned);
        record_sale(
            &self.uploader.outbox,
            &signer,
            &fonts(),
            SlipWidth::W576,
            tx,
            samples::signature(self.seed),
            delivery,
        )
        .await
        .unwrap()
    }

    pub fn terminal_id(&self) -> String {
        self.device.certificate().unwrap().terminal.terminal_id.to_string()
    }
}

/// Where the browser tests save their screenshots: `docs/screenshots` (the README's) when
/// `EReceipt_UPDATE_SCREENSHOTS=1`, otherwise under cargo's scratch directory, so a test run
/// does not rewrite tracked files.
pub fn screenshot_dir() -> std::path::PathBuf {
    let dir = if std::env::var("EReceipt_UPDATE_SCREENSHOTS").is_ok_and(|v| v == "1") {
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots")
    } else {
        std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots")
    };
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
