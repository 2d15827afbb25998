//! Portal user administration (merchant staff, the acquirer): the logic behind the admin API and
//! `ereceipt platform user …`. A new user gets a password (generated unless given) and a TOTP
//! secret, shown once; the platform keeps only the Argon2id hash and the sealed secret.

use serde::{Deserialize, Serialize};

use crate::accounts::{self, AccountError, Role};
use crate::keys::PlatformKeys;
use crate::store::{AccountRow, NewAccount, Store, StoreError};

/// Why a user could not be created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UserError {
    /// A field is not valid; names the field.
    #[error("{field}: {detail}")]
    Invalid { field: &'static str, detail: String },
    /// Hashing, randomness or TOTP failed.
    #[error("{0}")]
    Account(#[from] AccountError),
    /// The store refused (e.g. the username is taken).
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// A user as an administrator creates one.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub username: String,
    /// `merchant` or `acquirer`.
    pub role: String,
    /// The merchant whose receipts a merchant user sees.
    #[serde(default)]
    pub merchant_id: Option<String>,
    /// Chosen password (at least 12 characters); none: one is generated.
    #[serde(default)]
    pub password: Option<String>,
}

/// What the new user needs, shown once.
#[derive(Clone, Debug, Serialize)]
pub struct Credentials {
    pub username: String,
    pub role: String,
    pub merchant_id: Option<String>,
    /// The generated password (absent when the administrator chose one).
    pub password: Option<String>,
    /// The TOTP secret in base32 for typing into an authenticator app.
    pub totp_secret: String,
    /// The same as an `otpauth://` URI (for a QR code).
    pub totp_uri: String,
}

/// Creates a user.
pub async fn add(store: &Store, keys: &PlatformKeys, u: &NewUser, now_ms: i64) -> Result<Credentials, UserError> {
    let username = u.username.trim().to_owned();
    accounts::check_username(&username).map_err(|e| UserError::Invalid { field: "username", detail: e.to_string() })?;
    let role = match (u.role.as_str(), &u.merchant_id) {
        ("merchant", Some(m)) => {
            let m = m.trim();
            m.parse::<ereceipt_core::model::MerchantId>()
                .map_err(|e| UserError::Invalid { field: "merchant_id", detail: e.to_string() })?;
            Role::Merchant { merchant_id: m.to_owned() }
        }
        ("merchant", None) => {
            return Err(UserError::Invalid { field: "merchant_id", detail: "a merchant user needs one".into() })
        }
        ("acquirer", None) => Role::Acquirer,
        ("acquirer", Some(_)) => {
            return Err(UserError::Invalid { field: "merchant_id", detail: "the acquirer sees every merchant".into() })
        }
        (other, _) => {
            return Err(UserError::Invalid { field: "role", detail: format!("{other:?}: merchant or acquirer") })
        }
    };
    let (password, generated) = match &u.password {
        Some(p) => (p.clone(), None),
        None => {
            let p = accounts::generate_password()?;
            (p.clone(), Some(p))
        }
    };
    let hash = tokio::task::spawn_blocking(move || accounts::hash_password(&password))
        .await
        .map_err(|e| AccountError::Hash(e.to_string()))??;
    let secret = accounts::new_totp_secret()?;
    let sealed = accounts::seal_secret(&keys.otp_key, &username, &secret)?;
    let merchant_id = match &role {
        Role::Merchant { merchant_id } => Some(merchant_id.clone()),
        Role::Acquirer => None,
    };
    let role_name = role.name().to_owned();
    store
        .create_account(
            &NewAccount { username: username.clone(), role, password_hash: hash, totp_sealed: sealed },
            now_ms,
        )
        .await?;
    Ok(Credentials {
        totp_uri: accounts::totp_uri(&secret, "ereceipt", &username),
        totp_secret: accounts::totp_base32(&secret),
        username,
        role: role_name,
        merchant_id,
        password: generated,
    })
}

/// New credentials for an active user: a password (generated unless given), a new TOTP secret;
/// the lock is lifted and the user's sessions end. Shown once, like [`add`]'s.
pub async fn reset(
    store: &Store,
    keys: &PlatformKeys,
    username: &str,
    password: Option<String>,
) -> Result<Option<Credentials>, UserError> {
    let Some(account) = store.account(username).await?.filter(|a| a.disabled_at.is_none()) else { return Ok(None) };
    let (password, generated) = match password {
        Some(p) => (p, None),
        None => {
            let p = accounts::generate_password()?;
            (p.clone(), Some(p))
        }
    };
    let hash = tokio::task::spawn_blocking(move || accounts::hash_password(&password))
        .await
        .map_err(|e| AccountError::Hash(e.to_string()))??;
    let secret = accounts::new_totp_secret()?;
    let sealed = accounts::seal_secret(&keys.otp_key, username, &secret)?;
    if !store.reset_account(username, &hash, &sealed).await? {
        return Ok(None);
    }
    let merchant_id = match &account.role {
        Role::Merchant { merchant_id } => Some(merchant_id.clone()),
        Role::Acquirer => None,
    };
    Ok(Some(Credentials {
        totp_uri: accounts::totp_uri(&secret, "ereceipt", username),
        totp_secret: accounts::totp_base32(&secret),
        username: username.to_owned(),
        role: account.role.name().to_owned(),
        merchant_id,
        password: generated,
    }))
}

/// A user as listed (no secrets).
pub fn describe(a: &AccountRow, now_ms: i64) -> serde_json::Value {
    let merchant_id = match &a.role {
        Role::Merchant { merchant_id } => Some(merchant_id.as_str()),
        Role::Acquirer => None,
    };
    serde_json::json!({
        "username": a.username,
        "role": a.role.name(),
        "merchant_id": merchant_id,
        "locked": a.locked_until > now_ms,
        "locked_until": (a.locked_until > now_ms).then_some(a.locked_until),
        "failed_logins": a.failures,
        "disabled": a.disabled_at.is_some(),
    })
}
