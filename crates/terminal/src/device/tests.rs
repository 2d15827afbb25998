//! The data directory's files: keys are never readable by others, and a renewal interrupted at
//! any step leaves a terminal that signs with a matching key and certificate.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::Utc;
use ereceipt_core::contract::PlatformInfo;
use ereceipt_core::identity::{create_ca, fingerprint_der, issue_terminal, CertifiedKey, Signer};
use ereceipt_core::model::TerminalInfo;

use super::{Device, PlatformLink};

fn info() -> TerminalInfo {
    TerminalInfo {
        terminal_id: "POS00078".parse().unwrap(),
        merchant_id: "898440358120001".parse().unwrap(),
        merchant_name: "深圳湾咖啡 Shenzhen Bay Coffee".parse().unwrap(),
        location: "深圳市南山区科苑路15号".parse().unwrap(),
    }
}

fn link(ca: &CertifiedKey) -> PlatformLink {
    PlatformLink {
        url: "https://127.0.0.1:9".into(),
        info: PlatformInfo {
            ca_fingerprint: fingerprint_der(&ca.cert_der),
            hpke_public_key: hex::encode([7u8; 32]),
            hpke_suite: None,
            ack_public_key: hex::encode([9u8; 32]),
            max_upload_bytes: None,
        },
    }
}

/// What a crash while writing `terminal.pem` left in earlier versions: `terminal.tmp` at 0644,
/// the temporary file the next `terminal.key` was then written through.
#[cfg(unix)]
#[test]
fn a_stale_temporary_file_does_not_make_the_key_world_readable() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let stale = dir.path().join("terminal.tmp");
    std::fs::write(&stale, "half a certificate").unwrap();
    std::fs::set_permissions(&stale, std::fs::Permissions::from_mode(0o644)).unwrap();
    let now = Utc::now();
    let ca = create_ca("device test CA", now).unwrap();
    let id = issue_terminal(&ca, &info(), now, 30).unwrap();
    let device = Device::new(dir.path());
    device.save_enrolment(&id.key_pkcs8, &id.cert_der, &ca.cert_der, &link(&ca)).unwrap();
    let renewed = issue_terminal(&ca, &info(), now, 30).unwrap();
    device.save_renewal(&renewed.key_pkcs8, &renewed.cert_der).unwrap();
    for f in ["terminal.key", "terminal.key.previous"] {
        if let Ok(meta) = std::fs::metadata(dir.path().join(f)) {
            assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{f}");
        }
    }
    assert_eq!(device.identity().unwrap().cert_der, renewed.cert_der);
}

/// A renewal that stops (the phone dies) after each of its steps in turn: the terminal then
/// loads a key and certificate that belong together, the new pair once the new key was
/// written, the old pair before, and signs with it; no renewal leftovers remain.
#[test]
fn a_renewal_interrupted_at_any_step_leaves_a_terminal_that_signs() {
    let now = Utc::now();
    let ca = create_ca("device test CA", now).unwrap();
    for steps in 0..=super::RENEWAL_STEPS {
        let dir = tempfile::tempdir().unwrap();
        let device = Device::new(dir.path());
        let old = issue_terminal(&ca, &info(), now, 30).unwrap();
        device.save_enrolment(&old.key_pkcs8, &old.cert_der, &ca.cert_der, &link(&ca)).unwrap();
        let new = issue_terminal(&ca, &info(), now, 30).unwrap();
        device.renewal_steps(&new.key_pkcs8, &new.cert_der, steps).unwrap();

        let identity = device.identity().unwrap_or_else(|e| panic!("after {steps} steps: {e}"));
        Signer::new(&identity).unwrap_or_else(|e| panic!("after {steps} steps the pair does not match: {e}"));
        let key_written = steps >= 3;
        let expected = if key_written { &new } else { &old };
        assert_eq!(identity.cert_der, expected.cert_der, "after {steps} steps");
        assert_eq!(device.certificate().unwrap().serial, Signer::new(expected).unwrap().certificate().serial);
        for leftover in ["terminal.pem.next", "terminal.key.previous"] {
            assert!(!dir.path().join(leftover).exists(), "after {steps} steps: {leftover} left");
        }
    }
}
