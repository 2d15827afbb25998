//! `ereceipt ca`: the offline CA tool.

use std::fs;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use chrono::Utc;
use clap::Subcommand;
use ereceipt_core::identity::{create_ca, fingerprint_der, issue_terminal_in, PosCertificate, TerminalMode};
use ereceipt_core::model::{Location, TerminalInfo};

use crate::files::{self, TerminalSettings};

#[derive(Subcommand)]
pub enum CaCommand {
    /// Create the platform root: DIR/ca.pem (certificate) and DIR/ca.key (private key, 0600).
    Init {
        #[arg(long)]
        dir: PathBuf,
        /// The CA's common name.
        #[arg(long, default_value = "ereceipt platform root CA")]
        name: String,
    },
    /// Issue a terminal identity: a fresh key pair and a POS business certificate.
    Issue {
        /// The CA directory made by `ca init`.
        #[arg(long)]
        ca: PathBuf,
        /// Terminal id, 8 letters or digits (ISO 8583 field 41).
        #[arg(long)]
        terminal_id: String,
        /// Merchant id, 15 digits (ISO 8583 field 42).
        #[arg(long)]
        merchant_id: String,
        /// Merchant name as printed (Chinese or Latin, up to 40 characters).
        #[arg(long)]
        merchant_name: String,
        /// Address, optionally followed by `; geo:LAT,LON`.
        #[arg(long)]
        location: String,
        /// The terminal directory to create.
        #[arg(long)]
        out: PathBuf,
        /// Certificate lifetime in days.
        #[arg(long, default_value_t = 730)]
        days: u32,
        /// A test terminal: its certificate says so, and it accepts clear magnetic-stripe tracks
        /// (test cards) and simulated authorisations. Without it, a production terminal.
        #[arg(long)]
        test_cards: bool,
        /// Slip width in pixels: 576 (80 mm) or 384 (58 mm).
        #[arg(long, default_value_t = 576)]
        width: u32,
    },
}

pub fn run(cmd: CaCommand) -> Result<()> {
    match cmd {
        CaCommand::Init { dir, name } => {
            files::refuse_existing(&[dir.join(files::CA_KEY), dir.join(files::CA_CERT)])?;
            fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
            let ca = create_ca(&name, Utc::now())?;
            files::write_new(&dir.join(files::CA_KEY), ca.key_pem().as_bytes(), true)?;
            files::write_new(&dir.join(files::CA_CERT), ca.cert_pem().as_bytes(), false)?;
            say!("CA certificate: {}", dir.join(files::CA_CERT).display());
            say!("CA private key: {} (keep it offline)", dir.join(files::CA_KEY).display());
            say!("SHA-256 fingerprint: {}", fingerprint_der(&ca.cert_der));
            Ok(())
        }
        CaCommand::Issue { ca, terminal_id, merchant_id, merchant_name, location, out, days, test_cards, width } => {
            let width = files::width(width)?;
            let info = TerminalInfo {
                terminal_id: terminal_id.parse()?,
                merchant_id: merchant_id.parse()?,
                merchant_name: merchant_name.parse()?,
                location: location.parse::<Location>()?,
            };
            if days == 0 || days > 3650 {
                bail!("--days must be between 1 and 3650");
            }
            let ca_key = files::load_identity(&ca, files::CA_CERT, files::CA_KEY)?;
            let targets = [files::TERMINAL_KEY, files::TERMINAL_CERT, files::CA_CERT, files::TERMINAL_SETTINGS];
            files::refuse_existing(&targets.map(|f| out.join(f)))?;
            let mode = if test_cards { TerminalMode::Test } else { TerminalMode::Production };
            let identity = issue_terminal_in(&ca_key, &info, mode, Utc::now(), days)?;
            fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
            files::write_new(&out.join(files::TERMINAL_KEY), identity.key_pem().as_bytes(), true)?;
            files::write_new(&out.join(files::TERMINAL_CERT), identity.cert_pem().as_bytes(), false)?;
            files::write_new(&out.join(files::CA_CERT), ca_key.cert_pem().as_bytes(), false)?;
            TerminalSettings::new(width).write(&out)?;
            let cert = PosCertificate::parse(&identity.cert_der)?;
            say!("terminal {} of merchant {} ({})", info.terminal_id, info.merchant_id, info.merchant_name);
            say!(
                "certificate: {} (serial {}, {} terminal{})",
                out.join(files::TERMINAL_CERT).display(),
                cert.serial,
                cert.mode,
                if test_cards { ": test cards accepted" } else { "" }
            );
            say!("private key: {}", out.join(files::TERMINAL_KEY).display());
            say!("settings:    {}", out.join(files::TERMINAL_SETTINGS).display());
            Ok(())
        }
    }
}
