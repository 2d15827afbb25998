//! The delivery queue (P2): one row per push delivery, written in the same transaction as its
//! receipt; workers claim rows with a lease (the same query on SQLite and PostgreSQL), record
//! what the peer answered, and retry with backoff until `give_up_at`.

use sqlx::any::AnyRow;
use sqlx::AnyConnection;

use super::{column, decode, Store, StoreError};
use crate::domain::delivery::{Channel, DeliveryState, DeliveryStep};

/// Temporary failures are retried for at least this long after the receipt arrived.
pub const RETRY_HORIZON_MS: i64 = 26 * 3600 * 1000;

/// One delivery as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRow {
    pub delivery_id: String,
    pub receipt_id: String,
    pub channel: Channel,
    pub recipient: String,
    pub state: DeliveryState,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub peer_id: Option<String>,
    pub last_answer: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub give_up_at: i64,
}

/// The condition for a sent delivery on channel `$n` that the peer knows as `$n+1`: its id, or
/// one of its ids (a long SMS has one per segment), found through `delivery_peer_ids`' index.
fn reported(n: usize) -> String {
    let (channel, id) = (n, n + 1);
    format!(
        "channel = ${channel} AND state IN ('sent', 'delivered') AND delivery_id IN \
         (SELECT delivery_id FROM delivery_peer_ids WHERE channel = ${channel} AND peer_id = ${id})"
    )
}

/// The lookup of the delivery a report is about: `$1` channel, `$2` peer id. (Its plan is
/// tested: it must use an index.)
pub(super) fn peer_lookup_sql() -> String {
    format!("SELECT {COLUMNS} FROM deliveries WHERE {} LIMIT 1", reported(1))
}

/// How `last_answer` begins when a claim took over an attempt that ended without an outcome.
const INTERRUPTED: &str = "interrupted: ";

impl DeliveryRow {
    /// When this claim took over an attempt that ended without an outcome (its worker died or
    /// hung past the lease): what is known about that attempt. The peer may have accepted it.
    pub fn interrupted(&self) -> Option<&str> {
        self.last_answer.as_deref().filter(|a| a.starts_with(INTERRUPTED))
    }
}

/// One entry of a delivery's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryEvent {
    pub at: i64,
    pub state: DeliveryStep,
    pub answer: String,
}

const COLUMNS: &str = "delivery_id, receipt_id, channel, recipient, state, attempts, next_attempt_at, peer_id, \
                       last_answer, created_at, updated_at, give_up_at";

fn row_of(row: &AnyRow) -> Result<DeliveryRow, StoreError> {
    Ok(DeliveryRow {
        delivery_id: column(row, "delivery_id")?,
        receipt_id: column(row, "receipt_id")?,
        channel: decode::named("channel", &column::<String>(row, "channel")?)?,
        recipient: column(row, "recipient")?,
        state: decode::named("state", &column::<String>(row, "state")?)?,
        attempts: column(row, "attempts")?,
        next_attempt_at: column(row, "next_attempt_at")?,
        peer_id: column(row, "peer_id")?,
        last_answer: column(row, "last_answer")?,
        created_at: column(row, "created_at")?,
        updated_at: column(row, "updated_at")?,
        give_up_at: column(row, "give_up_at")?,
    })
}

/// Most deliveries one receipt may have, its first and its resends together: a terminal cannot
/// make the platform a bulk sender of one receipt.
pub const MAX_DELIVERIES_PER_RECEIPT: i64 = 5;

/// What [`Store::resend`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resend {
    /// Queued as this delivery.
    Queued { delivery_id: String },
    /// The receipt has [`MAX_DELIVERIES_PER_RECEIPT`] deliveries already: nothing was queued.
    Limit,
}

/// Queues a delivery inside the caller's transaction (the one storing the receipt).
pub(super) async fn enqueue(
    conn: &mut AnyConnection,
    receipt_id: &str,
    channel: Channel,
    recipient: &str,
    now: i64,
) -> Result<(), StoreError> {
    enqueue_as(conn, &format!("{receipt_id}.{channel}"), receipt_id, channel, recipient, now).await
}

async fn enqueue_as(
    conn: &mut AnyConnection,
    id: &str,
    receipt_id: &str,
    channel: Channel,
    recipient: &str,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO deliveries (delivery_id, receipt_id, channel, recipient, state, attempts, next_attempt_at, \
         created_at, updated_at, give_up_at) VALUES ($1, $2, $3, $4, 'queued', 0, $5, $5, $5, $6)",
    )
    .bind(id)
    .bind(receipt_id)
    .bind(channel.as_str())
    .bind(recipient)
    .bind(now)
    .bind(now + RETRY_HORIZON_MS)
    .execute(&mut *conn)
    .await?;
    event(conn, id, now, DeliveryStep::Queued, "").await
}

async fn event(
    conn: &mut AnyConnection,
    id: &str,
    at: i64,
    step: DeliveryStep,
    answer: &str,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO delivery_events (delivery_id, at, state, answer) VALUES ($1, $2, $3, $4)")
        .bind(id)
        .bind(at)
        .bind(step.as_str())
        .bind(answer)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

impl Store {
    /// Queues one more delivery of the stored receipt `receipt_id` (its terminal resends it to a
    /// new address), as `{receipt_id}.{channel}.{n}`, unless it has
    /// [`MAX_DELIVERIES_PER_RECEIPT`] already. The caller checked that the receipt is the
    /// terminal's own.
    pub async fn resend(
        &self,
        receipt_id: &str,
        channel: Channel,
        recipient: &str,
        now: i64,
    ) -> Result<Resend, StoreError> {
        let mut tx = self.pool.begin().await?;
        // One statement that writes first: a transaction that reads and then writes would have
        // to upgrade its SQLite lock, which fails at once (not after the busy timeout) when a
        // delivery worker wrote in between. The count and the limit are in the same statement.
        let id: Option<String> = sqlx::query_scalar(
            "INSERT INTO deliveries (delivery_id, receipt_id, channel, recipient, state, attempts, \
                 next_attempt_at, created_at, updated_at, give_up_at) \
             SELECT $1 || '.' || $2 || '.' || CAST(n + 1 AS TEXT), $1, $2, $3, 'queued', 0, $4, $4, $4, $5 \
             FROM (SELECT COUNT(*) AS n FROM deliveries WHERE receipt_id = $1) AS existing WHERE n < $6 \
             RETURNING delivery_id",
        )
        .bind(receipt_id)
        .bind(channel.as_str())
        .bind(recipient)
        .bind(now)
        .bind(now + RETRY_HORIZON_MS)
        .bind(MAX_DELIVERIES_PER_RECEIPT)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = id else { return Ok(Resend::Limit) };
        event(&mut tx, &id, now, DeliveryStep::Queued, "").await?;
        tx.commit().await?;
        Ok(Resend::Queued { delivery_id: id })
    }

    /// Claims the oldest due delivery for `worker` for `lease_ms`: a queued one whose time has
    /// come, or one whose previous worker's lease ran out (it died mid-send). Exactly one of
    /// several concurrent workers, in any process, gets a given row.
    ///
    /// "Now" is the database's clock, never the caller's: processes whose clocks disagree still
    /// agree on when a lease runs out, so a process whose clock runs ahead cannot take over a
    /// live lease and send the message a second time.
    ///
    /// Taking over from a dead worker is recorded: `last_answer` then says so (see
    /// [`DeliveryRow::interrupted`]) and the history gets an `interrupted` entry.
    pub async fn claim_delivery(&self, worker: &str, lease_ms: i64) -> Result<Option<DeliveryRow>, StoreError> {
        let now = self.now_sql();
        let due =
            format!("((state = 'queued' AND next_attempt_at <= {now}) OR (state = 'sending' AND lease_until < {now}))");
        // SET sees the row as it was: 'sending' here means the previous attempt never ended.
        let sql = format!(
            "UPDATE deliveries SET state = 'sending', lease_until = {now} + $1, worker = $2, \
             attempts = attempts + 1, updated_at = {now}, last_answer = CASE WHEN state = 'sending' THEN \
             '{INTERRUPTED}attempt ' || attempts || ' (worker ' || COALESCE(worker, '?') || ') ended without an \
             outcome and its lease ran out; the peer may have accepted it, so the resend carries the same message \
             id' ELSE last_answer END \
             WHERE delivery_id = (SELECT delivery_id FROM deliveries WHERE {due} \
             ORDER BY next_attempt_at, delivery_id LIMIT 1) AND {due} RETURNING {COLUMNS}"
        );
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(&sql).bind(lease_ms).bind(worker).fetch_optional(&mut *tx).await?;
        // The schema's CHECK keeps `channel` to the names `Channel` knows, so a claimed row
        // decodes (an undecodable one would otherwise be claimed again and again).
        let claimed = row.as_ref().map(row_of).transpose()?;
        if let Some(d) = &claimed {
            if let Some(note) = d.interrupted() {
                event(&mut tx, &d.delivery_id, d.updated_at, DeliveryStep::Interrupted, note).await?;
            }
        }
        tx.commit().await?;
        Ok(claimed)
    }

    /// Records that the peer accepted (`sent`) — only if `worker` still holds the claim — with
    /// the ids the peer gave it (`peer_id`, comma-separated for the segments of a long SMS), by
    /// which its delivery reports find it. Returns false when the claim was lost (the lease ran
    /// out and another worker took it).
    pub async fn delivery_sent(
        &self,
        id: &str,
        worker: &str,
        peer_id: Option<&str>,
        answer: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let sql = format!(
            "UPDATE deliveries SET state = 'sent', peer_id = $1, last_answer = $2, lease_until = NULL, \
             updated_at = {} WHERE delivery_id = $3 AND worker = $4 AND state = 'sending' \
             RETURNING channel, updated_at",
            self.now_sql()
        );
        let done = sqlx::query(&sql).bind(peer_id).bind(answer).bind(id).bind(worker).fetch_optional(&mut *tx).await?;
        let Some(done) = done else {
            tx.rollback().await?;
            return Ok(false);
        };
        let (channel, at): (String, i64) = (column(&done, "channel")?, column(&done, "updated_at")?);
        for segment in peer_id.unwrap_or_default().split(',').filter(|p| !p.is_empty()) {
            sqlx::query(
                "INSERT INTO delivery_peer_ids (delivery_id, channel, peer_id) VALUES ($1, $2, $3) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(&channel)
            .bind(segment)
            .execute(&mut *tx)
            .await?;
        }
        event(&mut tx, id, at, DeliveryStep::Sent, answer).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Records a failed attempt — only if `worker` still holds the claim: `failed` for good when
    /// `permanent` or past `give_up_at`, otherwise queued again `retry_after_ms` from now (the
    /// database's clock, as for the claim). Returns the state it left, or `None` when the claim
    /// was lost.
    pub async fn delivery_failed(
        &self,
        id: &str,
        worker: &str,
        answer: &str,
        permanent: bool,
        retry_after_ms: i64,
    ) -> Result<Option<DeliveryState>, StoreError> {
        let now = self.now_sql();
        let mut tx = self.pool.begin().await?;
        let sql = format!(
            "UPDATE deliveries SET state = CASE WHEN $1 = 1 OR give_up_at <= {now} THEN 'failed' ELSE 'queued' END, \
             next_attempt_at = {now} + $2, last_answer = $3, lease_until = NULL, updated_at = {now} \
             WHERE delivery_id = $4 AND worker = $5 AND state = 'sending' RETURNING state, updated_at"
        );
        let row = sqlx::query(&sql)
            .bind(i64::from(permanent))
            .bind(retry_after_ms)
            .bind(answer)
            .bind(id)
            .bind(worker)
            .fetch_optional(&mut *tx)
            .await?;
        let mut left = None;
        if let Some(row) = row {
            let state: DeliveryState = decode::named("state", &column::<String>(&row, "state")?)?;
            let step = if state == DeliveryState::Failed { DeliveryStep::Failed } else { DeliveryStep::Retry };
            event(&mut tx, id, column(&row, "updated_at")?, step, answer).await?;
            left = Some(state);
        }
        tx.commit().await?;
        Ok(left)
    }

    /// Puts a claimed delivery back unsent — only if `worker` still holds the claim — due
    /// `retry_after_ms` from now (the database's clock): the number had its texts for a window.
    /// Not an attempt (the claim's count is taken back) and never a failure; its history gets a
    /// `held` step with `reason`. Returns false when the claim was lost.
    pub async fn delivery_held(
        &self,
        id: &str,
        worker: &str,
        reason: &str,
        retry_after_ms: i64,
    ) -> Result<bool, StoreError> {
        let now = self.now_sql();
        let mut tx = self.pool.begin().await?;
        let sql = format!(
            "UPDATE deliveries SET state = 'queued', next_attempt_at = {now} + $1, attempts = attempts - 1, \
             last_answer = $2, lease_until = NULL, updated_at = {now} \
             WHERE delivery_id = $3 AND worker = $4 AND state = 'sending' RETURNING updated_at"
        );
        let row =
            sqlx::query(&sql).bind(retry_after_ms).bind(reason).bind(id).bind(worker).fetch_optional(&mut *tx).await?;
        let held = match row {
            Some(row) => {
                event(&mut tx, id, column(&row, "updated_at")?, DeliveryStep::Held, reason).await?;
                true
            }
            None => false,
        };
        tx.commit().await?;
        Ok(held)
    }

    /// A delivery report from the `channel`'s peer (an SMPP delivery receipt, an MM7
    /// DeliveryReportReq) about a sent delivery: `Some(true)` marks it `delivered`,
    /// `Some(false)` `failed`, `None` (not final yet: deferred, forwarded …) only adds the answer
    /// to its history. A report that says nothing new (the receipt of each segment of a long
    /// SMS, a report sent twice) changes nothing. `peer_id` is one of the ids the peer gave (a
    /// long SMS has one per segment). Returns the delivery's id, or
    /// `None` when no sent delivery of that channel has this peer id.
    pub async fn delivery_reported(
        &self,
        channel: Channel,
        peer_id: &str,
        delivered: Option<bool>,
        answer: &str,
        now: i64,
    ) -> Result<Option<String>, StoreError> {
        let step = match delivered {
            Some(true) => DeliveryStep::Delivered,
            Some(false) => DeliveryStep::Failed,
            None => DeliveryStep::Report,
        };
        // The step names the state it leads to, except a report that is not final.
        let state = "CASE WHEN $1 = 'report' THEN state ELSE $1 END";
        let sql = format!(
            "UPDATE deliveries SET state = {state}, last_answer = $2, updated_at = $3 WHERE {} \
             AND NOT (state = {state} AND COALESCE(last_answer, '') = $2) RETURNING delivery_id",
            reported(4)
        );
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(&sql)
            .bind(step.as_str())
            .bind(answer)
            .bind(now)
            .bind(channel.as_str())
            .bind(peer_id)
            .fetch_optional(&mut *tx)
            .await?;
        let id = row.as_ref().map(|row| column::<String>(row, "delivery_id")).transpose()?;
        if let Some(id) = &id {
            event(&mut tx, id, now, step, answer).await?;
        }
        tx.commit().await?;
        match id {
            Some(id) => Ok(Some(id)),
            // Nothing changed: a repeat, or no such delivery.
            None => Ok(self.delivery_with_peer_id(channel, peer_id).await?.map(|d| d.delivery_id)),
        }
    }

    /// The sent (or already reported) delivery on `channel` that the peer knows as `peer_id`.
    pub async fn delivery_with_peer_id(
        &self,
        channel: Channel,
        peer_id: &str,
    ) -> Result<Option<DeliveryRow>, StoreError> {
        let row =
            sqlx::query(&peer_lookup_sql()).bind(channel.as_str()).bind(peer_id).fetch_optional(&self.pool).await?;
        row.as_ref().map(row_of).transpose()
    }

    /// Whether a delivery on `channel` is being sent right now (a report may be about it before
    /// its acceptance is recorded).
    pub async fn deliveries_sending(&self, channel: Channel) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM deliveries WHERE channel = $1 AND state = 'sending'")
            .bind(channel.as_str())
            .fetch_one(&self.pool)
            .await?)
    }

    /// The deliveries of a receipt, with their histories.
    pub async fn deliveries_of(&self, receipt_id: &str) -> Result<Vec<(DeliveryRow, Vec<DeliveryEvent>)>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM deliveries WHERE receipt_id = $1 ORDER BY delivery_id");
        let rows = sqlx::query(&sql).bind(receipt_id).fetch_all(&self.pool).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let d = row_of(row)?;
            let events =
                sqlx::query("SELECT at, state, answer FROM delivery_events WHERE delivery_id = $1 ORDER BY event_id")
                    .bind(&d.delivery_id)
                    .fetch_all(&self.pool)
                    .await?
                    .iter()
                    .map(|e| {
                        Ok(DeliveryEvent {
                            at: column(e, "at")?,
                            state: decode::named("state", &column::<String>(e, "state")?)?,
                            answer: column(e, "answer")?,
                        })
                    })
                    .collect::<Result<Vec<_>, StoreError>>()?;
            out.push((d, events));
        }
        Ok(out)
    }

    /// Makes every queued delivery due now, returning how many: the operator's
    /// `ereceipt platform deliveries retry`, for when a relay or SMSC is back after an outage
    /// and waiting out each delivery's back-off would delay receipts for no reason.
    pub async fn make_due_now(&self) -> Result<u64, StoreError> {
        let now = self.now_sql();
        let sql =
            format!("UPDATE deliveries SET next_attempt_at = {now} WHERE state = 'queued' AND next_attempt_at > {now}");
        Ok(sqlx::query(&sql).execute(&self.pool).await?.rows_affected())
    }

    /// Moves every lease `ms` into the past: in tests, the time passing that lets another worker
    /// take over (the lease runs on the database's clock, which tests cannot set).
    #[cfg(test)]
    pub(crate) async fn age_leases(&self, ms: i64) {
        sqlx::query("UPDATE deliveries SET lease_until = lease_until - $1 WHERE lease_until IS NOT NULL")
            .bind(ms)
            .execute(&self.pool)
            .await
            .expect("age the leases");
    }

    /// How many deliveries are waiting or being sent (the queue depth).
    pub async fn deliveries_pending(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM deliveries WHERE state IN ('queued', 'sending')")
            .fetch_one(&self.pool)
            .await?)
    }
}
