use super::*;

fn facts(id: &str, kind: TransactionType, minor: u64) -> Facts {
    Facts {
        receipt_id: id.into(),
        kind,
        terminal_id: "POS00001".into(),
        batch: 3,
        voucher: 7,
        minor,
        currency: Currency::CNY,
        rrn: "123456789012".into(),
        auth_code: "A1B2C3".into(),
        local_date: "2026-12-01".into(),
    }
}

fn naming(o: &Facts) -> Named {
    Named {
        receipt_id: Some(o.receipt_id.clone()),
        batch: Some(o.batch),
        voucher: Some(o.voucher),
        rrn: Some(o.rrn.clone()),
        auth_code: Some(o.auth_code.clone()),
        date: o.local_date.clone(),
    }
}

fn verdict(child: &Facts, o: &Facts, siblings: &[Facts]) -> Option<Problem> {
    let j = judge(child, &naming(o), Some(o), siblings);
    assert_eq!(j.state == LinkState::Verified, j.problem.is_none(), "{j:?}");
    j.problem
}

#[test]
fn a_child_whose_original_is_not_held_waits() {
    let void = facts("POS00001-000003-000008", TransactionType::Void, 100);
    let j = judge(&void, &Named::default(), None, &[]);
    assert_eq!(j, Judgement { state: LinkState::Pending, problem: None });
}

#[test]
fn a_void_takes_back_its_sale_whole_once_on_its_terminal_and_batch() {
    let sale = facts("S", TransactionType::Sale, 12_850);
    let void = facts("V", TransactionType::Void, 12_850);
    assert_eq!(verdict(&void, &sale, &[]), None);
    assert_eq!(verdict(&facts("V", TransactionType::Void, 12_000), &sale, &[]), Some(Problem::AmountDiffers));
    assert_eq!(verdict(&void, &sale, std::slice::from_ref(&void)), Some(Problem::AlreadyVoided));
    let refund = facts("R", TransactionType::Refund, 100);
    assert_eq!(verdict(&void, &sale, &[refund]), Some(Problem::AlreadyRefunded));
    let elsewhere = Facts { terminal_id: "POS00002".into(), ..void.clone() };
    assert_eq!(verdict(&elsewhere, &sale, &[]), Some(Problem::OtherTerminalOrBatch));
    let later = Facts { batch: 4, ..void.clone() };
    assert_eq!(verdict(&later, &sale, &[]), Some(Problem::OtherTerminalOrBatch));
    let mut wrong_voucher = naming(&sale);
    wrong_voucher.voucher = Some(8);
    assert_eq!(judge(&void, &wrong_voucher, Some(&sale), &[]).problem, Some(Problem::VoucherDiffers));
    let completion = facts("C", TransactionType::PreAuthCompletion, 12_850);
    assert_eq!(verdict(&void, &completion, &[]), None, "a completion can be voided");
    let pre_auth = facts("P", TransactionType::PreAuth, 12_850);
    assert_eq!(verdict(&void, &pre_auth, &[]), Some(Problem::WrongKind));
}

#[test]
fn refunds_never_total_more_than_the_sale() {
    let sale = facts("S", TransactionType::Sale, 10_000);
    let first = facts("R1", TransactionType::Refund, 6_000);
    assert_eq!(verdict(&first, &sale, &[]), None);
    let second = facts("R2", TransactionType::Refund, 4_000);
    assert_eq!(verdict(&second, &sale, std::slice::from_ref(&first)), None, "exactly the rest");
    let third = facts("R3", TransactionType::Refund, 1);
    assert_eq!(verdict(&third, &sale, &[first.clone(), second]), Some(Problem::OverRefunded));
    assert_eq!(
        verdict(&facts("R", TransactionType::Refund, 10_001), &sale, &[]),
        Some(Problem::OverRefunded),
        "one refund above the sale"
    );
    let void = facts("V", TransactionType::Void, 10_000);
    assert_eq!(verdict(&first, &sale, &[void]), Some(Problem::AlreadyVoided));
    let other_day = Named { date: "2026-12-02".into(), ..naming(&sale) };
    assert_eq!(judge(&first, &other_day, Some(&sale), &[]).problem, Some(Problem::DateDiffers));
    let other_rrn = Named { rrn: Some("999999999999".into()), ..naming(&sale) };
    assert_eq!(judge(&first, &other_rrn, Some(&sale), &[]).problem, Some(Problem::RrnDiffers));
    let dollars = Facts { currency: "USD".parse().expect("USD"), ..first };
    assert_eq!(verdict(&dollars, &sale, &[]), Some(Problem::CurrencyDiffers));
    let from_another_terminal =
        Facts { terminal_id: "POS00009".into(), batch: 9, ..facts("R", TransactionType::Refund, 5) };
    assert_eq!(verdict(&from_another_terminal, &sale, &[]), None, "refunds may come from any terminal and batch");
}

#[test]
fn a_completion_charges_its_pre_authorisation_plus_fifteen_percent_at_most_once() {
    let pre_auth = facts("P", TransactionType::PreAuth, 10_000);
    let at_limit = facts("C", TransactionType::PreAuthCompletion, 11_500);
    assert_eq!(verdict(&at_limit, &pre_auth, &[]), None);
    assert_eq!(
        verdict(&facts("C", TransactionType::PreAuthCompletion, 11_501), &pre_auth, &[]),
        Some(Problem::OverCompletionLimit)
    );
    assert_eq!(verdict(&at_limit, &pre_auth, std::slice::from_ref(&at_limit)), Some(Problem::AlreadyCompleted));
    let other_code = Named { auth_code: Some("ZZZZZZ".into()), ..naming(&pre_auth) };
    assert_eq!(judge(&at_limit, &other_code, Some(&pre_auth), &[]).problem, Some(Problem::AuthCodeDiffers));
    let sale = facts("S", TransactionType::Sale, 10_000);
    assert_eq!(verdict(&at_limit, &sale, &[]), Some(Problem::WrongKind));
}

#[test]
fn net_is_the_charge_less_what_was_given_back() {
    assert_eq!(net_minor(TransactionType::Sale, 10_000, 2_500), Some(7_500));
    assert_eq!(net_minor(TransactionType::Sale, 10_000, 10_000), Some(0));
    assert_eq!(net_minor(TransactionType::Refund, 10_000, 0), None);
    assert_eq!(net_minor(TransactionType::PreAuth, 10_000, 0), None);
    assert_eq!(signed_minor(TransactionType::Void, 500), -500);
    assert_eq!(signed_minor(TransactionType::PreAuth, 500), 0);
    assert_eq!(signed_minor(TransactionType::PreAuthCompletion, 500), 500);
}

#[test]
fn problem_codes_round_trip_and_are_described_in_both_languages() {
    for (p, code) in PROBLEMS {
        assert_eq!(p.code(), code);
        assert_eq!(Problem::parse(code), Some(p));
        let (en, zh) = p.describe();
        assert!(!en.is_empty() && !zh.is_empty());
    }
    assert_eq!(Problem::parse("nonsense"), None);
    for s in [LinkState::Verified, LinkState::Pending, LinkState::Mismatch] {
        assert_eq!(LinkState::parse(s.as_str()), Some(s));
    }
}
