use ereceipt_core::card::{capture, CardInput, CardPolicy};
use ereceipt_core::model::{MerchantId, OperatorId, TerminalId};

use super::*;

fn time() -> LocalTime {
    "2026-11-25T14:03:11+08:00".parse().expect("time")
}

fn ids() -> (TerminalId, MerchantId, OperatorId) {
    ("POS00001".parse().expect("tid"), "898440358120001".parse().expect("mid"), "7".parse().expect("op"))
}

fn cny(minor: u64) -> Money {
    Money::new(minor, "CNY".parse().expect("CNY")).expect("money")
}

#[test]
fn a_sale_carries_the_profiles_fields_and_the_track_but_no_pan_unless_asked() {
    let policy = CardPolicy { accept_clear_tracks: true, allow_chip_fallback: false };
    let card =
        capture(&CardInput::track2(";6222020200112233446=29121011234567890?"), &policy, time().local().date_naive())
            .expect("card");
    let (tid, mid, op) = ids();
    let request = AuthorisationRequest {
        amount: cny(12_850),
        card: &card.summary,
        card_data: &card.authorisation,
        terminal_id: &tid,
        merchant_id: &mid,
        time: time(),
        trace: Trace { batch: 3, trace: 123 },
        operator: &op,
        operation: &Operation::sale(),
    };
    let clear = CardFields { send_pan: false, encrypted: 62 };
    let m = financial(&request, clear).expect("sale");
    assert_eq!(m.mti.as_str(), "0200");
    let want = [
        (3, "000000"),
        (4, "000000012850"),
        (11, "000123"),
        (12, "140311"),
        (13, "1125"),
        (22, "022"),
        (25, "00"),
        (60, "22000003000"),
    ];
    for (field, value) in want {
        assert_eq!(m.digits(field), Some(value), "field {field}");
    }
    assert_eq!(m.digits(35), Some("6222020200112233446=29121011234567890"));
    assert_eq!(
        (m.text(41), m.text(42), m.text(49), m.text(63)),
        (Some("POS00001"), Some("898440358120001"), Some("156"), Some("7  "))
    );
    assert!(!m.contains(2) && !m.contains(64), "no PAN unless send_pan; the MAC is the link's");
    assert_eq!(
        financial(&request, CardFields { send_pan: true, ..clear }).expect("sale").digits(2),
        Some("6222020200112233446")
    );

    // An encrypting reader's output: its KSN and encrypted track 2, untouched, in the binary
    // field; no clear track or PAN anywhere.
    let enc = ereceipt_core::card::AuthorisationData::Encrypted {
        format: ereceipt_core::card::MAGTEK_FORMAT,
        ksn: vec![0x90; 10],
        ciphertext: vec![0xC7; 32],
        track1_ciphertext: vec![0xA1; 64],
        magneprint: vec![],
        magneprint_status: String::new(),
        device_serial: "B1CBB65090413AA".into(),
    };
    let m =
        financial(&AuthorisationRequest { card_data: &enc, ..request }, CardFields { send_pan: true, encrypted: 62 })
            .expect("sale");
    let field62 = m.bytes(62).expect("field 62");
    assert_eq!((&field62[..10], &field62[10..]), (&[0x90u8; 10][..], &[0xC7u8; 32][..]));
    assert!(!m.contains(35) && !m.contains(2));
}

#[test]
fn a_reversal_repeats_the_original_and_says_why() {
    let (tid, mid, _) = ids();
    let approval = Approval { auth_code: "A1B2C3".parse().expect("auth"), rrn: "632914123456".parse().expect("rrn") };
    for (reason, code, approved) in [
        (ReversalReason::NoAnswer, "98", None),
        (ReversalReason::BadAnswer, "A0", None),
        (ReversalReason::NoReceipt, "06", Some(approval.clone())),
        (ReversalReason::Cancelled, "06", Some(approval.clone())),
    ] {
        let r = ReversalRequest {
            request_id: "0123456789abcdef0123456789abcdef",
            amount: cny(500),
            terminal_id: &tid,
            merchant_id: &mid,
            time: time(),
            trace: Some(Trace { batch: 1, trace: 42 }),
            operator: Some("01"),
            operation: &Operation::sale(),
            approval: approved.clone(),
            reason,
            attempt: 2,
        };
        let m = reversal(&r, Trace { batch: 1, trace: 42 }).expect("reversal");
        assert_eq!(m.mti.as_str(), "0400");
        assert_eq!(
            (m.digits(11), m.digits(4), m.text(39)),
            (Some("000042"), Some("000000000500"), Some(code)),
            "{reason}"
        );
        assert_eq!(m.text(38), approved.as_ref().map(|a| a.auth_code.as_str()), "{reason}");
        assert!(!m.contains(35) && !m.contains(2), "a reversal carries no card data");
    }
}

fn original(voucher: u32) -> ereceipt_core::model::OriginalRef {
    ereceipt_core::model::OriginalRef {
        receipt_id: Some("POS00001-000003-000120".parse().expect("id")),
        batch: Some(ereceipt_core::model::BatchNo::new(3).expect("batch")),
        voucher: Some(ereceipt_core::model::VoucherNo::new(voucher).expect("voucher")),
        rrn: Some("632914123456".parse().expect("rrn")),
        auth_code: Some("A1B2C3".parse().expect("auth")),
        date: chrono::NaiveDate::from_ymd_opt(2026, 11, 24).expect("date"),
    }
}

/// Every operation as the profile's table (docs/host-link.md) sends it: type, processing code,
/// condition, 60.1 and the fields naming the original; its reversal repeats them.
#[test]
fn each_operation_is_sent_as_the_profile_says_and_its_reversal_repeats_it() {
    let policy = CardPolicy { accept_clear_tracks: true, allow_chip_fallback: false };
    let card =
        capture(&CardInput::track2(";6222020200112233446=29121011234567890?"), &policy, time().local().date_naive())
            .expect("card");
    let (tid, mid, op) = ids();
    let full = original(120);
    let refund_of = ereceipt_core::model::OriginalRef {
        receipt_id: None,
        batch: None,
        voucher: None,
        auth_code: None,
        ..full.clone()
    };
    let completion_of =
        ereceipt_core::model::OriginalRef { receipt_id: None, batch: None, voucher: None, rrn: None, ..full.clone() };
    let operation = |kind, original: Option<&ereceipt_core::model::OriginalRef>, voids| Operation {
        kind,
        original: original.cloned(),
        voids,
    };
    use TransactionType::*;
    let cases = [
        (operation(Sale, None, None), "0200", "000000", "00", "22", None, None, None),
        (operation(PreAuth, None, None), "0100", "030000", "06", "10", None, None, None),
        (
            operation(PreAuthCompletion, Some(&completion_of), None),
            "0200",
            "000000",
            "06",
            "20",
            None,
            Some("A1B2C3"),
            Some("0000000000001124"),
        ),
        (
            operation(Void, Some(&full), Some(Sale)),
            "0200",
            "200000",
            "00",
            "23",
            Some("632914123456"),
            Some("A1B2C3"),
            Some("0000030001201124"),
        ),
        (
            operation(Void, Some(&full), Some(PreAuthCompletion)),
            "0200",
            "200000",
            "06",
            "21",
            Some("632914123456"),
            Some("A1B2C3"),
            Some("0000030001201124"),
        ),
        (
            operation(Refund, Some(&refund_of), None),
            "0220",
            "200000",
            "00",
            "25",
            Some("632914123456"),
            None,
            Some("0000000000001124"),
        ),
    ];
    for (operation, mti, processing, condition, type_code, f37, f38, f61) in cases {
        operation.check().expect("a valid operation");
        let request = AuthorisationRequest {
            amount: cny(12_850),
            card: &card.summary,
            card_data: &card.authorisation,
            terminal_id: &tid,
            merchant_id: &mid,
            time: time(),
            trace: Trace { batch: 3, trace: 123 },
            operator: &op,
            operation: &operation,
        };
        let m = financial(&request, CardFields { send_pan: false, encrypted: 62 }).expect("message");
        let kind = operation.kind;
        assert_eq!(m.mti.as_str(), mti, "{kind}");
        assert_eq!((m.digits(3), m.digits(25)), (Some(processing), Some(condition)), "{kind}");
        assert_eq!(m.digits(60), Some(format!("{type_code}000003000").as_str()), "{kind}");
        assert_eq!((m.text(37), m.text(38), m.digits(61)), (f37, f38, f61), "{kind}");
        assert!(m.contains(35), "{kind} carries the card");

        let r = ReversalRequest {
            request_id: "0123456789abcdef0123456789abcdef",
            amount: cny(12_850),
            terminal_id: &tid,
            merchant_id: &mid,
            time: time(),
            trace: Some(Trace { batch: 3, trace: 123 }),
            operator: Some("01"),
            operation: &operation,
            approval: None,
            reason: ReversalReason::NoAnswer,
            attempt: 1,
        };
        let reversed = reversal(&r, Trace { batch: 3, trace: 123 });
        if kind == Refund {
            assert!(matches!(reversed, Err(AuthorisationError::NotSent(_))), "a refund is never reversed");
            continue;
        }
        let m = reversed.expect("reversal");
        assert_eq!(m.mti.as_str(), "0400", "{kind}");
        assert_eq!(
            (m.digits(3), m.digits(25), m.digits(11)),
            (Some(processing), Some(condition), Some("000123")),
            "{kind}"
        );
        assert_eq!(m.digits(60), Some(format!("{type_code}000003000").as_str()), "{kind}");
        assert_eq!((m.text(37), m.text(38), m.digits(61)), (f37, f38, f61), "{kind}");
        assert!(!m.contains(35) && !m.contains(2), "a reversal carries no card data");
    }
}

fn answer(fields: &[(u8, &str)], mti: &str) -> Message {
    let mut m = Message::new(Mti::new(mti).expect("mti"));
    for (f, v) in fields {
        if matches!(f, 37..=39 | 41) {
            m.set_text(*f, *v);
        } else {
            m.set_digits(*f, *v);
        }
    }
    m
}

#[test]
fn an_answer_must_be_to_this_request_and_an_approval_must_carry_its_codes() {
    let request = answer(&[(11, "000123"), (41, "POS00001"), (4, "000000012850")], "0200");
    let ok = answer(
        &[(11, "000123"), (41, "POS00001"), (4, "000000012850"), (39, "00"), (38, "A1B2C3"), (37, "632914123456")],
        "0210",
    );
    check_answer_to(&ok, &request).expect("its answer");
    let a = approval(&ok).expect("approved");
    assert_eq!((a.auth_code.as_str(), a.rrn.as_str()), ("A1B2C3", "632914123456"));

    for (bad, why) in [
        (answer(&[(11, "000123"), (41, "POS00001"), (39, "00")], "0410"), "0410"),
        (answer(&[(11, "000124"), (41, "POS00001"), (39, "00")], "0210"), "field 11"),
        (answer(&[(11, "000123"), (41, "POS00002"), (39, "00")], "0210"), "field 41"),
        (answer(&[(11, "000123"), (41, "POS00001"), (4, "000000000001"), (39, "00")], "0210"), "field 4"),
    ] {
        let e = check_answer_to(&bad, &request).expect_err(why);
        assert!(matches!(&e, AuthorisationError::BadAnswer(m) if m.contains(why)), "{why}: {e}");
    }
    let no_auth = answer(&[(11, "000123"), (41, "POS00001"), (39, "00"), (37, "632914123456")], "0210");
    assert!(matches!(approval(&no_auth), Err(AuthorisationError::BadAnswer(m)) if m.contains("38")));
    let no_code = answer(&[(11, "000123"), (41, "POS00001")], "0210");
    assert!(matches!(approval(&no_code), Err(AuthorisationError::BadAnswer(m)) if m.contains("39")));
    match approval(&answer(&[(39, "51")], "0210")) {
        Err(AuthorisationError::Declined { code, message, message_zh }) => {
            assert_eq!(code, "51");
            assert!(
                message.to_lowercase().contains("insufficient") && message_zh.contains("余额不足"),
                "{message} {message_zh}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(needs_sign_in("77") && needs_sign_in("A0") && !needs_sign_in("51"));
}

#[test]
fn a_sign_in_asks_for_the_key_length_the_mac_needs() {
    let (tid, mid, op) = ids();
    let r = SignInRequest { trace: Trace { batch: 9, trace: 5 }, operator: &op, terminal_id: &tid, merchant_id: &mid };
    assert_eq!(sign_in(&r, false).expect("0800").digits(60), Some("00000009001"));
    assert_eq!(sign_in(&r, true).expect("0800").digits(60), Some("00000009003"));
    assert_eq!(answer_mti(Mti::new("0800").expect("mti")).expect("answer").as_str(), "0810");
}
