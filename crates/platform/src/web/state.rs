//! What every request handler shares: the store, the keys, settings and metrics.

use std::sync::Arc;

use crate::infra::keys::PlatformKeys;
use crate::infra::metrics::Metrics;
use crate::infra::store::Store;
use crate::settings::Settings;

/// Shared, immutable after start (the store and metrics are internally synchronised).
pub struct AppState {
    pub store: Store,
    pub keys: PlatformKeys,
    pub settings: Settings,
    pub metrics: Metrics,
    /// Wakes the delivery workers when a receipt with a push delivery is stored.
    pub deliveries_waiting: std::sync::Arc<tokio::sync::Notify>,
    /// The delivery channels (also used for login codes); `None` when misconfigured.
    pub channels: Option<std::sync::Arc<crate::services::delivery::Channels>>,
    /// Login codes texted in the background (`None` when delivery is misconfigured).
    pub login_texts: Option<crate::services::customer_login::CodeTexts>,
    /// Argon2id password checks running at once (`argon2_concurrency`).
    pub password_gate: crate::services::staff_login::PasswordGate,
    /// Public verifications running at once, per client address and in total.
    pub verify_gate: crate::services::verification::gate::VerifyGate,
    /// The CRL last signed, served until the revocations change.
    pub crl: crate::services::crl::CrlCache,
    /// Where links for browsers point (`delivery.portal_url`, else the portal listener's or
    /// the main listener's address), without a trailing `/`.
    pub portal_url: String,
}

pub type SharedState = Arc<AppState>;

impl AppState {
    /// Customer login over this platform's store, key and SMS channel.
    pub fn customer_login(&self) -> crate::services::customer_login::CustomerLogin<'_> {
        crate::services::customer_login::CustomerLogin {
            store: &self.store,
            otp_key: &self.keys.otp_key,
            link_key: &self.keys.link_key,
            texts: self.login_texts.as_ref(),
        }
    }
}
