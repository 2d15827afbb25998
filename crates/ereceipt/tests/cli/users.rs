//! `ereceipt platform user …`: portal users made, listed, reset (a one-time link, no secrets),
//! unlocked and disabled from the command line; a weak password or an unknown user is refused
//! with the reason; `platform operator …` makes and revokes operators' certificates.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::helpers::ereceipt;

fn with_stdin(args: &[&str], input: &str) -> (Option<i32>, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ereceipt"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ereceipt");
    child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

#[test]
fn portal_users_are_made_reset_and_disabled_from_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pdir = dir.path().to_str().expect("utf-8 path");
    let made = ereceipt([
        "platform",
        "user",
        "add",
        "--data-dir",
        pdir,
        "shop.alice",
        "--merchant-id",
        "104110070110001",
        "--json",
    ]);
    made.assert_exit(0);
    let c = made.json();
    assert_eq!(c["role"], "merchant");
    assert_eq!(c["password"].as_str().map(str::len), Some(20), "a generated password");
    let first_secret = c["totp_secret"].as_str().expect("secret").to_owned();

    // A chosen password that is too short is refused, naming the rule; nothing is made.
    let (code, out, err) = with_stdin(
        &["platform", "user", "add", "--data-dir", pdir, "bank", "--acquirer", "--password-stdin"],
        "short\n",
    );
    assert_ne!(code, Some(0), "{out}");
    assert!(err.contains("at least 12 characters"), "{err}");
    let (code, out, _) = with_stdin(
        &["platform", "user", "add", "--data-dir", pdir, "bank", "--acquirer", "--password-stdin"],
        "a long enough passphrase\n",
    );
    assert_eq!(code, Some(0));
    assert!(!out.contains("password:"), "a chosen password is not printed back: {out}");
    let dup = ereceipt(["platform", "user", "add", "--data-dir", pdir, "bank", "--acquirer"]);
    assert!(dup.stderr.contains("already exists"), "{dup}");

    let list = ereceipt(["platform", "user", "list", "--data-dir", pdir]);
    list.assert_exit(0);
    assert!(list.stdout.contains("\"shop.alice\"") && list.stdout.contains("\"bank\""), "{list}");
    assert!(!list.stdout.contains(&first_secret), "no secrets in the list");

    let reset = ereceipt(["platform", "user", "reset", "--data-dir", pdir, "shop.alice", "--json"]);
    reset.assert_exit(0);
    let r = reset.json();
    assert!(r.get("password").is_none() && r.get("totp_secret").is_none(), "no secrets from a reset: {r}");
    assert!(r["enrolment_url"].as_str().is_some_and(|u| u.contains("/staff/enrol?token=")), "{r}");
    let audit = ereceipt(["platform", "audit", "--data-dir", pdir]);
    audit.assert_exit(0);
    assert!(audit.stdout.contains("\"user reset\"") && audit.stdout.contains("\"host:"), "{audit}");
    ereceipt(["platform", "user", "unlock", "--data-dir", pdir, "shop.alice"]).assert_exit(0);
    ereceipt(["platform", "user", "disable", "--data-dir", pdir, "shop.alice"]).assert_exit(0);
    let again = ereceipt(["platform", "user", "reset", "--data-dir", pdir, "shop.alice"]);
    assert!(again.stderr.contains("no active user shop.alice"), "{again}");
    let list = ereceipt(["platform", "user", "list", "--data-dir", pdir]);
    assert!(list.stdout.contains("\"disabled\":true"), "{list}");
}

#[test]
fn operators_get_a_key_and_certificate_and_are_revoked_from_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pdir = dir.path().join("platform");
    let pdir = pdir.to_str().expect("utf-8 path");
    let out = dir.path().join("alice");
    let out_s = out.to_str().expect("utf-8 path");
    let add = ereceipt(["platform", "operator", "add", "--data-dir", pdir, "alice", "--out", out_s]);
    add.assert_exit(0);
    let cert = std::fs::read_to_string(out.join("alice.pem")).expect("certificate written");
    assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"), "{cert}");
    assert!(out.join("alice.key").exists() && out.join("ca.pem").exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(out.join("alice.key")).expect("key").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let again = ereceipt(["platform", "operator", "add", "--data-dir", pdir, "alice", "--out", out_s]);
    assert!(again.stderr.contains("exists already"), "{again}");
    let bad = ereceipt(["platform", "operator", "add", "--data-dir", pdir, "Alice Smith", "--out", out_s]);
    assert!(bad.stderr.contains("operator name"), "{bad}");
    ereceipt(["platform", "operator", "revoke", "--data-dir", pdir, "alice"]).assert_exit(0);
    let list = ereceipt(["platform", "operator", "list", "--data-dir", pdir]);
    assert!(list.stdout.contains("\"alice\"") && !list.stdout.contains("\"revoked_at\":null"), "{list}");
    let twice = ereceipt(["platform", "operator", "revoke", "--data-dir", pdir, "alice"]);
    assert!(twice.stderr.contains("no active operator alice"), "{twice}");
    let audit = ereceipt(["platform", "audit", "--data-dir", pdir]);
    assert!(audit.stdout.contains("\"operator add\"") && audit.stdout.contains("\"operator revoke\""), "{audit}");
}
