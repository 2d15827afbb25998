//! The chains already checked in this process. Whether a CA signed a certificate depends on
//! their bytes alone, and a platform checks the same terminal certificate for every receipt of
//! that terminal: each verification repeated an Ed25519 check (a twentieth of a PNG receipt's
//! verification) to learn what it knew. A pair whose check succeeded is remembered by the
//! SHA-256 of both certificates' bytes; failures are not, so each keeps its exact reason.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

use crate::digest::sha256_parts;

/// Pairs kept before the memory starts again (32 bytes each: 2 MiB at most), far more than
/// the terminals one process sees in a burst.
const CAPACITY: usize = 65_536;

static CHECKED: Mutex<Option<HashSet<[u8; 32]>>> = Mutex::new(None);

/// Names a (CA, certificate) pair by both byte strings, the CA's length first so that no two
/// pairs share a name.
pub(super) fn key(ca_der: &[u8], cert_der: &[u8]) -> [u8; 32] {
    let len = (ca_der.len() as u64).to_be_bytes();
    sha256_parts(&[b"ereceipt/chain-checked/v1\0", &len, ca_der, cert_der])
}

/// Whether this pair's check succeeded before.
pub(super) fn known(key: &[u8; 32]) -> bool {
    let guard = CHECKED.lock().unwrap_or_else(PoisonError::into_inner);
    guard.as_ref().is_some_and(|set| set.contains(key))
}

/// Records a pair whose check succeeded.
pub(super) fn remember(key: [u8; 32]) {
    let mut guard = CHECKED.lock().unwrap_or_else(PoisonError::into_inner);
    let set = guard.get_or_insert_with(HashSet::new);
    if set.len() >= CAPACITY {
        set.clear();
    }
    set.insert(key);
}
