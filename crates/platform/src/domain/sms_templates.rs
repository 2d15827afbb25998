//! The SMS texts per carrier and kind of message, as the carriers' rules want them: a filed
//! template id, the 【signature】, a text with named parameters, and whether links may appear.
//! China Mobile intercepts industry SMS with links (since 2025-12-05), China Unicom wants filed
//! templates, and runs of more than 8 digits or link-like strings can be classed as 引流
//! (traffic diversion): the parameters are checked before a text goes out.

use serde::Deserialize;

use super::sms_routing::{Carrier, Route};

/// What a text is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Receipt,
    LoginCode,
}

/// The parameters a template may name, `{name}` in its text.
pub const PARAMETERS: [&str; 7] = ["merchant", "amount", "card", "time", "receipt", "code", "link"];

/// One filed template.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    /// The id the carrier (or aggregator) gave the filed template, recorded with each send.
    #[serde(default)]
    pub template_id: Option<String>,
    /// The signature without brackets; the text starts with 【signature】.
    pub signature: String,
    /// The text after the signature, with `{merchant}`, `{amount}`, `{card}`, `{time}`,
    /// `{receipt}`, `{code}` and `{link}`.
    pub text: String,
    /// Whether the carrier lets links through.
    pub links: bool,
    /// Whether runs of more than 8 digits may appear.
    #[serde(default)]
    pub long_digit_runs: bool,
}

/// Why a text could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// The template names a parameter that does not exist, or a `{` is not closed.
    #[error("template names {0:?}, not one of merchant, amount, card, time, receipt, code, link")]
    UnknownParameter(String),
    /// The template has `{link}` but links are not allowed.
    #[error("template has {{link}} but links = false")]
    LinkNotAllowed,
    /// The template lacks a parameter its kind needs.
    #[error("template lacks {{{0}}}")]
    Missing(&'static str),
    /// The signature is empty, too long or has brackets.
    #[error("signature {0:?} must be 2 to 12 characters without 【】")]
    Signature(String),
    /// A value would make the text look like a link where links are not allowed.
    #[error("{0} looks like a link, which this carrier does not let through")]
    LinkLike(&'static str),
    /// The text would have a run of more than 8 digits.
    #[error("the text has a run of more than 8 digits, which this carrier may class as 引流")]
    LongDigitRun,
    /// The code is not 1 to 10 letters and digits (the carriers' code variable).
    #[error("the code must be 1 to 10 letters and digits")]
    Code,
}

fn template(signature: &str, text: &str, links: bool) -> Template {
    Template { template_id: None, signature: signature.into(), text: text.into(), links, long_digit_runs: false }
}

const SIGNATURE: &str = "电子签购单";

/// The receipt text where links go through (today's SMPP text).
pub const RECEIPT_WITH_LINK: &str = "{merchant} {amount} 收据/receipt: {link}";
/// The receipt text where they do not: what the customer needs, and the pull code.
/// Bilingual labels and 125 characters for a typical receipt: two SMS.
pub const RECEIPT_WITHOUT_LINK: &str =
    "{merchant} {amount} 卡/card {card} {time} 单号/no. {receipt} 提取码/code {code}";
/// The login text with the page's link.
pub const LOGIN_WITH_LINK: &str = "验证码 {code}，10分钟内有效。Receipt login code {code}, valid 10 min: {link}";
/// The login text without it.
pub const LOGIN_WITHOUT_LINK: &str = "验证码 {code}，10分钟内有效。Receipt login code {code}, valid 10 min.";

/// The built-in template of `kind` with or without links.
pub fn default_template(kind: Kind, links: bool) -> Template {
    let text = match (kind, links) {
        (Kind::Receipt, true) => RECEIPT_WITH_LINK,
        (Kind::Receipt, false) => RECEIPT_WITHOUT_LINK,
        (Kind::LoginCode, true) => LOGIN_WITH_LINK,
        (Kind::LoginCode, false) => LOGIN_WITHOUT_LINK,
    };
    template(SIGNATURE, text, links)
}

/// Whether a carrier lets links through when no setting says otherwise: not China Mobile (and
/// Broadnet, which goes through it) nor China Unicom; China Telecom and the default route do.
pub fn links_by_default(route: Route) -> bool {
    !matches!(route, Route::Carrier(c) if matches!(c.network(), Carrier::Mobile | Carrier::Unicom))
}

/// The `{name}`s of a template text, in order; an error for an unknown name or an open `{`.
fn names(text: &str) -> Result<Vec<&str>, TemplateError> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        let end = after.find('}').ok_or_else(|| TemplateError::UnknownParameter(after.into()))?;
        let name = &after[..end];
        if !PARAMETERS.contains(&name) {
            return Err(TemplateError::UnknownParameter(name.into()));
        }
        out.push(name);
        rest = &after[end + 1..];
    }
    Ok(out)
}

impl Template {
    /// Checks a template for `kind` (at settings load): known parameters, `{link}` only where
    /// links are allowed, `{code}` in a login text, `{code}` or `{link}` in a receipt text (the
    /// way to the receipt), a plain signature.
    pub fn check(&self, kind: Kind) -> Result<(), TemplateError> {
        let names = names(&self.text)?;
        if names.contains(&"link") && !self.links {
            return Err(TemplateError::LinkNotAllowed);
        }
        let has = |n| names.contains(&n);
        match kind {
            Kind::LoginCode if !has("code") => return Err(TemplateError::Missing("code")),
            Kind::Receipt if !has("code") && !has("link") => return Err(TemplateError::Missing("code")),
            _ => {}
        }
        let len = self.signature.chars().count();
        if !(2..=12).contains(&len) || self.signature.contains(['【', '】']) {
            return Err(TemplateError::Signature(self.signature.clone()));
        }
        Ok(())
    }

    /// The text with `values` put in. Each value goes on one line; the result is checked against
    /// the carrier's rules: no link-like value where links are not allowed, no run of more than
    /// 8 digits unless allowed, a code of 1 to 10 letters and digits.
    pub fn render(&self, values: &[(&str, &str)]) -> Result<String, TemplateError> {
        let value = |name: &str| values.iter().find(|(n, _)| *n == name).map_or("", |(_, v)| *v);
        let code = value("code");
        if names(&self.text)?.contains(&"code")
            && (code.is_empty() || code.len() > 10 || !code.bytes().all(|b| b.is_ascii_alphanumeric()))
        {
            return Err(TemplateError::Code);
        }
        let mut out = format!("【{}】", self.signature);
        let mut rest = self.text.as_str();
        while let Some(start) = rest.find('{') {
            out.push_str(&rest[..start]);
            let after = &rest[start + 1..];
            let end = after.find('}').ok_or_else(|| TemplateError::UnknownParameter(after.into()))?;
            let name = PARAMETERS.into_iter().find(|p| *p == &after[..end]);
            let Some(name) = name else { return Err(TemplateError::UnknownParameter(after[..end].into())) };
            let v = one_line(value(name));
            if !self.links && looks_like_link(&v) {
                return Err(TemplateError::LinkLike(name));
            }
            out.push_str(&v);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        if !self.long_digit_runs && longest_digit_run(&out) > 8 {
            return Err(TemplateError::LongDigitRun);
        }
        Ok(out)
    }
}

/// Line breaks and tabs as spaces: a parameter never breaks the text's layout.
fn one_line(s: &str) -> String {
    s.split(|c: char| c.is_control() || c.is_whitespace()).filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ")
}

/// The longest run of consecutive ASCII digits.
pub fn longest_digit_run(s: &str) -> usize {
    s.split(|c: char| !c.is_ascii_digit()).map(str::len).max().unwrap_or(0)
}

/// What filters take for a link: a scheme, `www.`, or a dot followed by a common top-level
/// domain ("shop.cn", "x.com/y").
pub fn looks_like_link(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    if lower.contains("://") || lower.contains("www.") {
        return true;
    }
    const TLDS: [&str; 10] = ["com", "cn", "net", "org", "top", "xyz", "io", "cc", "me", "ly"];
    lower.match_indices('.').any(|(i, _)| {
        let after = &lower[i + 1..];
        let word: String = after.chars().take_while(char::is_ascii_alphabetic).collect();
        i > 0 && TLDS.contains(&word.as_str())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receipt_values<'a>(merchant: &'a str, receipt: &'a str) -> Vec<(&'a str, &'a str)> {
        vec![
            ("merchant", merchant),
            ("amount", "CNY 128.50"),
            ("card", "622202******3446"),
            ("time", "2025-11-25 14:03"),
            ("receipt", receipt),
            ("code", "K7M2QX9P"),
            ("link", "https://receipts.example/r/T1?t=abc"),
        ]
    }

    #[test]
    fn the_link_free_receipt_text_names_what_the_customer_needs_and_the_pull_code() {
        let t = default_template(Kind::Receipt, false);
        t.check(Kind::Receipt).unwrap();
        let text = t.render(&receipt_values("海港书店 Harbour Books", "T0000501-000001-000001")).unwrap();
        assert_eq!(
            text,
            "【电子签购单】海港书店 Harbour Books CNY 128.50 卡/card 622202******3446 2025-11-25 14:03 \
             单号/no. T0000501-000001-000001 提取码/code K7M2QX9P"
        );
        assert!(!looks_like_link(&text));
    }

    #[test]
    fn links_are_refused_in_templates_and_values_where_the_carrier_forbids_them() {
        let mut t = default_template(Kind::Receipt, false);
        t.text = RECEIPT_WITH_LINK.into();
        assert_eq!(t.check(Kind::Receipt), Err(TemplateError::LinkNotAllowed));
        let t = default_template(Kind::Receipt, false);
        let v = receipt_values("shop.cn 海港", "T0000501-000001-000001");
        assert_eq!(t.render(&v), Err(TemplateError::LinkLike("merchant")));
        let with_links = default_template(Kind::Receipt, true);
        assert!(with_links.render(&v).unwrap().contains("https://receipts.example/r/T1?t=abc"));
        assert!(!looks_like_link("St. Mary's Café"), "a dot alone is not a link");
    }

    #[test]
    fn long_digit_runs_and_bad_codes_are_refused_unless_allowed() {
        let mut t = default_template(Kind::Receipt, false);
        let v = receipt_values("海港书店", "123456789-000001-000001");
        assert_eq!(t.render(&v), Err(TemplateError::LongDigitRun));
        t.long_digit_runs = true;
        assert!(t.render(&v).is_ok());
        let mut v = receipt_values("海港书店", "T0000501-000001-000001");
        v[5].1 = "K7M2QX9P12X";
        assert_eq!(t.render(&v), Err(TemplateError::Code), "11 characters");
        v[5].1 = "K7M2-QX9P";
        assert_eq!(t.render(&v), Err(TemplateError::Code), "not letters and digits");
        assert_eq!(longest_digit_run("ab 12345678 c 123"), 8);
    }

    #[test]
    fn templates_are_checked_for_their_parameters_and_signature() {
        let mut t = default_template(Kind::LoginCode, false);
        t.check(Kind::LoginCode).unwrap();
        t.text = "验证码 {otp}".into();
        assert_eq!(t.check(Kind::LoginCode), Err(TemplateError::UnknownParameter("otp".into())));
        t.text = "您的验证码已发送".into();
        assert_eq!(t.check(Kind::LoginCode), Err(TemplateError::Missing("code")));
        t.text = "验证码 {code".into();
        assert!(t.check(Kind::LoginCode).is_err());
        let mut t = default_template(Kind::LoginCode, false);
        t.signature = "【电子签购单】".into();
        assert!(matches!(t.check(Kind::LoginCode), Err(TemplateError::Signature(_))));
    }

    #[test]
    fn mobile_broadnet_and_unicom_get_no_links_by_default() {
        assert!(!links_by_default(Route::Carrier(Carrier::Mobile)));
        assert!(!links_by_default(Route::Carrier(Carrier::Broadnet)));
        assert!(!links_by_default(Route::Carrier(Carrier::Unicom)));
        assert!(links_by_default(Route::Carrier(Carrier::Telecom)));
        assert!(links_by_default(Route::Default));
    }
}
