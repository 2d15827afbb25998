//! The `[platform.delivery.sgip]` settings: China Unicom's SMG, the SP's login and node number,
//! the fee fields of every submit, the link's limits and idle Unbind, and the listener where the
//! SMG brings status reports with its own login; checked at load.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::settings::GatewaySettings;
use crate::infra::delivery::smpp::SmppTls;
use crate::infra::secret::Secret;
use crate::infra::setting;

/// How to reach China Unicom's SMG by SGIP 1.2, what every submit carries, and where its
/// status reports come back.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SgipSettings {
    pub host: String,
    pub port: u16,
    /// TLS from the first byte (the default) or plain TCP (`"none"`), as for SMGP: plain only
    /// to a loopback host (a local stunnel or the carrier's VPN endpoint) unless
    /// `insecure_plaintext`.
    #[serde(default)]
    pub tls: SmppTls,
    #[serde(default, deserialize_with = "setting::path")]
    pub extra_ca_pem: Option<PathBuf>,
    #[serde(default, deserialize_with = "setting::text")]
    pub server_name: Option<String>,
    #[serde(default)]
    pub insecure_plaintext: bool,
    /// Bind's Login Name (16 characters at most), given by the carrier.
    pub login: String,
    /// Bind's Login Password (16 characters at most), sent as it is: SGIP has no authenticator.
    pub password: Secret,
    /// The SP's node number (3AAAAQQQQQ: "3", the area code, the corporation code), the first
    /// word of every sequence number and so of every message id.
    pub node_id: u32,
    /// SPNumber: the SP access number plus an extension, shown on the handset.
    pub sp_number: String,
    /// CorpId: the SP's corporation code (5 digits).
    pub corp_id: String,
    /// ServiceType: the service code filed with the carrier (10 characters at most).
    pub service_type: String,
    /// FeeType (§5.3): 0 no information fee, 1 free (the default), 2 per message, 3 monthly, 4
    /// charged by the SP.
    #[serde(default = "free")]
    pub fee_type: u8,
    /// FeeValue in fen.
    #[serde(default = "zero")]
    pub fee_value: String,
    /// GivenValue in fen.
    #[serde(default = "zero")]
    pub given_value: String,
    /// ChargeNumber: 21 zeros (the default) charge the SP, empty the recipient, or "86…".
    #[serde(default = "sp_pays")]
    pub charge_number: String,
    /// ReportFlag 1: a status report of every part, brought to `report_listen`; false: 2, none.
    #[serde(default = "yes")]
    pub need_report: bool,
    /// Where the SMG connects to bring status reports (the carrier's firewall must reach it).
    #[serde(default)]
    pub report_listen: Option<SocketAddr>,
    /// The Login Name the SMG binds to `report_listen` with.
    #[serde(default, deserialize_with = "setting::text")]
    pub report_login: Option<String>,
    /// The Login Password the SMG binds with.
    #[serde(default)]
    pub report_password: Option<Secret>,
    /// Submits waiting for their answer at once on the one connection.
    #[serde(default = "window")]
    pub window: usize,
    /// Submits per second at most (the contracted rate); 0: no pacing.
    #[serde(default = "per_second")]
    pub submits_per_second: u32,
    /// Seconds to wait for connect, Bind and each answer.
    #[serde(default = "timeout")]
    pub timeout_secs: u64,
    /// Idle seconds before the client says Unbind and closes (SGIP has no Active_Test; SMGs
    /// close idle links themselves); the next send binds again. 0 keeps the link.
    #[serde(default = "idle_unbind")]
    pub idle_unbind_secs: u64,
}

fn free() -> u8 {
    1
}
fn zero() -> String {
    "0".into()
}
fn sp_pays() -> String {
    "0".repeat(21)
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
fn idle_unbind() -> u64 {
    30
}

impl SgipSettings {
    /// The link settings the shared gateway client takes (its SMGP/CMPP-only fields at their
    /// defaults).
    pub(super) fn link(&self) -> GatewaySettings {
        GatewaySettings {
            host: self.host.clone(),
            port: self.port,
            tls: self.tls,
            extra_ca_pem: self.extra_ca_pem.clone(),
            server_name: self.server_name.clone(),
            insecure_plaintext: self.insecure_plaintext,
            account: self.login.clone(),
            secret: self.password.clone(),
            service_id: self.service_type.clone(),
            source_number: self.sp_number.clone(),
            fee_type: None,
            fee_code: self.fee_value.clone(),
            fixed_fee: "0".into(),
            fee_user_type: 2,
            charge_number: self.charge_number.clone(),
            msg_src: None,
            need_report: self.need_report,
            window: self.window,
            submits_per_second: self.submits_per_second,
            timeout_secs: self.timeout_secs,
            active_test_secs: 0,
            version: "3.0".into(),
        }
    }

    /// The login and password the SMG must bind to the listener with.
    pub fn report_credentials(&self) -> Option<(String, String)> {
        Some((self.report_login.clone()?, self.report_password.as_ref()?.0.clone()))
    }

    /// Refuses what cannot go in a Bind or Submit, plain TCP away from loopback without the
    /// opt-out, and reports wanted with no listener to take them. Reads no file.
    pub fn check(&self) -> Result<(), String> {
        let digits = |s: &str, most: usize| !s.is_empty() && s.len() <= most && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(&self.sp_number, 21) {
            return Err(format!("sp_number = {:?}: 1 to 21 digits", self.sp_number));
        }
        if self.service_type.len() > 10 || !self.service_type.is_ascii() {
            return Err(format!("service_type = {:?}: at most 10 ASCII characters", self.service_type));
        }
        if !digits(&self.corp_id, 5) {
            return Err(format!("corp_id = {:?}: 1 to 5 digits", self.corp_id));
        }
        if self.node_id == 0 {
            return Err("node_id = 0: the SP's node number from the carrier (3AAAAQQQQQ)".into());
        }
        if self.fee_type > 4 {
            return Err(format!("fee_type = {} is not 0 to 4", self.fee_type));
        }
        for (key, value) in [("fee_value", &self.fee_value), ("given_value", &self.given_value)] {
            if !digits(value, 6) {
                return Err(format!("{key} = {value:?}: 1 to 6 digits (fen)"));
            }
        }
        if !self.charge_number.is_empty() && !digits(&self.charge_number, 21) {
            return Err(format!("charge_number = {:?}: empty or up to 21 digits", self.charge_number));
        }
        let fits = |s: &str| s.len() <= 16 && s.is_ascii();
        if !fits(&self.login) || !fits(&self.password.0) {
            return Err("login and password: at most 16 ASCII characters each".into());
        }
        if self.need_report {
            let Some((login, password)) = self.report_credentials().filter(|_| self.report_listen.is_some()) else {
                return Err("need_report = true: set report_listen, report_login and report_password \
                            (the SMG brings reports to a listener of ours), or need_report = false"
                    .into());
            };
            if !fits(&login) || !fits(&password) || password.is_empty() {
                return Err("report_login and report_password: 1 to 16 ASCII characters each".into());
            }
        }
        self.link().check()
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Settings for an SMG on loopback with the test gateway's logins, reports to `listen`.
    pub fn loopback(port: u16, listen: Option<SocketAddr>) -> SgipSettings {
        SgipSettings {
            host: "127.0.0.1".into(),
            port,
            tls: SmppTls::None,
            extra_ca_pem: None,
            server_name: None,
            insecure_plaintext: false,
            login: "ereceipt".into(),
            password: Secret("secret".into()),
            node_id: 3_010_012_345,
            sp_number: "106550001234".into(),
            corp_id: "12345".into(),
            service_type: "ERECEIPT".into(),
            fee_type: 1,
            fee_value: "0".into(),
            given_value: "0".into(),
            charge_number: sp_pays(),
            need_report: listen.is_some(),
            report_listen: listen,
            report_login: Some("smg".into()),
            report_password: Some(Secret("smg-secret".into())),
            window: 16,
            submits_per_second: 0,
            timeout_secs: 5,
            idle_unbind_secs: 30,
        }
    }

    #[test]
    fn reports_without_a_listener_and_odd_values_are_refused() {
        let s = loopback(1, Some("127.0.0.1:0".parse().unwrap()));
        assert!(s.check().is_ok());
        let nowhere = SgipSettings { report_listen: None, ..s.clone() };
        assert!(nowhere.check().unwrap_err().contains("report_listen"));
        let open = SgipSettings { report_password: None, ..s.clone() };
        assert!(open.check().unwrap_err().contains("report_password"));
        let corp = SgipSettings { corp_id: "123456".into(), ..s.clone() };
        assert!(corp.check().unwrap_err().contains("corp_id"));
        let node = SgipSettings { node_id: 0, ..s.clone() };
        assert!(node.check().unwrap_err().contains("node_id"));
        let far = SgipSettings { host: "smg.example.cn".into(), ..s.clone() };
        assert!(far.check().unwrap_err().contains("insecure_plaintext"));
        let debug = format!("{s:?}");
        assert!(!debug.contains("smg-secret") && !debug.contains("\"secret\""), "{debug}");
    }
}
