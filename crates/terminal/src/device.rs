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
pub fn write_atomic(path: &Path, contents: &[u8], private: bool) -> Result<(), DeviceError> {
    let tmp = path.with_extension("tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(if private { 0o600 } else { 0o644 });
    }
    let mut f = opts.open(&tmp).map_err(io(&tmp))?;
    f.write_all(contents).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
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

    pub fn identity(&self) -> Result<CertifiedKey, DeviceError> {
        let bad = |e: CertError| DeviceError::Bad { path: self.path("terminal.pem"), detail: e.to_string() };
        CertifiedKey::from_pem(&self.read("terminal.pem")?, &self.read("terminal.key")?).map_err(bad)
    }

    pub fn certificate(&self) -> Result<PosCertificate, DeviceError> {
        let bad = |e: CertError| DeviceError::Bad { path: self.path("terminal.pem"), detail: e.to_string() };
        PosCertificate::parse(&pem_decode(&self.read("terminal.pem")?, "CERTIFICATE").map_err(bad)?).map_err(bad)
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

    /// Replaces key and certificate after a renewal (key first: a crash in between leaves a
    /// new key with the old certificate, which the next renewal repairs).
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
                1 if old_key.exists() => {
                    std::fs::copy(&old_key, &backup).map_err(io(&backup))?;
                }
                2 => write_atomic(&next, pem_encode("CERTIFICATE", cert_der).as_bytes(), false)?,
                3 => write_atomic(&old_key, pem_encode("PRIVATE KEY", key_pkcs8).as_bytes(), true)?,
                4 => std::fs::rename(&next, self.path("terminal.pem")).map_err(io(&self.path("terminal.pem")))?,
                5 => {
                    let _ = std::fs::remove_file(&backup);
                }
                _ => {}
            }
        }
        Ok(())
    }
}
