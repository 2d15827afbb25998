//! `ereceipt sample`: the quick start until the demo exists. Makes a CA, a test-card terminal,
//! a transaction and a signature, creates the receipt, verifies it and says where it all is.

use std::fs;
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::ca::{self, CaCommand};
use crate::files;

pub fn run(dir: &Path, font: Option<&Path>) -> Result<()> {
    if dir.exists() && fs::read_dir(dir).map(|mut d| d.next().is_some()).unwrap_or(true) {
        bail!("{} already exists and is not empty; pass another --dir", dir.display());
    }
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let ca_dir = dir.join("ca");
    let tdir = dir.join("terminal");
    ca::run(CaCommand::Init { dir: ca_dir.clone(), name: "ereceipt sample root CA".into() })?;
    ca::run(CaCommand::Issue {
        ca: ca_dir.clone(),
        terminal_id: "POS00001".into(),
        merchant_id: "898440358120001".into(),
        merchant_name: "深圳湾咖啡 Shenzhen Bay Coffee".into(),
        location: "深圳市南山区科技园科苑路15号; geo:22.543100,113.936500".into(),
        out: tdir.clone(),
        days: 730,
        test_cards: true,
        width: 576,
    })?;
    let now = chrono::Utc::now()
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).context("offset")?)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
    let tx = dir.join("transaction.json");
    let sig = dir.join("signature.json");
    files::write_new(&tx, ereceipt_core::samples::transaction_json(123, &now).as_bytes(), false)?;
    files::write_new(&sig, ereceipt_core::samples::signature(123).to_signature_pad_json().as_bytes(), false)?;
    let out = dir.join("receipt.png");
    let (id, size) = crate::receipt::create(&tdir, &tx, &sig, &out, font)?;
    say!();
    say!("receipt {id}: {} ({size} bytes)", out.display());
    let code = crate::verify::run(&out, &ca_dir.join(files::CA_CERT), false, None)?;
    if code != 0 {
        bail!("the sample receipt did not verify as authentic");
    }
    say!();
    say!("Try: ereceipt verify {} --trust {} --json", out.display(), ca_dir.join(files::CA_CERT).display());
    Ok(())
}
