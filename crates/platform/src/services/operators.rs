//! Operators, the people who administer the platform: added on the platform host (a key and a
//! certificate from the platform CA, written to a folder for the operator), revoked there, and
//! recognised by the admin listener from the certificate they present.

use chrono::{DateTime, Utc};
use ereceipt_core::identity::{fingerprint_der, CertifiedKey};
use serde::Serialize;

use crate::infra::keys::PlatformKeys;
use crate::infra::operator_certs::{self, OperatorCertError};
use crate::infra::store::{NewAudit, OperatorRow, Store, StoreError};

/// How long an operator certificate is valid.
pub const OPERATOR_CERT_DAYS: u32 = 365;

/// Why an operator could not be added, revoked or recognised.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OperatorError {
    /// The certificate could not be made, or the one presented is not an operator's.
    #[error("{0}")]
    Certificate(#[from] OperatorCertError),
    /// An active operator of that name exists already.
    #[error("operator {0} exists already; revoke it first to issue a new certificate")]
    Exists(String),
    /// No active operator of that name.
    #[error("no active operator {0}")]
    Unknown(String),
    /// The certificate was not issued by `operator add`, or was revoked.
    #[error("operator certificate {0}")]
    Refused(&'static str),
    /// The store failed.
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// An authenticated operator, as handlers and the audit log name them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Operator {
    pub name: String,
}

/// Where a command on the platform host comes from, in the audit log.
pub const HOST: &str = "host";

/// Issues operator `name` a key and certificate and records it (and the action, as done on the
/// host by the local user `by`).
pub async fn add(
    store: &Store,
    keys: &PlatformKeys,
    name: &str,
    by: &str,
    now: DateTime<Utc>,
) -> Result<CertifiedKey, OperatorError> {
    operator_certs::check_name(name)?;
    if store.operators().await?.iter().any(|o| o.name == name && o.revoked_at.is_none()) {
        return Err(OperatorError::Exists(name.to_owned()));
    }
    let pair = operator_certs::issue(&keys.ca, name, now, OPERATOR_CERT_DAYS)?;
    let cert = operator_certs::parse(&pair.cert_der)?;
    let row = OperatorRow {
        name: name.to_owned(),
        fingerprint: fingerprint_der(&pair.cert_der),
        serial: cert.serial,
        not_after: cert.not_after,
        created_at: now.timestamp_millis(),
        revoked_at: None,
    };
    store.add_operator(&row).await?;
    host_audit(store, by, "operator add", name, "ok", now).await?;
    Ok(pair)
}

/// Revokes every certificate of operator `name`: the admin listener refuses them from the next
/// request on.
pub async fn revoke(store: &Store, name: &str, by: &str, now: DateTime<Utc>) -> Result<u64, OperatorError> {
    let n = store.revoke_operator(name, now.timestamp_millis()).await?;
    let outcome = if n == 0 { "refused: no active operator" } else { "ok" };
    host_audit(store, by, "operator revoke", name, outcome, now).await?;
    if n == 0 {
        return Err(OperatorError::Unknown(name.to_owned()));
    }
    Ok(n)
}

/// The operator whose certificate (DER, already verified against the CA by TLS) this is.
pub async fn recognise(store: &Store, der: &[u8], now: DateTime<Utc>) -> Result<Operator, OperatorError> {
    let cert = operator_certs::parse(der)?;
    let row = store
        .operator_by_fingerprint(&fingerprint_der(der))
        .await?
        .ok_or(OperatorError::Refused("unknown: it was not issued by `ereceipt platform operator add`"))?;
    if row.revoked_at.is_some() {
        return Err(OperatorError::Refused("revoked"));
    }
    if row.name != cert.name || row.not_after < now.timestamp_millis() {
        return Err(OperatorError::Refused("expired or not as issued"));
    }
    Ok(Operator { name: row.name })
}

/// Records an administrative command run on the platform host by local user `by`.
pub async fn host_audit(
    store: &Store,
    by: &str,
    action: &str,
    target: &str,
    outcome: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let operator = format!("{HOST}:{by}");
    store
        .audit(&NewAudit { at: now.timestamp_millis(), operator: &operator, action, target, outcome, client: HOST })
        .await
}
