//! The page and its assets, compiled into the binary (no network resources at all). The page
//! carries the language picked from `Accept-Language`, never the per-launch token: that comes
//! in the launch URL's fragment ([`super::UiApp::url`]), which only whoever started the UI has.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};

use super::Shared;

const INDEX: &str = include_str!("assets/index.html");
const FILES: &[(&str, &str, &str)] = &[
    ("app.js", "text/javascript; charset=utf-8", include_str!("assets/app.js")),
    ("i18n.js", "text/javascript; charset=utf-8", include_str!("assets/i18n.js")),
    ("app.css", "text/css; charset=utf-8", include_str!("assets/app.css")),
    ("icon.svg", "image/svg+xml", include_str!("assets/icon.svg")),
];

/// `zh` when the browser prefers Chinese to English, else `en`.
pub fn language(accept_language: Option<&str>) -> &'static str {
    let mut best = ("en", -1.0f32);
    for part in accept_language.unwrap_or("").split(',') {
        let mut it = part.trim().split(';');
        let tag = it.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = it.find_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.parse::<f32>().ok())).unwrap_or(1.0);
        let lang = if tag.starts_with("zh") {
            "zh"
        } else if tag.starts_with("en") {
            "en"
        } else {
            continue;
        };
        if q > best.1 {
            best = (lang, q);
        }
    }
    best.0
}

/// `GET /`: the page.
pub async fn index(State(st): State<Shared>, headers: HeaderMap) -> Html<String> {
    let lang = language(headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()));
    Html(
        INDEX
            .replace("{{LANG}}", if lang == "zh" { "zh-CN" } else { "en" })
            .replace("{{DEMO}}", if st.demo { "true" } else { "false" }),
    )
}

/// `GET /assets/{name}`.
pub async fn asset(Path(name): Path<String>) -> Response {
    match FILES.iter().find(|(n, ..)| *n == name) {
        Some((_, mime, body)) => ([(header::CONTENT_TYPE, *mime)], *body).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_follows_the_browsers_preference() {
        assert_eq!(language(None), "en");
        assert_eq!(language(Some("zh-CN,zh;q=0.9,en;q=0.8")), "zh");
        assert_eq!(language(Some("en-GB,en;q=0.9,zh-CN;q=0.8")), "en");
        assert_eq!(language(Some("fr-FR,zh-TW;q=0.5")), "zh");
        assert_eq!(language(Some("de")), "en");
    }

    #[test]
    fn the_page_loads_no_inline_script_and_nothing_from_elsewhere() {
        assert!(!INDEX.contains("<script>"), "scripts are files, for the CSP");
        assert!(!INDEX.contains(" style="), "no inline styles");
        for (name, _, body) in FILES.iter().map(|(n, m, b)| (n, m, b)).chain([(&"index.html", &"", &INDEX)]) {
            let body = body.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
            for remote in ["http://", "https://", "//fonts.", "@import"] {
                assert!(!body.contains(remote), "{name} refers to {remote}");
            }
        }
    }
}
