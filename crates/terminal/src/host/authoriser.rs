//! The acquirer link as the terminal sees it: authorise a card sale, reverse one that got no
//! receipt or no usable answer, sign in. Implemented by the ISO 8583 host link
//! ([`super::Iso8583Authoriser`]) and by [`SimulatedAuthoriser`], a SIMULATOR that approves all.

use std::future::Future;
use std::pin::Pin;

use ereceipt_core::card::{AuthorisationData, CardSummary};
use ereceipt_core::model::{AuthCode, LocalTime, MerchantId, Money, OperatorId, Rrn, TerminalId};

use crate::outbox::{BatchTotals, Operation, ReversalReason, Trace};

/// What the acquirer is asked to approve: a sale, a pre-authorisation, or a void, refund or
/// completion of the original the operation names. `card_data` is the full track or the encrypting
/// reader's ciphertext: for the authorisation message only, never stored or logged.
pub struct AuthorisationRequest<'a> {
    pub amount: Money,
    pub card: &'a CardSummary,
    pub card_data: &'a AuthorisationData,
    pub terminal_id: &'a TerminalId,
    pub merchant_id: &'a MerchantId,
    pub time: LocalTime,
    /// Allocated when the request was journalled (field 11 and 60.2): the slip prints it.
    pub trace: Trace,
    /// The cashier (field 63).
    pub operator: &'a OperatorId,
    pub operation: &'a Operation,
}

/// The acquirer's approval: the codes printed on the slip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    /// ISO 8583 field 38.
    pub auth_code: AuthCode,
    /// ISO 8583 field 37: what chargeback retrieval requests name.
    pub rrn: Rrn,
}

/// Why a sale was not approved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthorisationError {
    /// The issuer or acquirer declined: its response code and the cashier's text, in English
    /// and in Chinese.
    #[error("declined ({code}): {message}")]
    Declined { code: String, message: String, message_zh: String },
    /// The request never left the terminal (no connection to the host, a card this link cannot
    /// send): nothing can be held on the card, nothing is reversed.
    #[error("not sent to the acquirer: {0}")]
    NotSent(String),
    /// Sent, but no answer in time (or the connection dropped): the acquirer may have approved
    /// it, so it is reversed.
    #[error("no answer from the acquirer: {0}")]
    Unavailable(String),
    /// An answer came that cannot be trusted (unreadable, a mandatory field missing, a wrong
    /// MAC, another message's answer): reversed like a missing one.
    #[error("the acquirer's answer cannot be used: {0}")]
    BadAnswer(String),
    /// The link must sign in to the host first (no working keys yet, or the host asked for a
    /// new sign-in); nothing was sent.
    #[error("the terminal must sign in to the acquirer first: {0}")]
    SignInRequired(String),
}

impl From<super::totals::TotalsTooLarge> for AuthorisationError {
    fn from(e: super::totals::TotalsTooLarge) -> Self {
        Self::NotSent(e.to_string())
    }
}

/// How the UI names the authoriser; a simulator is labelled as one on every screen.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuthoriserInfo {
    pub name: String,
    pub simulator: bool,
}

/// The reversal (ISO 8583 0400/0420) of a journalled request: the money it may hold on the
/// cardholder's account is released. Already persisted as `reversing` when this is sent; the
/// same request id and data go out again on every retry, so the acquirer can match duplicates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReversalRequest<'a> {
    /// The journal's id of the original request.
    pub request_id: &'a str,
    pub amount: Money,
    pub terminal_id: &'a TerminalId,
    pub merchant_id: &'a MerchantId,
    /// The original request's time.
    pub time: LocalTime,
    /// The original request's trace and batch (`None` for rows from before the host link).
    pub trace: Option<Trace>,
    /// The cashier of the original request, when journalled.
    pub operator: Option<&'a str>,
    /// What the reversed request asked (its fields are repeated).
    pub operation: &'a Operation,
    /// The original approval, when one was received (none for an unanswered request).
    pub approval: Option<Approval>,
    pub reason: ReversalReason,
    /// 1 for the first attempt, then counting the retries.
    pub attempt: u32,
}

/// A refund's advice (0220) sent again from its journal row, because the first sending got no
/// usable answer: the same trace and fields, and no card data (the terminal keeps none; the
/// host finds the original by its reference number and date).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdviceRequest<'a> {
    /// The journal's id of the refund.
    pub request_id: &'a str,
    pub amount: Money,
    pub terminal_id: &'a TerminalId,
    pub merchant_id: &'a MerchantId,
    pub time: LocalTime,
    pub trace: Trace,
    pub operator: Option<&'a str>,
    pub operation: &'a Operation,
    /// 1 for the first sending again, then counting.
    pub attempt: u32,
}

/// The settlement (结算, 0500) of a batch: its totals, for the host to compare with its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettlementRequest<'a> {
    /// A trace of its own, in the batch being settled.
    pub trace: Trace,
    pub totals: &'a BatchTotals,
    pub currency: ereceipt_core::model::Currency,
    pub operator: &'a OperatorId,
    pub terminal_id: &'a TerminalId,
    pub merchant_id: &'a MerchantId,
}

/// The host's answer to a settlement: whether its totals equal the terminal's, per card group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettlementAnswer {
    /// Field 48 as sent and as answered (62 digits each).
    pub sent: String,
    pub answer: String,
    pub domestic_balanced: bool,
    pub foreign_balanced: bool,
}

/// What [`Authoriser::settle`] returns.
pub type SettleFuture<'a> = Pin<Box<dyn Future<Output = Result<SettlementAnswer, AuthorisationError>> + Send + 'a>>;

/// The acquirer's acknowledgement of a reversal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReversalAck {
    /// What the acquirer answered to name it (kept in the journal).
    pub reference: String,
}

/// A boxed future, so authorisers can be chosen at run time (`Arc<dyn Authoriser>`).
pub type AuthoriseFuture<'a> = Pin<Box<dyn Future<Output = Result<Approval, AuthorisationError>> + Send + 'a>>;
/// What [`Authoriser::reverse`] returns.
pub type ReverseFuture<'a> = Pin<Box<dyn Future<Output = Result<ReversalAck, AuthorisationError>> + Send + 'a>>;
/// What [`Authoriser::sign_in`] returns.
pub type SignInFuture<'a> = Pin<Box<dyn Future<Output = Result<SignInAnswer, AuthorisationError>> + Send + 'a>>;

/// A sign-in to the host (ISO 8583 0800): it hands the terminal its working keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignInRequest<'a> {
    /// A trace of its own ([`crate::outbox::Outbox::allocate_trace`]).
    pub trace: Trace,
    pub operator: &'a OperatorId,
    pub terminal_id: &'a TerminalId,
    pub merchant_id: &'a MerchantId,
}

/// The host's answer to a sign-in.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SignInAnswer {
    /// The batch the host says the terminal is in (field 60.2), when it says one.
    pub host_batch: Option<u32>,
}

/// The acquirer link. Implement this with the acquirer's SDK for a real terminal.
pub trait Authoriser: Send + Sync {
    /// Name and whether this is a simulator.
    fn info(&self) -> AuthoriserInfo;
    /// Asks for approval of one sale.
    fn authorise<'a>(&'a self, request: AuthorisationRequest<'a>) -> AuthoriseFuture<'a>;
    /// Reverses an earlier request (approved without a receipt, unanswered, or cancelled by
    /// the cashier). `Ok` only once the acquirer acknowledged it; on an error the journal keeps
    /// the reversal as `reversing`, to be sent again.
    fn reverse<'a>(&'a self, reversal: ReversalRequest<'a>) -> ReverseFuture<'a>;
    /// Sends a refund's advice again ([`AdviceRequest`]); `Ok` with the host's codes once it
    /// acknowledged it.
    fn advise_again<'a>(&'a self, advice: AdviceRequest<'a>) -> AuthoriseFuture<'a>;
    /// Settles a batch with the host (0500). A link without settlement says so; nothing is
    /// closed then.
    fn settle<'a>(&'a self, _request: SettlementRequest<'a>) -> SettleFuture<'a> {
        Box::pin(async { Err(AuthorisationError::NotSent("this acquirer link does not settle batches".into())) })
    }
    /// The longest a request may wait for its answer (connection and answer timeouts): a
    /// request journalled longer ago than this, and still unanswered, will get none.
    fn longest_wait(&self) -> std::time::Duration {
        std::time::Duration::from_secs(30)
    }
    /// Signs in to the host; asked when a request answered
    /// [`AuthorisationError::SignInRequired`]. A link without sign-in has nothing to do.
    fn sign_in<'a>(&'a self, _request: SignInRequest<'a>) -> SignInFuture<'a> {
        Box::pin(async { Ok(SignInAnswer::default()) })
    }
}

/// A SIMULATOR, not an acquirer: approves every sale and makes up an authorisation code and an
/// RRN (`YDDDhh` + 6 random digits, the common layout). For demos and tests only.
#[derive(Debug, Clone, Copy, Default)]
pub struct SimulatedAuthoriser;

impl Authoriser for SimulatedAuthoriser {
    fn info(&self) -> AuthoriserInfo {
        AuthoriserInfo {
            name: "Simulated acquirer (approves everything; not a real authorisation)".into(),
            simulator: true,
        }
    }

    fn authorise<'a>(&'a self, request: AuthorisationRequest<'a>) -> AuthoriseFuture<'a> {
        Box::pin(async move { made_up_codes(request.time) })
    }

    fn advise_again<'a>(&'a self, advice: AdviceRequest<'a>) -> AuthoriseFuture<'a> {
        Box::pin(async move { made_up_codes(advice.time) })
    }

    /// The simulator holds no totals of its own: it says the batch balances.
    fn settle<'a>(&'a self, request: SettlementRequest<'a>) -> SettleFuture<'a> {
        Box::pin(async move {
            let sent = super::totals::field48(request.totals, '0')?;
            let answer = super::totals::field48(request.totals, '1')?;
            Ok(SettlementAnswer { sent, answer, domestic_balanced: true, foreign_balanced: true })
        })
    }

    /// There is no host to tell: the simulator acknowledges at once, and the journal records
    /// the reversal with this acknowledgement.
    fn reverse<'a>(&'a self, reversal: ReversalRequest<'a>) -> ReverseFuture<'a> {
        Box::pin(async move {
            tracing::info!(request = reversal.request_id, reason = %reversal.reason, attempt = reversal.attempt,
                "simulator: reversal recorded");
            Ok(ReversalAck { reference: format!("simulated reversal {} #{}", reversal.request_id, reversal.attempt) })
        })
    }
}

fn made_up_codes(time: LocalTime) -> Result<Approval, AuthorisationError> {
    use chrono::{Datelike, Timelike};
    use rand::Rng;
    const CODE: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ0123456789";
    let mut rng = rand::thread_rng();
    let auth: String = (0..6).map(|_| char::from(CODE[rng.gen_range(0..CODE.len())])).collect();
    let t = time.local();
    let rrn = format!("{}{:03}{:02}{:06}", t.year() % 10, t.ordinal(), t.hour(), rng.gen_range(0..1_000_000));
    let bad = |e: ereceipt_core::model::ModelError| AuthorisationError::Unavailable(format!("simulator: {e}"));
    Ok(Approval { auth_code: auth.parse().map_err(bad)?, rrn: rrn.parse().map_err(bad)? })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ereceipt_core::card::{capture, CardInput, CardPolicy};

    #[tokio::test]
    async fn the_simulator_approves_with_valid_codes_and_says_it_is_one() {
        let policy = CardPolicy { accept_clear_tracks: true, allow_chip_fallback: false };
        let time: LocalTime = "2026-11-25T14:03:11+08:00".parse().expect("time");
        let card =
            capture(&CardInput::track2(";6222020200112233446=29121011234567890?"), &policy, time.local().date_naive())
                .expect("card");
        let terminal: TerminalId = "POS00001".parse().expect("terminal");
        let merchant: MerchantId = "898440358120001".parse().expect("merchant");
        let request = AuthorisationRequest {
            amount: Money::new(12850, "CNY".parse().expect("CNY")).expect("money"),
            card: &card.summary,
            card_data: &card.authorisation,
            terminal_id: &terminal,
            merchant_id: &merchant,
            time,
            trace: Trace { batch: 1, trace: 7 },
            operator: &"01".parse().expect("operator"),
            operation: &Operation::sale(),
        };
        let a = SimulatedAuthoriser.authorise(request).await.expect("approved");
        assert!(a.rrn.as_str().starts_with("632914"), "year digit, day 329, hour 14: {}", a.rrn.as_str());
        assert_eq!(a.auth_code.as_str().len(), 6);
        let info = SimulatedAuthoriser.info();
        assert!(info.simulator && info.name.contains("Simulated"));

        let reversal = ReversalRequest {
            request_id: "0123456789abcdef0123456789abcdef",
            amount: Money::new(12850, "CNY".parse().expect("CNY")).expect("money"),
            terminal_id: &terminal,
            merchant_id: &merchant,
            time,
            trace: Some(Trace { batch: 1, trace: 7 }),
            operator: Some("01"),
            operation: &Operation::sale(),
            approval: Some(a),
            reason: ReversalReason::NoReceipt,
            attempt: 2,
        };
        let ack = SimulatedAuthoriser.reverse(reversal).await.expect("acknowledged");
        assert!(ack.reference.contains("0123456789abcdef0123456789abcdef") && ack.reference.ends_with("#2"), "{ack:?}");
    }
}
