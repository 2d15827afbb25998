//! `ereceipt terminal …`: the phone POS from the command line: enrol with a platform, make a
//! sale (stored in the outbox, then uploaded), sync, renew, show the outbox, and list and
//! reverse authorisations that got no receipt.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::Utc;
use clap::Subcommand;
use ereceipt_core::identity::Signer;
use ereceipt_core::model::DeliveryChoice;
use ereceipt_core::signature::{CaptureConfig, Signature};
use ereceipt_core::txjson::parse_transaction;
use ereceipt_terminal::device::Device;
use ereceipt_terminal::enrol;
use ereceipt_terminal::outbox::{AuthorisationRecord, Outbox};
use ereceipt_terminal::sale::{record_sale, Composer};
use ereceipt_terminal::sync::Uploader;
use ereceipt_terminal::ui::{reverse_authorisation, ReversalOutcome, UiApp, UiConfig};

use crate::files::{self, TerminalSettings};
use crate::platform::runtime;
use crate::stored::{EXIT_QUEUED, EXIT_REFUSED};

#[derive(Subcommand)]
pub enum TerminalCommand {
    /// Enrol with a platform: make a key pair here, get it certified with the token.
    Enroll {
        /// The platform's base URL, e.g. https://127.0.0.1:8443
        #[arg(long)]
        platform: String,
        /// The enrolment token from `ereceipt platform terminal add`.
        #[arg(long)]
        token: String,
        #[arg(long)]
        data_dir: PathBuf,
        /// Expect a test terminal (clear test-card tracks): fails if the platform registered
        /// it as a production terminal. The mode is the registration's, carried in the
        /// certificate; this flag cannot set it.
        #[arg(long)]
        test_cards: bool,
    },
    /// Make a sale: compose the receipt, store it in the outbox, then try to upload.
    ///
    /// Exit 0: uploaded and acknowledged. 4: stored and queued (offline, platform unreachable,
    /// or waiting behind older receipts); it is sent later. 5: the platform refused the receipt
    /// itself; it is not retried and the customer does not get it from the platform: show the
    /// operator `ereceipt terminal status`. 3: nothing was stored (bad input, or an outbox that
    /// must first learn from the platform where its receipt numbers continue).
    Sale {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long)]
        transaction: PathBuf,
        #[arg(long)]
        signature: PathBuf,
        /// Write the receipt image here too.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Store only; do not try to upload now.
        #[arg(long)]
        offline: bool,
        /// The customer's choice: sms:+8613800138000, mms:+86…, email:name@example.com or
        /// pull:+86… (a login code by SMS). Sealed with the receipt, never printed on it.
        #[arg(long, value_name = "CHOICE")]
        deliver: Option<String>,
    },
    /// A sale authorised through the acquirer link (terminal.toml's `[host]`, or the labelled
    /// simulator on a test terminal), signed, stored and uploaded. Exit 0: uploaded; 4: queued;
    /// 5: refused by the platform; 3: declined or not sent (nothing stored).
    Sell {
        /// In the terminal's currency, as typed: 128.50.
        #[arg(long)]
        amount: String,
        #[command(flatten)]
        presented: crate::cashier::Presented,
    },
    /// 预授权: hold an amount on the card (completed later with `complete`). Exit codes as `sell`.
    PreAuth {
        #[arg(long)]
        amount: String,
        #[command(flatten)]
        presented: crate::cashier::Presented,
    },
    /// 消费撤销: void a sale or completion of the open batch by its voucher number, for its
    /// whole amount, once. A settled sale is refunded instead. Exit codes as `sell`.
    Void {
        /// The voucher number (凭证号) on its slip.
        #[arg(long)]
        voucher: u32,
        #[command(flatten)]
        presented: crate::cashier::Presented,
    },
    /// 退货: give back part or all of an earlier sale, named by its reference number and date,
    /// never more than remains of it as far as this terminal knows. A refund is an advice to the
    /// host: without an answer it is kept and sent again (exit 4), never reversed.
    Refund {
        /// The sale's reference number (参考号, RRN).
        #[arg(long)]
        rrn: String,
        /// The sale's date on its slip, YYYY-MM-DD.
        #[arg(long, value_parser = crate::cashier::parse_date)]
        date: chrono::NaiveDate,
        #[arg(long)]
        amount: String,
        #[command(flatten)]
        presented: crate::cashier::Presented,
    },
    /// 预授权完成: charge a pre-authorisation of this terminal, named by its authorisation code
    /// and date, at most its amount plus 15%, once. Exit codes as `sell`.
    Complete {
        /// The pre-authorisation's authorisation code (授权码).
        #[arg(long)]
        auth_code: String,
        /// The pre-authorisation's date, YYYY-MM-DD.
        #[arg(long, value_parser = crate::cashier::parse_date)]
        date: chrono::NaiveDate,
        #[arg(long)]
        amount: String,
        #[command(flatten)]
        presented: crate::cashier::Presented,
    },
    /// Resend a stored receipt to a new address (the customer asks again, or gave a wrong one):
    /// one more delivery of the same signed receipt, by the platform. At most 5 deliveries a
    /// receipt. Exit 0: queued on the platform; 4: the receipt is not uploaded yet (sync first);
    /// 3: refused (not this terminal's receipt, a pull choice, the limit reached).
    Resend {
        #[arg(long)]
        data_dir: PathBuf,
        /// The receipt id (TERMINAL-BATCH-SERIAL).
        #[arg(long)]
        receipt: String,
        /// sms:+86…, mms:+86… or email:….
        #[arg(long, value_name = "CHOICE")]
        deliver: String,
    },
    /// 重打印: write a duplicate copy of a stored receipt (the last one, or any this terminal
    /// holds, by id): a new image under the 重打印凭证 / DUPLICATE banner over the same signed
    /// record, sealed by the terminal's current certificate; `ereceipt verify` says AUTHENTIC and
    /// DUPLICATE. Nothing is stored or sent: it is not a second receipt. Exit 0: written; 3: no
    /// such receipt, or the certificate was renewed since in a way no duplicate could verify
    /// (resend it instead).
    Reprint {
        /// The receipt id (TERMINAL-BATCH-SERIAL); without it, the terminal's last receipt.
        #[arg(value_name = "ID")]
        receipt: Option<String>,
        #[arg(long)]
        data_dir: PathBuf,
        /// Where to write the duplicate (PNG).
        #[arg(long)]
        out: PathBuf,
    },
    /// 结算: settle the open batch with the acquirer's host: its totals per card group (domestic
    /// UnionPay cards, foreign cards: sales and completions less voided ones, refunds) are
    /// compared with the host's, and the batch is closed: its sales can no longer be voided
    /// (refund them), and the next request opens the next batch. Nothing may be open at the
    /// host first (see `terminal authorisations`). Exit 0: settled and balanced; 7: settled,
    /// NOT balanced (the host's totals differ: call the acquirer); 3: not settled.
    ///
    /// The batch's settlement slip (结算单: counts and totals per kind and card brand, signed and
    /// watermarked like a receipt) is stored and uploaded by `terminal sync`, which prints the
    /// platform's reconciliation.
    Settle {
        #[arg(long)]
        data_dir: PathBuf,
        /// The cashier's operator number.
        #[arg(long, default_value = "01")]
        operator: String,
        /// Also write the settlement slip's PNG here.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Upload what is pending. With --wait, keep retrying (with backoff) up to SECONDS.
    ///
    /// Exit 0: nothing pending. 4: receipts still pending. 5: the platform refused a receipt in
    /// this run (parked, never retried: see `ereceipt terminal status`).
    Sync {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long, value_name = "SECONDS")]
        wait: Option<u64>,
        /// Ignore backoff: try every pending receipt now.
        #[arg(long)]
        now: bool,
    },
    /// Show the outbox: pending, uploaded, refused, and why.
    Status {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// List the card authorisations that need the operator (security review L4): approved
    /// without a receipt (the terminal stopped or the tab was closed before the receipt),
    /// requested without an answer, and reversals not acknowledged yet. Money may be held on
    /// the cardholder's account for them: reverse each with `authorisations reverse ID`.
    ///
    /// Exit 0: none. 6: some are listed.
    #[command(subcommand_negates_reqs = true, args_conflicts_with_subcommands = true)]
    Authorisations {
        #[arg(long, required = true)]
        data_dir: Option<PathBuf>,
        #[arg(long)]
        json: bool,
        #[command(subcommand)]
        action: Option<AuthorisationAction>,
    },
    /// Renew the terminal certificate with a fresh key (authenticated by the current one).
    Renew {
        #[arg(long)]
        data_dir: PathBuf,
    },
    /// Serve the touch UI for cashier and cardholder (amount, swipe, signature, delivery
    /// choice, receipt) on a loopback address; sales are stored and uploaded as with `sale`.
    ///
    /// Its authoriser is the acquirer's ISO 8583 host of the `[host]` table in terminal.toml;
    /// without one, a simulator, which starts on test terminals only: on a production terminal
    /// it refuses to start (exit 3). Reversals a previous run left are sent at start.
    Ui {
        #[arg(long)]
        data_dir: PathBuf,
        /// Where to serve the UI: a loopback address, as the page is for this device only.
        #[arg(long, default_value = "127.0.0.1:8480")]
        listen: SocketAddr,
        /// Allow a `--listen` address other than loopback. The UI speaks plain HTTP, so anyone
        /// on that network who sees the launch URL can sell and read receipts: for a lab only.
        #[arg(long)]
        insecure_lan: bool,
    },
}

#[derive(Subcommand)]
pub enum AuthorisationAction {
    /// Reverse one authorisation: journalled as reversing before it is sent, reversed once the
    /// authoriser acknowledged it. It goes to the authoriser `terminal.toml` names (the `[host]`
    /// table, or else the simulator), which must be the one that was asked.
    ///
    /// Exit 0: reversed. 4: not acknowledged; it stays reversing: run the command again.
    Reverse {
        /// The authorisation's id, as `ereceipt terminal authorisations` lists it.
        id: String,
        #[arg(long)]
        data_dir: PathBuf,
    },
    /// The pass the touch UI runs in the background, once: every request left unanswered
    /// (asked longer ago than the host link's timeout plus 30 s) is reversed, every reversal
    /// and refund advice not acknowledged yet is sent again, and a refund the host acknowledged
    /// late gets its receipt (queued for upload) from the parts its journal kept. For a terminal
    /// run from the CLI or a cron job, where no UI runs the pass.
    ///
    /// Exit 0: nothing is left open. 6: something still needs the operator or another pass
    /// (listed, as `terminal authorisations` lists them).
    Recover {
        #[arg(long)]
        data_dir: PathBuf,
    },
}

/// `terminal authorisations`: some authorisations need the operator.
const EXIT_OPEN_AUTHORISATIONS: i32 = 6;

pub fn run(cmd: TerminalCommand) -> Result<i32> {
    crate::platform::init_logs(false);
    runtime()?.block_on(async move {
        match cmd {
            TerminalCommand::Enroll { platform, token, data_dir, test_cards } => {
                enroll(&platform, &token, &data_dir, test_cards).await.map(|()| 0)
            }
            TerminalCommand::Sale { data_dir, transaction, signature, out, offline, deliver } => {
                let deliver = deliver
                    .map(|d| d.parse::<DeliveryChoice>().with_context(|| format!("--deliver {d}")))
                    .transpose()?;
                sale(&data_dir, &transaction, &signature, out.as_deref(), offline, deliver).await
            }
            TerminalCommand::Sell { amount, presented } => {
                crate::cashier::run(crate::cashier::Wanted::Sale { amount }, presented).await
            }
            TerminalCommand::PreAuth { amount, presented } => {
                crate::cashier::run(crate::cashier::Wanted::PreAuth { amount }, presented).await
            }
            TerminalCommand::Void { voucher, presented } => {
                crate::cashier::run(crate::cashier::Wanted::Void { voucher }, presented).await
            }
            TerminalCommand::Refund { rrn, date, amount, presented } => {
                crate::cashier::run(crate::cashier::Wanted::Refund { rrn, date, amount }, presented).await
            }
            TerminalCommand::Complete { auth_code, date, amount, presented } => {
                crate::cashier::run(crate::cashier::Wanted::Completion { auth_code, date, amount }, presented).await
            }
            TerminalCommand::Settle { data_dir, operator, out } => settle(&data_dir, &operator, out.as_deref()).await,
            TerminalCommand::Resend { data_dir, receipt, deliver } => {
                crate::reprint::resend(&data_dir, &receipt, &deliver).await
            }
            TerminalCommand::Reprint { receipt, data_dir, out } => {
                crate::reprint::reprint(&data_dir, receipt.as_deref(), &out).await
            }
            TerminalCommand::Sync { data_dir, wait, now } => sync(&data_dir, wait, now).await,
            TerminalCommand::Status { data_dir, json } => status(&data_dir, json).await.map(|()| 0),
            TerminalCommand::Authorisations { action: Some(AuthorisationAction::Reverse { id, data_dir }), .. } => {
                reverse(&data_dir, &id).await
            }
            TerminalCommand::Authorisations { action: Some(AuthorisationAction::Recover { data_dir }), .. } => {
                recover(&data_dir).await
            }
            TerminalCommand::Authorisations { data_dir, json, action: None } => {
                let data_dir = data_dir.context("--data-dir is required")?;
                authorisations(&data_dir, json).await
            }
            TerminalCommand::Ui { data_dir, listen, insecure_lan } => {
                if !listen.ip().is_loopback() && !insecure_lan {
                    anyhow::bail!(
                        "--listen {listen} is not a loopback address: the touch UI speaks plain HTTP and is \
                         for this device only; use 127.0.0.1 (or add --insecure-lan for a lab network)"
                    );
                }
                let app = ui_app(&data_dir, listen, false).await?;
                let open = app.open_authorisations().await?;
                if !open.is_empty() {
                    say!("WARNING: {} authorisation(s) without a receipt (see the alert on the page):", open.len());
                    say_authorisations(&open, &data_dir);
                }
                say!("terminal UI on {} (open this address: it carries the UI's token)", app.url());
                say!("data directory {}", data_dir.display());
                app.run_until_stopped(crate::platform::shutdown_signal()).await;
                Ok(0)
            }
            TerminalCommand::Renew { data_dir } => {
                let cert = enrol::renew(&Device::new(&data_dir), Utc::now()).await?;
                say!("certificate renewed: serial {}, valid until {}", cert.serial, ts(cert.not_after * 1000));
                Ok(0)
            }
        }
    })
}

/// The touch UI of the terminal in `dir`, bound to `listen`, authorising through the host of
/// `terminal.toml`'s `[host]` table, or the simulator without one.
/// A production terminal (its certificate says so) refuses the simulator outside the demo,
/// and clear tracks whatever `terminal.toml` says.
pub async fn ui_app(dir: &Path, listen: SocketAddr, demo: bool) -> Result<UiApp> {
    let settings = TerminalSettings::load(dir)?;
    let device = Device::new(dir);
    let mode = device.certificate().with_context(|| format!("terminal certificate in {}", dir.display()))?.mode;
    let config = UiConfig {
        device,
        listen,
        demo,
        policy: settings.policy(mode, dir)?,
        width: settings.slip_width,
        fonts: Arc::new(files::load_fonts(settings.font.as_deref())?),
        currency: settings.currency,
        // The demo's cashier is signed in; elsewhere the cashier signs in on the page.
        operator: if demo { Some("01".parse()?) } else { None },
        authoriser: settings.authoriser(dir)?,
        capture: CaptureConfig::default(),
        zone: settings.zone(dir)?,
    };
    UiApp::build(config).await.with_context(|| format!("terminal UI in {}", dir.display()))
}

fn ts(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map(|d| d.to_rfc3339()).unwrap_or_default()
}

async fn enroll(platform: &str, token: &str, dir: &Path, test_cards: bool) -> Result<()> {
    let device = Device::new(dir);
    let cert = enrol::enrol(&device, platform, token, Utc::now()).await?;
    if !dir.join(files::TERMINAL_SETTINGS).exists() {
        TerminalSettings::new(ereceipt_core::render::slip::SlipWidth::W576).write(dir)?;
    }
    if test_cards && !cert.mode.is_test() {
        anyhow::bail!(
            "terminal {} is enrolled, but the platform registered it as a production terminal: it takes no \
             clear test-card tracks and no simulated sales. For a test terminal, register one with \
             `ereceipt platform terminal add --test`",
            cert.terminal.terminal_id
        );
    }
    let outbox = Outbox::open(&device.outbox_path()).await?;
    let resume = outbox.resume().await?;
    outbox.close().await;
    say!(
        "enrolled {} terminal {} of {} ({})",
        cert.mode,
        cert.terminal.terminal_id,
        cert.terminal.merchant_name,
        cert.terminal.merchant_id
    );
    match resume {
        Some(r) => say!(
            "receipts continue in batch {:06} after serial {:06}; the hash chain after sequence {}",
            r.batch,
            r.last_serial,
            r.sequence
        ),
        None => say!("the platform gave no resume point yet: the first sale asks for it"),
    }
    say!("certificate serial {}, valid until {}", cert.serial, ts(cert.not_after * 1000));
    say!("data directory {}", dir.display());
    Ok(())
}

/// Exit code 0: uploaded; 4: stored and queued (platform unreachable or refusing for now);
/// 5: refused by the platform for good (the operator must act); errors before storing exit 3.
async fn sale(
    dir: &Path,
    tx: &Path,
    sig: &Path,
    out: Option<&Path>,
    offline: bool,
    deliver: Option<DeliveryChoice>,
) -> Result<i32> {
    let device = Device::new(dir);
    let settings = TerminalSettings::load(dir)?;
    let signer = Signer::new(&device.identity()?).context("terminal identity")?;
    let policy = settings.policy(signer.certificate().mode, dir)?;
    let (transaction, _authorisation) =
        parse_transaction(&files::read_text(tx)?, &policy).with_context(|| format!("{}", tx.display()))?;
    let signature =
        Signature::from_signature_pad_json(&files::read_text(sig)?).with_context(|| format!("{}", sig.display()))?;
    let fonts = files::load_fonts(settings.font.as_deref())?;
    let width = settings.slip_width;
    let uploader = Uploader::open(&device).await?;
    // A lost outbox would number this receipt as the platform's first one: refuse to store it
    // until the platform says where the numbers continue.
    uploader.ensure_resume().await.context(
        "the outbox holds no receipts and no resume point (was it lost?); connect to the platform and retry",
    )?;
    let delivery = deliver.as_ref().map(ToString::to_string);
    let receipt = record_sale(&uploader.outbox, &signer, &fonts, width, transaction, signature, delivery).await?;
    crate::stored::stored(&uploader, &receipt, out, offline).await
}

/// `terminal settle`: settled, but the host's totals differ from the terminal's.
const EXIT_NOT_BALANCED: i32 = 7;

async fn settle(dir: &Path, operator: &str, out: Option<&Path>) -> Result<i32> {
    use ereceipt_terminal::authorisation::Till;
    use ereceipt_terminal::slip::close_batch;
    let settings = TerminalSettings::load(dir)?;
    let authoriser = settings.authoriser(dir)?;
    let device = Device::new(dir);
    let cert = device.certificate().with_context(|| format!("terminal certificate in {}", dir.display()))?;
    // What the slip needs is loaded before the batch is closed, so a missing font or key
    // refuses the settlement rather than leaving a settled batch without its slip.
    let signer = Signer::new(&device.identity()?).context("terminal identity")?;
    let fonts = files::load_fonts(settings.font.as_deref())?;
    let zone = settings.zone(dir)?;
    let operator: ereceipt_core::model::OperatorId =
        operator.parse().with_context(|| format!("--operator {operator}"))?;
    let outbox = Outbox::open(&device.outbox_path()).await?;
    let till = Till {
        operator: &operator,
        terminal_id: &cert.terminal.terminal_id,
        merchant_id: &cert.terminal.merchant_id,
        currency: settings.currency,
    };
    let composer = Composer { signer: &signer, fonts: &fonts, width: settings.slip_width };
    let closed = close_batch(&outbox, authoriser.as_ref(), till, composer, zone).await?;
    let done = &closed.settled;
    let money = |minor: u64| {
        ereceipt_core::model::Money::new(minor, settings.currency).map(|m| m.decimal()).unwrap_or_else(|_| "0".into())
    };
    say!("batch {:06} settled with {}", done.totals.batch, authoriser.info().name);
    for (name, side, ok) in [
        ("domestic (UnionPay) 内卡", done.totals.domestic, done.answer.domestic_balanced),
        ("foreign 外卡", done.totals.foreign, done.answer.foreign_balanced),
    ] {
        let count = |n: u64, minor: u64| if n == 0 { "none".to_owned() } else { format!("{n} × {}", money(minor)) };
        say!(
            "  {name}: debit {}, credit {}: {}",
            count(side.debit_count, side.debit_minor),
            count(side.credit_count, side.credit_minor),
            if ok { "balanced 对账平" } else { "NOT balanced 对账不平" }
        );
    }
    say!("  voids {}; the next batch is {:06}", done.totals.voids, done.next_batch);
    say!(
        "settlement slip 结算单 of batch {:06}: {} receipt line(s), queued for upload (ereceipt terminal sync)",
        done.totals.batch,
        closed.slip.slip.lines().len()
    );
    if let Some(path) = out {
        files::write_replace(path, &closed.slip.png)?;
        say!("  written to {}", path.display());
    }
    Ok(if closed.balanced() { 0 } else { EXIT_NOT_BALANCED })
}

async fn sync(dir: &Path, wait: Option<u64>, now: bool) -> Result<i32> {
    let uploader = Uploader::open(&Device::new(dir)).await?;
    if now {
        uploader.outbox.retry_now(Utc::now().timestamp_millis()).await?;
    }
    let report = match wait {
        Some(secs) => uploader.drain_until(Instant::now() + Duration::from_secs(secs)).await?,
        None => uploader.drain_due().await?,
    };
    let st = uploader.outbox.status().await?;
    say!("uploaded {}, refused {}, still pending {}", report.uploaded, report.refused, st.pending);
    for (batch, r) in &report.slips {
        let verdict = if r.balanced { "balanced 对账平" } else { "NOT balanced 对账不平" };
        say!("settlement slip of batch {batch:06} uploaded; the platform's reconciliation: {verdict}");
        for d in &r.differences {
            say!("  {}", d.text);
        }
    }
    if let Some(e) = report.last_error.or(st.last_error) {
        if st.pending > 0 {
            say!("last error: {e}");
        }
    }
    if report.refused > 0 {
        say!("REFUSED by the platform: {} receipt(s), never retried; see ereceipt terminal status", report.refused);
        return Ok(EXIT_REFUSED);
    }
    Ok(if st.pending == 0 { 0 } else { 4 })
}

async fn status(dir: &Path, json: bool) -> Result<()> {
    let device = Device::new(dir);
    let outbox = Outbox::open(&device.outbox_path()).await?;
    let st = outbox.status().await?;
    let entries = outbox.entries(20).await?;
    if json {
        let list: Vec<_> = entries
            .iter()
            .map(|e| {
                serde_json::json!({"receipt_id": e.receipt_id, "sequence": e.sequence, "state": e.state.to_string(),
                    "attempts": e.attempts, "last_error": e.last_error, "next_attempt_at": e.next_attempt_at})
            })
            .collect();
        say!(
            "{}",
            serde_json::json!({"pending": st.pending, "uploaded": st.acked, "refused": st.refused,
                "oldest_pending_at": st.oldest_pending_at, "next_attempt_at": st.next_attempt_at,
                "last_error": st.last_error, "last_sequence": st.last_sequence, "recent": list})
        );
        return Ok(());
    }
    if let Ok(link) = device.platform() {
        say!("platform   {}", link.url);
    }
    if let Ok(cert) = device.certificate() {
        let renew = if enrol::renewal_due(&cert, Utc::now()) { " (renewal due: ereceipt terminal renew)" } else { "" };
        say!("terminal   {}, certificate valid until {}{renew}", cert.terminal.terminal_id, ts(cert.not_after * 1000));
    }
    say!("pending    {}", st.pending);
    say!("uploaded   {}", st.acked);
    say!("refused    {}", st.refused);
    let open = outbox.open_authorisations().await?.len();
    if open > 0 {
        say!("authorisations without a receipt {open}: see ereceipt terminal authorisations");
    }
    if let Some(t) = st.oldest_pending_at {
        say!("oldest pending since {}", ts(t));
    }
    if let Some(t) = st.next_attempt_at {
        say!("next attempt at {}", ts(t));
    }
    if let Some(e) = &st.last_error {
        say!("last error: {e}");
    }
    for e in entries {
        let why = e.last_error.as_deref().map(|x| format!(" — {x}")).unwrap_or_default();
        say!("  #{:<6} {} {:9} attempts {}{why}", e.sequence, e.receipt_id, e.state.to_string(), e.attempts);
    }
    Ok(())
}

async fn authorisations(dir: &Path, json: bool) -> Result<i32> {
    let outbox = Outbox::open(&Device::new(dir).outbox_path()).await?;
    let mut open = outbox.open_authorisations().await?;
    // A refund acknowledged late whose receipt parts are kept gets its receipt from the
    // terminal's next pass: nothing for the operator to do.
    let mut waiting = Vec::new();
    for a in &open {
        if a.operation.is_advice()
            && a.state.as_str() == "approved"
            && outbox.keeps_receipt_parts(&a.request_id).await?
        {
            waiting.push(a.request_id.clone());
        }
    }
    open.retain(|a| !waiting.contains(&a.request_id));
    for id in waiting.iter().filter(|_| !json) {
        say!("refund {id} acknowledged late: its receipt is made by the terminal's next pass (terminal ui)");
    }
    if json {
        let list: Vec<_> = open
            .iter()
            .map(|a| {
                serde_json::json!({"id": a.request_id, "state": a.state.as_str(), "amount": a.amount.decimal(),
                    "currency": a.amount.currency().code(), "card": a.card(), "time": a.time.rfc3339(),
                    "auth_code": a.auth_code.as_ref().map(|c| c.as_str()), "rrn": a.rrn.as_ref().map(|r| r.as_str()),
                    "authoriser": a.authoriser, "simulated": a.simulated,
                    "kind": a.operation.kind.code(), "advice_attempts": a.advice_attempts,
                    "reversal": a.reversal.map(|r| r.as_str()), "reversal_attempts": a.reversal_attempts,
                    "error": a.answer})
            })
            .collect();
        say!("{}", serde_json::json!({ "open": list }));
    } else if open.is_empty() {
        say!("no authorisation needs attention");
    } else {
        say!(
            "{} authorisation(s) need the operator: money may be held on the cardholder's account without a receipt",
            open.len()
        );
        say_authorisations(&open, dir);
    }
    Ok(if open.is_empty() { 0 } else { EXIT_OPEN_AUTHORISATIONS })
}

/// One line per authorisation, then how to reverse them.
fn say_authorisations(open: &[AuthorisationRecord], dir: &Path) {
    for a in open {
        let refund = a.operation.is_advice();
        let what = match a.state.as_str() {
            "approved" if refund => "refund acknowledged, no receipt (never reversed)",
            "approved" => "approved, no receipt",
            "requested" => "requested, no answer",
            "advising" => "refund advice not acknowledged (sent again)",
            _ => "reversal not acknowledged",
        };
        let kind = if a.operation.kind == ereceipt_core::model::TransactionType::Sale {
            String::new()
        } else {
            format!("{} ", a.operation.kind)
        };
        let codes = match (&a.auth_code, &a.rrn) {
            (Some(c), Some(r)) => format!(", auth code {}, RRN {}", c.as_str(), r.as_str()),
            _ => String::new(),
        };
        let simulated = if a.simulated { " (simulator)" } else { "" };
        let error = a.answer.as_deref().filter(|_| a.reversal.is_some()).map(|e| format!(" — {e}")).unwrap_or_default();
        say!(
            "  {}  {kind}{what}: {} {} on {}{codes}, {}{simulated}{error}",
            a.request_id,
            a.amount.currency().code(),
            a.amount.decimal(),
            a.card(),
            a.time.rfc3339()
        );
    }
    say!("reverse each with: ereceipt terminal authorisations reverse ID --data-dir {}", dir.display());
}

/// `terminal authorisations recover`: one background pass. Exit 0: nothing left open; 6: what
/// is left, listed.
async fn recover(dir: &Path) -> Result<i32> {
    use ereceipt_terminal::authorisation::recover_with_receipts;
    let settings = TerminalSettings::load(dir)?;
    let authoriser = settings.authoriser(dir)?;
    let device = Device::new(dir);
    let signer = Signer::new(&device.identity()?).context("terminal identity")?;
    let fonts = files::load_fonts(settings.font.as_deref())?;
    let composer = Composer { signer: &signer, fonts: &fonts, width: settings.slip_width };
    let outbox = Outbox::open(&device.outbox_path()).await?;
    // A request younger than this may still be waiting for its answer in another process (the
    // touch UI): it is left alone, as the UI's own pass leaves it.
    let grace = authoriser.longest_wait() + std::time::Duration::from_secs(30);
    let stale_before = Utc::now().timestamp_millis() - i64::try_from(grace.as_millis()).unwrap_or(i64::MAX);
    let now = || Utc::now().timestamp_millis();
    let done = recover_with_receipts(&outbox, authoriser.as_ref(), composer, stale_before, now)
        .await
        .context("authorisations recover")?;
    say!(
        "reversed {}, refund advices answered {}, late refund receipts made {}, still not acknowledged {}",
        done.reversed,
        done.advised,
        done.late_receipts,
        done.pending
    );
    if done.late_receipts > 0 {
        say!("the new receipts are queued for upload: ereceipt terminal sync --data-dir {}", dir.display());
    }
    let open = outbox.open_authorisations().await?;
    if open.is_empty() {
        say!("no authorisation needs attention");
        return Ok(0);
    }
    say!("{} authorisation(s) still open:", open.len());
    say_authorisations(&open, dir);
    Ok(EXIT_OPEN_AUTHORISATIONS)
}

/// Exit 0: reversed (acknowledged); 4: journalled as reversing, not acknowledged.
async fn reverse(dir: &Path, id: &str) -> Result<i32> {
    let authoriser = TerminalSettings::load(dir)?.authoriser(dir)?;
    let outbox = Outbox::open(&Device::new(dir).outbox_path()).await?;
    let now = || Utc::now().timestamp_millis();
    let outcome = reverse_authorisation(&outbox, authoriser.as_ref(), id, false, now)
        .await
        .with_context(|| format!("authorisations reverse {id}"))?;
    match outcome {
        ReversalOutcome::Reversed(a) => {
            say!(
                "authorisation {id} {}: {} {} on {}; acknowledged: {}",
                a.state,
                a.amount.currency().code(),
                a.amount.decimal(),
                a.card(),
                a.reversal_ack.as_deref().unwrap_or("")
            );
            Ok(0)
        }
        ReversalOutcome::Pending { error, .. } => {
            say!("the reversal of {id} was NOT acknowledged: {error}");
            say!("it is kept as reversing: run this command again");
            Ok(EXIT_QUEUED)
        }
    }
}
