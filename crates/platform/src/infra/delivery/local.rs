//! The local outbox folder: with no server configured for a channel (the demo, a laptop), each
//! delivery is written where a person can look at it: `email/ID.eml` (the very message SMTP
//! would carry), `sms.log` (one line per text), `mms/ID.png` plus `mms.log`.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{Accepted, Outgoing, SendError};

/// Writes deliveries under `dir`.
#[derive(Clone, Debug)]
pub struct LocalOutbox {
    dir: PathBuf,
}

fn io_error(path: &Path, e: std::io::Error) -> SendError {
    // A full disk or a permission problem may be fixed by the operator: retry later.
    SendError::Temporary(format!("{}: {e}", path.display()))
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), SendError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| io_error(parent, e))?;
    }
    // Written under a temporary name first: a crash never leaves half a message to be read.
    let tmp = path.with_extension("part");
    std::fs::write(&tmp, bytes).map_err(|e| io_error(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io_error(path, e))
}

fn append_line(path: &Path, line: &str) -> Result<(), SendError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| io_error(parent, e))?;
    }
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(|e| io_error(path, e))?;
    writeln!(f, "{line}").map_err(|e| io_error(path, e))
}

impl LocalOutbox {
    pub fn new(dir: &Path) -> Self {
        Self { dir: dir.to_path_buf() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// An email, as the complete RFC 5322 message (`eml`) the SMTP channel would send.
    pub fn email(&self, out: &Outgoing, eml: &[u8]) -> Result<Accepted, SendError> {
        let path = self.dir.join("email").join(format!("{}.eml", out.delivery_id));
        write_file(&path, eml)?;
        Ok(Accepted { peer_id: None, answer: format!("written to {}", path.display()) })
    }

    /// A text message: appended to `sms.log` as `time to text`.
    pub fn sms(&self, out: &Outgoing, text: &str, now: &str) -> Result<Accepted, SendError> {
        let path = self.dir.join("sms.log");
        append_line(&path, &format!("{now}\t{}\t{}\t{}", out.delivery_id, out.recipient, text.replace('\n', " ")))?;
        Ok(Accepted { peer_id: None, answer: format!("appended to {}", path.display()) })
    }

    /// What an interrupted attempt (killed before its outcome was recorded) already wrote for
    /// `out` on `channel`, if all of it is there: then the resend writes nothing, so the outbox
    /// gets every message exactly once. Files are written whole or not at all; a log line is one
    /// append, found by its delivery id.
    pub fn already_written(&self, channel: &str, out: &Outgoing) -> Option<Accepted> {
        let logged = |log: &str| {
            let path = self.dir.join(log);
            let text = std::fs::read_to_string(&path).ok()?;
            let found = text.lines().any(|l| l.split('\t').nth(1) == Some(out.delivery_id.as_str()));
            found.then(|| Accepted {
                peer_id: None,
                answer: format!("already in {} (interrupted attempt)", path.display()),
            })
        };
        match channel {
            "email" => {
                let path = self.dir.join("email").join(format!("{}.eml", out.delivery_id));
                path.exists().then(|| Accepted {
                    peer_id: None,
                    answer: format!("already written to {} (interrupted attempt)", path.display()),
                })
            }
            "sms" => logged("sms.log"),
            "mms" if self.dir.join("mms").join(format!("{}.png", out.delivery_id)).exists() => logged("mms.log"),
            _ => None,
        }
    }

    /// A picture message: the image in `mms/`, a line in `mms.log`.
    pub fn mms(&self, out: &Outgoing, subject: &str, now: &str) -> Result<Accepted, SendError> {
        let png = self.dir.join("mms").join(format!("{}.png", out.delivery_id));
        write_file(&png, &out.png)?;
        append_line(
            &self.dir.join("mms.log"),
            &format!("{now}\t{}\t{}\t{subject}\t{}", out.delivery_id, out.recipient, png.display()),
        )?;
        Ok(Accepted { peer_id: None, answer: format!("written to {}", png.display()) })
    }
}
