//! The `[platform.delivery.smgp]` and `[platform.delivery.cmpp]` settings: where the carrier's
//! gateway is, the SP account, the service and fee fields of every submit, and the link's limits
//! (window, submits per second, timeouts), checked at load.

use std::path::PathBuf;

use crate::infra::delivery::smpp::SmppTls;
use crate::infra::delivery::tls;
use crate::infra::secret::Secret;
use crate::infra::setting;

/// How to reach one carrier gateway (SMGP for China Telecom, CMPP for China Mobile) and what
/// every submit carries.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySettings {
    pub host: String,
    pub port: u16,
    /// TLS from the first byte (the default) or plain TCP (`"none"`): plain only to a loopback
    /// host (a local stunnel or the carrier's VPN endpoint) unless `insecure_plaintext`, as for SMPP.
    #[serde(default)]
    pub tls: SmppTls,
    /// A PEM file of CA certificates trusted besides the built-in roots.
    #[serde(default, deserialize_with = "setting::path")]
    pub extra_ca_pem: Option<PathBuf>,
    /// The name the gateway's certificate must carry, when it is not `host`.
    #[serde(default, deserialize_with = "setting::text")]
    pub server_name: Option<String>,
    /// Allows `tls = "none"` to a host that is not loopback.
    #[serde(default)]
    pub insecure_plaintext: bool,
    /// The SP's login: SMGP ClientID (8 characters at most), CMPP Source_Addr (6, the SP code).
    pub account: String,
    /// The shared secret of the login authenticator.
    pub secret: Secret,
    /// The service code filed with the carrier (10 characters at most).
    pub service_id: String,
    /// The number shown on the handset: the SP access number plus an extension ("106900001234").
    pub source_number: String,
    /// FeeType; not set: free ("00" for SMGP, "01" for CMPP).
    #[serde(default, deserialize_with = "setting::text")]
    pub fee_type: Option<String>,
    /// FeeCode in fen.
    #[serde(default = "zero")]
    pub fee_code: String,
    /// SMGP FixedFee in fen (monthly fee or cap).
    #[serde(default = "zero")]
    pub fixed_fee: String,
    /// CMPP Fee_UserType: 0 the recipient pays, 1 the sender, 2 the SP (the default), 3 the
    /// number in `charge_number`.
    #[serde(default = "sp_pays")]
    pub fee_user_type: u8,
    /// SMGP ChargeTermID / CMPP Fee_terminal_Id; empty charges as `fee_user_type` says.
    #[serde(default)]
    pub charge_number: String,
    /// CMPP Msg_src (the SP's enterprise code); not set: `account`.
    #[serde(default, deserialize_with = "setting::text")]
    pub msg_src: Option<String>,
    /// Ask for a status report of every part (delivery receipts mark the delivery delivered).
    #[serde(default = "yes")]
    pub need_report: bool,
    /// Submits waiting for their answer at once on the one connection.
    #[serde(default = "window")]
    pub window: usize,
    /// Submits per second at most (the rate the carrier's contract allows); 0: no pacing.
    #[serde(default = "per_second")]
    pub submits_per_second: u32,
    /// Seconds to wait for connect, login and each answer.
    #[serde(default = "timeout")]
    pub timeout_secs: u64,
    /// Idle seconds before an Active_Test checks the link; 0 sends none.
    #[serde(default = "active_test")]
    pub active_test_secs: u64,
    /// CMPP protocol version: "3.0" (the only one implemented); SMGP: "3.0".
    #[serde(default = "version")]
    pub version: String,
}

fn zero() -> String {
    "0".into()
}
fn sp_pays() -> u8 {
    2
}
fn yes() -> bool {
    true
}
fn window() -> usize {
    16
}
fn per_second() -> u32 {
    100
}
fn timeout() -> u64 {
    10
}
fn active_test() -> u64 {
    30
}
fn version() -> String {
    "3.0".into()
}

/// What a plain gateway link exposes, for the refusal.
const EXPOSED: &str = "the login authenticator, login codes and receipt links";

impl GatewaySettings {
    /// Refuses plain TCP away from loopback without the opt-out, settings that cannot go in a
    /// submit, and a version this client does not speak. Reads no file.
    pub fn check(&self) -> Result<(), String> {
        tls::check_link(
            self.tls == SmppTls::Required,
            &self.host,
            self.insecure_plaintext,
            self.extra_ca_pem.is_some() || self.server_name.is_some(),
            EXPOSED,
        )?;
        if self.version != "3.0" {
            return Err(format!("version = {:?}: only \"3.0\" is implemented", self.version));
        }
        if self.window == 0 || self.window > 1024 {
            return Err(format!("window = {} is not between 1 and 1024", self.window));
        }
        if self.timeout_secs == 0 {
            return Err("timeout_secs = 0: at least 1".into());
        }
        if self.fee_user_type > 3 {
            return Err(format!("fee_user_type = {} is not 0 to 3", self.fee_user_type));
        }
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(&self.source_number) || self.source_number.len() > 21 {
            return Err(format!("source_number = {:?}: 1 to 21 digits", self.source_number));
        }
        if self.service_id.len() > 10 || !self.service_id.is_ascii() {
            return Err(format!("service_id = {:?}: at most 10 ASCII characters", self.service_id));
        }
        Ok(())
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Settings for a gateway on loopback, as the tests use.
    pub fn loopback(port: u16, account: &str, secret: &str) -> GatewaySettings {
        GatewaySettings {
            host: "127.0.0.1".into(),
            port,
            tls: SmppTls::None,
            extra_ca_pem: None,
            server_name: None,
            insecure_plaintext: false,
            account: account.into(),
            secret: Secret(secret.into()),
            service_id: "ERECEIPT".into(),
            source_number: "106900001234".into(),
            fee_type: None,
            fee_code: "0".into(),
            fixed_fee: "0".into(),
            fee_user_type: 2,
            charge_number: String::new(),
            msg_src: None,
            need_report: true,
            window: 16,
            submits_per_second: 0,
            timeout_secs: 5,
            active_test_secs: 30,
            version: "3.0".into(),
        }
    }

    #[test]
    fn plain_tcp_away_from_loopback_and_odd_values_are_refused() {
        let s = loopback(1, "a", "b");
        assert!(s.check().is_ok());
        let far = GatewaySettings { host: "smgw.example.cn".into(), ..s.clone() };
        assert!(far.check().unwrap_err().contains("insecure_plaintext"));
        let v2 = GatewaySettings { version: "2.0".into(), ..s.clone() };
        assert!(v2.check().unwrap_err().contains("only \"3.0\""));
        let none = GatewaySettings { window: 0, ..s.clone() };
        assert!(none.check().unwrap_err().contains("window"));
        let letters = GatewaySettings { source_number: "ERECEIPT".into(), ..s.clone() };
        assert!(letters.check().unwrap_err().contains("source_number"));
        assert!(format!("{s:?}").contains("<redacted>") && !format!("{s:?}").contains("secret: Secret(\"b\")"));
    }
}
