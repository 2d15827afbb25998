//! The terminal's ISO 8583 link against an independent host (`pyiso8583` and `pycryptodome` in
//! `crates/test-peers/src/iso_host.py`): sign-in and key exchange, approvals, declines, and every
//! fault that must end in exactly one acknowledged reversal and no approval.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ffi::OsStr;
use std::time::Duration;

use ereceipt_core::card::{capture, CapturedCard, CardInput, CardPolicy};
use ereceipt_core::model::{LocalTime, Money};
use ereceipt_terminal::authorisation::{authorise, recover, reverse_authorisation, Payment, Refusal, ReversalOutcome};
use ereceipt_terminal::host::{AuthorisationError, Authoriser, HostSettings, Iso8583Authoriser};
use ereceipt_terminal::outbox::{new_request_id, AuthorisationState, NewAuthorisation, Outbox, ReversalReason};
use ereceipt_test_peers::iso_host::IsoHost;
use serde_json::Value;

mod operations;

/// The host's default terminal master key (iso_host.py `--tmk`).
const TMK: &str = "0123456789ABCDEFFEDCBA9876543210";
const TRACK2: &str = ";6222020200112233446=29121011234567890?";
const PAN: &str = "6222020200112233446";

struct Rig {
    host: IsoHost,
    outbox: Outbox,
    dir: tempfile::TempDir,
}

impl Rig {
    async fn new(host_args: &[&str]) -> Rig {
        let args: Vec<&OsStr> = host_args.iter().map(OsStr::new).collect();
        let host = IsoHost::start(&args).await;
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(&dir.path().join("outbox.db")).await.unwrap();
        Rig { host, outbox, dir }
    }

    /// A link to this host, as `terminal.toml`'s `[host]` table would make it.
    fn link(&self, edit: impl FnOnce(&mut HostSettings)) -> Iso8583Authoriser {
        let mut s = HostSettings::new(format!("127.0.0.1:{}", self.host.port()), TMK);
        s.connect_timeout_ms = 1_000;
        s.answer_timeout_ms = 800;
        edit(&mut s);
        Iso8583Authoriser::new(s.config().expect("settings"))
    }

    async fn pay(
        &self,
        link: &dyn Authoriser,
        minor: u64,
    ) -> (String, Result<ereceipt_terminal::host::Approval, Refusal>) {
        let card = card();
        let request = journalled(link, minor, &card);
        let payment =
            Payment { journalled: &request, card: &card.summary, card_data: &card.authorisation, receipt_parts: None };
        let answer = authorise(&self.outbox, link, payment, now).await.map(|(approval, _)| approval);
        (request.request_id, answer)
    }

    /// The host's journal lines of `dir` ("in"/"out") and `mti`.
    fn lines(&self, dir: &str, mti: &str) -> Vec<Value> {
        self.host.journal().into_iter().filter(|l| l["dir"] == dir && l["mti"] == mti).collect()
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn card() -> CapturedCard {
    let policy = CardPolicy { accept_clear_tracks: true, allow_chip_fallback: false };
    let time = local_time();
    capture(&CardInput::track2(TRACK2), &policy, time.local().date_naive()).expect("test card")
}

fn local_time() -> LocalTime {
    LocalTime::new(chrono::Utc::now().timestamp(), 480).expect("time")
}

fn journalled(link: &dyn Authoriser, minor: u64, card: &CapturedCard) -> NewAuthorisation {
    let info = link.info();
    NewAuthorisation {
        request_id: new_request_id(),
        amount: Money::new(minor, "CNY".parse().unwrap()).unwrap(),
        masked_pan: card.summary.masked_pan.clone(),
        time: local_time(),
        terminal_id: "POS00001".parse().unwrap(),
        merchant_id: "898440358120001".parse().unwrap(),
        authoriser: info.name,
        simulated: info.simulator,
        operator: "01".parse().unwrap(),
        operation: ereceipt_terminal::outbox::Operation::sale(),
    }
}

fn field<'a>(line: &'a Value, n: &str) -> &'a str {
    line[n].as_str().unwrap_or_default()
}

#[tokio::test]
async fn a_sale_signs_in_gets_approved_and_the_host_sees_the_journalled_trace() {
    let rig = Rig::new(&[]).await;
    let link = rig.link(|_| {});
    let (id, answer) = rig.pay(&link, 12_800).await;
    let approval = answer.expect("approved");
    let row = rig.outbox.authorisation(&id).await.unwrap().unwrap();
    assert_eq!(row.state, AuthorisationState::Approved);
    assert_eq!((row.auth_code.as_ref(), row.rrn.as_ref()), (Some(&approval.auth_code), Some(&approval.rrn)));
    let trace = row.trace.expect("a trace");

    let signed_in = rig.lines("out", "0810");
    assert_eq!(signed_in.len(), 1, "one sign-in: {:?}", rig.host.journal());
    let sale = rig.lines("in", "0200");
    assert_eq!(sale.len(), 1);
    assert_eq!(field(&sale[0], "11"), format!("{:06}", trace.trace), "the host saw the journalled trace");
    assert_eq!(field(&sale[0], "4"), "000000012800");
    assert_eq!(field(&sale[0], "mac"), "ok", "the request's MAC checks out under the sign-in's key");
    let answered = rig.lines("out", "0210");
    assert_eq!(field(&answered[0], "38"), approval.auth_code.as_str());
    assert_eq!(field(&answered[0], "37"), approval.rrn.as_str());

    // The sign-in, asked after the sale was journalled, took the next trace for itself.
    assert_eq!(field(&rig.lines("in", "0800")[0], "11"), format!("{:06}", trace.trace + 1));
    // A second sale needs no new sign-in and gets the trace after that.
    let (id2, answer2) = rig.pay(&link, 500).await;
    answer2.expect("approved");
    let trace2 = rig.outbox.authorisation(&id2).await.unwrap().unwrap().trace.unwrap();
    assert_eq!((trace2.batch, trace2.trace), (trace.batch, trace.trace + 2));
    assert_eq!(rig.lines("in", "0800").len(), 1);

    // PCI DSS: the card number went to the host only, never into the terminal's files.
    for entry in std::fs::read_dir(rig.dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(!bytes.windows(PAN.len()).any(|w| w == PAN.as_bytes()), "the PAN is in a terminal file");
    }
}

#[tokio::test]
async fn a_decline_is_journalled_with_the_cashiers_reason_in_both_languages_and_not_reversed() {
    let rig = Rig::new(&[]).await;
    let link = rig.link(|_| {});
    let (id, answer) = rig.pay(&link, 10_051).await;
    match answer {
        Err(Refusal::Declined(AuthorisationError::Declined { code, message, message_zh })) => {
            assert_eq!(code, "51");
            assert!(message.to_lowercase().contains("insufficient funds"), "{message}");
            assert!(message_zh.contains("余额不足"), "{message_zh}");
        }
        other => panic!("expected a decline, got {other:?}"),
    }
    assert_eq!(rig.outbox.authorisation(&id).await.unwrap().unwrap().state, AuthorisationState::Declined);
    assert!(rig.lines("in", "0400").is_empty(), "a decline holds nothing: no reversal");
}

/// Each way an answer can fail to come or fail its checks: the terminal reverses at once, the
/// host acknowledges exactly one reversal for the request's trace, nothing is approved.
#[tokio::test]
async fn every_missing_late_or_untrustworthy_answer_ends_in_one_acknowledged_reversal() {
    let rig = Rig::new(&["--delay-ms", "1500"]).await;
    let link = rig.link(|_| {});
    for (cents, what, reason) in [
        (98, "silent", ReversalReason::NoAnswer),
        (97, "drops the connection", ReversalReason::NoAnswer),
        (96, "answers late", ReversalReason::NoAnswer),
        (95, "answers garbage", ReversalReason::BadAnswer),
        (94, "answers without field 39", ReversalReason::BadAnswer),
        (93, "answers with a wrong MAC", ReversalReason::BadAnswer),
    ] {
        let (id, answer) = rig.pay(&link, 20_000 + cents).await;
        match &answer {
            Err(Refusal::NoAnswer { reversal: None, .. }) => {}
            other => panic!("host {what}: expected a reversed no-answer, got {other:?}"),
        }
        let row = rig.outbox.authorisation(&id).await.unwrap().unwrap();
        assert_eq!((row.state, row.reversal), (AuthorisationState::Reversed, Some(reason)), "host {what}");
        assert_eq!(row.reversal_attempts, 1, "host {what}");
        let trace = format!("{:06}", row.trace.unwrap().trace);
        let sent: Vec<Value> = rig.lines("in", "0400").into_iter().filter(|l| field(l, "11") == trace).collect();
        let acked: Vec<Value> = rig.lines("out", "0410").into_iter().filter(|l| field(l, "11") == trace).collect();
        assert_eq!((sent.len(), acked.len()), (1, 1), "host {what}: one reversal, acknowledged");
        assert_eq!(field(&acked[0], "39"), "00", "host {what}: the host held the original and reversed it");
        assert_eq!(field(&sent[0], "mac"), "ok", "host {what}");
    }
}

#[tokio::test]
async fn a_reversal_the_host_ignores_is_sent_again_before_any_new_sale_until_acknowledged() {
    let rig = Rig::new(&["--silent-reversals", "2"]).await;
    let link = rig.link(|_| {});
    let (id, answer) = rig.pay(&link, 30_098).await;
    assert!(matches!(answer, Err(Refusal::NoAnswer { reversal: Some(_), .. })), "{answer:?}");
    assert_eq!(rig.outbox.authorisation(&id).await.unwrap().unwrap().state, AuthorisationState::Reversing);

    // The next sale first sends the reversal again; the host ignores it once more: no sale.
    let (next, answer) = rig.pay(&link, 100).await;
    assert!(matches!(&answer, Err(Refusal::ReversalPending { request_id, .. }) if *request_id == id), "{answer:?}");
    assert!(rig.outbox.authorisation(&next).await.unwrap().is_none(), "the new sale was never journalled");
    assert_eq!(rig.lines("in", "0200").len(), 1, "nor sent");

    // The retry loop's pass: acknowledged now; then sales go through again.
    let done = recover(&rig.outbox, &link, 0, now).await.unwrap();
    assert_eq!((done.reversed, done.pending), (1, 0));
    let row = rig.outbox.authorisation(&id).await.unwrap().unwrap();
    assert_eq!((row.state, row.reversal_attempts), (AuthorisationState::Reversed, 3));
    let trace = format!("{:06}", row.trace.unwrap().trace);
    let sent = rig.lines("in", "0400");
    assert_eq!(sent.len(), 3);
    assert!(sent.iter().all(|l| field(l, "11") == trace), "the same reversal each time");
    assert_eq!(rig.lines("out", "0410").len(), 1);
    rig.pay(&link, 100).await.1.expect("approved once the reversal is acknowledged");
}

/// The terminal dies between the request and its answer: the journal holds the request, the
/// host holds the transaction. The next start (a new link, without working keys) signs in and
/// reverses it.
#[tokio::test]
async fn a_request_cut_off_by_a_crash_is_reversed_at_the_next_start() {
    let rig = Rig::new(&[]).await;
    let link = rig.link(|s| s.answer_timeout_ms = 60_000);
    let card = card();
    let request = journalled(&link, 40_098, &card);
    let id = request.request_id.clone();
    {
        let payment =
            Payment { journalled: &request, card: &card.summary, card_data: &card.authorisation, receipt_parts: None };
        let asking = authorise(&rig.outbox, &link, payment, now);
        tokio::pin!(asking);
        let seen = rig
            .host
            .wait_journal(|j| j.iter().any(|l| l["dir"] == "in" && l["mti"] == "0200"), Duration::from_secs(10));
        tokio::select! {
            _ = &mut asking => panic!("the silent host answered"),
            _ = seen => {}
        }
        // Dropping the future here is the crash: nothing after the request ran.
    }
    drop(link);
    assert_eq!(rig.outbox.authorisation(&id).await.unwrap().unwrap().state, AuthorisationState::Requested);

    let restarted = rig.link(|_| {});
    let done = recover(&rig.outbox, &restarted, now(), now).await.unwrap();
    assert_eq!((done.reversed, done.pending), (1, 0));
    let row = rig.outbox.authorisation(&id).await.unwrap().unwrap();
    assert_eq!((row.state, row.reversal), (AuthorisationState::Reversed, Some(ReversalReason::NoAnswer)));
    assert_eq!(rig.lines("in", "0800").len(), 2, "the new start signed in again before reversing");
    let acked = rig.lines("out", "0410");
    assert_eq!(acked.len(), 1);
    assert_eq!(field(&acked[0], "11"), format!("{:06}", row.trace.unwrap().trace));
    assert_eq!(field(&acked[0], "39"), "00");
}

#[tokio::test]
async fn an_unreachable_host_fails_the_sale_without_a_reversal() {
    let rig = Rig::new(&[]).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let link = rig.link(|s| s.address = closed.to_string());
    let (id, answer) = rig.pay(&link, 100).await;
    assert!(matches!(&answer, Err(Refusal::NotSent(_))), "{answer:?}");
    assert!(answer.unwrap_err().to_string().contains(&closed.to_string()), "names the host");
    let row = rig.outbox.authorisation(&id).await.unwrap().unwrap();
    assert_eq!(row.state, AuthorisationState::Failed);
    assert!(rig.outbox.open_authorisations().await.unwrap().is_empty(), "nothing left to reverse");
}

#[tokio::test]
async fn a_terminal_with_the_wrong_master_key_cannot_sign_in_and_sends_no_sale() {
    let rig = Rig::new(&[]).await;
    let link = rig.link(|s| s.master_key = "FEDCBA98765432100123456789ABCDEF".into());
    let (id, answer) = rig.pay(&link, 100).await;
    let e = answer.unwrap_err().to_string();
    assert!(e.contains("check value"), "the key check value names the fault: {e}");
    assert_eq!(rig.outbox.authorisation(&id).await.unwrap().unwrap().state, AuthorisationState::Failed);
    assert!(rig.lines("in", "0200").is_empty(), "no sale went out without a good key");
}

#[tokio::test]
async fn x9_19_macs_with_double_length_keys_work_too() {
    let rig = Rig::new(&["--mac", "x919"]).await;
    let link = rig.link(|s| s.mac = "x9.19".into());
    rig.pay(&link, 2_000).await.1.expect("approved");
    assert_eq!(field(&rig.lines("in", "0200")[0], "mac"), "ok");
}

/// A production terminal reads only an encrypting (SRED) reader: its key serial number and
/// encrypted track 2 go to the host untouched in field 62, and no clear card data at all.
#[tokio::test]
async fn an_encrypting_readers_output_goes_to_the_host_as_it_came() {
    let rig = Rig::new(&[]).await;
    let link = rig.link(|_| {});
    let hex = |bytes: usize, seed: u8| -> String {
        (0..bytes).map(|i| format!("{:02X}", (i as u8).wrapping_mul(37).wrapping_add(seed))).collect()
    };
    // MagneSafe V5 keyboard output, laid out as its manual says (made-up, undecryptable hex).
    let raw = [
        "%B622202*********3446^ZHANG/SAN^2912*******************?;622202*********3446=2912****************?".to_owned(),
        "0600".into(),
        hex(64, 1),
        hex(32, 2),
        String::new(),
        "61403000".into(),
        hex(56, 3),
        "B1CBB65090413AA".into(),
        hex(8, 4),
        "9011880B1CBB65000001".into(),
        "38A7".into(),
        String::new(),
        "0000".into(),
    ]
    .join("|")
        + "\r";
    let policy = CardPolicy { accept_clear_tracks: false, allow_chip_fallback: false };
    let card = capture(&CardInput::magtek(raw), &policy, local_time().local().date_naive()).expect("SRED card");
    let request = journalled(&link, 6_600, &card);
    let payment =
        Payment { journalled: &request, card: &card.summary, card_data: &card.authorisation, receipt_parts: None };
    authorise(&rig.outbox, &link, payment, now).await.expect("approved");
    let sale = &rig.lines("in", "0200")[0];
    assert_eq!(sale["lengths"]["62"], 10 + 32, "KSN + encrypted track 2: {sale}");
    assert!(sale["lengths"].get("35").is_none() && sale["lengths"].get("2").is_none(), "no clear card data: {sale}");
    assert_eq!(field(sale, "mac"), "ok");
}

/// The cashier cancels an approved sale before its receipt: the void goes to the host as a
/// reversal carrying the approval's code and reason 06, and the row ends `voided`.
#[tokio::test]
async fn a_cancelled_approval_is_reversed_with_its_authorisation_code() {
    let rig = Rig::new(&[]).await;
    let link = rig.link(|_| {});
    let (id, answer) = rig.pay(&link, 7_700).await;
    let approval = answer.expect("approved");
    // A new process (new link, no keys; the host moved): the reversal still goes to it.
    let moved = rig.link(|s| s.address = format!("localhost:{}", rig.host.port()));
    let outcome = reverse_authorisation(&rig.outbox, &moved, &id, true, now).await.expect("reversal sent");
    assert!(
        matches!(outcome, ReversalOutcome::Reversed(ref r) if r.state == AuthorisationState::Voided),
        "{outcome:?}"
    );
    let sent = rig.lines("in", "0400");
    assert_eq!(sent.len(), 1);
    assert_eq!((field(&sent[0], "38"), field(&sent[0], "39")), (approval.auth_code.as_str(), "06"));
    assert_eq!(field(&rig.lines("out", "0410")[0], "39"), "00");
}
