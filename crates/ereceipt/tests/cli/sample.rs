//! `ereceipt sample`: the quick start must work on a fresh machine and produce a receipt that
//! verifies.

use std::fs;

use serde_json::Value;
use tempfile::TempDir;

use crate::helpers::{assert_masked, assert_no_card_data, ereceipt, verify_json};

#[test]
fn sample_makes_a_receipt_that_verifies_as_authentic() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("quick-start");
    let run = ereceipt(["sample".as_ref(), "--dir".as_ref(), dir.as_os_str()]);
    run.assert_ok();

    let receipt = dir.join("receipt.png");
    let trust = dir.join("ca").join("ca.pem");
    for path in [&receipt, &trust, &dir.join("receipt.cbor")] {
        assert!(path.is_file(), "{} missing", path.display());
    }
    assert!(run.stdout.contains(&receipt.display().to_string()), "stdout should say where the receipt is:\n{run}");
    assert!(run.stdout.contains(&trust.display().to_string()), "stdout should say where the CA is:\n{run}");
    assert!(run.stdout.contains("AUTHENTIC"), "{run}");

    let tx: Value = serde_json::from_str(&fs::read_to_string(dir.join("transaction.json")).unwrap()).unwrap();
    let track2 = tx["card"]["track2"].as_str().unwrap();
    let pan = &track2[1..track2.find('=').unwrap()];

    let verified = verify_json(&receipt, &trust);
    verified.assert_exit(0);
    let v = verified.json();
    assert_eq!(v["verdict"], "authentic", "{verified}");
    let r = &v["receipt"];
    let id = r["id"].as_str().unwrap();
    assert!(
        run.stdout.contains(&format!("receipt {id}")),
        "the id printed by sample should be the verified one:\n{run}"
    );
    assert_eq!(r["amount_minor"], tx["amount_minor"]);
    assert_eq!(r["currency"], "CNY");
    assert_masked(r["pan_masked"].as_str().unwrap(), pan);

    let outputs = [receipt.clone(), dir.join("receipt.cbor")];
    let middle = &pan[6..pan.len() - 4];
    assert_no_card_data(&run, &outputs, &[pan, middle, &track2[track2.find('=').unwrap()..]]);
    assert_no_card_data(&verified, &[], &[pan, middle]);
}

#[test]
fn sample_refuses_a_directory_that_is_not_empty() {
    let tmp = TempDir::new().unwrap();
    let precious = tmp.path().join("notes.txt");
    fs::write(&precious, "keep me").unwrap();
    let run = ereceipt(["sample".as_ref(), "--dir".as_ref(), tmp.path().as_os_str()]);
    run.assert_error(&["not empty", "--dir"]);
    assert_eq!(fs::read_to_string(&precious).unwrap(), "keep me");
    assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1, "sample wrote into a non-empty directory");
}
