//! What the outbox holds and reports: entries, their upload state, the status summary, and the
//! conversion from stored rows (which checks every value, so a damaged file is `Corrupt`, not a panic).

use std::fmt;

use super::OutboxError;

/// The chain link, batch and serial the next sale must use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NextLink {
    /// 1 for the terminal's first receipt, then the chain head's sequence + 1.
    pub sequence: u64,
    /// SHA-256 of the chain head's canonical record; all zero for the first.
    pub previous: [u8; 32],
    /// The receipt's batch: the enrolment's (1 before any resume point), the next one after
    /// serial 999999.
    pub batch: u32,
    /// The receipt serial: 1..=999999, back to 1 (in the next batch) after 999999.
    pub serial: u32,
}

/// A composed receipt to store as pending.
#[derive(Clone, PartialEq, Eq)]
pub struct NewEntry {
    pub receipt_id: String,
    /// Must be the [`NextLink::sequence`] the receipt was composed with.
    pub sequence: u64,
    /// SHA-256 of `record`; checked by [`super::Outbox::store`], as the next receipt chains to it.
    pub record_hash: [u8; 32],
    /// The canonical record bytes.
    pub record: Vec<u8>,
    pub png: Vec<u8>,
    /// Must be the [`NextLink::batch`] the receipt was composed with.
    pub batch: u32,
    pub serial: u32,
    /// The customer's delivery choice as the platform reads it (`sms:+8613800138000`), stored
    /// as given until the receipt is acknowledged.
    pub delivery: Option<String>,
}

/// Where a receipt is in its upload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EntryState {
    /// Waiting to be uploaded (or retried).
    Pending,
    /// The platform acknowledged it; the signed acknowledgement is kept.
    Acked,
    /// The platform refused the receipt itself; it is not retried and does not block the queue.
    Refused,
}

impl EntryState {
    pub(super) fn as_db(self) -> &'static str {
        match self {
            EntryState::Pending => "pending",
            EntryState::Acked => "acked",
            EntryState::Refused => "refused",
        }
    }

    pub(super) fn from_db(s: &str) -> Result<Self, OutboxError> {
        match s {
            "pending" => Ok(EntryState::Pending),
            "acked" => Ok(EntryState::Acked),
            "refused" => Ok(EntryState::Refused),
            other => Err(OutboxError::Corrupt(format!("unknown state {other:?}"))),
        }
    }
}

impl fmt::Display for EntryState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EntryState::Pending => "pending",
            EntryState::Acked => "uploaded",
            EntryState::Refused => "refused",
        })
    }
}

/// A stored receipt with its upload state.
#[derive(Clone, PartialEq, Eq)]
pub struct Entry {
    pub receipt_id: String,
    pub sequence: u64,
    pub record_hash: [u8; 32],
    pub record: Vec<u8>,
    /// Empty once dropped to save space, 30 days after the platform acknowledged the receipt.
    pub png: Vec<u8>,
    pub serial: u32,
    /// The delivery choice, `channel:address`; only `channel` once acknowledged.
    pub delivery: Option<String>,
    pub state: EntryState,
    /// Failed upload attempts so far.
    pub attempts: u32,
    pub last_error: Option<String>,
    /// Unix ms; meaningful while pending.
    pub next_attempt_at: i64,
    pub created_at: i64,
    pub acked_at: Option<i64>,
    /// The platform's signed acknowledgement, as received.
    pub ack: Option<Vec<u8>>,
}

/// One line of a status listing (no record or image).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntrySummary {
    pub receipt_id: String,
    pub sequence: u64,
    pub serial: u32,
    pub state: EntryState,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub next_attempt_at: i64,
}

/// The outbox at a glance, read in one consistent snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutboxStatus {
    pub pending: u64,
    pub acked: u64,
    pub refused: u64,
    /// When the oldest pending receipt was stored (Unix ms).
    pub oldest_pending_at: Option<i64>,
    /// When the head of the queue (oldest pending) is next attempted.
    pub next_attempt_at: Option<i64>,
    /// Why the head of the queue last failed: uploads are strictly in order, so it is the one
    /// holding the others back.
    pub last_error: Option<String>,
    /// The chain head: the highest sequence stored.
    pub last_sequence: Option<u64>,
}

// Records and images are large and not useful in logs: Debug shows their sizes.
struct Bytes(usize);
impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} bytes>", self.0)
    }
}

impl fmt::Debug for NewEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewEntry")
            .field("receipt_id", &self.receipt_id)
            .field("sequence", &self.sequence)
            .field("record_hash", &Hex(&self.record_hash))
            .field("record", &Bytes(self.record.len()))
            .field("png", &Bytes(self.png.len()))
            .field("batch", &self.batch)
            .field("serial", &self.serial)
            .field("delivery", &self.delivery)
            .finish()
    }
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("receipt_id", &self.receipt_id)
            .field("sequence", &self.sequence)
            .field("record_hash", &Hex(&self.record_hash))
            .field("record", &Bytes(self.record.len()))
            .field("png", &Bytes(self.png.len()))
            .field("serial", &self.serial)
            .field("delivery", &self.delivery)
            .field("state", &self.state)
            .field("attempts", &self.attempts)
            .field("last_error", &self.last_error)
            .field("next_attempt_at", &self.next_attempt_at)
            .field("created_at", &self.created_at)
            .field("acked_at", &self.acked_at)
            .field("ack", &self.ack.as_ref().map(|a| Bytes(a.len())))
            .finish()
    }
}

struct Hex<'a>(&'a [u8]);
impl fmt::Debug for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// The columns of [`EntryRow`], in a form SQL can splice in.
pub(super) const ENTRY_COLUMNS: &str = "sequence, receipt_id, record_hash, record, png, serial, delivery, state, \
     attempts, last_error, next_attempt_at, created_at, acked_at, ack";

/// One `outbox_entries` row as SQLite stores it.
#[derive(sqlx::FromRow)]
pub(super) struct EntryRow {
    sequence: i64,
    receipt_id: String,
    record_hash: Vec<u8>,
    record: Vec<u8>,
    png: Option<Vec<u8>>,
    serial: i64,
    delivery: Option<String>,
    state: String,
    attempts: i64,
    last_error: Option<String>,
    next_attempt_at: i64,
    created_at: i64,
    acked_at: Option<i64>,
    ack: Option<Vec<u8>>,
}

impl TryFrom<EntryRow> for Entry {
    type Error = OutboxError;

    fn try_from(r: EntryRow) -> Result<Self, OutboxError> {
        Ok(Entry {
            sequence: sequence(r.sequence)?,
            record_hash: hash(&r.record_hash)?,
            serial: serial(r.serial)?,
            state: EntryState::from_db(&r.state)?,
            attempts: attempts(r.attempts)?,
            receipt_id: r.receipt_id,
            record: r.record,
            png: r.png.unwrap_or_default(),
            delivery: r.delivery,
            last_error: r.last_error,
            next_attempt_at: r.next_attempt_at,
            created_at: r.created_at,
            acked_at: r.acked_at,
            ack: r.ack,
        })
    }
}

/// The columns of [`SummaryRow`].
pub(super) const SUMMARY_COLUMNS: &str =
    "sequence, receipt_id, serial, state, attempts, last_error, created_at, next_attempt_at";

#[derive(sqlx::FromRow)]
pub(super) struct SummaryRow {
    sequence: i64,
    receipt_id: String,
    serial: i64,
    state: String,
    attempts: i64,
    last_error: Option<String>,
    created_at: i64,
    next_attempt_at: i64,
}

impl TryFrom<SummaryRow> for EntrySummary {
    type Error = OutboxError;

    fn try_from(r: SummaryRow) -> Result<Self, OutboxError> {
        Ok(EntrySummary {
            sequence: sequence(r.sequence)?,
            serial: serial(r.serial)?,
            state: EntryState::from_db(&r.state)?,
            attempts: attempts(r.attempts)?,
            receipt_id: r.receipt_id,
            last_error: r.last_error,
            created_at: r.created_at,
            next_attempt_at: r.next_attempt_at,
        })
    }
}

pub(super) fn sequence(v: i64) -> Result<u64, OutboxError> {
    u64::try_from(v).ok().filter(|s| *s >= 1).ok_or_else(|| OutboxError::Corrupt(format!("sequence {v}")))
}

pub(super) fn serial(v: i64) -> Result<u32, OutboxError> {
    u32::try_from(v)
        .ok()
        .filter(|s| (1..=super::MAX_SERIAL).contains(s))
        .ok_or_else(|| OutboxError::Corrupt(format!("serial {v}")))
}

pub(super) fn hash(v: &[u8]) -> Result<[u8; 32], OutboxError> {
    v.try_into().map_err(|_| OutboxError::Corrupt(format!("record hash of {} bytes", v.len())))
}

fn attempts(v: i64) -> Result<u32, OutboxError> {
    u32::try_from(v).map_err(|_| OutboxError::Corrupt(format!("attempts {v}")))
}
