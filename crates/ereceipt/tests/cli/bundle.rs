//! `ereceipt bundle verify`: an acquirer checks a retrieval bundle offline with the platform's
//! CA certificate (security review L13). The bundle here is made as the platform makes one: the
//! sample receipt, its record, the evidence signed by an acknowledgement key the CA certified,
//! the manifest and its signature.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::Utc;
use ereceipt_core::bundle::signature_file;
use ereceipt_core::digest::sha256;
use ereceipt_core::evidence::{issue_certificate, EvidenceFile};
use ereceipt_core::identity::{create_ca, CertifiedKey};
use ereceipt_core::upload::{AckSigner, Acknowledgement};
use tempfile::TempDir;

use crate::helpers::{ereceipt, verify_json};

struct Sample {
    _tmp: TempDir,
    dir: PathBuf,
    id: String,
    files: Vec<(String, Vec<u8>)>,
    signer: AckSigner,
}

fn sample() -> Sample {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("s");
    ereceipt(["sample".as_ref(), "--dir".as_ref(), dir.as_os_str()]).assert_ok();
    let id = verify_json(&dir.join("receipt.png"), &dir.join("ca/ca.pem")).json()["receipt"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ca = CertifiedKey::from_pem(
        &std::fs::read_to_string(dir.join("ca/ca.pem")).unwrap(),
        &std::fs::read_to_string(dir.join("ca/ca.key")).unwrap(),
    )
    .unwrap();
    let (signer, _) = AckSigner::generate().unwrap();
    let record = std::fs::read(dir.join("receipt.cbor")).unwrap();
    let ack = Acknowledgement {
        receipt_id: id.clone(),
        record_hash: sha256(&record),
        sequence: Some(1),
        stored_at_ms: Utc::now().timestamp_millis(),
    };
    let evidence = EvidenceFile {
        signed_ack: signer.sign(&ack),
        certificate: issue_certificate(&ca, signer.public_key()).unwrap(),
    };
    let files = vec![
        ("receipt.png".to_owned(), std::fs::read(dir.join("receipt.png")).unwrap()),
        ("record.cbor".to_owned(), record),
        ("evidence.txt".to_owned(), evidence.to_text().unwrap().into_bytes()),
    ];
    Sample { _tmp: tmp, dir, id, files, signer }
}

fn manifest(id: &str, files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut m = format!("ereceipt retrieval bundle for {id}\r\nmade now\r\nSHA-256 of each file:\r\n");
    for (name, bytes) in files {
        m.push_str(&format!("{}  {name}\r\n", hex::encode(sha256(bytes))));
    }
    m.into_bytes()
}

/// Writes `files`, then MANIFEST.txt and MANIFEST.sig, into `ID/` of a ZIP.
fn write_zip(path: &Path, id: &str, files: &[(String, Vec<u8>)], manifest: &[u8], signer: &AckSigner) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let sig = signature_file(signer, manifest).into_bytes();
    let last = [("MANIFEST.txt".to_owned(), manifest.to_vec()), ("MANIFEST.sig".to_owned(), sig)];
    for (name, bytes) in files.iter().chain(&last) {
        zip.start_file(format!("{id}/{name}"), options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
}

fn verify(s: &Sample, zip: &Path) -> crate::helpers::Run {
    ereceipt([
        "bundle".as_ref(),
        "verify".as_ref(),
        zip.as_os_str(),
        "--trust".as_ref(),
        s.dir.join("ca/ca.pem").as_os_str(),
    ])
}

#[test]
fn an_intact_bundle_verifies_with_the_ca_certificate_alone() {
    let s = sample();
    let zip = s.dir.join("bundle.zip");
    write_zip(&zip, &s.id, &s.files, &manifest(&s.id, &s.files), &s.signer);
    let run = verify(&s, &zip);
    run.assert_exit(0);
    assert!(run.stdout.contains(&format!("bundle intact: 3 files signed by the platform, receipt {}", s.id)), "{run}");
    assert!(run.stdout.contains("receipt.png: AUTHENTIC"), "{run}");
}

/// The review's attack: another image in the bundle, the manifest recomputed to match it.
#[test]
fn an_edited_bundle_with_a_recomputed_manifest_is_altered() {
    let s = sample();
    let mut files = s.files.clone();
    files[0].1 = files[1].1.clone(); // any other bytes
    let recomputed = manifest(&s.id, &files);
    let zip = s.dir.join("edited.zip");
    // The forger cannot sign: the manifest goes out with the genuine one's signature.
    let genuine = manifest(&s.id, &s.files);
    let mut z = zip::ZipWriter::new(std::fs::File::create(&zip).unwrap());
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, bytes) in files.iter().chain(&[
        ("MANIFEST.txt".to_owned(), recomputed),
        ("MANIFEST.sig".to_owned(), signature_file(&s.signer, &genuine).into_bytes()),
    ]) {
        z.start_file(format!("{}/{name}", s.id), options).unwrap();
        z.write_all(bytes).unwrap();
    }
    z.finish().unwrap();
    let run = verify(&s, &zip);
    run.assert_exit(1);
    assert!(run.stdout.contains("ALTERED: MANIFEST.txt was altered"), "{run}");

    // An edited file under the genuine, signed manifest is named.
    write_zip(&zip, &s.id, &files, &genuine, &s.signer);
    let run = verify(&s, &zip);
    run.assert_exit(1);
    assert!(run.stdout.contains("ALTERED: receipt.png was altered"), "{run}");

    // So is a file slipped in beside the signed ones.
    let mut more = s.files.clone();
    more.push(("statement.txt".to_owned(), b"the cardholder agreed".to_vec()));
    write_zip(&zip, &s.id, &more, &genuine, &s.signer);
    let run = verify(&s, &zip);
    run.assert_exit(1);
    assert!(run.stdout.contains("statement.txt is not in the manifest"), "{run}");
}

#[test]
fn a_bundle_of_another_platform_is_unverifiable_and_a_non_bundle_an_error() {
    let s = sample();
    // Re-made whole by someone with their own CA and key: consistent, but not the trusted CA's.
    let other = create_ca("ereceipt platform CA", Utc::now()).unwrap();
    let (forger, _) = AckSigner::generate().unwrap();
    let mut files = s.files.clone();
    let ack = EvidenceFile::parse(&files[2].1)
        .unwrap()
        .verify(
            &CertifiedKey::from_pem(
                &std::fs::read_to_string(s.dir.join("ca/ca.pem")).unwrap(),
                &std::fs::read_to_string(s.dir.join("ca/ca.key")).unwrap(),
            )
            .unwrap()
            .cert_der,
        )
        .unwrap();
    let forged = EvidenceFile {
        signed_ack: forger.sign(&ack),
        certificate: issue_certificate(&other, forger.public_key()).unwrap(),
    };
    files[2].1 = forged.to_text().unwrap().into_bytes();
    let zip = s.dir.join("other.zip");
    write_zip(&zip, &s.id, &files, &manifest(&s.id, &files), &forger);
    let run = verify(&s, &zip);
    run.assert_exit(2);
    assert!(run.stdout.contains("UNVERIFIABLE: the bundle's evidence is not trusted"), "{run}");

    let not_zip = s.dir.join("receipt.png");
    let run = verify(&s, &not_zip);
    run.assert_error(&["is not a ZIP archive"]);
}

/// A disputed sale's bundle carries its linked receipts (voids, refunds) under `linked/ID/`, each
/// with its own evidence: each is verified and named; one that does not verify decides the exit.
#[test]
fn linked_receipts_in_a_bundle_are_each_verified() {
    let s = sample();
    let mut files = s.files.clone();
    files.push(("lineage.json".to_owned(), b"{}".to_vec()));
    for (name, bytes) in &s.files {
        files.push((format!("linked/{}/{name}", s.id), bytes.clone()));
    }
    let zip = s.dir.join("linked.zip");
    write_zip(&zip, &s.id, &files, &manifest(&s.id, &files), &s.signer);
    let run = verify(&s, &zip);
    run.assert_exit(0);
    assert!(run.stdout.contains(&format!("linked/{}/receipt.png: AUTHENTIC", s.id)), "{run}");

    // The platform signed a bundle whose linked image is not a receipt (the store was damaged):
    // the bundle is intact, the linked receipt is not authentic, and the exit says so.
    let mut damaged = files.clone();
    let png = damaged.iter_mut().find(|(n, _)| n == &format!("linked/{}/receipt.png", s.id)).unwrap();
    png.1 = b"not an image".to_vec();
    write_zip(&zip, &s.id, &damaged, &manifest(&s.id, &damaged), &s.signer);
    let run = verify(&s, &zip);
    assert_ne!(run.code(), 0, "{run}");
    assert!(run.stdout.contains("receipt.png: AUTHENTIC"), "the disputed receipt itself: {run}");
    assert!(run.stdout.contains(&format!("linked/{}/receipt.png: UNVERIFIABLE", s.id)), "{run}");

    // A linked record other than the one its evidence acknowledges is an alteration.
    let mut swapped = files;
    let record = swapped.iter_mut().find(|(n, _)| n == &format!("linked/{}/record.cbor", s.id)).unwrap();
    record.1 = b"another record".to_vec();
    write_zip(&zip, &s.id, &swapped, &manifest(&s.id, &swapped), &s.signer);
    let run = verify(&s, &zip);
    run.assert_exit(1);
    assert!(run.stdout.contains(&format!("linked/{}", s.id)), "{run}");
}
