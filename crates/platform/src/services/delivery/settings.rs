//! The delivery settings (`[platform.delivery]`): workers, the claim on a delivery, and each
//! channel's own section; checked at load so that no attempt outlives its claim.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use crate::infra::setting;

/// Delivery channels and workers. A channel without a server section writes to the outbox folder.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliverySettings {
    /// Where deliveries go when a channel has no server; not set: `DATA_DIR/outbox`
    /// ([`crate::settings::Settings::outbox_dir`]).
    #[serde(default, deserialize_with = "setting::path")]
    pub outbox_dir: Option<PathBuf>,
    /// Base URL of the portal for links in messages; not set: `https://` and the address the
    /// portal is served on.
    #[serde(default, deserialize_with = "setting::optional_web_url")]
    pub portal_url: Option<Url>,
    /// Days a message's link opens its receipt without a login (from when the receipt was
    /// stored); later the link asks for the code login. 1 to 3650.
    pub link_days: u32,
    /// Delivery workers in this process.
    pub workers: usize,
    /// How long a worker's claim on a delivery lasts. A worker that dies mid-send holds the
    /// delivery this long before another worker sends it again; each attempt is cut off at 3/4
    /// of it, so a live worker always records its outcome before its claim runs out.
    pub lease_seconds: u64,
    /// The sender address of emails (also in the local outbox's `.eml` files).
    pub email_from: String,
    pub smtp: Option<crate::infra::delivery::email::SmtpSettings>,
    pub smpp: Option<crate::infra::delivery::smpp::SmppSettings>,
    pub mm7: Option<crate::infra::delivery::mm7::Mm7Settings>,
    /// China Telecom's SMGP 3.0 gateway; it takes the numbers `routing` sends to it
    /// (`telecom = "smgp"`).
    pub smgp: Option<crate::infra::delivery::cngw::GatewaySettings>,
    /// China Mobile's CMPP 3.0 gateway (`routing.mobile = "cmpp"`).
    pub cmpp: Option<crate::infra::delivery::cngw::GatewaySettings>,
    /// China Unicom's SMG by SGIP 1.2 (`routing.unicom = "sgip"`), with the listener its
    /// status reports come to.
    pub sgip: Option<crate::infra::delivery::cngw::SgipSettings>,
    /// Which gateway each carrier's numbers go through, and ported numbers.
    #[serde(default)]
    pub routing: crate::infra::delivery::router::RoutingSettings,
    /// SMS texts per carrier and kind; built-in ones where not set.
    #[serde(default)]
    pub templates: crate::infra::delivery::router::TemplateSettings,
    /// Texts to one number per minute, hour and day.
    #[serde(default)]
    pub limits: crate::domain::limits::SendLimits,
}

/// The longest one delivery attempt may take under a claim of `lease`: 3/4 of it, leaving a
/// quarter to record the outcome before anyone else may claim the delivery.
pub fn attempt_limit(lease: Duration) -> Duration {
    lease * 3 / 4
}

impl DeliverySettings {
    /// The claim on a delivery.
    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.lease_seconds)
    }

    /// The longest one attempt may take: see [`attempt_limit`].
    pub fn attempt_limit(&self) -> Duration {
        attempt_limit(self.lease())
    }

    /// A lease too short for the channels' own timeouts would cut off attempts that are still
    /// working.
    pub(crate) fn check(&self) -> Result<(), String> {
        if !(1..=3650).contains(&self.link_days) {
            return Err(format!("delivery.link_days = {} is not between 1 and 3650", self.link_days));
        }
        if self.lease_seconds < 2 {
            return Err(format!("delivery.lease_seconds = {} is below 2", self.lease_seconds));
        }
        self.routing.check()?;
        self.templates.check()?;
        self.limits.check()?;
        let limit = self.attempt_limit();
        let timeouts = [
            ("smtp", self.smtp.as_ref().map(|c| c.timeout_secs)),
            ("smpp", self.smpp.as_ref().map(|c| c.timeout_secs)),
            ("mm7", self.mm7.as_ref().map(|c| c.timeout_secs)),
            ("smgp", self.smgp.as_ref().map(|c| c.timeout_secs)),
            ("cmpp", self.cmpp.as_ref().map(|c| c.timeout_secs)),
            ("sgip", self.sgip.as_ref().map(|c| c.timeout_secs)),
        ];
        for (channel, secs) in timeouts {
            if let Some(secs) = secs.filter(|s| Duration::from_secs(*s) >= limit) {
                return Err(format!(
                    "delivery.{channel}.timeout_secs = {secs} does not fit in an attempt (3/4 of \
                     delivery.lease_seconds = {}): raise lease_seconds or lower the timeout",
                    self.lease_seconds
                ));
            }
        }
        Ok(())
    }
}
