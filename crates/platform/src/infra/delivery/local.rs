//! The local outbox folder: with no server configured for a channel (the demo, a laptop), each
//! delivery is written where a person can look at it: `email/ID.eml` (the very message SMTP
//! would carry), `sms.log` (one line per text), `mms/ID.png` plus `mms.log`.

use std::io::Write;
use std::path::{Path, PathBuf};

use lettre::message::Mailbox;

use super::{email, not_carried, Accepted, Channel, Message, SendError, Sender, Sending};

/// Writes one channel's messages under `dir`, in that channel's form: lettre's `FileTransport`
/// for every channel.
#[derive(Clone, Debug)]
pub struct LocalOutbox {
    dir: PathBuf,
    form: Form,
}

/// What the folder keeps of a message, per channel.
#[derive(Clone, Debug)]
enum Form {
    /// `email/ID.eml`, the very message SMTP would carry, from this sender.
    Email(Mailbox),
    /// A line of `sms.log`.
    Sms,
    /// `mms/ID.png` and a line of `mms.log`.
    Mms,
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
    /// Emails as `.eml` files, built as the SMTP channel builds them (no relay settings needed).
    pub fn email(dir: &Path, from: Mailbox) -> Self {
        Self { dir: dir.to_path_buf(), form: Form::Email(from) }
    }

    /// Texts as lines of `sms.log`: `time, delivery id, number, text`.
    pub fn sms(dir: &Path) -> Self {
        Self { dir: dir.to_path_buf(), form: Form::Sms }
    }

    /// Picture messages as `mms/ID.png` plus a line of `mms.log`.
    pub fn mms(dir: &Path) -> Self {
        Self { dir: dir.to_path_buf(), form: Form::Mms }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn channel(&self) -> Channel {
        match self.form {
            Form::Email(_) => Channel::Email,
            Form::Sms => Channel::Sms,
            Form::Mms => Channel::Mms,
        }
    }

    fn eml_path(&self, delivery_id: &str) -> PathBuf {
        self.dir.join("email").join(format!("{delivery_id}.eml"))
    }

    fn png_path(&self, delivery_id: &str) -> PathBuf {
        self.dir.join("mms").join(format!("{delivery_id}.png"))
    }

    /// Writes `msg` whole (files) or as one append (log lines).
    fn write(&self, msg: &Message) -> Result<Accepted, SendError> {
        let now = chrono::Utc::now().to_rfc3339();
        let (id, to) = (msg.delivery_id(), msg.recipient());
        match (&self.form, msg) {
            (Form::Email(from), Message::Receipt(out)) => {
                let path = self.eml_path(id);
                write_file(&path, &email::receipt_email(from, out)?.formatted())?;
                Ok(Accepted { peer_id: None, answer: format!("written to {}", path.display()) })
            }
            (Form::Sms, msg) => self.write_text(id, to, &msg.text()),
            (Form::Mms, Message::Receipt(out)) => {
                let png = self.png_path(id);
                write_file(&png, &out.png)?;
                let subject = format!("{} {}", out.merchant_name, out.amount);
                append_line(&self.dir.join("mms.log"), &format!("{now}\t{id}\t{to}\t{subject}\t{}", png.display()))?;
                Ok(Accepted { peer_id: None, answer: format!("written to {}", png.display()) })
            }
            (_, other) => Err(not_carried(self.channel(), other)),
        }
    }
}

impl LocalOutbox {
    /// One line of `sms.log`.
    fn write_text(&self, id: &str, to: &str, text: &str) -> Result<Accepted, SendError> {
        let now = chrono::Utc::now().to_rfc3339();
        let path = self.dir.join("sms.log");
        append_line(&path, &format!("{now}\t{id}\t{to}\t{}", text.replace('\n', " ")))?;
        Ok(Accepted { peer_id: None, answer: format!("appended to {}", path.display()) })
    }

    /// What an interrupted attempt already wrote for `id` to the log `log`.
    fn logged(&self, log: &str, id: &str) -> Option<Accepted> {
        let path = self.dir.join(log);
        let text = std::fs::read_to_string(&path).ok()?;
        let found = text.lines().any(|l| l.split('\t').nth(1) == Some(id));
        found
            .then(|| Accepted { peer_id: None, answer: format!("already in {} (interrupted attempt)", path.display()) })
    }
}

/// The SMS folder as a gateway of the SMS router: the line holds the text the router made.
impl super::router::TextSender for LocalOutbox {
    fn send_text<'a>(&'a self, delivery_id: &'a str, recipient: &'a str, text: &'a str) -> Sending<'a> {
        Box::pin(std::future::ready(match self.form {
            Form::Sms => self.write_text(delivery_id, recipient, text),
            _ => Err(SendError::Permanent(format!("texts do not go by {}", self.channel()))),
        }))
    }

    fn already_sent_text(&self, delivery_id: &str) -> Option<Accepted> {
        matches!(self.form, Form::Sms).then(|| self.logged("sms.log", delivery_id)).flatten()
    }
}

impl Sender for LocalOutbox {
    fn send<'a>(&'a self, msg: &'a Message) -> Sending<'a> {
        Box::pin(std::future::ready(self.write(msg)))
    }

    /// What an interrupted attempt (killed before its outcome was recorded) already wrote for
    /// `msg`, if all of it is there: then the resend writes nothing, so the outbox gets every
    /// message exactly once. Files are written whole or not at all; a log line is one append,
    /// found by its delivery id.
    fn already_sent(&self, msg: &Message) -> Option<Accepted> {
        let id = msg.delivery_id();
        let logged = |log: &str| self.logged(log, id);
        match self.form {
            Form::Email(_) => {
                let path = self.eml_path(id);
                path.exists().then(|| Accepted {
                    peer_id: None,
                    answer: format!("already written to {} (interrupted attempt)", path.display()),
                })
            }
            Form::Sms => logged("sms.log"),
            Form::Mms if self.png_path(id).exists() => logged("mms.log"),
            Form::Mms => None,
        }
    }
}
