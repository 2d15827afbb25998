//! The rows the store reads and writes: plain data, no database types. Amounts, transaction
//! times and delivery choices are domain types; other times are Unix milliseconds UTC; hashes
//! are SHA-256.

use ereceipt_core::identity::TerminalMode;
use ereceipt_core::model::{DeliveryChoice, LocalTime, Money, TransactionType};

use crate::domain::amounts::AmountBand;
use crate::domain::lineage::{self, LinkState, Named, Problem};

/// A terminal as a merchant administrator registers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTerminal {
    /// The terminal id printed on receipts, e.g. `POS00001`.
    pub terminal_id: String,
    /// The merchant the terminal belongs to.
    pub merchant_id: String,
    /// The merchant's name as printed on receipts.
    pub merchant_name: String,
    /// Where the terminal is used, free text for the operator.
    pub location: String,
    /// Production or test: written into its certificates, enforced at ingest.
    pub mode: TerminalMode,
}

/// A single-use enrolment token. Only its SHA-256 is stored; the token itself goes to the terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    /// The terminal that may enrol with this token.
    pub terminal_id: String,
    /// SHA-256 of the token.
    pub token_hash: [u8; 32],
    /// The token is refused from this instant on.
    pub expires_at: i64,
}

/// A registered terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalRow {
    /// The terminal id.
    pub terminal_id: String,
    /// The merchant the terminal belongs to.
    pub merchant_id: String,
    /// The merchant's name.
    pub merchant_name: String,
    /// Where the terminal is used.
    pub location: String,
    /// When it was registered.
    pub created_at: i64,
    /// When it was revoked, if it was; a revoked terminal must not enrol or upload.
    pub revoked_at: Option<i64>,
    /// Why it was revoked.
    pub revoke_reason: Option<String>,
    /// Production or test, as registered.
    pub mode: TerminalMode,
}

/// A certificate the platform's CA issued to a terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateRow {
    /// The certificate's serial number in lowercase hex, as it appears in the CRL.
    pub serial_hex: String,
    /// The terminal the certificate was issued to.
    pub terminal_id: String,
    /// SHA-256 fingerprint of the DER certificate, hex.
    pub fingerprint: String,
    /// Start of validity.
    pub not_before: i64,
    /// End of validity.
    pub not_after: i64,
    /// When the CA issued it.
    pub issued_at: i64,
    /// When it was revoked, if it was.
    pub revoked_at: Option<i64>,
}

impl CertificateRow {
    /// When it was revoked, if that was at or before `signed_at_ms`: something signed with it
    /// then is not authentic. (Receipts signed before the revocation stay valid.)
    pub fn revoked_before(&self, signed_at_ms: i64) -> Option<i64> {
        self.revoked_at.filter(|&at| signed_at_ms >= at)
    }
}

/// A verified receipt to store, with the acknowledgement the terminal gets for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReceipt {
    /// `TERMINAL-BATCH-SERIAL`, unique platform-wide.
    pub receipt_id: String,
    /// The terminal that signed it.
    pub terminal_id: String,
    /// The merchant on the receipt.
    pub merchant_id: String,
    /// The merchant's name on the receipt.
    pub merchant_name: String,
    /// Batch number.
    pub batch: i64,
    /// Trace (serial) number within the batch.
    pub serial: i64,
    /// Position in the terminal's hash chain, if the terminal keeps one.
    pub sequence: Option<i64>,
    /// Record hash of the previous receipt in the terminal's chain.
    pub previous_hash: Option<Vec<u8>>,
    /// SHA-256 of `record`.
    pub record_hash: [u8; 32],
    /// The receipt record, canonical CBOR.
    pub record: Vec<u8>,
    /// The receipt image.
    pub png: Vec<u8>,
    /// The customer's delivery choice. A push channel also queues a delivery in the same
    /// transaction.
    pub delivery: Option<DeliveryChoice>,
    /// The amount and its currency.
    pub amount: Money,
    /// Transaction time with the terminal's UTC offset at the time of the sale.
    pub time: LocalTime,
    /// Retrieval reference number.
    pub rrn: String,
    /// Authorisation code.
    pub auth_code: String,
    /// BIN + last 4 with the middle masked; never the full card number.
    pub card_masked: String,
    /// The card's last 4 digits.
    pub card_last4: String,
    /// Card brand from the IIN.
    pub card_brand: String,
    /// Serial (hex) of the certificate that signed the receipt.
    pub signer_serial: String,
    /// When the platform received it.
    pub received_at: i64,
    /// The signed acknowledgement returned to the terminal, replayed for duplicates.
    pub ack: Vec<u8>,
    /// What the receipt is and what it names as its original: the platform links it at once.
    pub lineage: ReceiptLineage,
}

/// What a receipt's record says of its kind and of its original, kept in columns so that the
/// platform can link it and search by it without decoding records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptLineage {
    pub kind: TransactionType,
    /// The voucher number (凭证号) the slip printed.
    pub voucher: i64,
    /// `YYYY-MM-DD` on the terminal's wall clock.
    pub local_date: String,
    /// What a void, refund or completion names (none on a sale or pre-authorisation, and none
    /// on the VOID or REFUND records of versions 1 and 2, which named nothing).
    pub named: Option<Named>,
}

impl ReceiptLineage {
    /// A sale with this voucher number at `time`: names no original.
    pub fn sale(voucher: i64, time: LocalTime) -> Self {
        Self {
            kind: TransactionType::Sale,
            voucher,
            local_date: time.local().date_naive().format("%Y-%m-%d").to_string(),
            named: None,
        }
    }
}

/// A void's, refund's or completion's link to its original, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredLink {
    pub state: LinkState,
    /// Why it is a mismatch.
    pub problem: Option<Problem>,
    /// The original, once found (a pending child has none).
    pub linked_to: Option<String>,
    /// What the child's record named.
    pub named: Named,
}

/// What [`Store::store_receipt`](super::Store::store_receipt) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreOutcome {
    /// Newly stored; carries the acknowledgement passed in.
    Stored(Vec<u8>),
    /// The same receipt was already stored; carries the acknowledgement stored with it.
    Duplicate(Vec<u8>),
    /// A different receipt is stored under this id; nothing was changed.
    Conflict {
        /// Record hash of the receipt already stored.
        stored_hash: [u8; 32],
    },
}

/// A stored receipt without its image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReceipt {
    /// `TERMINAL-BATCH-SERIAL`.
    pub receipt_id: String,
    /// The terminal that signed it.
    pub terminal_id: String,
    /// The merchant on the receipt.
    pub merchant_id: String,
    /// The merchant's name on the receipt.
    pub merchant_name: String,
    /// Batch number.
    pub batch: i64,
    /// Trace (serial) number.
    pub serial: i64,
    /// Position in the terminal's hash chain.
    pub sequence: Option<i64>,
    /// Record hash of the previous receipt in the chain.
    pub previous_hash: Option<Vec<u8>>,
    /// SHA-256 of `record`.
    pub record_hash: [u8; 32],
    /// The receipt record, canonical CBOR.
    pub record: Vec<u8>,
    /// The amount and its currency.
    pub amount: Money,
    /// Transaction time with the terminal's UTC offset at the time of the sale.
    pub time: LocalTime,
    /// Retrieval reference number.
    pub rrn: String,
    /// Authorisation code.
    pub auth_code: String,
    /// BIN + last 4, masked.
    pub card_masked: String,
    /// The card's last 4 digits.
    pub card_last4: String,
    /// Card brand.
    pub card_brand: String,
    /// Serial (hex) of the signing certificate.
    pub signer_serial: String,
    /// When the platform received it.
    pub received_at: i64,
    /// The acknowledgement returned to the terminal.
    pub ack: Vec<u8>,
    /// Platform-side arrival order, increasing with each stored receipt.
    pub ingest_seq: i64,
    /// The customer's delivery choice.
    pub delivery: Option<DeliveryChoice>,
    /// Sale, void, refund, pre-authorisation or completion.
    pub kind: TransactionType,
    /// A void's, refund's or completion's link to its original.
    pub link: Option<StoredLink>,
    /// On a sale or completion: what its verified voids and refunds gave back, minor units.
    pub given_back_minor: u64,
}

impl StoredReceipt {
    /// What the receipt adds to the merchant's turnover: minus on a void or refund, nothing on
    /// a pre-authorisation.
    pub fn signed_minor(&self) -> i64 {
        lineage::signed_minor(self.kind, self.amount.minor())
    }

    /// A sale's or completion's amount less what its verified voids and refunds gave back.
    pub fn net_minor(&self) -> Option<i64> {
        lineage::net_minor(self.kind, self.amount.minor(), self.given_back_minor)
    }
}

/// A receipt with the receipts linked to it: its original (when it has one) and the voids,
/// refunds and completions that name it, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Family {
    pub original: Option<StoredReceipt>,
    pub children: Vec<StoredReceipt>,
}

/// Search criteria; every `Some` narrows the result.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReceiptQuery {
    /// Only this merchant's receipts.
    pub merchant_id: Option<String>,
    /// Only this terminal's receipts.
    pub terminal_id: Option<String>,
    /// Transaction time at or after this instant.
    pub from: Option<i64>,
    /// Transaction time before this instant.
    pub to: Option<i64>,
    /// Amount at least this, in minor units.
    pub min_amount: Option<i64>,
    /// Amount at most this, in minor units.
    pub max_amount: Option<i64>,
    /// ISO 4217 alphabetic code, exact.
    pub currency: Option<String>,
    /// Amounts within any one of these bands (none: any amount); each band is in the minor
    /// units of its own currencies, so one typed range can ask about yen and yuan alike.
    pub amount_bands: Vec<AmountBand>,
    /// Trace (serial) number.
    pub serial: Option<i64>,
    /// Retrieval reference number, exact.
    pub rrn: Option<String>,
    /// The card's last 4 digits.
    pub card_last4: Option<String>,
    /// Page size: 0 means 50, otherwise clamped to 1..=200.
    pub limit: i64,
    /// `next_cursor` of the previous page, to continue after it.
    pub cursor: Option<String>,
}

/// One page of search results, newest transaction first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The receipts on this page.
    pub items: Vec<StoredReceipt>,
    /// Pass as `cursor` to get the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// One link of a terminal's receipt chain as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainEntry {
    /// The receipt.
    pub receipt_id: String,
    /// Its position in the terminal's chain, if any.
    pub sequence: Option<i64>,
    /// Record hash of the receipt before it, as the terminal stated.
    pub previous_hash: Option<Vec<u8>>,
    /// Its own record hash.
    pub record_hash: [u8; 32],
    /// Platform-side arrival order.
    pub ingest_seq: i64,
    /// When the platform received it.
    pub received_at: i64,
}

/// An upload the platform refused and the operator should see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// When it was refused.
    pub at: i64,
    /// The uploading terminal.
    pub terminal_id: String,
    /// The receipt id the upload claimed.
    pub receipt_id: String,
    /// Why, for the operator (no card data).
    pub reason: String,
}
