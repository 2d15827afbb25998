//! Tests of the track parsers and the swipe splitter, with property tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;

use super::*;

const VISA_T1: &str = "%B4111111111111111^HOGAN/PAUL      ^2912101000000725000000?";
const VISA_T2: &str = ";4111111111111111=29121010000072500000?";

fn t1_err(raw: &str) -> CardError {
    parse_track1(raw).expect_err("track 1 should be refused")
}

fn t2_err(raw: &str) -> CardError {
    parse_track2(raw).expect_err("track 2 should be refused")
}

#[test]
fn track1_parses_every_field() {
    let t = parse_track1(VISA_T1).unwrap();
    assert_eq!(t.pan.expose_digits(), "4111111111111111");
    assert_eq!(t.name, "HOGAN/PAUL      ");
    assert_eq!(t.expiry, ExpiryDate::new(2029, 12).unwrap());
    assert_eq!(t.service_code.as_string(), "101");
    assert_eq!(t.data.expose(), &VISA_T1[1..VISA_T1.len() - 1]);
}

#[test]
fn track1_without_sentinels_with_lrc_and_newline() {
    for raw in [
        "B4111111111111111^HOGAN/PAUL^2912101",
        "%B4111111111111111^HOGAN/PAUL^2912101?",
        "%B4111111111111111^HOGAN/PAUL^2912101?;",
        "%B4111111111111111^HOGAN/PAUL^2912101?X\r\n",
        "B4111111111111111^HOGAN/PAUL^2912101?\n",
    ] {
        let t = parse_track1(raw).unwrap_or_else(|e| panic!("{raw:?}: {e}"));
        assert_eq!(t.pan.expose_digits(), "4111111111111111");
        assert_eq!(t.name, "HOGAN/PAUL");
    }
}

#[test]
fn track2_parses_every_field() {
    for raw in [VISA_T2, "4111111111111111=29121010000072500000", ";4111111111111111=29121010000072500000?5\r\n"] {
        let t = parse_track2(raw).unwrap_or_else(|e| panic!("{raw:?}: {e}"));
        assert_eq!(t.pan.expose_digits(), "4111111111111111");
        assert_eq!(t.expiry, ExpiryDate::new(2029, 12).unwrap());
        assert_eq!(t.service_code.as_string(), "101");
        assert_eq!(t.data.expose(), "4111111111111111=29121010000072500000");
    }
}

#[test]
fn the_documented_unionpay_track2_parses() {
    let t = parse_track2(";6222020200112233446=29121011234567890?").unwrap();
    assert_eq!(t.pan.masked().stored_form(), "622202*********3446");
    assert_eq!(t.expiry, ExpiryDate::new(2029, 12).unwrap());
    assert_eq!(t.service_code.as_string(), "101");
}

#[test]
fn track1_errors_name_the_part() {
    use TrackPart::*;
    let cases: [(&str, CardError); 12] = [
        ("%B4111111111111111^HOGAN/PAUL^2912101", CardError::MalformedTrack1 { part: Sentinel }),
        ("%B4111111111111111^A^2912101?12", CardError::MalformedTrack1 { part: Sentinel }),
        ("%A4111111111111111^HOGAN/PAUL^2912101?", CardError::MalformedTrack1 { part: FormatCode }),
        ("%B4111111111111111HOGAN/PAUL2912101?", CardError::MalformedTrack1 { part: Separator }),
        ("%B4111111111111111^HOGAN/PAUL2912101?", CardError::MalformedTrack1 { part: Separator }),
        ("%B41111111111^HOGAN/PAUL^2912101?", CardError::MalformedTrack1 { part: Pan }),
        ("%B4111-1111-1111-1111^HOGAN/PAUL^2912101?", CardError::MalformedTrack1 { part: Pan }),
        ("%B4111111111111111^ABCDEFGHIJKLMNOPQRSTUVWXYZA^2912101?", CardError::MalformedTrack1 { part: Name }),
        ("%B4111111111111111^HOGAN/PAUL^2913101?", CardError::MalformedTrack1 { part: Expiry }),
        ("%B4111111111111111^HOGAN/PAUL^29121?", CardError::MalformedTrack1 { part: ServiceCode }),
        ("%B4111111111111111^HOGAN/PAUL^2912101\u{1}?", CardError::MalformedTrack1 { part: DiscretionaryData }),
        (
            "%B4111111111111111^HOGAN/PAUL^29121010000000000000000000000000000000000000000000000000?",
            CardError::MalformedTrack1 { part: Length },
        ),
    ];
    for (raw, expected) in cases {
        assert_eq!(t1_err(raw), expected, "{raw:?}");
    }
}

#[test]
fn track2_errors_name_the_part() {
    use TrackPart::*;
    let cases: [(&str, CardError); 8] = [
        (";4111111111111111=2912101", CardError::MalformedTrack2 { part: Sentinel }),
        ("%B4111111111111111^A^2912101?;4111111111111111=2912101?", CardError::MalformedTrack2 { part: Sentinel }),
        (";41111111111111112912101?", CardError::MalformedTrack2 { part: Separator }),
        (";411111111=2912101?", CardError::MalformedTrack2 { part: Pan }),
        (";4111111111111111=2900101?", CardError::MalformedTrack2 { part: Expiry }),
        (";4111111111111111=29121?", CardError::MalformedTrack2 { part: ServiceCode }),
        (";4111111111111111=2912101ABC?", CardError::MalformedTrack2 { part: DiscretionaryData }),
        (";4111111111111111=29121010000000000000000?", CardError::MalformedTrack2 { part: Length }),
    ];
    for (raw, expected) in cases {
        assert_eq!(t2_err(raw), expected, "{raw:?}");
    }
}

#[test]
fn value_errors_come_after_structure() {
    assert_eq!(t2_err(";4111111111111112=2912101?"), CardError::LuhnCheckFailed);
    assert_eq!(t1_err("%B4111111111111112^A/B^2912101?"), CardError::LuhnCheckFailed);
    assert!(matches!(t2_err(";4111111111111111=2912301?"), CardError::InvalidServiceCode { .. }));
    assert!(matches!(t1_err("%B4111111111111111^A/B^2912081?"), CardError::InvalidServiceCode { .. }));
}

#[test]
fn swipe_with_both_tracks_lrc_track3_and_newline() {
    let raw = format!("{VISA_T1}{VISA_T2}+5163499080020445=000000000000?\r\n");
    let tracks = split_swipe(&raw).unwrap();
    assert_eq!(tracks.track1, Some(VISA_T1));
    assert_eq!(tracks.track2, Some(VISA_T2));

    let with_lrc = format!("{VISA_T1}A{VISA_T2}7\n");
    let tracks = split_swipe(&with_lrc).unwrap();
    assert_eq!(tracks.track1, Some(VISA_T1));
    assert_eq!(tracks.track2, Some(VISA_T2));

    // The track 1 LRC happens to be ';' and is followed by track 2's own ';'.
    let lrc_semicolon = format!("{VISA_T1};{VISA_T2}");
    assert_eq!(split_swipe(&lrc_semicolon).unwrap().track2, Some(VISA_T2));
}

#[test]
fn swipe_with_read_errors_and_single_tracks() {
    let raw = format!("%E?{VISA_T2}");
    let tracks = split_swipe(&raw).unwrap();
    assert_eq!(tracks.track1, None);
    assert_eq!(tracks.track2, Some(VISA_T2));
    let raw = format!("{VISA_T1};E?");
    let tracks = split_swipe(&raw).unwrap();
    assert_eq!(tracks.track1, Some(VISA_T1));
    assert_eq!(tracks.track2, None);
    assert_eq!(split_swipe("%E?;E?+E?\r"), Err(CardError::NoTrackData));
    assert_eq!(split_swipe(""), Err(CardError::NoTrackData));
    assert_eq!(split_swipe("\r\n"), Err(CardError::NoTrackData));
}

#[test]
fn swipe_without_sentinels_is_read_line_by_line() {
    let raw = "B4111111111111111^HOGAN/PAUL^2912101\r\n4111111111111111=2912101\r\n";
    let tracks = split_swipe(raw).unwrap();
    assert_eq!(tracks.track1, Some("B4111111111111111^HOGAN/PAUL^2912101"));
    assert_eq!(tracks.track2, Some("4111111111111111=2912101"));
    assert!(matches!(split_swipe("hello"), Err(CardError::MalformedSwipe { .. })));
    assert!(matches!(
        split_swipe("4111111111111111=2912101\n4111111111111111=2912101"),
        Err(CardError::MalformedSwipe { .. })
    ));
}

#[test]
fn malformed_swipes() {
    for raw in [
        "%B4111111111111111^HOGAN/PAUL^2912101",
        "x%B4111111111111111^HOGAN/PAUL^2912101?",
        "%B4111111111111111^A^2912101?%B4111111111111111^A^2912101?",
        &"%".repeat(600),
    ] {
        assert!(matches!(split_swipe(raw), Err(CardError::MalformedSwipe { .. })), "{raw:?}");
    }
}

/// A card number of `len` digits with a valid Luhn check digit.
fn with_check_digit(body: &[u8]) -> String {
    let mut digits: String = body.iter().map(|d| char::from(b'0' + d)).collect();
    for check in 0..10u8 {
        let candidate = format!("{digits}{check}");
        if luhn_ok(&candidate) {
            digits.push(char::from(b'0' + check));
            return digits;
        }
    }
    unreachable!("one check digit always fits")
}

fn luhn_ok(digits: &str) -> bool {
    super::super::pan::luhn_valid(digits)
}

prop_compose! {
    fn valid_pan()(first in 1u8..10, rest in prop::collection::vec(0u8..10, 10..=17)) -> String {
        let mut body = vec![first];
        body.extend(rest);
        with_check_digit(&body)
    }
}

prop_compose! {
    fn service_code()(a in prop::sample::select(vec![1u8, 2, 5, 6, 7, 9]),
                      b in prop::sample::select(vec![0u8, 2, 4]),
                      c in 0u8..8) -> String {
        format!("{a}{b}{c}")
    }
}

proptest! {
    #[test]
    fn track_parsers_never_panic(raw in "\\PC{0,120}") {
        let _ = parse_track1(&raw);
        let _ = parse_track2(&raw);
        let _ = split_swipe(&raw);
    }

    #[test]
    fn track_parsers_never_panic_on_track_like_input(raw in "[%;+?^=B0-9A-Z/ \r\nE]{0,120}") {
        let _ = parse_track1(&raw);
        let _ = parse_track2(&raw);
        if let Ok(tracks) = split_swipe(&raw) {
            if let Some(t1) = tracks.track1 { let _ = parse_track1(t1); }
            if let Some(t2) = tracks.track2 { let _ = parse_track2(t2); }
        }
    }

    #[test]
    fn generated_tracks_parse_back(
        pan in valid_pan(),
        surname in "[A-Z]{1,12}",
        given in "[A-Z ]{0,10}",
        yy in 0u8..100,
        mm in 1u8..13,
        sc in service_code(),
        disc2 in "[0-9]{0,5}",
        disc1 in "[0-9A-Z ]{0,10}",
        sentinels in any::<bool>(),
    ) {
        let name = format!("{surname}/{given}");
        let yymm = format!("{yy:02}{mm:02}");
        let (t1, t2) = if sentinels {
            (format!("%B{pan}^{name}^{yymm}{sc}{disc1}?"), format!(";{pan}={yymm}{sc}{disc2}?"))
        } else {
            (format!("B{pan}^{name}^{yymm}{sc}{disc1}"), format!("{pan}={yymm}{sc}{disc2}"))
        };
        let expiry = ExpiryDate::new(2000 + u16::from(yy), mm).unwrap();

        let track1 = parse_track1(&t1).unwrap();
        prop_assert_eq!(track1.pan.expose_digits(), pan.as_str());
        prop_assert_eq!(&track1.name, &name);
        prop_assert_eq!(track1.expiry, expiry);
        prop_assert_eq!(track1.service_code.as_string(), sc.clone());

        let track2 = parse_track2(&t2).unwrap();
        prop_assert_eq!(track2.pan.expose_digits(), pan.as_str());
        prop_assert_eq!(track2.expiry, expiry);
        prop_assert_eq!(track2.service_code.as_string(), sc);

        let swipe = if sentinels { format!("{t1}{t2}\r\n") } else { format!("{t1}\n{t2}\n") };
        let split = split_swipe(&swipe).unwrap();
        prop_assert_eq!(split.track1, Some(t1.as_str()));
        prop_assert_eq!(split.track2, Some(t2.as_str()));
    }

    #[test]
    fn errors_never_contain_the_pan(
        pan in valid_pan(),
        cut in 0usize..60,
        position in 0usize..60,
        replacement in prop::sample::select(vec!['^', '=', '?', '%', ';', 'X', '9', ' ', '\u{e9}']),
    ) {
        let t1 = format!("%B{pan}^DOE/JANE^2912101123?");
        let t2 = format!(";{pan}=2912101123?");
        for track in [t1, t2] {
            let mut mangled: Vec<char> = track.chars().collect();
            if position < mangled.len() {
                mangled[position] = replacement;
            }
            mangled.truncate(mangled.len().saturating_sub(cut % 4));
            let mangled: String = mangled.into_iter().collect();
            let results = [
                parse_track1(&mangled).err(),
                parse_track2(&mangled).err(),
                split_swipe(&mangled).err(),
            ];
            for error in results.into_iter().flatten() {
                let shown = format!("{error} {error:?}");
                prop_assert!(!shown.contains(&pan), "{}", shown);
                prop_assert!(!shown.contains(&mangled), "{}", shown);
            }
        }
    }
}
