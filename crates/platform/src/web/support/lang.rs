//! The visitor's language: their choice in a cookie, else their browser's `Accept-Language`.

use axum::http::{header, HeaderMap};

use super::cookies::{cookie, LANG_COOKIE};

/// The visitor's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lang {
    En,
    Zh,
}

impl Lang {
    /// The text in this language.
    pub(crate) fn t(self, en: &'static str, zh: &'static str) -> &'static str {
        match self {
            Lang::En => en,
            Lang::Zh => zh,
        }
    }

    /// The one of an (English, Chinese) pair in this language.
    pub(crate) fn pick(self, (en, zh): (String, String)) -> String {
        match self {
            Lang::En => en,
            Lang::Zh => zh,
        }
    }

    /// From the language cookie, else the first language of `Accept-Language` we speak.
    pub(crate) fn of(headers: &HeaderMap) -> Lang {
        if let Some(v) = cookie(headers, LANG_COOKIE) {
            return if v == "zh" { Lang::Zh } else { Lang::En };
        }
        let accept = headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).unwrap_or("");
        for tag in accept.split(',') {
            let tag = tag.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
            if tag.starts_with("zh") {
                return Lang::Zh;
            }
            if tag.starts_with("en") {
                return Lang::En;
            }
        }
        Lang::Zh
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            if let Ok(v) = HeaderValue::from_str(v) {
                h.append(*k, v);
            }
        }
        h
    }

    #[test]
    fn language_from_cookie_then_accept_language() {
        assert_eq!(Lang::of(&headers(&[("accept-language", "en-GB,en;q=0.9")])), Lang::En);
        assert_eq!(Lang::of(&headers(&[("accept-language", "zh-CN,zh;q=0.9,en;q=0.8")])), Lang::Zh);
        assert_eq!(Lang::of(&headers(&[("accept-language", "fr, en;q=0.5")])), Lang::En);
        assert_eq!(
            Lang::of(&headers(&[("accept-language", "en"), ("cookie", "a=b; __Host-ereceipt_lang=zh")])),
            Lang::Zh,
            "the visitor's choice wins"
        );
        assert_eq!(Lang::of(&headers(&[])), Lang::Zh);
    }
}
