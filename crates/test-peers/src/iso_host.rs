//! An independent ISO 8583 acquirer host for tests: `iso_host.py` (pyiso8583 and pycryptodome in
//! the peers' venv) on a free loopback port, keeping a JSON-lines journal of what it saw and sent.

use std::ffi::OsStr;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::journal::Journal;
use crate::smtp::start_script;

/// A running `iso_host.py`; killed on drop. Its journal lives in a temporary folder of its own.
pub struct IsoHost {
    _child: tokio::process::Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl IsoHost {
    /// Starts the host with `args` (see `iso_host.py --help` and docs/host-link.md "Tests":
    /// `--mac`, `--mak`, `--batch`, `--fault KIND:SCENARIO:N`, `--silent-reversals N`,
    /// `--delay-ms` …) and waits for its `LISTENING <port>` line, which it prints only once
    /// bound, so no polling or sleeping is needed.
    pub async fn start(args: &[&OsStr]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("host.jsonl");
        let mut script_args: Vec<&OsStr> =
            vec!["--port".as_ref(), "0".as_ref(), "--journal".as_ref(), journal.as_os_str()];
        script_args.extend_from_slice(args);
        let (child, line) = start_script("iso_host.py", &script_args).await;
        let port = line.strip_prefix("LISTENING ").and_then(|p| p.trim().parse().ok());
        Self { _child: child, port: port.unwrap_or_else(|| panic!("iso_host.py said {line:?}")), dir }
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its address, for the terminal's host-link settings.
    pub fn addr(&self) -> SocketAddr {
        (Ipv4Addr::LOCALHOST, self.port).into()
    }

    /// The journal file (one JSON object a line, with each message's `kind`, `scenario` and
    /// `ledger` note: see `iso_host.py`).
    pub fn journal_path(&self) -> PathBuf {
        self.dir.path().join("host.jsonl")
    }

    /// Every journal line written so far; a last line still being written is left out.
    pub fn journal(&self) -> Vec<Value> {
        self.log().lines()
    }

    /// Reads the journal every 20 ms until `pred` holds for it (e.g. "a 0400 for trace 000123
    /// was answered"), and returns it; panics with the journal after `timeout`.
    pub async fn wait_journal(&self, pred: impl Fn(&[Value]) -> bool, timeout: Duration) -> Vec<Value> {
        self.log().wait(pred, timeout).await
    }

    fn log(&self) -> Journal {
        Journal::new(&self.journal_path(), "iso_host")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A sign-in 0800 packed by hand from the wire profile: fields 11 41 42 60 63.
    fn sign_in_frame() -> Vec<u8> {
        let mut body = vec![0x60, 0x00, 0x03, 0x00, 0x00, 0x60, 0x31, 0x00, 0x31, 0x00, 0x00];
        body.extend([0x08, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00, 0xC0, 0x00, 0x12]);
        body.extend([0x00, 0x00, 0x01]); // 11 trace 000001
        body.extend(b"POS00001"); // 41
        body.extend(b"898440358120001"); // 42
        body.extend([0x00, 0x11, 0x00, 0x00, 0x00, 0x01, 0x00, 0x10]); // 60 "00" 000001 "001" + pad
        body.extend([0x00, 0x03, b'0', b'1', b' ']); // 63 operator
        let mut frame = u16::try_from(body.len()).unwrap().to_be_bytes().to_vec();
        frame.extend(body);
        frame
    }

    #[tokio::test]
    async fn iso_host_answers_a_hand_built_sign_in() {
        let host = IsoHost::start(&[]).await;
        let mut conn = tokio::net::TcpStream::connect(host.addr()).await.unwrap();
        conn.write_all(&sign_in_frame()).await.unwrap();
        let mut len = [0u8; 2];
        conn.read_exact(&mut len).await.unwrap();
        let mut answer = vec![0u8; usize::from(u16::from_be_bytes(len))];
        conn.read_exact(&mut answer).await.unwrap();
        // TPDU with the addresses swapped, the app header echoed, MTI 0810, and fields
        // 11 12 13 32 37 39 41 42 60 62 (62 = 8 + 4 + 8 + 4 bytes of keys and check values).
        assert_eq!(&answer[..11], &[0x60, 0x00, 0x00, 0x00, 0x03, 0x60, 0x31, 0x00, 0x31, 0x00, 0x00]);
        let msg = &answer[11..];
        assert_eq!(&msg[..10], &[0x08, 0x10, 0x00, 0x38, 0x00, 0x01, 0x0A, 0xC0, 0x00, 0x14]);
        assert_eq!(msg.len(), 10 + 3 + 3 + 2 + 5 + 12 + 2 + 8 + 15 + 8 + 26);
        assert_eq!(&msg[35..37], b"00", "field 39 approves the sign-in");
        assert_eq!(&msg[37..45], b"POS00001");
        assert_eq!(&msg[msg.len() - 26..msg.len() - 24], &[0x00, 0x24], "62 is 24 bytes");

        let lines = host
            .wait_journal(|j| j.iter().any(|l| l["dir"] == "out" && l["mti"] == "0810"), Duration::from_secs(5))
            .await;
        let incoming = lines.iter().find(|l| l["dir"] == "in").unwrap();
        assert_eq!(incoming["mti"], "0800");
        assert_eq!(incoming["60"], "00000001001");
        assert_eq!(incoming["scenario"], "sign-in");
        let out = lines.iter().find(|l| l["dir"] == "out").unwrap();
        assert_eq!(out["39"], "00");
        assert_eq!(out["lengths"]["62"], 24);
        assert!(out.get("62").is_none(), "key material stays out of the journal");
    }

    /// The host's own self-test (its client has a DES, MACs and packing of its own), so that the
    /// workspace's tests run it.
    #[test]
    fn iso_host_selftest_passes() {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/iso_host_selftest.py");
        let out = std::process::Command::new(crate::smtp::venv_python()).arg(script).output().unwrap();
        assert!(
            out.status.success(),
            "iso_host_selftest.py failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
