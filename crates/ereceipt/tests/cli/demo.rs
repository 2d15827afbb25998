//! `ereceipt demo`: one process serves a platform and an enrolled terminal's touch UI, prints
//! where they are, stops cleanly on Ctrl-C (SIGINT) and continues with the same data next time.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A running demo; killed if the test fails before it stops it.
struct Demo {
    child: Child,
    lines: mpsc::Receiver<String>,
    printed: Vec<String>,
}

impl Demo {
    /// Starts `ereceipt demo --dir DIR` and waits for its banner.
    fn start(dir: &Path) -> Demo {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ereceipt"))
            .args(["demo", "--dir"])
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cannot run the ereceipt binary");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut demo = Demo { child, lines, printed: Vec::new() };
        demo.wait_for_line("Ctrl-C stops", Duration::from_secs(60));
        demo
    }

    fn wait_for_line(&mut self, needle: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.printed.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(e) => panic!("no line with {needle:?} ({e}); printed so far:\n{}", self.printed.join("\n")),
            }
        }
    }

    /// The value printed after `label` (e.g. the terminal UI's URL).
    fn printed(&self, label: &str) -> String {
        let line = self.printed.iter().find(|l| l.trim_start().starts_with(label)).expect(label);
        line.trim_start()[label.len()..].split_whitespace().next().expect("a value").to_owned()
    }

    /// Ctrl-C, and the exit status.
    fn interrupt(&mut self) -> std::process::ExitStatus {
        let sent = Command::new("kill").args(["-INT", &self.child.id().to_string()]).status().expect("kill -INT");
        assert!(sent.success());
        self.wait_for_line("demo stopped", Duration::from_secs(30));
        self.child.wait().expect("wait for the demo")
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The printed launch URL opens the UI; its token is in the fragment, not in the page.
async fn check_ui(launch: &str) {
    // reqwest wants a TLS provider even for plain HTTP.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (url, token) = launch.split_once("#token=").expect("the launch URL carries the token");
    let http = reqwest::Client::new();
    let page = http.get(url).send().await.expect("the UI answers");
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-security-policy"].to_str().expect("ascii").contains("script-src 'self'"));
    let html = page.text().await.expect("page");
    assert!(html.contains(r#"<meta name="ereceipt-demo" content="true">"#), "demo mode");
    assert!(!html.contains(token), "the page does not give the token away");
    let refused = http.get(format!("{url}api/config")).send().await.expect("config without token");
    assert_eq!(refused.status(), 403);
    let config: serde_json::Value = http
        .get(format!("{url}api/config"))
        .header("x-ereceipt-ui-token", token)
        .send()
        .await
        .expect("config")
        .json()
        .await
        .expect("JSON");
    assert_eq!(config["terminal_id"], "DEMO0001");
    assert_eq!(config["test_cards"], true);
    assert_eq!(config["authoriser"]["simulator"], true);
}

#[test]
fn the_demo_serves_an_enrolled_terminal_ui_stops_on_ctrl_c_and_starts_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    for run in 0..2 {
        let mut demo = Demo::start(dir.path());
        let ui = demo.printed("terminal UI");
        assert!(ui.starts_with("http://127.0.0.1:"), "on loopback: {ui}");
        assert!(demo.printed("platform portal").starts_with("https://127.0.0.1:"));
        assert_eq!(Path::new(&demo.printed("deliveries")), dir.path().join("platform/outbox"));
        assert!(demo.printed("staff sign-in").ends_with("/staff/login"));
        rt.block_on(check_ui(&ui));
        let status = demo.interrupt();
        assert!(status.success(), "run {run}: Ctrl-C ends the demo cleanly ({status})");
    }
    assert!(dir.path().join("terminal/terminal.pem").exists());
    // Portal users for the demo merchant and the acquirer, made once, readable by the owner only.
    let staff = std::fs::read_to_string(dir.path().join("staff.txt")).expect("staff.txt");
    for needle in ["demo.shop (merchant)", "demo.bank (acquirer)", "password", "otpauth://totp/"] {
        assert!(staff.contains(needle), "{needle} in {staff}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("staff.txt")).expect("metadata").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

/// The touch UI is plain HTTP for this device only: a LAN address is refused unless the
/// operator says `--insecure-lan` (security review M7). The check comes before the data
/// directory is read, so no terminal is needed to see it.
#[test]
fn the_terminal_ui_refuses_a_lan_address_without_insecure_lan() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_str().expect("utf-8 path");
    for listen in ["0.0.0.0:0", "192.0.2.10:8480", "[::]:0"] {
        crate::helpers::ereceipt(["terminal", "ui", "--data-dir", data, "--listen", listen])
            .assert_error(&["not a loopback address", "--insecure-lan"]);
    }
    // With the flag the address is accepted, and what stops it is the missing enrolment.
    crate::helpers::ereceipt(["terminal", "ui", "--data-dir", data, "--listen", "0.0.0.0:0", "--insecure-lan"])
        .assert_error(&["terminal"]);
}
