//! File conventions shared by the subcommands: terminal directory layout, settings, fonts.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use ereceipt_core::identity::CertifiedKey;
use ereceipt_core::render::slip::{Fonts, SlipWidth, DEFAULT_FONT_PATHS};

pub const CA_CERT: &str = "ca.pem";
pub const CA_KEY: &str = "ca.key";
pub const TERMINAL_CERT: &str = "terminal.pem";
pub const TERMINAL_KEY: &str = "terminal.key";
pub use ereceipt_terminal::settings::{TerminalSettings, TERMINAL_SETTINGS};
/// Receipts may be at most this large as input files (a receipt is ~30 KB).
pub const MAX_INPUT: u64 = 20 * 1024 * 1024;

/// A slip width in pixels as the CLI takes it: 576 or 384.
pub fn width(px: u32) -> Result<SlipWidth> {
    ereceipt_terminal::settings::slip_width(px).map_err(anyhow::Error::msg)
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
