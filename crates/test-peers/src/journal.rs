//! The JSON-lines journal the Python peers write (one object a line, flushed per line), read
//! by the tests: all lines so far, or polled until a condition holds.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A peer's journal file.
#[derive(Clone, Debug)]
pub struct Journal {
    path: PathBuf,
    /// Names the peer in a timeout's panic.
    peer: &'static str,
}

impl Journal {
    pub fn new(path: &Path, peer: &'static str) -> Self {
        Self { path: path.to_owned(), peer }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every line written so far; a last line still being written is left out.
    pub fn lines(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.path).unwrap_or_default();
        let whole = text.rfind('\n').map_or("", |end| &text[..end]);
        whole.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    /// Reads the journal every 20 ms until `pred` holds for it and returns it; panics with the
    /// journal after `timeout`.
    pub async fn wait(&self, pred: impl Fn(&[Value]) -> bool, timeout: Duration) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let lines = self.lines();
            if pred(&lines) {
                return lines;
            }
            assert!(
                Instant::now() < deadline,
                "{} journal did not reach the state in {timeout:?}: {lines:#?}",
                self.peer
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
