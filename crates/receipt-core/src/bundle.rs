//! The integrity of an acquirer's retrieval bundle (security review L13): `MANIFEST.txt` lists
//! the SHA-256 of every file, and `MANIFEST.sig` is the platform's Ed25519 signature of it under
//! the acknowledgement key, whose certificate (issued by the platform CA) is in `evidence.txt`.
//! Whoever holds the CA certificate can check the whole bundle offline; an edited file, an
//! added or removed one, or a recomputed manifest is found.
//!
//! `MANIFEST.sig`, version 1, is text:
//!
//! ```text
//! ereceipt-manifest-signature: 1
//! algorithm: Ed25519 over "ereceipt retrieval bundle manifest v1" NUL, then MANIFEST.txt
//! key: the evidence certificate in evidence.txt, issued by the platform CA
//! signature: <base64, 64 bytes>
//! ```

use std::collections::BTreeMap;

use base64::Engine as _;

use crate::digest::sha256;
use crate::evidence::{check_certificate, EvidenceError, EvidenceFile};
use crate::upload::{manifest_signature_verifies, AckSigner, Acknowledgement};

pub const MANIFEST: &str = "MANIFEST.txt";
pub const MANIFEST_SIGNATURE: &str = "MANIFEST.sig";
pub const EVIDENCE: &str = "evidence.txt";
pub const RECORD: &str = "record.cbor";
/// The folder of the receipts linked to the bundle's receipt (its original, its voids, refunds
/// and completions): `linked/ID/` holds each one's image, record and evidence file.
pub const LINKED: &str = "linked";
/// The first line of `MANIFEST.sig`; the number is the format version.
pub const SIGNATURE_HEADER: &str = "ereceipt-manifest-signature: 1";

/// Why a bundle is not intact, or cannot be checked.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum BundleError {
    /// Not a retrieval bundle this build reads (a part is missing or malformed).
    #[error("not an ereceipt retrieval bundle: {0}")]
    Format(String),
    /// The evidence does not come from the trusted CA's platform: nothing can be vouched for.
    #[error("the bundle's evidence is not trusted: {0}")]
    Evidence(#[source] EvidenceError),
    /// MANIFEST.txt is not what the platform signed.
    #[error("MANIFEST.txt was altered: its signature does not verify with the platform's acknowledgement key")]
    Signature,
    /// A file's SHA-256 is not the one the manifest lists.
    #[error("{0} was altered: its SHA-256 is not the manifest's")]
    Altered(String),
    /// The manifest lists a file the bundle lacks.
    #[error("{0} is listed in the manifest but missing")]
    Missing(String),
    /// The bundle holds a file the manifest does not list.
    #[error("{0} is not in the manifest (added after the platform made the bundle)")]
    Unlisted(String),
    /// The record is not the one the platform acknowledged storing.
    #[error("record.cbor is not the record the platform acknowledged for {0}")]
    Record(String),
}

impl BundleError {
    /// Whether the bundle was changed after the platform made it (rather than unreadable or
    /// from another platform).
    pub fn is_alteration(&self) -> bool {
        matches!(
            self,
            BundleError::Signature
                | BundleError::Altered(_)
                | BundleError::Missing(_)
                | BundleError::Unlisted(_)
                | BundleError::Record(_)
        )
    }
}

/// `MANIFEST.sig` for `manifest`.
pub fn signature_file(signer: &AckSigner, manifest: &[u8]) -> String {
    let sig = base64::engine::general_purpose::STANDARD.encode(signer.sign_manifest(manifest));
    format!(
        "{SIGNATURE_HEADER}\r\nalgorithm: Ed25519 over \"ereceipt retrieval bundle manifest v1\" NUL, then MANIFEST.txt\r\n\
         key: the evidence certificate in evidence.txt, issued by the platform CA\r\nsignature: {sig}\r\n"
    )
}

/// What an intact bundle vouches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedBundle {
    /// The files the manifest lists, each checked, in its order.
    pub files: Vec<String>,
    /// The platform's acknowledgement of the receipt (from evidence.txt).
    pub acknowledgement: Acknowledgement,
    /// The platform's acknowledgement of each linked receipt (from `linked/ID/evidence.txt`),
    /// each checked against its record, in the order of their ids.
    pub linked: Vec<Acknowledgement>,
}

/// `HEX  NAME` lines after the header lines, in order.
fn manifest_entries(manifest: &[u8]) -> Result<Vec<([u8; 32], String)>, BundleError> {
    let text = std::str::from_utf8(manifest).map_err(|_| BundleError::Format("MANIFEST.txt is not text".into()))?;
    let mut lines = text.lines();
    if !lines.next().is_some_and(|l| l.starts_with("ereceipt retrieval bundle for ")) {
        return Err(BundleError::Format("MANIFEST.txt does not start with its header".into()));
    }
    let mut out = Vec::new();
    for line in lines.filter(|l| l.len() > 66 && l.as_bytes()[64] == b' ') {
        let (sum, name) = line.split_at(64);
        let Ok(bytes) = hex_decode(sum) else { continue };
        let name = name.trim_start().to_owned();
        if out.iter().any(|(_, n): &([u8; 32], String)| *n == name) {
            return Err(BundleError::Format(format!("MANIFEST.txt lists {name} twice")));
        }
        out.push((bytes, name));
    }
    if out.is_empty() {
        return Err(BundleError::Format("MANIFEST.txt lists no file".into()));
    }
    Ok(out)
}

fn hex_decode(s: &str) -> Result<[u8; 32], ()> {
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(s.get(2 * i..2 * i + 2).ok_or(())?, 16).map_err(|_| ())?;
    }
    Ok(out)
}

fn signature_of(file: &[u8]) -> Result<Vec<u8>, BundleError> {
    let text = std::str::from_utf8(file).map_err(|_| BundleError::Format("MANIFEST.sig is not text".into()))?;
    let first = text.lines().next().unwrap_or("").trim();
    if first != SIGNATURE_HEADER {
        return Err(BundleError::Format(format!("MANIFEST.sig does not start with \"{SIGNATURE_HEADER}\"")));
    }
    let b64 = text
        .lines()
        .find_map(|l| l.strip_prefix("signature:"))
        .ok_or_else(|| BundleError::Format("MANIFEST.sig has no signature line".into()))?;
    base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|_| BundleError::Format("MANIFEST.sig's signature is not base64".into()))
}

/// Checks a bundle's files (names without the receipt's folder) against the CA certificate:
/// the evidence certificate is the CA's, the manifest is what the platform signed, every file
/// is listed with its SHA-256 and nothing else is in the bundle, and the record is the one the
/// platform acknowledged.
pub fn check(files: &BTreeMap<String, Vec<u8>>, ca_der: &[u8]) -> Result<CheckedBundle, BundleError> {
    let part = |name: &str| files.get(name).ok_or_else(|| BundleError::Format(format!("it has no {name}")));
    let manifest = part(MANIFEST)?;
    let signature = signature_of(part(MANIFEST_SIGNATURE)?)?;
    let evidence = EvidenceFile::parse(part(EVIDENCE)?).map_err(BundleError::Evidence)?;
    let acknowledgement = evidence.verify(ca_der).map_err(BundleError::Evidence)?;
    let (key, ..) = check_certificate(&evidence.certificate, ca_der).map_err(BundleError::Evidence)?;
    if !manifest_signature_verifies(manifest, &signature, &key) {
        return Err(BundleError::Signature);
    }
    let entries = manifest_entries(manifest)?;
    for (sum, name) in &entries {
        let bytes = files.get(name).ok_or_else(|| BundleError::Missing(name.clone()))?;
        if sha256(bytes) != *sum {
            return Err(BundleError::Altered(name.clone()));
        }
    }
    if let Some(extra) = files
        .keys()
        .find(|n| n.as_str() != MANIFEST && n.as_str() != MANIFEST_SIGNATURE && !entries.iter().any(|(_, e)| e == *n))
    {
        return Err(BundleError::Unlisted(extra.clone()));
    }
    let record = files.get(RECORD).ok_or_else(|| BundleError::Missing(RECORD.into()))?;
    if sha256(record) != acknowledgement.record_hash {
        return Err(BundleError::Record(acknowledgement.receipt_id.clone()));
    }
    let linked = check_linked(files, ca_der)?;
    Ok(CheckedBundle { files: entries.into_iter().map(|(_, n)| n).collect(), acknowledgement, linked })
}

/// The acknowledgements of the linked receipts: each folder's evidence comes from the trusted
/// platform, names that folder's receipt and that record.
fn check_linked(files: &BTreeMap<String, Vec<u8>>, ca_der: &[u8]) -> Result<Vec<Acknowledgement>, BundleError> {
    let prefix = format!("{LINKED}/");
    let mut ids: Vec<&str> = files
        .keys()
        .filter_map(|n| n.strip_prefix(&prefix))
        .filter_map(|rest| rest.split_once('/'))
        .map(|(id, _)| id)
        .collect();
    ids.dedup();
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let part = |name: &str| {
            let path = format!("{prefix}{id}/{name}");
            files.get(&path).ok_or(BundleError::Missing(path))
        };
        let evidence = EvidenceFile::parse(part(EVIDENCE)?).map_err(BundleError::Evidence)?;
        let ack = evidence.verify(ca_der).map_err(BundleError::Evidence)?;
        if ack.receipt_id != id || sha256(part(RECORD)?) != ack.record_hash {
            return Err(BundleError::Record(format!("{prefix}{id}")));
        }
        out.push(ack);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::evidence::issue_certificate;
    use crate::identity::{create_ca, CertifiedKey};
    use crate::upload::Acknowledgement;

    fn manifest_of(files: &BTreeMap<String, Vec<u8>>) -> Vec<u8> {
        let mut m =
            String::from("ereceipt retrieval bundle for T1-000001-000001\r\nmade now\r\nSHA-256 of each file:\r\n");
        for (name, bytes) in files {
            m.push_str(&format!("{}  {name}\r\n", crate::identity::hex(&sha256(bytes))));
        }
        m.into_bytes()
    }

    /// A bundle as the platform makes it: record, image, evidence, manifest and its signature.
    fn bundle() -> (CertifiedKey, AckSigner, BTreeMap<String, Vec<u8>>) {
        let ca = create_ca("Test CA", Utc::now()).unwrap();
        let (signer, _) = AckSigner::generate().unwrap();
        let record = b"the signed record".to_vec();
        let ack = Acknowledgement {
            receipt_id: "T1-000001-000001".into(),
            record_hash: sha256(&record),
            sequence: Some(1),
            stored_at_ms: Utc::now().timestamp_millis(),
        };
        let evidence = EvidenceFile {
            signed_ack: signer.sign(&ack),
            certificate: issue_certificate(&ca, signer.public_key()).unwrap(),
        };
        let mut files = BTreeMap::new();
        files.insert(RECORD.to_owned(), record);
        files.insert("receipt.png".to_owned(), b"png bytes".to_vec());
        files.insert(EVIDENCE.to_owned(), evidence.to_text().unwrap().into_bytes());
        let manifest = manifest_of(&files);
        files.insert(MANIFEST_SIGNATURE.to_owned(), signature_file(&signer, &manifest).into_bytes());
        files.insert(MANIFEST.to_owned(), manifest);
        (ca, signer, files)
    }

    #[test]
    fn an_intact_bundle_checks_with_the_ca_certificate_alone() {
        let (ca, _, files) = bundle();
        let checked = check(&files, &ca.cert_der).unwrap();
        assert_eq!(checked.files, ["evidence.txt", "receipt.png", "record.cbor"]);
        assert_eq!(checked.acknowledgement.receipt_id, "T1-000001-000001");
    }

    /// The review's attack: edit a file, recompute MANIFEST.txt. Unsigned, that passed.
    #[test]
    fn an_edited_file_with_a_recomputed_manifest_is_found() {
        let (ca, _, mut files) = bundle();
        files.insert("receipt.png".to_owned(), b"another image".to_vec());
        let mut listed = files.clone();
        listed.remove(MANIFEST);
        listed.remove(MANIFEST_SIGNATURE);
        files.insert(MANIFEST.to_owned(), manifest_of(&listed));
        assert_eq!(check(&files, &ca.cert_der), Err(BundleError::Signature));
    }

    #[test]
    fn an_edited_added_or_removed_file_is_named() {
        let (ca, _, files) = bundle();
        let mut edited = files.clone();
        edited.insert("receipt.png".to_owned(), b"another image".to_vec());
        assert_eq!(check(&edited, &ca.cert_der), Err(BundleError::Altered("receipt.png".into())));
        let mut added = files.clone();
        added.insert("note.txt".to_owned(), b"the customer agreed".to_vec());
        assert_eq!(check(&added, &ca.cert_der), Err(BundleError::Unlisted("note.txt".into())));
        let mut removed = files.clone();
        removed.remove("receipt.png");
        assert_eq!(check(&removed, &ca.cert_der), Err(BundleError::Missing("receipt.png".into())));
        assert!(check(&removed, &ca.cert_der).unwrap_err().is_alteration());
    }

    /// A whole bundle re-made and re-signed by another key, with a certificate of another CA:
    /// the trusted CA does not vouch for it.
    #[test]
    fn a_bundle_signed_by_another_platform_is_not_trusted() {
        let (_, _, files) = bundle();
        let other = create_ca("Test CA", Utc::now()).unwrap();
        let e = check(&files, &other.cert_der).unwrap_err();
        assert!(matches!(e, BundleError::Evidence(_)), "{e}");
        assert!(!e.is_alteration());
    }

    #[test]
    fn a_signature_of_an_acknowledgement_is_no_signature_of_a_manifest() {
        let (ca, _, mut files) = bundle();
        // The acknowledgement's own signature bytes, put where the manifest's go.
        let ack = EvidenceFile::parse(&files[EVIDENCE]).unwrap().signed_ack;
        let v: ciborium::Value = ciborium::from_reader(ack.as_slice()).unwrap();
        let sig = v
            .as_map()
            .unwrap()
            .iter()
            .find(|(k, _)| k.as_integer() == Some(2.into()))
            .unwrap()
            .1
            .as_bytes()
            .unwrap()
            .clone();
        let text =
            format!("{SIGNATURE_HEADER}\r\nsignature: {}\r\n", base64::engine::general_purpose::STANDARD.encode(sig));
        files.insert(MANIFEST_SIGNATURE.to_owned(), text.into_bytes());
        assert_eq!(check(&files, &ca.cert_der), Err(BundleError::Signature));
    }

    /// A bundle with a linked receipt (a refund of the sale): its evidence is checked against its
    /// own record, and a linked record swapped for another (manifest re-made by the forger) or
    /// put under another receipt's folder is refused.
    #[test]
    fn linked_receipts_are_checked_against_their_own_evidence() {
        let (ca, signer, mut files) = bundle();
        files.remove(MANIFEST);
        files.remove(MANIFEST_SIGNATURE);
        let refund = b"the refund's signed record".to_vec();
        let ack = Acknowledgement {
            receipt_id: "T1-000001-000002".into(),
            record_hash: sha256(&refund),
            sequence: Some(2),
            stored_at_ms: Utc::now().timestamp_millis(),
        };
        let evidence = EvidenceFile {
            signed_ack: signer.sign(&ack),
            certificate: issue_certificate(&ca, signer.public_key()).unwrap(),
        };
        let dir = "linked/T1-000001-000002";
        files.insert(format!("{dir}/{RECORD}"), refund);
        files.insert(format!("{dir}/receipt.png"), b"refund png".to_vec());
        files.insert(format!("{dir}/{EVIDENCE}"), evidence.to_text().unwrap().into_bytes());
        let signed = |files: &BTreeMap<String, Vec<u8>>| {
            let mut out = files.clone();
            let manifest = manifest_of(files);
            out.insert(MANIFEST_SIGNATURE.to_owned(), signature_file(&signer, &manifest).into_bytes());
            out.insert(MANIFEST.to_owned(), manifest);
            out
        };
        let checked = check(&signed(&files), &ca.cert_der).unwrap();
        assert_eq!(checked.linked.len(), 1);
        assert_eq!(checked.linked[0].receipt_id, "T1-000001-000002");

        // Signed by the platform (a forger with its key is not the case here): still, a linked
        // record other than the acknowledged one is named.
        let mut swapped = files.clone();
        swapped.insert(format!("{dir}/{RECORD}"), b"another record".to_vec());
        assert_eq!(check(&signed(&swapped), &ca.cert_der), Err(BundleError::Record(dir.into())));
        let mut moved = BTreeMap::new();
        for (k, v) in &files {
            moved.insert(k.replace("T1-000001-000002", "T1-000001-000003"), v.clone());
        }
        assert_eq!(check(&signed(&moved), &ca.cert_der), Err(BundleError::Record("linked/T1-000001-000003".into())));
        let mut no_evidence = files;
        no_evidence.remove(&format!("{dir}/{EVIDENCE}"));
        assert_eq!(check(&signed(&no_evidence), &ca.cert_der), Err(BundleError::Missing(format!("{dir}/{EVIDENCE}"))));
    }

    #[test]
    fn a_malformed_bundle_says_what_is_wrong() {
        let (ca, _, files) = bundle();
        let mut no_sig = files.clone();
        no_sig.remove(MANIFEST_SIGNATURE);
        assert_eq!(check(&no_sig, &ca.cert_der), Err(BundleError::Format("it has no MANIFEST.sig".into())));
        let mut garbled = files;
        garbled.insert(MANIFEST_SIGNATURE.to_owned(), b"ereceipt-manifest-signature: 1\r\nsignature: ***\r\n".to_vec());
        let e = check(&garbled, &ca.cert_der).unwrap_err();
        assert!(e.to_string().contains("not base64"), "{e}");
    }
}
