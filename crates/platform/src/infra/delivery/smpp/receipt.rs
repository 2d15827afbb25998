//! Delivery receipts: the SMSC's `deliver_sm` saying what became of a submitted message, read
//! from its TLVs (`receipted_message_id`, `message_state`) or its text "id:… stat:DELIVRD err:…".

use rusmpp::pdus::DeliverSm;
use rusmpp::tlvs::TlvValue;
use rusmpp::values::MessageState;

/// What the SMSC reports about one submitted segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryReport {
    /// The SMSC's `message_id` from `submit_sm_resp` (one of the ids in `Accepted::peer_id`).
    pub message_id: String,
    pub state: ReportState,
    /// The network or SMSC error code ("err:"), as given; "000" or absent when there was none.
    pub error: Option<String>,
    /// "done date:" as the SMSC wrote it (YYMMDDhhmm, some add ss), in the SMSC's time zone.
    pub done_date: Option<String>,
    /// The handset the message was for (the receipt's `source_addr`).
    pub recipient: String,
}

/// The message state of a receipt (SMPP 3.4 §5.2.28 and the "stat:" words of Appendix B).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReportState {
    /// ENROUTE: still being tried.
    Enroute,
    /// DELIVRD: on the handset.
    Delivered,
    /// EXPIRED: validity period over before it could be delivered.
    Expired,
    /// DELETED: removed at the SMSC.
    Deleted,
    /// UNDELIV: will not be delivered.
    Undeliverable,
    /// ACCEPTD: taken on the subscriber's behalf (e.g. by customer service).
    Accepted,
    /// UNKNOWN: the SMSC does not know.
    Unknown,
    /// REJECTD: refused (e.g. barred).
    Rejected,
    /// A word this code does not know, kept as sent.
    Other(String),
}

impl ReportState {
    /// Reads a "stat:" word, ignoring case.
    pub fn from_stat(word: &str) -> Self {
        match word.to_ascii_uppercase().as_str() {
            "ENROUTE" => Self::Enroute,
            "DELIVRD" | "DELIVERED" => Self::Delivered,
            "EXPIRED" => Self::Expired,
            "DELETED" => Self::Deleted,
            "UNDELIV" | "UNDELIVERABLE" => Self::Undeliverable,
            "ACCEPTD" | "ACCEPTED" => Self::Accepted,
            "UNKNOWN" => Self::Unknown,
            "REJECTD" | "REJECTED" => Self::Rejected,
            _ => Self::Other(word.to_string()),
        }
    }

    fn from_message_state(state: MessageState) -> Self {
        match state {
            MessageState::Enroute | MessageState::Scheduled => Self::Enroute,
            MessageState::Delivered => Self::Delivered,
            MessageState::Expired => Self::Expired,
            MessageState::Deleted => Self::Deleted,
            MessageState::Undeliverable => Self::Undeliverable,
            MessageState::Accepted => Self::Accepted,
            MessageState::Rejected => Self::Rejected,
            other => Self::Other(format!("{other:?}")),
        }
    }

    /// No further report will change it.
    pub fn is_final(&self) -> bool {
        !matches!(self, Self::Enroute | Self::Accepted | Self::Unknown | Self::Other(_))
    }
}

/// The fields of a receipt text that matter here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceiptText {
    pub id: String,
    pub stat: Option<ReportState>,
    pub err: Option<String>,
    pub done_date: Option<String>,
}

/// Reads a receipt text, "id:123 sub:001 dlvrd:001 submit date:2611251403 done
/// date:2611251404 stat:DELIVRD err:000 text:…". Keys are matched at word starts, any case, in
/// any order; `None` when it has no id.
pub fn parse_receipt_text(text: &str) -> Option<ReceiptText> {
    Some(ReceiptText {
        id: field(text, "id")?,
        stat: field(text, "stat").map(|s| ReportState::from_stat(&s)),
        err: field(text, "err"),
        done_date: field(text, "done date"),
    })
}

/// The value after "key:" where the key starts the text or follows a space, up to the next space.
fn field(text: &str, key: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let pattern = format!("{key}:");
    let mut from = 0;
    while let Some(at) = lower[from..].find(&pattern).map(|i| i + from) {
        if at == 0 || lower.as_bytes()[at - 1] == b' ' {
            let rest = &text[at + pattern.len()..];
            let value: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
            return (!value.is_empty()).then_some(value);
        }
        from = at + pattern.len();
    }
    None
}

/// The report a `deliver_sm` carries, or `None` when it is not a delivery receipt (esm_class
/// message type 0x04) or names no message.
pub fn from_deliver_sm(sm: &DeliverSm) -> Option<DeliveryReport> {
    if u8::from(sm.esm_class) & 0x3C != 0x04 {
        return None;
    }
    let mut body = sm.short_message().as_ref().to_vec();
    let mut tlv_id = None;
    let mut tlv_state = None;
    for tlv in sm.tlvs() {
        match tlv.value() {
            Some(TlvValue::ReceiptedMessageId(id)) => tlv_id = Some(id.to_string()),
            Some(TlvValue::MessageState(state)) => tlv_state = Some(*state),
            Some(TlvValue::MessagePayload(p)) if body.is_empty() => {
                body = p.value.as_ref().to_vec();
            }
            _ => {}
        }
    }
    let text = String::from_utf8_lossy(&body);
    let (text_id, text_state, error, done_date) = match parse_receipt_text(&text) {
        Some(r) => (Some(r.id), r.stat, r.err, r.done_date),
        None => (None, None, None, None),
    };
    let message_id = tlv_id.filter(|id| !id.is_empty()).or(text_id)?;
    let state = tlv_state.map(ReportState::from_message_state).or(text_state).unwrap_or(ReportState::Unknown);
    let recipient = sm.source_addr.to_string();
    Some(DeliveryReport { message_id, state, error, done_date, recipient })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusmpp::types::{COctetString, OctetString};
    use rusmpp::values::EsmClass;
    use std::str::FromStr;

    #[test]
    fn a_standard_receipt_text_is_read() {
        let text = "id:0123456789 sub:001 dlvrd:001 submit date:2611251403 done date:2611251404 \
                    stat:DELIVRD err:000 text:【电子签购单】";
        let r = parse_receipt_text(text).unwrap();
        assert_eq!(r.id, "0123456789");
        assert_eq!(r.stat, Some(ReportState::Delivered));
        assert_eq!(r.err.as_deref(), Some("000"));
        assert_eq!(r.done_date.as_deref(), Some("2611251404"));
    }

    #[test]
    fn keys_match_at_word_starts_in_any_case() {
        let r = parse_receipt_text("ID:abc Stat:undeliv dlvrd:000").unwrap();
        assert_eq!((r.id.as_str(), r.stat), ("abc", Some(ReportState::Undeliverable)));
        assert!(parse_receipt_text("dlvrd:001 stat:DELIVRD").is_none(), "dlvrd: is not id:");
        assert!(parse_receipt_text("hello there").is_none());
        assert!(parse_receipt_text("id: stat:DELIVRD").is_none(), "an empty id is no id");
        let r = parse_receipt_text("id:1 stat:WEIRD").unwrap();
        assert_eq!(r.stat, Some(ReportState::Other("WEIRD".into())));
        assert!(!ReportState::Other("WEIRD".into()).is_final());
        assert!(ReportState::Delivered.is_final() && ReportState::Expired.is_final());
    }

    fn receipt(esm_class: u8, text: &str) -> DeliverSm {
        DeliverSm::builder()
            .source_addr(COctetString::from_str("8613800138000").unwrap())
            .esm_class(EsmClass::from(esm_class))
            .short_message(OctetString::from_str(text).unwrap())
            .build()
    }

    #[test]
    fn a_deliver_sm_receipt_becomes_a_report_and_tlvs_win_over_text() {
        let sm = receipt(0x04, "id:77 sub:001 dlvrd:000 stat:EXPIRED err:027");
        let r = from_deliver_sm(&sm).unwrap();
        assert_eq!(r.message_id, "77");
        assert_eq!(r.state, ReportState::Expired);
        assert_eq!(r.error.as_deref(), Some("027"));
        assert_eq!(r.recipient, "8613800138000");

        let mut sm = receipt(0x04, "id:77 stat:ENROUTE");
        sm.push_tlv(rusmpp::tlvs::MessageDeliveryRequestTlvValue::ReceiptedMessageId(
            COctetString::from_str("0x4D").unwrap(),
        ));
        sm.push_tlv(rusmpp::tlvs::MessageDeliveryRequestTlvValue::MessageState(MessageState::Delivered));
        let r = from_deliver_sm(&sm).unwrap();
        assert_eq!((r.message_id.as_str(), r.state), ("0x4D", ReportState::Delivered));
    }

    #[test]
    fn a_mobile_originated_message_is_not_a_report() {
        assert!(from_deliver_sm(&receipt(0x00, "id:1 stat:DELIVRD")).is_none());
        assert!(from_deliver_sm(&receipt(0x04, "no receipt here")).is_none());
    }

    proptest::proptest! {
        #[test]
        fn any_text_parses_without_panic(text in "\\PC{0,200}") {
            let _ = parse_receipt_text(&text);
        }
    }
}
