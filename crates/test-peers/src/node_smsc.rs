//! An independent SMSC over TLS: `peers/smsc.js` on the npm package `smpp` (node-smpp), in a
//! node_modules folder that `scripts/install-deps` fills (see [`node_modules`]). It shares no
//! code with ereceipt's SMPP client: another codec, another TLS stack (node's OpenSSL).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::Notify;

use crate::tls::TestPki;

pub use crate::node::{node_dir, NODE_VAR, SMPP_PACKAGE};

/// The `node_modules` folder with [`SMPP_PACKAGE`], installed with npm on first use
/// (`scripts/install-deps` does it too).
pub fn node_modules() -> PathBuf {
    crate::node::node_modules_with(SMPP_PACKAGE)
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
