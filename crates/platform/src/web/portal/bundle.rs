//! The acquirer's chargeback retrieval bundle: one ZIP with the receipt image, the signed record
//! (canonical CBOR and readable JSON), the signature time series, the chain proof, the delivery
//! history, the verification verdict, the platform's evidence file, a manifest of SHA-256 sums
//! and its signature by the acknowledgement key; and the receipts linked to it (its original, its
//! voids, refunds and completions) under `linked/ID/`, with `lineage.json` saying how they relate (`ereceipt_core::bundle`, which also checks it:
//! `ereceipt bundle verify`). Pure: built from data.

use std::io::{Cursor, Write};

use chrono::{Datelike, Timelike};
use ereceipt_core::bundle;
use ereceipt_core::digest::sha256;
use ereceipt_core::encoding::{decode_record, EncodingError};
use serde_json::{json, Value};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use crate::infra::store::{ChainEntry, Family, StoredReceipt};
use crate::services::verification::OnlineVerification;

/// Why a bundle could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// The stored record does not decode (the store is damaged).
    #[error("the stored record does not decode: {0}")]
    Record(#[source] EncodingError),
    /// Writing the archive failed.
    #[error("writing the archive failed: {0}")]
    Zip(#[source] zip::result::ZipError),
}

/// Everything a bundle holds about one receipt.
pub(crate) struct BundleInput<'a> {
    pub receipt: &'a StoredReceipt,
    pub png: &'a [u8],
    pub verification: &'a OnlineVerification,
    /// The platform's evidence file for the receipt (`ereceipt verify --evidence`).
    pub evidence: &'a str,
    /// From [`crate::web::support::json::deliveries_json`].
    pub deliveries: Vec<Value>,
    /// Receipts at sequence − 1 and + 1 of the same terminal.
    pub neighbours: (Vec<ChainEntry>, Vec<ChainEntry>),
    /// The platform's acknowledgement key: its public half goes in chain.json, and it signs
    /// the manifest.
    pub ack: &'a ereceipt_core::upload::AckSigner,
    /// When the bundle is made (Unix ms).
    pub made_at: i64,
    /// The receipt's original and the voids, refunds and completions linked to it.
    pub family: &'a Family,
    /// Of each receipt in `family`: its stored image and its evidence file, by receipt id.
    pub linked: Vec<Linked>,
}

/// A receipt of the family in the bundle, under `linked/ID/`: each verifies on its own.
pub(crate) struct Linked {
    pub receipt_id: String,
    pub png: Vec<u8>,
    pub record: Vec<u8>,
    pub evidence: String,
}

/// How the receipts in `linked/` relate to this one, and the net.
fn lineage_json(input: &BundleInput<'_>) -> Value {
    let r = input.receipt;
    let one = |c: &StoredReceipt| {
        json!({
            "receipt_id": c.receipt_id,
            "type": c.kind.code(),
            "amount_minor": c.amount.minor(),
            "signed_amount_minor": c.signed_minor(),
            "currency": c.amount.currency().code(),
            "time_local": c.time.rfc3339(),
            "link_state": c.link.as_ref().map(|k| k.state.as_str()),
            "link_problem": c.link.as_ref().and_then(|k| k.problem).map(|p| p.code()),
            "folder": format!("linked/{}/", c.receipt_id),
        })
    };
    json!({
        "explanation": "A void, refund or completion names its original; the platform links it when it holds \
            the original and checks that it is the same merchant and that the amounts are consistent \
            (link_state verified), or says why not (mismatch, with link_problem) or that the original is not \
            held (pending). net_minor is this sale's or completion's amount less its verified voids and refunds. \
            Each linked receipt is in linked/ID/ with its image, signed record and evidence file.",
        "receipt_id": r.receipt_id,
        "type": r.kind.code(),
        "signed_amount_minor": r.signed_minor(),
        "currency": r.amount.currency().code(),
        "link_state": r.link.as_ref().map(|k| k.state.as_str()),
        "link_problem": r.link.as_ref().and_then(|k| k.problem).map(|p| p.code()),
        "original": input.family.original.as_ref().map(one),
        "linked": input.family.children.iter().map(one).collect::<Vec<_>>(),
        "given_back_minor": r.given_back_minor,
        "net_minor": r.net_minor(),
    })
}

/// `x,y` in CSS pixels, time from the first point and as an instant, pressure 0..1.
fn signature_csv(started_at_ms: i64, strokes: &[ereceipt_core::signature::Stroke]) -> String {
    let mut out = String::from("stroke,point,x_px,y_px,t_ms,epoch_ms,pressure\r\n");
    for (s, stroke) in strokes.iter().enumerate() {
        for (i, p) in stroke.points.iter().enumerate() {
            out.push_str(&format!(
                "{},{},{:.1},{:.1},{},{},{:.3}\r\n",
                s + 1,
                i + 1,
                f64::from(p.x) / 10.0,
                f64::from(p.y) / 10.0,
                p.t,
                started_at_ms + i64::from(p.t),
                f64::from(p.pressure) / 1000.0
            ));
        }
    }
    out
}

fn entry(e: &ChainEntry) -> Value {
    json!({
        "receipt_id": e.receipt_id,
        "sequence": e.sequence,
        "record_sha256": hex::encode(e.record_hash),
        "previous_sha256": e.previous_hash.as_ref().map(hex::encode),
        "received_at": crate::web::support::json::rfc3339(e.received_at, 0),
    })
}

/// The chain proof: this receipt's link, whether the stored neighbours agree with it, and the
/// platform's signed acknowledgement of the upload.
fn chain_json(input: &BundleInput<'_>) -> Value {
    let r = input.receipt;
    let (before, after) = &input.neighbours;
    let previous_ok: Vec<bool> =
        before.iter().map(|b| r.previous_hash.as_deref() == Some(b.record_hash.as_slice())).collect();
    let next_ok: Vec<bool> =
        after.iter().map(|a| a.previous_hash.as_deref() == Some(r.record_hash.as_slice())).collect();
    json!({
        "explanation": "Each receipt names the SHA-256 of its terminal's previous record. The previous \
            receipt's record_sha256 must equal this receipt's previous_sha256, and the next receipt's \
            previous_sha256 must equal this receipt's record_sha256. record.cbor hashes to record_sha256. \
            acknowledgement is the platform's Ed25519 signature over the upload (verify with ack_public_key).",
        "terminal_id": r.terminal_id,
        "sequence": r.sequence,
        "record_sha256": hex::encode(r.record_hash),
        "previous_sha256": r.previous_hash.as_ref().map(hex::encode),
        "previous": before.iter().map(entry).collect::<Vec<_>>(),
        "previous_links_match": previous_ok,
        "next": after.iter().map(entry).collect::<Vec<_>>(),
        "next_links_match": next_ok,
        "first_in_chain": r.sequence == Some(1),
        "acknowledgement_base64": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &r.ack),
        "ack_public_key_hex": hex::encode(input.ack.public_key()),
        "received_at": crate::web::support::json::rfc3339(r.received_at, 0),
    })
}

/// The ZIP's bytes.
pub(crate) fn build(input: &BundleInput<'_>) -> Result<Vec<u8>, BundleError> {
    let r = input.receipt;
    let record = decode_record(&r.record).map_err(BundleError::Record)?;
    let sig = &record.signature;
    let record_json = json!({
        "receipt_id": r.receipt_id,
        "terminal_id": r.terminal_id,
        "merchant_id": r.merchant_id,
        "merchant_name": r.merchant_name,
        "batch": r.batch,
        "serial": r.serial,
        "amount_minor": r.amount.minor(),
        "currency": r.amount.currency().code(),
        "time_local": r.time.rfc3339(),
        "time_utc": r.time.in_utc().rfc3339(),
        "rrn": r.rrn,
        "auth_code": r.auth_code,
        "card_masked": r.card_masked,
        "card_brand": r.card_brand,
        "signer_certificate_serial": r.signer_serial,
        "record_sha256": hex::encode(r.record_hash),
        "signature": {
            "started_at": crate::web::support::json::rfc3339(sig.started_at_ms, i32::from(r.time.offset_minutes())),
            "strokes": sig.strokes.len(),
            "points": sig.point_count(),
            "duration_ms": sig.duration_ms(),
        },
    });
    let mut files: Vec<(String, Vec<u8>)> = vec![
        ("receipt.png".into(), input.png.to_vec()),
        ("record.cbor".into(), r.record.clone()),
        ("record.json".into(), pretty(&record_json)),
        ("signature.csv".into(), signature_csv(sig.started_at_ms, &sig.strokes).into_bytes()),
        ("signer-certificate.der".into(), record.certificate.clone()),
        ("chain.json".into(), pretty(&chain_json(input))),
        ("deliveries.json".into(), pretty(&json!({ "deliveries": input.deliveries }))),
        ("verification.json".into(), serde_json::to_vec_pretty(input.verification).unwrap_or_default()),
        ("evidence.txt".into(), input.evidence.as_bytes().to_vec()),
        ("lineage.json".into(), pretty(&lineage_json(input))),
    ];
    for l in &input.linked {
        let dir = format!("{}/{}", bundle::LINKED, l.receipt_id);
        files.push((format!("{dir}/receipt.png"), l.png.clone()));
        files.push((format!("{dir}/{}", bundle::RECORD), l.record.clone()));
        files.push((format!("{dir}/{}", bundle::EVIDENCE), l.evidence.as_bytes().to_vec()));
    }
    let mut manifest = format!(
        "ereceipt retrieval bundle for {}\r\nmade {}\r\nSHA-256 of each file:\r\n",
        r.receipt_id,
        crate::web::support::json::rfc3339(input.made_at, 0)
    );
    for (name, bytes) in &files {
        manifest.push_str(&format!("{}  {name}\r\n", hex::encode(sha256(bytes))));
    }
    let stamp = chrono::DateTime::from_timestamp_millis(input.made_at).and_then(|t| {
        zip::DateTime::from_date_and_time(
            u16::try_from(t.year()).ok()?,
            u8::try_from(t.month()).ok()?,
            u8::try_from(t.day()).ok()?,
            u8::try_from(t.hour()).ok()?,
            u8::try_from(t.minute()).ok()?,
            u8::try_from(t.second()).ok()?,
        )
        .ok()
    });
    // Stored, not deflated: the PNG is compressed already and the rest is small.
    let mut options = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
    if let Some(stamp) = stamp {
        options = options.last_modified_time(stamp);
    }
    let signature = ereceipt_core::bundle::signature_file(input.ack, manifest.as_bytes());
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let z = BundleError::Zip;
    let last = [(bundle::MANIFEST, manifest.as_bytes()), (bundle::MANIFEST_SIGNATURE, signature.as_bytes())];
    for (name, bytes) in files.iter().map(|(n, b)| (n.as_str(), b.as_slice())).chain(last) {
        zip.start_file(format!("{}/{name}", r.receipt_id), options).map_err(z)?;
        zip.write_all(bytes).map_err(|e| BundleError::Zip(e.into()))?;
    }
    Ok(zip.finish().map_err(z)?.into_inner())
}

fn pretty(v: &Value) -> Vec<u8> {
    serde_json::to_vec_pretty(v).unwrap_or_default()
}
