//! `ereceipt platform …`: run the management platform and administer its terminals.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use chrono::Utc;
use clap::{Args, Subcommand};
use ereceipt_platform::app::{self, App};
use ereceipt_platform::chain::analyse;
use ereceipt_platform::settings::Settings;
use ereceipt_platform::terminals::{self, Registration};

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
    },
    /// Register, list, re-token and revoke terminals.
    #[command(subcommand)]
    Terminal(TerminalAdmin),
}

/// Where the platform's data is.
#[derive(Args, Clone)]
pub struct Location {
    /// The platform's data directory (CA, keys, settings, SQLite database).
    #[arg(long)]
    data_dir: PathBuf,
    /// `postgres://…` to use PostgreSQL instead of the embedded SQLite database.
    #[arg(long)]
    database_url: Option<String>,
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

fn settings(at: &Location) -> Result<Settings> {
    std::fs::create_dir_all(&at.data_dir).with_context(|| format!("cannot create {}", at.data_dir.display()))?;
    let mut s = Settings::load(&at.data_dir)?;
    if let Some(url) = &at.database_url {
        s.database_url.clone_from(url);
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
            PlatformCommand::Serve { at, listen } => serve(&at, listen).await,
            PlatformCommand::Terminal(t) => admin(t).await,
        }
    })
}

async fn serve(at: &Location, listen: Option<SocketAddr>) -> Result<()> {
    let mut s = settings(at)?;
    if let Some(l) = listen {
        s.listen = l;
    }
    init_logs(s.json_logs);
    let data_dir = s.data_dir.clone();
    let app = App::build(s).await.context("platform cannot start")?;
    say!("platform listening on https://{}", app.local_addr());
    say!("data directory {}", data_dir.display());
    app.run_until_stopped(shutdown_signal()).await;
    Ok(())
}

fn print_token(t: &terminals::IssuedToken) {
    say!("terminal {} registered; enrolment token (single use, expires {}):", t.terminal_id, t.expires_at.to_rfc3339());
    say!("{}", t.token);
    say!("on the terminal: ereceipt terminal enroll --platform https://HOST:PORT --token TOKEN --data-dir TDIR");
}

async fn admin(cmd: TerminalAdmin) -> Result<()> {
    match cmd {
        TerminalAdmin::Add { at, terminal_id, merchant_id, merchant_name, location } => {
            let s = settings(&at)?;
            let (keys, store) = app::open(&s).await?;
            let reg = Registration { terminal_id, merchant_id, merchant_name, location };
            let t = terminals::register(&store, &keys, &reg, s.enrolment_token_hours, Utc::now()).await?;
            print_token(&t);
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
                say!("{}\t{}\t{}\t{}\t{}", t.terminal_id, t.merchant_id, t.merchant_name, t.location, state);
            }
        }
        TerminalAdmin::Token { at, terminal_id } => {
            let s = settings(&at)?;
            let (keys, store) = app::open(&s).await?;
            let t = terminals::reissue_token(&store, &keys, &terminal_id, s.enrolment_token_hours, Utc::now()).await?;
            print_token(&t);
        }
        TerminalAdmin::Revoke { at, terminal_id, reason } => {
            let s = settings(&at)?;
            let (_, store) = app::open(&s).await?;
            let n = terminals::revoke(&store, &terminal_id, &reason, Utc::now()).await?;
            say!("terminal {terminal_id} revoked ({n} certificate(s) newly revoked)");
        }
        TerminalAdmin::Chain { at, terminal_id } => {
            let s = settings(&at)?;
            let (_, store) = app::open(&s).await?;
            if store.terminal(&terminal_id).await?.is_none() {
                anyhow::bail!("no terminal {terminal_id} is registered");
            }
            let report = analyse(&store.chain(&terminal_id).await?);
            say!("{}", serde_json::to_string_pretty(&report)?);
            if !report.is_clean() {
                anyhow::bail!("terminal {terminal_id}: the hash chain has anomalies");
            }
        }
    }
    Ok(())
}
