//! `ereceipt receipt`: compose a receipt from a transaction and a signature, and show one.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Subcommand;
use ereceipt_core::compose::{build_record, compose_receipt, Sale};
use ereceipt_core::identity::Signer;
use ereceipt_core::model::MoneyLayout;
use ereceipt_core::render::png;
use ereceipt_core::signature::{Signature, SignatureRules};
use ereceipt_core::txjson::parse_transaction;
use ereceipt_core::verify::{read_claims, ReceiptSummary};

use crate::files::{self, TerminalSettings};

#[derive(Subcommand)]
pub enum ReceiptCommand {
    /// Compose, render, sign and watermark one receipt; writes OUT and the record OUT.cbor.
    Create {
        /// The terminal directory made by `ca issue`.
        #[arg(long)]
        terminal: PathBuf,
        /// The transaction JSON.
        #[arg(long)]
        transaction: PathBuf,
        /// The signature as signature_pad's toData() JSON.
        #[arg(long)]
        signature: PathBuf,
        /// Where to write the receipt PNG.
        #[arg(long)]
        out: PathBuf,
        /// A font covering Chinese (overrides the terminal settings).
        #[arg(long)]
        font: Option<PathBuf>,
    },
    /// Print the fields a receipt image carries (not a verification: use `ereceipt verify`).
    Show {
        image: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: ReceiptCommand) -> Result<()> {
    match cmd {
        ReceiptCommand::Create { terminal, transaction, signature, out, font } => {
            let made = create(&terminal, &transaction, &signature, &out, font.as_deref())?;
            say!("receipt {}", made.0);
            say!("image:  {} ({} bytes)", out.display(), made.1);
            say!("record: {}", record_path(&out).display());
            Ok(())
        }
        ReceiptCommand::Show { image, json } => show(&image, json),
    }
}

pub fn record_path(out: &Path) -> PathBuf {
    out.with_extension("cbor")
}

/// Creates one receipt; returns its id and PNG size.
pub fn create(tdir: &Path, tx: &Path, sig: &Path, out: &Path, font: Option<&Path>) -> Result<(String, usize)> {
    let settings = TerminalSettings::load(tdir)?;
    let identity = files::load_identity(tdir, files::TERMINAL_CERT, files::TERMINAL_KEY)?;
    let signer = Signer::new(&identity).context("terminal identity")?;
    let policy = settings.policy(signer.certificate().mode, tdir)?;
    let (transaction, _authorisation) =
        parse_transaction(&files::read_text(tx)?, &policy).with_context(|| format!("{}", tx.display()))?;
    let signature =
        Signature::from_signature_pad_json(&files::read_text(sig)?).with_context(|| format!("{}", sig.display()))?;
    signature.check(&SignatureRules::default()).with_context(|| format!("{}: signature rejected", sig.display()))?;
    let fonts = files::load_fonts(font.or(settings.font.as_deref()))?;
    let record = build_record(Sale { transaction, signature, chain: None }, &signer)?;
    let receipt = compose_receipt(record, &signer, &fonts, settings.slip_width)?;
    files::write_replace(out, &receipt.png)?;
    files::write_replace(&record_path(out), &receipt.record_bytes)?;
    Ok((receipt.record.id.to_string(), receipt.png.len()))
}

/// Who approved the sale, as `receipt show` and `verify` print it.
pub fn authorised(a: ereceipt_core::model::Authorisation) -> String {
    use ereceipt_core::model::{Authorisation, SIMULATED_NOTICE};
    match a {
        Authorisation::Host => "by the acquirer's host".into(),
        Authorisation::Simulated => format!("{SIMULATED_NOTICE} (a simulator approved it; no payment was authorised)"),
        Authorisation::Unstated => "not stated (a receipt made before receipts said so)".into(),
    }
}

fn show(image: &Path, json: bool) -> Result<()> {
    let decoded = png::decode(&files::read_limited(image)?).with_context(|| format!("{}", image.display()))?;
    let signed = read_claims(&decoded).map_err(anyhow::Error::msg).with_context(|| format!("{}", image.display()))?;
    let summary = ReceiptSummary::from(&signed.claims);
    if json {
        say!("{}", serde_json::to_string_pretty(&summary)?);
        return Ok(());
    }
    let c = &signed.claims;
    say!("receipt      {}", c.id);
    say!("merchant     {} ({})", c.merchant_name, c.merchant_id);
    say!("terminal     {}", c.terminal_id);
    say!("type         {} {}", c.kind.code(), c.kind.name_zh());
    if let Some(o) = &c.original {
        say!("original     {}", o.summary());
    }
    say!("amount       {}", c.amount.format_signed(MoneyLayout::CodeFirst, c.kind.direction()));
    say!("time         {}", c.time);
    say!("card         {}", summary.pan_masked);
    say!("batch/serial {}/{}", c.batch, c.serial);
    say!("rrn          {}", c.rrn);
    say!("auth code    {}", c.auth_code);
    say!("authorised   {}", authorised(c.authorisation));
    say!("signed by    {}", signed.certificate.subject);
    say!("(decoded only; run `ereceipt verify` to check authenticity)");
    Ok(())
}
