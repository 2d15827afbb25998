//! The npm packages the tests use, pinned, in one `node_modules` folder that
//! `scripts/install-deps` fills: node-smpp for the independent SMSC (`node_smsc`) and axe-core,
//! the accessibility checker the email test runs inside Chromium.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// node-smpp, as `scripts/install-deps` pins it.
pub const SMPP_PACKAGE: &str = "smpp@0.5.1";
/// axe-core, as `scripts/install-deps` pins it.
pub const AXE_PACKAGE: &str = "axe-core@4.14.1";
/// Every pin, installed together: npm removes packages a later `npm install --no-save` of
/// another one does not name.
pub const NODE_PINS: &[&str] = &[SMPP_PACKAGE, AXE_PACKAGE];
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

/// The `node_modules` folder with `package` (one of [`NODE_PINS`], `name@version`) at its
/// version; every pin is installed with npm on first use (`scripts/install-deps` does it too).
/// A file lock keeps concurrent tests from installing twice.
pub fn node_modules_with(package: &str) -> PathBuf {
    let dir = node_dir();
    let modules = dir.join("node_modules");
    let (name, version) = package.rsplit_once('@').unwrap();
    let ready = |m: &Path| {
        std::fs::read_to_string(m.join(name).join("package.json"))
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
            .args(NODE_PINS)
            .status();
        assert!(
            installed.is_ok_and(|s| s.success()),
            "npm install {NODE_PINS:?} into {dir:?} failed: the tests need node and npm \
             (Debian: apt-get install nodejs npm; scripts/install-deps does it)"
        );
    }
    modules
}

/// The source of `axe.min.js` ([`AXE_PACKAGE`]), to run in a page under test: it defines
/// `window.axe`, whose `axe.run()` reports the page's accessibility violations.
pub fn axe_source() -> String {
    let path = node_modules_with(AXE_PACKAGE).join("axe-core/axe.min.js");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}
