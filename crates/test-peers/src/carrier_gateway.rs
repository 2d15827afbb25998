//! Independent SMGP 3.0 and CMPP 3.0 gateways for tests: `smgp_gateway.py` / `cmpp_gateway.py`
//! (Python `struct` and asyncio, written from the protocol text) on a free loopback port, keeping
//! a JSON-lines journal of the logins, submits (decoded fields, UCS-2 text, UDH), reassembled
//! messages, reports and keepalives they saw.

use std::ffi::OsStr;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::journal::Journal;
use crate::smtp::start_script;

/// Which gateway to start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Carrier {
    /// China Telecom's SMGP 3.0.
    Smgp,
    /// China Mobile's CMPP 3.0.
    Cmpp,
}

/// A running gateway; killed on drop. Its journal lives in a temporary folder of its own.
pub struct CarrierGateway {
    _child: tokio::process::Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl CarrierGateway {
    /// Starts the gateway for `account`/`secret` with `args` (`--throttle N`, `--drop-after N`,
    /// `--malformed-after N`, `--refuse-login STATUS`, `--no-report`, `--stat WORD`,
    /// `--active-test-secs S`, `--silent`: see `carrier_gateway.py`) and waits for its
    /// `LISTENING <port>` line, printed once bound.
    pub async fn start(carrier: Carrier, account: &str, secret: &str, args: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("gateway.jsonl");
        let mut script_args: Vec<&OsStr> = vec![
            "--port".as_ref(),
            "0".as_ref(),
            "--journal".as_ref(),
            journal.as_os_str(),
            "--account".as_ref(),
            account.as_ref(),
            "--secret".as_ref(),
            secret.as_ref(),
        ];
        script_args.extend(args.iter().map(OsStr::new));
        let script = match carrier {
            Carrier::Smgp => "smgp_gateway.py",
            Carrier::Cmpp => "cmpp_gateway.py",
        };
        let (child, line) = start_script(script, &script_args).await;
        let port = line.strip_prefix("LISTENING ").and_then(|p| p.trim().parse().ok());
        Self { _child: child, port: port.unwrap_or_else(|| panic!("{script} said {line:?}")), dir }
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The journal file: one JSON object a line.
    pub fn journal_path(&self) -> PathBuf {
        self.dir.path().join("gateway.jsonl")
    }

    /// Every journal line written so far; a last line still being written is left out.
    pub fn journal(&self) -> Vec<Value> {
        Journal::new(&self.journal_path(), "carrier gateway").lines()
    }

    /// The journal lines whose `cmd` (or `event`) is `what`.
    pub fn lines(&self, what: &str) -> Vec<Value> {
        self.journal().into_iter().filter(|l| l["cmd"] == what || l["event"] == what).collect()
    }

    /// Reads the journal every 20 ms until `pred` holds for it, and returns it; panics with
    /// the journal after `timeout`.
    pub async fn wait_journal(&self, pred: impl Fn(&[Value]) -> bool, timeout: Duration) -> Vec<Value> {
        Journal::new(&self.journal_path(), "carrier gateway").wait(pred, timeout).await
    }
}
