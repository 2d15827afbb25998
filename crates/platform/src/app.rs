//! The platform service: `App::build(settings)` prepares the data directory, connects the store
//! and binds; `run_until_stopped(shutdown)` serves HTTPS until the future completes.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::infra::keys::{self, KeysError, PlatformKeys};
use crate::infra::metrics::Metrics;
use crate::infra::store::{Store, StoreError};
use crate::infra::tls::{self, TlsError};
use crate::settings::Settings;
use crate::web::state::{AppState, SharedState};

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
    /// A setting is not usable; names it.
    #[error("setting {name}: {detail}")]
    Setting { name: &'static str, detail: String },
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
    let admin_token = settings.admin_token.as_ref().map(|t| t.0.as_str());
    let keys = keys::load_or_create(&settings.data_dir, &settings.server_names, admin_token)?;
    let store = Store::connect(&settings.database_url()).await?;
    crate::services::lineage::backfill(&store).await?;
    Ok((keys, store))
}

/// A bound, ready-to-serve platform.
pub struct App {
    listener: TcpListener,
    state: SharedState,
    tls: Arc<rustls::ServerConfig>,
    /// The browser-only listener (`portal_listen`) and its TLS configuration.
    portal: Option<(TcpListener, Arc<rustls::ServerConfig>)>,
    /// The operators' listener (`admin_listen`); it uses `tls` too (client certificates are
    /// checked against the CA, and its gate wants an operator's).
    admin: TcpListener,
}

impl App {
    pub async fn build(settings: Settings) -> Result<Self, StartError> {
        let (keys, store) = open(&settings).await?;
        let tls = tls::server_config(&keys.ca.cert_der, &keys.server)?;
        let listener = TcpListener::bind(settings.listen)
            .await
            .map_err(|source| StartError::Bind { addr: settings.listen, source })?;
        let addr = listener.local_addr().unwrap_or(settings.listen);
        let portal = Self::bind_portal(&settings, &keys).await?;
        let admin = TcpListener::bind(settings.admin_listen)
            .await
            .map_err(|source| StartError::Bind { addr: settings.admin_listen, source })?;
        let link_addr = portal.as_ref().and_then(|(l, _)| l.local_addr().ok()).unwrap_or(addr);
        let portal_url = settings
            .delivery
            .portal_url
            .as_ref()
            .map_or_else(|| format!("https://{link_addr}"), |u| u.as_str().trim_end_matches('/').to_owned());
        let channels = match crate::services::delivery::channels(
            &settings.delivery,
            &settings.outbox_dir(),
            link_addr,
            &keys.link_key,
        ) {
            Ok(c) => Some(Arc::new(c)),
            Err(e) => {
                tracing::error!(error = %e, "delivery channels not configured; deliveries wait in the queue");
                None
            }
        };
        let password_gate = crate::services::staff_login::PasswordGate::new(settings.argon2_concurrency);
        let state = Arc::new(AppState {
            store,
            keys,
            settings,
            metrics: Metrics::new(),
            deliveries_waiting: Arc::default(),
            login_texts: channels.clone().map(crate::services::customer_login::CodeTexts::new),
            password_gate,
            channels,
            verify_gate: crate::services::verification::gate::VerifyGate::for_this_machine(),
            crl: crate::services::crl::CrlCache::default(),
            portal_url,
        });
        Ok(Self { listener, state, tls, portal, admin })
    }

    /// The browser-only listener, when `portal_listen` is set.
    async fn bind_portal(
        settings: &Settings,
        keys: &PlatformKeys,
    ) -> Result<Option<(TcpListener, Arc<rustls::ServerConfig>)>, StartError> {
        let Some(addr) = settings.portal_listen else { return Ok(None) };
        let files =
            settings.portal_files().map_err(|e| StartError::Setting { name: "portal_cert", detail: e.to_string() })?;
        let config = tls::portal_config(files, &keys.ca.cert_der, &keys.server)?;
        let listener = TcpListener::bind(addr).await.map_err(|source| StartError::Bind { addr, source })?;
        Ok(Some((listener, config)))
    }

    /// The portal listener's address, when there is one.
    pub fn portal_addr(&self) -> Option<SocketAddr> {
        self.portal.as_ref().and_then(|(l, _)| l.local_addr().ok())
    }

    /// The admin listener's address.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin.local_addr().unwrap_or(self.state.settings.admin_listen)
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
            // One recorder per gateway that reports (the SMSC, SMGP, CMPP, SGIP's listener).
            for reports in channels.take_sms_reports() {
                workers.push(tokio::spawn(crate::infra::delivery::reports::record_sms_reports(
                    self.state.store.clone(),
                    reports,
                    stop_rx.clone(),
                )));
            }
            for worker in worker_ids(self.state.settings.delivery.workers) {
                workers.push(tokio::spawn(crate::services::delivery::run(
                    self.state.store.clone(),
                    channels.clone(),
                    worker,
                    self.state.deliveries_waiting.clone(),
                    stop_rx.clone(),
                )));
            }
        }
        workers.push(tokio::spawn(crate::services::retention::run(
            self.state.store.clone(),
            self.state.settings.retention.clone(),
            self.state.metrics.receipts_purged.clone(),
            stop_rx.clone(),
        )));
        let router = crate::web::router(self.state.clone());
        // One connection table per listener: each has its own caps.
        let settings = &self.state.settings;
        let table = || {
            crate::infra::listener::ConnTable::new(
                settings.listener.max_connections,
                settings.listener.max_connections_per_client,
                settings.trusted_proxies.clone(),
            )
        };
        let (down_tx, down_rx) = tokio::sync::watch::channel(false);
        let portal = self.portal.map(|(listener, config)| {
            tracing::info!(addr = ?listener.local_addr().ok(), "portal serving");
            let mut down = down_rx.clone();
            let router = crate::web::portal_router(self.state.clone());
            tokio::spawn(tls::serve(listener, config, router, table(), async move {
                let _ = down.wait_for(|stopped| *stopped).await;
            }))
        });
        tracing::info!(addr = ?self.admin.local_addr().ok(), "admin serving (operator certificates only)");
        let admin = {
            let mut down = down_rx.clone();
            let router = crate::web::admin::router(self.state.clone());
            tokio::spawn(tls::serve(self.admin, self.tls.clone(), router, table(), async move {
                let _ = down.wait_for(|stopped| *stopped).await;
            }))
        };
        tls::serve(self.listener, self.tls, router, table(), async {
            shutdown.await;
            let _ = down_tx.send(true);
        })
        .await;
        if let Some(p) = portal {
            let _ = p.await;
        }
        let _ = admin.await;
        let _ = stop_tx.send(true);
        for w in workers {
            let _ = w.await;
        }
        tracing::info!("platform stopped");
    }
}

/// Names for `n` delivery workers of this start: host, process id and a random nonce, so two
/// containers with the same hostname and pid 1 (or a restart that reuses a pid) never share a
/// name and so can never complete each other's claims.
fn worker_ids(n: usize) -> Vec<String> {
    let (host, pid, nonce) = (hostname(), std::process::id(), rand::random::<u64>());
    (0..n).map(|i| format!("{host}-{pid}-{nonce:016x}-{i}")).collect()
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_owned()).unwrap_or_else(|_| "platform".into())
}

#[cfg(test)]
mod worker_id_tests {
    #[test]
    fn two_starts_of_one_process_name_their_workers_apart() {
        let (first, second) = (super::worker_ids(2), super::worker_ids(2));
        assert_eq!(first.len(), 2);
        assert_ne!(first[0], first[1]);
        assert!(first.iter().all(|w| !second.contains(w)), "{first:?} {second:?}");
    }
}
