//! `ereceipt bundle verify`: checks an acquirer's retrieval bundle offline with the platform's
//! CA certificate alone: the manifest's signature, every file's SHA-256, nothing added or
//! removed, the record the platform acknowledged; then the receipt image with the bundle's
//! evidence, as `ereceipt verify --evidence` would.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use ereceipt_core::bundle::{check, BundleError, LINKED};
use ereceipt_core::identity::pem_decode;
use ereceipt_core::verify::{verify_image_with, Stored, TimeFacts};

use crate::files;

/// More files than a bundle has mean it is not one: twelve of its own, and three for each linked
/// receipt (a sale refunded in many parts has dozens).
const MAX_FILES: usize = 512;

#[derive(Subcommand)]
pub enum BundleCommand {
    /// Check a retrieval bundle (`bundle.zip` from the acquirer portal): exit 0 intact and the
    /// receipt and its linked receipts (`linked/`) authentic, 1 altered (the bundle or the receipt), 2 unverifiable (not from the
    /// trusted platform, or not a bundle), 4 unconfirmed; 3: the command itself failed.
    Verify {
        /// The ZIP as downloaded.
        bundle: std::path::PathBuf,
        /// The platform's CA certificate (PEM).
        #[arg(long)]
        trust: std::path::PathBuf,
    },
}

pub fn run(c: BundleCommand) -> Result<i32> {
    let BundleCommand::Verify { bundle, trust } = c;
    verify(&bundle, &trust)
}

/// The files of the one receipt folder the bundle holds, by name within it.
fn read_bundle(path: &Path) -> Result<(String, BTreeMap<String, Vec<u8>>)> {
    let bytes = files::read_limited(path)?;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .with_context(|| format!("{} is not a ZIP archive", path.display()))?;
    if archive.len() > MAX_FILES {
        bail!("{} holds {} files, more than any retrieval bundle", path.display(), archive.len());
    }
    let mut folder: Option<String> = None;
    let mut out = BTreeMap::new();
    let mut total: u64 = 0;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).with_context(|| format!("entry {i} of {}", path.display()))?;
        let full = entry.name().to_owned();
        let Some((dir, name)) = full.split_once('/') else { bail!("{full} is not in a receipt's folder") };
        match &folder {
            Some(f) if f != dir => bail!("{full} is outside the receipt's folder {f}/"),
            Some(_) => {}
            None => folder = Some(dir.to_owned()),
        }
        let mut data = Vec::new();
        // The archive's sizes are the attacker's word: read at most what is left of the limit.
        let left = files::MAX_INPUT.saturating_sub(total);
        entry.by_ref().take(left + 1).read_to_end(&mut data).with_context(|| format!("cannot read {full}"))?;
        total += data.len() as u64;
        if total > files::MAX_INPUT {
            bail!("{} unpacks to more than {} bytes", path.display(), files::MAX_INPUT);
        }
        if out.insert(name.to_owned(), data).is_some() {
            bail!("{full} is in the archive twice");
        }
    }
    let folder = folder.with_context(|| format!("{} is empty", path.display()))?;
    Ok((folder, out))
}

fn verify(bundle: &Path, trust: &Path) -> Result<i32> {
    let anchor = pem_decode(&files::read_text(trust)?, "CERTIFICATE")
        .with_context(|| format!("trust anchor {}", trust.display()))?;
    let (folder, contents) = read_bundle(bundle)?;
    let checked = match check(&contents, &anchor) {
        Ok(c) => c,
        Err(e) => {
            let (word, code) = if e.is_alteration() { ("ALTERED", 1) } else { ("UNVERIFIABLE", 2) };
            say!("{word}: {e}");
            return Ok(code);
        }
    };
    let ack = &checked.acknowledgement;
    if ack.receipt_id != folder {
        let e = BundleError::Record(ack.receipt_id.clone());
        say!("ALTERED: {e} (the folder says {folder})");
        return Ok(1);
    }
    say!(
        "bundle intact: {} files signed by the platform, receipt {} stored at {}",
        checked.files.len(),
        ack.receipt_id,
        ereceipt_core::evidence::rfc3339_ms(ack.stored_at_ms)
    );
    let Some(png) = contents.get("receipt.png") else {
        say!("ALTERED: receipt.png is missing");
        return Ok(1);
    };
    let v = verify_image_with(png, &anchor, &TimeFacts { stored: Stored::from(ack), revocations: None });
    say!("receipt.png: {}: {}", v.verdict.word(), v.reason);
    let mut code = v.verdict.exit_code();
    // The linked receipts (original, voids, refunds, completions), each with its own evidence.
    for linked in &checked.linked {
        let name = format!("{LINKED}/{}/receipt.png", linked.receipt_id);
        let Some(png) = contents.get(&name) else {
            say!("ALTERED: {name} is missing");
            return Ok(1);
        };
        let v = verify_image_with(png, &anchor, &TimeFacts { stored: Stored::from(linked), revocations: None });
        say!("{name}: {}: {}", v.verdict.word(), v.reason);
        if code == 0 {
            code = v.verdict.exit_code();
        }
    }
    Ok(code)
}
