//! [`Browser`]: one headless Chromium session behind its own chromedriver, with the page
//! operations the portal and touch-UI tests need, addressed by CSS selector.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::time::Instant;

use crate::driver::Driver;
use crate::input::{self, PointerKind, SessionCommand};
use crate::{BrowserOptions, Cookie, Error, Result};

/// How often the `wait_for*` methods look again.
const POLL: Duration = Duration::from_millis(50);

/// A headless Chromium driven over WebDriver. Dropping it (or [`Browser::close`]) ends the
/// session and kills chromedriver and Chromium; the temporary profile is removed.
pub struct Browser {
    client: Client,
    download_dir: PathBuf,
    driver: Driver,
    /// Declared after `driver`: removed only once Chromium, which writes into it, is gone.
    _profile: TempDir,
}

impl Browser {
    /// Starts chromedriver (`/usr/bin/chromedriver`, or `$EReceipt_CHROMEDRIVER`) on a free
    /// loopback port and opens a headless Chromium (`/usr/bin/chromium`, or
    /// `$EReceipt_CHROMIUM`) with a fresh profile. Certificates are not checked (the servers
    /// under test use a private CA). Fails with [`Error::Missing`] when either is not installed.
    pub async fn start(options: BrowserOptions) -> Result<Self> {
        let chromium = program("Chromium", "EReceipt_CHROMIUM", "/usr/bin/chromium")?;
        let chromedriver = program("chromedriver", "EReceipt_CHROMEDRIVER", "/usr/bin/chromedriver")?;
        let profile = tempfile::Builder::new().prefix("ereceipt-chromium-").tempdir()?;
        let download_dir = options.download_dir.clone().unwrap_or_else(|| profile.path().join("downloads"));
        std::fs::create_dir_all(&download_dir)?;
        let download_dir = std::fs::canonicalize(download_dir)?;
        let mut driver = Driver::start(&chromedriver, profile.path().join("chromedriver.log")).await?;
        let capabilities = capabilities(&chromium, &options, profile.path(), &download_dir);
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&driver.url())
            .await
            .map_err(|e| Error::Session(format!("{e}; chromedriver log:\n{}", driver.log_tail())))?;
        driver.session = client.session_id().await?;
        let browser = Browser { client, download_dir, driver, _profile: profile };
        browser.size_viewport(options.width, options.height).await?;
        Ok(browser)
    }

    /// The WebDriver client, for anything not wrapped here.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Where downloads are saved.
    pub fn download_dir(&self) -> &Path {
        &self.download_dir
    }

    /// Navigates to `url` and waits for the page to load.
    pub async fn goto(&self, url: &str) -> Result<()> {
        Ok(self.client.goto(url).await?)
    }

    /// The current page's URL.
    pub async fn url(&self) -> Result<String> {
        Ok(self.client.current_url().await?.to_string())
    }

    /// The first element matching `css`; [`Error::NoElement`] when there is none.
    pub async fn find(&self, css: &str) -> Result<Element> {
        self.try_find(css).await?.ok_or_else(|| Error::NoElement(css.to_owned()))
    }

    /// Whether any element matches `css` now.
    pub async fn exists(&self, css: &str) -> Result<bool> {
        Ok(!self.client.find_all(Locator::Css(css)).await?.is_empty())
    }

    /// Clicks the element matching `css` (a real pointer click at its centre).
    pub async fn click(&self, css: &str) -> Result<()> {
        Ok(self.find(css).await?.click().await?)
    }

    /// Clears the field matching `css`, then types `text` into it.
    pub async fn fill(&self, css: &str, text: &str) -> Result<()> {
        let field = self.find(css).await?;
        field.clear().await?;
        Ok(field.send_keys(text).await?)
    }

    /// Chooses the `<option value="value">` of the `<select>` matching `css`.
    pub async fn select(&self, css: &str, value: &str) -> Result<()> {
        Ok(self.find(css).await?.select_by_value(value).await?)
    }

    /// The rendered text of the element matching `css`.
    pub async fn text(&self, css: &str) -> Result<String> {
        Ok(self.find(css).await?.text().await?)
    }

    /// The attribute `name` of the element matching `css`, `None` when absent.
    pub async fn attr(&self, css: &str, name: &str) -> Result<Option<String>> {
        Ok(self.find(css).await?.attr(name).await?)
    }

    /// Waits until an element matches `css` and returns it.
    pub async fn wait_for(&self, css: &str, timeout: Duration) -> Result<Element> {
        poll(|| format!("an element matching {css:?}"), timeout, || self.try_find(css)).await
    }

    /// Waits until the text of the element matching `css` contains `needle`; returns the text.
    pub async fn wait_for_text(&self, css: &str, needle: &str, timeout: Duration) -> Result<String> {
        let what = || format!("{needle:?} in the text of {css:?}");
        poll(what, timeout, || async {
            let Some(element) = self.try_find(css).await? else { return Ok(None) };
            match element.text().await {
                Ok(text) => Ok(text.contains(needle).then_some(text)),
                Err(e) if e.is_stale_element_reference() => Ok(None),
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    /// Types `text` as key presses to whatever has focus (the document itself when no field
    /// does), as a keyboard-wedge card reader would; `\n` presses Enter.
    pub async fn send_keys_to_page(&self, text: &str) -> Result<()> {
        self.session_command(http::Method::POST, "actions", input::keystrokes(text)).await?;
        self.release_actions().await
    }

    /// Runs `js` as a function body (`arguments[i]` are `args`) and returns its result.
    pub async fn execute(&self, js: &str, args: Vec<Value>) -> Result<Value> {
        Ok(self.client.execute(js, args).await?)
    }

    /// Emulates the CSS media feature `name` (e.g. `prefers-color-scheme`) as `value` (e.g.
    /// `dark`) for the pages of this session, through the DevTools protocol
    /// (`Emulation.setEmulatedMedia`), as DevTools' rendering panel does.
    pub async fn emulate_media_feature(&self, name: &str, value: &str) -> Result<()> {
        let command = json!({"cmd": "Emulation.setEmulatedMedia",
            "params": {"features": [{"name": name, "value": value}]}});
        self.session_command(http::Method::POST, "goog/cdp/execute", command).await?;
        Ok(())
    }

    /// Gives the page `width` x `height` CSS pixels, e.g. a desktop width after a phone's, or
    /// the whole height of a long page for a screenshot of all of it.
    pub async fn resize_viewport(&self, width: u32, height: u32) -> Result<()> {
        let (extra_width, extra_height) = self.window_frame().await?;
        Ok(self.client.set_window_size(width + extra_width, height + extra_height).await?)
    }

    /// Saves a PNG screenshot of the viewport to `path`.
    pub async fn screenshot(&self, path: impl AsRef<Path>) -> Result<()> {
        let png = self.client.screenshot().await?;
        Ok(tokio::fs::write(path, png).await?)
    }

    /// Draws one stroke on the element matching `css` with a real pointer: down at the first
    /// point, a timed move to each next one, up at the last. Points are CSS pixels from the
    /// element's top-left corner; `pressure` (0..=1) is what the page's pointer events report
    /// while the pointer is down (Chromium passes it on for the mouse too).
    pub async fn draw(&self, css: &str, points: &[(f64, f64)], kind: PointerKind, pressure: f64) -> Result<()> {
        const ORIGIN: &str = "const e = document.querySelector(arguments[0]); if (!e) return null;
            e.scrollIntoView({block: 'center', inline: 'center'});
            const r = e.getBoundingClientRect(); return [r.left, r.top];";
        let origin = self.execute(ORIGIN, vec![json!(css)]).await?;
        let (Some(left), Some(top)) = (origin[0].as_f64(), origin[1].as_f64()) else {
            return Err(Error::NoElement(css.to_owned()));
        };
        let points: Vec<(f64, f64)> = points.iter().map(|(x, y)| (left + x, top + y)).collect();
        let stroke = input::stroke(&points, kind, pressure);
        self.session_command(http::Method::POST, "actions", stroke).await?;
        self.release_actions().await
    }

    /// Waits until a finished download whose file name satisfies `matches` is in
    /// [`Browser::download_dir`] and no download is still in progress; returns its path.
    pub async fn wait_for_download(&self, matches: impl Fn(&str) -> bool, timeout: Duration) -> Result<PathBuf> {
        let dir = &self.download_dir;
        let what = || format!("a download in {}", dir.display());
        poll(what, timeout, || async {
            let mut found = None;
            let mut entries = tokio::fs::read_dir(dir).await?;
            while let Some(entry) = entries.next_entry().await? {
                let name = entry.file_name().to_string_lossy().into_owned();
                // Chromium writes to `*.crdownload` (and briefly `.com.google.Chrome.*`),
                // then renames to the final name.
                if name.ends_with(".crdownload") || name.starts_with(".com.google.Chrome.") {
                    return Ok(None);
                }
                if matches(&name) {
                    found = Some(entry.path());
                }
            }
            Ok(found)
        })
        .await
    }

    /// The cookies the browser holds for the current page.
    pub async fn cookies(&self) -> Result<Vec<Cookie>> {
        let value = self.session_command_raw(http::Method::GET, "cookie", None).await?;
        serde_json::from_value(value).map_err(|e| Error::Unexpected(format!("cookies: {e}")))
    }

    /// Ends the session and stops Chromium and chromedriver.
    pub async fn close(mut self) -> Result<()> {
        self.driver.session = None;
        let result = self.client.clone().close().await;
        drop(self);
        Ok(result?)
    }

    /// Grows the window by its frame so that the page itself gets `width` x `height`
    /// (`--window-size` sizes the whole window, tab strip and toolbar included).
    async fn size_viewport(&self, width: u32, height: u32) -> Result<()> {
        let (extra_width, extra_height) = self.window_frame().await?;
        if extra_width > 0 || extra_height > 0 {
            self.client.set_window_size(width + extra_width, height + extra_height).await?;
        }
        Ok(())
    }

    /// How much wider and taller the window is than the page in it.
    async fn window_frame(&self) -> Result<(u32, u32)> {
        const FRAME: &str = "return [window.outerWidth - window.innerWidth,
            window.outerHeight - window.innerHeight];";
        let frame = self.execute(FRAME, vec![]).await?;
        let extra = |i: usize| frame[i].as_u64().and_then(|v| u32::try_from(v).ok()).unwrap_or(0);
        Ok((extra(0), extra(1)))
    }

    async fn try_find(&self, css: &str) -> Result<Option<Element>> {
        match self.client.find(Locator::Css(css)).await {
            Ok(element) => Ok(Some(element)),
            Err(e) if e.is_no_such_element() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn release_actions(&self) -> Result<()> {
        self.session_command_raw(http::Method::DELETE, "actions", None).await?;
        Ok(())
    }

    async fn session_command(&self, method: http::Method, path: &'static str, body: Value) -> Result<Value> {
        self.session_command_raw(method, path, Some(body)).await
    }

    async fn session_command_raw(
        &self,
        method: http::Method,
        path: &'static str,
        body: Option<Value>,
    ) -> Result<Value> {
        Ok(self.client.issue_cmd(SessionCommand { method, path, body }).await?)
    }
}

/// The program's path from `env`, else `default`; [`Error::Missing`] if it is not a file.
fn program(what: &'static str, env: &'static str, default: &str) -> Result<PathBuf> {
    locate(what, env, std::env::var_os(env), default)
}

fn locate(
    what: &'static str,
    env: &'static str,
    overridden: Option<std::ffi::OsString>,
    default: &str,
) -> Result<PathBuf> {
    let path = overridden.map_or_else(|| PathBuf::from(default), PathBuf::from);
    if path.is_file() {
        Ok(path)
    } else {
        Err(Error::Missing { what, path, env })
    }
}

/// The W3C capabilities of the session: headless Chromium with its own profile.
fn capabilities(
    chromium: &Path,
    options: &BrowserOptions,
    profile: &Path,
    download_dir: &Path,
) -> serde_json::Map<String, Value> {
    let mut args = vec![
        "--headless=new".to_owned(),
        "--no-sandbox".to_owned(),
        "--disable-gpu".to_owned(),
        "--disable-dev-shm-usage".to_owned(),
        "--no-first-run".to_owned(),
        "--no-default-browser-check".to_owned(),
        "--disable-background-networking".to_owned(),
        "--disable-component-update".to_owned(),
        "--password-store=basic".to_owned(),
        format!("--window-size={},{}", options.width, options.height),
        format!("--user-data-dir={}", profile.join("chromium").display()),
    ];
    let mut prefs = json!({
        "download.default_directory": download_dir.display().to_string(),
        "download.prompt_for_download": false,
        "download.directory_upgrade": true,
        "profile.default_content_setting_values.automatic_downloads": 1,
    });
    if let Some(lang) = &options.lang {
        args.push(format!("--lang={lang}"));
        prefs["intl.accept_languages"] = json!(lang);
    }
    let capabilities = json!({
        "browserName": "chrome",
        "acceptInsecureCerts": true,
        "timeouts": {"pageLoad": 30_000, "script": 30_000, "implicit": 0},
        "goog:chromeOptions": {
            "binary": chromium.display().to_string(),
            "args": args,
            "prefs": prefs,
        },
    });
    match capabilities {
        Value::Object(map) => map,
        _ => serde_json::Map::new(),
    }
}

/// Calls `attempt` every [`POLL`] until it yields a value or `timeout` passes.
async fn poll<T, Fut>(what: impl FnOnce() -> String, timeout: Duration, mut attempt: impl FnMut() -> Fut) -> Result<T>
where
    Fut: Future<Output = Result<Option<T>>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = attempt().await? {
            return Ok(value);
        }
        if Instant::now() >= deadline {
            return Err(Error::Timeout { what: what(), after: timeout });
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_browser_says_how_to_install_it() {
        let missing = Some("/nonexistent/chromium".into());
        let error = locate("Chromium", "EReceipt_CHROMIUM", missing, "/usr/bin/chromium").expect_err("no such file");
        let message = error.to_string();
        assert!(message.contains("/nonexistent/chromium"), "{message}");
        assert!(message.contains("scripts/install-deps"), "{message}");
        assert!(message.contains("EReceipt_CHROMIUM"), "{message}");
    }

    #[test]
    fn sessions_accept_the_private_ca_and_save_downloads_unasked() {
        let options = BrowserOptions { lang: Some("de-CH".into()), ..BrowserOptions::default() };
        let caps = capabilities(Path::new("/c"), &options, Path::new("/p"), Path::new("/d"));
        assert_eq!(caps["acceptInsecureCerts"], true);
        let chrome = &caps["goog:chromeOptions"];
        assert_eq!(chrome["binary"], "/c");
        assert_eq!(chrome["prefs"]["download.default_directory"], "/d");
        assert_eq!(chrome["prefs"]["download.prompt_for_download"], false);
        assert_eq!(chrome["prefs"]["intl.accept_languages"], "de-CH");
        let args: Vec<&str> = chrome["args"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        for arg in ["--headless=new", "--no-sandbox", "--lang=de-CH", "--user-data-dir=/p/chromium"] {
            assert!(args.contains(&arg), "{arg} missing from {args:?}");
        }
    }
}
