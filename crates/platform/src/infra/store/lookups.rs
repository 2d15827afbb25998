//! Lookups for the portal: the delivery state of many receipts at once (CSV export) and a
//! receipt's neighbours in its terminal's hash chain (the acquirer's chain proof).

use std::collections::HashMap;

use super::receipts::chain_entry_from_row;
use super::{column, decode, ChainEntry, Store, StoreError};
use crate::domain::delivery::DeliveryState;

/// Receipts per `IN (…)` list: well under SQLite's and PostgreSQL's parameter limits.
const CHUNK: usize = 500;

impl Store {
    /// For each receipt that has one: the delivery channel (`email`, `sms`, `mms`, `pull`) and
    /// the state of its newest push delivery (`pull` receipts: none).
    pub async fn delivery_states(
        &self,
        receipt_ids: &[String],
    ) -> Result<HashMap<String, (&'static str, Option<DeliveryState>)>, StoreError> {
        let mut out = HashMap::new();
        for chunk in receipt_ids.chunks(CHUNK) {
            let list = (1..=chunk.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
            let sql = format!(
                "SELECT r.receipt_id, r.delivery_channel, r.delivery_to, d.state FROM receipts r \
                 LEFT JOIN deliveries d ON d.receipt_id = r.receipt_id \
                 WHERE r.receipt_id IN ({list}) AND r.delivery_channel IS NOT NULL ORDER BY d.delivery_id"
            );
            let mut q = sqlx::query(&sql);
            for id in chunk {
                q = q.bind(id);
            }
            for row in q.fetch_all(&self.pool).await? {
                let id: String = column(&row, "receipt_id")?;
                let choice = decode::delivery_choice(column(&row, "delivery_channel")?, column(&row, "delivery_to")?)?;
                let state = column::<Option<String>>(&row, "state")?.map(|s| decode::named("state", &s)).transpose()?;
                if let Some(choice) = choice {
                    out.insert(id, (choice.channel(), state));
                }
            }
        }
        Ok(out)
    }

    /// The receipts at `sequence - 1` and `sequence + 1` of `terminal_id`'s chain (each list
    /// holds more than one entry when the terminal duplicated a sequence number).
    pub async fn chain_neighbours(
        &self,
        terminal_id: &str,
        sequence: i64,
    ) -> Result<(Vec<ChainEntry>, Vec<ChainEntry>), StoreError> {
        let rows = sqlx::query(
            "SELECT receipt_id, sequence, previous_hash, record_hash, ingest_seq, received_at FROM receipts \
             WHERE terminal_id = $1 AND sequence IN ($2, $3) ORDER BY ingest_seq",
        )
        .bind(terminal_id)
        .bind(sequence - 1)
        .bind(sequence + 1)
        .fetch_all(&self.pool)
        .await?;
        let (mut before, mut after) = (Vec::new(), Vec::new());
        for row in &rows {
            let e = chain_entry_from_row(row)?;
            if e.sequence == Some(sequence - 1) {
                before.push(e);
            } else {
                after.push(e);
            }
        }
        Ok((before, after))
    }
}
