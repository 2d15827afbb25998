//! Settlement slips (结算单) from terminals: verify the slip and its signer (a certificate this
//! platform issued to the uploading terminal, not revoked), store it once, and reconcile it
//! against the receipts held of that terminal and batch; again whenever a late one arrives.

use chrono::{DateTime, Utc};
use ereceipt_core::card::CardBrand;
use ereceipt_core::contract::{Reconciliation, SettlementStored};
use ereceipt_core::encoding::decode_record;
use ereceipt_core::identity::PosCertificate;
use ereceipt_core::model::SettlementSlip;
use ereceipt_core::settlement::{reconcile, verify_settlement, HeldReceipt, SettlementRefused, VerifiedSettlement};

use crate::infra::store::{
    NewSettlement, Reconciled, SettlementOutcome, SettlementRow, Store, StoreError, StoredReceipt,
};

/// Why a settlement slip was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettlementRefusal {
    /// The image does not verify (not a slip, tampered, a signer the CA did not certify).
    #[error("settlement slip refused: {0}")]
    NotAuthentic(SettlementRefused),
    /// The slip was signed for another terminal or merchant than the uploading one.
    #[error("the slip is of terminal {slip}, the client certificate is terminal {client}")]
    WrongTerminal { slip: String, client: String },
    /// The slip's signer is a certificate this platform never issued, or one it revoked.
    #[error("the slip's signer {serial} is {state}")]
    Signer { serial: String, state: &'static str },
    /// Another slip is stored for this terminal and batch.
    #[error("terminal {terminal} already has a different settlement slip for batch {batch:06}")]
    Conflict { terminal: String, batch: u32 },
    /// The store failed; the upload may be retried.
    #[error("storage unavailable, retry later")]
    Unavailable(#[source] StoreError),
}

impl From<StoreError> for SettlementRefusal {
    fn from(e: StoreError) -> Self {
        Self::Unavailable(e)
    }
}

/// A stored slip: the answer, and whether it was new.
#[derive(Debug)]
pub struct Settled {
    pub answer: SettlementStored,
    pub created: bool,
}

/// The CPU-bound part (run off the async workers): the image verified against the CA and
/// bound to the uploading terminal.
pub fn verify(ca_der: &[u8], client: &PosCertificate, png: &[u8]) -> Result<VerifiedSettlement, SettlementRefusal> {
    let v = verify_settlement(png, ca_der).map_err(SettlementRefusal::NotAuthentic)?;
    let (slip, me) = (&v.slip.terminal, &client.terminal);
    if slip.terminal_id != me.terminal_id || slip.merchant_id != me.merchant_id {
        return Err(SettlementRefusal::WrongTerminal {
            slip: format!("{} (merchant {})", slip.terminal_id, slip.merchant_id),
            client: format!("{} (merchant {})", me.terminal_id, me.merchant_id),
        });
    }
    Ok(v)
}

/// Stores a verified slip (once) and reconciles it.
pub async fn store(
    store: &Store,
    verified: VerifiedSettlement,
    png: Vec<u8>,
    now: DateTime<Utc>,
) -> Result<Settled, SettlementRefusal> {
    let signer = &verified.certificate;
    match store.certificate(&signer.serial).await? {
        None => return Err(SettlementRefusal::Signer { serial: signer.serial.clone(), state: "not issued here" }),
        Some(c) if c.revoked_at.is_some() => {
            return Err(SettlementRefusal::Signer { serial: signer.serial.clone(), state: "revoked" })
        }
        Some(_) => {}
    }
    let slip = &verified.slip;
    let terminal_id = slip.terminal.terminal_id.to_string();
    let batch = slip.batch.value();
    let reconciliation = reconcile_with(store, slip).await?;
    let new = NewSettlement {
        terminal_id: terminal_id.clone(),
        batch: i64::from(batch),
        merchant_id: slip.terminal.merchant_id.to_string(),
        slip_hash: verified.hash,
        slip: verified.bytes.clone(),
        png,
        signer_serial: signer.serial.clone(),
        settled_at: slip.settled_at.utc_seconds().saturating_mul(1000),
        settled_offset_minutes: slip.settled_at.offset_minutes().into(),
        host_balanced: slip.host.balanced(),
        received_at: now.timestamp_millis(),
        reconciled: stored_form(&reconciliation, now),
    };
    let created = match store.store_settlement(&new).await? {
        SettlementOutcome::Stored => true,
        SettlementOutcome::Duplicate => {
            // Stored before: the answer is today's reconciliation, kept.
            store.set_reconciliation(&terminal_id, new.batch, &new.reconciled).await?;
            false
        }
        SettlementOutcome::Conflict => return Err(SettlementRefusal::Conflict { terminal: terminal_id, batch }),
    };
    tracing::info!(terminal = %terminal_id, batch, balanced = reconciliation.balanced, created, "settlement slip stored");
    Ok(Settled {
        answer: SettlementStored { terminal_id, batch, slip_hash: hex::encode(verified.hash), reconciliation },
        created,
    })
}

/// Reconciles the stored slip of `terminal_id`'s `batch` again, if there is one (a receipt of
/// that batch just arrived), and stores the result.
pub async fn reconcile_again(
    store: &Store,
    terminal_id: &str,
    batch: i64,
    now: DateTime<Utc>,
) -> Result<Option<Reconciliation>, StoreError> {
    let Some(row) = store.settlement(terminal_id, batch).await? else { return Ok(None) };
    let slip = ereceipt_core::encoding::decode_settlement(&row.slip)
        .map_err(|e| StoreError::CorruptRow(format!("settlement slip of {terminal_id} batch {batch}: {e}")))?;
    let reconciliation = reconcile_with(store, &slip).await?;
    store.set_reconciliation(terminal_id, batch, &stored_form(&reconciliation, now)).await?;
    tracing::info!(terminal = terminal_id, batch, balanced = reconciliation.balanced, "settlement reconciled again");
    Ok(Some(reconciliation))
}

/// The reconciliation of a stored slip as the store keeps it, read back (an older row keeps
/// only the array of differences).
pub fn reconciliation_of(reconciled: &Reconciled) -> Reconciliation {
    serde_json::from_str::<Reconciliation>(&reconciled.differences).unwrap_or_else(|_| Reconciliation {
        balanced: reconciled.balanced,
        differences: serde_json::from_str(&reconciled.differences).unwrap_or_default(),
        missing: Vec::new(),
    })
}

fn stored_form(r: &Reconciliation, now: DateTime<Utc>) -> Reconciled {
    Reconciled {
        balanced: r.balanced,
        differences: serde_json::to_string(r).unwrap_or_else(|_| "[]".into()),
        at: now.timestamp_millis(),
    }
}

/// `slip` against the receipts the platform holds of its terminal and batch: each one's kind,
/// brand and amount from its columns (its record only where the kind column is not filled in
/// yet, or the brand column holds a code this build does not know), and the terminal's chain
/// after the batch's last held receipt.
async fn reconcile_with(store: &Store, slip: &SettlementSlip) -> Result<Reconciliation, StoreError> {
    let terminal_id = slip.terminal.terminal_id.as_str();
    let rows = store.batch_receipts(terminal_id, slip.batch.value().into()).await?;
    let mut held: Vec<HeldReceipt> = Vec::with_capacity(rows.len());
    for row in &rows {
        let r = &row.receipt;
        let (kind, brand) = match (row.kind_known, CardBrand::from_code(&r.card_brand)) {
            (true, Some(brand)) => (r.kind, brand),
            _ => {
                let rec = decode_record(&r.record)
                    .map_err(|e| StoreError::CorruptRow(format!("stored record of {}: {e}", r.receipt_id)))?;
                (rec.transaction.kind, rec.transaction.card.brand)
            }
        };
        held.push(HeldReceipt {
            kind,
            brand,
            amount: r.amount,
            serial: u32::try_from(r.serial).unwrap_or(0),
            sequence: r.sequence.and_then(|s| u64::try_from(s).ok()),
        });
    }
    let last = rows.iter().filter_map(|b| b.receipt.sequence).max();
    let next = match last {
        Some(last) => store.next_sequence_after(terminal_id, last).await?.and_then(|n| u64::try_from(n).ok()),
        None => None,
    };
    Ok(reconcile(slip, &held, next))
}

/// A settled batch as the portal shows it: the stored slip, what it states, and the
/// platform's latest reconciliation of it.
#[derive(Clone, Debug)]
pub struct SettledBatch {
    pub row: SettlementRow,
    pub slip: SettlementSlip,
    pub reconciliation: Reconciliation,
}

fn settled(row: SettlementRow) -> Result<SettledBatch, StoreError> {
    let slip = ereceipt_core::encoding::decode_settlement(&row.slip).map_err(|e| {
        StoreError::CorruptRow(format!("settlement slip of {} batch {}: {e}", row.terminal_id, row.batch))
    })?;
    let reconciliation = reconciliation_of(&row.reconciled);
    Ok(SettledBatch { row, slip, reconciliation })
}

/// The settled batches of `merchant_id`, newest first, at most `limit`.
pub async fn merchant_batches(store: &Store, merchant_id: &str, limit: i64) -> Result<Vec<SettledBatch>, StoreError> {
    store.merchant_settlements(merchant_id, limit).await?.into_iter().map(settled).collect()
}

/// The settled batch `batch` of `terminal_id` with the receipts held of it, if there is one
/// and it is of `merchant_id` (`None`: any merchant's, for the acquirer). Another merchant's
/// batch is `None`, as one that does not exist.
pub async fn batch(
    store: &Store,
    merchant_id: Option<&str>,
    terminal_id: &str,
    batch: u32,
) -> Result<Option<(SettledBatch, Vec<StoredReceipt>)>, StoreError> {
    let Some(row) = store.settlement(terminal_id, batch.into()).await? else { return Ok(None) };
    if merchant_id.is_some_and(|m| m != row.merchant_id) {
        return Ok(None);
    }
    let receipts = store.batch_receipts(terminal_id, batch.into()).await?.into_iter().map(|b| b.receipt).collect();
    Ok(Some((settled(row)?, receipts)))
}

#[cfg(test)]
mod tests;
