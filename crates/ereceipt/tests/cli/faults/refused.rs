//! A receipt the platform refuses is not "queued" (security review H1): `terminal sale` says it
//! was refused, that the customer will not get it, and exits 5; the outbox shows it as refused.

use std::ffi::OsString;
use std::fs;
use std::path::Path;

use tempfile::TempDir;

use super::procs::Serve;
use super::{enrol, sale_args, status, Inputs, Terminal};
use crate::helpers::{ereceipt, transaction};

/// Copies every file of an enrolled terminal's data directory, as restoring a phone's backup
/// onto a second phone does.
fn clone_terminal(from: &Terminal, to: &Path) -> Terminal {
    fs::create_dir_all(to).expect("create the copy");
    for entry in fs::read_dir(&from.dir).expect("read the data directory") {
        let path = entry.expect("entry").path();
        if path.is_file() {
            fs::copy(&path, to.join(path.file_name().expect("name"))).expect("copy");
        }
    }
    Terminal { id: from.id.clone(), dir: to.to_owned() }
}

#[test]
fn a_receipt_the_platform_refuses_exits_5_and_is_not_called_queued() {
    let tmp = TempDir::new().expect("temp dir");
    let data = tmp.path().join("platform");
    let serve = Serve::start(&data, "127.0.0.1:0".parse().expect("addr"), None, &tmp.path().join("serve.log"));
    let phone = enrol(&data, None, &serve.url(), "T0000501", &tmp.path().join("phone"));
    // Two phones with one identity (a restored backup): both number their next receipt alike.
    let twin = clone_terminal(&phone, &tmp.path().join("twin"));
    let inputs = Inputs::write(tmp.path());
    ereceipt(sale_args(&phone, &inputs, false)).assert_ok();

    let mut other = transaction();
    other["amount_minor"] = 99_900.into();
    let other_tx = tmp.path().join("other.json");
    fs::write(&other_tx, other.to_string()).expect("write other.json");
    let mut args: Vec<OsString> = sale_args(&twin, &inputs, false);
    let at = args.iter().position(|a| a == "--transaction").expect("--transaction") + 1;
    args[at] = other_tx.into();
    let run = ereceipt(args);
    run.assert_exit(5);
    assert!(run.stdout.contains("REFUSED by the platform"), "{run}");
    assert!(run.stdout.contains("conflict"), "the platform's reason: {run}");
    assert!(run.stdout.contains("customer does not get it"), "{run}");
    assert!(!run.stdout.contains("queued"), "a refusal is not queued: {run}");

    let st = status(&twin);
    assert_eq!((st["refused"].as_u64(), st["pending"].as_u64()), (Some(1), Some(0)), "{st}");
}
