//! The receipt record (T4): transaction + terminal + signature + certificate, the unit that is
//! signed, stored and delivered.

use super::{ReceiptId, TerminalInfo, Transaction};
use crate::signature::Signature;

/// The link of a receipt in its terminal's hash chain (as Austria's RKSV chains receipts), so
/// the platform notices a deleted, duplicated or reordered receipt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainLink {
    /// 1 for the terminal's first receipt, then +1 for each receipt.
    pub sequence: u64,
    /// SHA-256 of the previous receipt's canonical record (all zero for the first).
    pub previous: [u8; 32],
}

/// Everything a receipt states. Its canonical encoding (see [`crate::encoding`]) is what the
/// terminal signs and the platform stores.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceiptRecord {
    pub id: ReceiptId,
    pub terminal: TerminalInfo,
    pub transaction: Transaction,
    /// The cardholder's handwritten signature as a full time series (chargeback evidence).
    pub signature: Signature,
    /// DER of the terminal's POS business certificate.
    pub certificate: Vec<u8>,
    pub chain: Option<ChainLink>,
}
