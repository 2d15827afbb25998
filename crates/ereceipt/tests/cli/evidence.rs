//! `ereceipt verify --evidence FILE --crl FILE`: the platform's evidence dates a receipt, the
//! CRL names revoked signers, and a signer revoked after the receipt's own (claimed) time is
//! UNCONFIRMED (exit 4) unless the evidence shows the platform stored it before.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};

use chrono::{Duration, Utc};
use ereceipt_core::enrolment::{crl, Revoked};
use ereceipt_core::evidence::{issue_certificate, EvidenceFile};
use ereceipt_core::identity::{create_ca, pem_decode, CertifiedKey, PosCertificate};
use ereceipt_core::upload::{AckSigner, Acknowledgement};

use crate::helpers::{ereceipt, Run, Setup};

fn ca_of(setup: &Setup) -> CertifiedKey {
    let read = |f: &str| fs::read_to_string(setup.ca.join(f)).unwrap();
    CertifiedKey::from_pem(&read("ca.pem"), &read("ca.key")).unwrap()
}

fn terminal_serial(setup: &Setup) -> String {
    let pem = fs::read_to_string(setup.terminal.join("terminal.pem")).unwrap();
    PosCertificate::parse(&pem_decode(&pem, "CERTIFICATE").unwrap()).unwrap().serial
}

/// The CA's CRL revoking `serial` at `revoked_at`, as the platform's `/crl` serves it (DER).
fn write_crl(setup: &Setup, ca: &CertifiedKey, serial: &str, revoked_at: chrono::DateTime<Utc>, name: &str) -> PathBuf {
    let der = crl(ca, &[Revoked { serial_hex: serial.into(), revoked_at }], 1, Utc::now(), 24).unwrap();
    let path = setup.inputs.join(name);
    fs::write(&path, der).unwrap();
    path
}

/// The platform's evidence that it stored receipt `id` (record hash `hash`) at `at`.
fn write_evidence(
    setup: &Setup,
    ca: &CertifiedKey,
    signer: &AckSigner,
    v: &serde_json::Value,
    at: i64,
    name: &str,
) -> PathBuf {
    let ack = Acknowledgement {
        receipt_id: v["receipt"]["id"].as_str().unwrap().into(),
        record_hash: hex::decode(v["receipt"]["record_hash"].as_str().unwrap()).unwrap().try_into().unwrap(),
        sequence: None,
        stored_at_ms: at,
    };
    let file = EvidenceFile {
        signed_ack: signer.sign(&ack),
        certificate: issue_certificate(ca, signer.public_key()).unwrap(),
    };
    let path = setup.inputs.join(name);
    fs::write(&path, file.to_text().unwrap()).unwrap();
    path
}

fn verify(png: &Path, trust: &Path, extra: &[(&str, &Path)], json: bool) -> Run {
    let mut args: Vec<&OsStr> = vec![OsStr::new("verify"), png.as_os_str(), "--trust".as_ref(), trust.as_os_str()];
    for (flag, path) in extra {
        args.push(OsStr::new(flag));
        args.push(path.as_os_str());
    }
    if json {
        args.push("--json".as_ref());
    }
    ereceipt(args)
}

#[test]
fn a_signer_revoked_after_the_claimed_time_needs_the_platforms_evidence() {
    let setup = Setup::new();
    let png = setup.receipt("r");
    let trust = setup.trust();
    let ca = ca_of(&setup);
    let serial = terminal_serial(&setup);
    let plain = setup.verify_json(&png);
    plain.assert_exit(0);
    let v = plain.json();
    assert_eq!(v["time_basis"], "terminal_claim", "{plain}");
    assert!(
        v["warnings"].as_array().unwrap().iter().any(|w| w.as_str().unwrap().contains("terminal's own claim")),
        "{plain}"
    );

    // Revoked an hour after the receipt's claimed time: without evidence, a verdict of its own.
    let now = Utc::now();
    let crl = write_crl(&setup, &ca, &serial, now + Duration::hours(1), "platform.crl");
    let run = verify(&png, &trust, &[("--crl", &crl)], false);
    run.assert_exit(4);
    assert!(run.stdout.starts_with("UNCONFIRMED: "), "{run}");
    assert!(run.stdout.contains(&serial) && run.stdout.contains("revoked at"), "{run}");
    assert!(run.stdout.contains("is the terminal's claim"), "{run}");
    let run = verify(&png, &trust, &[("--crl", &crl)], true);
    run.assert_exit(4);
    assert_eq!(run.json()["verdict"], "unconfirmed", "{run}");

    // The platform's evidence that it stored the receipt a minute later, before the revocation.
    let (ack_key, _) = AckSigner::generate().unwrap();
    let before =
        write_evidence(&setup, &ca, &ack_key, &v, (now + Duration::minutes(1)).timestamp_millis(), "before.txt");
    let run = verify(&png, &trust, &[("--crl", &crl), ("--evidence", &before)], false);
    run.assert_exit(0);
    assert!(run.stdout.starts_with("AUTHENTIC: "), "{run}");
    assert!(run.stdout.contains("time: stored by the platform at"), "{run}");
    let run = verify(&png, &trust, &[("--crl", &crl), ("--evidence", &before)], true);
    assert_eq!(run.json()["time_basis"], "platform_evidence", "{run}");

    // Stored only after the revocation: not authentic.
    let after = write_evidence(&setup, &ca, &ack_key, &v, (now + Duration::hours(2)).timestamp_millis(), "after.txt");
    let run = verify(&png, &trust, &[("--crl", &crl), ("--evidence", &after)], true);
    run.assert_exit(2);
    assert!(run.json()["reason"].as_str().unwrap().contains("before the platform stored"), "{run}");

    // Evidence certified by another CA is not used, and says so.
    let other = create_ca("Someone else's CA", Utc::now()).unwrap();
    let forged =
        write_evidence(&setup, &other, &ack_key, &v, (now + Duration::minutes(1)).timestamp_millis(), "forged.txt");
    let run = verify(&png, &trust, &[("--crl", &crl), ("--evidence", &forged)], true);
    run.assert_exit(4);
    let warnings = run.json()["warnings"].to_string();
    assert!(warnings.contains("was not used"), "{run}");

    // A CRL the CA did not sign cannot be used: the command fails (3).
    let foreign = write_crl(&setup, &other, &serial, now, "foreign.crl");
    verify(&png, &trust, &[("--crl", &foreign)], false)
        .assert_error(&["revocation list", "not signed by the trusted CA"]);
}
