//! Which receipts a signed-in viewer may see, taken from their session: a customer those sent to
//! their number, merchant staff their merchant's, the acquirer and the admin API all. One scope
//! value lets one set of receipt handlers serve every role.

use crate::infra::store::{Family, Store, StoreError, StoredReceipt};

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
    /// a viewer never learns whether a receipt outside their scope exists. A customer also sees
    /// a receipt resent to their number (the list of their receipts has it too).
    pub(crate) async fn receipt(&self, store: &Store, id: &str) -> Result<Option<StoredReceipt>, StoreError> {
        let Some(r) = store.receipt(id).await? else { return Ok(None) };
        Ok(self.sees(store, &r).await?.then_some(r))
    }

    async fn sees(&self, store: &Store, r: &StoredReceipt) -> Result<bool, StoreError> {
        Ok(match self {
            ReceiptScope::Phone(phone) => self.admits(r) || store.was_sent_to(&r.receipt_id, phone).await?,
            _ => self.admits(r),
        })
    }

    /// `r`'s original and linked receipts, as far as the scope sees them: a customer the ones
    /// sent to their number, merchant staff their merchant's (links never cross merchants).
    pub(crate) async fn family(&self, store: &Store, r: &StoredReceipt) -> Result<Family, StoreError> {
        let all = store.family(r).await?;
        let original = match all.original {
            Some(o) if self.sees(store, &o).await? => Some(o),
            _ => None,
        };
        let mut children = Vec::with_capacity(all.children.len());
        for c in all.children {
            if self.sees(store, &c).await? {
                children.push(c);
            }
        }
        Ok(Family { original, children })
    }
}

#[cfg(test)]
mod tests {
    use super::ReceiptScope;
    use crate::domain::delivery::Channel;
    use crate::services::delivery::tests::store_with_receipt;

    const PHONE: &str = "+8613900139000";
    const MERCHANT: &str = "104110070110001";

    /// Each role sees only its own: a customer the receipts sent to their number, merchant staff
    /// their merchant's, the acquirer all; and a receipt outside the scope reads as absent.
    #[tokio::test]
    async fn each_scope_admits_only_its_own_receipts() {
        let (store, _dir, _) = store_with_receipt(("sms", PHONE)).await;
        let id = "T0000501-000001-000001";
        let r = store.receipt(id).await.expect("store").expect("the receipt");

        assert!(ReceiptScope::Phone(PHONE.into()).admits(&r));
        assert!(!ReceiptScope::Phone("+8613800138000".into()).admits(&r), "another customer's number");
        assert!(!ReceiptScope::Phone(MERCHANT.into()).admits(&r), "a phone scope never matches the merchant");
        assert!(ReceiptScope::Merchant(MERCHANT.into()).admits(&r));
        assert!(!ReceiptScope::Merchant("104110070110002".into()).admits(&r), "another merchant");
        assert!(!ReceiptScope::Merchant(PHONE.into()).admits(&r), "a merchant scope never matches the recipient");
        assert!(ReceiptScope::Any.admits(&r));

        let mut pulled = r.clone();
        pulled.delivery = None;
        assert!(!ReceiptScope::Phone(PHONE.into()).admits(&pulled), "no recipient: no customer sees it by number");

        assert!(ReceiptScope::Phone(PHONE.into()).receipt(&store, id).await.expect("store").is_some());
        assert!(ReceiptScope::Phone("+8613800138000".into()).receipt(&store, id).await.expect("store").is_none());
        assert!(ReceiptScope::Merchant("104110070110002".into()).receipt(&store, id).await.expect("store").is_none());
        assert!(ReceiptScope::Any.receipt(&store, "T0000501-000001-000099").await.expect("store").is_none());
    }

    /// A receipt the terminal resent to another number is that customer's too: their list has
    /// it, and so must its page (it used to be listed and then "not found").
    #[tokio::test]
    async fn a_customer_sees_a_receipt_resent_to_their_number() {
        let (store, _dir, _) = store_with_receipt(("sms", PHONE)).await;
        let id = "T0000501-000001-000001";
        let other = "+8613800138000";
        let before = ReceiptScope::Phone(other.into());
        assert!(before.receipt(&store, id).await.expect("store").is_none(), "not sent to the other number yet");
        store.resend(id, Channel::Sms, other, 1_800_000_000_000).await.expect("resend");
        assert!(store.receipts_for_phone(other).await.expect("list").iter().any(|r| r.receipt_id == id));
        assert!(before.receipt(&store, id).await.expect("store").is_some(), "the page of a listed receipt");
        let third = ReceiptScope::Phone("+8613700137000".into());
        assert!(third.receipt(&store, id).await.expect("store").is_none(), "nobody else");
    }
}
