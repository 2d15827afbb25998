//! Portal user administration (merchant staff, the acquirer): the logic behind the admin API and
//! `ereceipt platform user …`. A new user gets a password (generated unless given) and a TOTP
//! secret, shown once; the platform keeps only the Argon2id hash and the sealed secret. A reset
//! is a one-time link for the user ([`crate::services::staff_enrolment`]), never new secrets.

use serde::{Deserialize, Serialize};

use crate::domain::credentials::{self, AccountError, Role};
use crate::infra::keys::PlatformKeys;
use crate::infra::store::{AccountRow, NewAccount, Store, StoreError};

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
    credentials::check_username(&username)
        .map_err(|e| UserError::Invalid { field: "username", detail: e.to_string() })?;
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
    let minted = Minted::new(keys, &username, u.password.clone()).await?;
    let account = NewAccount {
        username: username.clone(),
        role: role.clone(),
        password_hash: minted.hash.clone(),
        totp_sealed: minted.sealed.clone(),
    };
    store.create_account(&account, now_ms).await?;
    Ok(minted.credentials(&username, &role))
}

/// A user's new password and TOTP secret, and what the platform keeps of them.
struct Minted {
    /// The password when the platform generated it (shown once).
    generated: Option<String>,
    hash: String,
    secret: Vec<u8>,
    sealed: Vec<u8>,
}

impl Minted {
    /// For `username`: `password` or a generated one, hashed off the async threads; a new TOTP
    /// secret, sealed.
    async fn new(keys: &PlatformKeys, username: &str, password: Option<String>) -> Result<Self, UserError> {
        let (password, generated) = match password {
            Some(p) => (p, None),
            None => {
                let p = credentials::generate_password()?;
                (p.clone(), Some(p))
            }
        };
        let hash = tokio::task::spawn_blocking(move || credentials::hash_password(&password))
            .await
            .map_err(|e| AccountError::Hash(e.to_string()))??;
        let secret = credentials::new_totp_secret()?;
        let sealed = credentials::seal_secret(&keys.totp_key, username, &secret)?;
        Ok(Self { generated, hash, secret, sealed })
    }

    fn credentials(self, username: &str, role: &Role) -> Credentials {
        Credentials {
            totp_uri: credentials::totp_uri(&self.secret, "ereceipt", username),
            totp_secret: credentials::totp_base32(&self.secret),
            username: username.to_owned(),
            role: role.name().to_owned(),
            merchant_id: role.merchant_id().map(str::to_owned),
            password: self.generated,
        }
    }
}

/// A user as listed (no secrets).
pub fn describe(a: &AccountRow, now_ms: i64) -> serde_json::Value {
    serde_json::json!({
        "username": a.username,
        "role": a.role.name(),
        "merchant_id": a.role.merchant_id(),
        "locked": a.locked_until > now_ms,
        "locked_until": (a.locked_until > now_ms).then_some(a.locked_until),
        "failed_logins": a.failures,
        "disabled": a.disabled_at.is_some(),
    })
}
