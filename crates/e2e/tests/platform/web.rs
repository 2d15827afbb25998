//! A minimal browser for the portal tests: keeps cookies, does not follow redirects, sends the
//! `Origin` a browser sends with form posts, and reads the CSRF token from the last form.

use std::collections::BTreeMap;

use reqwest::header::HeaderMap;

use crate::helpers::TestPlatform;

/// One response, kept whole.
pub struct Page {
    pub status: u16,
    pub headers: HeaderMap,
    pub bytes: Vec<u8>,
}

impl Page {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    /// Where a redirect points.
    pub fn location(&self) -> Option<String> {
        self.headers.get("location").and_then(|v| v.to_str().ok()).map(str::to_owned)
    }

    /// The value of the first `name="NAME" value="…"` in the page.
    pub fn field(&self, name: &str) -> Option<String> {
        let text = self.text();
        let at = text.find(&format!("name=\"{name}\" value=\""))?;
        let rest = &text[at + name.len() + 15..];
        Some(rest[..rest.find('"')?].to_owned())
    }

    /// The `data-verdict` of the verification box.
    pub fn verdict(&self) -> Option<String> {
        let text = self.text();
        let at = text.find("data-verdict=\"")?;
        let rest = &text[at + 14..];
        Some(rest[..rest.find('"')?].to_owned())
    }
}

pub struct Web {
    http: reqwest::Client,
    pub base: String,
    pub cookies: BTreeMap<String, String>,
    /// Every `Set-Cookie` header seen, for checking attributes.
    pub set_cookies: Vec<String>,
    /// The CSRF token of the last page that had a form.
    pub csrf: String,
    pub accept_language: &'static str,
}

impl Web {
    pub fn new(platform: &TestPlatform) -> Self {
        let http = platform.client_builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Self {
            http,
            base: platform.url.clone(),
            cookies: BTreeMap::new(),
            set_cookies: Vec::new(),
            csrf: String::new(),
            accept_language: "en",
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    async fn finish(&mut self, r: reqwest::Response) -> Page {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        for c in headers.get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()) {
            self.set_cookies.push(c.to_owned());
            let pair = c.split(';').next().unwrap_or("");
            if let Some((k, v)) = pair.split_once('=') {
                if v.is_empty() || c.contains("Max-Age=0") {
                    self.cookies.remove(k);
                } else {
                    self.cookies.insert(k.to_owned(), v.to_owned());
                }
            }
        }
        let page = Page { status, headers, bytes: r.bytes().await.unwrap().to_vec() };
        if let Some(csrf) = page.field("csrf") {
            self.csrf = csrf;
        }
        page
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .header("accept-language", self.accept_language)
            .send()
            .await
            .unwrap();
        self.finish(r).await
    }

    /// A form post as the browser sends it: same-origin `Origin`, the page's CSRF token.
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let mut form: Vec<(String, String)> = fields.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        if !fields.iter().any(|(k, _)| *k == "csrf") {
            form.push(("csrf".into(), self.csrf.clone()));
        }
        self.post_raw(path, &form, Some(&self.base.clone())).await
    }

    /// A form post with exactly these fields and this `Origin` (or none).
    pub async fn post_raw(&mut self, path: &str, form: &[(String, String)], origin: Option<&str>) -> Page {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .header("accept-language", self.accept_language)
            .form(form);
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        let r = req.send().await.unwrap();
        self.finish(r).await
    }

    pub async fn post_multipart(&mut self, path: &str, form: reqwest::multipart::Form) -> Page {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .header("origin", self.base.clone())
            .multipart(form)
            .send()
            .await
            .unwrap();
        self.finish(r).await
    }
}
