//! The terminal's touch UI (T1-T3 as the cashier and cardholder meet them): a small HTTP server
//! on loopback serving a phone-sized page and the API it drives, all assets inside the binary.
//!
//! Amount keypad → swipe (keyboard-wedge or encrypting reader) → authorisation (pluggable;
//! built in: a labelled simulator) → signature pad (server-side idle rule of the core) → the
//! customer's delivery choice → the receipt, stored in the outbox and uploaded in the background.

mod amount;
mod assets;
mod card;
mod delivery;
mod error;
mod guard;
mod operator;
mod refusal;
mod reprint;
mod sales;
mod settlement;
mod signing;
mod status;
mod swipe;

#[cfg(test)]
mod api_tests;
#[cfg(test)]
mod crash_tests;
#[cfg(test)]
mod reprint_tests;
#[cfg(test)]
mod settlement_tests;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::routing::{get, post};
use axum::Router;
use ereceipt_core::card::CardPolicy;
use ereceipt_core::identity::{CertError, Signer};
use ereceipt_core::model::{Currency, OperatorId, TerminalInfo};
use ereceipt_core::render::slip::{Fonts, SlipWidth};
use ereceipt_core::signature::CaptureConfig;
use tokio::net::TcpListener;
use tokio::sync::Notify;

pub use crate::authorisation::{reverse_authorisation, ReversalError, ReversalOutcome};
pub use crate::host::{
    Approval, AuthorisationError, AuthorisationRequest, AuthoriseFuture, Authoriser, AuthoriserInfo, ReversalAck,
    ReversalRequest, ReverseFuture, SimulatedAuthoriser,
};
pub use amount::parse_amount;
pub use delivery::{parse_delivery, DeliveryForm};
pub use error::UiError;
pub use guard::{Guard, Refused, CSP, TOKEN_HEADER};
pub use signing::{PadState, PointerBatch, PointerEvent, PointerKind, SigningSession};
pub use status::{OpenAuthorisation, OutboxSummary, ReceiptStatus, RefusedReceipt};
pub use swipe::{read_card, test_card_swipe, TEST_CARD_PAN};

use crate::device::{Device, DeviceError};
use crate::outbox::{AuthorisationRecord, OutboxError};
use crate::settings::TerminalZone;
use crate::sync::{SyncError, Uploader};

/// How the UI runs; the `ereceipt` binary fills it from `terminal.toml` and the command line.
pub struct UiConfig {
    /// The enrolled terminal's data directory.
    pub device: Device,
    /// Where to listen; loopback unless the operator says otherwise.
    pub listen: SocketAddr,
    /// Demo mode: shows the test-card button and a demo banner.
    pub demo: bool,
    pub policy: CardPolicy,
    pub width: SlipWidth,
    pub fonts: Arc<Fonts>,
    /// The currency amounts are keyed in.
    pub currency: Currency,
    /// The operator signed in when the UI starts (the demo's); `None`: the cashier signs in
    /// with an operator number first.
    pub operator: Option<OperatorId>,
    pub authoriser: Arc<dyn Authoriser>,
    pub capture: CaptureConfig,
    /// The zone the slip's time is in (`terminal.toml`'s `time_zone`), not the machine's.
    pub zone: TerminalZone,
}

/// Why the UI could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UiStartError {
    /// The data directory (not enrolled, unreadable key…).
    #[error("{0}")]
    Device(#[from] DeviceError),
    /// The outbox or platform link.
    #[error("{0}")]
    Sync(#[from] SyncError),
    /// The terminal's key does not fit its certificate.
    #[error("terminal identity: {0}")]
    Identity(#[from] CertError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    /// A production terminal with a simulated acquirer: every sale would be "approved" without
    /// any authorisation.
    #[error(
        "terminal {terminal} is a production terminal, and the authoriser is a simulator (it approves \
         every sale, authorising nothing): production terminals may not use it. Configure the \
         acquirer's ISO 8583 host in the [host] table of terminal.toml, or use a test terminal \
         (ereceipt platform terminal add --test) or ereceipt demo"
    )]
    SimulatorOnProduction { terminal: String },
    /// A production terminal told to read clear card tracks.
    #[error(
        "terminal {terminal} is a production terminal: it may not read clear card tracks, only an \
         encrypting (SRED) reader's output"
    )]
    ClearTracksOnProduction { terminal: String },
}

/// Everything the handlers share.
pub(crate) struct UiState {
    pub demo: bool,
    pub policy: CardPolicy,
    pub width: SlipWidth,
    pub fonts: Arc<Fonts>,
    pub currency: Currency,
    /// The operator signed in now: every sale started is theirs.
    pub operator: Mutex<Option<OperatorId>>,
    pub authoriser: Arc<dyn Authoriser>,
    pub capture: CaptureConfig,
    pub zone: TerminalZone,
    pub signer: Signer,
    pub terminal: TerminalInfo,
    pub uploader: Uploader,
    /// Wakes the background uploader after a sale.
    pub upload_wake: Notify,
    pub guard: Arc<Guard>,
    pub sales: Mutex<HashMap<String, sales::SaleSession>>,
}

type Shared = Arc<UiState>;

/// A bound, ready-to-serve UI.
pub struct UiApp {
    listener: TcpListener,
    state: Shared,
}

impl UiApp {
    /// Loads the terminal's identity and outbox and binds the listener. A production terminal
    /// (its certificate says so) is refused the simulated authoriser, outside the demo, and clear
    /// card tracks.
    pub async fn build(config: UiConfig) -> Result<Self, UiStartError> {
        let identity = config.device.identity()?;
        let signer = Signer::new(&identity)?;
        let certificate = config.device.certificate()?;
        if !certificate.mode.is_test() {
            let terminal = certificate.terminal.terminal_id.to_string();
            if config.authoriser.info().simulator && !config.demo {
                return Err(UiStartError::SimulatorOnProduction { terminal });
            }
            if config.policy.accept_clear_tracks {
                return Err(UiStartError::ClearTracksOnProduction { terminal });
            }
        }
        let terminal = certificate.terminal;
        let uploader = Uploader::open(&config.device).await?;
        // What a crash or a closed tab left behind (security review L4): said at every start,
        // and shown on the page until reversed.
        match uploader.outbox.open_authorisations().await {
            Ok(open) if !open.is_empty() => {
                let ids: Vec<&str> = open.iter().map(|a| a.request_id.as_str()).collect();
                tracing::warn!(count = open.len(), ids = ?ids,
                    "authorisations without a receipt: reverse them (ereceipt terminal authorisations)");
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "the authorisation journal cannot be read"),
        }
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| UiStartError::Bind { addr: config.listen, source })?;
        let addr = listener.local_addr().map_err(|source| UiStartError::Bind { addr: config.listen, source })?;
        let state = Arc::new(UiState {
            demo: config.demo,
            policy: config.policy,
            width: config.width,
            fonts: config.fonts,
            currency: config.currency,
            operator: Mutex::new(config.operator),
            authoriser: config.authoriser,
            capture: config.capture,
            zone: config.zone,
            signer,
            terminal,
            uploader,
            upload_wake: Notify::new(),
            guard: Arc::new(Guard::new(addr)),
            sales: Mutex::new(HashMap::new()),
        });
        Ok(Self { listener, state })
    }

    /// The journalled authorisations that need someone to act: requested without an answer,
    /// approved without a receipt, reversals not acknowledged (security review L4).
    pub async fn open_authorisations(&self) -> Result<Vec<AuthorisationRecord>, OutboxError> {
        self.state.uploader.outbox.open_authorisations().await
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// The launch URL: the page, with the per-launch token in the fragment. Browsers never send
    /// a fragment to the server or in a `Referer`, and the page itself does not contain the
    /// token, so another program that can reach the port cannot learn it by fetching `/`; only
    /// whoever started the UI (and opens this URL) can call the API.
    pub fn url(&self) -> String {
        format!("http://{}/#token={}", self.local_addr(), self.state.guard.token())
    }

    /// Serves until `shutdown` completes; uploads pending receipts in the background meanwhile,
    /// and sends the reversals the journal holds: at once for what a previous run left
    /// unanswered, then again until the host acknowledges each.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        let uploads = tokio::spawn(status::upload_loop(self.state.clone()));
        let reversals = tokio::spawn(reversals(self.state.clone()));
        let app = router(self.state);
        if let Err(e) = axum::serve(self.listener, app).with_graceful_shutdown(shutdown).await {
            tracing::error!(error = %e, "terminal UI server stopped");
        }
        uploads.abort();
        reversals.abort();
    }
}

/// Every request still `requested` when this process starts was asked by a process that is
/// gone: reversed at once. After that, a request counts as unanswered only long after the
/// link's own timeout, so one still being asked is never reversed under it.
async fn reversals(st: Shared) {
    let now = sales::now_ms;
    let outbox = st.uploader.outbox.clone();
    let composer = crate::sale::Composer { signer: &st.signer, fonts: &st.fonts, width: st.width };
    if let Err(e) =
        crate::authorisation::recover_with_receipts(&outbox, st.authoriser.as_ref(), composer, now(), now).await
    {
        tracing::error!(error = %e, "the authorisation journal cannot be read");
    }
    let grace = st.authoriser.longest_wait() + std::time::Duration::from_secs(30);
    crate::authorisation::reversal_loop(outbox, st.authoriser.clone(), grace, Some(composer)).await;
}

/// The page, its assets and the API, behind the guard.
fn router(state: Shared) -> Router {
    let guard = state.guard.clone();
    Router::new()
        .route("/", get(assets::index))
        .route("/assets/{name}", get(assets::asset))
        .route("/api/config", get(sales::config))
        .route("/api/operator", post(operator::sign_in).delete(operator::sign_out))
        .route("/api/sales", post(sales::start))
        .route("/api/sales/{id}/card", post(card::card))
        .route("/api/sales/{id}/signature", post(sales::signature))
        .route("/api/sales/{id}/signature/clear", post(sales::clear_signature))
        .route("/api/sales/{id}/complete", post(sales::complete))
        .route("/api/sales/{id}/cancel", post(card::cancel))
        .route("/api/delivery", post(sales::validate_delivery))
        .route("/api/outbox", get(status::outbox))
        .route("/api/receipts/{id}", get(status::receipt))
        .route("/api/receipts/{id}/image", get(status::image))
        .route("/api/reprint", get(reprint::list))
        .route("/api/reprint/{id}/image", get(reprint::image))
        .route("/api/reprint/{id}/resend", post(reprint::resend))
        .route("/api/settlement", get(settlement::preview).post(settlement::settle))
        .route("/api/settlements/{batch}", get(settlement::status))
        .route("/api/settlements/{batch}/image", get(settlement::image))
        .layer(axum::extract::DefaultBodyLimit::max(256 * 1024))
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(guard, guard::protect))
}
