//! `ereceipt platform …`: run the management platform and administer its terminals.

use std::net::SocketAddr;
use std::path::PathBuf;

mod operator;

use anyhow::{Context, Result};
use chrono::Utc;
use clap::{Args, Subcommand};
use ereceipt_core::identity::TerminalMode;
use ereceipt_platform::app::{self, App};
use ereceipt_platform::services::chain::analyse_after;
use ereceipt_platform::services::terminals::{self, Registration};
use ereceipt_platform::services::{staff, staff_enrolment};
use ereceipt_platform::settings::Settings;

#[derive(Subcommand)]
pub enum PlatformCommand {
    /// Serve HTTPS: enrolment, mTLS upload, query API. Creates the CA, keys and SQLite
    /// database in DATA_DIR on first start.
    Serve {
        #[command(flatten)]
        at: Location,
        /// Listen address (default from settings: 127.0.0.1:8443).
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// The admin listener's address, for operators with certificates (default from
        /// settings: 127.0.0.1:0, a free loopback port, printed at start).
        #[arg(long)]
        admin_listen: Option<SocketAddr>,
    },
    /// Register, list, re-token and revoke terminals.
    #[command(subcommand)]
    Terminal(TerminalAdmin),
    /// Portal users: merchant staff and the acquirer (password + TOTP).
    #[command(subcommand)]
    User(UserAdmin),
    /// The delivery queue (email, SMS, MMS to customers).
    #[command(subcommand)]
    Deliveries(DeliveriesAdmin),
    /// Operators: the people who use the admin API, each with a client certificate.
    #[command(subcommand)]
    Operator(operator::OperatorAdmin),
    /// The audit log of administration (admin API requests and commands run here), newest first.
    Audit {
        #[command(flatten)]
        at: Location,
        /// How many records.
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
}

#[derive(Subcommand)]
pub enum DeliveriesAdmin {
    /// Make every delivery waiting to be retried due now, for when a relay, SMSC or MMSC is
    /// back after an outage: a running platform sends them at once instead of after each
    /// one's back-off.
    Retry {
        #[command(flatten)]
        at: Location,
    },
}

#[derive(Subcommand)]
pub enum UserAdmin {
    /// Create a user; prints the password (generated unless --password-stdin) and the TOTP
    /// secret for an authenticator app, once.
    Add {
        #[command(flatten)]
        at: Location,
        username: String,
        /// A merchant user who sees this merchant's receipts.
        #[arg(long, conflicts_with = "acquirer", required_unless_present = "acquirer")]
        merchant_id: Option<String>,
        /// The acquirer, who finds any receipt by RRN.
        #[arg(long)]
        acquirer: bool,
        /// Read the password from the first line of standard input instead of generating one.
        #[arg(long)]
        password_stdin: bool,
        /// Print the credentials as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List users with their lock state.
    List {
        #[command(flatten)]
        at: Location,
    },
    /// Lift a lockout after too many failed sign-ins.
    Unlock {
        #[command(flatten)]
        at: Location,
        username: String,
    },
    /// Forgotten password or lost authenticator: the user's credentials stop working, their
    /// sessions end, and a one-time enrolment link (24 h) is printed for them, with which they
    /// set a new password and get a new TOTP secret. Nobody else sees their secrets.
    Reset {
        #[command(flatten)]
        at: Location,
        username: String,
        #[arg(long)]
        json: bool,
    },
    /// Sign a user out and refuse further sign-ins.
    Disable {
        #[command(flatten)]
        at: Location,
        username: String,
    },
}

/// Where the platform's data is.
#[derive(Args, Clone)]
pub struct Location {
    /// The platform's data directory (CA, keys, settings, SQLite database).
    #[arg(long)]
    pub(crate) data_dir: PathBuf,
    /// `postgres://…` to use PostgreSQL instead of the embedded SQLite database.
    #[arg(long)]
    pub(crate) database_url: Option<String>,
}

#[derive(Subcommand)]
pub enum TerminalAdmin {
    /// Register a terminal and print its single-use enrolment token.
    Add {
        #[command(flatten)]
        at: Location,
        #[arg(long)]
        terminal_id: String,
        #[arg(long)]
        merchant_id: String,
        #[arg(long)]
        merchant_name: String,
        /// "street address; geo:LAT,LON"
        #[arg(long)]
        location: String,
        /// A test terminal: it may read clear test-card tracks and sell with the simulated
        /// acquirer, and its certificates say so. Without it, a production terminal, whose
        /// receipts with clear tracks or a simulated authorisation ingest refuses. Cannot be
        /// changed later.
        #[arg(long)]
        test: bool,
    },
    /// List registered terminals.
    List {
        #[command(flatten)]
        at: Location,
    },
    /// Issue a fresh enrolment token for a registered terminal.
    Token {
        #[command(flatten)]
        at: Location,
        terminal_id: String,
    },
    /// Revoke a terminal: its uploads are refused and its certificates listed in the CRL.
    Revoke {
        #[command(flatten)]
        at: Location,
        terminal_id: String,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Report gaps, duplicates, broken links and reorderings in a terminal's hash chain.
    Chain {
        #[command(flatten)]
        at: Location,
        terminal_id: String,
    },
}

pub(crate) fn settings(at: &Location) -> Result<Settings> {
    std::fs::create_dir_all(&at.data_dir).with_context(|| format!("cannot create {}", at.data_dir.display()))?;
    let mut s = Settings::load(&at.data_dir)?;
    if let Some(url) = &at.database_url {
        s.database_url = Some(url.clone());
    }
    Ok(s)
}

pub fn init_logs(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("EReceipt_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,hyper=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = if json { builder.json().try_init() } else { builder.try_init() };
}

pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")
}

pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}

pub fn run(cmd: PlatformCommand) -> Result<()> {
    let rt = runtime()?;
    rt.block_on(async move {
        match cmd {
            PlatformCommand::Serve { at, listen, admin_listen } => serve(&at, listen, admin_listen).await,
            PlatformCommand::Terminal(t) => admin(t).await,
            PlatformCommand::User(u) => users(u).await,
            PlatformCommand::Deliveries(DeliveriesAdmin::Retry { at }) => retry_deliveries(&at).await,
            PlatformCommand::Operator(o) => operator::run(o).await,
            PlatformCommand::Audit { at, limit } => operator::audit(&at, limit).await,
        }
    })
}

async fn serve(at: &Location, listen: Option<SocketAddr>, admin_listen: Option<SocketAddr>) -> Result<()> {
    let mut s = settings(at)?;
    if let Some(l) = listen {
        s.listen = l;
    }
    if let Some(l) = admin_listen {
        s.admin_listen = l;
    }
    init_logs(s.json_logs);
    let data_dir = s.data_dir.clone();
    let app = App::build(s).await.context("platform cannot start")?;
    say!("platform listening on https://{}", app.local_addr());
    say!("admin API on https://{} (operator certificates only)", app.admin_addr());
    say!("data directory {}", data_dir.display());
    app.run_until_stopped(shutdown_signal()).await;
    Ok(())
}

async fn retry_deliveries(at: &Location) -> Result<()> {
    let (_, store) = app::open(&settings(at)?).await?;
    let due = store.make_due_now().await?;
    say!("{due} waiting deliveries are due now; a running platform sends them within a second or two.");
    Ok(())
}

fn print_token(t: &terminals::IssuedToken) {
    say!("terminal {} registered; enrolment token (single use, expires {}):", t.terminal_id, t.expires_at.to_rfc3339());
    say!("{}", t.token);
    say!("on the terminal: ereceipt terminal enroll --platform https://HOST:PORT --token TOKEN --data-dir TDIR");
}

/// The first line of standard input, when asked to read the password from there.
fn read_password(from_stdin: bool) -> Result<Option<String>> {
    if !from_stdin {
        return Ok(None);
    }
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).context("cannot read the password from standard input")?;
    Ok(Some(line.trim_end_matches(['\r', '\n']).to_owned()))
}

fn print_credentials(c: &staff::Credentials, json: bool, what: &str) -> Result<()> {
    if json {
        say!("{}", serde_json::to_string_pretty(c)?);
        return Ok(());
    }
    let who = c.merchant_id.as_deref().map_or("acquirer".to_owned(), |m| format!("merchant {m}"));
    say!("user {} ({who}) {what}.", c.username);
    if let Some(p) = &c.password {
        say!("password:    {p}");
    }
    say!("TOTP secret: {}", c.totp_secret);
    say!("TOTP URI:    {}", c.totp_uri);
    say!("These are shown once; the platform keeps only a hash and a sealed secret.");
    Ok(())
}

async fn users(cmd: UserAdmin) -> Result<()> {
    let now = Utc::now().timestamp_millis();
    match cmd {
        UserAdmin::Add { at, username, merchant_id, acquirer, password_stdin, json } => {
            let password = read_password(password_stdin)?;
            let s = settings(&at)?;
            let (keys, store) = app::open(&s).await?;
            let role = if acquirer { "acquirer" } else { "merchant" }.to_owned();
            let u = staff::NewUser { username, role, merchant_id, password };
            let c = staff::add(&store, &keys, &u, now).await?;
            operator::audit_here(&store, "user add", &c.username, "ok").await?;
            print_credentials(&c, json, "created")?;
        }
        UserAdmin::Reset { at, username, json } => {
            let s = settings(&at)?;
            let (_, store) = app::open(&s).await?;
            let link = staff_enrolment::reset(&store, &operator::portal_url(&s), &username, Utc::now()).await?;
            let outcome = if link.is_some() { "ok" } else { "refused: no active user" };
            operator::audit_here(&store, "user reset", &username, outcome).await?;
            let Some(link) = link else {
                anyhow::bail!("no active user {username}");
            };
            if json {
                say!("{}", serde_json::to_string_pretty(&link)?);
            } else {
                say!("user {username}: the old password and authenticator no longer work; their sessions ended.");
                say!("Give them this link (single use, until {}):", link.expires_at.to_rfc3339());
                say!("{}", link.enrolment_url);
                say!("They choose a new password there and see their new authenticator secret once.");
            }
        }
        UserAdmin::List { at } => {
            let s = settings(&at)?;
            let (_, store) = app::open(&s).await?;
            for a in store.accounts().await? {
                let d = staff::describe(&a, now);
                say!("{}", serde_json::to_string(&d)?);
            }
        }
        UserAdmin::Unlock { at, username } => {
            let s = settings(&at)?;
            let (_, store) = app::open(&s).await?;
            if !store.unlock_account(&username).await? {
                anyhow::bail!("no user {username}");
            }
            operator::audit_here(&store, "user unlock", &username, "ok").await?;
            say!("user {username} unlocked");
        }
        UserAdmin::Disable { at, username } => {
            let s = settings(&at)?;
            let (_, store) = app::open(&s).await?;
            if !store.disable_account(&username, now).await? {
                anyhow::bail!("no active user {username}");
            }
            operator::audit_here(&store, "user disable", &username, "ok").await?;
            say!("user {username} disabled and signed out");
        }
    }
    Ok(())
}

async fn admin(cmd: TerminalAdmin) -> Result<()> {
    match cmd {
        TerminalAdmin::Add { at, terminal_id, merchant_id, merchant_name, location, test } => {
            let s = settings(&at)?;
            let (keys, store) = app::open(&s).await?;
            let mode = if test { TerminalMode::Test } else { TerminalMode::Production };
            let reg = Registration { terminal_id, merchant_id, merchant_name, location, mode };
            let t = terminals::register(&store, &keys, &reg, s.enrolment_token_hours, Utc::now()).await?;
            operator::audit_here(&store, "terminal add", &t.terminal_id, "ok").await?;
            print_token(&t);
            say!("registered as a {mode} terminal (its certificates will say so)");
        }
        TerminalAdmin::List { at } => {
            let s = settings(&at)?;
            let (_, store) = app::open(&s).await?;
            for t in store.terminals().await? {
                let state = match t.revoked_at {
                    Some(at) => format!(
                        "revoked {}",
                        chrono::DateTime::from_timestamp_millis(at).map(|d| d.to_rfc3339()).unwrap_or_default()
                    ),
                    None => "active".into(),
                };
                say!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    t.terminal_id,
                    t.merchant_id,
                    t.merchant_name,
                    t.location,
                    t.mode,
                    state
                );
            }
        }
        TerminalAdmin::Token { at, terminal_id } => {
            let s = settings(&at)?;
            let (keys, store) = app::open(&s).await?;
            let t = terminals::reissue_token(&store, &keys, &terminal_id, s.enrolment_token_hours, Utc::now()).await?;
            operator::audit_here(&store, "terminal token", &terminal_id, "ok").await?;
            print_token(&t);
        }
        TerminalAdmin::Revoke { at, terminal_id, reason } => {
            let s = settings(&at)?;
            let (_, store) = app::open(&s).await?;
            let n = terminals::revoke(&store, &terminal_id, &reason, Utc::now()).await?;
            operator::audit_here(&store, "terminal revoke", &terminal_id, "ok").await?;
            say!("terminal {terminal_id} revoked ({n} certificate(s) newly revoked)");
        }
        TerminalAdmin::Chain { at, terminal_id } => {
            let s = settings(&at)?;
            let (_, store) = app::open(&s).await?;
            if store.terminal(&terminal_id).await?.is_none() {
                anyhow::bail!("no terminal {terminal_id} is registered");
            }
            let floor = store.chain_floor(&terminal_id).await?;
            let report = analyse_after(&store.chain(&terminal_id).await?, floor.as_ref());
            say!("{}", serde_json::to_string_pretty(&report)?);
            if let Some(purged) = &report.purged {
                say!("{}", purged.summary());
            }
            if !report.is_clean() {
                anyhow::bail!("terminal {terminal_id}: the hash chain has anomalies");
            }
        }
    }
    Ok(())
}
