//! Kill -9 between approval and receipt (security review L4): a child process (this test binary
//! again) has a sale approved and is SIGKILLed before the receipt is made; the terminal that
//! starts again on its files must know the authorisation is approved and has no receipt.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use axum::http::StatusCode;

use super::api_tests::{approved_sale, enrolled, ui_in, ui_on};
use crate::device::Device;

const CHILD_ENV: &str = "EReceipt_UI_CRASH_CHILD";
const CHILD_TEST: &str = "ui::crash_tests::child_is_approved_then_waits";

/// The child: started by the test below, never on its own (it waits until killed).
#[tokio::test]
#[ignore = "the child process of a_kill_between_approval_and_receipt_leaves_the_approval_on_record"]
async fn child_is_approved_then_waits() {
    let Ok(dir) = std::env::var(CHILD_ENV) else { return };
    let ui = ui_in(Device::new(Path::new(&dir)), false).await;
    let (_, carded) = approved_sale(&ui, "12850").await;
    println!("approved {}", carded["approval"]["auth_code"].as_str().unwrap());
    // The cardholder is signing when the phone kills the app.
    std::future::pending::<()>().await;
}

#[test]
fn a_kill_between_approval_and_receipt_leaves_the_approval_on_record() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    runtime.block_on(enrolled(dir.path()));
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", CHILD_TEST, "--ignored", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut code = None;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        // The harness's "test ... " header precedes the first line without a newline.
        if let Some((_, c)) = line.unwrap().split_once("approved ") {
            code = Some(c.to_owned());
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL: no destructors, no close, no checkpoint
    child.wait().unwrap();
    let code = code.expect("the child reported no approval");

    runtime.block_on(async move {
        let device = Device::new(dir.path());
        let ui = ui_on(dir, device, false).await;
        let (status, summary) = ui.json(ui.get("/api/outbox")).await;
        assert_eq!(status, StatusCode::OK);
        let open = summary["authorisations"].as_array().unwrap_or_else(|| panic!("no authorisations in {summary}"));
        assert_eq!(open.len(), 1, "{summary}");
        assert_eq!(open[0]["state"], "approved", "{summary}");
        assert_eq!(open[0]["auth_code"], code.as_str(), "{summary}");
        assert_eq!(open[0]["amount"], "128.50", "{summary}");
        assert_eq!(summary["pending"], 0, "and no receipt: {summary}");
    });
}
