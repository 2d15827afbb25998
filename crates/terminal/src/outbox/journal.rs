//! The authorisation journal (security review L4): every card authorisation, written before the
//! acquirer is asked and followed through its answer to the receipt or a reversal, so that an
//! approval whose receipt was never made (crash, closed tab) is found again and reversed.
//!
//! States: `requested` → `approved` | `declined` | `failed` (never sent); `approved` → `completed` (in the transaction
//! that stores its receipt: [`Outbox::store_sale`]); `requested` | `approved` → `reversing`
//! (persisted before the reversal is sent) → `reversed`, or `voided` for a cashier's
//! cancellation, only once the acquirer acknowledged it. Only the masked card number is kept.

use std::fmt;

use ereceipt_core::card::MaskedPan;
use ereceipt_core::model::{AuthCode, LocalTime, MerchantId, Money, OperatorId, OriginalRef, Rrn, TerminalId};

use super::operation::Operation;
use super::trace::{allocate_in, Trace};
use super::{Outbox, OutboxError, MAX_ERROR_CHARS};

/// A request about to be sent to the authoriser.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewAuthorisation {
    /// From [`new_request_id`].
    pub request_id: String,
    pub amount: Money,
    /// BIN and last four only (PCI DSS); never the card number or a track.
    pub masked_pan: MaskedPan,
    /// The terminal's clock when asking, as the slip will print it.
    pub time: LocalTime,
    pub terminal_id: TerminalId,
    pub merchant_id: MerchantId,
    /// The authoriser's name ([`crate::ui::AuthoriserInfo`]).
    pub authoriser: String,
    /// True when the authoriser is a simulator: nothing real was authorised.
    pub simulated: bool,
    /// The cashier signed in (ISO 8583 field 63 in UnionPay's layout).
    pub operator: OperatorId,
    /// What is asked: a sale, a pre-authorisation, or a void, refund or completion of an
    /// original.
    pub operation: Operation,
}

/// Where an authorisation is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthorisationState {
    /// Written before asking; no answer yet (or none ever came: a crash, a timeout).
    Requested,
    /// Approved; its receipt is not stored yet.
    Approved,
    /// Declined by the issuer or acquirer.
    Declined,
    /// Never reached the acquirer (no connection, a card it cannot take): nothing to reverse.
    Failed,
    /// Its receipt is stored in the outbox.
    Completed,
    /// A reversal is on its way to the acquirer, or must be sent again.
    Reversing,
    /// The acquirer acknowledged the reversal of an approval that got no receipt (or of a
    /// request that got no answer).
    Reversed,
    /// The acquirer acknowledged the void of a sale the cashier cancelled.
    Voided,
    /// A refund's advice was sent and not acknowledged: it is sent again (never reversed).
    Advising,
}

impl AuthorisationState {
    const ALL: [AuthorisationState; 9] = [
        AuthorisationState::Requested,
        AuthorisationState::Approved,
        AuthorisationState::Declined,
        AuthorisationState::Failed,
        AuthorisationState::Completed,
        AuthorisationState::Reversing,
        AuthorisationState::Reversed,
        AuthorisationState::Voided,
        AuthorisationState::Advising,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuthorisationState::Requested => "requested",
            AuthorisationState::Approved => "approved",
            AuthorisationState::Declined => "declined",
            AuthorisationState::Failed => "failed",
            AuthorisationState::Completed => "completed",
            AuthorisationState::Reversing => "reversing",
            AuthorisationState::Reversed => "reversed",
            AuthorisationState::Voided => "voided",
            AuthorisationState::Advising => "advising",
        }
    }

    /// Needs someone to act: money may be held on the cardholder's account with no receipt,
    /// or a refund's advice is still owed to the host.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            AuthorisationState::Requested
                | AuthorisationState::Approved
                | AuthorisationState::Reversing
                | AuthorisationState::Advising
        )
    }

    fn from_db(s: &str) -> Result<Self, OutboxError> {
        Self::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| OutboxError::Corrupt(format!("authorisation state {s:?}")))
    }
}

impl fmt::Display for AuthorisationState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an authorisation is reversed; it decides whether it ends `reversed` or `voided`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReversalReason {
    /// Approved, but its receipt was never made (the terminal stopped, the tab was closed).
    NoReceipt,
    /// Sent, but no answer was received: the acquirer may have approved it.
    NoAnswer,
    /// An answer came but cannot be trusted (unreadable, a mandatory field missing, a wrong
    /// MAC): the acquirer may have approved it.
    BadAnswer,
    /// The cashier cancelled the approved sale before its receipt (a void).
    Cancelled,
}

impl ReversalReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ReversalReason::NoReceipt => "no_receipt",
            ReversalReason::NoAnswer => "no_answer",
            ReversalReason::BadAnswer => "bad_answer",
            ReversalReason::Cancelled => "cancelled",
        }
    }

    fn from_db(s: &str) -> Result<Self, OutboxError> {
        [ReversalReason::NoReceipt, ReversalReason::NoAnswer, ReversalReason::BadAnswer, ReversalReason::Cancelled]
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| OutboxError::Corrupt(format!("reversal reason {s:?}")))
    }
}

impl fmt::Display for ReversalReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One journal row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthorisationRecord {
    pub request_id: String,
    pub state: AuthorisationState,
    pub amount: Money,
    pub masked_pan: MaskedPan,
    pub time: LocalTime,
    pub terminal_id: TerminalId,
    pub merchant_id: MerchantId,
    pub authoriser: String,
    pub simulated: bool,
    /// Set once approved.
    pub auth_code: Option<AuthCode>,
    pub rrn: Option<Rrn>,
    /// The decline's code and text, or the last failed reversal attempt's error.
    pub answer: Option<String>,
    /// Set when completed.
    pub receipt_id: Option<String>,
    /// Set from `reversing` on.
    pub reversal: Option<ReversalReason>,
    /// Reversal attempts started (each persisted before it was sent).
    pub reversal_attempts: u32,
    /// The acquirer's acknowledgement of the reversal.
    pub reversal_ack: Option<String>,
    /// Epoch ms of the request and of the last change.
    pub requested_at: i64,
    pub updated_at: i64,
    /// The trace (field 11) and batch the request was sent with; `None` on rows journalled
    /// before the host link existed.
    pub trace: Option<Trace>,
    /// The cashier who asked; `None` on rows journalled before the host link existed.
    pub operator: Option<String>,
    /// What was asked (a sale on rows from before operations existed).
    pub operation: Operation,
    /// Sends of a refund's advice after the first.
    pub advice_attempts: u32,
}

impl AuthorisationRecord {
    /// The card as the slip shows it: brand and last four, e.g. `UnionPay *** **** **** **** 3446`.
    pub fn card(&self) -> String {
        format!("{} {}", self.masked_pan.brand().name(), self.masked_pan.for_receipt())
    }
}

/// A fresh request id: 128 random bits in hex.
pub fn new_request_id() -> String {
    use rand::RngCore;
    let mut b = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}

const COLUMNS: &str = "request_id, state, amount_minor, currency, masked_pan, terminal_time, terminal_id, \
     merchant_id, authoriser, simulated, auth_code, rrn, answer, receipt_id, reversal, reversal_attempts, \
     reversal_ack, requested_at, updated_at, batch, trace, operator, kind, original_receipt_id, original_batch, \
     original_voucher, original_rrn, original_auth_code, original_date, original_kind, advice_attempts";

#[derive(sqlx::FromRow)]
struct Row {
    request_id: String,
    state: String,
    amount_minor: i64,
    currency: String,
    masked_pan: String,
    terminal_time: String,
    terminal_id: String,
    merchant_id: String,
    authoriser: String,
    simulated: i64,
    auth_code: Option<String>,
    rrn: Option<String>,
    answer: Option<String>,
    receipt_id: Option<String>,
    reversal: Option<String>,
    reversal_attempts: i64,
    reversal_ack: Option<String>,
    requested_at: i64,
    updated_at: i64,
    batch: Option<i64>,
    trace: Option<i64>,
    operator: Option<String>,
    kind: String,
    original_receipt_id: Option<String>,
    original_batch: Option<i64>,
    original_voucher: Option<i64>,
    original_rrn: Option<String>,
    original_auth_code: Option<String>,
    original_date: Option<String>,
    original_kind: Option<String>,
    advice_attempts: i64,
}

impl TryFrom<Row> for AuthorisationRecord {
    type Error = OutboxError;

    fn try_from(r: Row) -> Result<Self, OutboxError> {
        let bad = |what: &str, e: &dyn fmt::Display| OutboxError::Corrupt(format!("authorisation {what}: {e}"));
        let minor = u64::try_from(r.amount_minor).map_err(|e| bad("amount", &e))?;
        let currency = r.currency.parse().map_err(|e| bad("currency", &e))?;
        let trace = match (r.batch, r.trace) {
            (Some(batch), Some(trace)) => Some(Trace {
                batch: u32::try_from(batch).map_err(|e| bad("batch", &e))?,
                trace: u32::try_from(trace).map_err(|e| bad("trace", &e))?,
            }),
            _ => None,
        };
        let number = |v: Option<i64>, what: &str| v.map(|n| u32::try_from(n).map_err(|e| bad(what, &e))).transpose();
        let original = match r.original_date.as_deref() {
            None => None,
            Some(date) => Some(OriginalRef {
                receipt_id: r.original_receipt_id.map(|i| i.parse()).transpose().map_err(|e| bad("original", &e))?,
                batch: number(r.original_batch, "original batch")?
                    .map(ereceipt_core::model::BatchNo::new)
                    .transpose()
                    .map_err(|e| bad("original batch", &e))?,
                voucher: number(r.original_voucher, "original voucher")?
                    .map(ereceipt_core::model::VoucherNo::new)
                    .transpose()
                    .map_err(|e| bad("original voucher", &e))?,
                rrn: r.original_rrn.map(|c| c.parse()).transpose().map_err(|e| bad("original rrn", &e))?,
                auth_code: r
                    .original_auth_code
                    .map(|c| c.parse())
                    .transpose()
                    .map_err(|e| bad("original auth code", &e))?,
                date: date.parse().map_err(|e| bad("original date", &e))?,
            }),
        };
        let operation = Operation {
            kind: r.kind.parse().map_err(|e| bad("kind", &e))?,
            original,
            voids: r.original_kind.map(|k| k.parse()).transpose().map_err(|e| bad("original kind", &e))?,
        };
        Ok(AuthorisationRecord {
            operation,
            advice_attempts: u32::try_from(r.advice_attempts).map_err(|e| bad("advice attempts", &e))?,
            trace,
            operator: r.operator,
            state: AuthorisationState::from_db(&r.state)?,
            amount: Money::new(minor, currency).map_err(|e| bad("amount", &e))?,
            masked_pan: r.masked_pan.parse().map_err(|e| bad("card", &e))?,
            time: r.terminal_time.parse().map_err(|e| bad("time", &e))?,
            terminal_id: r.terminal_id.parse().map_err(|e| bad("terminal id", &e))?,
            merchant_id: r.merchant_id.parse().map_err(|e| bad("merchant id", &e))?,
            simulated: r.simulated != 0,
            auth_code: r.auth_code.map(|c| c.parse()).transpose().map_err(|e| bad("auth code", &e))?,
            rrn: r.rrn.map(|c| c.parse()).transpose().map_err(|e| bad("rrn", &e))?,
            reversal: r.reversal.as_deref().map(ReversalReason::from_db).transpose()?,
            reversal_attempts: u32::try_from(r.reversal_attempts).map_err(|e| bad("reversal attempts", &e))?,
            request_id: r.request_id,
            authoriser: r.authoriser,
            answer: r.answer,
            receipt_id: r.receipt_id,
            reversal_ack: r.reversal_ack,
            requested_at: r.requested_at,
            updated_at: r.updated_at,
        })
    }
}

/// How a `requested` authorisation was answered, other than by an approval.
#[derive(Clone, Copy)]
enum Answered {
    Declined,
    Failed,
    Unreadable,
    /// A refund's advice sent without an answer.
    Unanswered,
}

fn short(text: &str) -> String {
    text.chars().take(MAX_ERROR_CHARS).collect()
}

impl Outbox {
    /// Journals a request before it is sent: nothing may be authorised that has no row. Its trace
    /// number and batch are allocated in the same transaction and returned: the request, its
    /// reversal and its receipt all carry them. An id already used is [`OutboxError::Conflict`].
    pub async fn authorisation_requested(&self, a: &NewAuthorisation, now_ms: i64) -> Result<Trace, OutboxError> {
        self.requested_with(a, None, now_ms).await
    }

    /// Journals `a` with `parts` (a refund's receipt parts as JSON, already checked by
    /// [`Outbox::authorisation_requested_keeping`]) in the same row.
    pub(super) async fn requested_with(
        &self,
        a: &NewAuthorisation,
        parts: Option<String>,
        now_ms: i64,
    ) -> Result<Trace, OutboxError> {
        if a.request_id.len() != 32 || !a.request_id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(OutboxError::Invalid("an authorisation request id is 32 lowercase hex digits".into()));
        }
        let minor = i64::try_from(a.amount.minor())
            .map_err(|_| OutboxError::Invalid(format!("amount {} is too large", a.amount)))?;
        a.operation.check()?;
        let original = a.operation.original.as_ref();
        let _queued = self.writer.lock().await;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let trace = allocate_in(&mut tx).await?;
        sqlx::query(
            "INSERT INTO authorisations (request_id, state, amount_minor, currency, masked_pan, terminal_time, \
                 terminal_id, merchant_id, authoriser, simulated, requested_at, updated_at, batch, trace, operator, \
                 kind, original_receipt_id, original_batch, original_voucher, original_rrn, original_auth_code, \
                 original_date, original_kind, receipt_parts) \
             VALUES (?1, 'requested', ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, \
                 ?18, ?19, ?20, ?21, ?22)",
        )
        .bind(&a.request_id)
        .bind(minor)
        .bind(a.amount.currency().code())
        .bind(a.masked_pan.stored_form())
        .bind(a.time.rfc3339())
        .bind(a.terminal_id.as_str())
        .bind(a.merchant_id.as_str())
        .bind(&a.authoriser)
        .bind(i64::from(a.simulated))
        .bind(now_ms)
        .bind(i64::from(trace.batch))
        .bind(i64::from(trace.trace))
        .bind(a.operator.as_str())
        .bind(a.operation.kind.code())
        .bind(original.and_then(|o| o.receipt_id.as_ref()).map(|r| r.to_string()))
        .bind(original.and_then(|o| o.batch).map(|b| i64::from(b.value())))
        .bind(original.and_then(|o| o.voucher).map(|v| i64::from(v.value())))
        .bind(original.and_then(|o| o.rrn.as_ref()).map(|r| r.as_str().to_owned()))
        .bind(original.and_then(|o| o.auth_code.as_ref()).map(|c| c.as_str().to_owned()))
        .bind(original.map(|o| o.date.format("%Y-%m-%d").to_string()))
        .bind(a.operation.voids.map(|k| k.code()))
        .bind(parts)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(trace)
    }

    /// Records the approval of a `requested` authorisation (or the acknowledgement of a refund's
    /// advice sent again).
    pub async fn authorisation_approved(
        &self,
        request_id: &str,
        auth_code: &AuthCode,
        rrn: &Rrn,
        now_ms: i64,
    ) -> Result<(), OutboxError> {
        let queued = self.writer.lock().await;
        let done = sqlx::query(
            "UPDATE authorisations SET state = 'approved', auth_code = ?1, rrn = ?2, updated_at = ?3 \
             WHERE request_id = ?4 AND state IN ('requested', 'advising')",
        )
        .bind(auth_code.as_str())
        .bind(rrn.as_str())
        .bind(now_ms)
        .bind(request_id)
        .execute(&self.pool)
        .await?;
        drop(queued);
        self.changed(request_id, done.rows_affected(), "approved").await
    }

    /// Records the decline of a `requested` authorisation, with its code and text.
    pub async fn authorisation_declined(&self, request_id: &str, answer: &str, now_ms: i64) -> Result<(), OutboxError> {
        self.answered(request_id, Answered::Declined, answer, now_ms).await
    }

    /// Records that a `requested` authorisation never reached the acquirer (no connection, a card
    /// this link cannot send): nothing is held, so nothing is reversed.
    pub async fn authorisation_failed(&self, request_id: &str, why: &str, now_ms: i64) -> Result<(), OutboxError> {
        self.answered(request_id, Answered::Failed, why, now_ms).await
    }

    /// Records that a `requested` authorisation got an answer that cannot be trusted: it is
    /// `reversing` (reason `bad_answer`, no attempt yet) before the reversal is sent.
    pub async fn authorisation_unreadable(&self, request_id: &str, why: &str, now_ms: i64) -> Result<(), OutboxError> {
        self.answered(request_id, Answered::Unreadable, why, now_ms).await
    }

    /// Records that a refund's advice got no answer (or one that cannot be trusted): it is
    /// `advising`, to be sent again until the host acknowledges it. Never reversed.
    pub async fn authorisation_advice_unanswered(
        &self,
        request_id: &str,
        why: &str,
        now_ms: i64,
    ) -> Result<(), OutboxError> {
        self.answered(request_id, Answered::Unanswered, why, now_ms).await
    }

    /// Starts sending an `advising` refund's advice again, counted and persisted before it is
    /// sent; returns the row the message is built from.
    pub async fn authorisation_advice_resending(
        &self,
        request_id: &str,
        now_ms: i64,
    ) -> Result<AuthorisationRecord, OutboxError> {
        let _queued = self.writer.lock().await;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let done = sqlx::query(
            "UPDATE authorisations SET advice_attempts = advice_attempts + 1, updated_at = ?1 \
             WHERE request_id = ?2 AND state = 'advising'",
        )
        .bind(now_ms)
        .bind(request_id)
        .execute(&mut *tx)
        .await?;
        let row = record_in(&mut tx, request_id).await?;
        tx.commit().await?;
        if done.rows_affected() != 1 {
            return Err(OutboxError::Authorisation(format!(
                "authorisation {request_id} is {}: no advice is owed for it",
                row.state
            )));
        }
        Ok(row)
    }

    /// Records a resent advice that was not acknowledged; the row stays `advising`.
    pub async fn authorisation_advice_failed(
        &self,
        request_id: &str,
        error: &str,
        now_ms: i64,
    ) -> Result<(), OutboxError> {
        let queued = self.writer.lock().await;
        let done = sqlx::query(
            "UPDATE authorisations SET answer = ?1, updated_at = ?2 WHERE request_id = ?3 AND state = 'advising'",
        )
        .bind(short(error))
        .bind(now_ms)
        .bind(request_id)
        .execute(&self.pool)
        .await?;
        drop(queued);
        self.changed(request_id, done.rows_affected(), "still advising").await
    }

    /// Moves a `requested` row to the end `how` names, keeping `text` as its answer.
    async fn answered(&self, request_id: &str, how: Answered, text: &str, now_ms: i64) -> Result<(), OutboxError> {
        let (set, to) = match how {
            // A declined refund gave nothing back: its receipt's parts are not kept.
            Answered::Declined => ("state = 'declined', receipt_parts = NULL", "declined"),
            Answered::Failed => ("state = 'failed'", "failed"),
            // A refund is never reversed: its advice is sent again.
            Answered::Unreadable => (
                "state = CASE kind WHEN 'REFUND' THEN 'advising' ELSE 'reversing' END, \
                 reversal = CASE kind WHEN 'REFUND' THEN NULL ELSE 'bad_answer' END",
                "reversing",
            ),
            Answered::Unanswered => ("state = 'advising'", "advising"),
        };
        // A refund's advice sent again is answered from `advising`: a decline ends it, a
        // failure to send or an unreadable answer leaves it `advising`.
        let from = match how {
            Answered::Declined => "('requested', 'advising')",
            Answered::Failed | Answered::Unreadable | Answered::Unanswered => "('requested')",
        };
        let sql = format!(
            "UPDATE authorisations SET {set}, answer = ?1, updated_at = ?2 WHERE request_id = ?3 AND state IN {from}"
        );
        let queued = self.writer.lock().await;
        let done = sqlx::query(&sql).bind(short(text)).bind(now_ms).bind(request_id).execute(&self.pool).await?;
        drop(queued);
        self.changed(request_id, done.rows_affected(), to).await
    }

    /// Starts a reversal attempt and persists it before anything is sent: a `requested` row is
    /// reversed for want of an answer, an `approved` one for want of a receipt (or as a void
    /// when `cancelled`), and a `reversing` one is tried again with its first reason. Returns
    /// the row as the reversal message needs it. A completed, declined or already reversed
    /// authorisation is [`OutboxError::Authorisation`], and nothing changes.
    pub async fn authorisation_reversing(
        &self,
        request_id: &str,
        cancelled: bool,
        now_ms: i64,
    ) -> Result<AuthorisationRecord, OutboxError> {
        let _queued = self.writer.lock().await;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let row = record_in(&mut tx, request_id).await?;
        if row.operation.is_advice() {
            return Err(OutboxError::Authorisation(format!(
                "authorisation {request_id} is a refund, which is never reversed: its advice is sent again until \
                 the host acknowledges it"
            )));
        }
        let reason = match (row.state, row.reversal) {
            (AuthorisationState::Requested, _) if !cancelled => ReversalReason::NoAnswer,
            (AuthorisationState::Approved, _) if cancelled => ReversalReason::Cancelled,
            (AuthorisationState::Approved, _) => ReversalReason::NoReceipt,
            (AuthorisationState::Reversing, Some(reason)) => reason,
            (state, _) => {
                return Err(OutboxError::Authorisation(format!(
                    "authorisation {request_id} is {state}{}: there is nothing to reverse",
                    row.receipt_id.map(|r| format!(" (receipt {r})")).unwrap_or_default()
                )))
            }
        };
        sqlx::query(
            "UPDATE authorisations SET state = 'reversing', reversal = ?1, \
                 reversal_attempts = reversal_attempts + 1, updated_at = ?2 WHERE request_id = ?3",
        )
        .bind(reason.as_str())
        .bind(now_ms)
        .bind(request_id)
        .execute(&mut *tx)
        .await?;
        let row = record_in(&mut tx, request_id).await?;
        tx.commit().await?;
        Ok(row)
    }

    /// Records the acquirer's acknowledgement of a reversal: `reversed`, or `voided` for a
    /// cashier's cancellation.
    pub async fn authorisation_reversed(
        &self,
        request_id: &str,
        ack: &str,
        now_ms: i64,
    ) -> Result<AuthorisationRecord, OutboxError> {
        let _queued = self.writer.lock().await;
        if ack.is_empty() {
            return Err(OutboxError::Invalid("an empty reversal acknowledgement".into()));
        }
        let done = sqlx::query(
            "UPDATE authorisations SET state = CASE reversal WHEN 'cancelled' THEN 'voided' ELSE 'reversed' END, \
                 reversal_ack = ?1, answer = NULL, updated_at = ?2 \
             WHERE request_id = ?3 AND state = 'reversing'",
        )
        .bind(short(ack))
        .bind(now_ms)
        .bind(request_id)
        .execute(&self.pool)
        .await?;
        self.changed(request_id, done.rows_affected(), "reversed").await?;
        self.authorisation(request_id).await?.ok_or_else(|| OutboxError::NotFound(request_id.to_owned()))
    }

    /// Records a reversal attempt that was not acknowledged; the row stays `reversing`.
    pub async fn authorisation_reversal_failed(
        &self,
        request_id: &str,
        error: &str,
        now_ms: i64,
    ) -> Result<(), OutboxError> {
        let _queued = self.writer.lock().await;
        let done = sqlx::query(
            "UPDATE authorisations SET answer = ?1, updated_at = ?2 WHERE request_id = ?3 AND state = 'reversing'",
        )
        .bind(short(error))
        .bind(now_ms)
        .bind(request_id)
        .execute(&self.pool)
        .await?;
        self.changed(request_id, done.rows_affected(), "still reversing").await
    }

    /// How many requests the journal holds, in any state.
    pub async fn authorisation_count(&self) -> Result<u64, OutboxError> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM authorisations").fetch_one(&self.pool).await?;
        u64::try_from(n).map_err(|_| OutboxError::Corrupt(format!("{n} authorisations")))
    }

    /// The journal row of `request_id`, whatever its state.
    pub async fn authorisation(&self, request_id: &str) -> Result<Option<AuthorisationRecord>, OutboxError> {
        let sql = format!("SELECT {COLUMNS} FROM authorisations WHERE request_id = ?1");
        let row: Option<Row> = sqlx::query_as(&sql).bind(request_id).fetch_optional(&self.pool).await?;
        row.map(AuthorisationRecord::try_from).transpose()
    }

    /// The authorisations that need someone to act, oldest first (in the order they were asked
    /// when the terminal times are equal): requested without an answer,
    /// approved without a receipt, and reversals not yet acknowledged.
    pub async fn open_authorisations(&self) -> Result<Vec<AuthorisationRecord>, OutboxError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM authorisations WHERE state IN ('requested', 'approved', 'reversing', 'advising') \
             ORDER BY requested_at, rowid"
        );
        let rows: Vec<Row> = sqlx::query_as(&sql).fetch_all(&self.pool).await?;
        rows.into_iter().map(AuthorisationRecord::try_from).collect()
    }

    /// Ok when an update touched the row; otherwise says why not (unknown id, or its state).
    async fn changed(&self, request_id: &str, rows: u64, to: &str) -> Result<(), OutboxError> {
        if rows == 1 {
            return Ok(());
        }
        let row = self.authorisation(request_id).await?.ok_or_else(|| OutboxError::NotFound(request_id.to_owned()))?;
        Err(OutboxError::Authorisation(format!("authorisation {request_id} is {}; it cannot become {to}", row.state)))
    }
}

/// The rows matching `condition` (an SQL condition over the journal's columns, with `?1`…
/// bound to `args` in order).
pub(super) async fn rows_where<T>(
    pool: &sqlx::SqlitePool,
    condition: &str,
    args: &[T],
) -> Result<Vec<AuthorisationRecord>, OutboxError>
where
    T: for<'a> sqlx::Encode<'a, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite> + Clone + Send + 'static,
{
    let sql = format!("SELECT {COLUMNS} FROM authorisations WHERE {condition}");
    let mut query = sqlx::query_as::<_, Row>(&sql);
    for a in args {
        query = query.bind(a.clone());
    }
    query.fetch_all(pool).await?.into_iter().map(AuthorisationRecord::try_from).collect()
}

/// The row of `request_id`, read on `conn` (so inside its transaction).
async fn record_in(conn: &mut sqlx::SqliteConnection, request_id: &str) -> Result<AuthorisationRecord, OutboxError> {
    let sql = format!("SELECT {COLUMNS} FROM authorisations WHERE request_id = ?1");
    let row: Option<Row> = sqlx::query_as(&sql).bind(request_id).fetch_optional(&mut *conn).await?;
    AuthorisationRecord::try_from(row.ok_or_else(|| OutboxError::NotFound(request_id.to_owned()))?)
}

/// Marks the `approved` authorisation `request_id` completed by `receipt_id`, on `conn` inside
/// the transaction that stores the receipt; anything else is an error, so the caller rolls back.
pub(super) async fn complete_in(
    conn: &mut sqlx::SqliteConnection,
    request_id: &str,
    receipt_id: &str,
    now_ms: i64,
) -> Result<(), OutboxError> {
    let done = sqlx::query(
        "UPDATE authorisations SET state = 'completed', receipt_id = ?1, receipt_parts = NULL, updated_at = ?2 \
         WHERE request_id = ?3 AND state = 'approved'",
    )
    .bind(receipt_id)
    .bind(now_ms)
    .bind(request_id)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 1 {
        return Ok(());
    }
    let row = record_in(conn, request_id).await?;
    Err(OutboxError::Authorisation(format!(
        "authorisation {request_id} is {}, not approved: no receipt may be stored for it",
        row.state
    )))
}
