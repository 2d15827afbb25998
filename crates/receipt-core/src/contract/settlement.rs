//! `POST /api/v1/terminal/settlements`: what the platform answers when it stores a terminal's
//! settlement slip, its reconciliation against the receipts it holds of that batch.

use serde::{Deserialize, Serialize};

/// The answer to a settlement slip's upload (201 when new, 200 when the platform had it).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SettlementStored {
    pub terminal_id: String,
    pub batch: u32,
    /// SHA-256 of the slip's canonical bytes, lowercase hex.
    pub slip_hash: String,
    pub reconciliation: Reconciliation,
}

/// The slip's counts and totals per kind, card brand and currency against the receipts the
/// platform holds of the batch, and the receipts its hash chain shows missing. Run again whenever
/// a late receipt of the batch arrives.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Reconciliation {
    /// No difference and no receipt missing.
    pub balanced: bool,
    pub differences: Vec<Difference>,
    /// The receipts of the batch the terminal's chain shows missing, by sequence number
    /// (absent in answers made before the platform named them).
    #[serde(default)]
    pub missing: Vec<MissingReceipt>,
}

/// One kind, brand and currency whose count or total differs.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Difference {
    /// The transaction kind's code (`SALE`, `VOID`, `REFUND`, `PRE-AUTH`, `PRE-AUTH COMPLETION`).
    pub kind: String,
    /// The card brand's code (`unionpay`, `visa`...); empty in reconciliations made before the
    /// platform compared per brand.
    #[serde(default)]
    pub brand: String,
    pub currency: String,
    pub issue: DifferenceIssue,
    pub slip_count: u64,
    pub slip_minor: u64,
    pub platform_count: u64,
    pub platform_minor: u64,
    /// For people, e.g. `REFUND UnionPay: 1 receipt(s) missing (slip 1 × CNY 50.00, platform 0 × CNY 0.00)`.
    pub text: String,
}

/// What kind of difference it is.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DifferenceIssue {
    /// The slip counts more receipts than the platform holds.
    MissingReceipts,
    /// The platform holds receipts the slip does not count.
    ExtraReceipts,
    /// The counts agree, the totals do not.
    TotalDiffers,
}

/// A receipt of the batch the platform does not hold, found in the terminal's hash chain.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct MissingReceipt {
    /// Its sequence number in the terminal's chain.
    pub sequence: u64,
    /// Its id, where the neighbours' trace numbers make it certain.
    pub receipt_id: Option<String>,
    pub place: MissingPlace,
}

/// Where in the batch's run of the chain a missing receipt lies, i.e. how sure the platform is.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum MissingPlace {
    /// Between two held receipts of the batch: certainly one of its receipts.
    Between,
    /// After the batch's last held receipt, one of those the slip counts beyond the held ones
    /// (a receipt missing before the first held one would look the same).
    AfterLast,
}
