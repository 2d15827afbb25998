//! A cashier's operations from the command line on a test terminal (the labelled simulator
//! approves): sell, void, refund in parts, pre-authorise and complete, each its own receipt
//! uploaded to a real platform; and every request the terminal's own checks must refuse (a
//! second void, a refund above what remains, a completion above 115% or of no pre-auth) refused
//! with its reason, nothing sent and nothing stored.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use ereceipt_terminal::outbox::Outbox;
use tempfile::TempDir;

use super::procs::Serve;
use super::{enrol, runtime, Terminal};
use crate::helpers::{ereceipt, signature, verify_json, Run};

const SWIPE: &str = ";6222020200112233446=29121011234567890?";

struct Till {
    t: Terminal,
    card: PathBuf,
    signature: PathBuf,
}

impl Till {
    fn run(&self, operation: &str, args: &[&str]) -> Run {
        let mut all: Vec<OsString> =
            vec!["terminal".into(), operation.into(), "--data-dir".into(), self.t.dir.clone().into()];
        all.extend(["--card".into(), self.card.clone().into(), "--signature".into(), self.signature.clone().into()]);
        all.extend(args.iter().map(OsString::from));
        ereceipt(all)
    }

    /// Runs an operation that must be approved and uploaded; returns its voucher, RRN and
    /// authorisation code as printed.
    fn approved(&self, operation: &str, args: &[&str]) -> (String, String, String) {
        let run = self.run(operation, args);
        run.assert_ok();
        let line = run.stdout.lines().find(|l| l.contains(" approved: ")).unwrap_or_else(|| panic!("{run}"));
        assert!(line.contains("SIMULATED"), "a simulated approval says so: {line}");
        let after =
            |key: &str| line.split(key).nth(1).and_then(|s| s.split([',', ' ']).next()).unwrap_or_default().to_owned();
        (after("voucher "), after("RRN "), after("auth code "))
    }

    /// Runs an operation that the terminal's checks refuse, and returns its message.
    fn refused(&self, operation: &str, args: &[&str], fragments: &[&str]) {
        let before = self.counts();
        self.run(operation, args).assert_exit(3).assert_error(fragments);
        assert_eq!(self.counts(), before, "{operation} {args:?}: nothing journalled, nothing stored");
    }

    /// `terminal reprint [ID] --out OUT`.
    fn reprint(&self, id: Option<&str>, out: &Path) -> Run {
        let mut all: Vec<OsString> = vec!["terminal".into(), "reprint".into()];
        all.extend(id.map(OsString::from));
        all.extend(["--data-dir".into(), self.t.dir.clone().into(), "--out".into(), out.into()]);
        ereceipt(all)
    }

    /// Reprints `id` (the last receipt when `asked` is `None`) and checks the duplicate: written,
    /// AUTHENTIC and DUPLICATE to `ereceipt verify`, over the stored record of `expected`.
    fn reprints(&self, expected: &str, asked: Option<&str>) {
        let out = self.t.dir.join(format!("dup-{expected}.png"));
        let run = self.reprint(asked, &out);
        run.assert_ok();
        assert!(run.stdout.contains("DUPLICATE") && run.stdout.contains(expected), "{run}");
        let verified = verify_json(&out, &self.t.dir.join("ca.pem"));
        verified.assert_ok();
        let v = verified.json();
        assert_eq!((v["verdict"].as_str(), v["duplicate"].as_bool()), (Some("authentic"), Some(true)), "{verified}");
        assert_eq!(v["receipt"]["id"], expected, "{verified}");
        let stored = runtime().block_on(async {
            let outbox = Outbox::open(&self.t.dir.join("outbox.db")).await.expect("outbox");
            let entry = outbox.entry(expected).await.expect("entry").expect("stored");
            outbox.close().await;
            entry.record_hash
        });
        assert_eq!(v["receipt"]["record_hash"], hex::encode(stored), "the same signed record: {verified}");
        let words = ereceipt([
            OsString::from("verify"),
            out.clone().into(),
            "--trust".into(),
            self.t.dir.join("ca.pem").into(),
        ]);
        words.assert_ok();
        assert!(words.stdout.contains("AUTHENTIC") && words.stdout.contains("DUPLICATE"), "{words}");
    }

    /// (journal rows, outbox receipts).
    fn counts(&self) -> (u64, u64) {
        runtime().block_on(async {
            let outbox = Outbox::open(&self.t.dir.join("outbox.db")).await.expect("outbox");
            let journal = outbox.authorisation_count().await.expect("journal");
            let status = outbox.status().await.expect("status");
            outbox.close().await;
            (journal, status.pending + status.acked + status.refused)
        })
    }
}

/// Today on the terminal's clock (its zone is Asia/Shanghai for a CNY terminal).
fn today() -> String {
    (chrono::Utc::now() + chrono::Duration::hours(8)).format("%Y-%m-%d").to_string()
}

#[test]
fn a_cashier_sells_voids_refunds_pre_authorises_and_completes_from_the_command_line() {
    let tmp = TempDir::new().expect("temp dir");
    let data = tmp.path().join("platform");
    let serve = Serve::start(&data, "127.0.0.1:0".parse().expect("addr"), None, &tmp.path().join("serve.log"));
    let t = enrol(&data, None, &serve.url(), "T0000071", &tmp.path().join("terminal"));
    let card = tmp.path().join("card.json");
    std::fs::write(&card, serde_json::json!({ "track2": SWIPE }).to_string()).expect("card");
    let sig = tmp.path().join("signature.json");
    std::fs::write(&sig, signature().to_string()).expect("signature");
    let till = Till { t, card, signature: sig };
    let day = today();

    // 消费 then 消费撤销 of it, once.
    let (sale, _, _) = till.approved("sell", &["--amount", "100.00"]);

    // 重发: the stored receipt resent to new addresses by the platform, at most 5 deliveries;
    // a pull choice is not sent.
    let id = format!("T0000071-000001-{sale}");
    let resend = |to: &str| {
        ereceipt([
            OsString::from("terminal"),
            "resend".into(),
            "--data-dir".into(),
            till.t.dir.clone().into(),
            "--receipt".into(),
            id.clone().into(),
            "--deliver".into(),
            to.into(),
        ])
    };
    for n in 1..=5 {
        let run = resend(&format!("email:li.na{n}@example.com"));
        run.assert_ok();
        assert!(run.stdout.contains("queued for email") && run.stdout.contains(&format!(".email.{n}")), "{run}");
    }
    resend("email:again@example.com").assert_exit(3).assert_error(&["5 deliveries already"]);
    resend("pull:+8613700137000").assert_exit(3).assert_error(&["pull"]);
    let (void, _, _) = till.approved("void", &["--voucher", &sale]);
    assert_ne!(void, sale, "the void is a receipt of its own, with its own voucher");
    till.refused("void", &["--voucher", &sale], &["already voided", "nothing was sent"]);
    till.refused("void", &["--voucher", "999999"], &["not in the open batch"]);
    till.refused("void", &["--voucher", &void], &["VOID", "sale or a completion"]);

    // 重打印: the last receipt (the void) and the sale by its id, each a DUPLICATE image over
    // the same signed record that `ereceipt verify` calls authentic; nothing stored.
    till.reprints(&format!("T0000071-000001-{void}"), None);
    till.reprints(&id, Some(&id));
    let before = till.counts();
    let unknown = "T0000071-000001-999999";
    till.reprint(Some(unknown), &tmp.path().join("unknown.png")).assert_exit(3).assert_error(&["no receipt", unknown]);
    assert!(!tmp.path().join("unknown.png").exists(), "no image for an unknown receipt");
    assert_eq!(till.counts(), before, "a reprint journals and stores nothing");

    // 退货 in parts, never above what remains; a voided sale has nothing left.
    let (second, rrn, _) = till.approved("sell", &["--amount", "200.00"]);
    till.approved("refund", &["--rrn", &rrn, "--date", &day, "--amount", "50.00"]);
    till.refused("refund", &["--rrn", &rrn, "--date", &day, "--amount", "150.01"], &["above what remains", "150.00"]);
    till.approved("refund", &["--rrn", &rrn, "--date", &day, "--amount", "150.00"]);
    till.refused("refund", &["--rrn", &rrn, "--date", &day, "--amount", "0.01"], &["nothing remains refundable"]);
    till.refused("void", &["--voucher", &second], &["refund"]);
    till.refused("refund", &["--rrn", &rrn, "--date", "2020-01-01", "--amount", "1.00"], &["was made on", &day]);

    // 预授权 and 预授权完成 within 115%, once.
    let (_, _, code) = till.approved("pre-auth", &["--amount", "300.00"]);
    till.refused("complete", &["--auth-code", &code, "--date", &day, "--amount", "345.01"], &["15%", "345.00"]);
    let (completion, _, _) = till.approved("complete", &["--auth-code", &code, "--date", &day, "--amount", "345.00"]);
    till.refused("complete", &["--auth-code", &code, "--date", &day, "--amount", "1.00"], &["already completed"]);
    till.refused("complete", &["--auth-code", "ZZZZZZ", "--date", &day, "--amount", "1.00"], &["no pre-authorisation"]);
    // A completion may be voided, as a sale may.
    till.approved("void", &["--voucher", &completion]);

    // 结算: the voided sale and completion leave the totals; the simulator balances the batch;
    // afterwards its sales are refunded, not voided.
    let slip_png = till.t.dir.join("slip.png");
    let settled = ereceipt([
        OsString::from("terminal"),
        "settle".into(),
        "--data-dir".into(),
        till.t.dir.clone().into(),
        "--out".into(),
        slip_png.clone().into(),
    ]);
    settled.assert_ok();
    assert!(
        settled.stdout.contains("batch 000001 settled") && settled.stdout.contains("debit 1 × 200.00"),
        "{settled}"
    );
    assert!(
        settled.stdout.contains("credit 2 × 200.00") && settled.stdout.contains("voids 2; the next batch is 000002"),
        "{settled}"
    );
    till.refused("void", &["--voucher", &second], &["settled", "refund it instead"]);

    // 结算单: the slip counts every receipt of the batch by kind (the voided ones and their
    // voids too), signed and watermarked by the terminal, verifiable with the platform's CA.
    assert!(settled.stdout.contains("settlement slip 结算单 of batch 000001"), "{settled}");
    let png = std::fs::read(&slip_png).expect("the slip's PNG");
    let ca = ereceipt_terminal::device::Device::new(&till.t.dir).ca_der().expect("CA");
    let slip = ereceipt_core::settlement::verify_settlement(&png, &ca).expect("the slip verifies").slip;
    let cny = "CNY".parse().expect("CNY");
    let kind = |code: &str| slip.kind_total(code.parse().expect("kind"), cny);
    let minor = |(n, total): (u64, ereceipt_core::model::Total)| (n, total.minor());
    assert_eq!(minor(kind("SALE")), (2, 30000));
    assert_eq!(minor(kind("VOID")), (2, 44500));
    assert_eq!(minor(kind("REFUND")), (2, 20000));
    assert_eq!(minor(kind("PRE-AUTH")), (1, 30000));
    assert_eq!(minor(kind("PRE-AUTH COMPLETION")), (1, 34500));
    assert_eq!(slip.net_total(cny).minor(), 0, "300 + 345 charged, 445 voided, 200 refunded");
    assert!(slip.host.balanced() && slip.batch.value() == 1);
    // Uploaded after the receipts, the platform reconciles it against the 8 it holds.
    let synced = ereceipt([OsString::from("terminal"), "sync".into(), "--data-dir".into(), till.t.dir.clone().into()]);
    synced.assert_ok();
    assert!(
        synced.stdout.contains("settlement slip of batch 000001 uploaded; the platform's reconciliation: balanced"),
        "{synced}"
    );
    runtime().block_on(async {
        let outbox = Outbox::open(&till.t.dir.join("outbox.db")).await.expect("outbox");
        let stored = outbox.slip(1).await.expect("slip").expect("stored");
        assert_eq!(stored.state, ereceipt_terminal::outbox::EntryState::Acked);
        assert_eq!(stored.png, png);
        outbox.close().await;
    });

    // Every approved operation is a receipt of its own, uploaded; its journal row says what
    // it was.
    runtime().block_on(async {
        let outbox = Outbox::open(&till.t.dir.join("outbox.db")).await.expect("outbox");
        let status = outbox.status().await.expect("status");
        assert_eq!((status.acked, status.pending, status.refused), (8, 0, 0), "{status:?}");
        assert!(outbox.open_authorisations().await.expect("open").is_empty());
        outbox.close().await;
    });
}
