//! The receipt email itself: bilingual (Chinese, then English) plain text and HTML
//! alternatives, with the receipt PNG attached; every field from the sale is escaped.

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart};
use lettre::Address;

use crate::infra::delivery::{ReceiptMessage, SendError};

/// The message for `out` from `from`. Its Message-ID is derived from the delivery id, so a
/// resend after a crash is recognisable as the same message.
pub(super) fn compose(from: &Mailbox, out: &ReceiptMessage) -> Result<lettre::Message, SendError> {
    let to: Address = out
        .recipient
        .trim()
        .parse()
        .map_err(|e| SendError::Permanent(format!("recipient {:?} is not an email address: {e}", out.recipient)))?;
    let png = ContentType::parse("image/png").map_err(|e| SendError::Permanent(e.to_string()))?;
    let attachment = Attachment::new(format!("{}.png", file_stem(&out.receipt_id))).body(out.png.clone(), png);
    lettre::Message::builder()
        .from(from.clone())
        .to(Mailbox::new(None, to))
        .subject(subject(out))
        .message_id(Some(message_id(&out.delivery_id)))
        .multipart(
            MultiPart::mixed()
                .multipart(MultiPart::alternative_plain_html(plain_text(out), html(out)))
                .singlepart(attachment),
        )
        .map_err(|e| SendError::Permanent(format!("building the message: {e}")))
}

fn subject(out: &ReceiptMessage) -> String {
    one_line(&format!("电子签购单 / Your receipt – {} {}", out.merchant_name, out.amount))
}

/// `<{delivery_id}@ereceipt>` when the id is a valid dot-atom (ours are), else its bytes in
/// hex: either way the same id always gives the same Message-ID, and distinct ids distinct ones.
fn message_id(delivery_id: &str) -> String {
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c);
    let dot_atom = !delivery_id.is_empty() && delivery_id.split('.').all(|a| !a.is_empty() && a.chars().all(atext));
    if dot_atom {
        format!("<{delivery_id}@ereceipt>")
    } else {
        format!("<x{}@ereceipt>", hex::encode(delivery_id))
    }
}

/// A file name without path separators or control characters.
fn file_stem(receipt_id: &str) -> String {
    let stem: String =
        receipt_id.chars().map(|c| if c.is_control() || "/\\:\"".contains(c) { '_' } else { c }).collect();
    if stem.is_empty() || stem.starts_with('.') {
        format!("receipt{stem}")
    } else {
        stem
    }
}

/// Header text on one line: control characters (line breaks above all) become spaces.
fn one_line(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

fn plain_text(out: &ReceiptMessage) -> String {
    let (merchant, amount, time, id, link) =
        (one_line(&out.merchant_name), one_line(&out.amount), one_line(&out.time_local), &out.receipt_id, &out.link);
    let file = file_stem(id);
    format!(
        "您好，\n\n\
         感谢您在 {merchant} 消费。您的电子签购单附在本邮件中（{file}.png）。\n\n\
         商户：{merchant}\n\
         金额：{amount}\n\
         时间：{time}\n\
         签购单号：{id}\n\
         查看与验证：{link}\n\n\
         ——\n\n\
         Hello,\n\n\
         Thank you for your purchase at {merchant}. Your electronic receipt is attached ({file}.png).\n\n\
         Merchant: {merchant}\n\
         Amount: {amount}\n\
         Time: {time}\n\
         Receipt: {id}\n\
         View and verify: {link}\n"
    )
}

fn html(out: &ReceiptMessage) -> String {
    let (merchant, amount, time, id) =
        (escape(&out.merchant_name), escape(&out.amount), escape(&out.time_local), escape(&out.receipt_id));
    let file = escape(&format!("{}.png", file_stem(&out.receipt_id)));
    // Only a web address becomes a link; anything else (it never should be) stays inert text.
    let link = if out.link.starts_with("https://") || out.link.starts_with("http://") {
        format!("<a href=\"{0}\">{0}</a>", escape(&out.link))
    } else {
        escape(&out.link)
    };
    let rows = |labels: [&str; 5]| {
        [(labels[0], &merchant), (labels[1], &amount), (labels[2], &time), (labels[3], &id), (labels[4], &link)]
            .iter()
            .map(|(label, value)| format!("<tr><th align=\"left\">{label}</th><td>{value}</td></tr>"))
            .collect::<String>()
    };
    let zh = rows(["商户", "金额", "时间", "签购单号", "查看与验证"]);
    let en = rows(["Merchant", "Amount", "Time", "Receipt", "View and verify"]);
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>电子签购单 / Your receipt</title></head>\n<body>\n\
         <div lang=\"zh-CN\"><p>您好，</p><p>感谢您在 {merchant} 消费。您的电子签购单附在本邮件中（{file}）。</p>\n\
         <table>{zh}</table></div>\n<hr>\n\
         <div lang=\"en\"><p>Hello,</p><p>Thank you for your purchase at {merchant}. \
         Your electronic receipt is attached ({file}).</p>\n<table>{en}</table></div>\n\
         </body></html>\n"
    )
}

/// Text made safe for HTML element content and quoted attribute values.
fn escape(s: &str) -> String {
    let mut e = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => e.push_str("&amp;"),
            '<' => e.push_str("&lt;"),
            '>' => e.push_str("&gt;"),
            '"' => e.push_str("&quot;"),
            '\'' => e.push_str("&#39;"),
            c => e.push(c),
        }
    }
    e
}

#[cfg(test)]
pub(super) mod tests {
    use mail_parser::{MessageParser, MimeHeaders, PartType};

    use super::*;

    pub(crate) fn sample(recipient: &str) -> ReceiptMessage {
        ReceiptMessage {
            delivery_id: "d-0001.email".into(),
            receipt_id: "R20261125-0042".into(),
            merchant_name: "<b>&\"茶餐厅'".into(),
            amount: "CNY 128.50".into(),
            time_local: "2026-11-25 14:03".into(),
            masked_pan: "622202******3446".into(),
            pull_code: "K7M2QX9P".into(),
            link: "https://portal.example/r/R20261125-0042?a=1&b=2".into(),
            // Not a valid PNG, but bytes of every value, which must arrive unchanged.
            png: (0..=255u8).cycle().take(5000).collect(),
            recipient: recipient.into(),
        }
    }

    fn from() -> Mailbox {
        "ereceipt <receipts@example.com>".parse().unwrap()
    }

    fn build(out: &ReceiptMessage) -> Vec<u8> {
        compose(&from(), out).unwrap().formatted()
    }

    /// Checks everything a customer's mail program will show; used by the SMTP tests too, on
    /// the bytes the server received.
    pub(crate) fn assert_receipt_email(raw: &[u8], out: &ReceiptMessage) {
        let msg = MessageParser::default().parse(raw).expect("parses as a message");
        assert_eq!(
            msg.subject(),
            Some(format!("电子签购单 / Your receipt – {} {}", out.merchant_name, out.amount).as_str())
        );
        assert_eq!(msg.message_id(), Some(format!("{}@ereceipt", out.delivery_id).as_str()));
        let from = msg.from().and_then(|a| a.first()).expect("From");
        assert_eq!(from.address(), Some("receipts@example.com"));
        assert_eq!(from.name(), Some("ereceipt"));
        assert_eq!(msg.to().and_then(|a| a.first()).and_then(|a| a.address()), Some(out.recipient.as_str()));
        assert!(msg.date().is_some());

        // multipart/mixed [ multipart/alternative [ text/plain, text/html ], image/png ]
        let root = msg.root_part();
        assert!(root.is_content_type("multipart", "mixed"));
        let top = root.sub_parts().expect("mixed has parts");
        assert_eq!(top.len(), 2);
        let alternative = &msg.parts[top[0] as usize];
        assert!(alternative.is_content_type("multipart", "alternative"));
        let alt = alternative.sub_parts().expect("alternative has parts");
        assert_eq!(alt.len(), 2);
        let (text_part, html_part) = (&msg.parts[alt[0] as usize], &msg.parts[alt[1] as usize]);
        assert!(text_part.is_content_type("text", "plain"));
        assert!(html_part.is_content_type("text", "html"));
        for p in [text_part, html_part] {
            let charset = p.content_type().and_then(|c| c.attribute("charset")).map(str::to_ascii_lowercase);
            assert_eq!(charset.as_deref(), Some("utf-8"));
        }

        let text = text_part.text_contents().expect("text");
        for needle in [&out.merchant_name, &out.amount, &out.time_local, &out.receipt_id, &out.link] {
            assert!(text.contains(needle.as_str()), "plain text lacks {needle:?}:\n{text}");
        }
        assert!(text.contains("签购单号") && text.contains("View and verify"), "both languages:\n{text}");

        let html = match &html_part.body {
            PartType::Html(h) => h.to_string(),
            other => panic!("html part is {other:?}"),
        };
        for needle in [&out.merchant_name, &out.amount, &out.time_local, &out.receipt_id, &out.link] {
            assert!(html.contains(&escape(needle)), "html lacks escaped {needle:?}:\n{html}");
        }
        assert!(html.contains("商户") && html.contains("Merchant"), "both languages:\n{html}");

        let png = &msg.parts[top[1] as usize];
        assert!(png.is_content_type("image", "png"));
        assert_eq!(png.attachment_name(), Some(format!("{}.png", out.receipt_id).as_str()));
        assert_eq!(png.contents(), out.png.as_slice(), "attachment bytes");
    }

    #[test]
    fn receipt_email_parses_back_with_every_part() {
        let out = sample("customer@example.org");
        assert_receipt_email(&build(&out), &out);
    }

    #[test]
    fn html_escapes_every_field() {
        let mut out = sample("customer@example.org");
        out.amount = "<i>CNY</i> 1".into();
        out.time_local = "<script>alert(1)</script>".into();
        out.receipt_id = "R&1".into();
        out.link = "https://x.example/\"onmouseover=\"alert(1)".into();
        let page = html(&out);
        assert!(page.contains("&lt;b&gt;&amp;&quot;茶餐厅&#39;"), "{page}");
        for raw in ["<b>", "<i>", "<script>", "R&1", "\"onmouseover"] {
            assert!(!page.contains(raw), "{raw:?} unescaped in {page}");
        }
        assert!(page.contains("href=\"https://x.example/&quot;onmouseover=&quot;alert(1)\""), "{page}");
        out.link = "javascript:alert(1)".into();
        assert!(!html(&out).contains("href"), "only web addresses become links");
        assert_receipt_email(&build(&out), &out);
    }

    #[test]
    fn message_id_is_the_delivery_id() {
        let out = sample("customer@example.org");
        let (a, b) = (build(&out), build(&out));
        let id = |raw: &[u8]| MessageParser::default().parse(raw).unwrap().message_id().map(str::to_owned);
        assert_eq!(id(&a), Some("d-0001.email@ereceipt".into()));
        assert_eq!(id(&a), id(&b), "a resend carries the same Message-ID");
        assert_eq!(message_id("a b<c>@d"), format!("<x{}@ereceipt>", hex::encode("a b<c>@d")));
        assert_eq!(message_id(".x"), "<x2e78@ereceipt>");
        assert_ne!(message_id("x"), message_id("x2e78"));
        let mut other = out.clone();
        other.delivery_id = "a b".into();
        assert_eq!(id(&build(&other)), Some(format!("x{}@ereceipt", hex::encode("a b"))));
    }

    #[test]
    fn a_bad_recipient_is_permanent() {
        for bad in ["", "not-an-address", "+8613800138000", "a@b@c", "x@"] {
            let err = compose(&from(), &sample(bad)).unwrap_err();
            assert!(matches!(err, SendError::Permanent(_)), "{bad:?}: {err:?}");
        }
    }

    #[test]
    fn sale_fields_cannot_add_headers() {
        let mut out = sample("customer@example.org");
        out.merchant_name = "Shop\r\nBcc: victim@example.net".into();
        out.amount = "CNY 1\nX-Injected: yes".into();
        let raw = build(&out);
        let msg = MessageParser::default().parse(&raw).unwrap();
        assert!(msg.header("Bcc").is_none() && msg.header("X-Injected").is_none());
        assert_eq!(
            msg.subject(),
            Some("电子签购单 / Your receipt – Shop  Bcc: victim@example.net CNY 1 X-Injected: yes")
        );
    }

    #[test]
    fn attachment_name_has_no_path() {
        assert_eq!(file_stem("../../etc/passwd"), "receipt.._.._etc_passwd");
        assert_eq!(file_stem("R-1"), "R-1");
        assert_eq!(file_stem(""), "receipt");
    }
}
