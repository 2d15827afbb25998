//! End-to-end tests of `capture`: every input shape, every refusal, and the PCI rules that no
//! error, `Debug` or summary shows a full card number or track.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::NaiveDate;
use proptest::prelude::*;

use super::*;

const TEST_MODE: CardPolicy = CardPolicy { accept_clear_tracks: true, allow_chip_fallback: false };

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn today() -> NaiveDate {
    day(2026, 5, 20)
}

fn json_input(json: &str) -> CardInput {
    serde_json::from_str(json).unwrap()
}

fn capture_err(input: &CardInput, policy: &CardPolicy) -> CardError {
    capture(input, policy, today()).expect_err("capture should be refused")
}

/// The test cards of the brief: (PAN, brand).
const CARDS: [(&str, CardBrand); 7] = [
    ("4111111111111111", CardBrand::Visa),
    ("5555555555554444", CardBrand::Mastercard),
    ("378282246310005", CardBrand::AmericanExpress),
    ("3530111333300000", CardBrand::Jcb),
    ("6011111111111117", CardBrand::Discover),
    ("30569309025904", CardBrand::DinersClub),
    ("6222020200112233446", CardBrand::UnionPay),
];

#[test]
fn the_documented_transaction_example_captures() {
    let input = json_input(r#"{"track2":";6222020200112233446=29121011234567890?"}"#);
    let card = capture(&input, &TEST_MODE, today()).unwrap();
    assert_eq!(card.summary.brand, CardBrand::UnionPay);
    assert_eq!(card.summary.masked_pan.stored_form(), "622202*********3446");
    assert_eq!(card.summary.masked_pan.for_receipt(), "*** **** **** **** 3446");
    assert_eq!(card.summary.cardholder_name, None);
    assert_eq!(card.summary.entry_mode, EntryMode::MagneticStripe);
    assert!(!card.summary.encrypted_reader);
    assert_eq!(card.expiry, ExpiryDate::new(2029, 12).unwrap());
    assert_eq!(card.service_code.unwrap().as_string(), "101");
    match &card.authorisation {
        AuthorisationData::Clear { pan, track1, track2 } => {
            assert_eq!(pan.expose_digits(), "6222020200112233446");
            assert!(track1.is_none());
            assert_eq!(track2.as_ref().unwrap().expose(), "6222020200112233446=29121011234567890");
        }
        other => panic!("expected clear data, got {other:?}"),
    }
}

#[test]
fn every_test_card_captures_from_both_tracks() {
    for (pan, brand) in CARDS {
        let swipe = format!("%B{pan}^DOE/JANE^3012101000?;{pan}=3012101000?\r\n");
        let card =
            capture(&CardInput::swipe(swipe.as_str()), &TEST_MODE, today()).unwrap_or_else(|e| panic!("{pan}: {e}"));
        assert_eq!(card.summary.brand, brand, "{pan}");
        assert_eq!(card.summary.masked_pan.last4(), &pan[pan.len() - 4..]);
        assert_eq!(card.summary.masked_pan.bin(), &pan[..crate::card::pan::kept_leading(pan.len())]);
        let expected_name = if brand == CardBrand::UnionPay { "DOE JANE" } else { "JANE DOE" };
        assert_eq!(card.summary.cardholder_name.as_deref(), Some(expected_name));

        let debug = format!("{card:?} {card:#?} {input:?}", input = CardInput::swipe(swipe.as_str()));
        assert!(!debug.contains(pan), "{debug}");
        assert!(!debug.contains("3012101000"), "{debug}");
        let summary_json = serde_json::to_string(&card.summary).unwrap();
        assert!(!summary_json.contains(pan), "{summary_json}");
    }
}

#[test]
fn track1_and_track2_as_separate_json_fields() {
    let json = r#"{"track1":"%B5555555555554444^HOGAN/PAUL^2812101?","track2":";5555555555554444=2812101?"}"#;
    let card = capture(&json_input(json), &TEST_MODE, today()).unwrap();
    assert_eq!(card.summary.brand, CardBrand::Mastercard);
    assert_eq!(card.summary.cardholder_name.as_deref(), Some("PAUL HOGAN"));
}

#[test]
fn summary_round_trips_through_json() {
    let card = capture(&CardInput::track2(";4111111111111111=2912101?"), &TEST_MODE, today()).unwrap();
    let json = serde_json::to_string(&card.summary).unwrap();
    assert_eq!(
        json,
        r#"{"brand":"visa","masked_pan":"411111******1111","cardholder_name":null,"entry_mode":"magstripe","encrypted_reader":false}"#
    );
    let back: CardSummary = serde_json::from_str(&json).unwrap();
    assert_eq!(back, card.summary);
}

#[test]
fn clear_tracks_are_refused_outside_test_mode() {
    let production = CardPolicy::default();
    for input in [
        CardInput::track2(";4111111111111111=2912101?"),
        CardInput::swipe("%B4111111111111111^A/B^2912101?;4111111111111111=2912101?"),
        json_input(r#"{"track1":"%B4111111111111111^A/B^2912101?"}"#),
    ] {
        let error = capture_err(&input, &production);
        assert_eq!(error, CardError::ClearTrackRefused);
        assert_eq!(error.to_string(), "clear card data is only accepted in test-card mode; use an encrypting reader");
    }
}

#[test]
fn expiry_is_checked_against_the_transaction_date() {
    let input = CardInput::track2(";4111111111111111=2605101?");
    assert!(capture(&input, &TEST_MODE, day(2026, 5, 31)).is_ok());
    let error = capture(&input, &TEST_MODE, day(2026, 6, 1)).err().unwrap();
    assert_eq!(error, CardError::CardExpired { year: 2026, month: 5 });
    assert_eq!(error.to_string(), "card expired at the end of 2026-05");
}

#[test]
fn chip_cards_need_the_fallback_policy() {
    let input = CardInput::track2(";6222020200112233446=2912201?");
    assert_eq!(capture_err(&input, &TEST_MODE), CardError::ChipCardSwiped);
    let fallback = CardPolicy { allow_chip_fallback: true, ..TEST_MODE };
    let card = capture(&input, &fallback, today()).unwrap();
    assert_eq!(card.summary.entry_mode, EntryMode::ChipFallback);
    assert_eq!(card.summary.entry_mode.code(), "fallback");
    assert_eq!(EntryMode::from_code("fallback"), Some(EntryMode::ChipFallback));
    assert_eq!(EntryMode::from_code("magstripe"), Some(EntryMode::MagneticStripe));
    assert_eq!(EntryMode::from_code("chip"), None);
}

#[test]
fn tracks_must_agree() {
    let other_pan = CardInput::swipe("%B4111111111111111^A/B^2912101?;5555555555554444=2912101?");
    assert_eq!(capture_err(&other_pan, &TEST_MODE), CardError::TracksDisagree { field: "card number" });
    let other_expiry = CardInput::swipe("%B4111111111111111^A/B^2912101?;4111111111111111=2911101?");
    assert_eq!(capture_err(&other_expiry, &TEST_MODE), CardError::TracksDisagree { field: "expiry date" });
}

/// One input per refusal, each built around the UnionPay test PAN, with its expected error.
fn refusals() -> Vec<(CardInput, CardPolicy, CardError)> {
    let pan = "6222020200112233446";
    let t = TEST_MODE;
    let sred_ok_tail = "|0600|||||61403000||B1CBB65090413AA||9011880B1CBB65000001|38A7||0000";
    vec![
        (CardInput::track2(format!(";{pan}=2912101")), t, CardError::MalformedTrack2 { part: TrackPart::Sentinel }),
        (CardInput::track2(format!(";{pan}2912101?")), t, CardError::MalformedTrack2 { part: TrackPart::Separator }),
        (CardInput::track2(format!(";{pan}9=2912101?")), t, CardError::MalformedTrack2 { part: TrackPart::Pan }),
        (CardInput::track2(format!(";{pan}=2999101?")), t, CardError::MalformedTrack2 { part: TrackPart::Expiry }),
        (CardInput::track2(format!(";{pan}=291210?")), t, CardError::MalformedTrack2 { part: TrackPart::ServiceCode }),
        (
            CardInput::track2(format!(";{pan}=2912101A?")),
            t,
            CardError::MalformedTrack2 { part: TrackPart::DiscretionaryData },
        ),
        (
            CardInput::track2(format!(";{pan}=2912101{}?", "0".repeat(20))),
            t,
            CardError::MalformedTrack2 { part: TrackPart::Length },
        ),
        (
            CardInput::swipe(format!("%A{pan}^DOE/J^2912101?")),
            t,
            CardError::MalformedTrack1 { part: TrackPart::FormatCode },
        ),
        (
            CardInput::swipe(format!("%B{pan}^{}^2912101?", "N".repeat(27))),
            t,
            CardError::MalformedTrack1 { part: TrackPart::Name },
        ),
        (
            CardInput::swipe(format!("x;{pan}=2912101?")),
            t,
            CardError::MalformedSwipe { reason: "characters outside the tracks" },
        ),
        (CardInput::swipe("%E?;E?\r\n"), t, CardError::NoTrackData),
        (
            CardInput::swipe(format!("%B{pan}^DOE/J^2912101?;4111111111111111=2912101?")),
            t,
            CardError::TracksDisagree { field: "card number" },
        ),
        (CardInput::track2(";6222020200112233447=2912101?"), t, CardError::LuhnCheckFailed),
        (CardInput::track2(format!(";{pan}=2412101?")), t, CardError::CardExpired { year: 2024, month: 12 }),
        (
            CardInput::track2(format!(";{pan}=2912301?")),
            t,
            CardError::InvalidServiceCode { reason: "first digit must be 1, 2, 5, 6, 7 or 9" },
        ),
        (CardInput::track2(format!(";{pan}=2912201?")), t, CardError::ChipCardSwiped),
        (CardInput::track2(format!(";{pan}=2912101?")), CardPolicy::default(), CardError::ClearTrackRefused),
        (
            CardInput::magtek(format!(";{pan}=2912101?")),
            t,
            CardError::MalformedReaderOutput { reader: "MagTek MagneSafe", field: ReaderField::FieldCount },
        ),
        (
            CardInput::magtek(format!(";{pan}=2912101?{sred_ok_tail}")),
            t,
            CardError::MalformedReaderOutput { reader: "MagTek MagneSafe", field: ReaderField::EncryptedTrack2 },
        ),
        (
            CardInput::magtek(format!(";{pan}=2912101?{}", sred_ok_tail.replace("0600", "0400"))),
            t,
            CardError::ReaderNotEncrypting { reason: "no DUKPT key injected" },
        ),
    ]
}

#[test]
fn every_refusal_has_its_own_error_and_never_shows_card_data() {
    let pan = "6222020200112233446";
    for (input, policy, expected) in refusals() {
        let error = capture(&input, &policy, today()).err();
        assert_eq!(error.as_ref(), Some(&expected), "{input:?}");
        let shown = format!("{expected} {expected:?} {input:?}");
        assert!(!shown.contains(pan), "{shown}");
        assert!(!shown.contains("2912101"), "{shown}");
        assert!(!shown.contains(&pan[..12]), "{shown}");
        assert!(!expected.to_string().contains('\n'), "one line: {expected}");
    }
}

#[test]
fn captures_from_a_magtek_reader() {
    let raw = format!(
        "%B622202*********3446^ZHANG/SAN^2912*************?;622202*********3446=2912**********?\
         |0600|{t1}|{t2}||61403000|{mp}|B1CBB65090413AA|0123456789ABCDEF|9011880B1CBB65000001|38A7||0000\r",
        t1 = "AB".repeat(48),
        t2 = "CD".repeat(24),
        mp = "EF".repeat(56),
    );
    let input = json_input(&serde_json::json!({"reader": "magtek", "data": raw}).to_string());
    // Clear tracks are not involved: the production policy accepts it.
    let card = capture(&input, &CardPolicy::default(), today()).unwrap();
    assert_eq!(card.summary.brand, CardBrand::UnionPay);
    assert_eq!(card.summary.masked_pan.stored_form(), "622202*********3446");
    assert_eq!(card.summary.cardholder_name.as_deref(), Some("ZHANG SAN"));
    assert!(card.summary.encrypted_reader);
    assert_eq!(card.service_code, None);
    assert!(card.authorisation.is_encrypted());
    let debug = format!("{card:?}");
    assert!(!debug.contains("CDCDCD"), "{debug}");
    assert!(debug.contains("9011880B1CBB65000001"), "{debug}");

    let expired = capture(&input, &CardPolicy::default(), day(2030, 1, 1)).err();
    assert_eq!(expired, Some(CardError::CardExpired { year: 2029, month: 12 }));
}

proptest! {
    #[test]
    fn capture_never_panics_and_never_leaks(raw in "[%;?^=B0-9A-Z/|\r\n]{0,100}") {
        for input in [CardInput::swipe(raw.as_str()), CardInput::magtek(raw.as_str()), CardInput::track2(raw.as_str())] {
            if let Err(error) = capture(&input, &TEST_MODE, today()) {
                let shown = format!("{error} {error:?}");
                // Any digit run long enough to be a card number must not come back.
                if raw.len() >= 12 {
                    prop_assert!(!shown.contains(raw.as_str()), "{}", shown);
                }
            }
        }
    }
}
