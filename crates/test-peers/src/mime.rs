//! An independent MIME reader: `mime_parse.py`, Python's standard `email` package with
//! `email.policy.default` (and `html.parser` for the HTML parts), run in the test venv's python.
//! It shares nothing with the Rust code that composes or reads messages.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::smtp::venv_python;

/// What Python's `email` makes of the raw message `raw`: its headers and the tree of parts,
/// each with type, disposition, file name, Content-ID, charset, defects and content (`text`
/// for text parts, with the `<img>`/`<a>` targets of HTML ones; `base64` and `sha256` for
/// the others). See `mime_parse.py`.
pub fn parse(raw: &[u8]) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/mime_parse.py");
    let mut child = Command::new(venv_python())
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(raw).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "mime_parse.py failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}
