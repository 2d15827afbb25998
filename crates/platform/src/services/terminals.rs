//! Terminal registration, enrolment tokens, certificate issuance (first enrolment and renewal),
//! the batch and chain head a terminal resumes from, and revocation: the logic behind both the
//! admin API and `ereceipt platform terminal …`.

use chrono::{DateTime, Duration, Utc};
use ereceipt_core::contract::{ChainHead, ResumePoint};
use ereceipt_core::enrolment::{self, EnrolmentToken};
use ereceipt_core::identity::{CertError, PosCertificate, TerminalMode};
use ereceipt_core::model::{Location, MerchantId, MerchantName, TerminalId, TerminalInfo};
use serde::{Deserialize, Serialize};

use crate::infra::keys::{token_hash, PlatformKeys};
use crate::infra::store::{CertificateRow, NewTerminal, NewToken, Store, StoreError, TerminalRow};

/// Why a terminal operation was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TerminalError {
    /// A registration field is not valid.
    #[error("{field}: {detail}")]
    Invalid { field: &'static str, detail: String },
    /// The store refused (unknown terminal, duplicate id, used or expired token…).
    #[error("{0}")]
    Store(StoreError),
    /// The CSR or a certificate could not be processed.
    #[error("{0}")]
    Certificate(CertError),
    /// The terminal was revoked; it cannot enrol or renew.
    #[error("terminal {0} is revoked")]
    Revoked(String),
    /// The certificate presented for a renewal was not issued by this platform (the CA's key
    /// signed it elsewhere): only a certificate on record renews.
    #[error("certificate {0} was not issued by this platform")]
    UnknownCertificate(String),
    /// No randomness for a token.
    #[error("no randomness available")]
    Random,
    /// The terminal id has used every batch number (999999 enrolments or serial wraps).
    #[error("terminal {0} has no batch number left; register a new terminal id")]
    BatchesExhausted(String),
}

impl From<StoreError> for TerminalError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::TerminalRevoked(id) => Self::Revoked(id),
            e => Self::Store(e),
        }
    }
}
impl From<CertError> for TerminalError {
    fn from(e: CertError) -> Self {
        Self::Certificate(e)
    }
}

/// A terminal as a merchant administrator registers it.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Registration {
    pub terminal_id: String,
    pub merchant_id: String,
    pub merchant_name: String,
    pub location: String,
    /// `production` (the default) or `test`: a test terminal may read clear test-card tracks
    /// and sell with the simulated acquirer; production ones may not (ingest refuses such
    /// receipts). Written into every certificate of the terminal; it cannot be changed later.
    #[serde(default)]
    pub mode: TerminalMode,
}

impl Registration {
    /// Parses every field with the receipt model's rules (so a certificate can always be made).
    pub fn info(&self) -> Result<TerminalInfo, TerminalError> {
        let inv = |field: &'static str| {
            move |e: ereceipt_core::model::ModelError| TerminalError::Invalid { field, detail: e.to_string() }
        };
        Ok(TerminalInfo {
            terminal_id: self.terminal_id.parse::<TerminalId>().map_err(inv("terminal_id"))?,
            merchant_id: self.merchant_id.parse::<MerchantId>().map_err(inv("merchant_id"))?,
            merchant_name: self.merchant_name.parse::<MerchantName>().map_err(inv("merchant_name"))?,
            location: self.location.parse::<Location>().map_err(inv("location"))?,
        })
    }
}

/// A token handed to the installer, with its expiry.
#[derive(Clone, Debug, Serialize)]
pub struct IssuedToken {
    pub terminal_id: String,
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

fn fresh_token(keys: &PlatformKeys) -> Result<EnrolmentToken, TerminalError> {
    let secret = crate::infra::keys::random_secret().ok_or(TerminalError::Random)?;
    Ok(EnrolmentToken { secret, ca_fingerprint: keys.ca_fingerprint() })
}

/// Registers a terminal and returns its single-use enrolment token.
#[tracing::instrument(skip_all, fields(terminal = %reg.terminal_id))]
pub async fn register(
    store: &Store,
    keys: &PlatformKeys,
    reg: &Registration,
    ttl_hours: u32,
    now: DateTime<Utc>,
) -> Result<IssuedToken, TerminalError> {
    let info = reg.info()?;
    let token = fresh_token(keys)?;
    let expires_at = now + Duration::hours(i64::from(ttl_hours));
    let terminal = NewTerminal {
        terminal_id: info.terminal_id.to_string(),
        merchant_id: info.merchant_id.to_string(),
        merchant_name: info.merchant_name.to_string(),
        location: info.location.to_string(),
        mode: reg.mode,
    };
    let new_token = NewToken {
        terminal_id: terminal.terminal_id.clone(),
        token_hash: token_hash(&token.secret),
        expires_at: expires_at.timestamp_millis(),
    };
    store.add_terminal(&terminal, &new_token, now.timestamp_millis()).await?;
    Ok(IssuedToken { terminal_id: terminal.terminal_id, token: token.to_string(), expires_at })
}

/// A fresh token for a registered terminal (a lost or expired one).
pub async fn reissue_token(
    store: &Store,
    keys: &PlatformKeys,
    terminal_id: &str,
    ttl_hours: u32,
    now: DateTime<Utc>,
) -> Result<IssuedToken, TerminalError> {
    let row = store.terminal(terminal_id).await?.ok_or_else(|| StoreError::UnknownTerminal(terminal_id.into()))?;
    if row.revoked_at.is_some() {
        return Err(TerminalError::Revoked(terminal_id.into()));
    }
    let token = fresh_token(keys)?;
    let expires_at = now + Duration::hours(i64::from(ttl_hours));
    store
        .issue_token(
            &NewToken {
                terminal_id: terminal_id.into(),
                token_hash: token_hash(&token.secret),
                expires_at: expires_at.timestamp_millis(),
            },
            now.timestamp_millis(),
        )
        .await?;
    Ok(IssuedToken { terminal_id: terminal_id.into(), token: token.to_string(), expires_at })
}

fn info_of(row: &TerminalRow) -> Result<TerminalInfo, TerminalError> {
    Registration {
        terminal_id: row.terminal_id.clone(),
        merchant_id: row.merchant_id.clone(),
        merchant_name: row.merchant_name.clone(),
        location: row.location.clone(),
        mode: row.mode,
    }
    .info()
}

/// The highest batch a receipt id can carry (six digits).
const MAX_BATCH: i64 = 999_999;

/// A batch no earlier enrolment of the terminal and none of its stored receipts used.
async fn new_batch(store: &Store, terminal_id: &str) -> Result<i64, TerminalError> {
    let batch = store.allocate_batch(terminal_id).await?;
    if batch > MAX_BATCH {
        return Err(TerminalError::BatchesExhausted(terminal_id.to_owned()));
    }
    Ok(batch)
}

/// Certifies the CSR's key for `row`'s terminal, in the enrolment of `batch`.
async fn issue(
    store: &Store,
    keys: &PlatformKeys,
    row: &TerminalRow,
    csr_der: &[u8],
    validity_days: u32,
    now: DateTime<Utc>,
    batch: i64,
) -> Result<Vec<u8>, TerminalError> {
    // The mode is the registration's, never the CSR's: the terminal cannot choose it.
    let der = enrolment::sign_csr(&keys.ca, csr_der, &info_of(row)?, row.mode, now, validity_days)?;
    let cert = PosCertificate::parse(&der)?;
    store
        .record_certificate(
            &CertificateRow {
                serial_hex: cert.serial.clone(),
                terminal_id: row.terminal_id.clone(),
                fingerprint: cert.fingerprint(),
                not_before: cert.not_before * 1000,
                not_after: cert.not_after * 1000,
                issued_at: now.timestamp_millis(),
                revoked_at: None,
            },
            batch,
        )
        .await?;
    Ok(der)
}

/// First enrolment (a new phone, or one that lost its data): spends the token and certifies the
/// CSR's key for the token's terminal, in a batch of its own so that its receipt ids cannot
/// collide with any the platform holds.
#[tracing::instrument(skip_all, fields(terminal = tracing::field::Empty))]
pub async fn enrol(
    store: &Store,
    keys: &PlatformKeys,
    token_secret: &str,
    csr_der: &[u8],
    validity_days: u32,
    now: DateTime<Utc>,
) -> Result<Vec<u8>, TerminalError> {
    // Check the CSR before spending the token, so a broken request does not burn it.
    enrolment::check_csr(csr_der)?;
    let row = store.consume_token(&token_hash(token_secret), now.timestamp_millis()).await?;
    // The token names the terminal only once spent; the secret itself never enters the span.
    tracing::Span::current().record("terminal", row.terminal_id.as_str());
    if row.revoked_at.is_some() {
        return Err(TerminalError::Revoked(row.terminal_id));
    }
    let batch = new_batch(store, &row.terminal_id).await?;
    issue(store, keys, &row, csr_der, validity_days, now, batch).await
}

/// A renewal that passed its checks and is waiting to be issued: see [`check_renewal`].
#[derive(Debug)]
pub struct Renewal {
    row: TerminalRow,
    batch: i64,
}

/// The checks of a renewal, before anything is issued: the terminal is registered, the current
/// certificate is on record, and neither is revoked. [`reenrol`] is this followed by
/// [`Renewal::issue`]; they are two steps so that a test can revoke in between. A revocation
/// that lands between them still wins: the certificate is recorded only while the terminal is
/// not revoked ([`Store::record_certificate`]).
pub async fn check_renewal(store: &Store, current: &PosCertificate) -> Result<Renewal, TerminalError> {
    let tid = current.terminal.terminal_id.to_string();
    let row = store.terminal(&tid).await?.ok_or_else(|| StoreError::UnknownTerminal(tid.clone()))?;
    let Some(cert) = store.certificate(&current.serial).await? else {
        return Err(TerminalError::UnknownCertificate(current.serial.clone()));
    };
    if row.revoked_at.is_some() || cert.revoked_at.is_some() {
        return Err(TerminalError::Revoked(tid));
    }
    let batch = store
        .certificate_batch(&current.serial)
        .await?
        .ok_or_else(|| StoreError::CorruptRow(format!("certificate {} has no batch", current.serial)))?;
    Ok(Renewal { row, batch })
}

impl Renewal {
    /// Certifies the CSR's key in the current certificate's enrolment (batch).
    pub async fn issue(
        self,
        store: &Store,
        keys: &PlatformKeys,
        csr_der: &[u8],
        validity_days: u32,
        now: DateTime<Utc>,
    ) -> Result<Vec<u8>, TerminalError> {
        issue(store, keys, &self.row, csr_der, validity_days, now, self.batch).await
    }
}

/// Renewal: the current (valid, unrevoked, issued here) certificate authenticates a new CSR.
/// The same device goes on with its outbox, so the new certificate keeps the current one's batch.
#[tracing::instrument(skip_all, fields(terminal = %current.terminal.terminal_id))]
pub async fn reenrol(
    store: &Store,
    keys: &PlatformKeys,
    current: &PosCertificate,
    csr_der: &[u8],
    validity_days: u32,
    now: DateTime<Utc>,
) -> Result<Vec<u8>, TerminalError> {
    check_renewal(store, current).await?.issue(store, keys, csr_der, validity_days, now).await
}

/// Where the receipts of the enrolment `client` belongs to continue: its batch (or the later one
/// its receipts moved on to after serial 999999) after the highest serial stored there, and the
/// head of the terminal's chain. The caller has checked the certificate (issued, unrevoked).
#[tracing::instrument(skip_all, fields(terminal = %client.terminal.terminal_id))]
pub async fn resume(store: &Store, client: &PosCertificate) -> Result<ResumePoint, TerminalError> {
    let tid = client.terminal.terminal_id.to_string();
    let batch = store
        .certificate_batch(&client.serial)
        .await?
        .ok_or_else(|| StoreError::CorruptRow(format!("certificate {} has no record", client.serial)))?;
    let row = store.resume_of(&tid, batch).await?;
    let number = |v: i64, what: &str| {
        u32::try_from(v).map_err(|_| TerminalError::Store(StoreError::CorruptRow(format!("{what} {v} of {tid}"))))
    };
    let head = match row.head {
        Some((sequence, hash)) => Some(ChainHead::new(
            u64::try_from(sequence)
                .map_err(|_| TerminalError::Store(StoreError::CorruptRow(format!("sequence {sequence} of {tid}"))))?,
            &hash,
        )),
        None => None,
    };
    Ok(ResumePoint { batch: number(row.batch, "batch")?, last_serial: number(row.last_serial, "serial")?, head })
}

/// Revokes a terminal and all its certificates.
#[tracing::instrument(skip_all, fields(terminal = terminal_id))]
pub async fn revoke(store: &Store, terminal_id: &str, reason: &str, now: DateTime<Utc>) -> Result<u64, TerminalError> {
    Ok(store.revoke_terminal(terminal_id, reason, now.timestamp_millis()).await?)
}

/// The certificates revoked now, as the CRL lists them.
pub(crate) async fn revoked_for_crl(
    store: &Store,
    now: DateTime<Utc>,
) -> Result<Vec<enrolment::Revoked>, TerminalError> {
    Ok(store
        .revoked_certificates()
        .await?
        .into_iter()
        .map(|c| enrolment::Revoked {
            serial_hex: c.serial_hex,
            // CRL times are whole seconds; rounding up keeps a receipt the platform stored in
            // the same second before the revocation authentic offline too. Nothing is stored
            // in between: ingest refuses a revoked certificate from the instant it is revoked.
            revoked_at: DateTime::from_timestamp_millis(
                c.revoked_at.unwrap_or(0).saturating_add(999).div_euclid(1000) * 1000,
            )
            .unwrap_or(now),
        })
        .collect())
}
