//! The resume point an enrolment starts from (the platform's batch and chain head for this
//! terminal), kept in the outbox, and the rule that picks the next link: the later of the
//! outbox's own last receipt and that point, moving to the next batch after serial 999999.

use ereceipt_core::contract::ResumePoint;

use super::{entry, NextLink, Outbox, OutboxError, MAX_SERIAL};

/// The highest batch a receipt id can carry (six digits).
pub const MAX_BATCH: u32 = 999_999;

/// Where the platform said this enrolment's receipts continue, checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resume {
    /// 1..=999999.
    pub batch: u32,
    /// The highest serial the platform holds in `batch`; 0 for none.
    pub last_serial: u32,
    /// The platform's chain head; 0 (and a zero hash) before the terminal's first receipt.
    pub sequence: u64,
    pub record_hash: [u8; 32],
}

impl TryFrom<&ResumePoint> for Resume {
    type Error = OutboxError;

    fn try_from(p: &ResumePoint) -> Result<Self, OutboxError> {
        let bad = |what: String| OutboxError::Invalid(format!("resume point: {what}"));
        if !(1..=MAX_BATCH).contains(&p.batch) {
            return Err(bad(format!("batch {} is not in 1..={MAX_BATCH}", p.batch)));
        }
        if p.last_serial > MAX_SERIAL {
            return Err(bad(format!("serial {} is not in 0..={MAX_SERIAL}", p.last_serial)));
        }
        let (sequence, record_hash) = match &p.head {
            None => (0, [0; 32]),
            Some(h) => (h.sequence, h.hash().ok_or_else(|| bad("the record hash is not 64 hex digits".into()))?),
        };
        if i64::try_from(sequence).is_err() {
            return Err(bad(format!("sequence {sequence} is too large")));
        }
        Ok(Resume { batch: p.batch, last_serial: p.last_serial, sequence, record_hash })
    }
}

/// The outbox's last stored receipt, as far as the next link is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Head {
    pub sequence: u64,
    pub record_hash: [u8; 32],
    pub batch: u32,
    pub serial: u32,
}

/// The link after the later of `own` and `resume`: the chain follows whichever head has the
/// higher sequence, the receipt id whichever (batch, serial) is higher, so neither a fresh
/// outbox nor a stale resume point can make an id or a sequence the platform already holds.
pub(super) fn follow(own: Option<Head>, resume: Option<Resume>) -> Result<NextLink, OutboxError> {
    let own_chain = own.map_or((0, [0; 32]), |h| (h.sequence, h.record_hash));
    let resume_chain = resume.map_or((0, [0; 32]), |r| (r.sequence, r.record_hash));
    let (sequence, previous) = if resume_chain.0 > own_chain.0 { resume_chain } else { own_chain };
    let own_id = own.map_or((1, 0), |h| (h.batch, h.serial));
    let resume_id = resume.map_or((1, 0), |r| (r.batch, r.last_serial));
    let (batch, serial) = own_id.max(resume_id);
    let (batch, serial) = if serial >= MAX_SERIAL { (batch.saturating_add(1), 1) } else { (batch, serial + 1) };
    if batch > MAX_BATCH {
        return Err(OutboxError::Invalid(format!("every batch up to {MAX_BATCH} is used: enrol a new terminal id")));
    }
    Ok(NextLink { sequence: sequence + 1, previous, batch, serial })
}

impl Outbox {
    /// Keeps where this enrolment's receipts continue (replacing an earlier point). Call it
    /// before the first sale of an enrolment; [`Outbox::next_link`] then never goes below it.
    pub async fn set_resume(&self, point: &ResumePoint, now_ms: i64) -> Result<(), OutboxError> {
        let _queued = self.writer.lock().await;
        let r = Resume::try_from(point)?;
        sqlx::query(
            "INSERT INTO outbox_resume (id, batch, last_serial, sequence, record_hash, fetched_at) \
             VALUES (1, ?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (id) DO UPDATE SET batch = excluded.batch, last_serial = excluded.last_serial, \
                 sequence = excluded.sequence, record_hash = excluded.record_hash, fetched_at = excluded.fetched_at",
        )
        .bind(i64::from(r.batch))
        .bind(i64::from(r.last_serial))
        .bind(i64::try_from(r.sequence).unwrap_or(i64::MAX))
        .bind(&r.record_hash[..])
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        tracing::info!(batch = r.batch, last_serial = r.last_serial, sequence = r.sequence, "resume point stored");
        Ok(())
    }

    /// The stored resume point, if any.
    pub async fn resume(&self) -> Result<Option<Resume>, OutboxError> {
        resume_on(&mut *self.pool.acquire().await?).await
    }

    /// True when the outbox knows nothing of where its receipts continue: no receipt and no
    /// resume point (the outbox was lost, or the terminal enrolled before resume points
    /// existed). Its next receipt would restart at batch 1, serial 1, which the platform may
    /// already hold: fetch the resume point first.
    pub async fn needs_resume(&self) -> Result<bool, OutboxError> {
        let (entries, points): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM outbox_entries LIMIT 1)), \
                    (SELECT COUNT(*) FROM outbox_resume)",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(entries == 0 && points == 0)
    }

    /// The outbox's own last receipt.
    pub(super) async fn own_head(&self) -> Result<Option<Head>, OutboxError> {
        own_head_on(&mut *self.pool.acquire().await?).await
    }
}

/// The stored resume point, read on `conn` (so inside its transaction, if any).
pub(super) async fn resume_on(conn: &mut sqlx::SqliteConnection) -> Result<Option<Resume>, OutboxError> {
    let row: Option<(i64, i64, i64, Vec<u8>)> =
        sqlx::query_as("SELECT batch, last_serial, sequence, record_hash FROM outbox_resume WHERE id = 1")
            .fetch_optional(&mut *conn)
            .await?;
    let Some((batch, last_serial, sequence, hash)) = row else { return Ok(None) };
    let corrupt = |what: &str, v: i64| OutboxError::Corrupt(format!("resume point {what} {v}"));
    Ok(Some(Resume {
        batch: u32::try_from(batch).map_err(|_| corrupt("batch", batch))?,
        last_serial: u32::try_from(last_serial).map_err(|_| corrupt("serial", last_serial))?,
        sequence: u64::try_from(sequence).map_err(|_| corrupt("sequence", sequence))?,
        record_hash: entry::hash(&hash)?,
    }))
}

/// The outbox's last stored receipt, read on `conn`.
pub(super) async fn own_head_on(conn: &mut sqlx::SqliteConnection) -> Result<Option<Head>, OutboxError> {
    let head: Option<(i64, Vec<u8>, i64, i64)> = sqlx::query_as(
        "SELECT sequence, record_hash, batch, serial FROM outbox_entries ORDER BY sequence DESC LIMIT 1",
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some((sequence, hash, batch, serial)) = head else { return Ok(None) };
    Ok(Some(Head {
        sequence: entry::sequence(sequence)?,
        record_hash: entry::hash(&hash)?,
        batch: u32::try_from(batch).map_err(|_| OutboxError::Corrupt(format!("batch {batch}")))?,
        serial: entry::serial(serial)?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(sequence: u64, batch: u32, serial: u32) -> Head {
        Head { sequence, record_hash: [sequence as u8; 32], batch, serial }
    }

    fn resume(batch: u32, last_serial: u32, sequence: u64) -> Resume {
        Resume { batch, last_serial, sequence, record_hash: [0xC0 | sequence as u8; 32] }
    }

    #[test]
    fn a_fresh_outbox_starts_at_batch_one_serial_one() {
        assert_eq!(follow(None, None).ok(), Some(NextLink { sequence: 1, previous: [0; 32], batch: 1, serial: 1 }));
    }

    #[test]
    fn a_new_enrolment_continues_the_platforms_chain_in_its_own_batch() {
        let next = follow(None, Some(resume(2, 0, 3))).ok();
        assert_eq!(next, Some(NextLink { sequence: 4, previous: [0xC3; 32], batch: 2, serial: 1 }));
        // After its own first receipts, the outbox's head is the later one.
        let next = follow(Some(head(5, 2, 2)), Some(resume(2, 0, 3))).ok();
        assert_eq!(next, Some(NextLink { sequence: 6, previous: [5; 32], batch: 2, serial: 3 }));
    }

    #[test]
    fn a_lost_outbox_continues_after_the_platforms_last_serial() {
        let next = follow(None, Some(resume(1, 3, 3))).ok();
        assert_eq!(next, Some(NextLink { sequence: 4, previous: [0xC3; 32], batch: 1, serial: 4 }));
    }

    #[test]
    fn serial_999999_moves_on_to_the_next_batch() {
        let next = follow(Some(head(7, 4, MAX_SERIAL)), None).ok();
        assert_eq!(next, Some(NextLink { sequence: 8, previous: [7; 32], batch: 5, serial: 1 }));
        let next = follow(None, Some(resume(4, MAX_SERIAL, 9))).ok();
        assert_eq!(next.map(|n| (n.batch, n.serial)), Some((5, 1)));
        // The last batch has no next one: a clear error before any sale, not a stored collision.
        assert!(matches!(follow(Some(head(1, MAX_BATCH, MAX_SERIAL)), None), Err(OutboxError::Invalid(_))));
    }

    #[test]
    fn resume_points_are_checked() {
        use ereceipt_core::contract::ChainHead;
        let ok = ResumePoint { batch: 2, last_serial: 0, head: Some(ChainHead::new(3, &[9; 32])) };
        assert_eq!(
            Resume::try_from(&ok).ok(),
            Some(Resume { batch: 2, last_serial: 0, sequence: 3, record_hash: [9; 32] })
        );
        for bad in [
            ResumePoint { batch: 0, ..ok.clone() },
            ResumePoint { batch: MAX_BATCH + 1, ..ok.clone() },
            ResumePoint { last_serial: MAX_SERIAL + 1, ..ok.clone() },
            ResumePoint { head: Some(ChainHead { sequence: 3, record_hash: "00".into() }), ..ok.clone() },
        ] {
            assert!(Resume::try_from(&bad).is_err(), "{bad:?}");
        }
    }
}
