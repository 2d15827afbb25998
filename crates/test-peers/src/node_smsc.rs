//! An independent SMSC over TLS: `peers/smsc.js` on the npm package `smpp` (node-smpp), in a
//! node_modules folder that `scripts/install-deps` fills (see [`node_modules`]). It shares no
//! code with ereceipt's SMPP client: another codec, another TLS stack (node's OpenSSL).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::Notify;

use crate::tls::TestPki;

/// The pinned package, as `scripts/install-deps` installs it.
pub const SMPP_PACKAGE: &str = "smpp@0.5.1";
/// The environment variable naming the folder that holds `node_modules`, when it is not the
/// workspace's `target/test-node` (where `scripts/install-deps` puts it).
pub const NODE_VAR: &str = "EReceipt_TEST_NODE";

/// Where the npm packages are: `$EReceipt_TEST_NODE`, or else `target/test-node` of the
/// workspace this crate was built in.
pub fn node_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(NODE_VAR).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let workspace = crate_dir.ancestors().find(|d| d.join("Cargo.lock").is_file()).unwrap_or(crate_dir);
    workspace.join("target/test-node")
}

/// The `node_modules` folder with [`SMPP_PACKAGE`], installed with npm on first use
/// (`scripts/install-deps` does it too). A file lock keeps concurrent tests from installing twice.
pub fn node_modules() -> PathBuf {
    let dir = node_dir();
    let modules = dir.join("node_modules");
    let version = SMPP_PACKAGE.rsplit('@').next().unwrap_or_default();
    let ready = |m: &Path| {
        std::fs::read_to_string(m.join("smpp/package.json"))
            .ok()
            .and_then(|text| serde_json::from_str::<Value>(&text).ok())
            .is_some_and(|p| p["version"] == version)
    };
    if ready(&modules) {
        return modules;
    }
    std::fs::create_dir_all(&dir).unwrap();
    let lock = File::create(dir.with_extension("lock")).unwrap();
    lock.lock().unwrap();
    if !ready(&modules) {
        let installed = Command::new("npm")
            .args(["install", "--no-save", "--no-audit", "--no-fund", "--loglevel=error", "--prefix"])
            .arg(&dir)
            .arg(SMPP_PACKAGE)
            .status();
        assert!(
            installed.is_ok_and(|s| s.success()),
            "npm install {SMPP_PACKAGE} into {dir:?} failed: the SMPP TLS test needs node and npm \
             (Debian: apt-get install nodejs npm; scripts/install-deps does it)"
        );
    }
    modules
}

/// A running `smsc.js`; killed on drop.
pub struct NodeSmsc {
    pub port: u16,
    events: Arc<Mutex<Vec<Value>>>,
    changed: Arc<Notify>,
    _child: tokio::process::Child,
}

impl NodeSmsc {
    /// Starts the SMSC over TLS with `pki`'s server certificate for the account
    /// `system_id`/`password`, and waits until it says which port it listens on.
    pub async fn start(system_id: &str, password: &str, pki: &TestPki) -> NodeSmsc {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("peers/smsc.js");
        let mut child = tokio::process::Command::new("node")
            .arg(script)
            .arg("--key")
            .arg(&pki.key_pem)
            .arg("--cert")
            .arg(&pki.cert_pem)
            .args(["--system-id", system_id, "--password", password])
            .env("NODE_PATH", node_modules())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node, to run the SMSC (Debian: apt-get install nodejs)");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("smsc.js said nothing within 30 s")
            .unwrap()
            .expect("smsc.js ended before listening");
        let listening: Value = serde_json::from_str(&first).unwrap();
        assert_eq!(listening["event"], "listening", "{first}");
        let port = u16::try_from(listening["port"].as_u64().unwrap()).unwrap();
        let events = Arc::new(Mutex::new(Vec::new()));
        let changed = Arc::new(Notify::new());
        let (log, notify) = (events.clone(), changed.clone());
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let event = serde_json::from_str(&line).unwrap_or_else(|_| panic!("smsc.js printed {line:?}"));
                log.lock().unwrap().push(event);
                notify.notify_waiters();
            }
        });
        NodeSmsc { port, events, changed, _child: child }
    }

    /// Everything it reported since it started listening, in order.
    pub fn events(&self) -> Vec<Value> {
        self.events.lock().unwrap().clone()
    }

    /// The events named `name` (`bind`, `submit_sm`, `unbind`, `tls_error`).
    pub fn events_named(&self, name: &str) -> Vec<Value> {
        self.events().into_iter().filter(|e| e["event"] == name).collect()
    }

    /// Waits (10 s at most) until the events satisfy `cond`.
    pub async fn wait_for(&self, what: &str, cond: impl Fn(&[Value]) -> bool) {
        let wait = async {
            loop {
                let changed = self.changed.notified();
                tokio::pin!(changed);
                changed.as_mut().enable();
                if cond(&self.events()) {
                    return;
                }
                changed.await;
            }
        };
        tokio::time::timeout(Duration::from_secs(10), wait)
            .await
            .unwrap_or_else(|_| panic!("smsc.js never reported {what}: {:?}", self.events()));
    }
}

/// The texts of the submits, parts of a concatenated message (8-bit reference UDH) joined in
/// order, as node-smpp decoded them.
pub fn texts(submits: &[Value]) -> Vec<String> {
    /// A message's concatenation reference (none: a single SMS) and its numbered parts so far.
    type Parts = (Option<u64>, Vec<(u64, String)>);
    let mut texts: Vec<Parts> = Vec::new();
    for s in submits {
        let message = s["message"].as_str().unwrap().to_string();
        let concat = s["udh"].as_array().unwrap().iter().find(|ie| ie[0] == 0 && ie[1] == 3).cloned();
        match concat {
            None => texts.push((None, vec![(1, message)])),
            Some(ie) => {
                let (reference, part) = (ie[2].as_u64(), ie[4].as_u64().unwrap());
                match texts.iter_mut().find(|(r, _)| r.is_some() && *r == reference) {
                    Some((_, parts)) => parts.push((part, message)),
                    None => texts.push((reference, vec![(part, message)])),
                }
            }
        }
    }
    texts
        .into_iter()
        .map(|(_, mut parts)| {
            parts.sort_by_key(|(n, _)| *n);
            parts.into_iter().map(|(_, m)| m).collect()
        })
        .collect()
}
