//! The terminal's data directory: its key and certificate, the pinned platform CA, what it
//! knows of the platform, and the outbox database.
//!
//! ```text
//! TDIR/terminal.key   Ed25519 private key, generated here, mode 0600, never sent anywhere
//! TDIR/terminal.pem   POS business certificate issued by the platform
//! TDIR/ca.pem         platform CA (pinned at enrolment by the token's fingerprint)
//! TDIR/platform.json  platform URL, HPKE public key, acknowledgement key
//! TDIR/outbox.db      receipts waiting for, or done with, upload (SQLite)
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};

use ereceipt_core::identity::{pem_decode, pem_encode, CertError, CertifiedKey, PosCertificate};
use serde::{Deserialize, Serialize};

use ereceipt_core::contract::PlatformInfo;

#[cfg(test)]
mod tests;

/// Why the data directory could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeviceError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    /// A file is not what it should be.
    #[error("{path}: {detail}")]
    Bad { path: PathBuf, detail: String },
    /// The directory holds no enrolled terminal.
    #[error("{0} is not an enrolled terminal: run `ereceipt terminal enroll` first")]
    NotEnrolled(PathBuf),
}

/// What the terminal remembers of its platform.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PlatformLink {
    pub url: String,
    #[serde(flatten)]
    pub info: PlatformInfo,
}

/// How many steps saving a renewal takes (see `Device::renewal_steps`).
const RENEWAL_STEPS: usize = 5;

/// A terminal data directory.
#[derive(Clone, Debug)]
pub struct Device {
    pub dir: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DeviceError + '_ {
    move |source| DeviceError::Io { path: path.to_path_buf(), source }
}

/// Writes a file via a temporary name and rename, so a crash leaves the old or the new file.
///
/// The temporary file is new (`.NAME.XXXXXX.tmp` from `tempfile`, created exclusively,
/// O_EXCL, with its final mode), so nothing an earlier crash left behind is ever reused with its mode: a key is never
/// written into a 0644 file. The file is synced before the rename and the directory after it,
/// so the rename itself survives a power cut.
pub fn write_atomic(path: &Path, contents: &[u8], private: bool) -> Result<(), DeviceError> {
    let dir = parent_dir(path);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    // A fresh name created exclusively (O_EXCL) with its final mode, removed if anything fails.
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(if private { 0o600 } else { 0o644 }));
    }
    let mut tmp = builder.tempfile_in(dir).map_err(io(dir))?;
    let written = tmp.write_all(contents).and_then(|()| tmp.as_file().sync_all());
    written.map_err(|e| io(tmp.path())(e))?;
    tmp.persist(path).map_err(|e| io(path)(e.error))?;
    sync_dir(dir)
}

/// The directory `path` is in (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// Makes the directory's entries (a rename, a removal) durable.
fn sync_dir(dir: &Path) -> Result<(), DeviceError> {
    #[cfg(unix)]
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))?;
    Ok(())
}

/// Whether a certificate and a key (both PEM) belong together.
fn pair_matches(cert_pem: &str, key_pem: &str) -> bool {
    CertifiedKey::from_pem(cert_pem, key_pem).is_ok_and(|id| ereceipt_core::identity::Signer::new(&id).is_ok())
}

impl Device {
    pub fn new(dir: &Path) -> Self {
        Self { dir: dir.to_path_buf() }
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
    pub fn outbox_path(&self) -> PathBuf {
        self.path("outbox.db")
    }
    pub fn is_enrolled(&self) -> bool {
        self.path("platform.json").exists() && self.path("terminal.pem").exists()
    }

    fn read(&self, name: &str) -> Result<String, DeviceError> {
        let p = self.path(name);
        if !p.exists() && !self.is_enrolled() {
            return Err(DeviceError::NotEnrolled(self.dir.clone()));
        }
        std::fs::read_to_string(&p).map_err(io(&p))
    }

    /// The key and certificate the terminal signs and authenticates with (after finishing or
    /// undoing a renewal a crash interrupted).
    pub fn identity(&self) -> Result<CertifiedKey, DeviceError> {
        self.recover_renewal()?;
        let bad = |e: CertError| DeviceError::Bad { path: self.path("terminal.pem"), detail: e.to_string() };
        CertifiedKey::from_pem(&self.read("terminal.pem")?, &self.read("terminal.key")?).map_err(bad)
    }

    /// The terminal's certificate (after finishing or undoing an interrupted renewal).
    pub fn certificate(&self) -> Result<PosCertificate, DeviceError> {
        self.recover_renewal()?;
        let bad = |e: CertError| DeviceError::Bad { path: self.path("terminal.pem"), detail: e.to_string() };
        PosCertificate::parse(&pem_decode(&self.read("terminal.pem")?, "CERTIFICATE").map_err(bad)?).map_err(bad)
    }

    /// Brings a renewal that a crash interrupted (see [`Device::save_renewal`]) to a pair that
    /// belongs together: a `terminal.pem.next` that matches `terminal.key` (the new key was
    /// written) becomes `terminal.pem`; otherwise it is dropped and, should `terminal.key` not
    /// match `terminal.pem`, `terminal.key.previous` is put back. Nothing to do, and nothing
    /// read, when neither leftover exists.
    fn recover_renewal(&self) -> Result<(), DeviceError> {
        let (next, previous) = (self.path("terminal.pem.next"), self.path("terminal.key.previous"));
        if !next.exists() && !previous.exists() {
            return Ok(());
        }
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        let (key_path, cert_path) = (self.path("terminal.key"), self.path("terminal.pem"));
        if next.exists() {
            if pair_matches(&read(&next), &read(&key_path)) {
                std::fs::rename(&next, &cert_path).map_err(io(&cert_path))?;
                tracing::warn!("finished a renewal that was interrupted after the new key was saved");
            } else {
                std::fs::remove_file(&next).map_err(io(&next))?;
                tracing::warn!("dropped a renewal that was interrupted before the new key was saved");
            }
        }
        if previous.exists() {
            let cert = read(&cert_path);
            let old_key = read(&previous);
            if !pair_matches(&cert, &read(&key_path)) && pair_matches(&cert, &old_key) {
                write_atomic(&key_path, old_key.as_bytes(), true)?;
                tracing::warn!("restored the key of the current certificate from terminal.key.previous");
            }
            std::fs::remove_file(&previous).map_err(io(&previous))?;
        }
        sync_dir(&self.dir)
    }

    pub fn ca_der(&self) -> Result<Vec<u8>, DeviceError> {
        pem_decode(&self.read("ca.pem")?, "CERTIFICATE")
            .map_err(|e| DeviceError::Bad { path: self.path("ca.pem"), detail: e.to_string() })
    }

    pub fn platform(&self) -> Result<PlatformLink, DeviceError> {
        serde_json::from_str(&self.read("platform.json")?)
            .map_err(|e| DeviceError::Bad { path: self.path("platform.json"), detail: e.to_string() })
    }

    /// Saves an enrolment: key (private), certificate, CA and platform link. The key is written
    /// first and the platform link last, so a directory with `platform.json` is complete.
    pub fn save_enrolment(
        &self,
        key_pkcs8: &[u8],
        cert_der: &[u8],
        ca_der: &[u8],
        link: &PlatformLink,
    ) -> Result<(), DeviceError> {
        std::fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        write_atomic(&self.path("terminal.key"), pem_encode("PRIVATE KEY", key_pkcs8).as_bytes(), true)?;
        write_atomic(&self.path("terminal.pem"), pem_encode("CERTIFICATE", cert_der).as_bytes(), false)?;
        write_atomic(&self.path("ca.pem"), pem_encode("CERTIFICATE", ca_der).as_bytes(), false)?;
        let json = serde_json::to_vec_pretty(link)
            .map_err(|e| DeviceError::Bad { path: self.path("platform.json"), detail: e.to_string() })?;
        write_atomic(&self.path("platform.json"), &json, false)
    }

    /// Replaces key and certificate after a renewal: the current key is kept as
    /// `terminal.key.previous`, the new certificate written as `terminal.pem.next`, then the
    /// new key, then the certificate renamed into place. A crash at any point leaves files from
    /// which [`Device::identity`] recovers a matching pair: the new one once the new key is
    /// saved, the old one before.
    pub fn save_renewal(&self, key_pkcs8: &[u8], cert_der: &[u8]) -> Result<(), DeviceError> {
        self.renewal_steps(key_pkcs8, cert_der, RENEWAL_STEPS)
    }

    /// The first `steps` of the [`RENEWAL_STEPS`] steps of saving a renewal (all of them but
    /// in tests, which stop after each in turn as a crash would).
    fn renewal_steps(&self, key_pkcs8: &[u8], cert_der: &[u8], steps: usize) -> Result<(), DeviceError> {
        let old_key = self.path("terminal.key");
        let backup = self.path("terminal.key.previous");
        let next = self.path("terminal.pem.next");
        for step in 1..=steps.min(RENEWAL_STEPS) {
            match step {
                1 => {
                    let current = std::fs::read(&old_key).map_err(io(&old_key))?;
                    write_atomic(&backup, &current, true)?;
                }
                2 => write_atomic(&next, pem_encode("CERTIFICATE", cert_der).as_bytes(), false)?,
                3 => write_atomic(&old_key, pem_encode("PRIVATE KEY", key_pkcs8).as_bytes(), true)?,
                4 => {
                    std::fs::rename(&next, self.path("terminal.pem")).map_err(io(&self.path("terminal.pem")))?;
                    sync_dir(&self.dir)?;
                }
                5 => {
                    std::fs::remove_file(&backup).map_err(io(&backup))?;
                    sync_dir(&self.dir)?;
                }
                _ => {}
            }
        }
        Ok(())
    }
}
