//! `ereceipt ca init` and `ereceipt ca issue`: the offline CA tool.

use std::ffi::OsStr;
use std::fs;
use std::path::Path;

use tempfile::TempDir;

use crate::helpers::{ereceipt, init_ca, issue_terminal, Run};

#[cfg(unix)]
fn assert_owner_only(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{} should be readable by its owner only, is {mode:o}", path.display());
}

#[cfg(not(unix))]
fn assert_owner_only(_: &Path) {}

fn ca_init(dir: &Path) -> Run {
    ereceipt([OsStr::new("ca"), "init".as_ref(), "--dir".as_ref(), dir.as_os_str()])
}

#[test]
fn ca_init_writes_a_certificate_and_an_owner_only_key() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("ca");
    let run = ca_init(&dir);
    run.assert_ok();
    let cert = fs::read_to_string(dir.join("ca.pem")).unwrap();
    assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"), "{cert}");
    assert!(fs::read_to_string(dir.join("ca.key")).unwrap().contains("PRIVATE KEY"));
    assert_owner_only(&dir.join("ca.key"));
    assert!(run.stdout.contains("SHA-256 fingerprint"), "{run}");
}

#[test]
fn ca_init_refuses_an_existing_ca_and_keeps_its_key() {
    let tmp = TempDir::new().unwrap();
    let dir = init_ca(&tmp.path().join("ca"));
    let key = fs::read(dir.join("ca.key")).unwrap();
    let cert = fs::read(dir.join("ca.pem")).unwrap();
    ca_init(&dir).assert_error(&["ca.key", "already exist"]);
    assert_eq!(fs::read(dir.join("ca.key")).unwrap(), key, "the CA key was changed");
    assert_eq!(fs::read(dir.join("ca.pem")).unwrap(), cert, "the CA certificate was changed");
}

#[test]

fn ca_init_over_a_stray_certificate_writes_nothing() {
    let tmp = TempDir::new().unwrap();
    let other = init_ca(&tmp.path().join("other"));
    let dir = tmp.path().join("ca");
    fs::create_dir(&dir).unwrap();
    fs::copy(other.join("ca.pem"), dir.join("ca.pem")).unwrap();
    ca_init(&dir).assert_error(&["ca.pem", "already exist"]);
    assert!(!dir.join("ca.key").exists(), "a refused ca init left a key that does not match ca.pem");
}

#[test]
fn ca_issue_writes_a_terminal_directory() {
    let tmp = TempDir::new().unwrap();
    let ca = init_ca(&tmp.path().join("ca"));
    let tdir = tmp.path().join("terminal");
    let run = issue_terminal(&ca, &tdir, 384, true);
    run.assert_ok();
    for name in ["terminal.pem", "terminal.key", "ca.pem", "terminal.toml"] {
        assert!(tdir.join(name).is_file(), "{name} missing");
    }
    assert_owner_only(&tdir.join("terminal.key"));
    assert_eq!(fs::read(tdir.join("ca.pem")).unwrap(), fs::read(ca.join("ca.pem")).unwrap());
    let settings = fs::read_to_string(tdir.join("terminal.toml")).unwrap();
    // The mode is the certificate's, not a setting (M8).
    assert!(!settings.lines().any(|l| l.trim_start().starts_with("test_cards")), "{settings}");
    assert!(settings.contains("slip_width = 384"), "{settings}");
    assert!(run.stdout.contains("POS00001") && run.stdout.contains("898440358120001"), "{run}");
    assert!(run.stdout.contains("test terminal: test cards accepted"), "{run}");
}

#[test]
fn ca_issue_without_test_cards_says_nothing_of_test_cards() {
    let tmp = TempDir::new().unwrap();
    let ca = init_ca(&tmp.path().join("ca"));
    let tdir = tmp.path().join("terminal");
    let run = issue_terminal(&ca, &tdir, 576, false);
    run.assert_ok();
    assert!(!run.stdout.contains("test cards"), "{run}");
    assert!(run.stdout.contains("production terminal"), "{run}");
    let settings = fs::read_to_string(tdir.join("terminal.toml")).unwrap();
    assert!(!settings.lines().any(|l| l.trim_start().starts_with("test_cards")), "{settings}");
}

/// `terminal ui --data-dir TDIR` on a loopback port of its own.
fn terminal_ui(tdir: &Path) -> Run {
    ereceipt([
        OsStr::new("terminal"),
        "ui".as_ref(),
        "--data-dir".as_ref(),
        tdir.as_os_str(),
        "--listen".as_ref(),
        "127.0.0.1:0".as_ref(),
    ])
}

/// M8: the touch UI's authoriser is a simulator, so it does not start on a production terminal
/// (its certificate says so), with a message saying why and what to do; `test_cards = true`
/// edited into its settings is refused by name. A test terminal gets past that check (and then
/// stops here only because it never enrolled with a platform).
#[test]
fn the_touch_ui_refuses_to_start_on_a_production_terminal() {
    let tmp = TempDir::new().unwrap();
    let ca = init_ca(&tmp.path().join("ca"));
    let prod = tmp.path().join("production");
    issue_terminal(&ca, &prod, 576, false).assert_ok();
    let run = terminal_ui(&prod);
    run.assert_exit(3);
    run.assert_error(&["POS00001 is a production terminal", "simulator", "[host] table of terminal.toml", "--test"]);
    fs::write(prod.join("terminal.toml"), "test_cards = true\n").unwrap();
    terminal_ui(&prod).assert_exit(3).assert_error(&["terminal.toml", "test_cards = true", "production terminal"]);

    let test = tmp.path().join("test");
    issue_terminal(&ca, &test, 576, true).assert_ok();
    let run = terminal_ui(&test);
    run.assert_exit(3);
    assert!(!run.stderr.contains("production terminal"), "{run}");
}

/// `ca issue` with one option replaced; the run must be refused and create no directory.
fn issue_refused(flag: &str, value: &str, fragments: &[&str]) {
    let tmp = TempDir::new().unwrap();
    let ca = init_ca(&tmp.path().join("ca"));
    let tdir = tmp.path().join("terminal");
    let mut options = vec![
        ("--terminal-id", "POS00001"),
        ("--merchant-id", "898440358120001"),
        ("--merchant-name", "深圳湾咖啡"),
        ("--location", "深圳市南山区科技园; geo:22.5431,113.9365"),
        ("--width", "576"),
    ];
    for option in &mut options {
        if option.0 == flag {
            option.1 = value;
        }
    }
    let mut args: Vec<&OsStr> = vec!["ca".as_ref(), "issue".as_ref(), "--ca".as_ref(), ca.as_os_str()];
    for (f, v) in &options {
        args.push(f.as_ref());
        args.push(v.as_ref());
    }
    args.extend([OsStr::new("--out"), tdir.as_os_str()]);
    ereceipt(args).assert_error(fragments);
    assert!(!tdir.exists(), "a refused ca issue created {}", tdir.display());
}

#[test]
fn ca_issue_refuses_a_bad_terminal_id() {
    issue_refused("--terminal-id", "POS0001", &["terminal id", "8 letters or digits"]);
    issue_refused("--terminal-id", "POS-0001", &["terminal id"]);
}

#[test]
fn ca_issue_refuses_a_bad_merchant_id() {
    issue_refused("--merchant-id", "89844035812000", &["merchant id", "15 digits"]);
    issue_refused("--merchant-id", "89844035812000A", &["merchant id"]);
}

#[test]
fn ca_issue_refuses_a_bad_merchant_name_location_or_width() {
    issue_refused("--merchant-name", "", &["merchant name"]);
    issue_refused("--location", "深圳市; geo:100,200", &["location", "geo:"]);
    issue_refused("--width", "500", &["slip width 500", "576", "384"]);
}

#[test]
fn ca_issue_refuses_a_missing_ca() {
    let tmp = TempDir::new().unwrap();
    let tdir = tmp.path().join("terminal");
    issue_terminal(&tmp.path().join("nowhere"), &tdir, 576, true).assert_error(&["nowhere", "ca.pem"]);
    assert!(!tdir.exists());
}

#[test]
fn ca_issue_refuses_to_overwrite_a_terminal() {
    let tmp = TempDir::new().unwrap();
    let ca = init_ca(&tmp.path().join("ca"));
    let tdir = tmp.path().join("terminal");
    issue_terminal(&ca, &tdir, 576, true).assert_ok();
    let key = fs::read(tdir.join("terminal.key")).unwrap();
    let cert = fs::read(tdir.join("terminal.pem")).unwrap();
    issue_terminal(&ca, &tdir, 576, true).assert_error(&["terminal.key", "already exist"]);
    assert_eq!(fs::read(tdir.join("terminal.key")).unwrap(), key);
    assert_eq!(fs::read(tdir.join("terminal.pem")).unwrap(), cert);
}
