//! The `[platform.delivery.smpp]` settings: where the SMSC is, as whom to bind, and how the link
//! is protected (TLS unless the SMSC is on loopback or an operator opts out by name).

use std::path::PathBuf;

use rustls::pki_types::ServerName;

use super::super::tls;
use crate::infra::secret::Secret;
use crate::infra::setting;

/// How the link to the SMSC is protected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmppTls {
    /// TLS from the first byte (SMPP over TLS), the SMSC's certificate checked against the
    /// built-in web PKI roots and `extra_ca_pem`, for `server_name` (else `host`).
    #[default]
    Required,
    /// Plain TCP: only to an SMSC on loopback (a local TLS tunnel such as stunnel), unless
    /// `insecure_plaintext` says otherwise.
    None,
}

/// How to reach the SMSC.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmppSettings {
    pub host: String,
    pub port: u16,
    /// Account name at the SMSC (15 characters at most).
    pub system_id: String,
    /// 8 characters at most (SMPP 3.4).
    pub password: Secret,
    /// Often empty; some SMSCs route by it.
    pub system_type: String,
    /// Sender shown on the handset: an alphanumeric id ("EReceipt"), a short code or a "+" number.
    pub source_addr: String,
    /// Idle seconds before an enquire_link checks the link; 0 sends none.
    pub enquire_link_secs: u64,
    /// Seconds to wait for connect, bind and each response.
    pub timeout_secs: u64,
    /// Ask the SMSC for a delivery receipt of every segment.
    pub registered_delivery: bool,
    /// TLS (the default) or plain TCP; see [`SmppTls`].
    #[serde(default)]
    pub tls: SmppTls,
    /// A PEM file of CA certificates trusted besides the built-in roots (an operator's private
    /// CA, the tests' CA).
    #[serde(default, deserialize_with = "setting::path")]
    pub extra_ca_pem: Option<PathBuf>,
    /// The name the SMSC's certificate must carry, when it is not `host` (an SMSC reached by
    /// an address its certificate does not name).
    #[serde(default, deserialize_with = "setting::text")]
    pub server_name: Option<String>,
    /// Allows `tls = "none"` to a host that is not loopback. The bind password, every login
    /// code and every receipt link then cross the network readable by anyone on the path.
    #[serde(default)]
    pub insecure_plaintext: bool,
}

/// What a plain SMPP link exposes, for the refusal.
const EXPOSED: &str = "the bind password, login codes and receipt links";

impl SmppSettings {
    /// Refuses plain TCP away from loopback without the opt-out, and TLS settings that would be
    /// ignored. Reads no file: the CA file is read by [`super::SmsSender::new`].
    pub fn check(&self) -> Result<(), String> {
        tls::check_link(
            self.tls == SmppTls::Required,
            &self.host,
            self.insecure_plaintext,
            self.extra_ca_pem.is_some() || self.server_name.is_some(),
            EXPOSED,
        )?;
        if self.tls == SmppTls::Required {
            server_name(self)?;
        }
        Ok(())
    }
}

/// The name the SMSC's certificate is checked against.
pub(super) fn server_name(s: &SmppSettings) -> Result<ServerName<'static>, String> {
    let name = s.server_name.as_deref().unwrap_or(&s.host);
    let bare = name.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(bare.to_string()).map_err(|e| format!("server_name {name:?} is no host name or address: {e}"))
}

/// Why an [`SmsSender`] could not be built from its settings.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SmppSetupError {
    /// A combination of settings that cannot work or would be unsafe (plain TCP away from
    /// loopback, TLS settings without TLS).
    #[error("smpp settings: {0}")]
    Invalid(String),
    /// The TLS client could not be set up (the CA file is unreadable or holds no certificate).
    #[error("smpp TLS: {0}")]
    Tls(String),
}
