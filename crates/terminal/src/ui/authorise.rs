//! Authorisation of a card sale, and the reversal of one that got no receipt. Real deployments
//! plug in their acquirer's SDK behind the [`Authoriser`] trait; the built-in
//! [`SimulatedAuthoriser`] is a SIMULATOR that approves all.

use std::future::Future;
use std::pin::Pin;

use ereceipt_core::card::{AuthorisationData, CardSummary};
use ereceipt_core::model::{AuthCode, LocalTime, MerchantId, Money, Rrn, TerminalId};

use crate::outbox::ReversalReason;

/// What the acquirer is asked to approve. `card_data` is the full track or the encrypting
/// reader's ciphertext: for the authorisation message only, never stored or logged.
pub struct AuthorisationRequest<'a> {
    pub amount: Money,
    pub card: &'a CardSummary,
    pub card_data: &'a AuthorisationData,
    pub terminal_id: &'a TerminalId,
    pub merchant_id: &'a MerchantId,
    pub time: LocalTime,
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
    /// The issuer or acquirer declined (response code and its text).
    #[error("declined ({code}): {message}")]
    Declined { code: String, message: String },
    /// No answer: the acquirer could not be reached, or did not answer in time. The request
    /// may have reached it, so the journal keeps it as unanswered until it is reversed; the
    /// sale may be tried again.
    #[error("authorisation unavailable: {0}")]
    Unavailable(String),
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
    /// The original approval, when one was received (none for an unanswered request).
    pub approval: Option<Approval>,
    pub reason: ReversalReason,
    /// 1 for the first attempt, then counting the retries.
    pub attempt: u32,
}

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
        Box::pin(async move { simulate(&request) })
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

fn simulate(request: &AuthorisationRequest<'_>) -> Result<Approval, AuthorisationError> {
    use chrono::{Datelike, Timelike};
    use rand::Rng;
    const CODE: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ0123456789";
    let mut rng = rand::thread_rng();
    let auth: String = (0..6).map(|_| char::from(CODE[rng.gen_range(0..CODE.len())])).collect();
    let t = request.time.local();
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
            approval: Some(a),
            reason: ReversalReason::NoReceipt,
            attempt: 2,
        };
        let ack = SimulatedAuthoriser.reverse(reversal).await.expect("acknowledged");
        assert!(ack.reference.contains("0123456789abcdef0123456789abcdef") && ack.reference.ends_with("#2"), "{ack:?}");
    }
}
