//! Void, refund, pre-authorisation and completion against the independent host: each sent as
//! the profile's table says and approved by the host's own check of the original; what the
//! terminal cannot know refused by the host in the cashier's words; a void without an answer
//! reversed (its sale voidable again), a refund without an answer sent again and never reversed.

use chrono::NaiveDate;
use ereceipt_core::identity::{create_ca, issue_terminal, CertifiedKey, Signer};
use ereceipt_core::model::{Money, TransactionType};
use ereceipt_core::render::slip::{Fonts, SlipWidth};
use ereceipt_terminal::authorisation::{authorise, prepare, recover_with_receipts, Asked, Payment, Recovered, Refusal};
use ereceipt_terminal::host::{Approval, AuthorisationError, Authoriser};
use ereceipt_terminal::outbox::{AuthorisationState, NewEntry, ReceiptParts, Trace};
use ereceipt_terminal::sale::Composer;

use super::{card, field, journalled, now, Rig};

fn cny(minor: u64) -> Money {
    Money::new(minor, "CNY".parse().unwrap()).unwrap()
}

impl Rig {
    /// Asks for `asked` after the terminal's own checks; on approval stores a receipt for it, as
    /// the UI or CLI would, so that it can be an original. Returns its request id, trace and answer.
    async fn ask(&self, link: &dyn Authoriser, asked: Asked) -> (String, Trace, Result<Approval, Refusal>) {
        self.ask_keeping(link, asked, false).await
    }

    /// [`Rig::ask`]; with `keep`, the journal row keeps the receipt's parts (the card as
    /// printed, a signature, a delivery choice), as the CLI keeps a refund's.
    async fn ask_keeping(
        &self,
        link: &dyn Authoriser,
        asked: Asked,
        keep: bool,
    ) -> (String, Trace, Result<Approval, Refusal>) {
        let (operation, amount) = prepare(&self.outbox, &asked).await.expect("the terminal's checks");
        let card = card();
        let mut request = journalled(link, amount.minor(), &card);
        request.operation = operation;
        let parts = ReceiptParts {
            card: card.summary.clone(),
            signature: ereceipt_core::samples::signature(3),
            delivery: Some("email:li.na@example.com".into()),
        };
        let payment = Payment {
            journalled: &request,
            card: &card.summary,
            card_data: &card.authorisation,
            receipt_parts: keep.then_some(&parts),
        };
        let answer = authorise(&self.outbox, link, payment, now).await;
        let row = self.outbox.authorisation(&request.request_id).await.unwrap().unwrap();
        let trace = row.trace.unwrap();
        let answer = match answer {
            Ok((approval, _)) => {
                self.store_receipt(&request.request_id, trace).await;
                Ok(approval)
            }
            Err(e) => Err(e),
        };
        (request.request_id, trace, answer)
    }

    async fn store_receipt(&self, request_id: &str, trace: Trace) {
        let link = self.outbox.next_link().await.unwrap();
        let id = format!("POS00001-{:06}-{:06}", trace.batch, trace.trace);
        let record = format!("record {id}").into_bytes();
        let entry = NewEntry {
            receipt_id: id,
            sequence: link.sequence,
            record_hash: ereceipt_core::digest::sha256(&record),
            record,
            png: b"\x89PNG".to_vec(),
            batch: trace.batch,
            serial: trace.trace,
            delivery: None,
        };
        self.outbox.store_sale(&entry, Some(request_id), now()).await.unwrap();
    }

    /// The host's journal lines of `kind` received.
    fn received(&self, kind: &str) -> Vec<serde_json::Value> {
        self.host.journal().into_iter().filter(|l| l["dir"] == "in" && l["kind"] == kind).collect()
    }
}

/// One CA for the test process, so that a receipt's signer can be checked against it.
fn issuing_ca() -> &'static CertifiedKey {
    static CA: std::sync::OnceLock<CertifiedKey> = std::sync::OnceLock::new();
    CA.get_or_init(|| create_ca("host test CA", chrono::Utc::now() - chrono::Duration::days(1)).unwrap())
}

/// The signer of terminal POS00001 (the journalled rows' terminal and merchant).
fn signer() -> Signer {
    let info = ereceipt_core::model::TerminalInfo {
        terminal_id: "POS00001".parse().unwrap(),
        merchant_id: "898440358120001".parse().unwrap(),
        merchant_name: "深圳湾咖啡".parse().unwrap(),
        location: "深圳市南山区".parse().unwrap(),
    };
    let now = chrono::Utc::now() - chrono::Duration::hours(1);
    Signer::new(&issue_terminal(issuing_ca(), &info, now, 10).unwrap()).unwrap()
}

fn fonts() -> Fonts {
    let bytes =
        std::fs::read("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc").expect("the CJK font (scripts/install-deps)");
    Fonts::from_bytes(vec![("wqy-microhei".into(), bytes, 0)]).unwrap()
}

fn today() -> NaiveDate {
    super::local_time().local().date_naive()
}

#[tokio::test]
async fn each_operation_goes_as_the_profile_says_and_the_host_finds_its_original() {
    let rig = Rig::new(&[]).await;
    let link = rig.link(|_| {});
    let mmdd = today().format("%m%d").to_string();

    let (_, sale, approved) = rig.ask(&link, Asked::Sale { amount: cny(10_000) }).await;
    let sale_approval = approved.expect("sale approved");
    let (_, void, approved) = rig.ask(&link, Asked::Void { voucher: sale.trace }).await;
    approved.expect("the host found the sale and voided it");
    let v = &rig.received("void")[0];
    assert_eq!((field(v, "mti"), field(v, "3"), field(v, "4")), ("0200", "200000", "000000010000"));
    assert_eq!(field(v, "61"), format!("{:06}{:06}{mmdd}", sale.batch, sale.trace), "61: batch + trace + date");
    assert_eq!((field(v, "37"), field(v, "38")), (sale_approval.rrn.as_str(), sale_approval.auth_code.as_str()));
    assert!(field(v, "60").starts_with("23"), "{v}");
    assert_eq!(field(v, "mac"), "ok");
    assert_eq!(field(v, "ledger"), "voided", "{v}");
    assert_ne!(void.trace, sale.trace);

    let (_, _, approved) = rig.ask(&link, Asked::Sale { amount: cny(20_000) }).await;
    let second = approved.expect("second sale");
    let refund = |minor| Asked::Refund { rrn: second.rrn.clone(), date: today(), amount: cny(minor) };
    rig.ask(&link, refund(5_000)).await.2.expect("first refund acknowledged");
    rig.ask(&link, refund(15_000)).await.2.expect("the rest refunded");
    let refunds = rig.received("refund");
    assert_eq!(refunds.len(), 2);
    assert_eq!((field(&refunds[0], "mti"), field(&refunds[0], "3")), ("0220", "200000"));
    assert_eq!(field(&refunds[0], "61"), format!("000000000000{mmdd}"));
    assert!(field(&refunds[1], "ledger").contains("200.00 of 200.00"), "{}", refunds[1]);

    let (_, _, approved) = rig.ask(&link, Asked::PreAuth { amount: cny(30_000) }).await;
    let hold = approved.expect("pre-auth approved");
    assert_eq!(
        (field(&rig.received("preauth")[0], "mti"), field(&rig.received("preauth")[0], "3")),
        ("0100", "030000")
    );
    let completion = Asked::Completion { auth_code: hold.auth_code.clone(), date: today(), amount: cny(34_500) };
    let (_, done, approved) = rig.ask(&link, completion).await;
    approved.expect("completed within 115%");
    let c = &rig.received("completion")[0];
    assert_eq!((field(c, "25"), field(c, "38")), ("06", hold.auth_code.as_str()));
    // A completion is voided as one (60.1 21), and the host agrees it is one.
    rig.ask(&link, Asked::Void { voucher: done.trace }).await.2.expect("completion voided");
    let v = rig.received("void");
    assert!(field(&v[1], "60").starts_with("21") && field(&v[1], "25") == "06", "{}", v[1]);
    assert_eq!(rig.lines("in", "0400").len(), 0, "nothing needed a reversal");
}

#[tokio::test]
async fn what_only_the_host_knows_is_refused_in_the_cashiers_words_and_nothing_is_held() {
    let rig = Rig::new(&[]).await;
    let link = rig.link(|_| {});
    // A sale of another terminal (this one does not know it): sent with its RRN and date, and
    // the host, which has no such sale, refuses it.
    let elsewhere = Asked::Refund { rrn: "632914000001".parse().unwrap(), date: today(), amount: cny(1_000) };
    let (id, _, answer) = rig.ask(&link, elsewhere).await;
    match answer {
        Err(Refusal::Declined(AuthorisationError::Declined { code, message, message_zh })) => {
            assert_eq!(code, "25");
            assert!(
                message.contains("Original transaction not found") && message_zh.contains("未找到原交易"),
                "{message}"
            );
        }
        other => panic!("expected a decline 25, got {other:?}"),
    }
    assert_eq!(rig.outbox.authorisation(&id).await.unwrap().unwrap().state, AuthorisationState::Declined);
    assert!(rig.outbox.open_authorisations().await.unwrap().is_empty(), "nothing owed, nothing held");
}

#[tokio::test]
async fn a_void_without_an_answer_is_reversed_and_its_sale_may_be_voided_again() {
    let rig = Rig::new(&["--fault", "void:silent:1"]).await;
    let link = rig.link(|_| {});
    let (_, sale, approved) = rig.ask(&link, Asked::Sale { amount: cny(8_800) }).await;
    approved.expect("sale");
    let (id, void, answer) = rig.ask(&link, Asked::Void { voucher: sale.trace }).await;
    assert!(matches!(answer, Err(Refusal::NoAnswer { reversal: None, .. })), "{answer:?}");
    assert_eq!(rig.outbox.authorisation(&id).await.unwrap().unwrap().state, AuthorisationState::Reversed);
    let reversals = rig.lines("in", "0400");
    assert_eq!(reversals.len(), 1, "exactly one reversal");
    let r = &reversals[0];
    assert_eq!((field(r, "3"), field(r, "11")), ("200000", format!("{:06}", void.trace).as_str()), "the void's own");
    assert!(field(r, "61").starts_with(&format!("{:06}{:06}", sale.batch, sale.trace)), "{r}");
    assert!(field(&rig.lines("out", "0410")[0], "39") == "00");
    assert!(
        rig.host.journal().iter().any(|l| field(l, "ledger").contains("voidable again")),
        "the host released the sale"
    );

    rig.ask(&link, Asked::Void { voucher: sale.trace }).await.2.expect("voided the second time");
}

#[tokio::test]
async fn a_refund_without_an_answer_is_sent_again_without_the_card_and_never_reversed() {
    let rig = Rig::new(&["--fault", "refund:silent:1"]).await;
    let link = rig.link(|_| {});
    let (_, _, approved) = rig.ask(&link, Asked::Sale { amount: cny(12_800) }).await;
    let sale = approved.expect("sale");
    let asked = Asked::Refund { rrn: sale.rrn.clone(), date: today(), amount: cny(2_800) };
    let (id, trace, answer) = rig.ask_keeping(&link, asked, true).await;
    assert!(matches!(answer, Err(Refusal::AdvicePending { .. })), "{answer:?}");
    let row = rig.outbox.authorisation(&id).await.unwrap().unwrap();
    assert_eq!((row.state, row.operation.kind), (AuthorisationState::Advising, TransactionType::Refund));
    let receipts = rig.outbox.status().await.unwrap().pending;

    // The background pass sends the same advice again: answered, counted once, no reversal;
    // the refund's receipt is made from the parts its row kept (its session is long over).
    let (signer, fonts) = (signer(), fonts());
    let composer = Composer { signer: &signer, fonts: &fonts, width: SlipWidth::W384 };
    let done = recover_with_receipts(&rig.outbox, &link, composer, now(), now).await.unwrap();
    assert_eq!((done.advised, done.pending, done.late_receipts), (1, 0, 1), "{done:?}");
    let row = rig.outbox.authorisation(&id).await.unwrap().unwrap();
    assert_eq!((row.state, row.advice_attempts), (AuthorisationState::Completed, 1));
    assert!(!rig.outbox.keeps_receipt_parts(&id).await.unwrap(), "the parts are not kept once the receipt is");
    let receipt_id = row.receipt_id.expect("its receipt");
    assert_eq!(receipt_id, format!("POS00001-{:06}-{:06}", trace.batch, trace.trace), "the trace the host saw");
    assert_eq!(rig.outbox.status().await.unwrap().pending, receipts + 1, "exactly one receipt more");
    let entry = rig.outbox.entry(&receipt_id).await.unwrap().expect("in the outbox");
    assert_eq!(entry.delivery.as_deref(), Some("email:li.na@example.com"), "sent as the customer chose");
    let record = ereceipt_core::encoding::decode_record(&entry.record).unwrap();
    let t = &record.transaction;
    assert_eq!((t.kind, t.amount, t.rrn.clone()), (TransactionType::Refund, cny(2_800), row.rrn.clone().unwrap()));
    assert_eq!(t.original.as_ref().and_then(|o| o.rrn.clone()), Some(sale.rrn.clone()), "names its sale");
    assert_eq!(record.signature, ereceipt_core::samples::signature(3), "the signature kept before the advice");
    let ca = issuing_ca();
    let verdict = ereceipt_core::verify::verify_image(&entry.png, &ca.cert_der);
    assert_eq!(verdict.verdict, ereceipt_core::verify::Verdict::Authentic, "{}", verdict.reason);
    // Made once: the next pass finds nothing to make.
    let again = recover_with_receipts(&rig.outbox, &link, composer, now(), now).await.unwrap();
    assert_eq!(again, Recovered::default());
    assert_eq!(rig.outbox.status().await.unwrap().pending, receipts + 1);
    let sent = rig.received("refund");
    assert_eq!(sent.len(), 2, "sent twice");
    assert_eq!(field(&sent[0], "11"), field(&sent[1], "11"), "the same trace");
    assert_eq!(sent[0]["lengths"]["35"], 37, "the first carried track 2: {}", sent[0]);
    assert!(sent[1]["lengths"].get("35").is_none(), "sent again without card data: {}", sent[1]);
    assert!(
        field(&sent[1], "ledger").contains("repeat") || field(&sent[1], "ledger").contains("28.00 of 128.00"),
        "{}",
        sent[1]
    );
    assert!(rig.lines("in", "0400").is_empty(), "a refund is never reversed");
    assert!(rig.outbox.authorisation_reversing(&id, false, now()).await.is_err());
}

#[tokio::test]
async fn a_settlement_balances_with_the_host_closes_the_batch_and_says_when_it_does_not() {
    use ereceipt_terminal::authorisation::{settle, SettleError, Till};
    let rig = Rig::new(&[]).await;
    let link = rig.link(|_| {});
    let (operator, terminal, merchant) =
        ("01".parse().unwrap(), "POS00001".parse().unwrap(), "898440358120001".parse().unwrap());
    let till = || Till {
        operator: &operator,
        terminal_id: &terminal,
        merchant_id: &merchant,
        currency: "CNY".parse().unwrap(),
    };
    let (_, first, ok) = rig.ask(&link, Asked::Sale { amount: cny(10_000) }).await;
    ok.expect("sale");
    let (_, _, ok) = rig.ask(&link, Asked::Sale { amount: cny(20_000) }).await;
    let second = ok.expect("sale");
    rig.ask(&link, Asked::Void { voucher: first.trace }).await.2.expect("void");
    rig.ask(&link, Asked::Refund { rrn: second.rrn.clone(), date: today(), amount: cny(5_000) })
        .await
        .2
        .expect("refund");
    let (_, _, ok) = rig.ask(&link, Asked::PreAuth { amount: cny(30_000) }).await;
    let hold = ok.expect("pre-auth");
    let completion = Asked::Completion { auth_code: hold.auth_code, date: today(), amount: cny(31_000) };
    let (_, done, ok) = rig.ask(&link, completion).await;
    ok.expect("completion");

    let settled = settle(&rig.outbox, &link, till(), now).await.expect("settled");
    let d = settled.totals.domestic;
    assert_eq!((d.debit_count, d.debit_minor, d.credit_count, d.credit_minor), (2, 51_000, 1, 5_000), "{settled:?}");
    assert_eq!((settled.totals.voids, settled.totals.foreign), (1, Default::default()));
    assert!(settled.answer.domestic_balanced && settled.answer.foreign_balanced, "{settled:?}");
    let s = &rig.received("settlement")[0];
    assert_eq!((field(s, "mti"), field(s, "48")), ("0500", settled.answer.sent.as_str()));
    assert!(field(s, "60").starts_with(&format!("00{:06}", first.batch)) && field(s, "60").ends_with("201"), "{s}");
    assert_eq!(field(s, "ledger"), "settled: balanced", "{s}");
    assert_eq!(settled.next_batch, first.batch + 1, "the next request opens the next batch");
    let recorded = rig.outbox.settlement(first.batch).await.unwrap().expect("recorded");
    assert!(recorded.domestic_balanced && recorded.totals == settled.answer.sent);

    // A settled sale is not voided (it is refunded instead); the next sale is in the new batch.
    let refused = prepare(&rig.outbox, &Asked::Void { voucher: done.trace }).await.unwrap_err();
    assert!(refused.to_string().contains("settled") && refused.to_string().contains("refund it instead"), "{refused}");
    let (_, next, ok) = rig.ask(&link, Asked::Sale { amount: cny(1_000) }).await;
    ok.expect("sale in the new batch");
    assert_eq!((next.batch, next.trace), (first.batch + 1, 1));

    // A receipt this terminal holds that the host never approved: the host's totals differ.
    let card = card();
    let mut ghost = journalled(&link, 7_700, &card);
    ghost.operation = ereceipt_terminal::outbox::Operation::sale();
    let trace = rig.outbox.authorisation_requested(&ghost, now()).await.unwrap();
    rig.outbox
        .authorisation_approved(&ghost.request_id, &"G1G2G3".parse().unwrap(), &"632914999000".parse().unwrap(), now())
        .await
        .unwrap();
    rig.store_receipt(&ghost.request_id, trace).await;
    let off = settle(&rig.outbox, &link, till(), now).await.expect("settled, not balanced");
    assert!(!off.answer.domestic_balanced && off.answer.foreign_balanced, "{off:?}");
    assert_eq!(field(&rig.received("settlement")[1], "ledger"), "settled: not balanced");

    // Nothing settles while a request is open at the host.
    let pending = journalled(&link, 500, &card);
    rig.outbox.authorisation_requested(&pending, now()).await.unwrap();
    assert!(matches!(settle(&rig.outbox, &link, till(), now).await, Err(SettleError::Open { open: 1, .. })));
}
