//! The JSON the terminal and the platform exchange, defined once: the platform's published keys,
//! a terminal's view of one of its receipts, and the error body of every refusal. The platform
//! serialises these types and the terminal deserialises the same ones, so neither side can drift
//! from the other or from the OpenAPI document (`crates/platform/src/web/api/openapi.json`).
//!
//! Where a terminal's receipts continue after an enrolment is [`ResumePoint`].
//!
//! The sealed upload itself and its acknowledgement are CBOR and live in [`crate::upload`].

mod resume;
mod settlement;

pub use resume::{ChainHead, ResumePoint};
pub use settlement::{Difference, DifferenceIssue, MissingPlace, MissingReceipt, Reconciliation, SettlementStored};

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The HPKE suite uploads are sealed with ([`crate::upload`]), as `GET /api/v1/platform` names it.
pub const HPKE_SUITE: &str = "DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20Poly1305";

/// `GET /api/v1/platform`: what a terminal needs after enrolment, the keys to seal uploads to
/// and to check acknowledgements with. The terminal also keeps it in `TDIR/platform.json`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PlatformInfo {
    /// SHA-256 of the platform CA's DER certificate, lowercase hex (the pin in enrolment tokens).
    pub ca_fingerprint: String,
    /// The X25519 public key uploads are sealed to, hex.
    pub hpke_public_key: String,
    /// The suite `hpke_public_key` is for ([`HPKE_SUITE`]). Optional because terminals
    /// enrolled before it was part of the contract saved their `platform.json` without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hpke_suite: Option<String>,
    /// The Ed25519 public key acknowledgements are signed with, hex.
    pub ack_public_key: String,
    /// The largest upload body the platform accepts, bytes (optional for the same reason).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_upload_bytes: Option<u64>,
}

/// `POST /api/v1/terminal/receipts/{id}/deliveries`: the terminal resends one of its stored
/// receipts to a new address (the cashier's resend), as a delivery choice `sms:+86…`,
/// `mms:+86…` or `email:…`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Resend {
    pub deliver: String,
}

/// The answer to a [`Resend`]: the delivery queued (202).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Resent {
    pub delivery_id: String,
    /// `sms`, `mms` or `email`.
    pub channel: String,
}

/// `GET /api/v1/terminal/receipts/{id}`: a stored receipt as the platform reports it to the
/// terminal that sent it. Recipients are never part of it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct TerminalReceipt {
    /// The receipt id, `TID-BATCH-SERIAL`.
    pub id: String,
    /// When the platform stored it (RFC 3339, UTC).
    pub received_at: String,
    /// The customer's choice: `sms`, `mms`, `email` or `pull`; `None` when they chose nothing.
    pub channel: Option<String>,
    /// One entry per push delivery (none for pull).
    pub deliveries: Vec<DeliveryProgress>,
}

/// One push delivery of a receipt.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeliveryProgress {
    /// `sms`, `mms` or `email`.
    pub channel: String,
    pub state: DeliveryState,
    /// Attempts made so far.
    pub attempts: i64,
    /// When the state last changed (RFC 3339, UTC).
    pub updated_at: String,
}

/// Where a push delivery stands; the same five states the platform's delivery queue keeps.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for a worker (first attempt or a retry).
    Queued,
    /// A worker is handing it to the peer.
    Sending,
    /// The peer (mail relay, SMSC, MMSC) accepted it.
    Sent,
    /// The handset confirmed it (SMPP or MM7 delivery report).
    Delivered,
    /// Given up: a permanent refusal, or retries ran out.
    Failed,
}

impl DeliveryState {
    /// Every state, in the order a delivery goes through them.
    pub const ALL: [DeliveryState; 5] = [Self::Queued, Self::Sending, Self::Sent, Self::Delivered, Self::Failed];

    /// The wire and storage form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    /// The peer has it (`sent`) or the handset confirmed it (`delivered`).
    pub fn reached_peer(self) -> bool {
        matches!(self, Self::Sent | Self::Delivered)
    }
}

impl fmt::Display for DeliveryState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A delivery state name that is none of the five.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown delivery state {0:?}")]
pub struct UnknownDeliveryState(pub String);

impl FromStr for DeliveryState {
    type Err = UnknownDeliveryState;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|st| st.as_str() == s).ok_or_else(|| UnknownDeliveryState(s.to_owned()))
    }
}

/// The body of every API refusal: a stable machine code and a sentence for people. Terminals
/// decide on `error` (for example whether a refused upload is parked for good).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorBody {
    /// The machine code: `conflict`, `not_authentic`, `rate_limited`, `not_found`, …
    pub error: String,
    /// What went wrong, safe to show (server-side failures say only where to look).
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn round_trip<T: Serialize + for<'de> Deserialize<'de> + PartialEq + fmt::Debug>(value: &T, wire: Value) {
        assert_eq!(serde_json::to_value(value).expect("serialise"), wire, "the field names on the wire");
        assert_eq!(&serde_json::from_value::<T>(wire).expect("deserialise"), value);
    }

    /// The field names are the published API (openapi.json); renaming one breaks deployed
    /// terminals, so each is pinned here.
    #[test]
    fn platform_info_keeps_its_field_names() {
        let info = PlatformInfo {
            ca_fingerprint: "ab".into(),
            hpke_public_key: "cd".into(),
            hpke_suite: Some(HPKE_SUITE.into()),
            ack_public_key: "ef".into(),
            max_upload_bytes: Some(1 << 20),
        };
        round_trip(
            &info,
            json!({"ca_fingerprint": "ab", "hpke_public_key": "cd", "hpke_suite": HPKE_SUITE,
                   "ack_public_key": "ef", "max_upload_bytes": 1048576}),
        );
        // A terminal's platform.json from before the suite and limit were published still reads.
        let old: PlatformInfo =
            serde_json::from_value(json!({"ca_fingerprint": "ab", "hpke_public_key": "cd", "ack_public_key": "ef"}))
                .expect("old platform.json");
        assert_eq!((old.hpke_suite, old.max_upload_bytes), (None, None));
    }

    #[test]
    fn terminal_receipt_keeps_its_field_names() {
        let receipt = TerminalReceipt {
            id: "T0000001-000001-000007".into(),
            received_at: "2026-12-02T01:02:03+00:00".into(),
            channel: Some("sms".into()),
            deliveries: vec![DeliveryProgress {
                channel: "sms".into(),
                state: DeliveryState::Delivered,
                attempts: 2,
                updated_at: "2026-12-02T01:02:09+00:00".into(),
            }],
        };
        round_trip(
            &receipt,
            json!({"id": "T0000001-000001-000007", "received_at": "2026-12-02T01:02:03+00:00", "channel": "sms",
                   "deliveries": [{"channel": "sms", "state": "delivered", "attempts": 2,
                                   "updated_at": "2026-12-02T01:02:09+00:00"}]}),
        );
        let pull = TerminalReceipt { channel: None, deliveries: vec![], ..receipt };
        assert_eq!(serde_json::to_value(&pull).expect("serialise")["channel"], Value::Null, "null, not absent");
    }

    #[test]
    fn delivery_states_are_the_five_queue_states() {
        for state in DeliveryState::ALL {
            assert_eq!(serde_json::to_value(state).expect("serialise"), json!(state.as_str()));
            assert_eq!(state.as_str().parse::<DeliveryState>(), Ok(state));
        }
        assert_eq!("expired".parse::<DeliveryState>(), Err(UnknownDeliveryState("expired".into())));
        assert!(serde_json::from_value::<DeliveryState>(json!("Sent")).is_err(), "lowercase only");
    }

    #[test]
    fn error_body_keeps_its_field_names() {
        round_trip(
            &ErrorBody { error: "conflict".into(), message: "already stored".into() },
            json!({"error": "conflict", "message": "already stored"}),
        );
    }
}
