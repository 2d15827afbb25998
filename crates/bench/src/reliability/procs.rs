//! The real processes a reliability run drives: `ereceipt platform serve` (started, SIGKILLed and
//! restarted on the same ports) and short `ereceipt` commands run with a time limit, so a hang
//! shows as a hang and not as a stuck run.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// How long a platform may take to bind (it makes its CA and keys on first start).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The `ereceipt` binary the run drives.
#[derive(Clone, Debug)]
pub struct Bin(pub PathBuf);

impl Bin {
    /// `path`, or else the `ereceipt` next to this program (cargo builds both into one folder).
    pub fn find(path: Option<&Path>) -> Result<Bin> {
        let path = match path {
            Some(p) => p.to_owned(),
            None => {
                let me = std::env::current_exe().context("where is ereceipt-bench")?;
                me.with_file_name("ereceipt")
            }
        };
        anyhow::ensure!(
            path.is_file(),
            "no ereceipt binary at {} (build it: cargo build --release -p ereceipt, or pass --ereceipt PATH)",
            path.display()
        );
        Ok(Bin(path))
    }

    pub fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        let mut cmd = Command::new(&self.0);
        cmd.args(args.into_iter().map(Into::into))
            .env_remove("RUST_BACKTRACE")
            .env_remove("EReceipt_TEST_ABORT_AFTER_STORE");
        cmd
    }

    /// Runs `ereceipt ARGS` to its end, up to `limit` (then SIGKILL, reported as hung).
    pub fn run<I, S>(&self, args: I, limit: Duration) -> Result<Ran>
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        let started = self.start(args)?;
        let slot = Arc::new(Mutex::new(Some(started)));
        finish(&slot, limit)
    }

    /// Starts `ereceipt ARGS` with its output going to files (no pipe can fill up and stall it).
    pub fn start<I, S>(&self, args: I) -> Result<Running>
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("ereceipt-rel-{}", std::process::id()));
        fs::create_dir_all(&dir).context("output folder")?;
        let (out, err) = (dir.join(format!("{n}.out")), dir.join(format!("{n}.err")));
        let child = self
            .command(args.iter().cloned())
            .stdin(Stdio::null())
            .stdout(File::create(&out).context("stdout file")?)
            .stderr(File::create(&err).context("stderr file")?)
            .spawn()
            .with_context(|| format!("cannot run {}", self.0.display()))?;
        let args = args.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>().join(" ");
        Ok(Running { child, args, out, err, started: Instant::now() })
    }
}

/// A command in flight. The slot holding it is shared, so a chaos thread can SIGKILL it while
/// its owner waits: the owner reaps it only under the lock, so a kill never hits a reused pid.
pub struct Running {
    child: Child,
    args: String,
    out: PathBuf,
    err: PathBuf,
    started: Instant,
}

/// SIGKILLs the command in `slot`, if one is running; true if it was.
pub fn kill_slot(slot: &Mutex<Option<Running>>) -> bool {
    let mut guard = slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    match guard.as_mut() {
        Some(r) => r.child.kill().is_ok(),
        None => false,
    }
}

/// Waits for the command in `slot` to end (up to `limit`), and empties the slot.
pub fn finish(slot: &Mutex<Option<Running>>, limit: Duration) -> Result<Ran> {
    loop {
        {
            let mut guard = slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let Some(r) = guard.as_mut() else { bail!("nothing running") };
            let status = match r.child.try_wait().context("wait for ereceipt")? {
                Some(status) => Some((status, false)),
                None if r.started.elapsed() > limit => {
                    let _ = r.child.kill();
                    Some((r.child.wait().context("wait for ereceipt")?, true))
                }
                None => None,
            };
            if let Some((status, hung)) = status {
                let r = guard.take().context("running")?;
                let ran = Ran {
                    args: r.args,
                    status,
                    hung,
                    stdout: fs::read_to_string(&r.out).unwrap_or_default(),
                    stderr: fs::read_to_string(&r.err).unwrap_or_default(),
                };
                let _ = fs::remove_file(&r.out);
                let _ = fs::remove_file(&r.err);
                return Ok(ran);
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// What one `ereceipt` command did.
#[derive(Debug)]
pub struct Ran {
    pub args: String,
    pub status: ExitStatus,
    /// It outlived its limit and was killed.
    pub hung: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    pub fn killed(&self) -> bool {
        self.status.signal() == Some(9) && !self.hung
    }

    /// Fails unless it exited 0.
    pub fn ok(self) -> Result<Ran> {
        if self.status.success() {
            return Ok(self);
        }
        bail!("ereceipt {} failed ({}):\n{}\n{}", self.args, self.status, self.stdout, self.stderr)
    }
}

/// A loopback address that was free a moment ago, for a server that must come back on it.
pub fn free_addr() -> Result<SocketAddr> {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).context("a free port")
}

/// A `platform serve` process on fixed ports (kept across restarts, so terminals find it where
/// they left it); SIGKILLed when dropped.
pub struct Platform {
    bin: Bin,
    pub data: PathBuf,
    pub listen: SocketAddr,
    pub admin: SocketAddr,
    pub database_url: Option<String>,
    pub log: PathBuf,
    child: Option<Child>,
    /// Times started (the first start included).
    pub starts: u32,
}

impl Platform {
    /// Starts `platform serve` on DATA (and PostgreSQL at `database_url` if given); its logs go
    /// to `log`.
    pub fn start(bin: &Bin, data: &Path, database_url: Option<&str>, log: &Path) -> Result<Platform> {
        let mut p = Platform {
            bin: bin.clone(),
            data: data.to_owned(),
            listen: free_addr()?,
            admin: free_addr()?,
            database_url: database_url.map(str::to_owned),
            log: log.to_owned(),
            child: None,
            starts: 0,
        };
        p.spawn()?;
        Ok(p)
    }

    pub fn url(&self) -> String {
        format!("https://{}", self.listen)
    }

    /// `--data-dir DATA [--database-url URL]`, for the platform's admin commands.
    pub fn at(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec!["--data-dir".into(), self.data.clone().into()];
        if let Some(url) = &self.database_url {
            args.extend(["--database-url".into(), url.into()]);
        }
        args
    }

    /// The database URL the platform uses (its SQLite file unless PostgreSQL was given).
    pub fn store_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| format!("sqlite://{}", self.data.join("platform.db").display()))
    }

    fn spawn(&mut self) -> Result<()> {
        let mut args: Vec<OsString> = vec!["platform".into(), "serve".into()];
        args.extend(self.at());
        args.extend(["--listen".into(), self.listen.to_string().into()]);
        args.extend(["--admin-listen".into(), self.admin.to_string().into()]);
        let stderr = OpenOptions::new().create(true).append(true).open(&self.log).context("open the server log")?;
        let mut child = self
            .bin
            .command(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .context("cannot run the ereceipt binary")?;
        let stdout = child.stdout.take().context("piped stdout")?;
        let (lines, incoming) = mpsc::channel();
        // Reads stdout to its end, so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        self.child = Some(child);
        self.starts += 1;
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match incoming.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) if line.starts_with("platform listening on https://") => return Ok(()),
                Ok(_) => {}
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    bail!("platform did not listen within {START_TIMEOUT:?}:\n{}", self.log_tail(20))
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = self.child.as_mut().map(Child::wait).transpose().context("wait")?;
                    self.child = None;
                    bail!("platform exited before listening ({status:?}):\n{}", self.log_tail(20))
                }
            }
        }
    }

    /// SIGKILL, as a crash or the OOM killer would; returns once the process is gone.
    pub fn kill(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let status = child.wait().context("wait for the platform")?;
            anyhow::ensure!(status.signal() == Some(9), "the platform had already exited ({status})");
        }
        Ok(())
    }

    /// Starts it again on the same ports (after [`Platform::kill`]).
    pub fn restart(&mut self) -> Result<()> {
        self.kill()?;
        self.spawn()
    }

    /// Whether the process is still alive (it did not crash on its own).
    pub fn still_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// The last `n` lines of its log.
    pub fn log_tail(&self, n: usize) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

impl Drop for Platform {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
