//! The chromedriver process: started on a port it picks itself, awaited until `/status` says
//! ready, and on drop its session closed and its whole process group killed and reaped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rustix::process::{kill_process_group, Pid, Signal};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use crate::{Error, Result};

/// How long chromedriver may take to print its port and report ready.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the drop path waits for chromedriver to close Chromium.
const QUIT_TIMEOUT: Duration = Duration::from_secs(10);

/// A running chromedriver; dropping it ends the session, chromedriver and Chromium.
pub(crate) struct Driver {
    child: Child,
    port: u16,
    log: PathBuf,
    /// Set once a session is open, so that drop asks chromedriver to quit Chromium cleanly
    /// (chromedriver then reaps it) before the process group is killed.
    pub(crate) session: Option<String>,
}

impl Driver {
    /// Spawns `program --port=0` in its own process group and waits until it is ready.
    pub(crate) async fn start(program: &Path, log: PathBuf) -> Result<Self> {
        let mut child = Command::new(program)
            .arg("--port=0")
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| Error::DriverStart(format!("{}: {e}", program.display())))?;
        let stdout = child.stdout.take();
        // From here on, drop cleans up whatever happens.
        let mut driver = Driver { child, port: 0, log, session: None };
        let (tx, rx) = tokio::sync::oneshot::channel();
        if let Some(stdout) = stdout {
            std::thread::spawn(move || read_port(stdout, tx));
        }
        driver.port = match tokio::time::timeout(START_TIMEOUT, rx).await {
            Ok(Ok(port)) => port,
            Ok(Err(_)) => return Err(driver.failure("exited before reporting its port")),
            Err(_) => return Err(driver.failure("did not report its port in time")),
        };
        driver.wait_ready().await?;
        Ok(driver)
    }

    /// The WebDriver base URL.
    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The last lines of chromedriver's log, for error messages.
    pub(crate) fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    fn failure(&self, what: &str) -> Error {
        Error::DriverStart(format!("{what}; chromedriver log:\n{}", self.log_tail()))
    }

    /// Polls `GET /status` until chromedriver says `ready`.
    async fn wait_ready(&self) -> Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(body) = status(self.port).await {
                let ready = serde_json::from_str::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v.pointer("/value/ready").and_then(|r| r.as_bool()));
                if ready == Some(true) {
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                return Err(self.failure("never reported ready on /status"));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(id) = self.session.take() {
            // Best effort: chromedriver closes Chromium and reaps it; the kill below is the
            // backstop when it cannot.
            let _ = delete_session(self.port, &id);
        }
        let group = i32::try_from(self.child.id()).ok().and_then(Pid::from_raw);
        if let Some(group) = group.filter(|p| *p != Pid::INIT) {
            let _ = kill_process_group(group, Signal::KILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads chromedriver's stdout, sends the port from "... started successfully on port N.",
/// then keeps draining so chromedriver never blocks on a full pipe.
fn read_port(stdout: impl Read, tx: tokio::sync::oneshot::Sender<u16>) {
    let mut tx = Some(tx);
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        let port = line
            .split_once("started successfully on port ")
            .and_then(|(_, rest)| rest.trim_end_matches('.').trim().parse::<u16>().ok());
        if let Some(port) = port {
            if let Some(tx) = tx.take() {
                let _ = tx.send(port);
            }
        }
    }
}

/// `GET /status`; the response body.
async fn status(port: u16) -> std::io::Result<String> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    stream.write_all(request("GET", "/status", port).as_bytes()).await?;
    let mut response = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await?;
        response.extend_from_slice(&chunk[..n]);
        if let Some(body) = body(&response, n == 0)? {
            return Ok(body);
        }
    }
}

/// `DELETE /session/{id}`, blocking: it runs from `Drop`.
fn delete_session(port: u16, id: &str) -> std::io::Result<String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, QUIT_TIMEOUT)?;
    stream.set_read_timeout(Some(QUIT_TIMEOUT))?;
    stream.set_write_timeout(Some(QUIT_TIMEOUT))?;
    stream.write_all(request("DELETE", &format!("/session/{id}"), port).as_bytes())?;
    let mut response = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk)?;
        response.extend_from_slice(&chunk[..n]);
        if let Some(body) = body(&response, n == 0)? {
            return Ok(body);
        }
    }
}

fn request(method: &str, path: &str, port: u16) -> String {
    format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\n\
         Connection: close\r\n\r\n"
    )
}

/// The body of a response once all of it (by `Content-Length`, chromedriver keeps the
/// connection open) has arrived; `None` while more is to come.
fn body(response: &[u8], eof: bool) -> std::io::Result<Option<String>> {
    let text = String::from_utf8_lossy(response);
    let incomplete = || std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "short answer");
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return if eof { Err(incomplete()) } else { Ok(None) };
    };
    let length = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("content-length").then(|| value.trim().parse::<usize>().ok())?
    });
    match length {
        Some(length) if body.len() >= length => Ok(Some(body.to_owned())),
        None if eof => Ok(Some(body.to_owned())),
        _ if eof => Err(incomplete()),
        _ => Ok(None),
    }
}
