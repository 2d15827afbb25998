//! What the terminal commands share once a receipt is stored: its image written, the upload
//! tried, and the exit codes that say where it is.

use std::path::Path;

use anyhow::Result;
use ereceipt_terminal::outbox::EntryState;
use ereceipt_terminal::sync::Uploader;

use crate::files;

/// Stored and queued (or, for a reversal or a refund's advice, journalled and not acknowledged
/// yet): sent again later.
pub(crate) const EXIT_QUEUED: i32 = 4;
/// The platform refused a receipt for good.
pub(crate) const EXIT_REFUSED: i32 = 5;

/// After a receipt is stored: its image written to `out`, then uploaded unless `offline`.
/// Exit 0: uploaded; 4: queued; 5: refused by the platform for good.
pub(crate) async fn stored(
    uploader: &Uploader,
    receipt: &ereceipt_core::compose::ComposedReceipt,
    out: Option<&Path>,
    offline: bool,
) -> Result<i32> {
    let id = receipt.record.id.to_string();
    say!("receipt {id} stored in the outbox ({} bytes)", receipt.png.len());
    if let Some(out) = out {
        files::write_replace(out, &receipt.png)?;
        say!("image: {}", out.display());
    }
    if std::env::var_os("EReceipt_TEST_ABORT_AFTER_STORE").is_some() {
        // Fault injection for the crash tests: die like kill -9 between storing and uploading.
        std::process::abort();
    }
    if offline {
        say!("queued (offline)");
        return Ok(4);
    }
    let report = uploader.drain_due().await?;
    let entry = uploader.outbox.entry(&id).await?;
    match entry {
        Some(e) if e.state == EntryState::Acked => {
            say!("uploaded to {} and acknowledged", uploader.platform_url());
            Ok(0)
        }
        Some(e) if e.state == EntryState::Refused => {
            say!("REFUSED by the platform: {}", e.last_error.as_deref().unwrap_or("no reason given"));
            say!("the receipt is kept on this terminal but will not be sent again, and the customer does not get it from the platform: tell the operator (ereceipt terminal status)");
            Ok(EXIT_REFUSED)
        }
        _ => {
            say!("queued: {}", report.last_error.unwrap_or_else(|| "waiting for older receipts".into()));
            Ok(4)
        }
    }
}
