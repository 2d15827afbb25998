//! Tests of the MagTek MagneSafe keyboard-emulation parser, on output built to the manual's
//! layout (the hex is made up; it is not decryptable).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;

use super::*;

const MASKED_UP: &str = "%B622202*********3446^ZHANG/SAN^2912*******************?\
                         ;622202*********3446=2912****************?";
const KSN: &str = "9011880B1CBB65000001";

/// Made-up hex of `bytes` bytes.
fn fake_hex(bytes: usize, seed: u8) -> String {
    (0..bytes).map(|i| format!("{:02X}", (i as u8).wrapping_mul(37).wrapping_add(seed))).collect()
}

/// Output as a MagneSafe V5 reader types it, fields given by position.
fn output(masked: &str, status: &str, ksn: &str, counter: Option<&str>) -> String {
    let mut fields = vec![
        masked.to_owned(),
        status.to_owned(),
        fake_hex(64, 1),
        fake_hex(32, 2),
        String::new(),
        "61403000".to_owned(),
        fake_hex(56, 3),
        "B1CBB65090413AA".to_owned(),
        fake_hex(8, 4),
        ksn.to_owned(),
    ];
    if let Some(counter) = counter {
        fields.push(counter.to_owned());
    }
    fields.extend(["38A7".to_owned(), String::new(), "0000".to_owned()]);
    format!("{}\r", fields.join("|"))
}

fn sample() -> String {
    output(MASKED_UP, "0600", KSN, None)
}

fn field_error(raw: &str) -> ReaderField {
    match parse_magtek(raw) {
        Err(CardError::MalformedReaderOutput { field, .. }) => field,
        other => panic!("expected a malformed-output error, got {other:?}"),
    }
}

#[test]
fn parses_the_documented_layout() {
    let read = parse_magtek(&sample()).unwrap();
    assert_eq!(read.masked_pan.stored_form(), "622202*********3446");
    assert_eq!(read.expiry, ExpiryDate::new(2029, 12).unwrap());
    assert_eq!(read.name.as_deref(), Some("ZHANG/SAN"));
    assert_eq!(read.service_code, None);
    match &read.authorisation {
        AuthorisationData::Encrypted {
            format,
            ksn,
            ciphertext,
            track1_ciphertext,
            magneprint,
            magneprint_status,
            device_serial,
        } => {
            assert_eq!(*format, MAGTEK_FORMAT);
            assert_eq!(super::super::secret::hex_upper(ksn), KSN);
            assert_eq!(ciphertext.len(), 32);
            assert_eq!(track1_ciphertext.len(), 64);
            assert_eq!(magneprint.len(), 56);
            assert_eq!(magneprint_status, "61403000");
            assert_eq!(device_serial, "B1CBB65090413AA");
        }
        other => panic!("expected encrypted data, got {other:?}"),
    }
}

#[test]
fn accepts_the_optional_encryption_counter_and_no_terminator() {
    let with_counter = output(MASKED_UP, "0600", KSN, Some("0007F1"));
    assert!(parse_magtek(&with_counter).is_ok());
    let bare = sample().trim_end().to_owned();
    assert!(parse_magtek(&bare).is_ok());
}

#[test]
fn zero_masking_is_read_as_first_six_last_four() {
    // ISO Track Mask "06040Y": zeros plus one Luhn-correcting digit in the middle.
    let masked = "%B5499990000006781^TESTCARD/MC^15120000000000000000?\
                  ;5499990000006781=15120000000000000000?";
    let read = parse_magtek(&output(masked, "0600", KSN, None)).unwrap();
    assert_eq!(read.masked_pan.bin(), "549999");
    assert_eq!(read.masked_pan.last4(), "6781");
    assert_eq!(read.masked_pan.len(), 16);
    assert_eq!(read.service_code, None, "masked 000 is no service code");
}

#[test]
fn unmasked_service_code_is_used() {
    // Mask character 'V': everything after the PAN is in the clear.
    let masked = ";622202*********3446=2912201123?";
    let read = parse_magtek(&output(masked, "0600", KSN, None)).unwrap();
    assert!(read.service_code.unwrap().is_chip_card());
    assert_eq!(read.name, None);
}

#[test]
fn track_one_or_two_alone_is_enough() {
    let t1_only = "%B622202*********3446^ZHANG/SAN^2912*******?;E?";
    let read = parse_magtek(&output(t1_only, "0600", KSN, None)).unwrap();
    assert_eq!(read.masked_pan.last4(), "3446");
    let t2_only = "%E?;622202*********3446=2912*****?";
    assert!(parse_magtek(&output(t2_only, "0600", KSN, None)).is_ok());
}

#[test]
fn refuses_readers_that_do_not_encrypt() {
    for (status, reason) in [
        ("0400", "no DUKPT key injected"),
        ("0200", "encryption disabled"),
        ("0700", "DUKPT keys exhausted"),
        ("0000", "no DUKPT key injected"),
    ] {
        assert_eq!(
            parse_magtek(&output(MASKED_UP, status, KSN, None)).err(),
            Some(CardError::ReaderNotEncrypting { reason }),
            "{status}"
        );
    }
    assert_eq!(field_error(&output(MASKED_UP, "06", KSN, None)), ReaderField::EncryptionStatus);
}

#[test]
fn names_the_malformed_field() {
    let good = sample();
    let replace = |index: usize, value: &str| {
        let mut fields: Vec<String> = good.trim_end().split('|').map(str::to_owned).collect();
        fields[index] = value.to_owned();
        fields.join("|")
    };
    let cases = [
        (replace(0, ""), ReaderField::MaskedTracks),
        (replace(0, "%E?;E?"), ReaderField::MaskedTracks),
        (replace(0, ";622202*********3446?"), ReaderField::MaskedTracks),
        (replace(0, ";62220*********93446=2912?"), ReaderField::PanMasking),
        (replace(0, ";6222***********3446=2912?"), ReaderField::PanMasking),
        (replace(0, ";622202***#*****3446=2912?"), ReaderField::MaskedPan),
        (replace(0, ";622202*3446=2912?"), ReaderField::MaskedPan),
        (replace(0, ";622202*********3446=2913?"), ReaderField::Expiry),
        (replace(0, "%B622202*********3446^ZHANG/SAN^29?"), ReaderField::Expiry),
        (replace(2, "ABC"), ReaderField::EncryptedTrack1),
        (replace(2, ""), ReaderField::EncryptedTrack1),
        (replace(3, &fake_hex(13, 0)), ReaderField::EncryptedTrack2),
        (replace(3, "+1"), ReaderField::EncryptedTrack2),
        (replace(4, "XYZ0"), ReaderField::EncryptedTrack3),
        (replace(5, "614030"), ReaderField::MagnePrintStatus),
        (replace(6, "G0"), ReaderField::MagnePrintData),
        (replace(7, "B1CB-B650"), ReaderField::DeviceSerial),
        (replace(8, "1234"), ReaderField::SessionId),
        (replace(9, "9011880B1CBB6500000"), ReaderField::Ksn),
        (replace(9, ""), ReaderField::Ksn),
        (replace(9, "9011880B1CBB6500000G"), ReaderField::Ksn),
        (replace(10, "38A"), ReaderField::Crc),
        (replace(12, "00"), ReaderField::FormatCode),
        (good.replace("|0000", ""), ReaderField::FieldCount),
        (format!("{}|0000|0000", good.trim_end()), ReaderField::FieldCount),
        ("%B4111111111111111^A/B^2912101?".to_owned(), ReaderField::FieldCount),
        ("x".repeat(5000), ReaderField::Length),
    ];
    for (raw, field) in cases {
        assert_eq!(field_error(&raw), field, "{raw:?}");
        assert!(!format!("{:?}", parse_magtek(&raw).err()).contains("3446"));
    }
}

#[test]
fn tracks_must_agree() {
    let masked = "%B622202*********3446^ZHANG/SAN^2912*?;622202*********3447=2912*?";
    assert_eq!(
        parse_magtek(&output(masked, "0600", KSN, None)).err(),
        Some(CardError::TracksDisagree { field: "card number" })
    );
    let masked = "%B622202*********3446^ZHANG/SAN^2912*?;622202*********3446=2911*?";
    assert_eq!(
        parse_magtek(&output(masked, "0600", KSN, None)).err(),
        Some(CardError::TracksDisagree { field: "expiry date" })
    );
}

proptest! {
    #[test]
    fn never_panics(raw in "\\PC{0,300}") {
        let _ = parse_magtek(&raw);
    }

    #[test]
    fn never_panics_on_near_misses(
        cut in 0usize..400,
        position in 0usize..400,
        replacement in prop::sample::select(vec!['|', '?', '%', ';', '*', 'G', '0', '^', '=']),
    ) {
        let mut chars: Vec<char> = sample().chars().collect();
        if position < chars.len() {
            chars[position] = replacement;
        }
        chars.truncate(chars.len().saturating_sub(cut));
        let raw: String = chars.into_iter().collect();
        if let Err(error) = parse_magtek(&raw) {
            let shown = format!("{error} {error:?}");
            prop_assert!(!shown.contains(KSN));
            prop_assert!(!shown.contains("ZHANG"));
        }
    }
}
