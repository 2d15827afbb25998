//! The receipt email's MIME structure and headers: the two bodies (`body.rs`) with the slip
//! shown inline as a `cid:` part, and the signed PNG attached byte for byte under its name.

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::Address;

use super::body::{html, one_line, plain_text};
use crate::infra::delivery::{ReceiptMessage, SendError};

/// The message for `out` from `from`. Its Message-ID is derived from the delivery id, so a
/// resend after a crash is recognisable as the same message.
///
/// ```text
/// multipart/mixed
/// ├── multipart/alternative
/// │   ├── text/plain
/// │   └── multipart/related
/// │       ├── text/html            <img src="cid:slip.ID@ereceipt">
/// │       └── image/png            inline, Content-ID <slip.ID@ereceipt>
/// └── image/png                    attachment, ID.png: the signed receipt
/// ```
///
/// The related part belongs to the HTML alone (the structure Apple Mail and Thunderbird send),
/// so a plain-text reader shows the attachment only once; the slip travels twice because
/// Gmail and Outlook hide an image the HTML refers to from the attachments.
pub(super) fn compose(from: &Mailbox, out: &ReceiptMessage) -> Result<lettre::Message, SendError> {
    let to: Address = out
        .recipient
        .trim()
        .parse()
        .map_err(|e| SendError::Permanent(format!("recipient {:?} is not an email address: {e}", out.recipient)))?;
    let png = || ContentType::parse("image/png").map_err(|e| SendError::Permanent(e.to_string()));
    let file = format!("{}.png", file_stem(&out.receipt_id));
    let cid = slip_content_id(&out.delivery_id);
    let inline = Attachment::new_inline_with_name(cid.clone(), file.clone()).body(out.png.clone(), png()?);
    let attachment = Attachment::new(file.clone()).body(out.png.clone(), png()?);
    lettre::Message::builder()
        .from(from.clone())
        .to(Mailbox::new(None, to))
        .subject(subject(out))
        .message_id(Some(message_id(&out.delivery_id)))
        .multipart(
            MultiPart::mixed()
                .multipart(MultiPart::alternative().singlepart(SinglePart::plain(plain_text(out, &file))).multipart(
                    MultiPart::related().singlepart(SinglePart::html(html(out, &file, &cid))).singlepart(inline),
                ))
                .singlepart(attachment),
        )
        .map_err(|e| SendError::Permanent(format!("building the message: {e}")))
}

fn subject(out: &ReceiptMessage) -> String {
    one_line(&format!("电子签购单 / Your receipt – {} {}", out.merchant_name, out.amount))
}

/// `{delivery_id}@ereceipt` when the id is a valid dot-atom (ours are), else its bytes in
/// hex: either way the same id always gives the same id, and distinct ids distinct ones.
fn msg_id(delivery_id: &str) -> String {
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c);
    let dot_atom = !delivery_id.is_empty() && delivery_id.split('.').all(|a| !a.is_empty() && a.chars().all(atext));
    if dot_atom {
        format!("{delivery_id}@ereceipt")
    } else {
        format!("x{}@ereceipt", hex::encode(delivery_id))
    }
}

/// The Message-ID header's value for a delivery.
fn message_id(delivery_id: &str) -> String {
    format!("<{}>", msg_id(delivery_id))
}

/// The inline slip's Content-ID (without angle brackets), which the HTML names as `cid:`.
fn slip_content_id(delivery_id: &str) -> String {
    format!("slip.{}", msg_id(delivery_id))
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

#[cfg(test)]
pub(super) mod tests {
    use mail_parser::{MessageParser, MimeHeaders, PartType};

    use super::super::body::escape;
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

        // multipart/mixed [ multipart/alternative [ text/plain, multipart/related [ text/html,
        // image/png inline ] ], image/png attachment ]
        let root = msg.root_part();
        assert!(root.is_content_type("multipart", "mixed"));
        let top = root.sub_parts().expect("mixed has parts");
        assert_eq!(top.len(), 2);
        let alternative = &msg.parts[top[0] as usize];
        assert!(alternative.is_content_type("multipart", "alternative"));
        let alt = alternative.sub_parts().expect("alternative has parts");
        assert_eq!(alt.len(), 2);
        let (text_part, related) = (&msg.parts[alt[0] as usize], &msg.parts[alt[1] as usize]);
        assert!(text_part.is_content_type("text", "plain"));
        assert!(related.is_content_type("multipart", "related"));
        let rel = related.sub_parts().expect("related has parts");
        assert_eq!(rel.len(), 2);
        let (html_part, inline) = (&msg.parts[rel[0] as usize], &msg.parts[rel[1] as usize]);
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

        // The slip shown inline is the part the HTML names, and it is the signed PNG.
        assert!(inline.is_content_type("image", "png"));
        let cid = inline.content_id().expect("the inline slip has a Content-ID");
        assert!(html.contains(&format!("src=\"cid:{}\"", escape(cid))), "html shows cid:{cid}:\n{html}");
        let disposition = inline.content_disposition().expect("inline disposition");
        assert!(disposition.ctype().eq_ignore_ascii_case("inline"), "{disposition:?}");
        assert_eq!(inline.contents(), out.png.as_slice(), "inline slip bytes");

        let png = &msg.parts[top[1] as usize];
        assert!(png.is_content_type("image", "png"));
        let disposition = png.content_disposition().expect("attachment disposition");
        assert!(disposition.ctype().eq_ignore_ascii_case("attachment"), "{disposition:?}");
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
        let page = html(&out, "R&1.png", "slip.d@ereceipt");
        assert!(page.contains("&lt;b&gt;&amp;&quot;茶餐厅&#39;"), "{page}");
        for raw in ["<b>", "<i>", "<script>", "R&1", "\"onmouseover"] {
            assert!(!page.contains(raw), "{raw:?} unescaped in {page}");
        }
        assert!(page.contains("href=\"https://x.example/&quot;onmouseover=&quot;alert(1)\""), "{page}");
        let merchant = "&lt;b&gt;&amp;&quot;茶餐厅&#39;";
        assert!(
            page.contains(&format!("<title>电子签购单 / Your receipt – {merchant} &lt;i&gt;CNY&lt;/i&gt; 1</title>"))
        );
        assert!(
            page.contains(&format!("alt=\"{merchant} 的签名电子签购单，金额 &lt;i&gt;CNY&lt;/i&gt; 1 /")),
            "{page}"
        );
        assert!(page.contains("（R&amp;1.png）"), "the file name too: {page}");
        out.link = "javascript:alert(1)".into();
        assert!(!html(&out, "R.png", "c").contains("href"), "only web addresses become links");
        assert_receipt_email(&build(&out), &out);
    }

    #[test]
    fn html_has_one_button_both_languages_and_dark_colours() {
        let out = sample("customer@example.org");
        let page = html(&out, "R20261125-0042.png", "slip.d-0001.email@ereceipt");
        let link = escape(&out.link);
        assert_eq!(page.matches("<a ").count(), 2, "the button and the address written out: {page}");
        assert!(page.contains(&format!("id=\"verify\" class=\"btn\" href=\"{link}\"")), "{page}");
        assert!(page.contains("查看并验证 / <span lang=\"en\">View and verify</span></a>"), "{page}");
        assert!(page.starts_with("<!DOCTYPE html>\n<html lang=\"zh-CN\">"), "{page}");
        assert!(page.contains("<meta name=\"color-scheme\" content=\"light dark\">"), "{page}");
        assert!(page.contains("@media (prefers-color-scheme:dark){"), "{page}");
        // Merchant and amount come before the slip, the slip before the fields.
        let at = |needle: &str| page.find(needle).unwrap_or_else(|| panic!("{needle:?} missing"));
        let merchant = format!("{}</h1>", escape(&out.merchant_name));
        assert!(at(&merchant) < at("CNY 128.50</p>"), "{page}");
        assert!(at("CNY 128.50</p>") < at("src=\"cid:slip.d-0001.email@ereceipt\""));
        assert!(at("src=\"cid:") < at("签购单号</span>"));
    }

    /// Python's `email` (an independent parser) reads the same tree, the same Content-ID in the
    /// HTML and in the inline part, the signed PNG byte for byte, and the content in both bodies.
    #[test]
    fn python_email_reads_the_tree_the_cid_and_the_exact_png() {
        use base64::Engine as _;
        use serde_json::Value;
        let out = sample("customer@example.org");
        let parsed = ereceipt_test_peers::mime::parse(&build(&out));
        fn shape(p: &Value) -> String {
            match p["parts"].as_array() {
                Some(parts) => format!(
                    "{}({})",
                    p["type"].as_str().unwrap(),
                    parts.iter().map(shape).collect::<Vec<_>>().join(",")
                ),
                None => p["type"].as_str().unwrap().to_owned(),
            }
        }
        fn defects(p: &Value) -> Vec<String> {
            let own = p["defects"].as_array().unwrap().iter().map(|d| format!("{}: {d}", p["path"]));
            own.chain(p["parts"].as_array().into_iter().flatten().flat_map(defects)).collect()
        }
        let root = &parsed["root"];
        assert_eq!(
            shape(root),
            "multipart/mixed(multipart/alternative(text/plain,multipart/related(text/html,image/png)),image/png)"
        );
        assert_eq!(defects(root), Vec::<String>::new());
        assert_eq!(parsed["subject"], format!("电子签购单 / Your receipt – {} {}", out.merchant_name, out.amount));
        assert_eq!(parsed["message_id"], "<d-0001.email@ereceipt>");
        assert_eq!(parsed["mime_version"], "1.0");

        let (text, related, attached) =
            (&root["parts"][0]["parts"][0], &root["parts"][0]["parts"][1], &root["parts"][1]);
        let (html, inline) = (&related["parts"][0], &related["parts"][1]);
        let bytes =
            |p: &Value| base64::engine::general_purpose::STANDARD.decode(p["base64"].as_str().unwrap()).unwrap();
        assert_eq!(attached["disposition"], "attachment");
        assert_eq!(attached["filename"], "R20261125-0042.png");
        assert_eq!(bytes(attached), out.png, "the attached PNG is the signed receipt, byte for byte");
        assert_eq!(inline["disposition"], "inline");
        assert_eq!(bytes(inline), out.png, "the inline slip is the same image");

        let cid = inline["content_id"].as_str().expect("the inline part has a Content-ID");
        let cid = cid.strip_prefix('<').and_then(|c| c.strip_suffix('>')).expect("<...>");
        let images = html["html"]["images"].as_array().unwrap();
        assert_eq!(images.len(), 1, "{images:?}");
        assert_eq!(images[0]["src"], format!("cid:{cid}"), "the HTML shows the inline part");
        let alt = images[0]["alt"].as_str().unwrap();
        for needle in [out.merchant_name.as_str(), out.amount.as_str(), "签名电子签购单", "Signed receipt"] {
            assert!(alt.contains(needle), "alt text {alt:?} lacks {needle:?}");
        }
        assert_eq!(html["html"]["lang"], "zh-CN");
        assert_eq!(html["html"]["title"], format!("电子签购单 / Your receipt – {} {}", out.merchant_name, out.amount));
        assert!(html["html"]["links"].as_array().unwrap().iter().all(|l| l == out.link.as_str()), "{html}");

        let (plain, seen) = (text["text"].as_str().unwrap(), html["html"]["text"].as_str().unwrap());
        for body in [plain, seen] {
            for needle in [&out.merchant_name, &out.amount, &out.time_local, &out.receipt_id] {
                assert!(body.contains(needle.as_str()), "{needle:?} missing from\n{body}");
            }
            assert!(body.contains("查看并验证") && body.contains("View and verify"), "{body}");
        }
        assert!(plain.contains(&out.link), "{plain}");
        assert!(seen.contains(&out.link), "the address is written out under the button: {seen}");
        assert_eq!(text["charset"], "utf-8");
        assert_eq!(html["charset"], "utf-8");
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
