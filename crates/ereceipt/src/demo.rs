//! `ereceipt demo`: the whole system on one machine, in one process: a platform (SQLite,
//! deliveries to a local outbox folder) and an enrolled test-card terminal serving its touch UI.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::{Context, Result};
use chrono::Utc;
use ereceipt_platform::app::App;
use ereceipt_platform::services::terminals::{self, Registration};
use ereceipt_platform::settings::Settings;
use ereceipt_terminal::device::Device;
use ereceipt_terminal::enrol;

use crate::files::{self, TerminalSettings};
use crate::platform::runtime;

const TERMINAL_ID: &str = "DEMO0001";

/// Runs the demo in `dir` (made on first use, reused after) until Ctrl-C.
pub fn run(dir: &Path, platform_port: u16, ui_port: u16) -> Result<()> {
    init_logs();
    runtime()?.block_on(serve(dir, platform_port, ui_port))
}

/// A merchant user for the demo terminal's merchant and an acquirer user; their passwords and
/// TOTP secrets (for an authenticator app) go to `path`, readable by the owner only.
async fn demo_staff(state: &ereceipt_platform::web::state::SharedState, path: &Path) -> Result<()> {
    let mut text = String::from(
        "Demo portal users. Sign in at /staff/login with the password and the 6-digit code of an\n\
         authenticator app (add the TOTP secret or scan the otpauth URI).\n\n",
    );
    for (username, role, merchant) in
        [("demo.shop", "merchant", Some("898440358120001")), ("demo.bank", "acquirer", None)]
    {
        if state.store.account(username).await?.is_some() {
            continue; // made by an earlier run whose staff.txt was removed
        }
        let u = ereceipt_platform::services::staff::NewUser {
            username: username.into(),
            role: role.into(),
            merchant_id: merchant.map(str::to_owned),
            password: None,
        };
        let c = ereceipt_platform::services::staff::add(&state.store, &state.keys, &u, Utc::now().timestamp_millis())
            .await
            .with_context(|| format!("creating the demo user {username}"))?;
        text.push_str(&format!(
            "{username} ({role})\n  password     {}\n  TOTP secret  {}\n  otpauth URI  {}\n\n",
            c.password.unwrap_or_default(),
            c.totp_secret,
            c.totp_uri
        ));
    }
    files::write_new(path, text.as_bytes(), true)
}

/// Quiet by default (the demo prints what matters); `EReceipt_LOG=info` shows everything.
fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("EReceipt_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,sqlx=warn,hyper=warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

/// The demo's operator: a client certificate for the admin API in `out`.
async fn demo_operator(state: &ereceipt_platform::web::state::SharedState, out: &Path) -> Result<()> {
    use ereceipt_platform::services::operators;
    let now = Utc::now();
    // A demo directory from an earlier run whose files were removed: start the operator afresh.
    let _ = operators::revoke(&state.store, "demo", "demo", now).await;
    let pair = operators::add(&state.store, &state.keys, "demo", "demo", now).await?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    std::fs::write(out.join("demo.key"), pair.key_pem().as_bytes())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(out.join("demo.key"), std::fs::Permissions::from_mode(0o600))?;
    }
    std::fs::write(out.join("demo.pem"), pair.cert_pem())?;
    std::fs::write(out.join("ca.pem"), state.keys.ca.cert_pem())?;
    Ok(())
}

async fn serve(dir: &Path, platform_port: u16, ui_port: u16) -> Result<()> {
    let pdir = dir.join("platform");
    let tdir = dir.join("terminal");
    std::fs::create_dir_all(&pdir).with_context(|| format!("cannot create {}", pdir.display()))?;
    let mut settings = Settings::load(&pdir)?;
    settings.listen = SocketAddr::from(([127, 0, 0, 1], platform_port));
    settings.json_logs = false;
    // Browsers get a listener of their own that never asks for a client certificate.
    settings.portal_listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
    // The demo always delivers to the local outbox folder, whatever the environment says.
    settings.delivery.smtp = None;
    settings.delivery.smpp = None;
    settings.delivery.mm7 = None;
    let outbox = settings.outbox_dir();
    let app = App::build(settings).await.context("the platform cannot start")?;
    let platform_url = format!("https://{}", app.local_addr());
    let admin_url = format!("https://{}", app.admin_addr());
    let portal_url = app.portal_addr().map_or_else(|| platform_url.clone(), |a| format!("https://{a}"));
    let state = app.state().clone();
    let (stop_platform, platform_stopped) = tokio::sync::oneshot::channel::<()>();
    let platform = tokio::spawn(app.run_until_stopped(async {
        let _ = platform_stopped.await;
    }));

    let device = Device::new(&tdir);
    if !device.is_enrolled() {
        let token = match state.store.terminal(TERMINAL_ID).await? {
            Some(_) => terminals::reissue_token(&state.store, &state.keys, TERMINAL_ID, 1, Utc::now()).await?,
            None => {
                let reg = Registration {
                    terminal_id: TERMINAL_ID.into(),
                    merchant_id: "898440358120001".into(),
                    merchant_name: "深圳湾咖啡 Shenzhen Bay Coffee".into(),
                    location: "深圳市南山区科技园科苑路15号; geo:22.543100,113.936500".into(),
                    // Test cards and the simulated acquirer: a test terminal.
                    mode: ereceipt_core::identity::TerminalMode::Test,
                };
                terminals::register(&state.store, &state.keys, &reg, 1, Utc::now()).await?
            }
        };
        enrol::enrol(&device, &platform_url, &token.token, Utc::now()).await.context("enrolling the demo terminal")?;
    }
    if !device.certificate()?.mode.is_test() {
        anyhow::bail!(
            "the demo terminal in {} is a production terminal (the directory was made by an ereceipt from \
             before terminal modes): the platform would refuse its test-card sales; remove {} to start afresh",
            tdir.display(),
            dir.display()
        );
    }
    if !tdir.join(files::TERMINAL_SETTINGS).exists() {
        TerminalSettings::new(ereceipt_core::render::slip::SlipWidth::W576).write(&tdir)?;
    }
    let operator_dir = dir.join("operator");
    if !operator_dir.join("demo.pem").exists() {
        demo_operator(&state, &operator_dir).await?;
    }
    let staff = dir.join("staff.txt");
    if !staff.exists() {
        demo_staff(&state, &staff).await?;
    }
    let ui = crate::terminal::ui_app(&tdir, SocketAddr::from(([127, 0, 0, 1], ui_port)), true).await?;
    say!("ereceipt demo: a platform and terminal {TERMINAL_ID} on this machine (test cards, simulated acquirer)");
    say!();
    say!("  terminal UI      {}", ui.url());
    say!("  platform portal  {portal_url}/   (customers' pull login: {portal_url}/pull)");
    say!("  deliveries       {}   (emails as .eml, SMS and MMS logs)", outbox.display());
    say!("  platform CA      {}   (ereceipt verify RECEIPT.png --trust this file)", pdir.join("ca.pem").display());
    say!(
        "  admin API        {admin_url}   (operator certificate and key: {}/demo.pem, demo.key)",
        operator_dir.display()
    );
    say!("  staff sign-in    {portal_url}/staff/login   (merchant and acquirer users: {})", staff.display());
    say!("  data             {}", dir.display());
    say!();
    say!("Open the terminal UI, key an amount, press TEST CARD, sign, choose email. Ctrl-C stops.");
    ui.run_until_stopped(crate::platform::shutdown_signal()).await;
    let _ = stop_platform.send(());
    platform.await.context("the platform task")?;
    say!("demo stopped; its data stays in {} (run the demo again to continue)", dir.display());
    Ok(())
}
