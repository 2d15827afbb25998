//! Which receipts a signed-in viewer may see, taken from their session: a customer those sent to
//! their number, merchant staff their merchant's, the acquirer and the admin API all. One scope
//! value lets one set of receipt handlers serve every role.

use crate::infra::store::{Store, StoreError, StoredReceipt};

/// The receipts a viewer may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ReceiptScope {
    /// A customer: receipts delivered to this phone number.
    Phone(String),
    /// Merchant staff: this merchant's receipts.
    Merchant(String),
    /// The acquirer (and the admin API): every receipt.
    Any,
}

impl ReceiptScope {
    /// Whether `r` is within the scope.
    pub(crate) fn admits(&self, r: &StoredReceipt) -> bool {
        match self {
            ReceiptScope::Phone(phone) => r.delivery.as_ref().is_some_and(|d| d.recipient() == phone),
            ReceiptScope::Merchant(id) => r.merchant_id == *id,
            ReceiptScope::Any => true,
        }
    }

    /// The receipt `id` if it exists and is within the scope; `None` either way otherwise, so
    /// a viewer never learns whether a receipt outside their scope exists.
    pub(crate) async fn receipt(&self, store: &Store, id: &str) -> Result<Option<StoredReceipt>, StoreError> {
        Ok(store.receipt(id).await?.filter(|r| self.admits(r)))
    }
}
