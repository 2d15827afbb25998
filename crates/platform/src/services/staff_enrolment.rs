//! A portal user's reset without handing anyone their secrets: the administrator gets a
//! one-time enrolment link (time-limited, single use, stored hashed) for the user, who opens it
//! and sets a new password; the portal then shows them their new TOTP secret, once.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::domain::credentials::{self, AccountError};
use crate::infra::keys::{random_secret, token_hash, PlatformKeys};
use crate::infra::store::{Store, StoreError};

/// How long a link stays usable.
pub const LINK_HOURS: i64 = 24;

/// Why a reset or an enrolment failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnrolmentError {
    /// The link is unknown, used or expired (never says which).
    #[error("this link is not valid: it was used, it expired or it never existed; ask an administrator for a new one")]
    NotValid,
    /// Hashing, randomness or TOTP failed, or the password is too short.
    #[error("{0}")]
    Account(#[from] AccountError),
    /// The store failed.
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// What the administrator passes on to the user: a link, no secret of the user's.
#[derive(Debug, Clone, Serialize)]
pub struct EnrolmentLink {
    pub username: String,
    /// Open in a browser: `PORTAL/staff/enrol?token=…`.
    pub enrolment_url: String,
    pub expires_at: DateTime<Utc>,
}

/// What the user sees once, after setting their password.
#[derive(Debug, Clone)]
pub struct NewAuthenticator {
    pub username: String,
    pub totp_secret: String,
    pub totp_uri: String,
}

/// Starts a reset of active user `username`: their old password and authenticator stop working,
/// their sessions end, and a link for them is made. `None` when there is no active user of that
/// name.
pub async fn reset(
    store: &Store,
    portal_url: &str,
    username: &str,
    now: DateTime<Utc>,
) -> Result<Option<EnrolmentLink>, EnrolmentError> {
    let secret = random_secret().ok_or(AccountError::Random)?;
    let expires_at = now + Duration::hours(LINK_HOURS);
    let hash = hex::encode(token_hash(&secret));
    if !store.begin_staff_reset(username, &hash, now.timestamp_millis(), expires_at.timestamp_millis()).await? {
        return Ok(None);
    }
    let base = portal_url.trim_end_matches('/');
    Ok(Some(EnrolmentLink {
        username: username.to_owned(),
        enrolment_url: format!("{base}/staff/enrol?token={secret}"),
        expires_at,
    }))
}

/// The user a valid link is for.
pub async fn holder(store: &Store, token: &str, now: DateTime<Utc>) -> Result<String, EnrolmentError> {
    let hash = hex::encode(token_hash(token));
    store.staff_enrolment(&hash, now.timestamp_millis()).await?.ok_or(EnrolmentError::NotValid)
}

/// Uses the link: sets `password` and a new TOTP secret, which is returned to be shown once.
pub async fn enrol(
    store: &Store,
    keys: &PlatformKeys,
    token: &str,
    password: String,
    now: DateTime<Utc>,
) -> Result<NewAuthenticator, EnrolmentError> {
    let username = holder(store, token, now).await?;
    let phc = tokio::task::spawn_blocking(move || credentials::hash_password(&password))
        .await
        .map_err(|e| AccountError::Hash(e.to_string()))??;
    let secret = credentials::new_totp_secret()?;
    let sealed = credentials::seal_secret(&keys.totp_key, &username, &secret)?;
    let hash = hex::encode(token_hash(token));
    if !store.finish_staff_reset(&hash, &username, now.timestamp_millis(), &phc, &sealed).await? {
        return Err(EnrolmentError::NotValid);
    }
    Ok(NewAuthenticator {
        totp_uri: credentials::totp_uri(&secret, "ereceipt", &username),
        totp_secret: credentials::totp_base32(&secret),
        username,
    })
}
