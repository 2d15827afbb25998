//! The certificate revocation list the platform publishes at `/crl`, signed with the CA key only
//! when the revocations change or half its validity has passed, not on every request.

use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use ereceipt_core::enrolment::{self, Revoked};

use crate::infra::keys::PlatformKeys;
use crate::infra::store::Store;
use crate::services::terminals::{revoked_for_crl, TerminalError};

/// How long a CRL says it is valid (its nextUpdate is this after its thisUpdate).
pub const VALIDITY_HOURS: u32 = 24;
/// A CRL this old is signed anew even with nothing changed, so a fetched one always has at
/// least half its validity left.
pub const RESIGN_AFTER_HOURS: i64 = 12;

/// The last signed CRL and what it lists.
#[derive(Debug, Default)]
pub struct CrlCache(Mutex<Option<Signed>>);

#[derive(Debug, Clone)]
struct Signed {
    revoked: Vec<Revoked>,
    this_update: DateTime<Utc>,
    der: Vec<u8>,
}

impl CrlCache {
    /// The current CRL (DER): the cached one while it lists exactly the certificates revoked
    /// now and is younger than [`RESIGN_AFTER_HOURS`]; otherwise a newly signed one. Reading
    /// the revocations is one indexed query per request, so a revocation by another process
    /// sharing the database shows at once.
    pub async fn current(
        &self,
        store: &Store,
        keys: &PlatformKeys,
        now: DateTime<Utc>,
    ) -> Result<Vec<u8>, TerminalError> {
        let revoked = revoked_for_crl(store, now).await?;
        if let Ok(cached) = self.0.lock() {
            if let Some(c) = cached.as_ref() {
                let fresh = now >= c.this_update && now - c.this_update < Duration::hours(RESIGN_AFTER_HOURS);
                if fresh && c.revoked == revoked {
                    return Ok(c.der.clone());
                }
            }
        }
        // The CRL number only has to grow: seconds since the epoch do.
        let number = u64::try_from(now.timestamp()).unwrap_or(0);
        let der = enrolment::crl(&keys.ca, &revoked, number, now, VALIDITY_HOURS)?;
        if let Ok(mut cached) = self.0.lock() {
            *cached = Some(Signed { revoked, this_update: now, der: der.clone() });
        }
        Ok(der)
    }
}
