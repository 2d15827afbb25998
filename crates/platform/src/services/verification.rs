//! Verification as the platform answers it (the JSON API, the portal's pages and the bundle):
//! the offline verdict, with the signer judged at the time the platform stored the receipt
//! (never at the receipt's own claim), and whether the platform holds this very receipt.

pub mod gate;

use ereceipt_core::digest::sha256;
use ereceipt_core::evidence::{rfc3339_ms, EvidenceError, EvidenceFile};
use ereceipt_core::render::png;
use ereceipt_core::revocation::Revocations;
use ereceipt_core::verify::{examine_image, judge_time, Stored, TimeFacts, Verification};
use serde::Serialize;

use crate::infra::keys::PlatformKeys;
use crate::infra::store::{Store, StoreError, StoredReceipt};

/// What the platform knows of the submitted receipt.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct PlatformRecord {
    /// The platform stored a receipt with this id and this record hash.
    pub holds: bool,
    /// When it stored it (RFC 3339), if it holds it.
    pub stored_at: Option<String>,
    /// Whether the submitted file shows exactly the stored original's pixels (the same file,
    /// or a lossless copy of it); `None` when the platform does not hold the receipt.
    pub faithful_copy: Option<bool>,
    /// The same in words.
    pub note: String,
}

/// The verdict with the platform's record of the receipt (JSON: the fields of
/// `ereceipt verify --json` plus `platform`).
#[derive(Clone, Debug, Serialize)]
pub struct OnlineVerification {
    #[serde(flatten)]
    pub verification: Verification,
    pub platform: PlatformRecord,
}

/// Verifies an image against this platform's CA, then looks the receipt up: its signer's expiry
/// and revocation are judged at the platform's stored time when the platform holds it (with the
/// same record hash), and a revoked signer of a receipt the platform never received is not
/// authentic whatever time the receipt claims.
pub async fn verify(store: &Store, ca_der: &[u8], image: Vec<u8>) -> Result<OnlineVerification, StoreError> {
    let ca_der = ca_der.to_vec();
    let (mut v, image) = tokio::task::spawn_blocking(move || {
        let v = examine_image(&image, &ca_der);
        (v, image)
    })
    .await
    .unwrap_or_else(|e| (Verification::unverifiable(format!("verification failed: {e}")), Vec::new()));
    let Some(claims) = v.claims.clone() else {
        let platform = PlatformRecord {
            holds: false,
            stored_at: None,
            faithful_copy: None,
            note: "no signed receipt data to look up".into(),
        };
        return Ok(OnlineVerification { verification: v, platform });
    };
    let stored = store.receipt(claims.id.as_str()).await?.filter(|r| r.record_hash == claims.record_hash);
    let revocations = match &v.certificate {
        Some(cert) => {
            let row = store.certificate(&cert.serial).await?;
            Revocations::from_entries(row.and_then(|r| r.revoked_at).map(|at| (cert.serial.clone(), at)))
        }
        None => Revocations::default(),
    };
    let platform = match &stored {
        Some(r) => {
            let faithful = faithful_copy(store, r, image).await?;
            let at = rfc3339_ms(r.received_at);
            PlatformRecord {
                holds: true,
                note: if faithful {
                    format!("stored by the platform at {at}; this file shows exactly the stored original")
                } else {
                    format!(
                        "stored by the platform at {at}; this file is not a faithful copy of the stored original \
                         (other pixels, e.g. recompressed)"
                    )
                },
                stored_at: Some(at),
                faithful_copy: Some(faithful),
            }
        }
        None => PlatformRecord {
            holds: false,
            stored_at: None,
            faithful_copy: None,
            note: "unknown to the platform: it never received this receipt".into(),
        },
    };
    let facts = TimeFacts {
        stored: match &stored {
            Some(r) => {
                Stored::At { receipt_id: r.receipt_id.clone(), record_hash: r.record_hash, at_ms: r.received_at }
            }
            None => Stored::Never,
        },
        revocations: Some(&revocations),
    };
    judge_time(&mut v, &facts);
    Ok(OnlineVerification { verification: v, platform })
}

/// The same file as stored, or the same pixels.
async fn faithful_copy(store: &Store, r: &StoredReceipt, image: Vec<u8>) -> Result<bool, StoreError> {
    let Some(original) = store.receipt_image(&r.receipt_id).await? else { return Ok(false) };
    if sha256(&original) == sha256(&image) {
        return Ok(true);
    }
    Ok(tokio::task::spawn_blocking(move || match (png::decode(&original), png::decode(&image)) {
        (Ok(a), Ok(b)) => a.canvas == b.canvas,
        _ => false,
    })
    .await
    .unwrap_or(false))
}

/// The evidence file of a stored receipt: its acknowledgement with the evidence certificate.
pub fn evidence_text(keys: &PlatformKeys, r: &StoredReceipt) -> Result<String, EvidenceError> {
    EvidenceFile { signed_ack: r.ack.clone(), certificate: keys.evidence.clone() }.to_text()
}
