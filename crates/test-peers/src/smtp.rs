//! A real SMTP server for tests: aiosmtpd (PyPI) in a venv (see [`venv_dir`]), run by
//! `smtp_server.py` on a free loopback port, saving what it accepts in a folder.

use std::ffi::OsStr;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

/// The PyPI packages the Python peers import (aiosmtpd for `smtp_server.py`, pyiso8583 and
/// pycryptodome for `iso_host.py`), all in the one venv; `scripts/install-deps` pins the same.
pub const PEER_PINS: &[&str] = &["aiosmtpd==1.4.6", "pyiso8583==4.0.1", "pycryptodome==4.4.0"];
/// Exits 0 when every `name==version` argument is installed at that version.
const PINNED: &str = "import sys\nfrom importlib.metadata import version\n\
    sys.exit(any(version(n) != v for n, v in (p.split('==') for p in sys.argv[1:])))";
/// The environment variable naming the venv directory (`scripts/test` sets it to the one
/// `scripts/install-deps` fills: `target/test-venv` of the workspace).
pub const VENV_VAR: &str = "EReceipt_TEST_VENV";

/// Where the venv is: `$EReceipt_TEST_VENV`, or else `target/test-venv` of the workspace this
/// crate was built in (the directory above it that holds `Cargo.lock`), so a plain
/// `cargo test` finds the venv `scripts/install-deps` made.
pub fn venv_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(VENV_VAR).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let workspace = crate_dir.ancestors().find(|d| d.join("Cargo.lock").is_file()).unwrap_or(crate_dir);
    workspace.join("target/test-venv")
}

/// The venv's python with every [`PEER_PINS`] package, made or topped up on first use
/// (`scripts/install-deps` does it too). A file lock keeps concurrent tests and test processes
/// from building it twice.
pub fn venv_python() -> PathBuf {
    let venv = venv_dir();
    let python = venv.join("bin/python");
    let ready = |p: &Path| {
        Command::new(p).args(["-c", PINNED]).args(PEER_PINS).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
    };
    if ready(&python) {
        return python;
    }
    if let Some(parent) = venv.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    let lock = File::create(venv.with_extension("lock")).unwrap();
    lock.lock().unwrap();
    if !ready(&python) {
        // A venv that lacks only a pin is topped up, not cleared: it holds install-deps' other pins.
        if !python.is_file() {
            let venv_made = Command::new("python3").arg("-m").arg("venv").arg("--clear").arg(&venv).status();
            assert!(
                venv_made.is_ok_and(|s| s.success()),
                "could not make {venv:?}: the Python peers need python3 with venv (Debian: apt-get install python3-venv)"
            );
        }
        let installed = Command::new(&python)
            .args(["-m", "pip", "install", "--disable-pip-version-check", "-q"])
            .args(PEER_PINS)
            .status();
        assert!(installed.is_ok_and(|s| s.success()), "pip install {PEER_PINS:?} into {venv:?} failed");
    }
    python
}

/// A running `smtp_server.py`; killed on drop.
pub struct SmtpServer {
    _child: tokio::process::Child,
    pub port: u16,
    maildir: tempfile::TempDir,
}

impl SmtpServer {
    /// Starts the server with `args` (see `smtp_server.py --help`: `--tls`, `--user`, `--port`,
    /// `--hold N` …) and waits until it says which port it listens on (it prints that only once
    /// bound, so no polling or sleeping is needed).
    pub async fn start(args: &[&OsStr]) -> Self {
        let maildir = tempfile::tempdir().unwrap();
        let mut script_args: Vec<&OsStr> = vec!["--maildir".as_ref(), maildir.path().as_os_str()];
        script_args.extend_from_slice(args);
        let (child, line) = start_script("smtp_server.py", &script_args).await;
        Self { _child: child, port: line.trim().parse().unwrap(), maildir }
    }

    fn files(&self, extension: &str) -> Vec<PathBuf> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(self.maildir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == extension))
            .collect();
        names.sort();
        names
    }

    /// Every message accepted (answered 250) so far: the bytes and the envelope, TLS and AUTH
    /// record.
    pub fn received(&self) -> Vec<(Vec<u8>, serde_json::Value)> {
        self.files("eml")
            .iter()
            .map(|eml| {
                let meta = std::fs::read(eml.with_extension("json")).unwrap();
                (std::fs::read(eml).unwrap(), serde_json::from_slice(&meta).unwrap())
            })
            .collect()
    }

    /// How many DATA transfers the server held without answering (`--hold N`).
    pub fn held(&self) -> usize {
        self.files("held").len()
    }
}

/// Runs `src/NAME` with the venv's python and `args`, and returns it with the first line it
/// prints (the peers print their port only once bound, so nobody polls or sleeps). Killed on drop.
pub(crate) async fn start_script(name: &str, args: &[&OsStr]) -> (tokio::process::Child, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(name);
    let mut child = tokio::process::Command::new(venv_python())
        .arg(script)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let line = tokio::time::timeout(Duration::from_secs(60), BufReader::new(stdout).lines().next_line())
        .await
        .unwrap_or_else(|_| panic!("{name} starts within a minute"))
        .unwrap()
        .unwrap_or_else(|| panic!("{name} prints its port"));
    (child, line)
}
