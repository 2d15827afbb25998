//! The upload protocol between terminal and platform (T6, T7): the HPKE envelope (RFC 9180,
//! X25519 / HKDF-SHA256 / ChaCha20-Poly1305) that carries a receipt, and the acknowledgement the
//! platform signs once the receipt is stored.

use ciborium::Value;
use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem, OpModeR, OpModeS, Serializable};
use ring::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};
use zeroize::Zeroizing;

use crate::encoding::{from_bytes, int, text, to_bytes, uint, EncodingError, MapBuilder, MapReader};
use crate::prng::Prng;

/// HPKE `info`: binds every envelope to this protocol and version.
pub const HPKE_INFO: &[u8] = b"ereceipt upload v1";
/// The largest envelope a platform accepts (a receipt is ~25 KB of PNG plus ~10 KB of record).
pub const MAX_ENVELOPE_BYTES: usize = 1 << 20;

/// What went wrong with an envelope or an acknowledgement.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum UploadError {
    /// The bytes are not a well-formed envelope or acknowledgement.
    #[error("malformed {what}: {detail}")]
    Malformed { what: &'static str, detail: String },
    /// HPKE refused to open the envelope: wrong key, or ciphertext or associated data altered.
    #[error("envelope does not open with the platform key (altered, or sealed to another key)")]
    Open,
    /// HPKE sealing failed (a bad public key).
    #[error("cannot seal envelope: {0}")]
    Seal(String),
    /// An encryption or signing key has the wrong form.
    #[error("bad key: {0}")]
    Key(String),
    /// The system random generator failed.
    #[error("no randomness available")]
    Random,
    /// An acknowledgement's signature does not verify with the platform's key.
    #[error("acknowledgement signature does not verify with the platform key")]
    AckSignature,
}

fn malformed(what: &'static str) -> impl Fn(EncodingError) -> UploadError {
    move |e| UploadError::Malformed { what, detail: e.to_string() }
}

fn random32() -> Result<[u8; 32], UploadError> {
    let mut b = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b).map_err(|_| UploadError::Random)?;
    Ok(b)
}

/// The platform's HPKE key pair. The private half never leaves the platform's data directory.
pub struct PlatformKey {
    secret: Zeroizing<[u8; 32]>,
    public: [u8; 32],
}

impl PlatformKey {
    /// A fresh key pair from the system random generator.
    pub fn generate() -> Result<Self, UploadError> {
        Self::from_secret(&random32()?)
    }
    /// Rebuilds the key pair from its 32-byte X25519 private key.
    pub fn from_secret(secret: &[u8]) -> Result<Self, UploadError> {
        let sk = <X25519HkdfSha256 as Kem>::PrivateKey::from_bytes(secret)
            .map_err(|e| UploadError::Key(format!("HPKE private key: {e}")))?;
        let pk = X25519HkdfSha256::sk_to_pk(&sk);
        let mut s = Zeroizing::new([0u8; 32]);
        s.copy_from_slice(&sk.to_bytes());
        let mut public = [0u8; 32];
        public.copy_from_slice(&pk.to_bytes());
        Ok(Self { secret: s, public })
    }
    pub fn secret_bytes(&self) -> &[u8; 32] {
        &self.secret
    }
    pub fn public_bytes(&self) -> [u8; 32] {
        self.public
    }
}

impl std::fmt::Debug for PlatformKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PlatformKey {{ public: {}, secret: <redacted> }}", crate::identity::hex(&self.public))
    }
}

/// What an envelope carries: the canonical record, the watermarked image, and the customer's
/// delivery choice (`sms:+86…`, see [`crate::model::DeliveryChoice`]), which is sealed with the
/// receipt but not part of the signed record or the image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payload {
    pub record: Vec<u8>,
    pub png: Vec<u8>,
    pub delivery: Option<String>,
}

/// A sealed receipt. Terminal id and receipt id travel in clear (the platform routes and
/// deduplicates on them) and are bound to the ciphertext as associated data, so neither can be
/// changed without the envelope failing to open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    pub terminal_id: String,
    pub receipt_id: String,
    /// The HPKE encapsulated key.
    pub enc: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

fn aad(terminal_id: &str, receipt_id: &str) -> Vec<u8> {
    to_bytes(&Value::Array(vec![text(terminal_id), text(receipt_id)]))
}

impl Envelope {
    /// Seals `payload` to the platform's public key.
    pub fn seal(
        payload: &Payload,
        terminal_id: &str,
        receipt_id: &str,
        platform_public: &[u8],
    ) -> Result<Self, UploadError> {
        let pk = <X25519HkdfSha256 as Kem>::PublicKey::from_bytes(platform_public)
            .map_err(|e| UploadError::Key(format!("platform HPKE public key: {e}")))?;
        let plaintext = Zeroizing::new(to_bytes(
            &MapBuilder::new()
                .put(1, Value::Bytes(payload.record.clone()))
                .put(2, Value::Bytes(payload.png.clone()))
                .put(3, payload.delivery.as_deref().map(text))
                .build(),
        ));
        let mut rng = SeededRng(Prng::new("ereceipt hpke ephemeral", &[&random32()?]));
        let (enc, ciphertext) = hpke::single_shot_seal::<ChaCha20Poly1305, HkdfSha256, X25519HkdfSha256, _>(
            &OpModeS::Base,
            &pk,
            HPKE_INFO,
            &plaintext,
            &aad(terminal_id, receipt_id),
            &mut rng,
        )
        .map_err(|e| UploadError::Seal(e.to_string()))?;
        Ok(Self {
            terminal_id: terminal_id.to_owned(),
            receipt_id: receipt_id.to_owned(),
            enc: enc.to_bytes().to_vec(),
            ciphertext,
        })
    }

    /// Opens the envelope with the platform's key.
    pub fn open(&self, key: &PlatformKey) -> Result<Payload, UploadError> {
        let sk = <X25519HkdfSha256 as Kem>::PrivateKey::from_bytes(key.secret_bytes())
            .map_err(|e| UploadError::Key(e.to_string()))?;
        let enc = <X25519HkdfSha256 as Kem>::EncappedKey::from_bytes(&self.enc).map_err(|_| UploadError::Open)?;
        let plaintext = Zeroizing::new(
            hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, X25519HkdfSha256>(
                &OpModeR::Base,
                &sk,
                &enc,
                HPKE_INFO,
                &self.ciphertext,
                &aad(&self.terminal_id, &self.receipt_id),
            )
            .map_err(|_| UploadError::Open)?,
        );
        let v = from_bytes(&plaintext).map_err(malformed("envelope payload"))?;
        let m = MapReader::new(&v, "payload").map_err(malformed("envelope payload"))?;
        Ok(Payload {
            record: m.bytes(1, "record").map_err(malformed("envelope payload"))?.to_vec(),
            png: m.bytes(2, "png").map_err(malformed("envelope payload"))?.to_vec(),
            delivery: match m.opt(3) {
                Some(_) => Some(m.text(3, "delivery").map_err(malformed("envelope payload"))?.to_owned()),
                None => None,
            },
        })
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        to_bytes(
            &MapBuilder::new()
                .put(1, text(&self.terminal_id))
                .put(2, text(&self.receipt_id))
                .put(3, Value::Bytes(self.enc.clone()))
                .put(4, Value::Bytes(self.ciphertext.clone()))
                .build(),
        )
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, UploadError> {
        if bytes.len() > MAX_ENVELOPE_BYTES {
            return Err(UploadError::Malformed {
                what: "envelope",
                detail: format!("{} bytes, the limit is {MAX_ENVELOPE_BYTES}", bytes.len()),
            });
        }
        let v = from_bytes(bytes).map_err(malformed("envelope"))?;
        let m = MapReader::new(&v, "envelope").map_err(malformed("envelope"))?;
        let f = malformed("envelope");
        Ok(Self {
            terminal_id: m.text(1, "terminal id").map_err(&f)?.to_owned(),
            receipt_id: m.text(2, "receipt id").map_err(&f)?.to_owned(),
            enc: m.bytes(3, "encapsulated key").map_err(&f)?.to_vec(),
            ciphertext: m.bytes(4, "ciphertext").map_err(&f)?.to_vec(),
        })
    }
}

/// HPKE wants a `rand_core` generator; this one expands 32 bytes from the system generator with
/// SHA-256 in counter mode, so a failing system generator is an error, never a panic.
struct SeededRng(Prng);

impl rand_core::RngCore for SeededRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_be_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for b in dest {
            *b = self.0.next_byte();
        }
    }
}
impl rand_core::CryptoRng for SeededRng {}

/// The platform's statement that it stored a receipt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acknowledgement {
    pub receipt_id: String,
    pub record_hash: [u8; 32],
    /// The receipt's place in its terminal's chain, if it has one.
    pub sequence: Option<u64>,
    /// When the platform stored it, Unix milliseconds UTC.
    pub stored_at_ms: i64,
}

/// The platform's acknowledgement signing key (Ed25519, PKCS#8).
pub struct AckSigner(Ed25519KeyPair);

/// What precedes a retrieval bundle's manifest in the message the acknowledgement key signs.
pub const MANIFEST_CONTEXT: &[u8] = b"ereceipt retrieval bundle manifest v1\0";

/// Whether `signature` is [`AckSigner::sign_manifest`]'s signature of `manifest` under
/// `platform_ack_key`.
pub fn manifest_signature_verifies(manifest: &[u8], signature: &[u8], platform_ack_key: &[u8]) -> bool {
    let mut message = MANIFEST_CONTEXT.to_vec();
    message.extend_from_slice(manifest);
    UnparsedPublicKey::new(&ED25519, platform_ack_key).verify(&message, signature).is_ok()
}

impl AckSigner {
    /// A fresh key; returns it with its PKCS#8 bytes for the data directory.
    pub fn generate() -> Result<(Self, Zeroizing<Vec<u8>>), UploadError> {
        let doc = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).map_err(|_| UploadError::Random)?;
        let pkcs8 = Zeroizing::new(doc.as_ref().to_vec());
        Ok((Self::from_pkcs8(&pkcs8)?, pkcs8))
    }
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<Self, UploadError> {
        Ed25519KeyPair::from_pkcs8(pkcs8).map(Self).map_err(|e| UploadError::Key(format!("ack signing key: {e}")))
    }
    pub fn public_key(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(self.0.public_key().as_ref());
        out
    }
    /// Ed25519 over [`MANIFEST_CONTEXT`] ‖ `manifest`: the signature of a retrieval bundle's
    /// `MANIFEST.txt`. The context keeps it apart from acknowledgements, whose signed body is
    /// a CBOR map (never this text), so neither can be passed off as the other.
    pub fn sign_manifest(&self, manifest: &[u8]) -> Vec<u8> {
        let mut message = MANIFEST_CONTEXT.to_vec();
        message.extend_from_slice(manifest);
        self.0.sign(&message).as_ref().to_vec()
    }

    /// The signed acknowledgement as sent to the terminal.
    pub fn sign(&self, ack: &Acknowledgement) -> Vec<u8> {
        let body = ack_body(ack);
        let sig = self.0.sign(&body);
        to_bytes(&MapBuilder::new().put(1, Value::Bytes(body)).put(2, Value::Bytes(sig.as_ref().to_vec())).build())
    }
}

fn ack_body(ack: &Acknowledgement) -> Vec<u8> {
    to_bytes(
        &MapBuilder::new()
            .put(1, text(&ack.receipt_id))
            .put(2, Value::Bytes(ack.record_hash.to_vec()))
            .put(3, ack.sequence.map(uint))
            .put(4, int(ack.stored_at_ms))
            .build(),
    )
}

/// Checks a signed acknowledgement against the platform's public key and returns what it says.
pub fn verify_ack(signed: &[u8], platform_ack_key: &[u8]) -> Result<Acknowledgement, UploadError> {
    let f = malformed("acknowledgement");
    let v = from_bytes(signed).map_err(&f)?;
    let m = MapReader::new(&v, "acknowledgement").map_err(&f)?;
    let body = m.bytes(1, "body").map_err(&f)?;
    let sig = m.bytes(2, "signature").map_err(&f)?;
    UnparsedPublicKey::new(&ED25519, platform_ack_key).verify(body, sig).map_err(|_| UploadError::AckSignature)?;
    let bv = from_bytes(body).map_err(&f)?;
    let b = MapReader::new(&bv, "acknowledgement body").map_err(&f)?;
    let hash = b.bytes(2, "record hash").map_err(&f)?;
    let record_hash: [u8; 32] = hash.try_into().map_err(|_| UploadError::Malformed {
        what: "acknowledgement",
        detail: "record hash is not 32 bytes".into(),
    })?;
    Ok(Acknowledgement {
        receipt_id: b.text(1, "receipt id").map_err(&f)?.to_owned(),
        record_hash,
        sequence: match b.opt(3) {
            Some(_) => Some(b.int_as(3, "sequence").map_err(&f)?),
            None => None,
        },
        stored_at_ms: b.int_as(4, "stored at").map_err(&f)?,
    })
}

#[cfg(test)]
mod tests;
