//! Test-only kit: drives a real headless Chromium over WebDriver (Debian `chromium` and
//! `chromium-driver`, installed by `scripts/install-deps`) for the portal and touch-UI tests.
//!
//! ```no_run
//! # async fn demo() -> Result<(), ereceipt_testkit::Error> {
//! use ereceipt_testkit::{Browser, BrowserOptions};
//! use std::time::Duration;
//! let browser = Browser::start(BrowserOptions::default()).await?;
//! browser.goto("https://127.0.0.1:8443/login").await?;
//! browser.fill("input[name=phone]", "+41790000000").await?;
//! browser.click("button[type=submit]").await?;
//! browser.wait_for_text("#status", "code sent", Duration::from_secs(5)).await?;
//! browser.close().await
//! # }
//! ```

mod browser;
mod driver;
mod input;

use std::path::PathBuf;
use std::time::Duration;

pub use browser::Browser;
/// The WebDriver client underneath, for what [`Browser`] does not wrap.
pub use fantoccini;
pub use input::PointerKind;

/// What went wrong while starting or driving the browser.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A program the kit needs is not installed where it is looked for.
    #[error("{what} not found at {path}: run scripts/install-deps (or set {env} to its path)")]
    Missing {
        /// Which program.
        what: &'static str,
        /// Where it was looked for.
        path: PathBuf,
        /// The environment variable that overrides the path.
        env: &'static str,
    },
    /// chromedriver did not start or did not become ready.
    #[error("chromedriver did not start: {0}")]
    DriverStart(String),
    /// chromedriver refused to open a Chromium session.
    #[error("could not open a Chromium session: {0}")]
    Session(String),
    /// No element matches the CSS selector.
    #[error("no element matches {0:?}")]
    NoElement(String),
    /// A WebDriver command failed.
    #[error("WebDriver command failed: {0}")]
    WebDriver(#[from] fantoccini::error::CmdError),
    /// The awaited condition did not come true in time.
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long it was awaited.
        after: Duration,
    },
    /// The browser answered something the kit did not expect.
    #[error("unexpected answer from the browser: {0}")]
    Unexpected(String),
    /// A local file or socket operation failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Result of every kit operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How to start the browser.
#[derive(Debug, Clone)]
pub struct BrowserOptions {
    /// Viewport width in CSS pixels (screenshots have this width).
    pub width: u32,
    /// Viewport height in CSS pixels.
    pub height: u32,
    /// Where downloads are saved; a fresh temporary directory when `None`
    /// (see [`Browser::download_dir`]).
    pub download_dir: Option<PathBuf>,
    /// UI language and `Accept-Language`, e.g. `"de-CH"`; Chromium's default when `None`.
    pub lang: Option<String>,
}

impl Default for BrowserOptions {
    fn default() -> Self {
        Self { width: 1280, height: 800, download_dir: None, lang: None }
    }
}

/// A cookie as the browser holds it for the current page.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Cookie {
    /// Cookie name.
    pub name: String,
    /// Cookie value.
    pub value: String,
    /// `Path` attribute.
    #[serde(default)]
    pub path: Option<String>,
    /// Domain the cookie belongs to.
    #[serde(default)]
    pub domain: Option<String>,
    /// `Secure` attribute.
    #[serde(default)]
    pub secure: bool,
    /// `HttpOnly` attribute.
    #[serde(default)]
    pub http_only: bool,
    /// `SameSite` attribute as Chromium reports it: `"Strict"`, `"Lax"` or `"None"`.
    #[serde(default)]
    pub same_site: Option<String>,
    /// Expiry in seconds since the epoch; `None` for a session cookie.
    #[serde(default)]
    pub expiry: Option<u64>,
}
