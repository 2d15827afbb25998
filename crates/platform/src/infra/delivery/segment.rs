//! Cutting a text into SMS segments: GSM 7-bit when every character is in the GSM 03.38 default
//! alphabet, UCS-2 otherwise, with a concatenation header (IEI 0x00) when one segment is not enough.
//! SMPP uses [`segments`]; the Chinese carriers' gateways (SMGP, CMPP) take UCS-2 only, [`ucs2_segments`].

use rusmpp::extra::encoding::gsm7bit::Gsm7BitUnpacked;
use rusmpp::udhs::concatenation::ConcatenatedShortMessage8Bit;

/// How a segment's user data is encoded; SMPP `data_coding`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coding {
    /// GSM 03.38 default alphabet, one septet per octet (unpacked), as SMPP carries it in
    /// `short_message` with `data_coding` 0; the SMSC packs it for the air.
    Gsm7,
    /// UTF-16 big-endian, `data_coding` 8. Strictly UCS-2 has no surrogate pairs; handsets
    /// decode them as UTF-16, so characters outside the BMP travel as a pair kept in one segment.
    Ucs2,
}

impl Coding {
    /// The `data_coding` octet of `submit_sm`.
    pub fn data_coding(self) -> u8 {
        match self {
            Coding::Gsm7 => 0x00,
            Coding::Ucs2 => 0x08,
        }
    }

    /// Units (septets or UTF-16 code units) that fit in one unconcatenated message.
    fn single_limit(self) -> usize {
        match self {
            Coding::Gsm7 => 160,
            Coding::Ucs2 => 70,
        }
    }

    /// Units that fit beside the 6-octet concatenation header.
    fn part_limit(self) -> usize {
        match self {
            Coding::Gsm7 => 153,
            Coding::Ucs2 => 67,
        }
    }

    /// Octets per unit in `short_message`.
    fn unit_octets(self) -> usize {
        match self {
            Coding::Gsm7 => 1,
            Coding::Ucs2 => 2,
        }
    }
}

/// One SMS: what goes into one `submit_sm`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub coding: Coding,
    /// The user data header `05 00 03 ref total part`, present when the text needs several
    /// segments (then `esm_class` carries the UDHI bit).
    pub udh: Option<[u8; 6]>,
    /// The encoded characters, without the header.
    pub payload: Vec<u8>,
    /// The part of the text this segment carries.
    pub text: String,
}

impl Segment {
    /// `short_message`: the header (if any) followed by the payload.
    pub fn short_message(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(6 + self.payload.len());
        if let Some(udh) = &self.udh {
            out.extend_from_slice(udh);
        }
        out.extend_from_slice(&self.payload);
        out
    }
}

/// Most segments one concatenated message can have (the header counts them in one octet).
pub const MAX_SEGMENTS: usize = 255;

/// Splits `text` into SMS segments: GSM 7-bit default alphabet if every character fits (160
/// septets alone, 153 per part; an extension-table character takes two and is never split from
/// its escape), else UCS-2 (70 units alone, 67 per part, never splitting a UTF-16 surrogate
/// pair). Parts carry a concatenation header with the 8-bit `reference`. A text longer than
/// [`MAX_SEGMENTS`] parts is cut there: callers compare the parts' `text` with the original.
pub fn segments(text: &str, reference: u8) -> Vec<Segment> {
    split(encode(text), text, reference)
}

/// As [`segments`], always in UCS-2 (SMGP `MsgFormat` / CMPP `Msg_Fmt` 8): the carriers'
/// gateways have no GSM 7-bit coding, and their ASCII format would lose any Chinese character.
pub fn ucs2_segments(text: &str, reference: u8) -> Vec<Segment> {
    split((Coding::Ucs2, utf16_chars(text)), text, reference)
}

fn split((coding, chars): (Coding, Vec<(char, Vec<u8>)>), text: &str, reference: u8) -> Vec<Segment> {
    let unit_octets = coding.unit_octets();
    let units: usize = chars.iter().map(|(_, b)| b.len() / unit_octets).sum();
    if units <= coding.single_limit() {
        let payload = chars.iter().flat_map(|(_, b)| b.iter().copied()).collect();
        let text = text.to_string();
        return vec![Segment { coding, udh: None, payload, text }];
    }
    let mut parts: Vec<(String, Vec<u8>)> = Vec::new();
    let mut current = (String::new(), Vec::new());
    for (c, bytes) in chars {
        if (current.1.len() + bytes.len()) / unit_octets > coding.part_limit() {
            parts.push(std::mem::take(&mut current));
        }
        current.0.push(c);
        current.1.extend_from_slice(&bytes);
    }
    parts.push(current);
    parts.truncate(MAX_SEGMENTS);
    let total = u8::try_from(parts.len()).unwrap_or(u8::MAX);
    parts
        .into_iter()
        .zip(1..=u8::MAX)
        .map(|((text, payload), part)| {
            let header = ConcatenatedShortMessage8Bit::new_unchecked(reference, total, part);
            Segment { coding, udh: Some(header.udh_bytes()), payload, text }
        })
        .collect()
}

/// FNV-1a of the delivery id: the same on every attempt and in every process.
pub fn delivery_hash(delivery_id: &str) -> u32 {
    delivery_id.bytes().fold(0x811c_9dc5_u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193))
}

/// The concatenation reference of a delivery: the same on every retry, so parts of two
/// attempts join on the handset.
pub fn reference(delivery_id: &str) -> u8 {
    delivery_hash(delivery_id).to_be_bytes().iter().fold(0, |acc, b| acc ^ b)
}

/// Each character with its encoding, in GSM 7-bit if all of them have one, else in UTF-16BE.
fn encode(text: &str) -> (Coding, Vec<(char, Vec<u8>)>) {
    let gsm = Gsm7BitUnpacked::new();
    let mut buf = [0u8; 4];
    let in_gsm: Option<Vec<(char, Vec<u8>)>> =
        text.chars().map(|c| gsm.encode_to_vec(c.encode_utf8(&mut buf)).ok().map(|b| (c, b))).collect();
    if let Some(chars) = in_gsm {
        return (Coding::Gsm7, chars);
    }
    (Coding::Ucs2, utf16_chars(text))
}

/// Each character with its UTF-16BE encoding.
fn utf16_chars(text: &str) -> Vec<(char, Vec<u8>)> {
    let mut units = [0u16; 2];
    text.chars()
        .map(|c| {
            let bytes = c.encode_utf16(&mut units).iter().flat_map(|u| u.to_be_bytes()).collect();
            (c, bytes)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn joined(segments: &[Segment]) -> String {
        segments.iter().map(|s| s.text.as_str()).collect()
    }

    #[test]
    fn ascii_fits_one_gsm_segment_of_160() {
        let text = "a".repeat(160);
        let s = segments(&text, 7);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].coding, Coding::Gsm7);
        assert_eq!(s[0].udh, None);
        assert_eq!(s[0].payload, text.as_bytes(), "ASCII letters keep their codes in GSM 03.38");
        assert_eq!(s[0].short_message(), text.as_bytes());
    }

    #[test]
    fn gsm_specials_use_the_default_alphabet() {
        let s = segments("@£$_ {€}", 0);
        assert_eq!(s[0].coding, Coding::Gsm7);
        // '@' 00, '£' 01, '$' 02, '_' 11, ' ' 20, '{' 1B 28, '€' 1B 65, '}' 1B 29.
        let want = [0x00, 0x01, 0x02, 0x11, 0x20, 0x1B, 0x28, 0x1B, 0x65, 0x1B, 0x29];
        assert_eq!(s[0].payload, want);
    }

    #[test]
    fn long_gsm_text_is_cut_in_parts_of_153_with_headers() {
        let text = "x".repeat(161);
        let s = segments(&text, 0x2A);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].payload.len(), 153);
        assert_eq!(s[1].payload.len(), 8);
        assert_eq!(s[0].udh, Some([0x05, 0x00, 0x03, 0x2A, 0x02, 0x01]));
        assert_eq!(s[1].udh, Some([0x05, 0x00, 0x03, 0x2A, 0x02, 0x02]));
        assert_eq!(s[1].short_message()[..6], [0x05, 0x00, 0x03, 0x2A, 0x02, 0x02]);
        assert_eq!(joined(&s), text);
    }

    #[test]
    fn an_escaped_character_is_never_split_from_its_escape() {
        let text = format!("{}€{}", "x".repeat(152), "y".repeat(20));
        let s = segments(&text, 1);
        assert_eq!(s[0].payload.len(), 152, "the euro sign moves whole to the next part");
        assert_eq!(&s[1].payload[..2], &[0x1B, 0x65]);
        assert_eq!(joined(&s), text);
    }

    #[test]
    fn chinese_uses_ucs2_70_alone_and_67_per_part() {
        let seventy = "收".repeat(70);
        let s = segments(&seventy, 0);
        assert_eq!((s.len(), s[0].coding, s[0].payload.len()), (1, Coding::Ucs2, 140));
        assert_eq!(&s[0].payload[..2], &[0x65, 0x36], "U+6536 big-endian");
        let long = "据".repeat(71);
        let s = segments(&long, 9);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].payload.len(), 134);
        assert_eq!(s[0].short_message().len(), 140);
        assert_eq!(s[1].udh, Some([0x05, 0x00, 0x03, 0x09, 0x02, 0x02]));
        assert_eq!(joined(&s), long);
    }

    #[test]
    fn one_non_gsm_character_makes_the_whole_text_ucs2() {
        let s = segments("Total CNY 12.00 — thanks", 0);
        assert_eq!(s[0].coding, Coding::Ucs2);
        assert_eq!(s[0].payload.len(), 2 * 24);
    }

    #[test]
    fn a_surrogate_pair_is_never_split() {
        let text = format!("{}😀{}", "收".repeat(66), "据".repeat(10));
        let s = segments(&text, 3);
        assert_eq!(s[0].payload.len(), 132, "the emoji needs two units and goes to part two");
        assert_eq!(s[1].text.chars().next(), Some('😀'));
        for seg in &s {
            let units: Vec<u16> = seg.payload.chunks(2).map(|p| u16::from_be_bytes([p[0], p[1]])).collect();
            assert!(String::from_utf16(&units).is_ok(), "each part decodes alone");
        }
        assert_eq!(joined(&s), text);
    }

    #[test]
    fn ucs2_segments_encode_even_plain_ascii_in_ucs2() {
        let s = ucs2_segments("Hi", 0);
        assert_eq!((s.len(), s[0].coding), (1, Coding::Ucs2));
        assert_eq!(s[0].payload, [0x00, b'H', 0x00, b'i']);
        let long = ucs2_segments(&"a".repeat(71), 4);
        assert_eq!(long.len(), 2, "71 UCS-2 units need two parts of at most 67");
        assert_eq!(long[0].udh, Some([0x05, 0x00, 0x03, 0x04, 0x02, 0x01]));
        assert_eq!(joined(&long), "a".repeat(71));
    }

    #[test]
    fn an_empty_text_is_one_empty_segment() {
        let s = segments("", 0);
        assert_eq!(s.len(), 1);
        assert!(s[0].payload.is_empty());
    }

    #[test]
    fn more_than_255_parts_are_cut() {
        let text = "x".repeat(153 * 256);
        let s = segments(&text, 0);
        assert_eq!(s.len(), MAX_SEGMENTS);
        assert_eq!(s[254].udh, Some([0x05, 0x00, 0x03, 0x00, 0xFF, 0xFF]));
        assert_ne!(joined(&s), text);
    }

    proptest::proptest! {
        #[test]
        fn parts_rejoin_to_the_text_and_respect_the_limits(text in "[a-z€{ ]{0,400}|\\PC{0,300}") {
            let s = segments(&text, 0x55);
            proptest::prop_assert_eq!(joined(&s), text.clone());
            let coding = s[0].coding;
            for seg in &s {
                proptest::prop_assert_eq!(seg.coding, coding);
                let units = seg.payload.len() / coding.unit_octets();
                let limit = if s.len() == 1 { coding.single_limit() } else { coding.part_limit() };
                proptest::prop_assert!(units <= limit);
                proptest::prop_assert!(seg.short_message().len() <= 160);
                proptest::prop_assert_eq!(seg.udh.is_some(), s.len() > 1);
            }
        }
    }
}
