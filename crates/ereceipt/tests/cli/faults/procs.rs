//! Long-running `ereceipt` processes for the fault tests: `platform serve` waited for by its
//! "listening" line, and commands run in the background, all killed if a test fails early.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::helpers::Run;

/// How long a platform may take to bind (it makes its CA and keys on first start).
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A loopback address that was free a moment ago, for a server that must come back on it.
pub fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port")
}

/// A `platform serve` process; SIGKILLed when dropped.
pub struct Serve {
    child: Child,
    pub addr: SocketAddr,
    log: PathBuf,
}

impl Serve {
    /// Starts `platform serve` and returns once it prints that it listens. Its stderr (the
    /// logs) is appended to `log`.
    pub fn start(data_dir: &Path, listen: SocketAddr, database_url: Option<&str>, log: &Path) -> Serve {
        let mut args: Vec<OsString> = vec!["platform".into(), "serve".into(), "--data-dir".into(), data_dir.into()];
        args.extend(["--listen".into(), listen.to_string().into()]);
        if let Some(url) = database_url {
            args.extend(["--database-url".into(), url.into()]);
        }
        let stderr = OpenOptions::new().create(true).append(true).open(log).expect("open the server log");
        let mut child = command(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("cannot run the ereceipt binary");
        let stdout = child.stdout.take().expect("piped stdout");
        let (lines, incoming) = mpsc::channel();
        // Reads stdout to its end, so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        let mut serve = Serve { child, addr: listen, log: log.to_owned() };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match incoming.recv_timeout(left) {
                Ok(line) => {
                    if let Some(addr) = line.strip_prefix("platform listening on https://") {
                        serve.addr = addr.trim().parse().unwrap_or_else(|e| panic!("{line:?}: {e}"));
                        return serve;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    panic!("platform did not listen within {START_TIMEOUT:?}:\n{}", serve.log_text())
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = serve.child.wait().expect("wait for the platform");
                    panic!("platform exited before listening ({status}):\n{}", serve.log_text())
                }
            }
        }
    }

    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// SIGKILL, as a crash or the OOM killer would; returns once the process is gone.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let status = self.child.wait().expect("wait for the platform");
        assert_eq!(status.signal(), Some(9), "the platform should die of SIGKILL ({status})");
    }

    /// Asserts the server is still running (it did not crash under the test's load).
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("the platform on {} exited ({status}):\n{}", self.addr, self.log_text());
        }
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn command(args: &[OsString]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ereceipt"));
    cmd.args(args).env_remove("RUST_BACKTRACE").env_remove("EReceipt_TEST_ABORT_AFTER_STORE");
    cmd
}

/// An `ereceipt` command running in the background, its output going to files (no pipe can
/// fill up and stall it); killed when dropped unless finished.
pub struct Bg {
    child: Option<Child>,
    args: String,
    stdout: PathBuf,
    stderr: PathBuf,
}

/// Starts `ereceipt ARGS` with `env` added; output goes to numbered files in `out_dir`.
pub fn spawn<I, S>(out_dir: &Path, args: I, env: &[(&str, &str)]) -> Bg
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let args: Vec<OsString> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let stdout = out_dir.join(format!("bg-{n}.stdout"));
    let stderr = out_dir.join(format!("bg-{n}.stderr"));
    let mut cmd = command(&args);
    cmd.envs(env.iter().copied());
    let child = cmd
        .stdin(Stdio::null())
        .stdout(File::create(&stdout).expect("create stdout file"))
        .stderr(File::create(&stderr).expect("create stderr file"))
        .spawn()
        .expect("cannot run the ereceipt binary");
    let args = args.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>().join(" ");
    Bg { child: Some(child), args, stdout, stderr }
}

impl Bg {
    /// Waits up to `limit` for the command to exit; returns its output and exit status.
    pub fn finish(mut self, limit: Duration) -> (Run, ExitStatus) {
        let mut child = self.child.take().expect("not finished yet");
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for ereceipt") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("ereceipt {} did not finish within {limit:?}:\n{}", self.args, self.read().stderr);
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let mut run = self.read();
        run.code = status.code();
        (run, status)
    }

    /// What it printed so far (it may still be running).
    pub fn read(&self) -> Run {
        Run {
            args: self.args.clone(),
            code: None,
            stdout: fs::read_to_string(&self.stdout).unwrap_or_default(),
            stderr: fs::read_to_string(&self.stderr).unwrap_or_default(),
        }
    }
}

impl Bg {
    /// SIGKILL, as a crash or the OOM killer would; returns once the process is gone.
    pub fn kill(mut self) {
        let mut child = self.child.take().expect("still running");
        let _ = child.kill();
        let status = child.wait().expect("wait for ereceipt");
        assert_eq!(status.signal(), Some(9), "ereceipt {} should die of SIGKILL ({status})", self.args);
    }
}

impl Drop for Bg {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Polls `done` every few milliseconds until it holds; panics with `what` after `limit`.
pub fn poll_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out after {limit:?} waiting until {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}
