//! `ereceipt verify`: exit 0 authentic, 1 tampered, 2 unverifiable, 3 for a bad trust anchor;
//! images are altered by hand at the PNG chunk level.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::helpers::{ereceipt, init_ca, verify_json, Run, Setup};
use crate::pngfile::{self, Chunk};

/// Checks the documented shape of `--json` and returns the object.
fn verdict(run: &Run, code: i32, verdict: &str) -> Value {
    run.assert_exit(code);
    let v = run.json();
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "feature",
            "judged_at",
            "reason",
            "receipt",
            "regions",
            "signer",
            "threshold",
            "time_basis",
            "verdict",
            "warnings"
        ],
        "{run}"
    );
    assert_eq!(v["verdict"], verdict, "{run}");
    assert!(!v["reason"].as_str().unwrap().is_empty(), "a verdict needs a reason:\n{run}");
    assert_eq!(run.stdout.lines().count(), 1, "--json prints one line:\n{run}");
    v
}

fn reason(v: &Value) -> &str {
    v["reason"].as_str().unwrap()
}

/// Writes a copy of the receipt with its chunks passed through `edit`.
fn altered(setup: &Setup, receipt: &Path, name: &str, edit: impl Fn(Chunk) -> Option<Chunk>) -> PathBuf {
    let chunks: Vec<Chunk> = pngfile::chunks(&fs::read(receipt).unwrap()).into_iter().filter_map(edit).collect();
    let path = setup.out.join(name);
    fs::write(&path, pngfile::build(&chunks)).unwrap();
    path
}

fn text_chunk(receipt: &Path) -> Chunk {
    pngfile::chunks(&fs::read(receipt).unwrap()).into_iter().find(|c| c.is(b"tEXt")).expect("receipt has a tEXt chunk")
}

#[test]
fn verify_prints_a_readable_verdict() {
    let setup = Setup::new();
    let png = setup.receipt("r");
    let run = ereceipt([OsStr::new("verify"), png.as_os_str(), "--trust".as_ref(), setup.trust().as_os_str()]);
    run.assert_exit(0);
    assert!(run.stdout.starts_with("AUTHENTIC: "), "{run}");
    assert!(run.stdout.contains("POS00001-000001-000123"), "{run}");
}

#[test]
fn receipt_without_its_text_chunk_verifies_from_the_qr_code() {
    // Messengers and screenshots drop PNG text chunks; the QR code in the pixels remains.
    let setup = Setup::new();
    let png = setup.receipt("r");
    let stripped = altered(&setup, &png, "stripped.png", |c| (!c.is(b"tEXt")).then_some(c));
    let v = verdict(&setup.verify_json(&stripped), 0, "authentic");
    assert_eq!(v["receipt"]["id"], "POS00001-000001-000123");
}

#[test]
fn receipt_carrying_another_receipts_data_is_tampered() {
    // Same terminal, a second sale of 999.00: its signed data pasted into the first image.
    let setup = Setup::new();
    let first = setup.receipt("first");
    let mut tx = crate::helpers::transaction();
    tx["serial"] = "000124".into();
    tx["amount_minor"] = 99_900.into();
    let (run, second) = setup.create("second", &tx, &crate::helpers::signature());
    run.assert_ok();
    let pasted = text_chunk(&second);
    let forged = altered(&setup, &first, "forged.png", |c| Some(if c.is(b"tEXt") { pasted.clone() } else { c }));
    let v = verdict(&setup.verify_json(&forged), 1, "tampered");
    assert!(reason(&v).contains("watermark"), "{v}");
}

#[test]
fn receipt_with_ink_and_paper_swapped_is_tampered() {
    let setup = Setup::new();
    let png = setup.receipt("r");
    let inverted = altered(&setup, &png, "inverted.png", |c| {
        Some(if c.is(b"PLTE") {
            let mut entries: Vec<&[u8]> = c.data.chunks(3).collect();
            entries.reverse();
            Chunk::new(b"PLTE", entries.concat())
        } else {
            c
        })
    });
    verdict(&setup.verify_json(&inverted), 1, "tampered");
}

#[test]
fn receipt_with_its_watermark_removed_is_not_authentic() {
    // The watermark is the one grey level between ink and paper; paint it white.
    let setup = Setup::new();
    let png = setup.receipt("r");
    let bleached = altered(&setup, &png, "bleached.png", |c| {
        Some(if c.is(b"PLTE") {
            let mut data = c.data.clone();
            for entry in data.chunks_mut(3) {
                if entry[0] != 0 {
                    entry.fill(255);
                }
            }
            Chunk::new(b"PLTE", data)
        } else {
            c
        })
    });
    let v = verdict(&setup.verify_json(&bleached), 2, "unverifiable");
    assert!(reason(&v).contains("no watermark"), "{v}");
}

#[test]
fn blank_image_carrying_genuine_receipt_data_is_not_authentic() {
    let setup = Setup::new();
    let png = setup.receipt("r");
    let (w, h) = pngfile::size(&fs::read(&png).unwrap());
    let blank = setup.out.join("blank.png");
    fs::write(&blank, pngfile::white_image(w, h, &[text_chunk(&png)])).unwrap();
    let v = verdict(&setup.verify_json(&blank), 2, "unverifiable");
    assert!(reason(&v).contains("no watermark"), "{v}");
}

#[test]
fn image_of_another_width_is_unverifiable() {
    let setup = Setup::new();
    let png = setup.receipt("r");
    let (_, h) = pngfile::size(&fs::read(&png).unwrap());
    let resized = setup.out.join("resized.png");
    fs::write(&resized, pngfile::white_image(500, h, &[text_chunk(&png)])).unwrap();
    let v = verdict(&setup.verify_json(&resized), 2, "unverifiable");
    assert!(reason(&v).contains("500 px wide"), "{v}");
    assert!(reason(&v).contains("576 or 384"), "{v}");
}

#[test]
fn image_of_a_cropped_height_is_unverifiable() {
    let setup = Setup::new();
    let png = setup.receipt("r");
    let (w, h) = pngfile::size(&fs::read(&png).unwrap());
    let cropped = setup.out.join("cropped.png");
    fs::write(&cropped, pngfile::white_image(w, h - 1, &[text_chunk(&png)])).unwrap();
    let v = verdict(&setup.verify_json(&cropped), 2, "unverifiable");
    assert!(reason(&v).contains(&format!("height {}", h - 1)), "{v}");
}

#[test]
fn truncated_png_is_unverifiable() {
    let setup = Setup::new();
    let png = setup.receipt("r");
    let bytes = fs::read(&png).unwrap();
    let truncated = setup.out.join("truncated.png");
    fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let v = verdict(&setup.verify_json(&truncated), 2, "unverifiable");
    assert!(reason(&v).contains("corrupt or truncated"), "{v}");
    assert!(v["receipt"].is_null() && v["signer"].is_null(), "{v}");
}

#[test]
fn corrupt_png_is_unverifiable() {
    let setup = Setup::new();
    let png = setup.receipt("r");
    let mut bytes = fs::read(&png).unwrap();
    let middle = bytes.len() / 2;
    for b in &mut bytes[middle..middle + 64] {
        *b ^= 0x55;
    }
    let corrupt = setup.out.join("corrupt.png");
    fs::write(&corrupt, &bytes).unwrap();
    let v = verdict(&setup.verify_json(&corrupt), 2, "unverifiable");
    assert!(reason(&v).contains("corrupt"), "{v}");
}

#[test]
fn file_that_is_not_an_image_is_unverifiable() {
    let setup = Setup::new();
    let text = setup.input("receipt.png", "this is not a picture");
    let v = verdict(&setup.verify_json(&text), 2, "unverifiable");
    assert!(reason(&v).contains("not a PNG or JPEG"), "{v}");
    let missing = setup.out.join("missing.png");
    let v = verdict(&setup.verify_json(&missing), 2, "unverifiable");
    assert!(reason(&v).contains("missing.png"), "{v}");
}

#[test]
fn receipt_checked_against_another_ca_names_the_untrusted_signer() {
    let setup = Setup::new();
    let png = setup.receipt("r");
    let other = init_ca(&setup.tmp.path().join("other-ca"));
    let v = verdict(&verify_json(&png, &other.join("ca.pem")), 2, "unverifiable");
    assert!(reason(&v).contains("untrusted signer"), "{v}");
    assert!(reason(&v).contains("POS00001"), "the reason should name the signer: {v}");
    assert!(v["signer"]["subject"].as_str().unwrap().contains("POS00001"), "{v}");
}

#[test]
fn terminal_certificate_as_trust_anchor_does_not_make_a_receipt_authentic() {
    let setup = Setup::new();
    let png = setup.receipt("r");
    let v = verdict(&verify_json(&png, &setup.terminal.join("terminal.pem")), 2, "unverifiable");
    assert!(reason(&v).contains("untrusted signer"), "{v}");
}

#[test]
fn trust_file_that_is_not_a_certificate_is_an_error() {
    let setup = Setup::new();
    let png = setup.receipt("r");
    let not_pem = setup.input("trust.txt", "definitely not a certificate");
    verify_json(&png, &not_pem).assert_error(&["trust anchor", "trust.txt", "CERTIFICATE"]);
    verify_json(&png, &setup.ca.join("ca.key")).assert_error(&["trust anchor", "ca.key", "CERTIFICATE"]);
    verify_json(&png, &setup.out.join("none.pem")).assert_error(&["none.pem"]);
}

#[test]

fn verify_into_a_closed_pipe_does_not_panic() {
    let setup = Setup::new();
    let png = setup.receipt("r");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ereceipt"))
        .args([OsStr::new("verify"), png.as_os_str(), "--trust".as_ref(), setup.trust().as_os_str()])
        .env_remove("RUST_BACKTRACE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Close the reading end before the verifier has anything to print, as `| head -0` would.
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_ne!(output.status.code(), Some(101), "{stderr}");
}
