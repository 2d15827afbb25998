//! Where a terminal's receipts continue after an enrolment (`GET /api/v1/terminal/resume`, over
//! mutual TLS): the batch the enrolment owns and the platform's end of the terminal's hash chain.
//! A replaced phone or a lost outbox then never reuses a receipt id, and its chain goes on.

use serde::{Deserialize, Serialize};

use crate::model::{BatchNo, ModelError};

/// The platform's answer, JSON. Receipt ids are `TERMINAL-BATCH-SERIAL`: each enrolment of a
/// terminal id (a new phone) gets a batch no earlier enrolment used, a renewal keeps its batch,
/// and the terminal starts after the highest serial the platform holds in that batch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumePoint {
    /// The batch this enrolment's receipts carry (1 to 999999).
    pub batch: u32,
    /// The highest serial the platform holds in `batch`; 0 when it holds none.
    pub last_serial: u32,
    /// The last link of the terminal's chain the platform holds; `None` before its first receipt.
    pub head: Option<ChainHead>,
}

/// The receipt with the highest sequence number the platform holds for a terminal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    pub sequence: u64,
    /// SHA-256 of that receipt's canonical record, lowercase hex: the next receipt's `previous`.
    pub record_hash: String,
}

impl ChainHead {
    pub fn new(sequence: u64, record_hash: &[u8; 32]) -> Self {
        Self { sequence, record_hash: record_hash.iter().map(|b| format!("{b:02x}")).collect() }
    }

    /// The record hash as bytes; `None` if it is not 64 hex digits.
    pub fn hash(&self) -> Option<[u8; 32]> {
        let s = self.record_hash.as_bytes();
        if s.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, pair) in s.chunks(2).enumerate() {
            let text = std::str::from_utf8(pair).ok()?;
            out[i] = u8::from_str_radix(text, 16).ok()?;
        }
        Some(out)
    }
}

impl ResumePoint {
    /// The batch as the model's type (refuses 0 and values over six digits).
    pub fn batch_no(&self) -> Result<BatchNo, ModelError> {
        if self.batch == 0 {
            return Err(ModelError::Invalid { field: "batch", expected: "1 to 999999" });
        }
        BatchNo::new(self.batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_head_hash_round_trips_through_hex() {
        let hash: [u8; 32] = std::array::from_fn(|i| (i * 7) as u8);
        let head = ChainHead::new(42, &hash);
        assert_eq!(head.record_hash.len(), 64);
        assert_eq!(head.hash(), Some(hash));
        assert_eq!(ChainHead { sequence: 1, record_hash: "zz".repeat(32) }.hash(), None);
        assert_eq!(ChainHead { sequence: 1, record_hash: "00".into() }.hash(), None);
    }

    #[test]
    fn batch_zero_is_refused() {
        let p = ResumePoint { batch: 0, last_serial: 0, head: None };
        assert!(p.batch_no().is_err());
        assert_eq!(ResumePoint { batch: 2, ..p }.batch_no().map(BatchNo::value).ok(), Some(2));
    }
}
