//! `ereceipt receipt create` and `receipt show`: receipts at both slip widths, and every kind of
//! bad input refused with a one-line message that never repeats card data.

use std::ffi::OsStr;
use std::fs;
use std::path::Path;

use serde_json::{json, Value};

use crate::helpers::{
    assert_masked, assert_no_card_data, ereceipt, files_under, signature, transaction, transaction_with_track2, Run,
    Setup, CARD_SECRETS, PAN,
};
use crate::pngfile;

fn show(image: &Path, json: bool) -> Run {
    let mut args = vec![OsStr::new("receipt"), "show".as_ref(), image.as_os_str()];
    if json {
        args.push("--json".as_ref());
    }
    ereceipt(args)
}

fn create_show_verify(width: u32) {
    let setup = Setup::with(width, true);
    let (run, png) = setup.create("r", &transaction(), &signature());
    run.assert_ok();
    assert_eq!(run.stdout.lines().next(), Some("receipt POS00001-000001-000123"), "{run}");
    let bytes = fs::read(&png).unwrap();
    assert_eq!(pngfile::size(&bytes).0, width, "slip width");
    assert!(png.with_extension("cbor").is_file(), "the record R.cbor was not written");

    let shown = show(&png, false);
    shown.assert_ok();
    for expected in ["POS00001-000001-000123", "深圳湾咖啡", "898440358120001", "128.50", "**** **** **** 3446"] {
        assert!(shown.stdout.contains(expected), "show should print {expected:?}:\n{shown}");
    }
    assert!(shown.stdout.contains("ereceipt verify"), "show should say it is not a verification:\n{shown}");
    let shown_json = show(&png, true);
    shown_json.assert_ok();
    let s = shown_json.json();
    assert_eq!(s["id"], "POS00001-000001-000123");
    assert_eq!(s["amount_minor"], 12850);
    assert_eq!(s["currency"], "CNY");
    assert_eq!(s["rrn"], "332914567890");
    assert_masked(s["pan_masked"].as_str().unwrap(), PAN);

    let verified = setup.verify_json(&png);
    verified.assert_exit(0);
    let v = verified.json();
    assert_eq!(v["verdict"], "authentic", "{verified}");
    assert_eq!(v["receipt"]["id"], "POS00001-000001-000123");
    assert_eq!(v["receipt"]["amount_minor"], 12850);
    assert_masked(v["receipt"]["pan_masked"].as_str().unwrap(), PAN);
    assert!(v["signer"]["subject"].as_str().unwrap().contains("POS00001"), "{verified}");

    for r in [&run, &shown, &shown_json, &verified] {
        assert_no_card_data(r, &files_under(&setup.out), &CARD_SECRETS);
    }
}

#[test]
fn receipt_at_576_px_is_created_shown_and_verified() {
    create_show_verify(576);
}

#[test]

fn receipt_at_384_px_is_created_shown_and_verified() {
    create_show_verify(384);
}

/// A refund's receipt names its original: `receipt show` prints it on one line with the amount
/// given back, `verify` says the type and the original, in text and JSON.
#[test]
fn a_refund_receipt_shows_and_verifies_with_its_original() {
    let setup = Setup::with(576, true);
    let mut tx = transaction();
    tx["type"] = json!("REFUND");
    tx["original"] = json!({"rrn": "332914500042", "date": "2026-11-24"});
    let (run, png) = setup.create("refund", &tx, &signature());
    run.assert_ok();
    let shown = show(&png, false);
    shown.assert_ok();
    for line in ["type         REFUND 退货", "original     RRN 332914500042 · 2026-11-24", "amount       CNY -128.50"]
    {
        assert!(shown.stdout.lines().any(|l| l == line), "show should print {line:?}:\n{shown}");
    }
    assert_eq!(show(&png, true).json()["original"]["rrn"], "332914500042");
    let verified = ereceipt([OsStr::new("verify"), png.as_os_str(), "--trust".as_ref(), setup.trust().as_os_str()]);
    verified.assert_exit(0);
    for line in ["type REFUND", "original RRN 332914500042 · 2026-11-24"] {
        assert!(verified.stdout.lines().any(|l| l == line), "verify should print {line:?}:\n{verified}");
    }
    // A refund that does not name the original's RRN is refused, naming it.
    tx["original"] = json!({"date": "2026-11-24"});
    refused(&setup, &tx, &signature(), &["original.rrn", "REFUND"]);
}

/// The run must be refused with `fragments` in its one-line message, write no receipt, and
/// leak no card data anywhere.
fn refused(setup: &Setup, tx: &Value, sig: &Value, fragments: &[&str]) -> Run {
    refused_raw(setup, &tx.to_string(), &sig.to_string(), fragments)
}

fn refused_raw(setup: &Setup, tx: &str, sig: &str, fragments: &[&str]) -> Run {
    let (run, png) = setup.create_raw("refused", tx, sig);
    run.assert_error(fragments);
    assert!(!png.exists(), "a refused receipt was written");
    assert!(!png.with_extension("cbor").exists(), "a refused record was written");
    assert_no_card_data(&run, &files_under(&setup.out), &CARD_SECRETS);
    assert_no_card_data(&run, &files_under(&setup.terminal), &CARD_SECRETS);
    run
}

#[test]
fn malformed_track2_is_refused() {
    let setup = Setup::new();
    let no_separator = transaction_with_track2(";622202020011223344629121011234567890?");
    refused(&setup, &no_separator, &signature(), &["malformed track 2", "separator"]);
    let no_sentinel = transaction_with_track2(";6222020200112233446=29121011234567890");
    refused(&setup, &no_sentinel, &signature(), &["malformed track 2", "sentinel"]);
}

#[test]
fn card_failing_luhn_is_refused() {
    let setup = Setup::new();
    let tx = transaction_with_track2(";6222020200112233447=29121011234567890?");
    let run = refused(&setup, &tx, &signature(), &["Luhn"]);
    assert_no_card_data(&run, &[], &["6222020200112233447", "020011223"]);
}

#[test]
fn expired_card_is_refused() {
    let setup = Setup::new();
    let tx = transaction_with_track2(";6222020200112233446=20011011234567890?");
    refused(&setup, &tx, &signature(), &["expired", "2020-01"]);
}

#[test]
fn swiped_chip_card_is_refused() {
    let setup = Setup::new();
    let tx = transaction_with_track2(";6222020200112233446=29122011234567890?");
    refused(&setup, &tx, &signature(), &["chip"]);
}

#[test]
fn clear_track_on_a_production_terminal_is_refused() {
    let setup = Setup::with(576, false);
    refused(&setup, &transaction(), &signature(), &["test-card mode", "encrypting reader"]);
}

#[test]
fn card_data_in_an_unexpected_shape_is_not_repeated() {
    let setup = Setup::new();
    let mut tx = transaction();
    tx["card"] = json!({ "pan": PAN });
    refused(&setup, &tx, &signature(), &["card", "unknown key"]);
    tx["card"] = json!(PAN);
    refused(&setup, &tx, &signature(), &["card", "JSON object"]);
    tx["card"] = json!({ "track2": 6_222_020_200_112_233_446u64 });
    refused(&setup, &tx, &signature(), &["card", "string"]);
}

#[test]
fn empty_signature_is_refused() {
    let setup = Setup::new();
    refused(&setup, &transaction(), &json!([]), &["signature", "No signature"]);
}

#[test]
fn single_dot_signature_is_refused() {
    let setup = Setup::new();
    let dot =
        json!([{"penColor": "black", "points": [{"x": 10, "y": 20, "time": 1_700_000_000_000u64, "pressure": 0.5}]}]);
    refused(&setup, &transaction(), &dot, &["signature", "dot"]);
}

#[test]
fn signature_that_is_not_json_is_refused() {
    let setup = Setup::new();
    let run = refused_raw(&setup, &transaction().to_string(), "not json", &["signature JSON"]);
    assert!(run.stderr.contains("refused.sig.json"), "the error should name the file:\n{run}");
}

#[test]
fn transaction_with_a_missing_field_is_refused_naming_it() {
    let setup = Setup::new();
    for field in ["rrn", "amount_minor", "card", "time"] {
        let mut tx = transaction();
        tx.as_object_mut().unwrap().remove(field);
        let run = refused(&setup, &tx, &signature(), &["missing field", field]);
        assert!(run.stderr.contains("refused.tx.json"), "the error should name the file:\n{run}");
    }
}

#[test]
fn transaction_with_a_malformed_field_is_refused_naming_it() {
    let setup = Setup::new();
    let cases: [(&str, Value, &str); 6] = [
        ("amount_minor", json!(0), "amount_minor"),
        ("currency", json!("XYZ"), "currency"),
        ("time", json!("yesterday"), "time"),
        ("time", json!("2026-11-25T14:03:11"), "time"),
        ("rrn", json!("33291456789"), "rrn"),
        ("type", json!("STEAL"), "type"),
    ];
    for (field, value, named) in cases {
        let mut tx = transaction();
        tx[field] = value;
        refused(&setup, &tx, &signature(), &[named]);
    }
}

#[test]
fn transaction_with_an_unknown_field_is_refused_naming_it() {
    let setup = Setup::new();
    let mut tx = transaction();
    tx["tip"] = json!(500);
    refused(&setup, &tx, &signature(), &["unknown field", "tip"]);
}

#[test]
fn transaction_that_is_not_json_is_refused() {
    let setup = Setup::new();
    refused_raw(&setup, r#"{"serial":"0001"#, &signature().to_string(), &["transaction JSON"]);
}

#[test]
fn errors_say_each_cause_once() {
    let setup = Setup::new();
    let luhn = transaction_with_track2(";6222020200112233447=29121011234567890?");
    let run = refused(&setup, &luhn, &signature(), &["Luhn"]);
    assert_eq!(run.stderr.matches("Luhn").count(), 1, "{run}");
    let mut zero = transaction();
    zero["amount_minor"] = json!(0);
    let run = refused(&setup, &zero, &signature(), &["amount_minor"]);
    assert_eq!(run.stderr.matches("amount_minor").count(), 1, "{run}");
    let run = refused(&setup, &transaction(), &json!([]), &["No signature"]);
    assert_eq!(run.stderr.matches("No signature").count(), 1, "{run}");
}

#[test]

fn bad_time_names_the_field_not_the_value() {
    let setup = Setup::new();
    let mut tx = transaction();
    tx["time"] = json!("yesterday");
    refused(&setup, &tx, &signature(), &["time is not valid"]);
}

#[test]

fn sale_outside_the_certificate_validity_is_refused() {
    let setup = Setup::new();
    for time in ["2020-01-01T10:00:00+08:00", "2099-01-01T10:00:00+08:00"] {
        let mut tx = transaction();
        tx["time"] = json!(time);
        tx["card"] = json!({"track2": ";6222020200112233446=99121011234567890?"});
        refused(&setup, &tx, &signature(), &["certificate"]);
    }
}

#[test]
fn show_refuses_an_image_that_is_not_a_receipt() {
    let setup = Setup::new();
    let text = setup.input("notes.txt", "hello");
    show(&text, false).assert_error(&["notes.txt", "not a PNG or JPEG"]);
    let png = setup.receipt("r");
    let bytes = fs::read(&png).unwrap();
    let truncated = setup.out.join("truncated.png");
    fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    show(&truncated, true).assert_error(&["truncated.png", "corrupt or truncated"]);
}
