//! `ereceipt-bench reliability kill --quick`, end to end: the real platform and terminal
//! processes SIGKILLed at seeded random points during uploads with deliveries; afterwards every
//! receipt a terminal's outbox made is stored once, and the command says so and exits 0.

// A failed expect in a test is a test failure with its reason, which is what we want.
#![allow(clippy::expect_used)]

use std::path::Path;
use std::process::Command;

/// The `ereceipt` binary beside this crate's. `cargo test --workspace` (what scripts/test runs)
/// builds it in the same run, for the CLI's own tests; a nested `cargo build` here would wait on
/// the build lock and, with another package selection, rebuild the product crates.
fn ereceipt_binary() -> std::path::PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_ereceipt-bench")).with_file_name("ereceipt");
    assert!(
        bin.is_file(),
        "no {}: run this test with the workspace (cargo test --workspace --release), which builds it",
        bin.display()
    );
    bin
}

#[test]
fn a_quick_kill_run_stores_every_receipt_once_through_sigkills() {
    let bin = ereceipt_binary();
    let out = Command::new(env!("CARGO_BIN_EXE_ereceipt-bench"))
        .args(["reliability", "kill", "--quick", "--seed", "7", "--ereceipt"])
        .arg(&bin)
        .output()
        .expect("run ereceipt-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let line = |prefix: &str| {
        stdout
            .lines()
            .find(|l| l.trim_start().starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} line:\n{stdout}"))
    };
    assert!(line("reliability run:").contains("seed 7"), "{stdout}");
    // The chaos happened: at least one SIGKILL of the platform, and it was started again.
    let chaos = line("chaos");
    let kills: usize = chaos.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("kill count");
    assert!(kills >= 1, "no platform SIGKILL: {chaos}");
    let outboxes = line("outboxes");
    let made: usize = outboxes.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("receipts made");
    assert!(made >= 20, "too few receipts made for a test: {outboxes}");
    assert!(outboxes.contains(&format!("{made} acknowledged, 0 pending, 0 refused")), "{outboxes}");
    let stored = line("platform     ");
    assert!(stored.contains(&format!("{made} stored; lost 0, doubled 0, unknown 0")), "{stored}\n{stdout}");
    assert!(line("verdict").contains("held"), "{stdout}");
}
