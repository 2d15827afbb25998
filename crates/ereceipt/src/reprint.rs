//! `ereceipt terminal reprint | resend`: a stored receipt shown again as a duplicate copy
//! (重打印凭证 / DUPLICATE, a new image over the same signed record), or sent again to a new
//! address by the platform (重发). Neither makes a second receipt.

use std::path::Path;

use anyhow::{Context, Result};
use ereceipt_core::identity::Signer;
use ereceipt_core::model::DeliveryChoice;
use ereceipt_terminal::device::Device;
use ereceipt_terminal::outbox::Outbox;
use ereceipt_terminal::reprint::{reprint as duplicate, Which};
use ereceipt_terminal::resend::{resend_receipt, ResendOutcome};
use ereceipt_terminal::sale::Composer;
use ereceipt_terminal::sync::Uploader;

use crate::files::{self, TerminalSettings};
use crate::stored::EXIT_QUEUED;

/// `terminal reprint`: writes the duplicate of receipt `id` (or the last one) to `out`.
/// Exit 0; an unknown receipt, or one a renewed certificate cannot reprint, is an error.
pub async fn reprint(dir: &Path, id: Option<&str>, out: &Path) -> Result<i32> {
    let device = Device::new(dir);
    let settings = TerminalSettings::load(dir)?;
    let signer = Signer::new(&device.identity()?).context("terminal identity")?;
    let fonts = files::load_fonts(settings.font.as_deref())?;
    let outbox = Outbox::open(&device.outbox_path()).await?;
    let composer = Composer { signer: &signer, fonts: &fonts, width: settings.slip_width };
    let which = id.map_or(Which::Last, Which::Receipt);
    let made = duplicate(&outbox, composer, which).await;
    outbox.close().await;
    let dup = made?;
    files::write_replace(out, &dup.png)?;
    say!(
        "duplicate (重打印凭证 / DUPLICATE) of receipt {} written to {}: the same signed record \
         (hash {}), not a second receipt",
        dup.record.id,
        out.display(),
        hex::encode(dup.record_hash)
    );
    Ok(0)
}

/// `terminal resend`: exit 0 queued on the platform; 4 not uploaded yet; errors exit 3.
pub async fn resend(dir: &Path, id: &str, deliver: &str) -> Result<i32> {
    let choice: DeliveryChoice = deliver.parse().with_context(|| format!("--deliver {deliver}"))?;
    let uploader = Uploader::open(&Device::new(dir)).await?;
    match resend_receipt(&uploader, id, &choice).await.with_context(|| format!("resend {id}"))? {
        ResendOutcome::Queued { channel, delivery_id } => {
            say!("receipt {id} queued for {channel} to {} (delivery {delivery_id})", choice.recipient());
            Ok(0)
        }
        ResendOutcome::NotUploaded { state } => {
            say!("receipt {id} is {state} on this terminal, not uploaded yet: it can be resent once it is (ereceipt terminal sync)");
            Ok(EXIT_QUEUED)
        }
    }
}
