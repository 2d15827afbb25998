//! A throwaway PostgreSQL cluster, for tests and benchmarks: `initdb` in a temporary directory,
//! `postgres` on a free port of 127.0.0.1, stopped and removed on drop (or when the process dies).
//!
//! PostgreSQL refuses to run as root, so as root the server runs as the `postgres` system user
//! that the Debian `postgresql` package creates.

use std::fs::{self, File};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How long the server may take to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Attempts at starting the server, in case another process takes the free port first.
const START_ATTEMPTS: u32 = 3;
/// Settings for speed over durability: the data is thrown away anyway.
const SERVER_SETTINGS: &[&str] = &[
    "listen_addresses=127.0.0.1",
    "unix_socket_directories=",
    "fsync=off",
    "synchronous_commit=off",
    "full_page_writes=off",
    "shared_buffers=16MB",
    "max_connections=200",
];
/// Stops the server and removes the directory once the owning process closes the pipe on stdin,
/// which the kernel does when it exits however it exits (a cluster in a `static` is never dropped).
const WATCHDOG: &str = r#"base=$1; shift; trap '' HUP INT TERM; cat >/dev/null; "$@" >/dev/null 2>&1; rm -rf "$base""#;
/// Name of the database [`TempCluster::url`] points at.
const DEFAULT_DATABASE: &str = "ereceipt";

/// Why the cluster could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PgClusterError {
    /// PostgreSQL server binaries are not installed.
    #[error(
        "PostgreSQL server binaries not found ({missing} missing from /usr/lib/postgresql/*/bin and PATH); \
         install postgresql: scripts/install-deps"
    )]
    NotInstalled {
        /// The programs that were not found.
        missing: String,
    },
    /// Running as root, and the server programs cannot be run as the `postgres` system user.
    #[error("running as root, and PostgreSQL cannot be run as the `postgres` system user: {0}")]
    NoPostgresUser(String),
    /// A file system operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A PostgreSQL program failed.
    #[error("{command} failed ({status}): {output}")]
    Command {
        /// The program.
        command: String,
        /// Its exit status.
        status: String,
        /// Its stderr and stdout.
        output: String,
    },
    /// The server did not accept connections; carries the end of its log.
    #[error("PostgreSQL did not start: {reason}; its log ends:\n{log}")]
    NotReady {
        /// Timeout or early exit.
        reason: String,
        /// The last lines of the server log.
        log: String,
    },
    /// A database name that is not lowercase letters, digits and `_` (starting with a letter).
    #[error("invalid database name {0:?}: use lowercase letters, digits and _")]
    BadName(String),
}

/// A running throwaway PostgreSQL server; dropping it stops the server and deletes its files.
pub struct TempCluster {
    base: PathBuf,
    port: u16,
    tools: Tools,
    server: Child,
    watchdog: Child,
}

impl std::fmt::Debug for TempCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TempCluster").field("base", &self.base).field("port", &self.port).finish_non_exhaustive()
    }
}

impl TempCluster {
    /// Creates and starts a cluster with one empty database, the one [`TempCluster::url`] names.
    pub fn start() -> Result<TempCluster, PgClusterError> {
        let tools = Tools::find()?;
        let base = make_base_dir(tools.run_as)?;
        // From here on the directory goes away on failure, and on our death whatever happens.
        let cleanup = RemoveOnError(Some(base.clone()));
        let watchdog = spawn_watchdog(&tools, &base)?;
        let initdb = tools
            .command(&tools.initdb)
            .arg("-D")
            .arg(base.join("data"))
            .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync"])
            .current_dir(&base)
            .output()
            .map_err(|e| io("running initdb", e))?;
        check("initdb", &initdb)?;

        let mut attempt = 1;
        let (server, port) = loop {
            match start_server(&tools, &base) {
                Ok(started) => break started,
                Err(e) if attempt >= START_ATTEMPTS => return Err(e),
                Err(_) => attempt += 1,
            }
        };
        cleanup.disarm();
        let cluster = TempCluster { base, port, tools, server, watchdog };
        cluster.run_createdb(DEFAULT_DATABASE)?;
        Ok(cluster)
    }

    /// `postgres://…` URL of the cluster's database (created empty by [`TempCluster::start`]).
    pub fn url(&self) -> String {
        self.url_of(DEFAULT_DATABASE)
    }

    /// Creates another empty database and returns its URL. `name`: lowercase letters, digits, `_`.
    pub fn create_database(&self, name: &str) -> Result<String, PgClusterError> {
        let valid = name.len() <= 63
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid {
            return Err(PgClusterError::BadName(name.to_owned()));
        }
        self.run_createdb(name)?;
        Ok(self.url_of(name))
    }

    fn url_of(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    fn run_createdb(&self, name: &str) -> Result<(), PgClusterError> {
        let out = Command::new(&self.tools.createdb)
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "postgres", name])
            .output()
            .map_err(|e| io("running createdb", e))?;
        check("createdb", &out)
    }
}

impl Drop for TempCluster {
    fn drop(&mut self) {
        let stopped = self
            .tools
            .command(&self.tools.pg_ctl)
            .arg("stop")
            .arg("-D")
            .arg(self.base.join("data"))
            .args(["-m", "immediate", "-w"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !stopped {
            let _ = self.server.kill();
        }
        let _ = self.server.wait();
        let _ = fs::remove_dir_all(&self.base);
        // Closing its stdin lets the watchdog finish; it finds nothing left to do.
        drop(self.watchdog.stdin.take());
        let _ = self.watchdog.wait();
    }
}

/// Where the PostgreSQL programs are, and whom to run the server as.
struct Tools {
    initdb: PathBuf,
    postgres: PathBuf,
    pg_ctl: PathBuf,
    pg_isready: PathBuf,
    createdb: PathBuf,
    /// Who runs the server programs when we are root.
    run_as: Option<RunAs>,
}

/// The `postgres` system user, and the util-linux program that switches to it.
#[derive(Clone, Copy)]
struct RunAs {
    uid: u32,
    gid: u32,
    /// `setpriv` execs the program in place (the child is the server itself); `runuser` stays
    /// around as its parent.
    setpriv: bool,
}

impl Tools {
    fn find() -> Result<Tools, PgClusterError> {
        let versioned = newest_versioned_bin_dir();
        let mut missing = Vec::new();
        let mut find = |name: &str| {
            let found =
                versioned.as_ref().map(|dir| dir.join(name)).filter(|p| p.is_file()).or_else(|| find_in_path(name));
            if found.is_none() {
                missing.push(name.to_owned());
            }
            found.unwrap_or_default()
        };
        let (initdb, postgres, pg_ctl, pg_isready, createdb) =
            (find("initdb"), find("postgres"), find("pg_ctl"), find("pg_isready"), find("createdb"));
        if !missing.is_empty() {
            return Err(PgClusterError::NotInstalled { missing: missing.join(", ") });
        }
        let run_as = if id(&["-u"])? == 0 {
            let user = |flag| id(&[flag, "postgres"]).map_err(|e| PgClusterError::NoPostgresUser(e.to_string()));
            let setpriv = find_in_path("setpriv").is_some();
            if !setpriv && find_in_path("runuser").is_none() {
                return Err(PgClusterError::NoPostgresUser(
                    "neither setpriv nor runuser (util-linux) found".to_owned(),
                ));
            }
            Some(RunAs { uid: user("-u")?, gid: user("-g")?, setpriv })
        } else {
            None
        };
        Ok(Tools { initdb, postgres, pg_ctl, pg_isready, createdb, run_as })
    }

    /// A command for a server program, run as the `postgres` user when we are root.
    fn command(&self, program: &Path) -> Command {
        let Some(run_as) = self.run_as else { return Command::new(program) };
        let mut cmd = if run_as.setpriv {
            let mut cmd = Command::new("setpriv");
            let (uid, gid) = (run_as.uid.to_string(), run_as.gid.to_string());
            cmd.args(["--reuid", &uid, "--regid", &gid, "--clear-groups", "--"]);
            cmd
        } else {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]);
            cmd
        };
        cmd.arg(program);
        cmd
    }
}

/// `/usr/lib/postgresql/<highest version>/bin` (Debian's layout), if present.
fn newest_versioned_bin_dir() -> Option<PathBuf> {
    let version = |name: &str| name.split('.').map(|part| part.parse::<u32>().ok()).collect::<Option<Vec<u32>>>();
    fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| Some((version(entry.file_name().to_str()?)?, entry.path().join("bin"))))
        .filter(|(_, bin)| bin.join("initdb").is_file())
        .max()
        .map(|(_, bin)| bin)
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|dir| dir.join(name)).find(|p| p.is_file())
}

/// Runs `id ARGS` and parses the number it prints.
fn id(args: &[&str]) -> Result<u32, PgClusterError> {
    let out = Command::new("id").args(args).output().map_err(|e| io("running id", e))?;
    check(&format!("id {}", args.join(" ")), &out)?;
    String::from_utf8_lossy(&out.stdout).trim().parse().map_err(|_| PgClusterError::Command {
        command: format!("id {}", args.join(" ")),
        status: "ok".to_owned(),
        output: String::from_utf8_lossy(&out.stdout).into_owned(),
    })
}

/// A fresh private directory under the system temp dir, owned by the server's user.
fn make_base_dir(run_as: Option<RunAs>) -> Result<PathBuf, PgClusterError> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let base = std::env::temp_dir().join(format!("ereceipt-pg-{}-{stamp}-{n}", std::process::id()));
        match fs::create_dir(&base) {
            Ok(()) => {
                fs::set_permissions(&base, fs::Permissions::from_mode(0o700))
                    .map_err(|e| io("restricting the cluster directory", e))?;
                if let Some(RunAs { uid, gid, .. }) = run_as {
                    std::os::unix::fs::chown(&base, Some(uid), Some(gid))
                        .map_err(|e| io("handing the cluster directory to the postgres user", e))?;
                }
                return Ok(base);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io("creating the cluster directory", e)),
        }
    }
}

/// Starts `postgres` on a free port and polls `pg_isready` until it accepts connections.
fn start_server(tools: &Tools, base: &Path) -> Result<(Child, u16), PgClusterError> {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map_err(|e| io("finding a free port", e))?
        .port();
    let log = File::create(base.join("postgres.log")).map_err(|e| io("creating the server log", e))?;
    let log_err = log.try_clone().map_err(|e| io("creating the server log", e))?;
    let mut cmd = tools.command(&tools.postgres);
    cmd.arg("-D").arg(base.join("data")).args(["-p", &port.to_string()]);
    for setting in SERVER_SETTINGS {
        cmd.args(["-c", setting]);
    }
    let mut server = cmd
        .current_dir(base)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .spawn()
        .map_err(|e| io("starting postgres", e))?;

    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Ok(Some(status)) = server.try_wait() {
            return Err(not_ready(&format!("postgres exited ({status})"), base));
        }
        let ready = Command::new(&tools.pg_isready)
            .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string(), "-U", "postgres", "-t", "1"])
            .status()
            .map_err(|e| io("running pg_isready", e))?;
        if ready.success() {
            return Ok((server, port));
        }
        if Instant::now() > deadline {
            let _ = server.kill();
            let _ = server.wait();
            return Err(not_ready(&format!("not ready after {} s", READY_TIMEOUT.as_secs()), base));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A shell that cleans up after us when our end of its stdin closes.
fn spawn_watchdog(tools: &Tools, base: &Path) -> Result<Child, PgClusterError> {
    let stop = tools.command(&tools.pg_ctl);
    Command::new("sh")
        .args(["-c", WATCHDOG, "sh"])
        .arg(base)
        .arg(stop.get_program())
        .args(stop.get_args())
        .args(["stop", "-m", "immediate", "-D"])
        .arg(base.join("data"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| io("starting the cleanup watchdog", e))
}

fn check(command: &str, out: &std::process::Output) -> Result<(), PgClusterError> {
    if out.status.success() {
        return Ok(());
    }
    Err(PgClusterError::Command {
        command: command.to_owned(),
        status: out.status.to_string(),
        output: format!("{}{}", String::from_utf8_lossy(&out.stderr), String::from_utf8_lossy(&out.stdout)),
    })
}

fn io(what: &str, source: std::io::Error) -> PgClusterError {
    PgClusterError::Io { what: what.to_owned(), source }
}

fn not_ready(reason: &str, base: &Path) -> PgClusterError {
    let log = fs::read_to_string(base.join("postgres.log")).unwrap_or_default();
    let tail: Vec<&str> = log.lines().rev().take(20).collect();
    PgClusterError::NotReady { reason: reason.to_owned(), log: tail.into_iter().rev().collect::<Vec<_>>().join("\n") }
}

/// Removes the cluster directory if setting up fails before a [`TempCluster`] owns it.
struct RemoveOnError(Option<PathBuf>);

impl RemoveOnError {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for RemoveOnError {
    fn drop(&mut self) {
        if let Some(base) = self.0.take() {
            let _ = fs::remove_dir_all(base);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_serves_databases_and_vanishes_on_drop() {
        let started = Instant::now();
        let cluster = TempCluster::start().expect("start a cluster");
        eprintln!("cluster started in {:?}", started.elapsed());
        let base = cluster.base.clone();
        assert!(cluster.url().starts_with("postgres://postgres@127.0.0.1:"), "{}", cluster.url());
        let other = cluster.create_database("second_db").expect("create database");
        assert!(other.ends_with("/second_db"), "{other}");
        for bad in ["", "Upper", "1st", "semi;colon", "with space"] {
            assert!(matches!(cluster.create_database(bad), Err(PgClusterError::BadName(_))), "{bad:?}");
        }
        let port = cluster.port.to_string();
        drop(cluster);
        assert!(!base.exists(), "the cluster directory is removed");
        let probe = Command::new(newest_versioned_bin_dir().map_or("pg_isready".into(), |bin| bin.join("pg_isready")))
            .args(["-q", "-h", "127.0.0.1", "-p", &port])
            .status()
            .expect("pg_isready");
        assert!(!probe.success(), "the server is stopped");
    }
}
