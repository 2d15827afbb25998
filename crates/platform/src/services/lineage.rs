//! Receipt lineage (issue 13): what a stored receipt is (sale, void, refund, pre-authorisation,
//! completion) and what it names as its original, read from its record; the store links it
//! (`crate::domain::lineage` has the rules). Receipts stored before kinds were kept are
//! classified from their records when the platform starts ([`backfill`]).

use ereceipt_core::encoding::decode_record;
use ereceipt_core::model::ReceiptRecord;

use crate::domain::lineage::Named;
use crate::infra::store::{ReceiptLineage, Store, StoreError};

/// How many receipts one backfill transaction classifies.
const BACKFILL_BATCH: i64 = 500;

/// The lineage columns of `record`.
pub fn of_record(record: &ReceiptRecord) -> ReceiptLineage {
    let tx = &record.transaction;
    ReceiptLineage {
        kind: tx.kind,
        voucher: i64::from(tx.voucher.value()),
        local_date: tx.time.local().date_naive().format("%Y-%m-%d").to_string(),
        named: tx.original.as_ref().map(|o| Named {
            receipt_id: o.receipt_id.as_ref().map(|id| id.to_string()),
            batch: o.batch.map(|b| i64::from(b.value())),
            voucher: o.voucher.map(|v| i64::from(v.value())),
            rrn: o.rrn.as_ref().map(|r| r.to_string()),
            auth_code: o.auth_code.as_ref().map(|a| a.to_string()),
            date: o.date_text(),
        }),
    }
}

/// What a backfill did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Backfilled {
    pub classified: u64,
    /// Records that do not decode (a damaged store): left unclassified, shown as sales, logged.
    pub undecodable: u64,
}

/// Classifies and links every receipt stored before kinds were kept, in arrival order, a batch
/// per transaction. Safe to run in several processes at once (a receipt is classified once).
pub async fn backfill(store: &Store) -> Result<Backfilled, StoreError> {
    let mut done = Backfilled::default();
    let mut after = 0;
    loop {
        let rows = store.unclassified(after, BACKFILL_BATCH).await?;
        let Some(last) = rows.last() else { break };
        after = last.ingest_seq;
        let mut items = Vec::with_capacity(rows.len());
        for row in rows {
            match decode_record(&row.record) {
                Ok(record) => items.push((row.receipt_id, row.merchant_id, of_record(&record))),
                Err(e) => {
                    tracing::error!(receipt = %row.receipt_id, error = %e, "a stored record does not decode; left unclassified");
                    done.undecodable += 1;
                }
            }
        }
        done.classified += store.classify(&items).await?;
    }
    if done.classified > 0 || done.undecodable > 0 {
        tracing::info!(
            classified = done.classified,
            undecodable = done.undecodable,
            "receipts classified by kind and linked"
        );
    }
    Ok(done)
}
