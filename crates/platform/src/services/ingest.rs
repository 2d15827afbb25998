//! Ingest of one uploaded receipt (T7, P5): authenticate the uploading terminal, open the HPKE
//! envelope, verify signature, certificate chain, revocation and watermark, bind every stored
//! field to the certificate that signed the image, then store exactly once and acknowledge with
//! the platform's signature.

use chrono::{DateTime, Utc};
use ereceipt_core::claims::ReceiptClaims;
use ereceipt_core::digest::sha256;
use ereceipt_core::encoding::decode_record;
use ereceipt_core::identity::PosCertificate;
use ereceipt_core::model::{Authorisation, DeliveryChoice, ReceiptRecord, TerminalInfo};
use ereceipt_core::upload::{Acknowledgement, Envelope};
use ereceipt_core::verify::{verify_image_with, Stored, TimeFacts, Verdict};

use crate::domain::delivery::Channel;
use crate::infra::keys::PlatformKeys;
use crate::infra::store::{NewReceipt, Store, StoreOutcome};

/// Why an upload was refused. `reason()` is the metrics label; `Display` is what the terminal
/// and the log are told (never key material or card data).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The TLS connection carried no client certificate.
    #[error("a client certificate is required to upload")]
    NoClientCertificate,
    /// The client certificate is CA-issued but not a POS certificate.
    #[error("client certificate is not a POS certificate: {0}")]
    NotPos(String),
    /// The client certificate is unknown to the platform's records or revoked.
    #[error("client certificate {serial} is {state}")]
    CertificateRefused { serial: String, state: &'static str },
    /// The envelope is not well formed.
    #[error("{0}")]
    Malformed(String),
    /// The envelope names another terminal than the client certificate.
    #[error("envelope is from terminal {envelope} but the client certificate is terminal {client}")]
    WrongTerminal { envelope: String, client: String },
    /// HPKE could not open it.
    #[error("envelope does not open: altered in transit or sealed to another platform key")]
    Open,
    /// The record inside says something else than the envelope.
    #[error("{0}")]
    Inconsistent(String),
    /// Verification of the receipt image failed.
    #[error("receipt {receipt_id} is {verdict}: {reason}")]
    NotAuthentic { receipt_id: String, verdict: &'static str, reason: String },
    /// A stored or printed field is not the one the signing certificate vouches for.
    #[error("receipt {receipt_id} is refused: {field} {detail}")]
    Unbound { receipt_id: String, field: &'static str, detail: String },
    /// The receipt was signed by a certificate that is revoked (judged at the platform's time:
    /// the receipt's own time is the key holder's claim).
    #[error("receipt {0} was signed with a revoked certificate")]
    SignerRevoked(String),
    /// The receipt was signed by a certificate of the CA that the platform never issued.
    #[error("receipt {receipt_id} was signed with certificate {serial}, which this platform never issued")]
    SignerUnknown { receipt_id: String, serial: String },
    /// A production terminal's receipt carries what only test terminals may make: clear card
    /// tracks or a simulated (or unstated) authorisation. The mode is the certificates' (the
    /// CA wrote the registration's), never the receipt's own claim.
    #[error(
        "receipt {receipt_id} is refused: terminal {terminal} is a production terminal and the receipt carries {what}"
    )]
    TestFeature { receipt_id: String, terminal: String, what: &'static str },
    /// A different receipt is already stored under this id.
    #[error("a different receipt is already stored as {0}")]
    Conflict(String),
    /// Checking this receipt crashed the verifier (a panic). It is this receipt's doing, so the
    /// terminal parks it rather than retrying it ahead of every later receipt for ever.
    #[error("receipt could not be checked: the verifier failed on it")]
    Unverifiable,
    /// The store (or the verification task) failed; the upload may be retried. The cause is
    /// kept for the log, not shown to the terminal.
    #[error("storage unavailable, retry later")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl Refusal {
    /// Short label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NoClientCertificate => "no_client_certificate",
            Self::NotPos(_) => "not_pos_certificate",
            Self::CertificateRefused { .. } => "certificate_refused",
            Self::Malformed(_) => "malformed",
            Self::WrongTerminal { .. } => "wrong_terminal",
            Self::Open => "envelope_open",
            Self::Inconsistent(_) => "inconsistent",
            Self::NotAuthentic { .. } => "not_authentic",
            Self::Unbound { .. } => "unbound",
            Self::SignerRevoked(_) => "signer_revoked",
            Self::SignerUnknown { .. } => "signer_unknown",
            Self::TestFeature { .. } => "test_feature",
            Self::Conflict(_) => "conflict",
            Self::Unverifiable => "unverifiable",
            Self::Unavailable(_) => "unavailable",
        }
    }
}

impl From<tokio::task::JoinError> for Refusal {
    /// The verification task's end: a panic is the receipt's doing ([`Refusal::Unverifiable`]);
    /// a cancelled task (shutdown) may be retried.
    fn from(e: tokio::task::JoinError) -> Self {
        if e.is_panic() {
            tracing::error!("the verifier panicked on an upload");
            Self::Unverifiable
        } else {
            Self::Unavailable(Box::new(e))
        }
    }
}

/// A receipt whose envelope opened and whose image verified.
pub struct Opened {
    pub record: ReceiptRecord,
    pub record_bytes: Vec<u8>,
    pub record_hash: [u8; 32],
    pub png: Vec<u8>,
    /// The certificate in the QR's `x5chain` that signed the image (and equals the record's).
    pub signer: PosCertificate,
    /// The signer is the uploading client's own certificate, which [`check_client`] already
    /// found unrevoked, so it need not be looked up again.
    pub signed_by_client: bool,
    /// The customer's delivery choice, if the terminal sent a valid one.
    pub delivery: Option<DeliveryChoice>,
}

/// The CPU-bound part (run off the async workers): open, decode, cross-check, verify the image,
/// judging the signer's expiry at `now` (the platform's time, never the receipt's claim).
pub fn open_and_verify(
    keys: &PlatformKeys,
    client: &PosCertificate,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<Opened, Refusal> {
    let envelope = Envelope::from_bytes(body).map_err(|e| Refusal::Malformed(e.to_string()))?;
    let client_tid = client.terminal.terminal_id.to_string();
    if envelope.terminal_id != client_tid {
        return Err(Refusal::WrongTerminal { envelope: envelope.terminal_id, client: client_tid });
    }
    let payload = envelope.open(&keys.hpke).map_err(|_| Refusal::Open)?;
    let record = decode_record(&payload.record).map_err(|e| Refusal::Malformed(e.to_string()))?;
    if record.id.as_str() != envelope.receipt_id {
        return Err(Refusal::Inconsistent(format!(
            "envelope says receipt {} but the record inside is {}",
            envelope.receipt_id, record.id
        )));
    }
    if record.terminal.terminal_id.as_str() != client_tid {
        return Err(Refusal::WrongTerminal { envelope: record.terminal.terminal_id.to_string(), client: client_tid });
    }
    let signer = PosCertificate::parse(&record.certificate).map_err(|e| Refusal::Malformed(e.to_string()))?;
    if signer.terminal.terminal_id != client.terminal.terminal_id {
        return Err(Refusal::WrongTerminal { envelope: signer.terminal.terminal_id.to_string(), client: client_tid });
    }
    let record_hash = sha256(&payload.record);
    let facts = TimeFacts {
        stored: Stored::At { receipt_id: record.id.to_string(), record_hash, at_ms: now.timestamp_millis() },
        revocations: None, // looked up in the store by `store`
    };
    let v = verify_image_with(&payload.png, &keys.ca.cert_der, &facts);
    if v.verdict != Verdict::Authentic {
        let verdict = match v.verdict {
            Verdict::Tampered => "tampered",
            Verdict::Unconfirmed => "unconfirmed",
            _ => "unverifiable",
        };
        return Err(Refusal::NotAuthentic { receipt_id: record.id.to_string(), verdict, reason: v.reason });
    }
    if v.duplicate {
        // A reprint is authentic, but it is a copy marked 重打印凭证 / DUPLICATE: stored as the
        // receipt's own image it would be delivered, shown and bundled as the original.
        return Err(Refusal::Unbound {
            receipt_id: record.id.to_string(),
            field: "image",
            detail: "is a duplicate copy (重打印凭证 / DUPLICATE), not the receipt's original image: \
                     upload the receipt as it was composed"
                .into(),
        });
    }
    let (Some(claims), Some(image_signer)) = (v.claims, v.certificate) else {
        return Err(Refusal::Inconsistent(format!("the image of {} carries no signed claims", record.id)));
    };
    if claims.record_hash != record_hash {
        return Err(Refusal::Inconsistent(format!(
            "the image of {} is authentic but for another record than the one uploaded",
            record.id
        )));
    }
    bind(&record, record_hash, &claims, &image_signer, &signer, client)?;
    production_rules(&record, &image_signer, client)?;
    let signer = image_signer;
    // The terminal validated the choice; one that still does not parse is dropped (logged), since
    // refusing the receipt would lose it from the platform.
    let delivery = payload.delivery.as_deref().and_then(|d| match d.parse::<DeliveryChoice>() {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!(receipt = %record.id, error = %e, "ignoring an invalid delivery choice");
            None
        }
    });
    let signed_by_client = signer.serial == client.serial;
    Ok(Opened {
        record,
        record_bytes: payload.record,
        record_hash,
        png: payload.png,
        signer,
        signed_by_client,
        delivery,
    })
}

/// Every field the platform stores, shows and sends in the merchant's name must be the one the
/// image's signer vouches for: the record's certificate is the QR's, the record's terminal
/// (id, merchant id and name, location) is the certificate's and the uploading client's, and
/// the QR claims are exactly those derived from the record.
fn bind(
    record: &ReceiptRecord,
    record_hash: [u8; 32],
    claims: &ReceiptClaims,
    image_signer: &PosCertificate,
    record_signer: &PosCertificate,
    client: &PosCertificate,
) -> Result<(), Refusal> {
    let unbound =
        |field: &'static str, detail: String| Refusal::Unbound { receipt_id: record.id.to_string(), field, detail };
    if record_signer.der != image_signer.der {
        return Err(unbound(
            "the record's certificate",
            format!(
                "(serial {}) is not the one that signed the image's QR code (serial {})",
                record_signer.serial, image_signer.serial
            ),
        ));
    }
    for (whose, cert) in [("signing certificate", image_signer), ("client certificate", client)] {
        if let Some(field) = terminal_mismatch(&record.terminal, &cert.terminal) {
            return Err(unbound(field, format!("in the record differs from the {whose}'s")));
        }
    }
    if let Some(field) = claims_mismatch(&ReceiptClaims::of(record, record_hash), claims) {
        return Err(unbound(field, "in the QR code differs from the record's".into()));
    }
    Ok(())
}

/// What a production terminal's receipt may not carry (M8). The terminal is a test terminal only
/// when both the certificate that signed the receipt and the uploading one say so: the CA wrote
/// the registration's mode into them, and the receipt's own fields cannot change it.
fn production_rules(record: &ReceiptRecord, signer: &PosCertificate, client: &PosCertificate) -> Result<(), Refusal> {
    if signer.mode.is_test() && client.mode.is_test() {
        return Ok(());
    }
    let tx = &record.transaction;
    let what = if !tx.card.encrypted_reader {
        "clear (unencrypted) card-track data, which only test terminals may read; production terminals take an \
         encrypting (SRED) reader's output"
    } else {
        match tx.authorisation {
            Authorisation::Host => return Ok(()),
            Authorisation::Simulated => "a simulated authorisation: no acquirer approved the sale",
            Authorisation::Unstated => {
                "no statement of who authorised the sale (a version 1 record): update the terminal's software"
            }
        }
    };
    Err(Refusal::TestFeature {
        receipt_id: record.id.to_string(),
        terminal: record.terminal.terminal_id.to_string(),
        what,
    })
}

/// The first field of a terminal's identity that differs, by name.
fn terminal_mismatch(a: &TerminalInfo, b: &TerminalInfo) -> Option<&'static str> {
    if a.terminal_id != b.terminal_id {
        Some("terminal id")
    } else if a.merchant_id != b.merchant_id {
        Some("merchant id")
    } else if a.merchant_name != b.merchant_name {
        Some("merchant name")
    } else if a.location != b.location {
        Some("location")
    } else {
        None
    }
}

/// The first claim that differs, by name.
fn claims_mismatch(a: &ReceiptClaims, b: &ReceiptClaims) -> Option<&'static str> {
    let fields: [(&'static str, bool); 15] = [
        ("receipt id", a.id == b.id),
        ("terminal id", a.terminal_id == b.terminal_id),
        ("merchant id", a.merchant_id == b.merchant_id),
        ("merchant name", a.merchant_name == b.merchant_name),
        ("serial", a.serial == b.serial),
        ("batch", a.batch == b.batch),
        ("transaction type", a.kind == b.kind),
        ("amount", a.amount == b.amount),
        ("time", a.time == b.time),
        ("card last 4", a.pan_last4 == b.pan_last4),
        ("RRN", a.rrn == b.rrn),
        ("authorisation code", a.auth_code == b.auth_code),
        ("record hash", a.record_hash == b.record_hash),
        ("authorisation", a.authorisation == b.authorisation),
        ("original", a.original == b.original),
    ];
    fields.into_iter().find(|(_, same)| !same).map(|(name, _)| name)
}

/// The outcome the terminal sees: the signed acknowledgement, and whether it was new.
pub struct Accepted {
    pub ack: Vec<u8>,
    pub created: bool,
    /// A push delivery was queued with it (the delivery workers should wake up).
    pub delivery_queued: bool,
}

/// The terminal behind a request's client certificate (the terminal API's `ClientCert`): one
/// was offered, it is a POS certificate of this platform, issued here and not revoked.
pub async fn known_terminal(
    store: &Store,
    client: Option<Result<std::sync::Arc<PosCertificate>, String>>,
) -> Result<std::sync::Arc<PosCertificate>, Refusal> {
    let client = match client {
        None => return Err(Refusal::NoClientCertificate),
        Some(Err(e)) => return Err(Refusal::NotPos(e)),
        Some(Ok(c)) => c,
    };
    check_client(store, &client).await?;
    Ok(client)
}

/// Checks the client's certificate against the platform's records (issued by us, not revoked).
#[tracing::instrument(skip_all, fields(terminal = %client.terminal.terminal_id, serial = %client.serial))]
pub async fn check_client(store: &Store, client: &PosCertificate) -> Result<(), Refusal> {
    let unavailable = |e: crate::infra::store::StoreError| Refusal::Unavailable(Box::new(e));
    let row = store.certificate(&client.serial).await.map_err(unavailable)?;
    let state_of = |s: &'static str| Refusal::CertificateRefused { serial: client.serial.clone(), state: s };
    match row {
        None => Err(state_of("not issued by this platform")),
        Some(r) if r.revoked_at.is_some() => Err(state_of("revoked")),
        Some(_) => Ok(()),
    }
}

/// Stores an opened receipt and returns the acknowledgement to send.
#[tracing::instrument(skip_all, fields(receipt = %opened.record.id, terminal = %opened.record.terminal.terminal_id))]
pub async fn store(
    store: &Store,
    keys: &PlatformKeys,
    opened: Opened,
    now: DateTime<Utc>,
) -> Result<Accepted, Refusal> {
    let unavailable = |e: crate::infra::store::StoreError| Refusal::Unavailable(Box::new(e));
    let r = &opened.record;
    let tx = &r.transaction;
    // Revocation of the certificate that signed the image, judged now: the receipt's own time
    // is whatever the key holder wrote, so a revoked key's receipts are refused whatever date
    // they carry. (The client's own certificate was checked by `check_client`.)
    if !opened.signed_by_client {
        match store.certificate(&opened.signer.serial).await.map_err(unavailable)? {
            None => {
                return Err(Refusal::SignerUnknown {
                    receipt_id: r.id.to_string(),
                    serial: opened.signer.serial.clone(),
                })
            }
            Some(cert) if cert.revoked_at.is_some() => return Err(Refusal::SignerRevoked(r.id.to_string())),
            Some(_) => {}
        }
    }
    let ack = keys.ack.sign(&Acknowledgement {
        receipt_id: r.id.to_string(),
        record_hash: opened.record_hash,
        sequence: r.chain.as_ref().map(|c| c.sequence),
        stored_at_ms: now.timestamp_millis(),
    });
    let card = &tx.card;
    let new = NewReceipt {
        receipt_id: r.id.to_string(),
        terminal_id: r.terminal.terminal_id.to_string(),
        merchant_id: r.terminal.merchant_id.to_string(),
        merchant_name: r.terminal.merchant_name.to_string(),
        batch: i64::from(tx.batch.value()),
        serial: i64::from(tx.serial.value()),
        sequence: r.chain.as_ref().and_then(|c| i64::try_from(c.sequence).ok()),
        previous_hash: r.chain.as_ref().map(|c| c.previous.to_vec()),
        record_hash: opened.record_hash,
        record: opened.record_bytes,
        png: opened.png,
        amount: tx.amount,
        time: tx.time,
        rrn: tx.rrn.to_string(),
        auth_code: tx.auth_code.to_string(),
        card_masked: card.masked_pan.for_receipt(),
        card_last4: card.masked_pan.last4().to_owned(),
        card_brand: card.brand.code().to_owned(),
        signer_serial: opened.signer.serial.clone(),
        received_at: now.timestamp_millis(),
        ack,
        delivery: opened.delivery.clone(),
        lineage: crate::services::lineage::of_record(r),
    };
    let push = new.delivery.as_ref().and_then(Channel::pushing).is_some();
    match store.store_receipt(&new).await.map_err(unavailable)? {
        StoreOutcome::Stored(ack) => {
            // A late receipt of a settled batch: that batch's slip is reconciled again.
            if let Err(e) = super::settlement::reconcile_again(store, &new.terminal_id, new.batch, now).await {
                tracing::warn!(error = %e, "the batch's settlement could not be reconciled again");
            }
            Ok(Accepted { ack, created: true, delivery_queued: push })
        }
        StoreOutcome::Duplicate(ack) => Ok(Accepted { ack, created: false, delivery_queued: false }),
        StoreOutcome::Conflict { .. } => Err(Refusal::Conflict(new.receipt_id)),
    }
}

#[cfg(test)]
mod tests;
