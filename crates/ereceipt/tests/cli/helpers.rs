//! Running the real `ereceipt` binary, and the CA, terminal and input files the tests start from.

use std::ffi::OsStr;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{FixedOffset, SecondsFormat, Utc};
use serde_json::{json, Value};
use tempfile::TempDir;

/// The test card of the documented example (UnionPay, Luhn-valid, expires 2029-12).
pub const PAN: &str = "6222020200112233446";
pub const TRACK2: &str = ";6222020200112233446=29121011234567890?";

/// Card data that must never leave the process: the full number, its hidden middle digits
/// (PCI DSS lets a record keep only the BIN and the last four) and the rest of track 2. The
/// expiry alone ("2912") is not listed: it occurs by chance in certificate validity times.
pub const CARD_SECRETS: [&str; 4] = [PAN, "020011223", "=2912", "29121011234567890"];

/// The output of one run of the binary.
pub struct Run {
    pub args: String,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ereceipt {}\nexit: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.args, self.code, self.stdout, self.stderr
        )
    }
}

impl Run {
    pub fn code(&self) -> i32 {
        self.code.unwrap_or_else(|| panic!("killed by a signal:\n{self}"))
    }

    fn assert_no_panic(&self) {
        assert!(!self.stderr.contains("panicked"), "the binary panicked:\n{self}");
        assert_ne!(self.code, Some(101), "the binary panicked:\n{self}");
    }

    /// Exit 0 without a panic.
    pub fn assert_ok(&self) -> &Self {
        self.assert_no_panic();
        assert_eq!(self.code(), 0, "expected success:\n{self}");
        self
    }

    /// Exit `code` without a panic.
    pub fn assert_exit(&self, code: i32) -> &Self {
        self.assert_no_panic();
        assert_eq!(self.code(), code, "expected exit {code}:\n{self}");
        self
    }

    /// A refusal as `main` reports it: exit 3, nothing on stdout, and one line
    /// `error: ...` on stderr that contains every one of `fragments`.
    pub fn assert_error(&self, fragments: &[&str]) -> &Self {
        self.assert_exit(3);
        assert_eq!(self.stdout, "", "a refusal prints nothing on stdout:\n{self}");
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "the error should be one line:\n{self}");
        assert!(lines[0].starts_with("error: "), "the error line should start with `error: `:\n{self}");
        for fragment in fragments {
            assert!(self.stderr.contains(fragment), "the error should mention {fragment:?}:\n{self}");
        }
        self
    }

    /// Stdout as exactly one JSON object (what `--json` promises).
    pub fn json(&self) -> Value {
        let values: Vec<Value> = serde_json::Deserializer::from_str(&self.stdout)
            .into_iter::<Value>()
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{self}"));
        assert_eq!(values.len(), 1, "stdout should hold exactly one JSON value:\n{self}");
        let value = values.into_iter().next().unwrap();
        assert!(value.is_object(), "stdout should be a JSON object:\n{self}");
        value
    }
}

/// Runs `ereceipt` with `args` and collects its output.
pub fn ereceipt<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<_> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let output = Command::new(env!("CARGO_BIN_EXE_ereceipt"))
        .args(&args)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("cannot run the ereceipt binary");
    Run {
        args: args.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>().join(" "),
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
    }
}

/// Now at UTC+08:00, RFC 3339 with offset, as a terminal in Shenzhen stamps a sale.
pub fn now_rfc3339() -> String {
    let beijing = FixedOffset::east_opt(8 * 3600).expect("valid offset");
    Utc::now().with_timezone(&beijing).to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// The documented example transaction, timed now.
pub fn transaction() -> Value {
    json!({
        "serial": "000123",
        "batch": "000001",
        "amount_minor": 12850,
        "currency": "CNY",
        "type": "SALE",
        "time": now_rfc3339(),
        "card": {"track2": TRACK2},
        "auth_code": "A1B2C3",
        "rrn": "332914567890",
        "operator": "01",
    })
}

/// The example transaction with `card` replaced.
pub fn transaction_with_track2(track2: &str) -> Value {
    let mut tx = transaction();
    tx["card"] = json!({ "track2": track2 });
    tx
}

/// A signature as signature_pad's `toData()` writes it: two cursive strokes, about 300×80
/// CSS px, sampled every 16 ms.
pub fn signature() -> Value {
    let start: i64 = 1_700_000_000_000;
    let stroke = |from: usize, n: usize, x0: f64, y0: f64| {
        let points: Vec<Value> = (0..n)
            .map(|i| {
                let f = i as f64;
                json!({
                    "x": x0 + f * 7.5,
                    "y": y0 + 35.0 * (f * 0.45).sin(),
                    "time": start + ((from + i) as i64) * 16,
                    "pressure": 0.4 + 0.2 * (f * 0.2).sin().abs(),
                })
            })
            .collect();
        json!({"penColor": "black", "dotSize": 0, "minWidth": 0.5, "maxWidth": 2.5, "points": points})
    };
    json!([stroke(0, 28, 30.0, 90.0), stroke(60, 14, 120.0, 70.0)])
}

/// A temporary directory with a CA and a terminal issued by it; inputs go to `inputs/`,
/// receipts to `out/`, so that `out/` can be searched for card data.
pub struct Setup {
    pub tmp: TempDir,
    pub ca: PathBuf,
    pub terminal: PathBuf,
    pub inputs: PathBuf,
    pub out: PathBuf,
}

impl Setup {
    /// An 80 mm (576 px) test-card terminal.
    pub fn new() -> Self {
        Self::with(576, true)
    }

    pub fn with(width: u32, test_cards: bool) -> Self {
        let tmp = TempDir::new().expect("temp dir");
        let ca = init_ca(&tmp.path().join("ca"));
        let terminal = tmp.path().join("terminal");
        issue_terminal(&ca, &terminal, width, test_cards).assert_ok();
        let inputs = tmp.path().join("inputs");
        let out = tmp.path().join("out");
        fs::create_dir_all(&inputs).expect("mkdir inputs");
        fs::create_dir_all(&out).expect("mkdir out");
        Self { tmp, ca, terminal, inputs, out }
    }

    pub fn trust(&self) -> PathBuf {
        self.ca.join("ca.pem")
    }

    pub fn input(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.inputs.join(name);
        fs::write(&path, contents).expect("write input");
        path
    }

    /// Runs `receipt create` into `out/NAME.png`; returns the run and the PNG path.
    pub fn create(&self, name: &str, tx: &Value, sig: &Value) -> (Run, PathBuf) {
        self.create_raw(name, &tx.to_string(), &sig.to_string())
    }

    /// Like `create`, with the input files' text given as is.
    pub fn create_raw(&self, name: &str, tx: &str, sig: &str) -> (Run, PathBuf) {
        let tx = self.input(&format!("{name}.tx.json"), tx);
        let sig = self.input(&format!("{name}.sig.json"), sig);
        let png = self.out.join(format!("{name}.png"));
        let run = ereceipt([
            OsStr::new("receipt"),
            "create".as_ref(),
            "--terminal".as_ref(),
            self.terminal.as_os_str(),
            "--transaction".as_ref(),
            tx.as_os_str(),
            "--signature".as_ref(),
            sig.as_os_str(),
            "--out".as_ref(),
            png.as_os_str(),
        ]);
        (run, png)
    }

    /// A receipt of the example transaction, created successfully.
    pub fn receipt(&self, name: &str) -> PathBuf {
        let (run, png) = self.create(name, &transaction(), &signature());
        run.assert_ok();
        png
    }

    /// `verify IMAGE --trust <this CA> --json`.
    pub fn verify_json(&self, image: &Path) -> Run {
        verify_json(image, &self.trust())
    }
}

pub fn verify_json(image: &Path, trust: &Path) -> Run {
    ereceipt([OsStr::new("verify"), image.as_os_str(), "--trust".as_ref(), trust.as_os_str(), "--json".as_ref()])
}

/// `ca init --dir DIR`, which must succeed; returns DIR.
pub fn init_ca(dir: &Path) -> PathBuf {
    ereceipt([OsStr::new("ca"), "init".as_ref(), "--dir".as_ref(), dir.as_os_str()]).assert_ok();
    dir.to_owned()
}

/// `ca issue` of terminal POS00001 of the example merchant.
pub fn issue_terminal(ca: &Path, out: &Path, width: u32, test_cards: bool) -> Run {
    let mut args: Vec<std::ffi::OsString> = vec!["ca".into(), "issue".into(), "--ca".into(), ca.into()];
    for (flag, value) in [
        ("--terminal-id", "POS00001"),
        ("--merchant-id", "898440358120001"),
        ("--merchant-name", "深圳湾咖啡"),
        ("--location", "深圳市南山区科技园; geo:22.5431,113.9365"),
    ] {
        args.push(flag.into());
        args.push(value.into());
    }
    args.extend(["--out".into(), out.into(), "--width".into(), width.to_string().into()]);
    if test_cards {
        args.push("--test-cards".into());
    }
    ereceipt(args)
}

/// Every file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(d) = pending.pop() {
        for entry in fs::read_dir(&d).expect("read dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                found.push(path);
            }
        }
    }
    found
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Asserts that none of `secrets` occurs in the run's output or in any of `files`.
pub fn assert_no_card_data(run: &Run, files: &[PathBuf], secrets: &[&str]) {
    for secret in secrets {
        assert!(!run.stdout.contains(secret), "stdout leaks card data {secret:?}:\n{run}");
        assert!(!run.stderr.contains(secret), "stderr leaks card data {secret:?}:\n{run}");
        for file in files {
            let bytes = fs::read(file).expect("read output file");
            assert!(!contains(&bytes, secret.as_bytes()), "{} leaks card data {secret:?}", file.display());
        }
    }
}

/// A masked card number as printed: only asterisks, spaces and at most four digits, which
/// are the card's last four.
pub fn assert_masked(masked: &str, pan: &str) {
    let digits: String = masked.chars().filter(char::is_ascii_digit).collect();
    assert!(digits.len() <= 4, "masked card number {masked:?} shows more than four digits");
    assert_eq!(digits, pan[pan.len() - 4..], "masked card number {masked:?} should end in the last four");
    assert!(masked.chars().all(|c| c == '*' || c == ' ' || c.is_ascii_digit()), "{masked:?}");
    assert!(masked.contains('*'), "{masked:?} hides nothing");
}
