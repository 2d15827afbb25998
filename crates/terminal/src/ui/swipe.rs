//! The card reader's keystrokes, as the page collected them, read by the receipt core: clear
//! tracks from a keyboard-wedge reader (test cards) or MagTek MagneSafe output. The raw text
//! lives only in memory and is wiped on drop; nothing of it is logged or kept.

use chrono::NaiveDate;
use ereceipt_core::card::{capture, CapturedCard, CardInput, CardPolicy};
use zeroize::Zeroizing;

use super::error::UiError;

/// Longest reader output accepted (a MagTek swipe is under 1 KB).
pub const MAX_SWIPE_CHARS: usize = 4_096;

/// Reads one swipe for a sale on `date`. MagTek output is told apart by its `|` separators;
/// anything else is a keyboard-wedge swipe of clear tracks (refused unless `policy` allows).
pub fn read_card(raw: Zeroizing<String>, policy: &CardPolicy, date: NaiveDate) -> Result<CapturedCard, UiError> {
    if raw.len() > MAX_SWIPE_CHARS {
        return Err(card_error("the card read is longer than any swipe; swipe the card again"));
    }
    let input = if raw.contains('|') { CardInput::magtek(raw.as_str()) } else { CardInput::swipe(raw.as_str()) };
    capture(&input, policy, date).map_err(|e| card_error(&e.to_string()))
}

fn card_error(en: &str) -> UiError {
    let mut e = UiError::invalid("card", format!("card: {en}"), "读卡失败，请重新刷卡或换一张卡");
    e.error = "card";
    e
}

/// The demo's test card number: the Luhn-valid UnionPay test number of the examples in docs/cli.md.
pub const TEST_CARD_PAN: &str = "6222020200112233446";

/// What a keyboard-wedge reader types for the demo's test card ([`TEST_CARD_PAN`]), valid
/// until December three years after `today`: track 1, track 2, carriage return.
pub fn test_card_swipe(today: NaiveDate) -> Zeroizing<String> {
    use chrono::Datelike;
    let pan = TEST_CARD_PAN;
    let yy = (today.year() + 3) % 100;
    Zeroizing::new(format!("%B{pan}^TEST/CARD^{yy:02}121011234567890?;{pan}={yy:02}121011234567890?\r"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_cards() -> CardPolicy {
        CardPolicy { accept_clear_tracks: true, allow_chip_fallback: false }
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 25).expect("date")
    }

    #[test]
    fn a_wedge_swipe_yields_only_the_masked_card() {
        let swipe = test_card_swipe(today());
        let pan = TEST_CARD_PAN;
        assert!(swipe.contains(pan));
        let card = read_card(swipe, &test_cards(), today()).expect("the test card reads");
        assert_eq!(card.summary.masked_pan.last4(), &pan[pan.len() - 4..]);
        assert_eq!(card.summary.brand.name(), "UnionPay");
        let kept = serde_json::to_string(&card.summary).expect("summary serialises");
        assert!(!kept.contains(pan), "{kept}");
        assert!(!format!("{card:?}").contains(pan), "Debug is masked");
    }

    #[test]
    fn clear_tracks_are_refused_on_a_production_terminal() {
        let e = read_card(test_card_swipe(today()), &CardPolicy::default(), today()).expect_err("refused");
        assert_eq!(e.error, "card");
        assert!(e.message_en.contains("only accepted in test-card mode"), "{}", e.message_en);
    }

    #[test]
    fn errors_never_repeat_the_card_number() {
        let pan = TEST_CARD_PAN;
        let wrong_check_digit = format!(";{}7=29121011234567890?", &pan[..pan.len() - 1]);
        for raw in [wrong_check_digit, format!("{pan}garbage"), "x".repeat(5000)] {
            let e = read_card(Zeroizing::new(raw), &test_cards(), today()).expect_err("refused");
            let shown = format!("{} {} {:?}", e.message_en, e.message_zh, e);
            assert!(!shown.contains(&pan[..12]), "{shown}");
            assert_eq!(e.field, Some("card"));
        }
        let expired = ";6222020200112233446=20011011234567890?";
        let e = read_card(Zeroizing::new(expired.into()), &test_cards(), today()).expect_err("expired");
        assert!(e.message_en.contains("expired"), "{}", e.message_en);
    }
}
