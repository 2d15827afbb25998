//! Whose clock a verdict trusts. A receipt's own time is whatever the key holder wrote, so a
//! stolen key can back-date receipts to before its revocation; only the platform's
//! acknowledgement (its evidence, or its own records) dates a receipt independently.

use serde::Serialize;

use super::{Verdict, Verification};
use crate::evidence::rfc3339_ms;
use crate::revocation::Revocations;
use crate::upload::Acknowledgement;

/// The clock the signer's expiry and revocation were judged by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeBasis {
    /// The time written in the receipt by whoever held the signing key.
    #[default]
    TerminalClaim,
    /// The time the platform stored the receipt (its signed acknowledgement or its records).
    PlatformEvidence,
}

/// What the verifier knows about the platform's copy of the receipt.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Stored {
    /// Nothing (offline, no evidence given).
    #[default]
    Unknown,
    /// The platform stored the receipt with this id and record hash at `at_ms` (Unix ms).
    At { receipt_id: String, record_hash: [u8; 32], at_ms: i64 },
    /// The platform itself says it never stored this receipt.
    Never,
}

impl From<&Acknowledgement> for Stored {
    fn from(a: &Acknowledgement) -> Self {
        Self::At { receipt_id: a.receipt_id.clone(), record_hash: a.record_hash, at_ms: a.stored_at_ms }
    }
}

/// What the verdict's time is judged with.
#[derive(Clone, Debug, Default)]
pub struct TimeFacts<'a> {
    pub stored: Stored,
    /// Known revocations; `None` when the verifier has no revocation list at all.
    pub revocations: Option<&'a Revocations>,
}

/// Judges the signer of an examined receipt: its certificate must be valid, and not revoked, at
/// the platform's time when `facts` carry one for this very receipt, else at the receipt's
/// claimed time, which is said. A signer revoked after a claimed time is never silently
/// authentic: without the platform's word the receipt is [`Verdict::Unconfirmed`].
pub fn judge_time(v: &mut Verification, facts: &TimeFacts<'_>) {
    let (Some(cert), Some(claims)) = (v.certificate.clone(), v.claims.clone()) else { return };
    let claimed_ms = claims.time.utc_seconds().saturating_mul(1000);
    let (basis, at_ms) = match &facts.stored {
        Stored::At { receipt_id, record_hash, at_ms }
            if receipt_id == claims.id.as_str() && *record_hash == claims.record_hash =>
        {
            (TimeBasis::PlatformEvidence, *at_ms)
        }
        Stored::At { .. } => {
            v.warnings.push(
                "the platform evidence given is for another receipt (its id or record hash differs) and was ignored"
                    .into(),
            );
            (TimeBasis::TerminalClaim, claimed_ms)
        }
        _ => (TimeBasis::TerminalClaim, claimed_ms),
    };
    v.time_basis = basis;
    v.judged_at = Some(rfc3339_ms(at_ms));
    let at = rfc3339_ms(at_ms);
    if basis == TimeBasis::TerminalClaim {
        v.warnings.push(format!(
            "the receipt's time {at} is the terminal's own claim: without the platform's evidence the signer is judged at that time"
        ));
    }
    if facts.revocations.is_none() {
        v.warnings.push("no revocation list was given: the signer's revocation was not checked".into());
    }
    if v.verdict != Verdict::Authentic {
        return;
    }
    if let Err(e) = cert.valid_at(at_ms.div_euclid(1000)) {
        v.verdict = Verdict::Unverifiable;
        v.reason = format!("untrusted signer: {e}");
        v.regions.clear();
        return;
    }
    let Some(revoked_ms) = facts.revocations.and_then(|r| r.revoked_at(&cert.serial)) else {
        if basis == TimeBasis::PlatformEvidence {
            v.reason = format!("{}; stored by the platform at {at}", v.reason);
        }
        return;
    };
    let revoked = rfc3339_ms(revoked_ms);
    let serial = &cert.serial;
    let refuse = |v: &mut Verification, verdict: Verdict, reason: String| {
        v.verdict = verdict;
        v.reason = reason;
        v.regions.clear();
    };
    match (basis, &facts.stored) {
        (TimeBasis::PlatformEvidence, _) if revoked_ms <= at_ms => refuse(
            v,
            Verdict::Unverifiable,
            format!(
                "the signing certificate {serial} was revoked at {revoked}, before the platform stored this receipt at {at}"
            ),
        ),
        (TimeBasis::PlatformEvidence, _) => {
            v.reason = format!("{}; stored by the platform at {at}, before its signer was revoked", v.reason);
            v.warnings.push(format!("the signing certificate {serial} was revoked at {revoked}, after the platform stored this receipt"));
        }
        (TimeBasis::TerminalClaim, _) if revoked_ms <= at_ms => refuse(
            v,
            Verdict::Unverifiable,
            format!("the signing certificate {serial} was revoked at {revoked}, before this receipt was signed"),
        ),
        (TimeBasis::TerminalClaim, Stored::Never) => refuse(
            v,
            Verdict::Unverifiable,
            format!(
                "the signing certificate {serial} was revoked at {revoked} and the platform never received this receipt: \
                 its time {at} is only the terminal's claim"
            ),
        ),
        (TimeBasis::TerminalClaim, _) => refuse(
            v,
            Verdict::Unconfirmed,
            format!(
                "the signing certificate {serial} was revoked at {revoked}; the receipt claims {at}, before that, but the \
                 claim is the key holder's own: only the platform's evidence that it stored the receipt earlier confirms it"
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::verify_image_with;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

    /// The golden receipt, its CA, the claimed time (ms) and the signer's serial.
    fn golden() -> (Vec<u8>, Vec<u8>, i64, String, Stored) {
        let png = std::fs::read(format!("{FIXTURES}/golden-576.png")).unwrap();
        let ca = std::fs::read_to_string(format!("{FIXTURES}/ca.pem")).unwrap();
        let ca = crate::identity::pem_decode(&ca, "CERTIFICATE").unwrap();
        let v = crate::verify::verify_image(&png, &ca);
        let claims = v.claims.unwrap();
        let serial = v.certificate.unwrap().serial;
        let claimed = claims.time.utc_seconds() * 1000;
        let stored = |at_ms| Stored::At { receipt_id: claims.id.to_string(), record_hash: claims.record_hash, at_ms };
        (png, ca, claimed, serial, stored(claimed + 60_000))
    }

    #[test]
    fn a_signer_revoked_after_the_claimed_time_is_unconfirmed_until_the_platform_dates_the_receipt() {
        let (png, ca, claimed, serial, stored_a_minute_later) = golden();
        let revoked = Revocations::from_entries([(serial.clone(), claimed + 3_600_000)]);
        let judge = |stored: Stored| verify_image_with(&png, &ca, &TimeFacts { stored, revocations: Some(&revoked) });

        let v = judge(Stored::Unknown);
        assert_eq!(v.verdict, Verdict::Unconfirmed, "{}", v.reason);
        assert!(v.reason.contains(&serial), "{}", v.reason);
        assert_eq!(v.time_basis, TimeBasis::TerminalClaim);

        let v = judge(stored_a_minute_later.clone());
        assert_eq!(v.verdict, Verdict::Authentic, "{}", v.reason);
        assert_eq!(v.time_basis, TimeBasis::PlatformEvidence);
        assert!(v.reason.contains("stored by the platform at"), "{}", v.reason);

        let v = judge(Stored::Never);
        assert_eq!(v.verdict, Verdict::Unverifiable, "{}", v.reason);
        assert!(v.reason.contains("never received"), "{}", v.reason);

        // Stored after the revocation, or revoked before the claimed time: not authentic.
        let Stored::At { receipt_id, record_hash, .. } = stored_a_minute_later else { unreachable!() };
        let late = Stored::At { receipt_id: receipt_id.clone(), record_hash, at_ms: claimed + 7_200_000 };
        assert_eq!(judge(late).verdict, Verdict::Unverifiable);
        let early = Revocations::from_entries([(serial, claimed - 1)]);
        let v = verify_image_with(&png, &ca, &TimeFacts { stored: Stored::Unknown, revocations: Some(&early) });
        assert_eq!(v.verdict, Verdict::Unverifiable, "{}", v.reason);

        // Evidence for another receipt is set aside, and said to be.
        let other = Stored::At { receipt_id, record_hash: [0; 32], at_ms: claimed };
        let v = judge(other);
        assert_eq!(v.verdict, Verdict::Unconfirmed);
        assert!(v.warnings.iter().any(|w| w.contains("another receipt")), "{:?}", v.warnings);
    }

    #[test]
    fn expiry_is_judged_at_the_platforms_time_when_it_has_one() {
        let (png, ca, _, _, _) = golden();
        let v = crate::verify::verify_image(&png, &ca);
        let cert = v.certificate.clone().unwrap();
        let claims = v.claims.unwrap();
        let after_expiry = (cert.not_after + 86_400) * 1000;
        let stored =
            Stored::At { receipt_id: claims.id.to_string(), record_hash: claims.record_hash, at_ms: after_expiry };
        let none = Revocations::default();
        let v = verify_image_with(&png, &ca, &TimeFacts { stored, revocations: Some(&none) });
        assert_eq!(v.verdict, Verdict::Unverifiable, "{}", v.reason);
        assert!(v.reason.contains("untrusted signer") && v.reason.contains("not valid at"), "{}", v.reason);
    }
}
