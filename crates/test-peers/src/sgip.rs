//! An independent China Unicom SMG for tests: `sgip_gateway.py` (SGIP 1.2 from the protocol
//! text, `struct` and asyncio only) on a free loopback port. It takes the SP's binds and submits
//! and, for each status report, connects to the SP's report listener itself, as SGIP's SMGs do.

use std::ffi::OsStr;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use serde_json::Value;

use crate::journal::Journal;
use crate::smtp::start_script;

/// The login the gateway takes from the SP unless `--login`/`--password` say otherwise.
pub const LOGIN: (&str, &str) = ("ereceipt", "secret");
/// The login the gateway binds to the SP's report listener with (`--report-login`/`--report-password`).
pub const REPORT_LOGIN: (&str, &str) = ("smg", "smg-secret");

/// A running `sgip_gateway.py`; killed on drop.
pub struct SgipGateway {
    _child: tokio::process::Child,
    port: u16,
    journal: Journal,
    _dir: tempfile::TempDir,
}

impl SgipGateway {
    /// Starts the gateway with `args` (`--report-to HOST:PORT`, `--fault throttle:N|drop:N|
    /// garbage:N|refuse-bind|fail:NUMBER`, `--report-delay-ms`, `--login` …: see the script's
    /// docstring) and waits for its `LISTENING <port>` line.
    pub async fn start(args: &[&OsStr]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sgip.jsonl");
        let mut script_args: Vec<&OsStr> =
            vec!["--port".as_ref(), "0".as_ref(), "--journal".as_ref(), path.as_os_str()];
        script_args.extend_from_slice(args);
        let (child, line) = start_script("sgip_gateway.py", &script_args).await;
        let port = line.strip_prefix("LISTENING ").and_then(|p| p.trim().parse().ok());
        Self {
            _child: child,
            port: port.unwrap_or_else(|| panic!("sgip_gateway.py said {line:?}")),
            journal: Journal::new(&path, "sgip_gateway"),
            _dir: dir,
        }
    }

    /// Where the SP connects to submit (127.0.0.1).
    pub fn addr(&self) -> SocketAddr {
        (Ipv4Addr::LOCALHOST, self.port).into()
    }

    /// Every journal line so far: frames in (`"dir": "in"`, `"cmd"`, the decoded fields),
    /// reassembled messages (`"event": "message"`), reports sent (`"event": "report"`).
    pub fn journal(&self) -> Vec<Value> {
        self.journal.lines()
    }

    /// Polls the journal until `pred` holds; panics with it after `timeout`.
    pub async fn wait_journal(&self, pred: impl Fn(&[Value]) -> bool, timeout: Duration) -> Vec<Value> {
        self.journal.wait(pred, timeout).await
    }
}

#[cfg(test)]
mod tests {
    /// The gateway's own self-test (an SP of its own, packed by hand from the protocol's
    /// tables), so that the workspace's tests run it.
    #[test]
    fn sgip_gateway_selftest_passes() {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/sgip_gateway_selftest.py");
        let out = std::process::Command::new(crate::smtp::venv_python()).arg(script).output().unwrap();
        assert!(
            out.status.success(),
            "sgip_gateway_selftest.py failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
