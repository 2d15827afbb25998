//! Trace numbers (ISO 8583 field 11, the slip's voucher number): one per message to the host,
//! never used twice in a batch, always above every receipt this outbox or the platform knows.

use super::{resume, Outbox, OutboxError, MAX_BATCH, MAX_SERIAL};

/// A trace number and the batch it belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Trace {
    /// 1..=999999 (field 60.2 in UnionPay's layout).
    pub batch: u32,
    /// 1..=999999.
    pub trace: u32,
}

impl Trace {
    /// The trace after this one: the next batch after 999999.
    fn next(self) -> Result<Trace, OutboxError> {
        if self.trace >= MAX_SERIAL {
            if self.batch >= MAX_BATCH {
                return Err(OutboxError::Invalid(format!(
                    "every batch up to {MAX_BATCH} is used: enrol a new terminal id"
                )));
            }
            return Ok(Trace { batch: self.batch + 1, trace: 1 });
        }
        Ok(Trace { batch: self.batch, trace: self.trace + 1 })
    }
}

impl Outbox {
    /// Hands out the next trace, for a message that has no journal row (the host sign-in).
    pub async fn allocate_trace(&self) -> Result<Trace, OutboxError> {
        let _queued = self.writer.lock().await;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let trace = allocate_in(&mut tx).await?;
        tx.commit().await?;
        Ok(trace)
    }

    /// The open batch: the one the next request is journalled in (it advances at settlement,
    /// and after trace 999999).
    pub async fn open_batch(&self) -> Result<u32, OutboxError> {
        let mut conn = self.pool.acquire().await?;
        Ok(next_in(&mut conn).await?.batch)
    }
}

/// The next trace, taken inside the caller's write transaction (so the request that uses it
/// is journalled with it, or neither happens): above the counter, the outbox's last receipt
/// and the platform's resume point.
pub(super) async fn allocate_in(conn: &mut sqlx::SqliteConnection) -> Result<Trace, OutboxError> {
    let next = next_in(&mut *conn).await?;
    sqlx::query(
        "INSERT INTO trace_counter (id, batch, trace) VALUES (1, ?1, ?2) \
         ON CONFLICT (id) DO UPDATE SET batch = excluded.batch, trace = excluded.trace",
    )
    .bind(i64::from(next.batch))
    .bind(i64::from(next.trace))
    .execute(&mut *conn)
    .await?;
    Ok(next)
}

/// The trace [`allocate_in`] would hand out next, without taking it.
pub(super) async fn next_in(conn: &mut sqlx::SqliteConnection) -> Result<Trace, OutboxError> {
    // The chain's next link says where receipt ids continue (own head or resume point).
    let link = resume::follow(resume::own_head_on(&mut *conn).await?, resume::resume_on(&mut *conn).await?)?;
    let from_link = Trace { batch: link.batch, trace: link.serial };
    let counter: Option<(i64, i64)> =
        sqlx::query_as("SELECT batch, trace FROM trace_counter WHERE id = 1").fetch_optional(&mut *conn).await?;
    let after_counter = match counter {
        None => None,
        Some((batch, trace)) => {
            let corrupt = || OutboxError::Corrupt(format!("trace counter {batch}/{trace}"));
            let last = Trace {
                batch: u32::try_from(batch).map_err(|_| corrupt())?,
                trace: u32::try_from(trace).map_err(|_| corrupt())?,
            };
            Some(last.next()?)
        }
    };
    Ok(after_counter.map_or(from_link, |c| c.max(from_link)))
}
