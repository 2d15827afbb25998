//! Receipt lineage in the store: a void, refund or completion is linked to its original among
//! the same merchant's receipts in the transaction that stores it, and pending children are
//! linked in the transaction that stores their original ([`crate::domain::lineage`] judges).
//!
//! Concurrency: the original's row is updated before its children are read (the update names
//! it), so on PostgreSQL two refunds of one sale stored at once take turns on that row lock and
//! the second sees the first; SQLite has one writer.

use ereceipt_core::model::TransactionType;
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, AnyConnection};

use super::{column, decode, ReceiptLineage, Store, StoreError, StoredLink};
use crate::domain::lineage::{judge, Facts, LinkState, Named, Problem};

/// What the rules need of a receipt, in [`facts_from_row`]'s terms.
const FACT_COLUMNS: &str = "receipt_id, kind, terminal_id, batch, COALESCE(voucher, serial) AS voucher, \
     amount_minor, currency, rrn, auth_code, COALESCE(local_date, '') AS local_date";

/// The kind column; NULL on a receipt stored before kinds were kept and not yet classified
/// (every record of those versions but a few test ones was a sale).
pub(super) fn kind(stored: Option<String>) -> Result<TransactionType, StoreError> {
    match stored {
        None => Ok(TransactionType::Sale),
        Some(k) => k.parse().map_err(|e| StoreError::undecodable("kind", &k, e)),
    }
}

/// `given_back_minor`, never negative.
pub(super) fn given_back(stored: i64) -> Result<u64, StoreError> {
    u64::try_from(stored).map_err(|_| StoreError::undecodable("given_back_minor", stored, "zero or more"))
}

/// The link columns of a row selected with `RECEIPT_COLUMNS`; none when `link_state` is NULL.
pub(super) fn link_from_row(row: &AnyRow) -> Result<Option<StoredLink>, StoreError> {
    let Some(state) = column::<Option<String>>(row, "link_state")? else { return Ok(None) };
    let state =
        LinkState::parse(&state).ok_or_else(|| StoreError::undecodable("link_state", &state, "a link state"))?;
    let problem = match column::<Option<String>>(row, "link_problem")? {
        None => None,
        Some(p) => Some(Problem::parse(&p).ok_or_else(|| StoreError::undecodable("link_problem", &p, "a code"))?),
    };
    Ok(Some(StoredLink { state, problem, linked_to: column(row, "linked_to")?, named: named_from_row(row)? }))
}

fn named_from_row(row: &AnyRow) -> Result<Named, StoreError> {
    Ok(Named {
        receipt_id: column(row, "original_receipt_id")?,
        batch: column(row, "original_batch")?,
        voucher: column(row, "original_voucher")?,
        rrn: column(row, "original_rrn")?,
        auth_code: column(row, "original_auth_code")?,
        date: column::<Option<String>>(row, "original_date")?.unwrap_or_default(),
    })
}

fn facts_from_row(row: &AnyRow) -> Result<Facts, StoreError> {
    let amount = decode::money(column(row, "amount_minor")?, &column::<String>(row, "currency")?)?;
    Ok(Facts {
        receipt_id: column(row, "receipt_id")?,
        kind: kind(column(row, "kind")?)?,
        terminal_id: column(row, "terminal_id")?,
        batch: column(row, "batch")?,
        voucher: column(row, "voucher")?,
        minor: amount.minor(),
        currency: amount.currency(),
        rrn: column(row, "rrn")?,
        auth_code: column(row, "auth_code")?,
        local_date: column(row, "local_date")?,
    })
}

/// Whether a receipt of this lineage waits for (or has) a link.
fn links(l: &ReceiptLineage) -> bool {
    l.kind.needs_original() && l.named.is_some()
}

/// Binds the lineage columns of the receipt insert ($26 to $35).
pub(super) fn bind_lineage<'q>(
    q: Query<'q, Any, AnyArguments<'q>>,
    l: &'q ReceiptLineage,
) -> Query<'q, Any, AnyArguments<'q>> {
    let n = l.named.as_ref();
    q.bind(l.kind.code())
        .bind(l.voucher)
        .bind(l.local_date.as_str())
        .bind(n.and_then(|n| n.receipt_id.as_deref()))
        .bind(n.and_then(|n| n.rrn.as_deref()))
        .bind(n.and_then(|n| n.auth_code.as_deref()))
        .bind(n.map(|n| n.date.as_str()))
        .bind(n.and_then(|n| n.batch))
        .bind(n.and_then(|n| n.voucher))
        .bind(links(l).then_some(LinkState::Pending.as_str()))
}

/// After `id` was inserted (or classified): link it to its original if it names one, then link
/// the same merchant's pending children that may name it.
pub(super) async fn link_inserted(
    conn: &mut AnyConnection,
    id: &str,
    merchant_id: &str,
    l: &ReceiptLineage,
) -> Result<(), StoreError> {
    if links(l) {
        link_child(conn, id).await?;
    }
    if matches!(l.kind, TransactionType::Sale | TransactionType::PreAuth | TransactionType::PreAuthCompletion) {
        adopt_pending(conn, id, merchant_id).await?;
    }
    Ok(())
}

/// Finds, judges and records the link of the pending child `child_id`.
async fn link_child(conn: &mut AnyConnection, child_id: &str) -> Result<(), StoreError> {
    let sql = format!(
        "SELECT {FACT_COLUMNS}, merchant_id, original_receipt_id, original_rrn, original_auth_code, original_date, \
         original_batch, original_voucher FROM receipts WHERE receipt_id = $1"
    );
    let Some(row) = sqlx::query(&sql).bind(child_id).fetch_optional(&mut *conn).await? else { return Ok(()) };
    let child = facts_from_row(&row)?;
    let named = named_from_row(&row)?;
    let merchant_id: String = column(&row, "merchant_id")?;
    let original = touch_original(conn, &merchant_id, &child, &named).await?;
    let siblings = match &original {
        None => Vec::new(),
        Some(o) => {
            // A sibling voided since no longer counts: a voided completion (预授权完成撤销)
            // gives its pre-authorisation's hold back.
            let sql = format!(
                "SELECT {FACT_COLUMNS} FROM receipts s WHERE linked_to = $1 AND link_state = 'verified' \
                 AND receipt_id <> $2 AND NOT EXISTS (SELECT 1 FROM receipts v WHERE v.linked_to = s.receipt_id \
                 AND v.kind = 'VOID' AND v.link_state = 'verified') ORDER BY ingest_seq"
            );
            let rows = sqlx::query(&sql).bind(&o.receipt_id).bind(child_id).fetch_all(&mut *conn).await?;
            rows.iter().map(facts_from_row).collect::<Result<Vec<_>, _>>()?
        }
    };
    let j = judge(&child, &named, original.as_ref(), &siblings);
    let linked_to = original.as_ref().map(|o| o.receipt_id.as_str());
    sqlx::query("UPDATE receipts SET linked_to = $1, link_state = $2, link_problem = $3 WHERE receipt_id = $4")
        .bind(linked_to)
        .bind(j.state.as_str())
        .bind(j.problem.map(Problem::code))
        .bind(child_id)
        .execute(&mut *conn)
        .await?;
    if let (LinkState::Verified, Some(o)) = (j.state, &original) {
        let given = crate::domain::lineage::signed_minor(child.kind, child.minor);
        if given < 0 {
            sqlx::query("UPDATE receipts SET given_back_minor = given_back_minor + $1 WHERE receipt_id = $2")
                .bind(-given)
                .bind(&o.receipt_id)
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(())
}

/// The original `named` designates among `merchant_id`'s receipts, its row updated (locked)
/// first; `None` when the merchant has no such receipt (yet).
async fn touch_original(
    conn: &mut AnyConnection,
    merchant_id: &str,
    child: &Facts,
    named: &Named,
) -> Result<Option<Facts>, StoreError> {
    // Which receipt: by id when the child names it; a void by its terminal, batch and voucher;
    // a completion by the pre-authorisation's code and date; a refund by RRN and date. $1 is the
    // merchant, $2 the child; each criterion binds its own values after them.
    const DEBITS: &str = "kind IN ('SALE', 'PRE-AUTH COMPLETION')";
    let date = named.date.as_str();
    let (criteria, texts, numbers): (String, Vec<&str>, Vec<i64>) = if let Some(id) = &named.receipt_id {
        ("receipt_id = $3".into(), vec![id.as_str()], vec![])
    } else if let (TransactionType::Void, Some(batch), Some(voucher)) = (child.kind, named.batch, named.voucher) {
        (
            format!("terminal_id = $3 AND batch = $4 AND COALESCE(voucher, serial) = $5 AND {DEBITS}"),
            vec![child.terminal_id.as_str()],
            vec![batch, voucher],
        )
    } else if child.kind == TransactionType::PreAuthCompletion {
        (
            "auth_code = $3 AND local_date = $4 AND kind = 'PRE-AUTH'".into(),
            vec![named.auth_code.as_deref().unwrap_or_default(), date],
            vec![],
        )
    } else {
        (
            format!("rrn = $3 AND local_date = $4 AND {DEBITS}"),
            vec![named.rrn.as_deref().unwrap_or_default(), date],
            vec![],
        )
    };
    let sql = format!(
        "UPDATE receipts SET given_back_minor = given_back_minor WHERE receipt_id = (\
         SELECT receipt_id FROM receipts WHERE merchant_id = $1 AND receipt_id <> $2 AND {criteria} \
         ORDER BY ingest_seq LIMIT 1) RETURNING {FACT_COLUMNS}"
    );
    let mut q = sqlx::query(&sql).bind(merchant_id).bind(child.receipt_id.as_str());
    for t in texts {
        q = q.bind(t);
    }
    for n in numbers {
        q = q.bind(n);
    }
    let row = q.fetch_optional(&mut *conn).await?;
    row.as_ref().map(facts_from_row).transpose()
}

/// Links the pending children of `merchant_id` that may name `original_id` (by id, RRN or
/// authorisation code: [`link_child`] decides which original each one names).
async fn adopt_pending(conn: &mut AnyConnection, original_id: &str, merchant_id: &str) -> Result<(), StoreError> {
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT c.receipt_id FROM receipts c JOIN receipts o ON o.receipt_id = $2 \
         WHERE c.merchant_id = $1 AND c.link_state = 'pending' AND (c.original_receipt_id = o.receipt_id \
         OR c.original_rrn = o.rrn OR c.original_auth_code = o.auth_code \
         OR (c.original_voucher = COALESCE(o.voucher, o.serial) AND c.original_batch = o.batch)) \
         ORDER BY c.ingest_seq",
    )
    .bind(merchant_id)
    .bind(original_id)
    .fetch_all(&mut *conn)
    .await?;
    for id in ids {
        link_child(conn, &id).await?;
    }
    Ok(())
}

/// A receipt stored before kinds were kept, to classify from its record.
#[derive(Debug, Clone)]
pub struct Unclassified {
    pub ingest_seq: i64,
    pub receipt_id: String,
    pub merchant_id: String,
    pub record: Vec<u8>,
}

impl Store {
    /// Up to `limit` receipts without a kind after arrival `after`, in arrival order.
    pub async fn unclassified(&self, after: i64, limit: i64) -> Result<Vec<Unclassified>, StoreError> {
        let rows = sqlx::query(
            "SELECT ingest_seq, receipt_id, merchant_id, record FROM receipts \
             WHERE kind IS NULL AND ingest_seq > $1 ORDER BY ingest_seq LIMIT $2",
        )
        .bind(after)
        .bind(limit.clamp(1, 10_000))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Unclassified {
                    ingest_seq: column(row, "ingest_seq")?,
                    receipt_id: column(row, "receipt_id")?,
                    merchant_id: column(row, "merchant_id")?,
                    record: column(row, "record")?,
                })
            })
            .collect()
    }

    /// Writes the kinds and originals of receipts stored before they were kept, and links them,
    /// in one transaction, in the order given (arrival order). A receipt classified meanwhile
    /// (by another process) is left as it is.
    pub async fn classify(&self, items: &[(String, String, ReceiptLineage)]) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut done = 0;
        for (id, merchant_id, l) in items {
            let update = sqlx::query(
                "UPDATE receipts SET kind = $1, voucher = $2, local_date = $3, original_receipt_id = $4, \
                 original_rrn = $5, original_auth_code = $6, original_date = $7, original_batch = $8, \
                 original_voucher = $9, link_state = $10 WHERE receipt_id = $11 AND kind IS NULL",
            );
            let updated = bind_lineage(update, l).bind(id).execute(&mut *tx).await?.rows_affected();
            if updated > 0 {
                link_inserted(&mut tx, id, merchant_id, l).await?;
                done += 1;
            }
        }
        tx.commit().await?;
        Ok(done)
    }
}
