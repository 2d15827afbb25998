//! The platform's typed settings: defaults, then `DATA_DIR/platform.toml`, then the environment
//! (`EReceipt__PLATFORM__LISTEN=…`), environment last; command-line flags override all three.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use chrono::FixedOffset;
use serde::Deserialize;

use crate::infra::setting;

/// Why settings could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// The file or an environment variable has a value of the wrong shape; names the key.
    #[error("settings: {0}")]
    Malformed(#[source] config::ConfigError),
    /// Values that are each well formed but do not fit together.
    #[error("settings: {0}")]
    Invalid(String),
}

pub use crate::infra::listener::ListenerLimits;
pub use crate::infra::secret::Secret;
pub use crate::services::delivery::DeliverySettings;
pub use crate::services::retention::RetentionSettings;

/// Everything `platform serve` can be told.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Address of the HTTPS listener.
    pub listen: SocketAddr,
    /// Where the CA, keys and the SQLite database live.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; SQLite at `DATA_DIR/platform.db` when not set (see
    /// [`Settings::database_url`]).
    #[serde(default, deserialize_with = "setting::text")]
    pub database_url: Option<String>,
    /// Host names and IP addresses the server certificate names (used when it is first made).
    pub server_names: Vec<String>,
    /// How long an enrolment token stays usable.
    pub enrolment_token_hours: u32,
    /// Validity of the terminal certificates the platform issues.
    pub certificate_days: u32,
    /// Largest upload body accepted, bytes.
    pub max_upload_bytes: usize,
    /// The admin listener: the admin API, for operators with client certificates only (mTLS).
    /// Loopback by default; port 0 picks a free one, printed and logged at start.
    pub admin_listen: SocketAddr,
    /// Bearer token of the query API (integrations); not set: the one in `DATA_DIR/admin.token`.
    /// It no longer opens the admin API, which wants an operator certificate.
    #[serde(default, deserialize_with = "setting::secret")]
    pub admin_token: Option<Secret>,
    /// Log as JSON lines (true) or human-readable text.
    pub json_logs: bool,
    /// UTC offset (`+08:00`) in which the portal reads the dates of a search form.
    #[serde(deserialize_with = "setting::utc_offset")]
    pub portal_utc_offset: FixedOffset,
    /// A second HTTPS listener for browsers only (portal pages, pull login, verification),
    /// which never asks for a client certificate; not set: the portal is on `listen` only.
    #[serde(default)]
    pub portal_listen: Option<SocketAddr>,
    /// PEM certificate chain and PKCS#8 key the portal listener presents (a certificate
    /// browsers trust); not set: the platform's own server certificate. Both or neither.
    #[serde(default, deserialize_with = "setting::path")]
    pub portal_cert: Option<PathBuf>,
    #[serde(default, deserialize_with = "setting::path")]
    pub portal_key: Option<PathBuf>,
    /// Peers (load balancers) whose `X-Forwarded-For` names the client for per-network limits;
    /// empty (the default): the TCP peer is the client.
    #[serde(default)]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Argon2id password checks (staff sign-in) at once, over all requests; at least 1.
    pub argon2_concurrency: usize,
    /// Connection and time limits of each listener.
    pub listener: ListenerLimits,
    /// Delivery of receipts to customers.
    pub delivery: DeliverySettings,
    /// How long receipts, login codes and refusals are kept.
    pub retention: RetentionSettings,
}

#[derive(Deserialize)]
struct Root {
    platform: Settings,
}

/// The example configuration printed by `ereceipt config example`; also the source of defaults.
pub const EXAMPLE: &str = r#"# ereceipt platform settings: DATA_DIR/platform.toml.
# Every key can also be set in the environment, which wins over this file:
#   EReceipt__PLATFORM__LISTEN=0.0.0.0:8443
[platform]
# HTTPS listener (TLS 1.2/1.3 with optional client certificates; uploads require one).
listen = "127.0.0.1:8443"
# Filled in from --data-dir.
data_dir = "."
# Not set: SQLite at DATA_DIR/platform.db. For several processes, one PostgreSQL:
# database_url = "postgres://ereceipt@db.example/ereceipt"
# Names in the server certificate, made on first start.
server_names = ["localhost", "127.0.0.1"]
enrolment_token_hours = 24
certificate_days = 365
max_upload_bytes = 1048576
# The admin API's own listener. Operators present a client certificate made on this host with
# `ereceipt platform operator add NAME --out DIR`; terminals' certificates are refused there.
# Keep it on loopback or an admin network; port 0 picks a free port (printed at start).
admin_listen = "127.0.0.1:0"
# Bearer token of the query API (acquirer and merchant integrations on `listen`). Not set: read
# DATA_DIR/admin.token (created on first start, mode 0600). It does not open the admin API.
# admin_token = "…"
json_logs = true
# The portal's search forms take dates as days in this UTC offset (receipts themselves show the
# terminal's own offset).
portal_utc_offset = "+08:00"
# Browsers are better served on a listener of their own: the main one asks every client for a
# certificate (terminals need that), which makes desktop browsers with certificates installed
# prompt their user. Not set: the portal is served on `listen` only (it always is there).
# portal_listen = "0.0.0.0:443"
# The certificate browsers see there, e.g. from a public CA (PEM chain, PKCS#8 key files).
# Not set: the platform's own server certificate, which only its private CA vouches for.
# portal_cert = "/etc/ereceipt/portal.pem"
# portal_key = "/etc/ereceipt/portal.key"
# Behind a load balancer, its addresses: only from these peers is X-Forwarded-For believed when
# counting sign-ins, code requests and verifications per client network. Not set: none.
# trusted_proxies = ["10.0.0.2"]
# Staff password checks (Argon2id, 19 MiB each) running at once; the rest wait their turn.
argon2_concurrency = 4

[platform.listener]
# Each listener (listen, portal_listen) keeps at most this many connections open (each is a
# file descriptor and some memory). When full, a new connection closes the open one that has
# waited longest on its client (TLS handshake, headers, a slow body, idle keep-alive), never one
# whose request is being answered: slow clients cannot lock terminals or browsers out.
max_connections = 1024
# Of those, what one client (an IPv4 address or an IPv6 /64) may hold; beyond it its new
# connections are closed at once, before TLS, so one host cannot push everyone else out.
# trusted_proxies are not counted. Terminals behind one NAT share their address: raise it there.
max_connections_per_client = 256
# Every request is answered within this, or 408.
request_timeout_secs = 60
# A request body may take body_grace_secs, plus one second per min_body_bytes_per_sec bytes
# (a 1 MiB upload: 10 + 256 s); slower, 408 and the connection is closed.
body_grace_secs = 10
min_body_bytes_per_sec = 4096

[platform.retention]
# Receipts, with their deliveries and delivery history, are purged this many days after the sale
# (and after they arrived, whichever is later), unless an acquirer holds them for a dispute.
# 1827 days = 5 years: China's anti-money-laundering rules keep transaction records at least 5
# years; card schemes accept disputes and copy requests up to 540 days (18 months) after the
# sale, the least accepted here.
receipt_days = 1827
# Refused uploads stay in the operator's list this long. (Login codes go after 48 hours and
# ended sessions at once; those are not settings.)
refusal_days = 90
# Minutes between purge runs, and rows deleted per transaction (1..=500).
interval_minutes = 60
batch_size = 200

[platform.delivery]
# With no [platform.delivery.smtp] / .smpp / .mm7 section, that channel writes to this folder
# (email/*.eml, sms.log, mms/*.png + mms.log). Not set: DATA_DIR/outbox.
# outbox_dir = "/var/lib/ereceipt/outbox"
# Links in messages point here (an http or https URL). Not set: https:// and the portal
# listener's address (portal_listen), else the main listener's.
# portal_url = "https://receipts.example.com"
# Days a message's link opens its receipt without a login, from when the receipt was stored;
# after that the link asks for the code login (customers' receipts stay for the retention).
link_days = 90
workers = 2
# A worker's claim on a delivery. After a crash mid-send the delivery is sent again once the
# claim runs out; each attempt is cut off at 3/4 of it, which must exceed every channel's
# timeout_secs. At least 2.
lease_seconds = 120
email_from = "ereceipt <receipts@localhost>"
[platform.delivery.limits]
# Texts to one number (receipt SMS and MMS, login codes, counted together by every process);
# a receipt over a limit is held back and sent when the window ends, a login code is refused.
per_minute = 3
per_hour = 10
per_day = 50
# [platform.delivery.routing]
# The gateway of each carrier's numbers (by the +86 mobile prefix): "smpp" (the default, also
# for international numbers), "smgp", "cmpp" or "sgip". Broadnet not set: China Mobile's.
# telecom = "smgp"
# mobile = "cmpp"
# unicom = "sgip"
# overrides = [{ prefix = "+8613800138000", carrier = "unicom" }]  # ported numbers or blocks
# [platform.delivery.templates.mobile.receipt]
# A filed template replaces the built-in one of that carrier and kind (receipt, login_code;
# carriers telecom, mobile, unicom, default). Parameters: {merchant} {amount} {card} {time}
# {receipt} {code} {link}; {link} only with links = true. China Mobile and Unicom default to
# texts without links, carrying the receipt number and a pull code.
# template_id = "SMS_123456"
# signature = "电子签购单"
# text = "{merchant} {amount} 卡/card {card} {time} 单号/no. {receipt} 提取码/code {code}"
# links = false
# long_digit_runs = false     # true lets runs of more than 8 digits through
# [platform.delivery.smtp]
# host = "smtp.example.com"
# port = 587
# tls = "starttls"            # or "implicit" (port 465)
# username = "receipts"
# password = "…"              # or EReceipt__PLATFORM__DELIVERY__SMTP__PASSWORD
# from = "Receipts <receipts@example.com>"
# timeout_secs = 30
# [platform.delivery.smpp]
# host = "smsc.example.net"
# port = 3550
# tls = "required"            # SMPP over TLS (the default), the certificate checked against the
#                             # built-in roots and extra_ca_pem; "none" is plain TCP, allowed only
#                             # to a loopback host (a local stunnel) unless insecure_plaintext
# extra_ca_pem = "/etc/ereceipt/smsc-ca.pem"  # the SMSC's private CA (PEM file), if it has one
# server_name = "smsc.example.net"  # the name its certificate carries, when it is not host
# insecure_plaintext = false  # true allows tls = "none" to another host: the bind password,
#                             # login codes and receipt links then cross the network in clear
# system_id = "ereceipt"
# password = "…"
# system_type = ""
# source_addr = "10690000"
# enquire_link_secs = 30
# timeout_secs = 10
# registered_delivery = true
# [platform.delivery.mm7]
# url = "https://mmsc.example.net/mm7"  # http:// only to a loopback host, unless insecure_plaintext
# extra_ca_pem = "/etc/ereceipt/mmsc-ca.pem"  # the MMSC's private CA (PEM file), if it has one
# insecure_plaintext = false  # true allows http:// to another host: the Basic credentials, the
#                             # customers' numbers and their receipts then cross it in clear
# vasp_id = "ereceipt"
# vas_id = "receipts"
# sender_address = "10690000"
# username = "vasp01"         # HTTP Basic towards the MMSC, when it asks for it
# password = "…"
# report_username = "mmsc"    # what the MMSC must present when it posts delivery reports to
# report_password = "…"       # POST /api/v1/mm7; unset: that endpoint answers 404
# mm7_version = "6.8.0"
# namespace = "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-4"
# timeout_secs = 30
# [platform.delivery.smgp]     # China Telecom's SMGP 3.0 gateway; [platform.delivery.cmpp] takes
#                             # the same keys for China Mobile's CMPP 3.0 (see docs/delivery.md)
# host = "smgw.example.cn"
# port = 8890
# tls = "required"            # as for SMPP: "none" only to a loopback host unless insecure_plaintext
# account = "ereceipt"        # SMGP ClientID (8 characters); CMPP Source_Addr (the 6-digit SP code)
# secret = "…"                # the login authenticator's shared secret
# service_id = "ERECEIPT"     # the service code filed with the carrier
# source_number = "106900001234"  # SP access number + extension, shown on the handset
# fee_type = "00"             # not set: free ("00" SMGP, "01" CMPP)
# fee_code = "0"
# fixed_fee = "0"             # SMGP only
# fee_user_type = 2           # CMPP only: 2 = the SP pays
# charge_number = ""
# need_report = true
# window = 16                 # submits awaiting their answer at once
# submits_per_second = 100    # the contracted rate; 0 = no pacing
# timeout_secs = 10
# active_test_secs = 30
# [platform.delivery.sgip]     # China Unicom's SMG by SGIP 1.2 (see docs/delivery.md)
# host = "smg.example.cn"
# port = 8801
# tls = "required"            # as for SMPP: "none" only to a loopback host unless insecure_plaintext
# login = "ereceipt"          # Bind's Login Name and Password (16 characters each), sent in clear
# password = "…"              #   inside the link: keep tls or a loopback stunnel/VPN endpoint
# node_id = 3010012345        # the SP's node number from the carrier (3, area code, corp code)
# sp_number = "106550001234"  # SP access number + extension, shown on the handset
# corp_id = "12345"
# service_type = "ERECEIPT"   # the service code filed with the carrier
# fee_type = 1                # 1 free; 0 no information fee, 2 per message, 3 monthly, 4 by the SP
# fee_value = "0"
# given_value = "0"
# charge_number = "000000000000000000000"  # 21 zeros: the SP pays
# need_report = true          # the SMG connects to report_listen to bring each part's report
# report_listen = "0.0.0.0:8802"  # open it to the SMG's addresses only (firewall)
# report_login = "smg"        # what the SMG must bind with there (Login Type 2)
# report_password = "…"
# window = 16
# submits_per_second = 100
# timeout_secs = 10
# idle_unbind_secs = 30       # SGIP has no Active_Test: Unbind when idle, Bind again on the next send
"#;

impl Settings {
    /// The portal listener's own certificate and key files, if set; one without the other is
    /// refused (at load, and again by `App::build` for settings made in code).
    pub fn portal_files(&self) -> Result<Option<(&Path, &Path)>, SettingsError> {
        match (&self.portal_cert, &self.portal_key) {
            (Some(c), Some(k)) => Ok(Some((c, k))),
            (None, None) => Ok(None),
            _ => Err(SettingsError::Invalid("portal_cert and portal_key go together: set both or neither".into())),
        }
    }

    /// Where channels without a server write: `delivery.outbox_dir`, else `DATA_DIR/outbox`.
    pub fn outbox_dir(&self) -> PathBuf {
        self.delivery.outbox_dir.clone().unwrap_or_else(|| self.data_dir.join("outbox"))
    }

    /// The store's URL: the setting, else SQLite in the data directory.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("platform.db").display()),
        }
    }

    /// Defaults, then `data_dir/platform.toml` if present, then the environment.
    pub fn load(data_dir: &Path) -> Result<Self, SettingsError> {
        Self::load_with_env(data_dir, std::env::vars())
    }

    /// As [`Settings::load`] with an explicit environment (tests).
    pub fn load_with_env(
        data_dir: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, SettingsError> {
        let env: config::Map<String, String> = env.into_iter().collect();
        let file = data_dir.join("platform.toml");
        let root: Root = config::Config::builder()
            .add_source(config::File::from_str(EXAMPLE, config::FileFormat::Toml))
            .add_source(config::File::from(file).required(false))
            .add_source(
                config::Environment::with_prefix("EReceipt")
                    .prefix_separator("__")
                    .separator("__")
                    .list_separator(",")
                    .with_list_parse_key("platform.server_names")
                    .with_list_parse_key("platform.trusted_proxies")
                    .try_parsing(true)
                    .source(Some(env)),
            )
            .build()
            .map_err(SettingsError::Malformed)?
            .try_deserialize()
            .map_err(SettingsError::Malformed)?;
        let mut s = root.platform;
        s.data_dir = data_dir.to_path_buf();
        s.portal_files()?;
        s.delivery.check().map_err(SettingsError::Invalid)?;
        // Security review L5: no link in clear to an SMSC or MMSC on another host unless asked for.
        if let Some(smpp) = &s.delivery.smpp {
            smpp.check().map_err(|e| SettingsError::Invalid(format!("delivery.smpp: {e}")))?;
        }
        if let Some(mm7) = &s.delivery.mm7 {
            mm7.check().map_err(|e| SettingsError::Invalid(format!("delivery.mm7: {e}")))?;
        }
        for (name, gateway) in [("smgp", &s.delivery.smgp), ("cmpp", &s.delivery.cmpp)] {
            if let Some(gateway) = gateway {
                gateway.check().map_err(|e| SettingsError::Invalid(format!("delivery.{name}: {e}")))?;
            }
        }
        if let Some(sgip) = &s.delivery.sgip {
            sgip.check().map_err(|e| SettingsError::Invalid(format!("delivery.sgip: {e}")))?;
        }
        if s.argon2_concurrency == 0 {
            return Err(SettingsError::Invalid("argon2_concurrency: at least 1".into()));
        }
        s.listener.check().map_err(SettingsError::Invalid)?;
        s.retention.check().map_err(SettingsError::Invalid)?;
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn defaults_then_file_then_environment() {
        let dir = tempfile::tempdir().unwrap();
        let s = Settings::load_with_env(dir.path(), []).unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:8443");
        assert!(s.database_url().ends_with("platform.db"), "{}", s.database_url());
        std::fs::write(
            dir.path().join("platform.toml"),
            "[platform]\nlisten = \"127.0.0.1:9000\"\ncertificate_days = 30\n",
        )
        .unwrap();
        let env = [
            ("EReceipt__PLATFORM__LISTEN".to_string(), "127.0.0.1:9100".to_string()),
            ("EReceipt__PLATFORM__ADMIN_TOKEN".to_string(), "sesame".to_string()),
        ];
        let s = Settings::load_with_env(dir.path(), env).unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:9100", "environment wins over the file");
        assert_eq!(s.certificate_days, 30, "file wins over defaults");
        assert_eq!(s.admin_token.as_ref().map(|t| t.0.as_str()), Some("sesame"));
        assert!(!format!("{s:?}").contains("sesame"), "secrets are redacted in Debug");
    }

    #[test]
    fn limits_settings_default_to_no_trusted_proxy_and_four_password_checks() {
        let dir = tempfile::tempdir().unwrap();
        let s = Settings::load_with_env(dir.path(), []).unwrap();
        assert!(s.trusted_proxies.is_empty());
        assert_eq!(s.argon2_concurrency, crate::services::staff_login::DEFAULT_ARGON2_CONCURRENCY);
        let env = [
            ("EReceipt__PLATFORM__TRUSTED_PROXIES".to_string(), "10.0.0.2,2001:db8::1".to_string()),
            ("EReceipt__PLATFORM__ARGON2_CONCURRENCY".to_string(), "2".to_string()),
        ];
        let s = Settings::load_with_env(dir.path(), env).unwrap();
        assert_eq!(
            s.trusted_proxies,
            ["10.0.0.2".parse::<std::net::IpAddr>().unwrap(), "2001:db8::1".parse().unwrap()]
        );
        assert_eq!(s.argon2_concurrency, 2);
        let zero = [("EReceipt__PLATFORM__ARGON2_CONCURRENCY".to_string(), "0".to_string())];
        assert!(Settings::load_with_env(dir.path(), zero).is_err());
    }

    #[test]
    fn the_delivery_lease_is_a_setting_that_must_fit_the_channel_timeouts() {
        let dir = tempfile::tempdir().unwrap();
        let s = Settings::load_with_env(dir.path(), []).unwrap();
        assert_eq!(s.delivery.lease(), Duration::from_secs(120));
        assert_eq!(s.delivery.attempt_limit(), Duration::from_secs(90));
        let env = |k: &str, v: &str| (format!("EReceipt__PLATFORM__DELIVERY__{k}"), v.to_string());
        let s = Settings::load_with_env(dir.path(), [env("LEASE_SECONDS", "4")]).unwrap();
        assert_eq!(s.delivery.attempt_limit(), Duration::from_secs(3));

        let err = Settings::load_with_env(dir.path(), [env("LEASE_SECONDS", "1")]).unwrap_err().to_string();
        assert!(err.contains("lease_seconds = 1"), "{err}");
        std::fs::write(
            dir.path().join("platform.toml"),
            "[platform.delivery]\nlease_seconds = 40\n[platform.delivery.smtp]\nhost = \"127.0.0.1\"\nport = 25\n\
             tls = \"none\"\nfrom = \"r@example.com\"\ntimeout_secs = 30\n",
        )
        .unwrap();
        let err = Settings::load_with_env(dir.path(), []).unwrap_err().to_string();
        assert!(err.contains("smtp.timeout_secs = 30") && err.contains("lease_seconds = 40"), "{err}");
        assert!(Settings::load_with_env(dir.path(), [env("LEASE_SECONDS", "41")]).is_ok(), "30 s < 3/4 of 41 s");
    }

    /// Security review L6: the retention period is a typed setting, checked at load.
    #[test]
    fn receipt_retention_defaults_to_five_years_and_never_undercuts_the_dispute_window() {
        let dir = tempfile::tempdir().unwrap();
        let s = Settings::load_with_env(dir.path(), []).unwrap();
        assert_eq!((s.retention.receipt_days, s.retention.refusal_days), (1827, 90));
        assert_eq!(s.retention.receipt_cutoff(1827 * 86_400_000), 0);
        let env = |k: &str, v: &str| [(format!("EReceipt__PLATFORM__RETENTION__{k}"), v.to_string())];
        let s = Settings::load_with_env(dir.path(), env("RECEIPT_DAYS", "3650")).unwrap();
        assert_eq!(s.retention.receipt_days, 3650);
        for (key, value, named) in [
            ("RECEIPT_DAYS", "18 months", "receipt_days"),
            ("RECEIPT_DAYS", "-1", "receipt_days"),
            ("RECEIPT_DAYS", "539", "retention.receipt_days = 539"),
            ("REFUSAL_DAYS", "0", "retention.refusal_days"),
            ("INTERVAL_MINUTES", "0", "retention.interval_minutes"),
            ("BATCH_SIZE", "100000", "retention.batch_size"),
        ] {
            let err = Settings::load_with_env(dir.path(), env(key, value)).unwrap_err().to_string();
            assert!(err.contains(named), "{key}={value:?}: {err}");
        }
    }

    /// Security review L5: a link in clear to an SMSC or MMSC on another host is refused when
    /// the settings load, naming the section and the way out.
    #[test]
    fn plaintext_to_an_smsc_or_mmsc_on_another_host_is_refused_at_load() {
        let dir = tempfile::tempdir().unwrap();
        let load = |toml: &str| {
            std::fs::write(dir.path().join("platform.toml"), toml).unwrap();
            Settings::load_with_env(dir.path(), [])
        };
        let mm7 = "[platform.delivery.mm7]\nurl = \"http://mmsc.example.net/mm7\"\nvasp_id = \"v\"\n";
        let err = load(mm7).unwrap_err().to_string();
        assert!(err.contains("mm7") && err.contains("http://") && err.contains("insecure_plaintext"), "{err}");
        let smpp = "[platform.delivery.smpp]\nhost = \"smsc.example.net\"\nport = 2775\nsystem_id = \"e\"\n\
                    password = \"p\"\nsystem_type = \"\"\nsource_addr = \"10690000\"\nenquire_link_secs = 30\n\
                    timeout_secs = 10\nregistered_delivery = true\ntls = \"none\"\n";
        let err = load(smpp).unwrap_err().to_string();
        assert!(
            err.contains("smpp") && err.contains("smsc.example.net") && err.contains("insecure_plaintext"),
            "{err}"
        );
    }

    #[test]
    fn a_bad_value_names_the_key() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("platform.toml"), "[platform]\nlisten = \"nowhere\"\n").unwrap();
        let err = Settings::load_with_env(dir.path(), []).unwrap_err().to_string();
        assert!(err.contains("listen") || err.contains("socket"), "{err}");
        std::fs::write(dir.path().join("platform.toml"), "[platform]\nlisen = \"127.0.0.1:1\"\n").unwrap();
        let err = Settings::load_with_env(dir.path(), []).unwrap_err().to_string();
        assert!(err.contains("lisen"), "{err}");
    }

    /// What used to be an empty string is now absent, and what is set is parsed at load: a typo
    /// in the portal's offset, its listener or a lone certificate is refused with the key's name
    /// instead of shifting search dates or failing at bind time.
    #[test]
    fn optional_settings_are_absent_or_parsed_at_load() {
        let dir = tempfile::tempdir().unwrap();
        let s = Settings::load_with_env(dir.path(), []).unwrap();
        assert_eq!((s.database_url.as_deref(), s.portal_listen, s.portal_cert.as_deref()), (None, None, None));
        assert!(s.admin_token.is_none());
        assert_eq!((s.delivery.outbox_dir.as_deref(), s.delivery.portal_url.as_ref()), (None, None));
        assert_eq!(s.outbox_dir(), dir.path().join("outbox"), "the outbox defaults to one in the data directory");
        assert_eq!(s.portal_utc_offset.local_minus_utc(), 8 * 3600);
        let env = |k: &str, v: &str| [(format!("EReceipt__PLATFORM__{k}"), v.to_string())];
        let s = Settings::load_with_env(dir.path(), env("PORTAL_UTC_OFFSET", "-05:30")).unwrap();
        assert_eq!(s.portal_utc_offset.local_minus_utc(), -(5 * 3600 + 1800));
        let s = Settings::load_with_env(dir.path(), env("PORTAL_LISTEN", "127.0.0.1:8444")).unwrap();
        assert_eq!(s.portal_listen.map(|a| a.port()), Some(8444));
        let s = Settings::load_with_env(dir.path(), env("DELIVERY__PORTAL_URL", "https://receipts.example/")).unwrap();
        assert_eq!(s.delivery.portal_url.map(String::from).as_deref(), Some("https://receipts.example/"));
        let s = Settings::load_with_env(dir.path(), env("DELIVERY__OUTBOX_DIR", "/var/spool/ereceipt")).unwrap();
        assert_eq!(s.outbox_dir(), PathBuf::from("/var/spool/ereceipt"));
        for (key, value, named) in [
            ("PORTAL_UTC_OFFSET", "+8", "portal_utc_offset"),
            ("PORTAL_UTC_OFFSET", "Asia/Shanghai", "portal_utc_offset"),
            ("PORTAL_LISTEN", "localhost", "portal_listen"),
            ("PORTAL_LISTEN", "", "portal_listen"),
            ("PORTAL_CERT", "/etc/portal.pem", "portal_cert and portal_key"),
            ("PORTAL_CERT", "", "portal_cert"),
            ("ADMIN_TOKEN", "", "admin_token"),
            ("DATABASE_URL", " ", "database_url"),
            ("DELIVERY__OUTBOX_DIR", "", "delivery.outbox_dir"),
            ("DELIVERY__PORTAL_URL", "", "delivery.portal_url"),
            ("DELIVERY__PORTAL_URL", "receipts.example", "delivery.portal_url"),
            ("DELIVERY__PORTAL_URL", "ftp://receipts.example", "delivery.portal_url"),
        ] {
            let err = Settings::load_with_env(dir.path(), env(key, value)).unwrap_err().to_string();
            assert!(err.contains(named), "{key}={value:?}: {err}");
        }
    }

    #[test]
    fn an_sgip_section_that_cannot_work_is_refused_at_load_with_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let section = |extra: &str| {
            format!(
                "[platform.delivery.routing]\nunicom = \"sgip\"\n[platform.delivery.sgip]\nhost = \"127.0.0.1\"\n\
                 port = 8801\ntls = \"none\"\nlogin = \"ereceipt\"\npassword = \"pw\"\nnode_id = 3010012345\n\
                 sp_number = \"106550001234\"\nservice_type = \"ERECEIPT\"\n{extra}"
            )
        };
        let load = |toml: String| {
            std::fs::write(dir.path().join("platform.toml"), toml).unwrap();
            Settings::load_with_env(dir.path(), [])
        };
        let err = load(section("corp_id = \"ABC\"\n")).unwrap_err().to_string();
        assert!(err.contains("delivery.sgip: corp_id = \"ABC\""), "{err}");
        let err = load(section("corp_id = \"12345\"\n")).unwrap_err().to_string();
        assert!(err.contains("delivery.sgip: need_report = true: set report_listen"), "{err}");
        let ok =
            "corp_id = \"12345\"\nreport_listen = \"127.0.0.1:0\"\nreport_login = \"smg\"\nreport_password = \"x\"\n";
        let s = load(section(ok)).unwrap();
        let sgip = s.delivery.sgip.unwrap();
        assert_eq!((sgip.fee_type, sgip.idle_unbind_secs, sgip.charge_number.len()), (1, 30, 21));
    }
}
