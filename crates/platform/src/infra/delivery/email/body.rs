//! The two bodies of the receipt email, Chinese then English: a plain-text one and an HTML one
//! (merchant and amount first, the slip inline, the key fields, one "view and verify" button),
//! laid out as mail programs render it; every field from the sale is escaped.

use crate::infra::delivery::ReceiptMessage;

/// What the HTML shows the customer, each label in both languages: (Chinese, English).
const LABELS: [(&str, &str); 4] = [("商户", "Merchant"), ("金额", "Amount"), ("时间", "Time"), ("签购单号", "Receipt")];
/// The button's words.
const BUTTON: (&str, &str) = ("查看并验证", "View and verify");

/// The same colours as the `style` attributes of [`html`], for clients that read only those;
/// the `<style>` block repeats them and swaps them for dark ones under
/// `prefers-color-scheme: dark`. Every text colour is set together with the background it
/// sits on, so a client that darkens only backgrounds never hides dark text on them.
const STYLE: &str = "\
:root{color-scheme:light dark;supported-color-schemes:light dark}
body{margin:0;padding:0;width:100%;-webkit-text-size-adjust:100%}
.bg{background:#eef1f5;color:#17202c}
.card{background:#ffffff;color:#17202c}
.t{color:#17202c}
.m{color:#4f5a69}
.slip{background:#ffffff;border-color:#d5dae1}
.rule{border-color:#d5dae1}
.btn{background:#1f5fd1;color:#ffffff}
.wrap a.url{color:#1f5fd1}
@media (prefers-color-scheme:dark){
.bg{background:#0f1216 !important;color:#eef1f5 !important}
.card{background:#1b1f26 !important;color:#eef1f5 !important}
.t{color:#eef1f5 !important}
.m{color:#b3bcc8 !important}
.slip{background:#ffffff !important;border-color:#3a414c !important}
.rule{border-color:#3a414c !important}
.btn{background:#1f5fd1 !important;color:#ffffff !important}
.wrap a.url{color:#9cc0ff !important}
}
@media (max-width:480px){.pad{padding-left:16px !important;padding-right:16px !important}}";

/// The fonts for both scripts on every platform, CJK ones before the generic fallback.
const FONTS: &str = "-apple-system,BlinkMacSystemFont,'Segoe UI',Roboto,'PingFang SC','Hiragino Sans GB',\
'Microsoft YaHei','Noto Sans CJK SC','WenQuanYi Micro Hei',Arial,sans-serif";

/// The plain-text alternative: the same content as the HTML, the link written out.
pub(super) fn plain_text(out: &ReceiptMessage, file: &str) -> String {
    let (merchant, amount, time, id, link) =
        (one_line(&out.merchant_name), one_line(&out.amount), one_line(&out.time_local), &out.receipt_id, &out.link);
    format!(
        "ereceipt 电子签购单 / e-receipt\n\n\
         {merchant}\n\
         {amount}\n\n\
         感谢您在 {merchant} 消费。签名的电子签购单显示在邮件中，并作为附件（{file}）随附。\n\n\
         商户：{merchant}\n\
         金额：{amount}\n\
         时间：{time}\n\
         签购单号：{id}\n\
         查看并验证：{link}\n\n\
         ——\n\n\
         Thank you for your purchase at {merchant}. The signed receipt is shown in this email and \
         attached ({file}).\n\n\
         Merchant: {merchant}\n\
         Amount: {amount}\n\
         Time: {time}\n\
         Receipt: {id}\n\
         View and verify: {link}\n"
    )
}

/// The HTML alternative; `cid` is the Content-ID (without angle brackets) of the inline slip
/// and `file` the attached PNG's name.
pub(super) fn html(out: &ReceiptMessage, file: &str, cid: &str) -> String {
    let (merchant, amount, time, id) =
        (escape(&out.merchant_name), escape(&out.amount), escape(&out.time_local), escape(&out.receipt_id));
    let (file, cid) = (escape(file), escape(cid));
    let alt = format!("{merchant} 的签名电子签购单，金额 {amount} / Signed receipt from {merchant}, {amount}");
    let rows: String = LABELS
        .iter()
        .zip([&merchant, &amount, &time, &id])
        .map(|((zh, en), value)| {
            format!(
                "<tr><th scope=\"row\" class=\"m rule\" align=\"left\" valign=\"top\" style=\"white-space:nowrap;\
                 width:1%;padding:10px 16px 10px 0;border-top:1px solid #d5dae1;font-weight:normal;\
                 font-size:13px;line-height:18px;color:#4f5a69;\"><span class=\"label\" lang=\"zh-CN\">{zh}</span>\
                 <br><span class=\"label\" lang=\"en\">{en}</span></th>\
                 <td class=\"t rule\" valign=\"top\" style=\"padding:10px 0;border-top:1px solid #d5dae1;\
                 font-size:15px;line-height:22px;color:#17202c;overflow-wrap:anywhere;word-break:break-word;\">\
                 {value}</td></tr>\n"
            )
        })
        .collect();
    let action = action(&out.link);
    format!(
        "<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"color-scheme\" content=\"light dark\">\n\
         <meta name=\"supported-color-schemes\" content=\"light dark\">\n\
         <title>电子签购单 / Your receipt – {merchant} {amount}</title>\n<style>\n{STYLE}\n</style>\n</head>\n\
         <body class=\"bg\" style=\"margin:0;padding:0;background:#eef1f5;color:#17202c;\">\n\
         <div style=\"display:none;max-height:0;overflow:hidden;\">{merchant} {amount} – 电子签购单 / Your receipt</div>\n\
         <div role=\"main\" class=\"wrap bg\" style=\"background:#eef1f5;font-family:{FONTS};\">\n\
         <table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\" class=\"bg\" \
         style=\"background:#eef1f5;\"><tr><td align=\"center\" style=\"padding:24px 8px;\">\n\
         <!--[if mso]><table role=\"presentation\" width=\"600\" align=\"center\" cellpadding=\"0\" cellspacing=\"0\" \
         border=\"0\"><tr><td><![endif]-->\n\
         <table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\" \
         style=\"width:100%;max-width:600px;\">\n\
         <tr><td class=\"t pad\" style=\"padding:0 24px 12px;font-size:15px;line-height:20px;color:#17202c;\">\
         <strong>ereceipt</strong> <span class=\"m\" style=\"color:#4f5a69;\">· 电子签购单 · \
         <span lang=\"en\">e-receipt</span></span></td></tr>\n\
         <tr><td class=\"card pad\" style=\"background:#ffffff;color:#17202c;border-top:4px solid #1f5fd1;\
         border-radius:8px;padding:24px;\">\n\
         <p class=\"m\" style=\"margin:0 0 4px;font-size:14px;line-height:20px;color:#4f5a69;\">您的电子签购单 · \
         <span lang=\"en\">Your receipt</span></p>\n\
         <h1 class=\"t\" style=\"margin:0;font-size:20px;line-height:28px;font-weight:600;color:#17202c;\
         overflow-wrap:anywhere;\">{merchant}</h1>\n\
         <p class=\"t\" style=\"margin:4px 0 20px;font-size:30px;line-height:38px;font-weight:700;color:#17202c;\">\
         {amount}</p>\n\
         <table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\"><tr>\
         <td align=\"center\" class=\"slip\" style=\"background:#ffffff;border:1px solid #d5dae1;\
         border-radius:6px;padding:12px;\"><img src=\"cid:{cid}\" width=\"288\" alt=\"{alt}\" \
         style=\"display:block;width:100%;max-width:288px;height:auto;border:0;\"></td></tr></table>\n\
         <table class=\"fields\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\" \
         style=\"margin:20px 0 0;border-collapse:collapse;\">\n{rows}</table>\n\
         {action}\
         <p class=\"m\" style=\"margin:20px 0 0;font-size:13px;line-height:20px;color:#4f5a69;\">\
         感谢您在 {merchant} 消费。签名的电子签购单也作为附件（{file}）随附，可在上面的页面验证真伪。<br>\
         <span lang=\"en\">Thank you for your purchase at {merchant}. The signed receipt is also attached \
         ({file}); the page above verifies that it is genuine.</span></p>\n\
         </td></tr>\n\
         <tr><td class=\"m pad\" style=\"padding:12px 24px 0;font-size:12px;line-height:18px;color:#4f5a69;\">\
         ereceipt 代 {merchant} 发送 · <span lang=\"en\">Sent by ereceipt for {merchant}</span></td></tr>\n\
         </table>\n<!--[if mso]></td></tr></table><![endif]-->\n\
         </td></tr></table>\n</div>\n</body>\n</html>\n"
    )
}

/// The button to the receipt's page, and the address written out beneath it for clients that
/// drop buttons. Only a web address becomes a link; anything else (it never should be) stays
/// inert text.
fn action(link: &str) -> String {
    let text = escape(link);
    if !(link.starts_with("https://") || link.starts_with("http://")) {
        return format!(
            "<p class=\"t\" style=\"margin:24px 0 0;font-size:14px;line-height:20px;color:#17202c;\
             overflow-wrap:anywhere;word-break:break-all;\">{} / {}: {text}</p>\n",
            BUTTON.0, BUTTON.1
        );
    }
    format!(
        "<table role=\"presentation\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\" style=\"margin:24px 0 0;\">\
         <tr><td class=\"btn\" bgcolor=\"#1f5fd1\" style=\"background:#1f5fd1;border-radius:6px;\">\
         <a id=\"verify\" class=\"btn\" href=\"{text}\" style=\"display:inline-block;padding:12px 22px;\
         font-size:16px;line-height:22px;font-weight:600;color:#ffffff;text-decoration:none;border-radius:6px;\">\
         {} / <span lang=\"en\">{}</span></a></td></tr></table>\n\
         <p class=\"m\" style=\"margin:12px 0 0;font-size:13px;line-height:20px;color:#4f5a69;\
         overflow-wrap:anywhere;\">按钮无法打开时，请访问 · <span lang=\"en\">If the button does not open:</span>\
         <br><a class=\"url\" href=\"{text}\" style=\"color:#1f5fd1;word-break:break-all;\">{text}</a></p>\n",
        BUTTON.0, BUTTON.1
    )
}

/// Header text on one line: control characters (line breaks above all) become spaces.
pub(super) fn one_line(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// Text made safe for HTML element content and quoted attribute values.
pub(super) fn escape(s: &str) -> String {
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
