//! Golden bytes packed by hand from the wire profile, and property tests of the codec.

use proptest::collection::vec;
use proptest::prelude::*;

use super::*;
use crate::host::layout::{FieldSpec, Layout};

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).expect("hex")
}

fn mti(s: &str) -> Mti {
    Mti::new(s).expect("mti")
}

const TRACK2: &str = "6222020200112233446=29121011234567890";

/// The plan's §4 sale, plus 12 and 13 as a real sale sends them.
fn sale() -> Message {
    let mut m = Message::new(mti("0200"));
    m.set_digits(3, "000000")
        .set_digits(4, "000000012850")
        .set_digits(11, "000123")
        .set_digits(12, "143015")
        .set_digits(13, "1202")
        .set_digits(22, "022")
        .set_digits(25, "00")
        .set_digits(35, TRACK2)
        .set_text(41, "POS00001")
        .set_text(42, "898440358120001")
        .set_text(49, "156")
        .set_digits(60, "22000001000")
        .set_text(63, "01 ")
        .set_bytes(64, [1, 2, 3, 4, 5, 6, 7, 8]);
    m
}

/// Written byte by byte from wire.md, not produced by `pack`.
const SALE_HEX: &str = concat!(
    "0200",                                                     // MTI 0200
    "3038048020C08013",                                         // bitmap: 3 4 11 12 13 22 25 35 41 42 49 60 63 64
    "000000",                                                   // 3  processing code 000000
    "000000012850",                                             // 4  amount 128.50 in fen
    "000123",                                                   // 11 trace
    "143015",                                                   // 12 time 14:30:15
    "1202",                                                     // 13 date 12-02
    "0220",                                                     // 22 "022" left-aligned, pad 0
    "00",                                                       // 25 condition 00
    "37",                                                       // 35 LL = 37 digits (BCD)
    "62 22 02 02 00 11 22 33 44 6D 29 12 10 11 23 45 67 89 00", // track 2, '=' as D, pad 0
    "504F533030303031",                                         // 41 "POS00001"
    "383938343430333538313230303031",                           // 42 "898440358120001"
    "313536",                                                   // 49 "156"
    "0011",                                                     // 60 LLL = 11 digits
    "220000010000",                                             //    22 | 000001 | 000 + pad 0
    "0003",                                                     // 63 LLL = 3 bytes
    "303120",                                                   //    "01 "
    "0102030405060708",                                         // 64 MAC (placeholder)
);

#[test]
fn sale_packs_to_the_hand_computed_bytes_and_back() {
    let layout = Layout::unionpay();
    let packed = pack(&sale(), &layout).expect("pack");
    assert_eq!(hex::encode_upper(&packed), hex::encode_upper(unhex(SALE_HEX)));
    assert_eq!(packed.len(), 97);
    let back = unpack(&packed, &layout).expect("unpack");
    assert_eq!(back, sale());
    assert_eq!(back.digits(35), Some(TRACK2));
    assert_eq!(back.text(41), Some("POS00001"));
    assert_eq!(back.bytes(64), Some(&[1, 2, 3, 4, 5, 6, 7, 8][..]));
}

#[test]
fn sealed_sale_carries_the_mac_computed_outside_this_code() {
    use crate::host::mac::{mab, seal, verify, MacAlgorithm};
    // MACs of SALE_HEX minus field 64 (89 bytes), computed with a Python script over
    // `openssl enc -des-ecb` / `-des-ede-ecb`, following wire.md's steps.
    let layout = Layout::unionpay();
    let k8 = unhex("0123456789ABCDEF");
    let k16 = unhex("0123456789ABCDEFFEDCBA9876543210");
    for (alg, key, expected) in
        [(MacAlgorithm::UnionPayEcb, &k8, b"E0B07CA2".to_vec()), (MacAlgorithm::X919, &k16, unhex("F5292AF3748649AB"))]
    {
        let mut m = sale();
        m.set_bytes(64, [0; 8]);
        let mut packed = pack(&m, &layout).expect("pack");
        assert_eq!(mab(&packed).len(), 89);
        seal(alg, key, &mut packed).expect("seal");
        let back = unpack(&packed, &layout).expect("unpack");
        assert_eq!(back.bytes(64), Some(&expected[..]), "{alg:?}");
        assert_eq!(verify(alg, key, mab(&packed), &expected), Ok(()));
    }
}

#[test]
fn pan_pads_with_f_card_sequence_is_right_aligned() {
    let layout = Layout::unionpay();
    let mut m = Message::new(mti("0200"));
    m.set_digits(2, "6222020200112233446").set_digits(14, "2912").set_digits(23, "001");
    let packed = pack(&m, &layout).expect("pack");
    // MTI, bitmap (2 = 0x40; 14 = 0x04; 23 = 0x02 in byte 3), then
    // 2: LL 19 + 62 22 02 02 00 11 22 33 44 6F; 14: 29 12; 23: 0 pad first -> 00 01.
    let expected = "0200 4004020000000000 19 6222020200112233446F 2912 0001";
    assert_eq!(packed, unhex(expected));
    assert_eq!(unpack(&packed, &layout).expect("unpack"), m);
}

#[test]
fn sign_in_answer_unpacks_from_hand_written_bytes() {
    let f62 = "9B3A7B883A100F7382E13665B4ABA2BB791C50E700962B60";
    let bytes = unhex(
        &[
            "0810",
            "003800010AC00014", // 11 12 13 | 32 | 37 39 | 41 42 | 60 62
            "000001 101010 1202",
            "08 00010000",              // 32: LL 8 digits
            "313233343536373839303132", // 37 "123456789012"
            "3030",                     // 39 "00"
            "504F533030303031",
            "383938343430333538313230303031",
            "0011 000000010030", // 60: 00 | 000001 | 003 + pad
            "0024",
            f62, // 62: LLL 24 bytes
        ]
        .concat(),
    );
    let m = unpack(&bytes, &Layout::unionpay()).expect("unpack");
    assert_eq!(m.mti.as_str(), "0810");
    assert_eq!(m.digits(32), Some("00010000"));
    assert_eq!(m.text(37), Some("123456789012"));
    assert_eq!(m.text(39), Some("00"));
    assert_eq!(m.digits(60), Some("00000001003"));
    assert_eq!(m.bytes(62).map(hex::encode_upper).as_deref(), Some(f62));
    assert!(!format!("{m:?}").contains("9B3A7B88"), "field 62 carries keys");
}

#[test]
fn errors_name_the_field_and_what_was_wrong() {
    let layout = Layout::unionpay();
    let packed = unhex(SALE_HEX);
    let mut long_track = packed.clone();
    long_track[30] = 0x41; // field 35's LL prefix: 41 digits > 37
    let e = unpack(&long_track, &layout).expect_err("too long");
    assert_eq!(e.to_string(), "field 35 (track 2): 41 digits, the layout allows at most 37");
    let mut bad_prefix = packed.clone();
    bad_prefix[30] = 0x3A;
    assert_eq!(unpack(&bad_prefix, &layout), Err(CodecError::BadLengthPrefix { at: Part::Field(35) }));
    let mut trailing = packed.clone();
    trailing.push(0);
    assert_eq!(unpack(&trailing, &layout), Err(CodecError::TrailingBytes(1)));
    let mut bit1 = packed.clone();
    bit1[2] |= 0x80;
    assert!(matches!(unpack(&bit1, &layout), Err(CodecError::Bitmap(_))));
    let mut bad_mti = packed.clone();
    bad_mti[0] = 0x0A;
    assert_eq!(unpack(&bad_mti, &layout), Err(CodecError::BadMti));
    let mut bad_digit = packed.clone();
    bad_digit[10] = 0x0C; // field 3's first byte
    assert_eq!(unpack(&bad_digit, &layout), Err(CodecError::BadDigit { at: Part::Field(3), position: 1 }));
    let mut undefined = packed;
    undefined[2] |= 0x01; // field 8 is not in the layout
    assert_eq!(unpack(&undefined, &layout), Err(CodecError::NotInLayout { at: Part::Field(8) }));

    let mut m = sale();
    m.set_digits(4, "12850");
    assert_eq!(
        pack(&m, &layout).map(|_| ()).expect_err("short").to_string(),
        "field 4 (amount): 5 digits, the layout wants exactly 12"
    );
    m.set_digits(4, "000000012850").set_text(3, "000000");
    assert!(matches!(pack(&m, &layout), Err(CodecError::WrongType { at: Part::Field(3), .. })));
    m.set_digits(3, "000000").set_text(63, "01\n");
    assert_eq!(pack(&m, &layout), Err(CodecError::BadChar { at: Part::Field(63), position: 2 }));
    m.set_text(63, "01 ").set_digits(1, "0");
    assert_eq!(pack(&m, &layout), Err(CodecError::NotInLayout { at: Part::Field(1) }));
    assert_eq!(Mti::new("02x0"), Err(CodecError::BadMti));
}

#[test]
fn debug_redacts_card_data() {
    let shown = format!("{:?}", sale());
    assert!(!shown.contains("6222020200"), "{shown}");
    assert!(shown.contains("35: <redacted, 37 digits>"), "{shown}");
    assert!(shown.contains("41: \"POS00001\""), "{shown}");
    let mut layout = Layout::unionpay();
    let spec = FieldSpec { sensitive: true, ..*layout.get(41).expect("41") };
    layout.set(41, spec).expect("valid");
    assert!(!format!("{:?}", sale().debug_with(&layout)).contains("POS00001"));
}

fn value_for(spec: &FieldSpec) -> BoxedStrategy<FieldValue> {
    let max = usize::from(spec.max);
    let lens = match spec.length {
        LengthType::Fixed => max..=max,
        _ => 0..=max,
    };
    // 10 stands for '=' (only generated for z fields).
    let digits = |d: Vec<u8>| d.iter().map(|x| if *x == 10 { '=' } else { char::from(b'0' + x) }).collect::<String>();
    match spec.kind {
        Kind::N => vec(0u8..10, lens).prop_map(digits).prop_map(FieldValue::Digits).boxed(),
        Kind::Z => vec(0u8..11, lens).prop_map(digits).prop_map(FieldValue::Digits).boxed(),
        Kind::An | Kind::Ans => {
            vec(0x20u8..0x7F, lens).prop_map(|b| FieldValue::Text(b.into_iter().map(char::from).collect())).boxed()
        }
        Kind::B => vec(any::<u8>(), lens).prop_map(FieldValue::Bytes).boxed(),
    }
}

/// Any message that fits the unionpay layout.
fn message() -> impl Strategy<Value = Message> {
    let layout = Layout::unionpay();
    let fields: Vec<_> = layout
        .fields()
        .map(|(n, spec)| proptest::option::of(value_for(spec)).prop_map(move |v| v.map(|v| (n, v))))
        .collect();
    ("[0-9]{4}", fields).prop_map(|(mti, fields)| {
        let mut m = Message::new(Mti::new(&mti).expect("4 digits"));
        for (n, v) in fields.into_iter().flatten() {
            m.set(n, v);
        }
        m
    })
}

/// A PAN with no zero digit, so no 6-digit window of it can match the zero-rich other fields.
fn pan() -> impl Strategy<Value = String> {
    vec(1u8..10, 15..=18).prop_map(|d| std::iter::once('6').chain(d.iter().map(|x| char::from(b'0' + x))).collect())
}

fn leaks(text: &str, pan: &str) -> bool {
    pan.as_bytes().windows(6).any(|w| text.contains(std::str::from_utf8(w).unwrap_or("")))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn pack_then_unpack_is_identity(m in message()) {
        let layout = Layout::unionpay();
        let packed = pack(&m, &layout).expect("fits the layout");
        prop_assert_eq!(unpack(&packed, &layout).expect("unpacks"), m);
    }

    #[test]
    fn unpack_of_arbitrary_bytes_never_panics(
        raw in vec(any::<u8>(), 0..400),
        head in (any::<[u8; 2]>(), any::<u64>()),
    ) {
        let layout = Layout::unionpay();
        let _ = unpack(&raw, &layout);
        // Also past the MTI and bitmap: a valid MTI and a bitmap without bit 1 over random fields.
        let mut deeper = vec![head.0[0] % 10, head.0[1] % 10];
        deeper.extend_from_slice(&(head.1 & !(1 << 63)).to_be_bytes());
        deeper.extend_from_slice(&raw);
        if let Err(e) = unpack(&deeper, &layout) {
            prop_assert!(e.part().is_some() || matches!(e, CodecError::TrailingBytes(_)));
        }
    }

    #[test]
    fn every_truncation_errors_naming_a_part(m in message()) {
        let layout = Layout::unionpay();
        let packed = pack(&m, &layout).expect("fits the layout");
        for cut in 0..packed.len() {
            let e = unpack(&packed[..cut], &layout).expect_err("truncated");
            prop_assert!(matches!(e, CodecError::Truncated { .. }), "cut {}: {}", cut, e);
            let named = e.part().expect("a part");
            // The cut falls inside the named part: fields before it are complete.
            if let Part::Field(n) = named {
                prop_assert!(m.contains(n));
            }
        }
    }

    #[test]
    fn planted_card_data_never_shows(pan in pan(), expiry in "[0-9]{4}", at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let layout = Layout::unionpay();
        let mut m = sale();
        m.set_digits(2, pan.clone()).set_digits(35, format!("{pan}={expiry}1011234"));
        let shown = format!("{m:?}");
        prop_assert!(!leaks(&shown, &pan), "{}", shown);
        let packed = pack(&m, &layout).expect("fits");
        let mut texts = Vec::new();
        for cut in 0..packed.len() {
            if let Err(e) = unpack(&packed[..cut], &layout) {
                texts.push(format!("{e} {e:?}"));
            }
        }
        // A corrupted byte: errors must not quote what they read. (An Ok result is not checked:
        // a corrupted length can move card digits into a field the codec cannot know is card data.)
        let mut corrupt = packed.clone();
        let i = at.index(corrupt.len());
        corrupt[i] = byte;
        if let Err(e) = unpack(&corrupt, &layout) {
            texts.push(format!("{e} {e:?}"));
        }
        let mut bad = m.clone();
        bad.set_digits(2, format!("{pan}X"));
        texts.push(pack(&bad, &layout).map(|_| String::new()).unwrap_or_else(|e| format!("{e} {e:?}")));
        bad.set_digits(2, pan.clone()).set_digits(35, format!("{pan}={pan}{pan}"));
        texts.push(pack(&bad, &layout).map(|_| String::new()).unwrap_or_else(|e| format!("{e} {e:?}")));
        for t in texts {
            prop_assert!(!leaks(&t, &pan), "{}", t);
        }
    }
}
