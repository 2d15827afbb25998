//! HTTPS serving with optional client certificates: rustls (ring provider) verifies a client
//! certificate against the platform CA when one is offered; handlers that need one (uploads,
//! re-enrolment) find it in the request's [`ClientCert`] extension.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use ereceipt_core::identity::{CertifiedKey, PosCertificate};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::infra::listener::{Activity, ConnTable};

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// rustls refused the certificates or keys.
    #[error("TLS setup: {0}")]
    Setup(String),
}

/// The verified client certificate of the connection a request came on, if any. `Err` holds why
/// a CA-issued certificate is not a usable POS certificate.
#[derive(Clone, Debug)]
pub struct ClientCert(pub Option<Result<Arc<PosCertificate>, String>>);

/// The rustls configuration: server certificate chain (server, CA) and a client verifier that
/// accepts connections without a certificate but checks any offered one against the CA.
pub fn server_config(ca_der: &[u8], server: &CertifiedKey) -> Result<Arc<ServerConfig>, TlsError> {
    let setup = |e: &dyn std::fmt::Display| TlsError::Setup(e.to_string());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from(ca_der.to_vec())).map_err(|e| setup(&e))?;
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| setup(&e))?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server.key_pkcs8.to_vec()));
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| setup(&e))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![CertificateDer::from(server.cert_der.clone()), CertificateDer::from(ca_der.to_vec())],
            key,
        )
        .map_err(|e| setup(&e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The rustls configuration of the browser-only portal listener: no client certificates asked
/// for; the certificate chain and key from PEM files, or the platform's own server
/// certificate (with its CA) when none are given.
pub fn portal_config(
    files: Option<(&std::path::Path, &std::path::Path)>,
    ca_der: &[u8],
    server: &CertifiedKey,
) -> Result<Arc<ServerConfig>, TlsError> {
    let setup = |e: &dyn std::fmt::Display| TlsError::Setup(e.to_string());
    let (chain, key) = match files {
        Some((cert_path, key_path)) => {
            let read =
                |p: &std::path::Path| std::fs::read(p).map_err(|e| TlsError::Setup(format!("{}: {e}", p.display())));
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&read(cert_path)?)
                .collect::<Result<_, _>>()
                .map_err(|e| TlsError::Setup(format!("{}: {e}", cert_path.display())))?;
            if chain.is_empty() {
                return Err(TlsError::Setup(format!("{}: no PEM certificate in it", cert_path.display())));
            }
            let key = PrivateKeyDer::from_pem_slice(&read(key_path)?).map_err(|e| match e {
                rustls::pki_types::pem::Error::NoItemsFound => {
                    TlsError::Setup(format!("{}: no PEM private key in it", key_path.display()))
                }
                e => TlsError::Setup(format!("{}: {e}", key_path.display())),
            })?;
            (chain, key)
        }
        None => (
            vec![CertificateDer::from(server.cert_der.clone()), CertificateDer::from(ca_der.to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server.key_pkcs8.to_vec())),
        ),
    };
    let mut config = ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| setup(&e))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| setup(&e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Serves `router` over TLS on `listener` until `shutdown` completes, then lets open requests
/// finish (up to 10 s). `table` decides which connections stay open ([`ConnTable`]); each
/// request finds its connection's [`Activity`] in its extensions. Connections closed by the
/// table are logged as a count every 10 s, not one line each (an attack would flood the log).
pub async fn serve(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    router: Router,
    table: Arc<ConnTable>,
    shutdown: impl Future<Output = ()> + Send,
) {
    let acceptor = TlsAcceptor::from(config);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let addr = listener.local_addr().ok();
    let mut report = tokio::time::interval(Duration::from_secs(10));
    report.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut reported = (0, 0, 0);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (tcp, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let admitted = match table.admit(peer.ip()) {
                    Ok(admitted) => admitted,
                    Err(why) => {
                        tracing::debug!(%peer, ?why, "connection closed at once");
                        continue;
                    }
                };
                let _ = tcp.set_nodelay(true);
                let acceptor = acceptor.clone();
                let router = router.clone();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let activity = admitted.activity.clone();
                    tokio::select! {
                        () = serve_connection(tcp, peer, acceptor, router, watcher, activity.clone()) => {}
                        () = activity.closed() => {
                            tracing::debug!(%peer, "connection closed to make room: it waited longest on its client");
                        }
                    }
                    drop(admitted);
                });
            }
            _ = report.tick() => {
                let now = (
                    table.refused_client.load(Ordering::Relaxed),
                    table.refused_busy.load(Ordering::Relaxed),
                    table.evicted.load(Ordering::Relaxed),
                );
                if now != reported {
                    tracing::warn!(
                        listener = ?addr,
                        over_client_cap = now.0 - reported.0,
                        all_busy = now.1 - reported.1,
                        closed_to_make_room = now.2 - reported.2,
                        open = table.len(),
                        "connections closed by the listener's caps in the last 10 s"
                    );
                    reported = now;
                }
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    if tokio::time::timeout(Duration::from_secs(10), graceful.shutdown()).await.is_err() {
        tracing::warn!("connections still open after 10 s; closing them");
    }
}

async fn serve_connection(
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    router: Router,
    watcher: hyper_util::server::graceful::Watcher,
    activity: Arc<Activity>,
) {
    let tls = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::info!(%peer, error = %e, "TLS handshake refused");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "TLS handshake timed out");
            return;
        }
    };
    let der = tls.get_ref().1.peer_certificates().and_then(|c| c.first()).map(|c| Arc::new(c.to_vec()));
    let cert = der.as_deref().map(|c| terminal_certificate(c));
    let app = router
        .layer(axum::Extension(ClientCert(cert)))
        .layer(axum::Extension(PeerCertificate(der)))
        .layer(axum::Extension(Peer(peer)))
        .layer(axum::Extension(activity));
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30))
        .serve_connection(TokioIo::new(tls), TowerToHyperService::new(app));
    if let Err(e) = watcher.watch(conn).await {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

/// A client certificate as a terminal's: an operator's never is, whatever else it holds.
fn terminal_certificate(der: &[u8]) -> Result<Arc<PosCertificate>, String> {
    if crate::infra::operator_certs::claims_operator(der) {
        return Err("an operator certificate is not a terminal certificate".into());
    }
    PosCertificate::parse(der).map(Arc::new).map_err(|e| e.to_string())
}

/// The verified client certificate of the connection as presented (DER), if any: the admin
/// listener's gate reads operators from it.
#[derive(Clone, Debug)]
pub struct PeerCertificate(pub Option<Arc<Vec<u8>>>);

/// The TCP peer of the connection.
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub SocketAddr);
