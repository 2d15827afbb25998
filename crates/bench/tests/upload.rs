//! `ereceipt-bench upload` end to end, small: two terminals, a few receipts each, delivered to
//! the local outbox folder; the report has every line the README's tables quote, and every
//! acknowledged receipt was stored and delivered.

// A failed expect in a test is a test failure with its reason, which is what we want.
#![allow(clippy::expect_used)]

use std::process::Command;

#[test]
fn a_small_upload_run_reports_throughput_latency_and_deliveries() {
    let out = Command::new(env!("CARGO_BIN_EXE_ereceipt-bench"))
        .args(["upload", "--terminals", "2", "--receipts", "3", "--deliver", "local"])
        .output()
        .expect("run ereceipt-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for line in [
        "backend        SQLite",
        "terminals      2",
        "receipts       6 uploaded, 6 stored",
        "mode           closed loop",
        "throughput     ",
        "latency        p50 ",
        "delivery       6 emails sent; acknowledgement → accepted by the relay: p50 ",
    ] {
        assert!(stdout.lines().any(|l| l.starts_with(line)), "no line starting {line:?} in:\n{stdout}");
    }
}
