//! Checks a terminal's hash chain as stored (each receipt names its sequence number and the hash
//! of the previous receipt, as Austria's RKSV chains receipts): gaps, duplicated sequence
//! numbers, broken links and receipts that arrived out of order are reported to the operator,
//! with the batches that made the chain: a new enrolment of the terminal id (a replaced phone)
//! continues the chain in a batch of its own, so where it took over is visible.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::infra::store::{ChainEntry, ChainFloor};

/// What is wrong (or right) with one terminal's chain.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ChainReport {
    pub receipts: usize,
    /// Highest sequence number seen.
    pub last_sequence: Option<i64>,
    /// Missing sequence numbers, as inclusive ranges.
    pub gaps: Vec<(i64, i64)>,
    /// Sequence numbers claimed by more than one receipt, with those receipts.
    pub duplicates: Vec<(i64, Vec<String>)>,
    /// Receipts whose `previous` is not the hash of the stored receipt before them.
    pub broken_links: Vec<String>,
    /// Receipts that arrived after a receipt with a higher sequence number.
    pub out_of_order: Vec<String>,
    /// Receipts without a chain link.
    pub unchained: usize,
    /// The batches of the chained receipts, in order of their first sequence number. A batch
    /// starts at each enrolment of a new device under the terminal id (and after serial 999999);
    /// its first receipt links to the last receipt the platform held from the previous one.
    pub batches: Vec<BatchSpan>,
    /// The chain's start purged under retention, if it was: missing sequence numbers up to
    /// there are not gaps, and the chain is verified from the first receipt after it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purged: Option<PurgedPrefix>,
}

/// The start of a chain purged under retention.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PurgedPrefix {
    /// Sequence numbers up to this one were purged (receipts on hold among them are kept).
    pub through_sequence: i64,
    /// The newest purged receipt.
    pub last_purged: String,
    pub receipts_purged: i64,
    /// When it was purged (Unix ms).
    pub purged_at: i64,
    /// The first receipt kept after the purged prefix, from which the chain is verified.
    pub verified_from: Option<String>,
}

impl PurgedPrefix {
    /// One line for the operator: "verified from receipt X (earlier ones purged on DATE under
    /// retention)".
    pub fn summary(&self) -> String {
        let date = chrono::DateTime::from_timestamp_millis(self.purged_at)
            .map(|d| d.format("%Y-%m-%d").to_string())
            .unwrap_or_else(|| self.purged_at.to_string());
        match &self.verified_from {
            Some(id) => format!(
                "verified from receipt {id} (earlier ones purged on {date} under retention, through {})",
                self.last_purged
            ),
            None => format!("every receipt through {} purged on {date} under retention", self.last_purged),
        }
    }
}

/// The chained receipts of one batch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BatchSpan {
    pub batch: u32,
    pub first_sequence: i64,
    pub last_sequence: i64,
    pub receipts: usize,
    /// The receipt at `first_sequence`: where this batch took over the chain.
    pub first_receipt: String,
}

/// The batch in a receipt id `TERMINAL-BATCH-SERIAL`.
fn batch_of(receipt_id: &str) -> Option<u32> {
    receipt_id.split('-').nth(1)?.parse().ok()
}

fn batches(entries: &[ChainEntry]) -> Vec<BatchSpan> {
    let mut spans: BTreeMap<u32, BatchSpan> = BTreeMap::new();
    for e in entries {
        let (Some(seq), Some(batch)) = (e.sequence, batch_of(&e.receipt_id)) else { continue };
        let span = spans.entry(batch).or_insert_with(|| BatchSpan {
            batch,
            first_sequence: seq,
            last_sequence: seq,
            receipts: 0,
            first_receipt: e.receipt_id.clone(),
        });
        span.receipts += 1;
        if seq < span.first_sequence {
            span.first_sequence = seq;
            span.first_receipt = e.receipt_id.clone();
        }
        span.last_sequence = span.last_sequence.max(seq);
    }
    let mut list: Vec<BatchSpan> = spans.into_values().collect();
    list.sort_by_key(|s| (s.first_sequence, s.batch));
    list
}

impl ChainReport {
    pub fn is_clean(&self) -> bool {
        self.gaps.is_empty()
            && self.duplicates.is_empty()
            && self.broken_links.is_empty()
            && self.out_of_order.is_empty()
    }
}

/// Analyses `entries` given in arrival (ingest) order, of a chain nothing was purged from.
pub fn analyse(entries: &[ChainEntry]) -> ChainReport {
    analyse_after(entries, None)
}

/// Analyses `entries` given in arrival (ingest) order, of a chain whose start up to `floor`
/// may have been purged under retention: sequence numbers up to the floor are not gaps, and the
/// first receipt after it must link to the newest purged receipt's hash.
pub fn analyse_after(entries: &[ChainEntry], floor: Option<&ChainFloor>) -> ChainReport {
    let mut report = ChainReport { receipts: entries.len(), ..ChainReport::default() };
    let purged_through = floor.map_or(0, |f| f.last_sequence);
    let mut by_seq: BTreeMap<i64, Vec<&ChainEntry>> = BTreeMap::new();
    let mut highest: Option<i64> = None;
    for e in entries {
        let Some(seq) = e.sequence else {
            report.unchained += 1;
            continue;
        };
        if highest.is_some_and(|h| seq < h) {
            report.out_of_order.push(e.receipt_id.clone());
        }
        highest = Some(highest.map_or(seq, |h| h.max(seq)));
        by_seq.entry(seq).or_default().push(e);
    }
    report.last_sequence = highest;
    report.batches = batches(entries);
    let mut expected = purged_through + 1;
    for (&seq, list) in &by_seq {
        if seq > purged_through && seq > expected {
            report.gaps.push((expected, seq - 1));
        }
        expected = expected.max(seq + 1);
        if list.len() > 1 {
            report.duplicates.push((seq, list.iter().map(|e| e.receipt_id.clone()).collect()));
        }
    }
    // A link is checked only when the previous receipt is stored and unambiguous.
    let hash_at: HashMap<i64, [u8; 32]> =
        by_seq.iter().filter(|(_, l)| l.len() == 1).map(|(&s, l)| (s, l[0].record_hash)).collect();
    for e in entries {
        let (Some(seq), Some(prev)) = (e.sequence, e.previous_hash.as_deref()) else { continue };
        let expected_prev = match floor {
            _ if seq == 1 => Some([0u8; 32]),
            Some(f) if seq == f.last_sequence + 1 => Some(f.last_hash),
            // Held receipts inside the purged prefix: their predecessor may be gone.
            _ => hash_at.get(&(seq - 1)).copied(),
        };
        if let Some(h) = expected_prev {
            if prev != h {
                report.broken_links.push(e.receipt_id.clone());
            }
        }
    }
    report.purged = floor.map(|f| PurgedPrefix {
        through_sequence: f.last_sequence,
        last_purged: f.last_receipt_id.clone(),
        receipts_purged: f.receipts,
        purged_at: f.purged_at,
        verified_from: by_seq.range(f.last_sequence + 1..).next().map(|(_, l)| l[0].receipt_id.clone()),
    });
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<ChainEntry> {
        let mut prev = [0u8; 32];
        (1..=n)
            .map(|s| {
                let hash = [s as u8; 32];
                let e = ChainEntry {
                    receipt_id: format!("R{s}"),
                    sequence: Some(s),
                    previous_hash: Some(prev.to_vec()),
                    record_hash: hash,
                    ingest_seq: s,
                    received_at: s,
                };
                prev = hash;
                e
            })
            .collect()
    }

    #[test]
    fn an_intact_chain_is_clean() {
        let r = analyse(&chain(5));
        assert!(r.is_clean(), "{r:?}");
        assert_eq!(r.last_sequence, Some(5));
    }

    #[test]
    fn a_deleted_receipt_is_a_gap_and_breaks_no_link_it_cannot_see() {
        let mut c = chain(6);
        c.remove(2); // sequence 3
        c.remove(2); // sequence 4
        let r = analyse(&c);
        assert_eq!(r.gaps, vec![(3, 4)]);
        assert!(r.broken_links.is_empty());
    }

    #[test]
    fn a_duplicate_sequence_and_a_reordering_are_flagged() {
        let mut c = chain(4);
        let mut twin = c[1].clone();
        twin.receipt_id = "R2-bis".into();
        twin.record_hash = [99; 32];
        c.push(twin);
        let r = analyse(&c);
        assert_eq!(r.duplicates, vec![(2, vec!["R2".to_string(), "R2-bis".to_string()])]);
        assert_eq!(r.out_of_order, vec!["R2-bis".to_string()]);

        let mut swapped = chain(4);
        swapped.swap(1, 2);
        let r = analyse(&swapped);
        assert_eq!(r.out_of_order, vec!["R2".to_string()]);
        assert!(r.gaps.is_empty() && r.broken_links.is_empty());
    }

    #[test]
    fn batches_show_where_a_new_enrolment_took_over() {
        let mut c = chain(5);
        for (i, e) in c.iter_mut().enumerate() {
            let batch = if i < 3 { 1 } else { 2 };
            e.receipt_id = format!("POS00001-{batch:06}-{:06}", if i < 3 { i + 1 } else { i - 2 });
        }
        let r = analyse(&c);
        assert!(r.is_clean(), "{r:?}");
        let spans: Vec<_> =
            r.batches.iter().map(|b| (b.batch, b.first_sequence, b.last_sequence, b.receipts)).collect();
        assert_eq!(spans, vec![(1, 1, 3, 3), (2, 4, 5, 2)]);
        assert_eq!(r.batches[1].first_receipt, "POS00001-000002-000001");
    }

    /// Security review L6: purging a chain's oldest receipts under retention must not make it
    /// look broken; with the floor recorded at purge it verifies from the first receipt kept,
    /// and a receipt kept on hold inside the purged prefix is no anomaly either.
    #[test]
    fn a_chain_whose_start_was_purged_verifies_from_the_first_receipt_kept() {
        let full = chain(6);
        let kept: Vec<ChainEntry> = full.iter().filter(|e| e.sequence > Some(3)).cloned().collect();
        let mut with_held = vec![full[1].clone()];
        with_held.extend(kept.iter().cloned());
        let floor = ChainFloor {
            last_sequence: 3,
            last_hash: full[2].record_hash,
            last_receipt_id: "R3".into(),
            receipts: 2,
            purged_at: 1_767_225_600_000,
        };
        assert_eq!(analyse(&kept).gaps, vec![(1, 3)], "without the floor the purge looks like deletion");
        for entries in [&kept, &with_held] {
            let r = analyse_after(entries, Some(&floor));
            assert!(r.is_clean(), "{r:?}");
            let purged = r.purged.as_ref().expect("the purged prefix is reported");
            assert_eq!(purged.verified_from.as_deref(), Some("R4"));
            assert_eq!(
                purged.summary(),
                "verified from receipt R4 (earlier ones purged on 2026-01-01 under retention, through R3)"
            );
        }
        // The first receipt kept must still link to the newest purged one.
        let mut forged = kept.clone();
        forged[0].previous_hash = Some(vec![7; 32]);
        assert_eq!(analyse_after(&forged, Some(&floor)).broken_links, vec!["R4".to_string()]);
        // A deletion after the floor is still a gap.
        let mut cut = kept;
        cut.remove(1);
        assert_eq!(analyse_after(&cut, Some(&floor)).gaps, vec![(5, 5)]);
    }

    #[test]
    fn a_replaced_receipt_breaks_the_next_link() {
        let mut c = chain(4);
        c[1].record_hash = [42; 32]; // R2 is not the receipt R3 chained to
        let r = analyse(&c);
        assert_eq!(r.broken_links, vec!["R3".to_string()]);
        let mut first = chain(2);
        first[0].previous_hash = Some(vec![1; 32]);
        assert_eq!(analyse(&first).broken_links, vec!["R1".to_string()]);
    }
}
