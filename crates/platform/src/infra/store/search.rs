//! Receipt search: filters combined with AND, keyset paging newest transaction first.
//! A cursor names the last receipt of a page, so pages neither repeat nor skip under inserts.

use super::receipts::{receipt_from_row, RECEIPT_COLUMNS};
use super::{Page, ReceiptQuery, Store, StoreError};
use crate::domain::amounts::AmountBand;

/// Page size when the query asks for none.
const DEFAULT_LIMIT: i64 = 50;
/// Largest page handed out.
const MAX_LIMIT: i64 = 200;

/// A value bound to a search placeholder.
enum Param<'a> {
    Int(i64),
    Text(&'a str),
}

/// WHERE conditions with their bound values, numbered as they are added.
#[derive(Default)]
struct Filters<'a> {
    conditions: Vec<String>,
    params: Vec<Param<'a>>,
}

impl<'a> Filters<'a> {
    /// Adds a condition; each `?` in `sql` becomes the next numbered placeholder.
    fn push(&mut self, sql: &str, values: impl IntoIterator<Item = Param<'a>>) {
        let mut numbered = String::new();
        for (i, piece) in sql.split('?').enumerate() {
            if i > 0 {
                numbered.push_str(&format!("${}", self.params.len() + i));
            }
            numbered.push_str(piece);
        }
        self.conditions.push(numbered);
        self.params.extend(values);
    }
}

impl Store {
    /// Receipts matching every criterion of `q`, newest `tx_time` first, ties by `receipt_id`
    /// (descending). Pass the page's `next_cursor` back as `q.cursor` for the next page;
    /// [`StoreError::BadCursor`] for a cursor this store did not hand out.
    pub async fn search<'a>(&self, q: &'a ReceiptQuery) -> Result<Page, StoreError> {
        let limit = if q.limit == 0 { DEFAULT_LIMIT } else { q.limit.clamp(1, MAX_LIMIT) };
        let after = q.cursor.as_deref().map(decode_cursor).transpose()?;

        let mut filters = Filters::default();
        let text = |v: &'a Option<String>| v.as_deref().map(Param::Text);
        for (sql, value) in [
            ("merchant_id = ?", text(&q.merchant_id)),
            ("terminal_id = ?", text(&q.terminal_id)),
            ("tx_time >= ?", q.from.map(Param::Int)),
            ("tx_time < ?", q.to.map(Param::Int)),
            ("amount_minor >= ?", q.min_amount.map(Param::Int)),
            ("amount_minor <= ?", q.max_amount.map(Param::Int)),
            ("currency = ?", text(&q.currency)),
            ("serial = ?", q.serial.map(Param::Int)),
            ("rrn = ?", text(&q.rrn)),
            ("card_last4 = ?", text(&q.card_last4)),
        ] {
            if let Some(value) = value {
                filters.push(sql, [value]);
            }
        }
        if !q.amount_bands.is_empty() {
            let (sql, values) = amount_bands(&q.amount_bands);
            filters.push(&sql, values);
        }
        if let Some((tx_time, receipt_id)) = &after {
            filters.push("(tx_time, receipt_id) < (?, ?)", [Param::Int(*tx_time), Param::Text(receipt_id)]);
        }
        let Filters { conditions, params } = filters;

        let mut sql = format!("SELECT {RECEIPT_COLUMNS} FROM receipts");
        if !conditions.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conditions.join(" AND "));
        }
        // One row more than the page tells whether another page follows.
        sql.push_str(&format!(" ORDER BY tx_time DESC, receipt_id DESC LIMIT ${}", params.len() + 1));
        let mut query = sqlx::query(&sql);
        for param in params {
            query = match param {
                Param::Int(v) => query.bind(v),
                Param::Text(v) => query.bind(v),
            };
        }
        let rows = query.bind(limit + 1).fetch_all(&self.pool).await?;

        let mut items = rows.iter().map(receipt_from_row).collect::<Result<Vec<_>, _>>()?;
        let next_cursor = if items.len() as i64 > limit {
            items.truncate(limit as usize);
            items.last().map(|last| encode_cursor(super::decode::unix_ms(last.time), &last.receipt_id))
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }
}

/// The condition that an amount lies within one of `bands`, with its values in `?` order.
fn amount_bands(bands: &[AmountBand]) -> (String, Vec<Param<'_>>) {
    let mut values = Vec::new();
    let alternatives: Vec<String> = bands
        .iter()
        .map(|band| {
            let list = vec!["?"; band.currencies.len()].join(", ");
            let mut conditions = vec![format!("currency IN ({list})")];
            values.extend(band.currencies.iter().map(|c| Param::Text(c.code())));
            for (sql, bound) in [("amount_minor >= ?", band.min), ("amount_minor <= ?", band.max)] {
                if let Some(bound) = bound {
                    conditions.push(sql.to_owned());
                    values.push(Param::Int(bound));
                }
            }
            format!("({})", conditions.join(" AND "))
        })
        .collect();
    (format!("({})", alternatives.join(" OR ")), values)
}

/// `TX_TIME.HEX(RECEIPT_ID)`: the key of the last receipt on a page.
fn encode_cursor(tx_time: i64, receipt_id: &str) -> String {
    format!("{tx_time}.{}", hex::encode(receipt_id))
}

fn decode_cursor(cursor: &str) -> Result<(i64, String), StoreError> {
    let (time, id) = cursor.split_once('.').ok_or(StoreError::BadCursor)?;
    let tx_time = time.parse().map_err(|_| StoreError::BadCursor)?;
    let id = hex::decode(id).map_err(|_| StoreError::BadCursor)?;
    let id = String::from_utf8(id).map_err(|_| StoreError::BadCursor)?;
    if id.is_empty() {
        return Err(StoreError::BadCursor);
    }
    Ok((tx_time, id))
}

#[cfg(test)]
mod cursor_tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let cursor = encode_cursor(-5, "POS00001-000001-000123");
        assert_eq!(decode_cursor(&cursor).ok(), Some((-5, "POS00001-000001-000123".to_owned())));
        for bad in ["", "12", "12.", "x.00", "12.zz", "12.ff", "1.2.3"] {
            assert!(matches!(decode_cursor(bad), Err(StoreError::BadCursor)), "{bad}");
        }
    }
}
