//! `ereceipt terminal authorisations` (security review L4): the authorisations a crash or a
//! closed tab left without a receipt are listed with an exit code a script can act on, and
//! reversed one by one, each journalled as reversing before the authoriser is asked.

use std::ffi::OsStr;
use std::path::Path;

use ereceipt_terminal::outbox::{new_request_id, AuthorisationState, NewAuthorisation, Outbox};
use ereceipt_terminal::ui::{Authoriser, SimulatedAuthoriser};
use tempfile::TempDir;

use crate::helpers::{ereceipt, Run};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime")
}

fn authorisations(dir: &Path, extra: &[&str]) -> Run {
    let mut args = vec![OsStr::new("terminal"), OsStr::new("authorisations")];
    args.extend(extra.iter().map(OsStr::new));
    args.extend([OsStr::new("--data-dir"), dir.as_os_str()]);
    ereceipt(args)
}

fn reverse(dir: &Path, id: &str) -> Run {
    ereceipt([
        OsStr::new("terminal"),
        "authorisations".as_ref(),
        "reverse".as_ref(),
        id.as_ref(),
        "--data-dir".as_ref(),
        dir.as_os_str(),
    ])
}

/// What the terminal's UI journals for a sale of `minor` fen asked of `authoriser`.
fn request(minor: u64, authoriser: &str, simulated: bool) -> NewAuthorisation {
    NewAuthorisation {
        request_id: new_request_id(),
        amount: ereceipt_core::model::Money::new(minor, "CNY".parse().expect("CNY")).expect("money"),
        masked_pan: "622202*********3446".parse().expect("masked"),
        time: "2026-12-02T10:15:00+08:00".parse().expect("time"),
        terminal_id: "POS00001".parse().expect("terminal"),
        merchant_id: "898440358120001".parse().expect("merchant"),
        authoriser: authoriser.to_owned(),
        simulated,
        operator: "01".parse().expect("operator"),
        operation: ereceipt_terminal::outbox::Operation::sale(),
    }
}

#[test]
fn authorisations_without_a_receipt_are_listed_and_reversed() {
    let tmp = TempDir::new().expect("temp dir");
    let dir = tmp.path();
    // Every terminal directory has its settings; without a [host] table they name the simulator.
    std::fs::write(dir.join("terminal.toml"), "").expect("terminal.toml");
    let quiet = authorisations(dir, &[]);
    quiet.assert_ok();
    assert!(quiet.stdout.contains("no authorisation needs attention"), "{quiet}");

    let simulator = SimulatedAuthoriser.info().name;
    let (approved, unanswered, host, declined) = (
        request(4_200, &simulator, true),
        request(1_500, &simulator, true),
        request(9_900, "Acquirer host", false),
        request(800, &simulator, true),
    );
    runtime().block_on(async {
        let outbox = Outbox::open(&dir.join("outbox.db")).await.expect("outbox");
        for r in [&approved, &unanswered, &host, &declined] {
            outbox.authorisation_requested(r, 1_000).await.expect("requested");
        }
        for r in [&approved, &host] {
            let (code, rrn) = ("A1B2C3".parse().expect("code"), "632914123456".parse().expect("rrn"));
            outbox.authorisation_approved(&r.request_id, &code, &rrn, 2_000).await.expect("approved");
        }
        outbox
            .authorisation_declined(&declined.request_id, "declined (51): insufficient funds", 2_000)
            .await
            .expect("declined");
        outbox.close().await;
    });

    let listed = authorisations(dir, &[]);
    listed.assert_exit(6);
    for (r, what) in
        [(&approved, "approved, no receipt"), (&unanswered, "requested, no answer"), (&host, "approved, no receipt")]
    {
        let line = listed
            .stdout
            .lines()
            .find(|l| l.contains(&r.request_id))
            .unwrap_or_else(|| panic!("{} not listed:\n{listed}", r.request_id));
        assert!(line.contains(what) && line.contains("*** 3446"), "{line}");
    }
    assert!(
        listed.stdout.contains("CNY 42.00") && listed.stdout.contains("auth code A1B2C3, RRN 632914123456"),
        "{listed}"
    );
    assert!(!listed.stdout.contains(&declined.request_id), "a declined request needs nothing:\n{listed}");
    assert!(!listed.stdout.contains("622202"), "the list shows the last four only:\n{listed}");
    assert!(listed.stdout.contains("ereceipt terminal authorisations reverse ID"), "{listed}");
    let json = authorisations(dir, &["--json"]);
    json.assert_exit(6);
    let open = json.json()["open"].as_array().expect("open").clone();
    let states: Vec<&str> = open.iter().map(|a| a["state"].as_str().expect("state")).collect();
    assert_eq!(states, ["approved", "requested", "approved"], "{json}");

    let done = reverse(dir, &approved.request_id);
    done.assert_ok();
    assert!(done.stdout.contains("reversed") && done.stdout.contains("CNY 42.00"), "{done}");
    reverse(dir, &unanswered.request_id).assert_ok();
    // Only the acquirer that approved it can reverse it; the simulator does not pretend to.
    reverse(dir, &host.request_id).assert_error(&["Acquirer host", "nothing was changed"]);
    reverse(dir, &approved.request_id).assert_error(&["is reversed", "nothing to reverse"]);
    reverse(dir, &declined.request_id).assert_error(&["is declined"]);
    reverse(dir, &"f".repeat(32)).assert_error(&["no receipt or authorisation"]);

    let left = authorisations(dir, &["--json"]);
    left.assert_exit(6);
    let open = left.json()["open"].as_array().expect("open").clone();
    assert_eq!(open.len(), 1, "{left}");
    assert_eq!(open[0]["id"], host.request_id.as_str());
    runtime().block_on(async {
        let outbox = Outbox::open(&dir.join("outbox.db")).await.expect("outbox");
        for r in [&approved, &unanswered] {
            let row = outbox.authorisation(&r.request_id).await.expect("read").expect("row");
            assert_eq!(row.state, AuthorisationState::Reversed);
            assert_eq!(row.reversal_attempts, 1, "journalled before it was sent, once");
            assert!(
                row.reversal_ack.is_some_and(|a| a.contains(&r.request_id)),
                "the simulator's acknowledgement is kept"
            );
        }
        let row = outbox.authorisation(&host.request_id).await.expect("read").expect("row");
        assert_eq!((row.state, row.reversal_attempts), (AuthorisationState::Approved, 0), "untouched");
    });
}
