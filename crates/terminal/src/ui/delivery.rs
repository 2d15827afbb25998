//! The customer's delivery choice as the page sends it (channel + number or address), read by
//! the core's `DeliveryChoice` parser, so the messages are the CLI's `--deliver` messages.

use ereceipt_core::model::{DeliveryChoice, ModelError};
use serde::Deserialize;

use super::error::UiError;

/// What the delivery screen sends.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryForm {
    /// `sms`, `mms`, `email` or `pull`.
    pub channel: String,
    /// The phone number (E.164) or email address.
    pub to: String,
}

/// Parses the form; an error names the field and says what is expected, in English (the core's
/// words) and Chinese.
pub fn parse_delivery(form: &DeliveryForm) -> Result<DeliveryChoice, UiError> {
    format!("{}:{}", form.channel.trim(), form.to.trim()).parse::<DeliveryChoice>().map_err(|e| {
        let ModelError::Invalid { field, .. } = &e else {
            return UiError::invalid("delivery", e.to_string(), "发送方式无效");
        };
        let zh = match *field {
            "phone number" => "手机号码无效：请输入 + 国家代码和号码，例如 +8613800138000",
            "email address" => "电子邮箱地址无效，例如 name@example.com",
            _ => "请选择发送方式：短信、彩信、电子邮件或自助下载",
        };
        UiError::invalid(field, e.to_string(), zh)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(channel: &str, to: &str) -> DeliveryForm {
        DeliveryForm { channel: channel.into(), to: to.into() }
    }

    #[test]
    fn valid_choices_are_normalised() {
        let c = parse_delivery(&form("sms", " +86 138-0013-8000 ")).expect("valid");
        assert_eq!(c.to_string(), "sms:+8613800138000");
        assert_eq!(parse_delivery(&form("email", "li.na@example.com")).expect("valid").channel(), "email");
        assert_eq!(parse_delivery(&form("pull", "+85291234567")).expect("valid").channel(), "pull");
        assert_eq!(parse_delivery(&form("mms", "+8613900139000")).expect("valid").channel(), "mms");
    }

    #[test]
    fn errors_name_what_was_wrong_in_the_clis_words() {
        let cases = [
            (form("sms", "13800138000"), "phone number", "E.164"),
            (form("mms", "+86abc"), "phone number", "E.164"),
            (form("email", "no-at-sign"), "email address", "name@example.com"),
            (form("fax", "+8613800138000"), "delivery channel", "sms, mms, email or pull"),
            (form("pull", ""), "phone number", "E.164"),
        ];
        for (f, field, expected) in cases {
            let e = parse_delivery(&f).expect_err(field);
            assert_eq!(e.field, Some(field), "{f:?}");
            assert!(e.message_en.contains(expected), "{f:?}: {}", e.message_en);
            // The same words as `ereceipt terminal sale --deliver`.
            let cli = format!("{}:{}", f.channel, f.to).parse::<DeliveryChoice>().expect_err("invalid").to_string();
            assert_eq!(e.message_en, cli);
            assert!(!e.message_zh.is_empty());
        }
    }
}
