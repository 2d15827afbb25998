//! Receipts as uploaded, each terminal's chain in arrival order, and refused uploads.
//! A receipt id is stored at most once: the unique key decides between concurrent uploaders.

use sqlx::any::AnyRow;
use sqlx::AnyConnection;
use sqlx::AnyPool;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::domain::delivery::Channel;

use super::{
    column, decode, hash_column, is_foreign_key_violation, ChainEntry, Family, NewReceipt, Refusal, Store, StoreError,
    StoreOutcome, StoredReceipt,
};

/// Every column of a receipt except the image, in [`receipt_from_row`]'s terms.
pub(super) const RECEIPT_COLUMNS: &str = "receipt_id, terminal_id, merchant_id, merchant_name, batch, serial, \
     sequence, previous_hash, record_hash, record, amount_minor, currency, tx_time, tx_offset_minutes, rrn, \
     auth_code, card_masked, card_last4, card_brand, signer_serial, received_at, ack, ingest_seq, \
     delivery_channel, delivery_to, kind, original_receipt_id, original_rrn, original_auth_code, original_date, \
     original_batch, original_voucher, linked_to, link_state, link_problem, given_back_minor";

impl Store {
    /// Stores a receipt atomically.
    ///
    /// If the id is already stored with the same record hash, returns
    /// [`StoreOutcome::Duplicate`] with the acknowledgement stored then, and changes nothing; with
    /// another hash, [`StoreOutcome::Conflict`]. Otherwise [`StoreOutcome::Stored`] with `r.ack`.
    /// Safe under concurrent callers in several processes: the unique key on `receipt_id` lets
    /// exactly one insert through. [`StoreError::UnknownTerminal`] if the terminal is not registered.
    pub async fn store_receipt(&self, r: &NewReceipt) -> Result<StoreOutcome, StoreError> {
        match &self.sqlite_writer {
            Some(writer) => writer.store(r.clone()).await,
            None => {
                // The receipt and its delivery job commit together or not at all.
                let mut tx = self.pool.begin().await?;
                let outcome = insert_receipt(&mut tx, r).await?;
                tx.commit().await?;
                Ok(outcome)
            }
        }
    }

    /// The receipt with this id, without its image.
    pub async fn receipt(&self, id: &str) -> Result<Option<StoredReceipt>, StoreError> {
        let sql = format!("SELECT {RECEIPT_COLUMNS} FROM receipts WHERE receipt_id = $1");
        let row = sqlx::query(&sql).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(receipt_from_row).transpose()
    }

    /// The PNG of the receipt with this id.
    pub async fn receipt_image(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let png = sqlx::query_scalar("SELECT png FROM receipts WHERE receipt_id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(png)
    }

    /// The terminal's chain as stored, in ingest order (the platform-side arrival order).
    pub async fn chain(&self, terminal_id: &str) -> Result<Vec<ChainEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT receipt_id, sequence, previous_hash, record_hash, ingest_seq, received_at \
             FROM receipts WHERE terminal_id = $1 ORDER BY ingest_seq",
        )
        .bind(terminal_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(chain_entry_from_row).collect()
    }

    /// How many receipts are stored.
    pub async fn receipt_count(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM receipts").fetch_one(&self.pool).await?)
    }

    /// Records an upload refusal the operator should see (e.g. a different receipt under an
    /// existing id).
    pub async fn record_refusal(&self, r: &Refusal) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO refusals (at, terminal_id, receipt_id, reason) VALUES ($1, $2, $3, $4)")
            .bind(r.at)
            .bind(&r.terminal_id)
            .bind(&r.receipt_id)
            .bind(&r.reason)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The latest `limit` refusals (clamped to 1..=1000), newest first.
    pub async fn refusals(&self, limit: i64) -> Result<Vec<Refusal>, StoreError> {
        let rows =
            sqlx::query("SELECT at, terminal_id, receipt_id, reason FROM refusals ORDER BY at DESC, id DESC LIMIT $1")
                .bind(limit.clamp(1, 1000))
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|row| {
                Ok(Refusal {
                    at: column(row, "at")?,
                    terminal_id: column(row, "terminal_id")?,
                    receipt_id: column(row, "receipt_id")?,
                    reason: column(row, "reason")?,
                })
            })
            .collect()
    }
}

/// Decodes a row selected with [`RECEIPT_COLUMNS`].
pub(super) fn receipt_from_row(row: &AnyRow) -> Result<StoredReceipt, StoreError> {
    Ok(StoredReceipt {
        receipt_id: column(row, "receipt_id")?,
        terminal_id: column(row, "terminal_id")?,
        merchant_id: column(row, "merchant_id")?,
        merchant_name: column(row, "merchant_name")?,
        batch: column(row, "batch")?,
        serial: column(row, "serial")?,
        sequence: column(row, "sequence")?,
        previous_hash: column(row, "previous_hash")?,
        record_hash: hash_column(row, "record_hash")?,
        record: column(row, "record")?,
        amount: decode::money(column(row, "amount_minor")?, &column::<String>(row, "currency")?)?,
        time: decode::local_time(column(row, "tx_time")?, column(row, "tx_offset_minutes")?)?,
        rrn: column(row, "rrn")?,
        auth_code: column(row, "auth_code")?,
        card_masked: column(row, "card_masked")?,
        card_last4: column(row, "card_last4")?,
        card_brand: column(row, "card_brand")?,
        signer_serial: column(row, "signer_serial")?,
        received_at: column(row, "received_at")?,
        ack: column(row, "ack")?,
        ingest_seq: column(row, "ingest_seq")?,
        delivery: decode::delivery_choice(column(row, "delivery_channel")?, column(row, "delivery_to")?)?,
        kind: super::lineage::kind(column(row, "kind")?)?,
        link: super::lineage::link_from_row(row)?,
        given_back_minor: super::lineage::given_back(column(row, "given_back_minor")?)?,
    })
}

/// Inserts one receipt unless its id is stored; on a repeat, compares hashes.
async fn insert_receipt(conn: &mut AnyConnection, r: &NewReceipt) -> Result<StoreOutcome, StoreError> {
    let result = sqlx::query(
        "INSERT INTO receipts (receipt_id, terminal_id, merchant_id, merchant_name, batch, serial, sequence, \
         previous_hash, record_hash, amount_minor, currency, tx_time, tx_offset_minutes, rrn, auth_code, \
         card_masked, card_last4, card_brand, signer_serial, received_at, ack, record, png, delivery_channel, \
         delivery_to, kind, voucher, local_date, original_receipt_id, original_rrn, original_auth_code, \
         original_date, original_batch, original_voucher, link_state) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, \
         $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $34, $35) \
         ON CONFLICT (receipt_id) DO NOTHING",
    )
    .bind(&r.receipt_id)
    .bind(&r.terminal_id)
    .bind(&r.merchant_id)
    .bind(&r.merchant_name)
    .bind(r.batch)
    .bind(r.serial)
    .bind(r.sequence)
    .bind(r.previous_hash.as_deref())
    .bind(r.record_hash.as_slice())
    .bind(decode::minor(r.amount))
    .bind(r.amount.currency().code())
    .bind(decode::unix_ms(r.time))
    .bind(i32::from(r.time.offset_minutes()))
    .bind(&r.rrn)
    .bind(&r.auth_code)
    .bind(&r.card_masked)
    .bind(&r.card_last4)
    .bind(&r.card_brand)
    .bind(&r.signer_serial)
    .bind(r.received_at)
    .bind(r.ack.as_slice())
    .bind(r.record.as_slice())
    .bind(r.png.as_slice())
    .bind(r.delivery.as_ref().map(|d| d.channel()))
    .bind(r.delivery.as_ref().map(|d| d.recipient()));
    let result = super::lineage::bind_lineage(result, &r.lineage).execute(&mut *conn).await;
    let inserted = match result {
        Ok(done) => done.rows_affected(),
        Err(e) if is_foreign_key_violation(&e) => return Err(StoreError::UnknownTerminal(r.terminal_id.clone())),
        Err(e) => return Err(e.into()),
    };
    if inserted > 0 {
        super::lineage::link_inserted(conn, &r.receipt_id, &r.merchant_id, &r.lineage).await?;
        if let Some(choice) = &r.delivery {
            if let Some(channel) = Channel::pushing(choice) {
                super::deliveries::enqueue(conn, &r.receipt_id, channel, choice.recipient(), r.received_at).await?;
            }
        }
        return Ok(StoreOutcome::Stored(r.ack.clone()));
    }
    // Someone stored this id first. Their insert has committed (PostgreSQL's ON CONFLICT waits
    // for it; SQLite has one writer), so this read finds it, unless the retention purge deleted
    // it in between (a receipt years old uploaded again): then the error below, and a retry.
    let row = sqlx::query("SELECT record_hash, ack FROM receipts WHERE receipt_id = $1")
        .bind(&r.receipt_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::Database(format!("receipt {} neither inserted nor found", r.receipt_id)))?;
    let stored_hash = hash_column(&row, "record_hash")?;
    if stored_hash == r.record_hash {
        Ok(StoreOutcome::Duplicate(column(&row, "ack")?))
    } else {
        Ok(StoreOutcome::Conflict { stored_hash })
    }
}

type Job = (NewReceipt, oneshot::Sender<Result<StoreOutcome, StoreError>>);

/// Group commit for SQLite: one task takes the receipts queued since its last commit and stores
/// them in one transaction, so N concurrent uploads cost one fsync instead of N. Each caller gets
/// its own outcome only after the commit that holds its receipt.
///
/// The task is supervised ([`supervise`]): if a group panics, its callers get an error (their
/// terminals retry; nothing half-written stays, the transaction is rolled back) and a new
/// writer takes the queue. If the supervisor itself ends, [`GroupCommit::is_running`] turns
/// false and readiness (`/readyz`) fails, instead of every upload failing unseen.
#[derive(Clone)]
pub(crate) struct GroupCommit {
    jobs: mpsc::Sender<Job>,
    running: Arc<AtomicBool>,
    #[cfg(test)]
    supervisor: tokio::task::AbortHandle,
}

/// The most receipts one transaction takes (bounds the latency of the first in the group).
const MAX_GROUP: usize = 64;

impl GroupCommit {
    pub(crate) fn start(pool: AnyPool) -> Self {
        let (jobs, rx) = mpsc::channel::<Job>(1024);
        let running = Arc::new(AtomicBool::new(true));
        let commit = move |group: Vec<Job>| {
            let pool = pool.clone();
            async move { commit_group(&pool, group).await }
        };
        let _supervisor = tokio::spawn(supervise(rx, running.clone(), commit));
        Self {
            jobs,
            running,
            #[cfg(test)]
            supervisor: _supervisor.abort_handle(),
        }
    }

    /// False once the writer is gone for good: receipts can no longer be stored.
    pub(crate) fn is_running(&self) -> bool {
        self.running.load(Ordering::Acquire)
    }

    /// Ends the writer as a bug or a dead runtime would (for readiness tests).
    #[cfg(test)]
    pub(crate) fn stop_for_test(&self) {
        self.supervisor.abort();
    }

    async fn store(&self, r: NewReceipt) -> Result<StoreOutcome, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.jobs.send((r, reply)).await.map_err(|_| StoreError::Database("receipt writer stopped".into()))?;
        answer.await.map_err(|_| StoreError::Database("receipt writer stopped".into()))?
    }
}

/// Clears `running` however the supervisor ends (returns, panics or is aborted).
struct Running(Arc<AtomicBool>);
impl Drop for Running {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// Runs `commit` over groups of queued jobs in a writer task, and starts a new writer on the same
/// queue whenever one panics. Returns when every sender is gone (the store was dropped).
async fn supervise<J, F, Fut>(rx: mpsc::Receiver<J>, running: Arc<AtomicBool>, commit: F)
where
    J: Send + 'static,
    F: Fn(Vec<J>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let _running = Running(running);
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let commit = Arc::new(commit);
    let mut restarts = 0u64;
    loop {
        let (rx, commit) = (rx.clone(), commit.clone());
        let writer = tokio::spawn(async move {
            let mut rx = rx.lock().await;
            while let Some(first) = rx.recv().await {
                let mut group = vec![first];
                while group.len() < MAX_GROUP {
                    match rx.try_recv() {
                        Ok(job) => group.push(job),
                        Err(_) => break,
                    }
                }
                commit(group).await;
            }
        });
        match writer.await {
            Ok(()) => return,
            Err(e) if e.is_panic() => {
                restarts += 1;
                tracing::error!(
                    restarts,
                    "the receipt writer panicked; its group was answered with an error; starting a new writer"
                );
            }
            Err(_) => {
                tracing::error!("the receipt writer was cancelled; receipts can no longer be stored");
                return;
            }
        }
    }
}

async fn commit_group(pool: &AnyPool, group: Vec<Job>) {
    let fail_all = |group: Vec<Job>, e: &StoreError| {
        for (_, reply) in group {
            let _ = reply.send(Err(StoreError::Database(e.to_string())));
        }
    };
    let mut tx = match pool.begin().await {
        Ok(tx) => tx,
        Err(e) => return fail_all(group, &e.into()),
    };
    let mut outcomes = Vec::with_capacity(group.len());
    for (r, _) in &group {
        // A receipt with a delivery job goes in a savepoint, so that if either insert fails both
        // are undone and the others in the group go on. (A lone INSERT that fails, such as an
        // unknown terminal, is undone by SQLite by itself.)
        let guarded = r.delivery.is_some();
        if guarded {
            if let Err(e) = sqlx::query("SAVEPOINT one_receipt").execute(&mut *tx).await {
                return fail_all(group, &e.into());
            }
        }
        let outcome = insert_receipt(&mut tx, r).await;
        if guarded {
            let end = if outcome.is_ok() { "RELEASE one_receipt" } else { "ROLLBACK TO one_receipt" };
            if let Err(e) = sqlx::query(end).execute(&mut *tx).await {
                return fail_all(group, &e.into());
            }
            if outcome.is_err() {
                let _ = sqlx::query("RELEASE one_receipt").execute(&mut *tx).await;
            }
        }
        // After any failure but a receipt's own (an unknown terminal: SQLite undoes just that
        // statement), SQLite may have rolled back the whole transaction by itself (a full disk
        // does): going on would write the rest outside any transaction. So the whole group
        // fails, and its terminals send again.
        if let Err(e) = &outcome {
            if !matches!(e, StoreError::UnknownTerminal(_)) {
                return fail_all(group, e);
            }
        }
        outcomes.push(outcome);
    }
    if let Err(e) = tx.commit().await {
        return fail_all(group, &e.into());
    }
    for ((_, reply), outcome) in group.into_iter().zip(outcomes) {
        let _ = reply.send(outcome);
    }
}

/// A chain entry from a row with the columns `receipt_id, sequence, previous_hash, record_hash,
/// ingest_seq, received_at`.
pub(super) fn chain_entry_from_row(row: &sqlx::any::AnyRow) -> Result<ChainEntry, StoreError> {
    Ok(ChainEntry {
        receipt_id: column(row, "receipt_id")?,
        sequence: column(row, "sequence")?,
        previous_hash: column(row, "previous_hash")?,
        record_hash: hash_column(row, "record_hash")?,
        ingest_seq: column(row, "ingest_seq")?,
        received_at: column(row, "received_at")?,
    })
}

impl Store {
    /// The receipt `id` with its original and the receipts that name it (oldest first).
    pub async fn family(&self, r: &StoredReceipt) -> Result<Family, StoreError> {
        let original = match r.link.as_ref().and_then(|l| l.linked_to.as_deref()) {
            Some(o) => self.receipt(o).await?,
            None => None,
        };
        let sql = format!("SELECT {} FROM receipts WHERE linked_to = $1 ORDER BY ingest_seq", RECEIPT_COLUMNS);
        let rows = sqlx::query(&sql).bind(&r.receipt_id).fetch_all(&self.pool).await?;
        let children = rows.iter().map(receipt_from_row).collect::<Result<Vec<_>, _>>()?;
        Ok(Family { original, children })
    }
}

#[cfg(test)]
mod writer_tests {
    use super::*;

    type Echo = (u32, oneshot::Sender<u32>);

    #[tokio::test]
    async fn a_group_that_panics_fails_only_its_callers_and_a_new_writer_goes_on() {
        let (tx, rx) = mpsc::channel::<Echo>(8);
        let running = Arc::new(AtomicBool::new(true));
        let commit = |group: Vec<Echo>| async move {
            for (n, reply) in group {
                assert_ne!(n, 13, "a bug met by one receipt");
                let _ = reply.send(n);
            }
        };
        let supervisor = tokio::spawn(supervise(rx, running.clone(), commit));
        let ask = |n: u32| {
            let tx = tx.clone();
            async move {
                let (reply, answer) = oneshot::channel();
                tx.send((n, reply)).await.map_err(|_| "queue closed")?;
                answer.await.map_err(|_| "no answer")
            }
        };
        assert_eq!(ask(1).await, Ok(1));
        assert_eq!(ask(13).await, Err("no answer"), "the panicking group's caller gets an error");
        assert_eq!(ask(2).await, Ok(2), "later receipts are written by a new writer");
        assert!(running.load(Ordering::Acquire));
        drop(tx);
        supervisor.await.expect("the supervisor ends when the store is gone");
        assert!(!running.load(Ordering::Acquire));
    }

    #[tokio::test]
    async fn readiness_fails_once_the_receipt_writer_is_gone() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::connect(&format!("sqlite:{}", dir.path().join("store.db").display())).await.expect("open");
        store.ping().await.expect("ready");
        let writer = store.sqlite_writer.clone().expect("SQLite has a writer");
        writer.stop_for_test();
        tokio::time::timeout(std::time::Duration::from_secs(5), async {
            while writer.is_running() {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the writer is seen to stop");
        let err = store.ping().await.expect_err("not ready without a writer");
        assert!(err.to_string().contains("receipt writer stopped"), "{err}");
    }
}
