//! File conventions shared by the subcommands: terminal directory layout, settings, fonts.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use ereceipt_core::card::CardPolicy;
use ereceipt_core::identity::CertifiedKey;
use ereceipt_core::render::slip::{Fonts, SlipWidth, DEFAULT_FONT_PATHS};
use serde::{Deserialize, Serialize};

pub const CA_CERT: &str = "ca.pem";
pub const CA_KEY: &str = "ca.key";
pub const TERMINAL_CERT: &str = "terminal.pem";
pub const TERMINAL_KEY: &str = "terminal.key";
pub const TERMINAL_SETTINGS: &str = "terminal.toml";
/// Receipts may be at most this large as input files (a receipt is ~30 KB).
pub const MAX_INPUT: u64 = 20 * 1024 * 1024;

/// Per-terminal settings, kept in `TDIR/terminal.toml`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TerminalSettings {
    /// Accept clear magnetic-stripe tracks (test cards only). Production terminals take the
    /// output of an encrypting (SRED) reader only.
    #[serde(default)]
    pub test_cards: bool,
    /// Accept a swipe of a chip card (fallback).
    #[serde(default)]
    pub allow_chip_fallback: bool,
    /// Slip width in pixels: 576 (80 mm) or 384 (58 mm).
    #[serde(default = "default_width")]
    pub slip_width: u32,
    /// A font covering Chinese; default: the usual system paths.
    #[serde(default)]
    pub font: Option<PathBuf>,
    /// The currency amounts are keyed in on the touch UI (ISO 4217).
    #[serde(default = "default_currency")]
    pub currency: String,
}

fn default_width() -> u32 {
    576
}

fn default_currency() -> String {
    "CNY".into()
}

impl TerminalSettings {
    /// Settings for a new terminal: 80 mm slips, CNY, the system's CJK font.
    pub fn new(test_cards: bool, slip_width: u32) -> Self {
        Self { test_cards, allow_chip_fallback: false, slip_width, font: None, currency: default_currency() }
    }

    pub fn policy(&self) -> CardPolicy {
        CardPolicy { accept_clear_tracks: self.test_cards, allow_chip_fallback: self.allow_chip_fallback }
    }

    pub fn load(tdir: &Path) -> Result<Self> {
        let path = tdir.join(TERMINAL_SETTINGS);
        let text = fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("{} is not valid", path.display()))
    }

    pub fn write(&self, tdir: &Path) -> Result<()> {
        let body = toml::to_string(self).context("cannot serialise settings")?;
        let text = format!(
            "# ereceipt terminal settings\n# test_cards: accept clear tracks (test cards only); production takes SRED reader output.\n{body}"
        );
        write_new(&tdir.join(TERMINAL_SETTINGS), text.as_bytes(), false)
    }
}

pub fn width(px: u32) -> Result<SlipWidth> {
    match px {
        576 => Ok(SlipWidth::W576),
        384 => Ok(SlipWidth::W384),
        other => bail!("slip width {other} is not supported: use 576 (80 mm) or 384 (58 mm)"),
    }
}

/// Reads a file no larger than `MAX_INPUT`.
pub fn read_limited(path: &Path) -> Result<Vec<u8>> {
    let meta = fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if meta.len() > MAX_INPUT {
        bail!("{} is {} bytes, larger than the {} byte limit", path.display(), meta.len(), MAX_INPUT);
    }
    fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

pub fn read_text(path: &Path) -> Result<String> {
    String::from_utf8(read_limited(path)?).with_context(|| format!("{} is not UTF-8 text", path.display()))
}

/// Writes a file that must not exist yet (keys and certificates are never overwritten);
/// `secret` files are readable by the owner only.
pub fn write_new(path: &Path, data: &[u8], secret: bool) -> Result<()> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(if secret { 0o600 } else { 0o644 });
    }
    let mut f =
        opts.open(path).with_context(|| format!("cannot create {} (does it already exist?)", path.display()))?;
    f.write_all(data).with_context(|| format!("cannot write {}", path.display()))?;
    f.sync_all().with_context(|| format!("cannot write {}", path.display()))
}

/// Refuses when any of `paths` exists, before anything is written: a CA or terminal
/// directory is made whole or not at all.
pub fn refuse_existing(paths: &[PathBuf]) -> Result<()> {
    if let Some(p) = paths.iter().find(|p| p.exists()) {
        bail!("{} already exists; refusing to overwrite keys or certificates", p.display());
    }
    Ok(())
}

/// Writes a file atomically (temp file + rename), replacing any previous one.
pub fn write_replace(path: &Path, data: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, data).with_context(|| format!("cannot write {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

pub fn load_identity(dir: &Path, cert: &str, key: &str) -> Result<CertifiedKey> {
    let c = read_text(&dir.join(cert))?;
    let k = read_text(&dir.join(key))?;
    CertifiedKey::from_pem(&c, &k).with_context(|| format!("bad identity in {}", dir.display()))
}

/// Loads the font given, or the first CJK font found on the usual system paths.
pub fn load_fonts(explicit: Option<&Path>) -> Result<Fonts> {
    let candidates: Vec<(PathBuf, u32)> = match explicit {
        Some(p) => vec![(p.to_path_buf(), 0)],
        None => DEFAULT_FONT_PATHS.iter().map(|(p, i)| (PathBuf::from(p), *i)).collect(),
    };
    for (path, index) in &candidates {
        if let Ok(bytes) = fs::read(path) {
            return Fonts::from_bytes(vec![(path.display().to_string(), bytes, *index)])
                .with_context(|| format!("cannot use font {}", path.display()));
        }
        if explicit.is_some() {
            bail!("cannot read font {}", path.display());
        }
    }
    bail!(
        "no font covering Chinese found (looked in {}); install one with `apt-get install fonts-wqy-microhei` or pass --font PATH",
        DEFAULT_FONT_PATHS.iter().map(|(p, _)| *p).collect::<Vec<_>>().join(", ")
    )
}
