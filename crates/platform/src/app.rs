//! The platform service: `App::build(settings)` prepares the data directory, connects the store
//! and binds; `run_until_stopped(shutdown)` serves HTTPS until the future completes.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::keys::{self, KeysError, PlatformKeys};
use crate::metrics::Metrics;
use crate::settings::Settings;
use crate::state::{AppState, SharedState};
use crate::store::{Store, StoreError};
use crate::tls::{self, TlsError};

/// Why the platform could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The data directory's keys.
    #[error("{0}")]
    Keys(KeysError),
    /// The database.
    #[error("database: {0}")]
    Store(StoreError),
    /// TLS configuration.
    #[error("{0}")]
    Tls(TlsError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
}

impl From<KeysError> for StartError {
    fn from(e: KeysError) -> Self {
        Self::Keys(e)
    }
}
impl From<StoreError> for StartError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}
impl From<TlsError> for StartError {
    fn from(e: TlsError) -> Self {
        Self::Tls(e)
    }
}

/// Opens the data directory's keys and the store without serving (for the CLI's admin commands).
pub async fn open(settings: &Settings) -> Result<(PlatformKeys, Store), StartError> {
    let keys = keys::load_or_create(&settings.data_dir, &settings.server_names, &settings.admin_token.0)?;
    let store = Store::connect(&settings.database_url).await?;
    Ok((keys, store))
}

/// A bound, ready-to-serve platform.
pub struct App {
    listener: TcpListener,
    state: SharedState,
    tls: Arc<rustls::ServerConfig>,
}

impl App {
    pub async fn build(settings: Settings) -> Result<Self, StartError> {
        let (keys, store) = open(&settings).await?;
        let tls = tls::server_config(&keys.ca.cert_der, &keys.server)?;
        let listener = TcpListener::bind(settings.listen)
            .await
            .map_err(|source| StartError::Bind { addr: settings.listen, source })?;
        let addr = listener.local_addr().unwrap_or(settings.listen);
        let channels = match crate::delivery::channels(&settings, addr, &keys.otp_key) {
            Ok(c) => Some(Arc::new(c)),
            Err(e) => {
                tracing::error!(error = %e, "delivery channels not configured; deliveries wait in the queue");
                None
            }
        };
        let state = Arc::new(AppState {
            store,
            keys,
            settings,
            metrics: Metrics::new(),
            deliveries_waiting: Arc::default(),
            channels,
        });
        Ok(Self { listener, state, tls })
    }

    /// The address actually bound (port 0 in settings picks a free one).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or(self.state.settings.listen)
    }

    pub fn state(&self) -> &SharedState {
        &self.state
    }

    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send) {
        tracing::info!(addr = %self.local_addr(), backend = ?self.state.store.backend(), "platform serving");
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut workers = Vec::new();
        if let Some(channels) = &self.state.channels {
            if let (Some(sms), Some(smpp)) = (&channels.sms, &self.state.settings.delivery.smpp) {
                if smpp.registered_delivery {
                    workers.push(tokio::spawn(crate::delivery::reports::record_sms_reports(
                        self.state.store.clone(),
                        sms.delivery_reports(),
                        stop_rx.clone(),
                    )));
                }
            }
            for i in 0..self.state.settings.delivery.workers {
                let worker = format!("{}-{}-{i}", hostname(), std::process::id());
                workers.push(tokio::spawn(crate::delivery::worker::run(
                    self.state.store.clone(),
                    channels.clone(),
                    worker,
                    self.state.deliveries_waiting.clone(),
                    stop_rx.clone(),
                )));
            }
        }
        let router = crate::http::router(self.state.clone());
        tls::serve(self.listener, self.tls, router, shutdown).await;
        let _ = stop_tx.send(true);
        for w in workers {
            let _ = w.await;
        }
        tracing::info!("platform stopped");
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_owned()).unwrap_or_else(|_| "platform".into())
}
